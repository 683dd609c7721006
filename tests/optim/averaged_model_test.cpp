// Oracle test of AveragedModel's arithmetic (ltrt/averaged_model.hpp: WeightAveraging's running
// mean and EMAWeightAveraging's exponential average) against LibTorch: the expressions of torch's
// swa_utils (get_swa_avg_fn, get_ema_avg_fn, update_parameters' first copy and use_buffers=False's
// copy of the buffers) evaluated by ATen on the same values, bit for bit, float32 parameters and
// buffers and an int64 buffer (num_batches_tracked) alike, over several updates of a model that
// changes between them.
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include <ltrt/averaged_model.hpp>
#include <ltrt/lerp.hpp>
#include <ltrt/model.hpp>

namespace {

// Parameters weight [2, 3] (flat 0) and bias [3] (flat 6); buffers running_mean [3] and
// num_batches_tracked [] (int64), at offsets of their own in the arena.
constexpr std::size_t kParams = 0, kRunningMean = 64, kTracked = 96, kArenaBytes = 128;
const ltrt::ParamDef kParamDefs[] = {
    {{"weight", ltrt::DType::f32, 2, {2, 3}, kParams}, 0},
    {{"bias", ltrt::DType::f32, 1, {3}, kParams + 6 * 4}, 6},
};
const ltrt::StateDef kStateDefs[] = {
    {{"running_mean", ltrt::DType::f32, 1, {3}, kRunningMean}, ltrt::InitKind::zeros},
    {{"num_batches_tracked", ltrt::DType::i64, 0, {}, kTracked}, ltrt::InitKind::zeros},
};

ltrt::ModelDef model() {
  ltrt::ModelDef m{};
  m.params = kParamDefs;
  m.num_params = 2;
  m.num_param_elements = 9;
  m.params_offset = kParams;
  m.state = kStateDefs;
  m.num_state = 2;
  m.arena_bytes = kArenaBytes;
  return m;
}

// torch's side: the model's tensors and the averaged model's, as AveragedModel keeps them.
struct TorchModel {
  std::vector<torch::Tensor> tensors;  // weight, bias, running_mean, num_batches_tracked
};

TorchModel torch_model(const std::byte* arena) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  return {{torch::from_blob(const_cast<std::byte*>(arena + kParams), {2, 3}, f32).clone(),
           torch::from_blob(const_cast<std::byte*>(arena + kParams + 24), {3}, f32).clone(),
           torch::from_blob(const_cast<std::byte*>(arena + kRunningMean), {3}, f32).clone(),
           torch::from_blob(const_cast<std::byte*>(arena + kTracked), {}, i64).clone()}};
}

// AveragedModel.update_parameters with avg_fn (EMA) or without (the CPU's get_swa_avg_fn loop).
void torch_update(TorchModel& average, const TorchModel& current, const ltrt::AveragingRule& rule,
                  const torch::Tensor& n_averaged) {
  const std::size_t averaged = rule.use_buffers ? 4 : 2;  // parameters, and buffers with use_buffers
  for (std::size_t i = 0; i < averaged; ++i) {
    torch::Tensor& a = average.tensors[i];
    const torch::Tensor& c = current.tensors[i];
    if (n_averaged.item<std::int64_t>() == 0) {
      a.copy_(c);
    } else if (rule.ema) {
      a.copy_(rule.decay * a + (1 - rule.decay) * c);  // get_ema_avg_fn
    } else {
      a.copy_(a + (c - a) / (n_averaged + 1));  // get_swa_avg_fn
    }
  }
  for (std::size_t i = averaged; i < 4; ++i) average.tensors[i].copy_(current.tensors[i]);
}

void expect_same(const TorchModel& t, const std::vector<std::byte>& copy, const ltrt::ModelDef& m, int update) {
  const float* params = reinterpret_cast<const float*>(copy.data());
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(params[i], t.tensors[0].flatten()[i].item<float>()) << "weight[" << i << "] after update " << update;
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(params[6 + i], t.tensors[1][i].item<float>()) << "bias[" << i << "] after update " << update;
  const float* mean = reinterpret_cast<const float*>(copy.data() + ltrt::model_state_offset(m, 0));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(mean[i], t.tensors[2][i].item<float>()) << "running_mean[" << i << "] after update " << update;
  std::int64_t tracked;
  std::memcpy(&tracked, copy.data() + ltrt::model_state_offset(m, 1), sizeof tracked);
  EXPECT_EQ(tracked, t.tensors[3].item<std::int64_t>()) << "num_batches_tracked after update " << update;
}

void check(const ltrt::AveragingRule& rule) {
  const ltrt::ModelDef m = model();
  std::vector<std::byte> arena(kArenaBytes), average(ltrt::model_state_bytes(m));
  torch::manual_seed(3);
  auto fill = [&](int step) {
    const torch::Tensor values = torch::randn({12}) * (step + 1);
    std::memcpy(arena.data() + kParams, values.data_ptr<float>(), 9 * 4);
    std::memcpy(arena.data() + kRunningMean, values.data_ptr<float>() + 9, 3 * 4);
    const std::int64_t tracked = 7 * step + 3;  // a counter that grows, as BatchNorm's does
    std::memcpy(arena.data() + kTracked, &tracked, sizeof tracked);
  };
  fill(0);
  ltrt::gather_model_state(m, arena.data(), average.data());  // AveragedModel(model): its deepcopy
  TorchModel theirs = torch_model(arena.data());
  torch::Tensor n_averaged = torch::tensor(0, torch::kInt64);
  for (int update = 0; update < 8; ++update) {
    fill(update + 1);
    ltrt::update_average(m, average.data(), arena.data(), rule, n_averaged.item<std::int64_t>());
    torch_update(theirs, torch_model(arena.data()), rule, n_averaged);
    n_averaged += 1;
    expect_same(theirs, average, m, update);
  }
}

TEST(AveragedModel, RunningMeanMatchesTorch) { check({false, 0.999, true}); }
TEST(AveragedModel, RunningMeanWithoutBuffersMatchesTorch) { check({false, 0.999, false}); }
TEST(AveragedModel, EmaMatchesTorch) { check({true, 0.999, true}); }
TEST(AveragedModel, EmaOfAnotherDecayMatchesTorch) { check({true, 0.7, true}); }
TEST(AveragedModel, EmaWithoutBuffersMatchesTorch) { check({true, 0.93, false}); }

// WeightAveraging's running mean on the GPU (runtime/cuda/average_update.cu): torch's
// get_swa_multi_avg_fn, _foreach_lerp_(average, model, 1 / (n + 1)), whose arithmetic ltrt::lerp is.
// ATen's CPU lerp is the same fused multiply-add as its CUDA kernel under nvcc, so the CPU's
// _foreach_lerp_ is the oracle: bit for bit over tensors whose lengths leave vector tails, for the
// weight 1/2 (lerp's other branch) and below; and not the division the CPU's running mean takes.
TEST(AveragedModel, GpuRunningMeanIsForeachLerp) {
  torch::manual_seed(11);
  std::int64_t differs_from_division = 0;
  for (std::int64_t length : {1, 7, 9, 17, 33, 100, 1001}) {
    for (std::int64_t n_averaged = 1; n_averaged <= 12; ++n_averaged) {
      torch::Tensor average = torch::randn({length}), model = torch::randn({length}) * 3;
      std::vector<float> ours(average.data_ptr<float>(), average.data_ptr<float>() + length);
      // python's 1 / (n + 1) on the int64 tensor: its reciprocal, float32
      const torch::Tensor weight = (torch::tensor(n_averaged, torch::kInt64) + 1).reciprocal();
      const float w = 1.0f / static_cast<float>(n_averaged + 1);
      ASSERT_EQ(weight.item<float>(), w);
      std::vector<float> divided(ours);
      for (std::int64_t i = 0; i < length; ++i) {
        ours[i] = ltrt::lerp(ours[i], model[i].item<float>(), w);
        divided[i] = ltrt::swa_value(divided[i], model[i].item<float>(), static_cast<float>(n_averaged + 1));
      }
      average.lerp_(model, weight.item<float>());  // what _foreach_lerp_ does to each tensor on the CPU
      for (std::int64_t i = 0; i < length; ++i) {
        EXPECT_EQ(ours[i], average[i].item<float>()) << "length " << length << ", n_averaged " << n_averaged
                                                     << ", element " << i;
        differs_from_division += ours[i] != divided[i];
      }
    }
  }
  EXPECT_GT(differs_from_division, 0) << "lerp and the division agree everywhere: the test cannot tell them apart";
}

TEST(AveragedModel, LayoutKeepsEveryTensorAligned) {
  const ltrt::ModelDef m = model();
  EXPECT_EQ(ltrt::model_state_offset(m, 0), 40u);  // 9 floats, rounded up to 8 bytes
  EXPECT_EQ(ltrt::model_state_offset(m, 1), 56u);  // then 3 floats, rounded up
  EXPECT_EQ(ltrt::model_state_bytes(m), 64u);
  std::vector<std::byte> arena(kArenaBytes), copy(ltrt::model_state_bytes(m)), back(kArenaBytes);
  for (std::size_t i = 0; i < arena.size(); ++i) arena[i] = static_cast<std::byte>(i * 37 + 1);
  ltrt::gather_model_state(m, arena.data(), copy.data());
  ltrt::scatter_model_state(m, copy.data(), back.data());
  EXPECT_EQ(std::memcmp(back.data() + kParams, arena.data() + kParams, 36), 0);
  EXPECT_EQ(std::memcmp(back.data() + kRunningMean, arena.data() + kRunningMean, 12), 0);
  EXPECT_EQ(std::memcmp(back.data() + kTracked, arena.data() + kTracked, 8), 0);
}

}  // namespace
