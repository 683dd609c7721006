// A hand-written ModelDef for runtime tests: nn.Linear(1, 1) with MSELoss,
// i.e. pred = weight * x + bias, written out by hand the way generated code
// would be. Arena layout (bytes):
//   0    params  weight [1, 1] (flat 0), bias [1] (flat 1)
//   64   grads   same layout
//   128  slots   up to 3 regions of 2 floats
//   256  input   [32, 1]
//   512  target  [32, 1]
#pragma once

#include <cstddef>
#include <deque>
#include <string>

#include "ltrt/dropout_draws.hpp"
#include "ltrt/json.hpp"
#include "ltrt/model.hpp"
#include "ltrt/rng.hpp"

namespace toy {

constexpr int kBatch = 32;
constexpr std::size_t kParams = 0, kGrads = 64, kSlots = 128, kInput = 256, kTarget = 512, kArenaBytes = 1024;

inline float training_step(std::byte* arena, int n, float loss_scale, bool accumulate, const ltrt::DropoutDraws&) {
  const float* p = reinterpret_cast<const float*>(arena + kParams);
  float* g = reinterpret_cast<float*>(arena + kGrads);
  const float* x = reinterpret_cast<const float*>(arena + kInput);
  const float* y = reinterpret_cast<const float*>(arena + kTarget);
  float loss = 0, dw = 0, db = 0;
  for (int i = 0; i < n; ++i) {
    const float d = p[0] * x[i] + p[1] - y[i];
    loss += d * d;
    dw += loss_scale * 2 * d * x[i] / n;
    db += loss_scale * 2 * d / n;
  }
  if (!accumulate) g[0] = g[1] = 0;
  g[0] += dw;
  g[1] += db;
  return loss / n;
}

inline float evaluation_step(std::byte* arena, int n) {
  const float* p = reinterpret_cast<const float*>(arena + kParams);
  const float* x = reinterpret_cast<const float*>(arena + kInput);
  const float* y = reinterpret_cast<const float*>(arena + kTarget);
  float loss = 0;
  for (int i = 0; i < n; ++i) {
    const float d = p[0] * x[i] + p[1] - y[i];
    loss += d * d;
  }
  return loss / n;
}

inline const ltrt::ParamDef kParamDefs[] = {
    {{"layers.0.weight", ltrt::DType::f32, 2, {1, 1}, kParams}, 0},
    {{"layers.0.bias", ltrt::DType::f32, 1, {1}, kParams + 4}, 1},
};
inline const char* const kAdamSlots[] = {"exp_avg", "exp_avg_sq"};

// The spec text with the trainer section the runtime reads; one string per
// make_model call, kept alive for the ModelDef that points at it.
inline const char* toy_spec(const char* root_dir) {
  static std::deque<std::string> specs;
  specs.push_back(std::string(R"({"name": "toy", "seed_everything": 42,
    "model": {"layers": [{"type": "Linear", "out_features": 1}]},
    "trainer": {"max_epochs": 3, "log_every_n_steps": 50, "enable_progress_bar": false,
                "enable_checkpointing": true, "default_root_dir": )") + ltrt::json::quote(root_dir) + "}}");
  return specs.back().c_str();
}

// Adam(lr=0.01) on 1000 randn samples, batch 32, 3 epochs, log every 50 steps.
inline ltrt::ModelDef make_model(const char* root_dir) {
  ltrt::ModelDef m{};
  m.name = "toy";
  m.spec_json = toy_spec(root_dir);
  m.spec_hash = "0123456789abcdef";
  m.arena_bytes = kArenaBytes;
  m.batch_size = kBatch;
  m.params = kParamDefs;
  m.num_params = 2;
  m.num_param_elements = 2;
  m.params_offset = kParams;
  m.grads_offset = kGrads;
  m.slots_offset = kSlots;
  m.num_slots = 2;
  m.slot_names = kAdamSlots;
  m.input = {"x", ltrt::DType::f32, 2, {kBatch, 1}, kInput};
  m.target = {"target", ltrt::DType::f32, 2, {kBatch, 1}, kTarget};
  m.optimizer = {};
  m.optimizer.kind = ltrt::OptimizerKind::adam;
  m.optimizer.lr = 0.01;
  m.optimizer.beta1 = 0.9;
  m.optimizer.beta2 = 0.999;
  m.optimizer.eps = 1e-8;
  m.data.batch_size = kBatch;
  m.data.shuffle = false;
  m.data.drop_last = false;
  m.data.train = {};
  m.data.train.kind = ltrt::DataSourceKind::randn;
  m.data.train.num_samples = 1000;
  m.training_step = training_step;
  m.evaluation_step = evaluation_step;
  return m;
}

}  // namespace toy
