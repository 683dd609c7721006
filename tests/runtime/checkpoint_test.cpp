// Checkpoint round trip, strict loading and --init_weights files.
#include "test_util.hpp"
#include "ltrt/checkpoint.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <vector>

#include "ltrt/arena.hpp"
#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/safetensors.hpp"
#include "toy_model.hpp"

namespace {

std::string tmp_dir(const std::string& name) {
  const std::string dir = std::string(LTRT_TEST_TMP) + "/checkpoint_test/" + name;
  std::filesystem::remove_all(dir);
  ltrt::make_dirs(dir);
  return dir;
}

using ltrt_test::error_of;

void fill(const ltrt::ModelDef& m, ltrt::Arena& arena) {
  float* p = ltrt::param_region(m, arena.data());
  p[0] = 1.5f;
  p[1] = -2.25f;
  for (int k = 0; k < m.num_slots; ++k) {
    ltrt::slot_region(m, arena.data(), k)[0] = 10.0f * (k + 1);
    ltrt::slot_region(m, arena.data(), k)[1] = 0.125f * (k + 1);
  }
}

TEST(Checkpoint, RoundTrip) {
  const std::string dir = tmp_dir("round_trip");
  const ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes), b(m.arena_bytes);
  fill(m, a);
  ltrt::TrainState state;
  state.epoch = 2;
  state.global_step = 96;
  state.optimizer_step = 96;
  ltrt::Generator g1(1), g2(2), g3(3);
  g3.normal();
  state.rng_init = g1.state();
  state.rng_data = g2.state();
  state.rng_dropout = g3.state();
  const std::string path = dir + "/epoch=2-step=96.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), state);

  // The layout safetensors.torch.load_file sees.
  const ltrt::SafeTensorsFile file = ltrt::read_safetensors(path);
  ASSERT_NE(file.find("state_dict.layers.0.weight"), nullptr);
  EXPECT_EQ(file.find("state_dict.layers.0.weight")->shape, (std::vector<std::int64_t>{1, 1}));
  ASSERT_NE(file.find("optimizer.layers.0.bias.exp_avg_sq"), nullptr);
  EXPECT_EQ(file.tensors.size(), 6u);
  ASSERT_NE(file.find_metadata("format"), nullptr);
  EXPECT_EQ(*file.find_metadata("format"), "pt");
  EXPECT_EQ(*file.find_metadata("global_step"), "96");
  EXPECT_EQ(*file.find_metadata("spec_hash"), "\"0123456789abcdef\"");
  EXPECT_EQ(*file.find_metadata("hparams"), std::string(m.spec_json));

  const ltrt::TrainState back = ltrt::load_checkpoint(path, m, b.data());
  EXPECT_EQ(back.epoch, 2);
  EXPECT_EQ(back.global_step, 96);
  EXPECT_EQ(back.optimizer_step, 96);
  EXPECT_EQ(back.rng_init, state.rng_init);
  EXPECT_EQ(back.rng_data, state.rng_data);
  EXPECT_EQ(back.rng_dropout, state.rng_dropout);
  EXPECT_EQ(std::memcmp(ltrt::param_region(m, a.data()), ltrt::param_region(m, b.data()), 8), 0);
  EXPECT_EQ(std::memcmp(ltrt::slot_region(m, a.data(), 0), ltrt::slot_region(m, b.data(), 0), 16), 0);
}

TEST(Checkpoint, OtherSpecIsRefused) {
  const std::string dir = tmp_dir("other_spec");
  ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes);
  const std::string path = dir + "/c.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), ltrt::TrainState{0, 1, 1, ltrt::Generator(1).state(),
                                                            ltrt::Generator(2).state(), ltrt::Generator(3).state()});
  m.spec_hash = "ffff";
  const std::string e = error_of([&] { ltrt::load_checkpoint(path, m, a.data()); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("different spec"), std::string::npos) << e;
}

TEST(Checkpoint, MissingExtraAndMisshapenTensors) {
  const std::string dir = tmp_dir("strict");
  const ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes);
  const float w[2] = {1, 2};
  const std::vector<std::pair<std::string, std::string>> meta = {
      {"epoch", "0"}, {"global_step", "1"}, {"optimizer", R"({"type":"Adam","step":1})"},
      {"rng_states", "{\"init\":\"" + ltrt::Generator(1).state() + "\",\"data\":\"" + ltrt::Generator(2).state() +
                         "\",\"dropout\":\"" + ltrt::Generator(3).state() + "\"}"},
      {"spec_hash", "\"0123456789abcdef\""}};
  auto tensors = [&](bool drop_bias_slot, bool extra, bool bad_shape) {
    std::vector<ltrt::SafeTensorView> v = {
        {"state_dict.layers.0.weight", ltrt::DType::f32, bad_shape ? std::vector<std::int64_t>{2} : std::vector<std::int64_t>{1, 1}, w},
        {"state_dict.layers.0.bias", ltrt::DType::f32, {1}, w},
        {"optimizer.layers.0.weight.exp_avg", ltrt::DType::f32, {1, 1}, w},
        {"optimizer.layers.0.weight.exp_avg_sq", ltrt::DType::f32, {1, 1}, w},
        {"optimizer.layers.0.bias.exp_avg", ltrt::DType::f32, {1}, w},
    };
    if (!drop_bias_slot) v.push_back({"optimizer.layers.0.bias.exp_avg_sq", ltrt::DType::f32, {1}, w});
    if (extra) v.push_back({"state_dict.layers.1.weight", ltrt::DType::f32, {1}, w});
    return v;
  };
  const std::string path = dir + "/c.safetensors";
  ltrt::write_safetensors(path, tensors(false, false, false), meta);
  EXPECT_EQ(error_of([&] { ltrt::load_checkpoint(path, m, a.data()); }), "(no error)");

  ltrt::write_safetensors(path, tensors(true, false, false), meta);
  std::string e = error_of([&] { ltrt::load_checkpoint(path, m, a.data()); });
  EXPECT_NE(e.find("missing tensor 'optimizer.layers.0.bias.exp_avg_sq'"), std::string::npos) << e;
  ltrt::write_safetensors(path, tensors(false, true, false), meta);
  e = error_of([&] { ltrt::load_checkpoint(path, m, a.data()); });
  EXPECT_NE(e.find("unexpected tensor 'state_dict.layers.1.weight'"), std::string::npos) << e;
  ltrt::write_safetensors(path, tensors(false, false, true), meta);
  e = error_of([&] { ltrt::load_checkpoint(path, m, a.data()); });
  EXPECT_NE(e.find("'state_dict.layers.0.weight' has shape [2]"), std::string::npos) << e;
  EXPECT_NE(e.find(path), std::string::npos) << e;
}

TEST(InitWeights, BareNamesAndFloat64) {
  const std::string dir = tmp_dir("bare");
  const ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes);
  const double w = 0.75;
  const float b = -0.5f;
  const std::string path = dir + "/w.safetensors";
  ltrt::write_safetensors(path, {{"layers.0.weight", ltrt::DType::f64, {1, 1}, &w}, {"layers.0.bias", ltrt::DType::f32, {1}, &b}}, {});
  ltrt::load_weights(path, m, a.data());
  EXPECT_EQ(ltrt::param_region(m, a.data())[0], 0.75f);
  EXPECT_EQ(ltrt::param_region(m, a.data())[1], -0.5f);
}

TEST(InitWeights, CheckpointFileGivesItsWeights) {
  const std::string dir = tmp_dir("from_ckpt");
  const ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes), b(m.arena_bytes);
  fill(m, a);
  const std::string path = dir + "/c.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), ltrt::TrainState{0, 1, 1, ltrt::Generator(1).state(),
                                                            ltrt::Generator(2).state(), ltrt::Generator(3).state()});
  ltrt::load_weights(path, m, b.data());
  EXPECT_EQ(ltrt::param_region(m, b.data())[1], -2.25f);
  EXPECT_EQ(ltrt::slot_region(m, b.data(), 0)[0], 0.0f);  // optimizer state not taken
}

TEST(InitWeights, StrictLikeLoadStateDict) {
  const std::string dir = tmp_dir("strict_weights");
  const ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes);
  const float w[2] = {1, 2};
  const std::int64_t i = 3;
  const std::string path = dir + "/w.safetensors";
  auto load = [&] { return error_of([&] { ltrt::load_weights(path, m, a.data()); }); };

  ltrt::write_safetensors(path, {{"layers.0.weight", ltrt::DType::f32, {1, 1}, w}}, {});
  std::string e = load();
  EXPECT_NE(e.find("missing tensor 'layers.0.bias'"), std::string::npos) << e;
  EXPECT_NE(e.find("w.safetensors"), std::string::npos) << e;

  ltrt::write_safetensors(path, {{"layers.0.weight", ltrt::DType::f32, {1, 1}, w}, {"layers.0.bias", ltrt::DType::f32, {1}, w},
                                 {"layers.9.bias", ltrt::DType::f32, {1}, w}}, {});
  e = load();
  EXPECT_NE(e.find("unexpected tensor 'layers.9.bias'"), std::string::npos) << e;

  ltrt::write_safetensors(path, {{"layers.0.weight", ltrt::DType::f32, {1, 2}, w}, {"layers.0.bias", ltrt::DType::f32, {1}, w}}, {});
  e = load();
  EXPECT_NE(e.find("'layers.0.weight' has shape [1, 2], the model expects [1, 1]"), std::string::npos) << e;

  ltrt::write_safetensors(path, {{"layers.0.weight", ltrt::DType::i64, {1, 1}, &i}, {"layers.0.bias", ltrt::DType::f32, {1}, w}}, {});
  e = load();
  EXPECT_NE(e.find("dtype I64"), std::string::npos) << e;

  ltrt::write_safetensors(path, {{"state_dict.layers.0.weight", ltrt::DType::f32, {1, 1}, w}, {"layers.0.weight", ltrt::DType::f32, {1, 1}, w},
                                 {"layers.0.bias", ltrt::DType::f32, {1}, w}}, {});
  e = load();
  EXPECT_NE(e.find("appears twice"), std::string::npos) << e;
}

}  // namespace
