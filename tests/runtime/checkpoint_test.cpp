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
#include "ltrt/init.hpp"
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
  ltrt::Generator g2(2), g3(3);
  g3.normal();
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
  EXPECT_EQ(back.rng_data, state.rng_data);
  EXPECT_EQ(back.rng_dropout, state.rng_dropout);
  EXPECT_EQ(std::memcmp(ltrt::param_region(m, a.data()), ltrt::param_region(m, b.data()), 8), 0);
  EXPECT_EQ(std::memcmp(ltrt::slot_region(m, a.data(), 0), ltrt::slot_region(m, b.data(), 0), 16), 0);
}

// NAdam's mu_product: one float32 per parameter group in the optimizer metadata, restored exactly;
// a checkpoint without it (or with another count) is refused by name.
TEST(Checkpoint, NadamMuProductRoundTripsAndIsRequired) {
  const std::string dir = tmp_dir("nadam");
  ltrt::ModelDef m = toy::make_model(dir.c_str());
  m.optimizer.kind = ltrt::OptimizerKind::nadam;
  ltrt::Arena a(m.arena_bytes);
  ltrt::TrainState state{0, 1, 1, ltrt::Generator(2).state(), ltrt::Generator(3).state()};
  state.group_states = {0.1234567f * 1e-7f};
  const std::string path = dir + "/c.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), state);
  EXPECT_EQ(ltrt::load_checkpoint(path, m, a.data()).group_states, state.group_states);

  state.group_states = {0.5f, 0.25f};  // two groups' for a one-group model
  ltrt::save_checkpoint(path, m, a.data(), state);
  std::string e = error_of([&] { ltrt::load_checkpoint(path, m, a.data()); });
  EXPECT_NE(e.find("2 mu_product values, one per parameter group; this program's NAdam has 1"), std::string::npos) << e;

  state.group_states = {};
  ltrt::save_checkpoint(path, m, a.data(), state);
  e = error_of([&] { ltrt::load_checkpoint(path, m, a.data()); });
  EXPECT_NE(e.find("has no 'mu_product' list"), std::string::npos) << e;
}

// ASGD's eta travels the same way, under its own name.
TEST(Checkpoint, AsgdEtaRoundTripsAndIsRequired) {
  const std::string dir = tmp_dir("asgd");
  ltrt::ModelDef m = toy::make_model(dir.c_str());
  m.optimizer.kind = ltrt::OptimizerKind::asgd;
  ltrt::Arena a(m.arena_bytes);
  ltrt::TrainState state{0, 1, 1, ltrt::Generator(2).state(), ltrt::Generator(3).state()};
  state.group_states = {0.0098765f};
  const std::string path = dir + "/c.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), state);
  EXPECT_EQ(ltrt::load_checkpoint(path, m, a.data()).group_states, state.group_states);

  state.group_states = {};
  ltrt::save_checkpoint(path, m, a.data(), state);
  const std::string e = error_of([&] { ltrt::load_checkpoint(path, m, a.data()); });
  EXPECT_NE(e.find("has no 'eta' list (ASGD's state per parameter group)"), std::string::npos) << e;
}

// "16-mixed": the GradScaler's state as GradScaler.state_dict() holds it, under "MixedPrecision".
TEST(Checkpoint, GradScalerRoundTripsAndIsOptional) {
  const std::string dir = tmp_dir("grad_scaler");
  ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes);
  ltrt::TrainState state{0, 1, 1, ltrt::Generator(2).state(), ltrt::Generator(3).state()};
  const std::string path = dir + "/c.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), state);
  EXPECT_FALSE(ltrt::load_checkpoint(path, m, a.data()).grad_scaler.has_value());

  state.grad_scaler = ltrt::GradScaler{0.0078125f, 1999};
  ltrt::save_checkpoint(path, m, a.data(), state);
  const ltrt::TrainState back = ltrt::load_checkpoint(path, m, a.data());
  ASSERT_TRUE(back.grad_scaler.has_value());
  EXPECT_EQ(back.grad_scaler->scale, 0.0078125f);
  EXPECT_EQ(back.grad_scaler->growth_tracker, 1999);
  const ltrt::SafeTensorsFile file = ltrt::read_safetensors(path);
  const std::string* saved = file.find_metadata("MixedPrecision");
  ASSERT_NE(saved, nullptr);
  EXPECT_NE(saved->find("\"growth_interval\":2000"), std::string::npos) << *saved;

  state.grad_scaler = ltrt::GradScaler{-1.0f, 0};
  ltrt::save_checkpoint(path, m, a.data(), state);
  const std::string e = error_of([&] { ltrt::load_checkpoint(path, m, a.data()); });
  EXPECT_NE(e.find("'MixedPrecision' needs a positive finite 'scale'"), std::string::npos) << e;
}

// The hooks' entries (trainer.checkpoint) round-trip as the "user" metadata object, in full and
// weights-only checkpoints (strings of any characters); a file without them gives none.
TEST(Checkpoint, UserEntriesRoundTrip) {
  const std::string dir = tmp_dir("user_entries");
  ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes);
  ltrt::TrainState state{0, 1, 1, ltrt::Generator(2).state(), ltrt::Generator(3).state()};
  const std::string path = dir + "/c.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), state);
  EXPECT_TRUE(ltrt::load_checkpoint(path, m, a.data()).user.empty());
  EXPECT_EQ(ltrt::read_safetensors(path).find_metadata("user"), nullptr);

  state.user = {{"seen", "12"}, {"note", "a \"quoted\" value\n"}};
  for (bool weights_only : {false, true}) {
    state.weights_only = weights_only;
    ltrt::save_checkpoint(path, m, a.data(), state);
    EXPECT_EQ(ltrt::checkpoint_user_entries(path), state.user);
    if (!weights_only) EXPECT_EQ(ltrt::load_checkpoint(path, m, a.data()).user, state.user);
  }
}

// Each parameter group's lr (torch's param_groups[g]["lr"]) round-trips exactly; older checkpoints
// without it still load, and a wrong count or a negative lr is refused.
TEST(Checkpoint, GroupLrsRoundTripAndAreOptional) {
  const std::string dir = tmp_dir("group_lrs");
  ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes);
  ltrt::TrainState state{0, 1, 1, ltrt::Generator(2).state(), ltrt::Generator(3).state()};
  const std::string path = dir + "/c.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), state);
  EXPECT_TRUE(ltrt::load_checkpoint(path, m, a.data()).lrs.empty());

  state.lrs = {0.1 * 0.5 * 0.5 * 0.3};  // a value whose decimal form is long
  ltrt::save_checkpoint(path, m, a.data(), state);
  EXPECT_EQ(ltrt::load_checkpoint(path, m, a.data()).lrs, state.lrs);

  state.lrs = {0.1, 0.2};  // the toy model has one group
  ltrt::save_checkpoint(path, m, a.data(), state);
  std::string e = error_of([&] { ltrt::load_checkpoint(path, m, a.data()); });
  EXPECT_NE(e.find("'lr' is not a list of 1 learning rates"), std::string::npos) << e;
  state.lrs = {-0.1};
  ltrt::save_checkpoint(path, m, a.data(), state);
  e = error_of([&] { ltrt::load_checkpoint(path, m, a.data()); });
  EXPECT_NE(e.find("finite learning rate >= 0"), std::string::npos) << e;
}

// torch._amp_update_scale_: halve on an infinity (and start counting again), double after 2,000
// steps without one, and never grow into infinity.
TEST(GradScaler, UpdatesAsTorch) {
  ltrt::GradScaler s;
  EXPECT_EQ(s.scale, 65536.0f);
  EXPECT_EQ(s.inv_scale(), 1.0f / 65536.0f);
  s.update(false);
  s.update(true);
  EXPECT_EQ(s.scale, 32768.0f);
  EXPECT_EQ(s.growth_tracker, 0);
  for (int i = 0; i < 1999; ++i) s.update(false);
  EXPECT_EQ(s.scale, 32768.0f);
  EXPECT_EQ(s.growth_tracker, 1999);
  s.update(false);
  EXPECT_EQ(s.scale, 65536.0f);
  EXPECT_EQ(s.growth_tracker, 0);
  s.scale = 2.0e38f;
  for (int i = 0; i < 2000; ++i) s.update(false);
  EXPECT_EQ(s.scale, 2.0e38f);  // 4e38 is not a float: kept
  EXPECT_EQ(s.growth_tracker, 0);
}

TEST(Checkpoint, OtherSpecIsRefused) {
  const std::string dir = tmp_dir("other_spec");
  ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes);
  const std::string path = dir + "/c.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), ltrt::TrainState{0, 1, 1, ltrt::Generator(2).state(), ltrt::Generator(3).state()});
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

// A tied weight (Linear's tie_weight): torch's state_dict shows it under both names; ltgen
// takes the second name when it holds the same values, and refuses different ones.
TEST(InitWeights, TiedWeightUnderBothNames) {
  const std::string dir = tmp_dir("tied_weights");
  ltrt::ModelDef m = toy::make_model(dir.c_str());
  static const char* const kTied[] = {"head.weight", "layers.0.weight"};
  m.tied_names = kTied;
  m.num_tied = 1;
  ltrt::Arena a(m.arena_bytes);
  const float w = 0.75f, other = 0.5f, b = -0.5f;
  const std::string path = dir + "/w.safetensors";
  auto load = [&] { return error_of([&] { ltrt::load_weights(path, m, a.data()); }); };

  ltrt::write_safetensors(path, {{"layers.0.weight", ltrt::DType::f32, {1, 1}, &w}, {"layers.0.bias", ltrt::DType::f32, {1}, &b},
                                 {"head.weight", ltrt::DType::f32, {1, 1}, &w}}, {});
  EXPECT_EQ(load(), "(no error)");
  EXPECT_EQ(ltrt::param_region(m, a.data())[0], 0.75f);

  ltrt::write_safetensors(path, {{"layers.0.weight", ltrt::DType::f32, {1, 1}, &w}, {"layers.0.bias", ltrt::DType::f32, {1}, &b}}, {});
  EXPECT_EQ(load(), "(no error)");  // ltgen's own files name it once

  ltrt::write_safetensors(path, {{"layers.0.weight", ltrt::DType::f32, {1, 1}, &w}, {"layers.0.bias", ltrt::DType::f32, {1}, &b},
                                 {"head.weight", ltrt::DType::f32, {1, 1}, &other}}, {});
  const std::string e = load();
  EXPECT_NE(e.find("'head.weight' and 'layers.0.weight' are one tied weight"), std::string::npos) << e;
}

// A torch state_dict of a model whose loss has class weights holds them as the buffer
// "loss.weight": accepted when they are the spec's, refused when they differ.
TEST(InitWeights, LossClassWeightsOfATorchStateDict) {
  const std::string dir = tmp_dir("loss_weight");
  ltrt::ModelDef m = toy::make_model(dir.c_str());
  static const float kLossWeight[] = {0.5f, 2.0f};
  static const ltrt::LossBuffer kBuffers[] = {{"loss.weight", kLossWeight, 2}};
  m.loss_buffers = kBuffers;
  m.num_loss_buffers = 1;
  ltrt::Arena a(m.arena_bytes);
  const float w = 0.75f, b = -0.5f, same[] = {0.5f, 2.0f}, other[] = {0.5f, 1.0f};
  const std::string path = dir + "/w.safetensors";
  auto load = [&] { return error_of([&] { ltrt::load_weights(path, m, a.data()); }); };
  ltrt::write_safetensors(path, {{"layers.0.weight", ltrt::DType::f32, {1, 1}, &w}, {"layers.0.bias", ltrt::DType::f32, {1}, &b},
                                 {"loss.weight", ltrt::DType::f32, {2}, same}}, {});
  EXPECT_EQ(load(), "(no error)");
  ltrt::write_safetensors(path, {{"layers.0.weight", ltrt::DType::f32, {1, 1}, &w}, {"layers.0.bias", ltrt::DType::f32, {1}, &b},
                                 {"loss.weight", ltrt::DType::f32, {2}, other}}, {});
  const std::string e = load();
  EXPECT_NE(e.find("'loss.weight' holds other values than the spec's loss (its \"weight\")"), std::string::npos) << e;
  m.num_loss_buffers = 0;  // a loss without class weights: the tensor is not the model's
  EXPECT_NE(load().find("unexpected tensor 'loss.weight'"), std::string::npos);
}

TEST(InitWeights, CheckpointFileGivesItsWeights) {
  const std::string dir = tmp_dir("from_ckpt");
  const ltrt::ModelDef m = toy::make_model(dir.c_str());
  ltrt::Arena a(m.arena_bytes), b(m.arena_bytes);
  fill(m, a);
  const std::string path = dir + "/c.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), ltrt::TrainState{0, 1, 1, ltrt::Generator(2).state(), ltrt::Generator(3).state()});
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

// The toy model plus BatchNorm-like buffers (ModelDef::state) in the spare arena bytes after the target.
constexpr std::size_t kRunningVar = 768, kCount = 832;
const ltrt::StateDef kToyState[] = {
    {{"layers.1.running_var", ltrt::DType::f32, 1, {2}, kRunningVar}, ltrt::InitKind::ones},
    {{"layers.1.num_batches_tracked", ltrt::DType::i64, 0, {}, kCount}, ltrt::InitKind::zeros},
};
ltrt::ModelDef with_state(const char* dir) {
  ltrt::ModelDef m = toy::make_model(dir);
  m.state = kToyState;
  m.num_state = 2;
  return m;
}
float* running_var(ltrt::Arena& a) { return reinterpret_cast<float*>(a.data() + kRunningVar); }
std::int64_t* count(ltrt::Arena& a) { return reinterpret_cast<std::int64_t*>(a.data() + kCount); }

TEST(StateBuffers, InitSaveLoadAndInitWeights) {
  const std::string dir = tmp_dir("state");
  const ltrt::ModelDef m = with_state(dir.c_str());
  ltrt::Arena a(m.arena_bytes), b(m.arena_bytes), c(m.arena_bytes);
  *count(a) = 77;
  ltrt::TorchGenerator gen(1);
  ltrt::init_parameters(m, a.data(), gen);  // buffers: ones / 0, no draws
  EXPECT_EQ(running_var(a)[0], 1.0f);
  EXPECT_EQ(running_var(a)[1], 1.0f);
  EXPECT_EQ(*count(a), 0);
  ltrt::TorchGenerator ref(1);
  ltrt::init_parameters(toy::make_model(dir.c_str()), c.data(), ref);
  EXPECT_EQ(gen.random64(), ref.random64()) << "buffers must not draw from the init generator";

  fill(m, a);
  running_var(a)[0] = 0.5f;
  running_var(a)[1] = 2.5f;
  *count(a) = 42;
  const std::string path = dir + "/s.safetensors";
  ltrt::save_checkpoint(path, m, a.data(), ltrt::TrainState{0, 1, 1, ltrt::Generator(2).state(), ltrt::Generator(3).state()});
  const ltrt::SafeTensorsFile file = ltrt::read_safetensors(path);
  const ltrt::SafeTensor* nbt = file.find("state_dict.layers.1.num_batches_tracked");
  ASSERT_NE(nbt, nullptr);
  EXPECT_EQ(nbt->dtype, ltrt::DType::i64);
  EXPECT_TRUE(nbt->shape.empty());  // a 0-d tensor, as torch's
  ASSERT_NE(file.find("state_dict.layers.1.running_var"), nullptr);
  EXPECT_EQ(file.find("optimizer.layers.1.running_var.exp_avg"), nullptr) << "buffers have no optimizer slots";

  ltrt::load_checkpoint(path, m, b.data());  // resume
  EXPECT_EQ(running_var(b)[1], 2.5f);
  EXPECT_EQ(*count(b), 42);
  ltrt::load_weights(path, m, c.data());  // --init_weights / --ckpt_path for test and predict
  EXPECT_EQ(running_var(c)[0], 0.5f);
  EXPECT_EQ(*count(c), 42);

  // A torch state_dict: bare names, float64 stats converted; the count must be int64; all strict.
  const float w[2] = {1, 2};
  const double var[2] = {3, 4};
  const std::int64_t n = 5;
  const float bad_n = 5;
  const std::string torch_path = dir + "/torch.safetensors";
  auto load = [&] { return error_of([&] { ltrt::load_weights(torch_path, m, c.data()); }); };
  ltrt::write_safetensors(torch_path, {{"layers.0.weight", ltrt::DType::f32, {1, 1}, w}, {"layers.0.bias", ltrt::DType::f32, {1}, w},
                                       {"layers.1.running_var", ltrt::DType::f64, {2}, var},
                                       {"layers.1.num_batches_tracked", ltrt::DType::i64, {}, &n}}, {});
  EXPECT_EQ(load(), "(no error)");
  EXPECT_EQ(running_var(c)[1], 4.0f);
  EXPECT_EQ(*count(c), 5);
  ltrt::write_safetensors(torch_path, {{"layers.0.weight", ltrt::DType::f32, {1, 1}, w}, {"layers.0.bias", ltrt::DType::f32, {1}, w},
                                       {"layers.1.running_var", ltrt::DType::f32, {2}, w}}, {});
  EXPECT_NE(load().find("missing tensor 'layers.1.num_batches_tracked'"), std::string::npos) << load();
  ltrt::write_safetensors(torch_path, {{"layers.0.weight", ltrt::DType::f32, {1, 1}, w}, {"layers.0.bias", ltrt::DType::f32, {1}, w},
                                       {"layers.1.running_var", ltrt::DType::f32, {2}, w},
                                       {"layers.1.num_batches_tracked", ltrt::DType::f32, {}, &bad_n}}, {});
  EXPECT_NE(load().find("expected I64"), std::string::npos) << load();

  // A checkpoint without the buffers does not resume this model.
  const ltrt::ModelDef plain = toy::make_model(dir.c_str());
  const std::string old = dir + "/old.safetensors";
  ltrt::save_checkpoint(old, plain, a.data(), ltrt::TrainState{0, 1, 1, ltrt::Generator(2).state(), ltrt::Generator(3).state()});
  const std::string e = error_of([&] { ltrt::load_checkpoint(old, m, b.data()); });
  EXPECT_NE(e.find("missing tensor 'state_dict.layers.1.running_var'"), std::string::npos) << e;
}

}  // namespace
