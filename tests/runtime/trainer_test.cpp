// The fit loop on a hand-written Linear(1, 1) model: step counts, metrics.csv
// rows, checkpoint names, resume.
#include "ltrt/trainer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <filesystem>
#include <sstream>
#include <vector>

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/safetensors.hpp"
#include "toy_model.hpp"

namespace fs = std::filesystem;

// Counts heap allocations, to check that the step loop makes none.
static std::size_t g_allocations = 0;
void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

std::size_t g_allocations_at_step[96];
int g_step_calls = 0;

float counting_step(std::byte* arena, int n, float loss_scale, bool accumulate, const ltrt::DropoutDraws& rng) {
  if (g_step_calls < 96) g_allocations_at_step[g_step_calls] = g_allocations;
  ++g_step_calls;
  return toy::training_step(arena, n, loss_scale, accumulate, rng);
}

std::string tmp_dir(const std::string& name) {
  const std::string dir = std::string(LTRT_TEST_TMP) + "/trainer_test/" + name;
  fs::remove_all(dir);
  ltrt::make_dirs(dir);
  return dir;
}

// metrics.csv as rows of cells, line ends stripped.
std::vector<std::vector<std::string>> read_csv_cells(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(ltrt::read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> cells;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

ltrt::FitResult quiet_fit(const ltrt::ModelDef& m, const ltrt::FitConfig& c) {
  std::FILE* sink = std::tmpfile();
  ltrt::FitResult r = ltrt::fit(m, c, sink);
  std::fclose(sink);
  return r;
}

TEST(Trainer, LightningSeedExampleLayout) {
  const std::string root = tmp_dir("seed");
  const ltrt::ModelDef m = toy::make_model(root.c_str());
  const ltrt::FitResult r = quiet_fit(m, ltrt::FitConfig::from_model(m));

  EXPECT_EQ(r.global_step, 96);  // 32 steps per epoch (last batch of 8), 3 epochs
  EXPECT_EQ(r.current_epoch, 3);
  EXPECT_EQ(r.log_dir, root + "/lightning_logs/version_0");
  EXPECT_EQ(r.stop_reason, "`max_epochs=3` reached.");

  // One row: _batches_that_stepped == 49 (the 50th step), in epoch 1.
  const auto rows = read_csv_cells(r.log_dir + "/metrics.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"epoch", "step", "train_loss"}));
  ASSERT_EQ(rows[1].size(), 3u);
  EXPECT_EQ(rows[1][0], "1");
  EXPECT_EQ(rows[1][1], "49");
  EXPECT_GT(std::stod(rows[1][2]), 0.0);

  EXPECT_TRUE(ltrt::exists(r.log_dir + "/hparams.yaml"));
  EXPECT_EQ(files_in(r.log_dir + "/checkpoints"), std::vector<std::string>{"epoch=2-step=96.safetensors"});
  EXPECT_EQ(r.checkpoint_path, r.log_dir + "/checkpoints/epoch=2-step=96.safetensors");

  // A second run gets the next version.
  const ltrt::FitResult r2 = quiet_fit(m, ltrt::FitConfig::from_model(m));
  EXPECT_EQ(r2.log_dir, root + "/lightning_logs/version_1");
}

TEST(Trainer, LossGoesDownOnALinearTarget) {
  // y = randn, x = randn: the best fit is ~0; start from a bad weight file.
  const std::string root = tmp_dir("loss_down");
  const ltrt::ModelDef m = toy::make_model(root.c_str());
  const float w = 3.0f, b = 2.0f;
  ltrt::write_safetensors(root + "/w.safetensors",
                          {{"layers.0.weight", ltrt::DType::f32, {1, 1}, &w}, {"layers.0.bias", ltrt::DType::f32, {1}, &b}}, {});
  ltrt::FitConfig c = ltrt::FitConfig::from_model(m);
  c.init_weights = root + "/w.safetensors";
  c.trainer.log_every_n_steps = 1;
  const ltrt::FitResult r = quiet_fit(m, c);
  const auto rows = read_csv_cells(r.log_dir + "/metrics.csv");
  ASSERT_EQ(rows.size(), 97u);  // every step of three epochs
  EXPECT_EQ(rows[1][1], "0");
  EXPECT_EQ(rows[96][1], "95");
  EXPECT_EQ(rows[96][0], "2");
  double first = 0, last = 0;
  for (int i = 0; i < 16; ++i) {
    first += std::stod(rows[1 + i][2]);
    last += std::stod(rows[96 - i][2]);
  }
  EXPECT_LT(last, 0.7 * first);
}

TEST(Trainer, StepLoopDoesNotAllocate) {
  const std::string root = tmp_dir("no_alloc");
  ltrt::ModelDef m = toy::make_model(root.c_str());
  m.data.shuffle = true;
  m.training_step = counting_step;
  ltrt::FitConfig c = ltrt::FitConfig::from_model(m);
  c.trainer.log_every_n_steps = 5;
  c.trainer.enable_progress_bar = true;
  g_step_calls = 0;
  quiet_fit(m, c);
  ASSERT_EQ(g_step_calls, 96);
  // Between two steps of one epoch: batch gather, optimizer, metrics row,
  // progress bar; none of them may allocate. (Epoch ends may: metrics.csv
  // and the checkpoint are written there. So may the first step, which adds
  // train_loss to trainer.callback_metrics, as Lightning's first log does.)
  for (int i = 2; i < 96; ++i) {
    if (i % 32 == 0) continue;
    EXPECT_EQ(g_allocations_at_step[i], g_allocations_at_step[i - 1]) << "allocation before step " << i;
  }
}

TEST(Trainer, MaxStepsStopsMidEpochAndLogsEveryN) {
  const std::string root = tmp_dir("max_steps");
  const ltrt::ModelDef m = toy::make_model(root.c_str());
  ltrt::FitConfig c = ltrt::FitConfig::from_model(m);
  c.trainer.max_epochs = -1;
  c.trainer.max_steps = 40;
  c.trainer.log_every_n_steps = 10;
  const ltrt::FitResult r = quiet_fit(m, c);
  EXPECT_EQ(r.global_step, 40);
  EXPECT_EQ(r.current_epoch, 2);
  EXPECT_EQ(r.stop_reason, "`max_steps=40` reached.");
  const auto rows = read_csv_cells(r.log_dir + "/metrics.csv");
  ASSERT_EQ(rows.size(), 5u);
  const std::vector<std::pair<std::string, std::string>> want = {{"0", "9"}, {"0", "19"}, {"0", "29"}, {"1", "39"}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(rows[i + 1][0], want[i].first);
    EXPECT_EQ(rows[i + 1][1], want[i].second);
  }
  // on_train_epoch_end still runs for the cut-short epoch.
  EXPECT_EQ(files_in(r.log_dir + "/checkpoints"), std::vector<std::string>{"epoch=1-step=40.safetensors"});
}

TEST(Trainer, MaxEpochsDefaultsTo1000OnlyWithoutMaxSteps) {
  EXPECT_EQ(ltrt::resolve_max_epochs(-1, -1), 1000);
  EXPECT_EQ(ltrt::resolve_max_epochs(-1, 10), -1);
  EXPECT_EQ(ltrt::resolve_max_epochs(5, -1), 5);
  EXPECT_EQ(ltrt::checkpoint_filename(2, 96), "epoch=2-step=96.safetensors");
}

TEST(Trainer, NoCheckpointingAndZeroSteps) {
  const std::string root = tmp_dir("no_ckpt");
  const ltrt::ModelDef m = toy::make_model(root.c_str());
  ltrt::FitConfig c = ltrt::FitConfig::from_model(m);
  c.trainer.enable_checkpointing = false;
  c.trainer.max_epochs = 1;
  ltrt::FitResult r = quiet_fit(m, c);
  EXPECT_EQ(r.global_step, 32);
  EXPECT_TRUE(r.checkpoint_path.empty());
  EXPECT_FALSE(fs::exists(r.log_dir + "/checkpoints"));
  c.trainer.max_steps = 0;
  r = quiet_fit(m, c);
  EXPECT_EQ(r.global_step, 0);
  EXPECT_EQ(r.current_epoch, 0);
}

TEST(Trainer, ResumeEqualsUninterrupted) {
  const std::string root = tmp_dir("resume");
  ltrt::ModelDef m = toy::make_model(root.c_str());
  m.data.shuffle = true;  // resuming must continue the data generator
  ltrt::FitConfig c = ltrt::FitConfig::from_model(m);
  const ltrt::FitResult full = quiet_fit(m, c);

  c.trainer.max_epochs = 1;
  const ltrt::FitResult first = quiet_fit(m, c);
  EXPECT_EQ(files_in(first.log_dir + "/checkpoints"), std::vector<std::string>{"epoch=0-step=32.safetensors"});
  c.trainer.max_epochs = 3;
  c.ckpt_path = first.checkpoint_path;
  const ltrt::FitResult resumed = quiet_fit(m, c);
  EXPECT_EQ(resumed.global_step, 96);
  EXPECT_EQ(resumed.steps_this_run, 64);
  EXPECT_EQ(resumed.current_epoch, 3);
  EXPECT_EQ(fs::path(resumed.checkpoint_path).filename(), "epoch=2-step=96.safetensors");
  EXPECT_EQ(resumed.last_loss, full.last_loss);

  const ltrt::SafeTensorsFile a = ltrt::read_safetensors(full.checkpoint_path);
  const ltrt::SafeTensorsFile b = ltrt::read_safetensors(resumed.checkpoint_path);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
    EXPECT_EQ(a.tensors[i].data, b.tensors[i].data) << a.tensors[i].name;
  }
  EXPECT_EQ(*a.find_metadata("rng_states"), *b.find_metadata("rng_states"));
  EXPECT_EQ(*a.find_metadata("optimizer"), *b.find_metadata("optimizer"));

  // The resumed run's metrics.csv has the row of step 49 (epoch 1).
  const auto rows = read_csv_cells(resumed.log_dir + "/metrics.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][0], "1");
  EXPECT_EQ(rows[1][1], "49");
}

TEST(Trainer, SameSeedSameRunOtherSeedOtherRun) {
  const std::string root = tmp_dir("seeds");
  const ltrt::ModelDef m = toy::make_model(root.c_str());
  ltrt::FitConfig c = ltrt::FitConfig::from_model(m);
  c.trainer.max_epochs = 1;
  const float a = quiet_fit(m, c).last_loss;
  const float b = quiet_fit(m, c).last_loss;
  c.trainer.seed = 43;
  const float d = quiet_fit(m, c).last_loss;
  EXPECT_EQ(a, b);
  EXPECT_NE(a, d);
}

TEST(Trainer, DataErrorsAreErrors) {
  const std::string root = tmp_dir("data_error");
  ltrt::ModelDef m = toy::make_model(root.c_str());
  m.data.train.kind = ltrt::DataSourceKind::npy;
  ltrt::FitConfig c = ltrt::FitConfig::from_model(m);
  c.train.x_path = root + "/nope_x.npy";
  c.train.y_path = root + "/nope_y.npy";
  try {
    quiet_fit(m, c);
    FAIL() << "expected an error";
  } catch (const ltrt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope_x.npy"), std::string::npos) << e.what();
  }
}

}  // namespace
