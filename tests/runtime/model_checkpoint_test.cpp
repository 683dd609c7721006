// ModelCheckpoint: file names, top-k bookkeeping on disk, save_last, triggers and state, against
// Lightning 2.x's rules (lightning/pytorch/callbacks/model_checkpoint.py). A fake save_checkpoint
// writes a small file, so what is kept and removed is checked on disk.
#include "test_util.hpp"
#include "ltrt/model_checkpoint.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/json.hpp"

namespace {

namespace fs = std::filesystem;
using ltrt::CallbackContext;
using ltrt::ModelCheckpoint;
using ltrt::PyScalar;

std::string fresh_dir(const std::string& name) {
  const std::string dir = std::string(LTRT_TEST_TMP) + "/" + name;
  fs::remove_all(dir);
  ltrt::make_dirs(dir);
  return dir;
}

using ltrt_test::error_of;

std::set<std::string> files_in(const std::string& dir) {
  std::set<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

struct Harness {
  std::map<std::string, double> metrics;
  bool should_stop = false;
  std::vector<std::string> saved;  // paths, in order
  std::vector<bool> weights_only;
  std::vector<std::string> warnings, infos;
  std::function<void()> on_save;  // e.g. captures the state at save time
  CallbackContext ctx;
  explicit Harness(const std::string& log_dir) {
    ctx.log_dir = log_dir;
    ctx.callback_metrics = &metrics;
    ctx.should_stop = &should_stop;
    ctx.warn = [this](const std::string& m) { warnings.push_back(m); };
    ctx.info = [this](const std::string& m) { infos.push_back(m); };
    ctx.save_checkpoint = [this](const std::string& path, bool w) {
      std::ofstream(path) << "step " << ctx.global_step;
      saved.push_back(path);
      weights_only.push_back(w);
      if (on_save) on_save();
    };
  }
  // An epoch of `steps` batches (batch-end hooks), then the epoch end with `val` logged as val_loss.
  void epoch(ModelCheckpoint& mc, int steps, std::optional<double> val = std::nullopt) {
    for (int i = 0; i < steps; ++i) {
      ++ctx.global_step;
      mc.on_train_batch_end(ctx);
    }
    if (val) metrics["val_loss"] = *val;
    mc.on_validation_end(ctx);
    mc.on_train_epoch_end(ctx);
    ++ctx.current_epoch;
  }
};

ModelCheckpoint::Options monitored(const std::string& monitor, std::int64_t k) {
  ModelCheckpoint::Options o;
  o.monitor = monitor;
  o.save_top_k = k;
  return o;
}

std::string base(const std::string& path) { return fs::path(path).filename().string(); }

// --- file names --------------------------------------------------------------------------------

std::string name_of(ModelCheckpoint::Options o, ltrt::MonitorCandidates m, const std::string& filename = "",
                    std::optional<int> ver = std::nullopt) {
  ModelCheckpoint mc(std::move(o));
  return mc.format_checkpoint_name(m, filename, ver);
}

TEST(ModelCheckpoint, FileNamesAsLightningFormatsThem) {
  using M = ltrt::MonitorCandidates;
  const M es{{"epoch", PyScalar::of_int(0)}, {"step", PyScalar::of_int(10)}};
  EXPECT_EQ(name_of({}, es), "epoch=0-step=10.safetensors");
  ModelCheckpoint::Options o;
  o.filename = "{epoch:02d}-{val_loss:.2f}";
  EXPECT_EQ(name_of(o, {{"epoch", PyScalar::of_int(0)}, {"val_loss", PyScalar::of_float(0.523)}}),
            "epoch=00-val_loss=0.52.safetensors");
  // The docstring's examples (format_checkpoint_name).
  o.filename = "{epoch}";
  EXPECT_EQ(name_of(o, {{"epoch", PyScalar::of_int(0)}}), "epoch=0.safetensors");
  o.filename = "{epoch:03d}";
  EXPECT_EQ(name_of(o, {{"epoch", PyScalar::of_int(5)}}), "epoch=005.safetensors");
  o.filename = "{epoch}-{val_loss:.2f}";
  EXPECT_EQ(name_of(o, {{"epoch", PyScalar::of_int(2)}, {"val_loss", PyScalar::of_float(0.123456)}}),
            "epoch=2-val_loss=0.12.safetensors");
  EXPECT_EQ(name_of(o, {{"epoch", PyScalar::of_int(2)}, {"val_loss", PyScalar::of_float(0.12)}}, "{epoch:d}"),
            "epoch=2.safetensors");
  o.filename = "{missing:d}";
  EXPECT_EQ(name_of(o, {}), "missing=0.safetensors");
  o.filename = "{step}";
  EXPECT_EQ(name_of(o, {{"step", PyScalar::of_int(0)}}), "step=0.safetensors");
  o.filename = "epoch={epoch}-validation_loss={val_loss:.2f}";
  o.auto_insert_metric_name = false;
  EXPECT_EQ(name_of(o, {{"epoch", PyScalar::of_int(2)}, {"val_loss", PyScalar::of_float(0.123456)}}),
            "epoch=2-validation_loss=0.12.safetensors");
  o.filename = "sample-mnist-epoch{epoch:02d}-val_loss{val/loss:.2f}";
  EXPECT_EQ(name_of(o, {{"epoch", PyScalar::of_int(2)}, {"val/loss", PyScalar::of_float(0.32)}}),
            "sample-mnist-epoch02-val_loss0.32.safetensors");
  // checkpoint_{epoch:02d}-{acc:02.0f} with epoch 1, acc 1.12 -> checkpoint_epoch=01-acc=01
  ModelCheckpoint::Options d;
  d.filename = "checkpoint_{epoch:02d}-{acc:02.0f}";
  EXPECT_EQ(name_of(d, {{"epoch", PyScalar::of_int(1)}, {"acc", PyScalar::of_float(1.12)}}),
            "checkpoint_epoch=01-acc=01.safetensors");
  // Longest names first: {epoch_test} is not broken by {epoch}; a plain {val_loss} is repr(float).
  d.filename = "{epoch}-{epoch_test}-{val_loss}";
  EXPECT_EQ(name_of(d, {{"epoch", PyScalar::of_int(3)}, {"epoch_test", PyScalar::of_int(7)},
                        {"val_loss", PyScalar::of_float(static_cast<double>(0.5f))}}),
            "epoch=3-epoch_test=7-val_loss=0.5.safetensors");
  // Version suffix and the last name.
  EXPECT_EQ(name_of({}, es, "", 1), "epoch=0-step=10-v1.safetensors");
  EXPECT_EQ(name_of({}, es, ModelCheckpoint::CHECKPOINT_NAME_LAST, 2), "last-v2.safetensors");
  // A float metric with an integer format is Python's ValueError.
  o.filename = "{val_loss:d}";
  o.auto_insert_metric_name = true;
  EXPECT_EQ(error_of([&] { name_of(o, {{"val_loss", PyScalar::of_float(0.5)}}); }),
            "Unknown format code 'd' for object of type 'float'");
}

TEST(ModelCheckpoint, PythonFormatSpecs) {
  auto f = [](double x, const char* spec) { return ltrt::python_format(PyScalar::of_float(x), spec); };
  auto i = [](long long x, const char* spec) { return ltrt::python_format(PyScalar::of_int(x), spec); };
  EXPECT_EQ(f(0.5, ""), "0.5");
  EXPECT_EQ(f(1e-5, ""), "1e-05");
  EXPECT_EQ(f(2.0, ".3f"), "2.000");
  EXPECT_EQ(f(-2.5, ">8.2f"), "   -2.50");
  EXPECT_EQ(f(-2.5, "08.2f"), "-0002.50");
  EXPECT_EQ(f(2.5, "<8.1f") + "|", "2.5     |");
  EXPECT_EQ(f(2.5, "*^9.1f"), "***2.5***");
  EXPECT_EQ(f(12345.678, ",.1f"), "12,345.7");
  EXPECT_EQ(f(0.000123, ".2e"), "1.23e-04");
  EXPECT_EQ(f(0.000123, "+.2E"), "+1.23E-04");
  EXPECT_EQ(f(1234567.0, "g"), "1.23457e+06");
  EXPECT_EQ(f(0.0001, "g"), "0.0001");
  EXPECT_EQ(f(100.0, ".3"), "1e+02");
  EXPECT_EQ(f(10.0, ".3"), "10.0");
  EXPECT_EQ(f(0.256, ".1%"), "25.6%");
  EXPECT_EQ(f(1.0 / 0.0, ".2f"), "inf");
  EXPECT_EQ(i(7, "03d"), "007");
  EXPECT_EQ(i(-7, "03d"), "-07");
  EXPECT_EQ(i(1234567, ","), "1,234,567");
  EXPECT_EQ(i(255, "#x"), "0xff");
  EXPECT_EQ(i(3, ".2f"), "3.00");
  EXPECT_EQ(i(3, "+d"), "+3");
  EXPECT_EQ(error_of([&] { i(3, ".2d"); }), "format spec '.2d': Precision not allowed in integer format specifier");
}

// --- top-k, last, triggers ----------------------------------------------------------------------

TEST(ModelCheckpoint, SaveTopK2KeepsTheTwoBestFilesOnDisk) {
  const std::string log_dir = fresh_dir("topk2");
  ModelCheckpoint mc(monitored("val_loss", 2));
  Harness h(log_dir);
  mc.setup(h.ctx);
  EXPECT_EQ(mc.dirpath, log_dir + "/checkpoints");
  mc.on_train_start(h.ctx);
  for (double v : {0.5, 0.4, 0.6, 0.3, 0.45}) h.epoch(mc, 10, v);
  // epoch 2 (0.6) and epoch 4 (0.45) were not in the top 2; epoch 3 (0.3) pushed epoch 0 (0.5) out.
  ASSERT_EQ(h.saved.size(), 3u);
  EXPECT_EQ(base(h.saved[0]), "epoch=0-step=10.safetensors");
  EXPECT_EQ(base(h.saved[1]), "epoch=1-step=20.safetensors");
  EXPECT_EQ(base(h.saved[2]), "epoch=3-step=40.safetensors");
  EXPECT_EQ(files_in(mc.dirpath), (std::set<std::string>{"epoch=1-step=20.safetensors", "epoch=3-step=40.safetensors"}));
  EXPECT_EQ(base(mc.best_model_path), "epoch=3-step=40.safetensors");
  EXPECT_EQ(*mc.best_model_score, static_cast<double>(0.3f));
  EXPECT_EQ(base(mc.kth_best_model_path), "epoch=1-step=20.safetensors");
  EXPECT_EQ(mc.kth_value, static_cast<double>(0.4f));
  ASSERT_EQ(mc.best_k_models.size(), 2u);
  EXPECT_EQ(base(mc.best_k_models[0].first), "epoch=1-step=20.safetensors");
  EXPECT_EQ(*mc.current_score, static_cast<double>(0.3f));
  EXPECT_EQ(mc.last_model_path, "");
}

TEST(ModelCheckpoint, MaxModeWithMetricInTheName) {
  const std::string log_dir = fresh_dir("max_mode");
  auto o = monitored("val_acc", 1);
  o.mode = "max";
  o.filename = "{epoch:02d}-{val_acc:.2f}";
  ModelCheckpoint mc(o);
  Harness h(log_dir);
  mc.setup(h.ctx);
  const double accs[] = {0.5, 0.75, 0.7};
  for (double a : accs) {
    h.metrics["val_acc"] = a;
    h.epoch(mc, 5);
  }
  EXPECT_EQ(files_in(mc.dirpath), (std::set<std::string>{"epoch=01-val_acc=0.75.safetensors"}));
  EXPECT_EQ(*mc.best_model_score, 0.75);
}

TEST(ModelCheckpoint, SaveLastWritesLastAndNoMonitorKeepsTheLatest) {
  const std::string log_dir = fresh_dir("save_last");
  ModelCheckpoint::Options o;
  o.save_last = "true";
  ModelCheckpoint mc(o);
  Harness h(log_dir);
  mc.setup(h.ctx);
  h.epoch(mc, 4);
  h.epoch(mc, 4);
  // save_top_k=1 without monitor: the newest epoch's file replaces the previous one.
  EXPECT_EQ(files_in(mc.dirpath), (std::set<std::string>{"epoch=1-step=8.safetensors", "last.safetensors"}));
  EXPECT_EQ(mc.last_model_path, mc.dirpath + "/last.safetensors");
  EXPECT_EQ(base(mc.best_model_path), "epoch=1-step=8.safetensors");
  ASSERT_EQ(h.saved.size(), 4u);  // top-k then last, each epoch
  EXPECT_EQ(base(h.saved[1]), "last.safetensors");
  EXPECT_EQ(std::count(h.weights_only.begin(), h.weights_only.end(), true), 0);
}

// save_on_exception (Lightning 2.6's on_exception): the state fit raised in, under the usual name and
// as last, outside the top-k bookkeeping; nothing when this step was saved already or it is off.
TEST(ModelCheckpoint, SaveOnExceptionSavesTheFailingStep) {
  const std::string log_dir = fresh_dir("save_on_exception");
  ModelCheckpoint::Options o;
  o.save_last = "true";
  o.save_on_exception = true;
  ModelCheckpoint mc(o);
  Harness h(log_dir);
  mc.setup(h.ctx);
  h.epoch(mc, 4);
  h.ctx.global_step += 3;  // three steps into the next epoch, then fit raises
  mc.on_exception(h.ctx, std::runtime_error("loss exploded"));
  EXPECT_EQ(files_in(mc.dirpath), (std::set<std::string>{"epoch=0-step=4.safetensors", "epoch=1-step=7.safetensors",
                                                          "last.safetensors"}));
  EXPECT_EQ(base(mc.best_model_path), "epoch=0-step=4.safetensors");  // not a top-k save
  EXPECT_EQ(base(mc.last_model_path), "last.safetensors");
  ASSERT_FALSE(h.infos.empty());
  EXPECT_NE(h.infos.back().find("loss exploded, saved checkpoint to " + mc.dirpath + "/epoch=1-step=7.safetensors"),
            std::string::npos) << h.infos.back();
  const std::size_t saves = h.saved.size();
  mc.on_exception(h.ctx, std::runtime_error("again"));  // this step is saved already
  EXPECT_EQ(h.saved.size(), saves);

  ModelCheckpoint off((ModelCheckpoint::Options()));
  Harness h2(fresh_dir("save_on_exception_off"));
  off.setup(h2.ctx);
  h2.ctx.global_step = 2;
  off.on_exception(h2.ctx, std::runtime_error("x"));
  EXPECT_TRUE(h2.saved.empty());
}

TEST(ModelCheckpoint, SaveLastLinkPointsAtTheTopKFile) {
  const std::string log_dir = fresh_dir("save_last_link");
  ModelCheckpoint::Options o;
  o.save_last = "link";
  ModelCheckpoint mc(o);
  Harness h(log_dir);
  mc.setup(h.ctx);
  h.epoch(mc, 3);
  h.epoch(mc, 3);
  const std::string last = mc.dirpath + "/last.safetensors";
  ASSERT_TRUE(fs::is_symlink(last));
  EXPECT_EQ(fs::read_symlink(last).string(), "epoch=1-step=6.safetensors");
  EXPECT_EQ(ltrt::read_file(last), "step 6");
  EXPECT_EQ(h.saved.size(), 2u);  // the link is not a save
}

TEST(ModelCheckpoint, EveryNTrainStepsSavesAtSteps3_6_9) {
  const std::string log_dir = fresh_dir("every_n_steps");
  ModelCheckpoint::Options o;
  o.every_n_train_steps = 3;
  o.save_top_k = -1;
  o.save_weights_only = true;
  ModelCheckpoint mc(o);
  EXPECT_EQ(mc.every_n_epochs(), 0);  // every_n_epochs = every_n_epochs or 0
  Harness h(log_dir);
  mc.setup(h.ctx);
  h.epoch(mc, 10);
  ASSERT_EQ(h.saved.size(), 3u);
  EXPECT_EQ(base(h.saved[0]), "epoch=0-step=3.safetensors");
  EXPECT_EQ(base(h.saved[1]), "epoch=0-step=6.safetensors");
  EXPECT_EQ(base(h.saved[2]), "epoch=0-step=9.safetensors");
  EXPECT_EQ(files_in(mc.dirpath).size(), 3u);
  EXPECT_TRUE(h.weights_only[0]);
}

TEST(ModelCheckpoint, EveryNEpochs) {
  const std::string log_dir = fresh_dir("every_n_epochs");
  ModelCheckpoint::Options o;
  o.every_n_epochs = 2;
  o.save_top_k = -1;
  ModelCheckpoint mc(o);
  Harness h(log_dir);
  mc.setup(h.ctx);
  for (int e = 0; e < 5; ++e) h.epoch(mc, 2);
  EXPECT_EQ(files_in(mc.dirpath), (std::set<std::string>{"epoch=1-step=4.safetensors", "epoch=3-step=8.safetensors"}));
}

TEST(ModelCheckpoint, TrainTimeInterval) {
  const std::string log_dir = fresh_dir("time_interval");
  ModelCheckpoint::Options o;
  o.train_time_interval = 10;
  o.save_top_k = -1;
  ModelCheckpoint mc(o);
  Harness h(log_dir);
  mc.setup(h.ctx);
  mc.on_train_start(h.ctx);
  std::vector<std::int64_t> saved_steps;
  h.on_save = [&] { saved_steps.push_back(h.ctx.global_step); };
  for (double now : {5.0, 11.0, 15.0, 20.5, 22.0}) {
    h.ctx.elapsed_seconds = now;
    ++h.ctx.global_step;
    mc.on_train_batch_end(h.ctx);
  }
  EXPECT_EQ(saved_steps, (std::vector<std::int64_t>{2, 5}));  // at 11 s, then 11 s later at 22 s
}

TEST(ModelCheckpoint, NoSaveTwiceForAStepNorBeforeAStepNorInSanityCheck) {
  const std::string log_dir = fresh_dir("no_twice");
  ModelCheckpoint mc(ModelCheckpoint::Options{});
  Harness h(log_dir);
  mc.setup(h.ctx);
  mc.on_train_epoch_end(h.ctx);  // global_step 0: "no need to save when no steps were taken"
  EXPECT_TRUE(h.saved.empty());
  h.ctx.global_step = 5;
  h.ctx.sanity_checking = true;
  mc.on_train_epoch_end(h.ctx);
  EXPECT_TRUE(h.saved.empty());
  h.ctx.sanity_checking = false;
  mc.on_train_epoch_end(h.ctx);
  mc.on_train_epoch_end(h.ctx);
  EXPECT_EQ(h.saved.size(), 1u);
}

TEST(ModelCheckpoint, WhereItSavesRelativeToValidation) {
  ModelCheckpoint mc(ModelCheckpoint::Options{});
  CallbackContext ctx;
  EXPECT_TRUE(mc.should_save_on_train_epoch_end(ctx));   // no validation
  ctx.has_val_loop = true;
  EXPECT_TRUE(mc.should_save_on_train_epoch_end(ctx));   // validation once per epoch
  ctx.val_check_interval = 0.25;
  EXPECT_FALSE(mc.should_save_on_train_epoch_end(ctx));  // several validations per epoch
  ctx.val_check_interval = 1.0;
  ctx.check_val_every_n_epoch = 2;
  EXPECT_FALSE(mc.should_save_on_train_epoch_end(ctx));
  ctx.has_val_loop = false;
  EXPECT_FALSE(mc.should_save_on_train_epoch_end(ctx));  // check_val_every_n_epoch != 1 comes first

  const std::string log_dir = fresh_dir("on_validation_end");
  ModelCheckpoint::Options o;
  o.save_on_train_epoch_end = false;
  ModelCheckpoint at_val(o);
  Harness h(log_dir);
  at_val.setup(h.ctx);
  h.ctx.global_step = 4;
  at_val.on_train_epoch_end(h.ctx);
  EXPECT_TRUE(h.saved.empty());
  at_val.on_validation_end(h.ctx);
  EXPECT_EQ(h.saved.size(), 1u);
}

TEST(ModelCheckpoint, VersionCounterOnNameCollisions) {
  const std::string log_dir = fresh_dir("versions");
  ltrt::make_dirs(log_dir + "/checkpoints");
  std::ofstream(log_dir + "/checkpoints/epoch=0-step=2.safetensors") << "old";
  ModelCheckpoint::Options o;
  o.save_top_k = -1;
  ModelCheckpoint mc(o);
  Harness h(log_dir);
  mc.setup(h.ctx);
  ASSERT_EQ(h.warnings.size(), 1u);
  EXPECT_EQ(h.warnings[0], "Checkpoint directory " + log_dir + "/checkpoints exists and is not empty.");
  h.epoch(mc, 2);
  ASSERT_EQ(h.saved.size(), 1u);
  EXPECT_EQ(base(h.saved[0]), "epoch=0-step=2-v1.safetensors");

  ModelCheckpoint::Options no_counter = o;
  no_counter.enable_version_counter = false;
  ModelCheckpoint overwrite(no_counter);
  Harness h2(log_dir);
  overwrite.setup(h2.ctx);
  h2.epoch(overwrite, 2);
  EXPECT_EQ(base(h2.saved[0]), "epoch=0-step=2.safetensors");
}

TEST(ModelCheckpoint, NeverRemovesTheResumedCheckpointOrFilesOutsideDirpath) {
  const std::string log_dir = fresh_dir("resume_kept");
  ModelCheckpoint mc(ModelCheckpoint::Options{});
  Harness h(log_dir);
  mc.setup(h.ctx);
  h.epoch(mc, 2);
  const std::string first = mc.best_model_path;
  h.ctx.ckpt_path = first;  // as if fit had resumed from it
  h.epoch(mc, 2);
  EXPECT_TRUE(fs::exists(first));
  h.ctx.ckpt_path.clear();
  mc.best_model_path = std::string(LTRT_TEST_TMP) + "/outside.safetensors";  // not under dirpath
  std::ofstream(mc.best_model_path) << "x";
  h.epoch(mc, 2);
  EXPECT_TRUE(fs::exists(std::string(LTRT_TEST_TMP) + "/outside.safetensors"));
}

TEST(ModelCheckpoint, MissingMonitorWarnsOnceBeforeValidationErrorsAfter) {
  const std::string log_dir = fresh_dir("missing_monitor");
  ModelCheckpoint mc(monitored("val_loss", 1));
  Harness h(log_dir);
  mc.setup(h.ctx);
  h.metrics["train_loss"] = 0.5;
  h.epoch(mc, 1);
  h.epoch(mc, 1);
  EXPECT_TRUE(h.saved.empty());
  ASSERT_EQ(h.warnings.size(), 1u);
  EXPECT_EQ(h.warnings[0],
            "`ModelCheckpoint(monitor='val_loss')` could not find the monitored key in the returned metrics: "
            "['train_loss', 'epoch', 'step']. HINT: Did you call `log('val_loss', value)` in the `LightningModule`?");
  h.ctx.val_loop_has_run = true;
  EXPECT_EQ(error_of([&] { h.epoch(mc, 1); }), h.warnings[0]);
}

TEST(ModelCheckpoint, NanScoreIsStoredAsWorst) {
  const std::string log_dir = fresh_dir("nan_score");
  ModelCheckpoint mc(monitored("val_loss", 2));
  Harness h(log_dir);
  mc.setup(h.ctx);
  h.epoch(mc, 1, std::nan(""));  // fewer than k models: saved, with score +inf
  h.epoch(mc, 1, 0.5);
  h.epoch(mc, 1, 0.7);           // replaces the nan one
  EXPECT_EQ(files_in(mc.dirpath), (std::set<std::string>{"epoch=1-step=2.safetensors", "epoch=2-step=3.safetensors"}));
}

TEST(ModelCheckpoint, StateIsUpdatedBeforeTheSaveAndRoundTrips) {
  const std::string log_dir = fresh_dir("state");
  auto o = monitored("val_loss", 2);
  o.save_last = "true";
  ModelCheckpoint mc(o);
  Harness h(log_dir);
  mc.setup(h.ctx);
  std::vector<std::string> best_at_save;
  h.on_save = [&] { best_at_save.push_back(base(mc.state().find("best_model_path")->str)); };
  h.epoch(mc, 2, 0.5);
  h.epoch(mc, 2, 0.25);
  EXPECT_EQ(best_at_save, (std::vector<std::string>{"epoch=0-step=2.safetensors", "epoch=0-step=2.safetensors",
                                                    "epoch=1-step=4.safetensors", "epoch=1-step=4.safetensors"}));
  EXPECT_EQ(mc.state_key(),
            "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, "
            "'train_time_interval': None}");
  const std::string d = mc.dirpath;
  EXPECT_EQ(ltrt::json::write(mc.state()),
            "{\"monitor\":\"val_loss\",\"best_model_score\":0.25,\"best_model_path\":\"" + d +
                "/epoch=1-step=4.safetensors\",\"current_score\":0.25,\"dirpath\":\"" + d +
                "\",\"best_k_models\":{\"" + d + "/epoch=0-step=2.safetensors\":0.5,\"" + d +
                "/epoch=1-step=4.safetensors\":0.25},\"kth_best_model_path\":\"" + d +
                "/epoch=0-step=2.safetensors\",\"kth_value\":0.5,\"last_model_path\":\"" + d +
                "/last.safetensors\"}");

  // Resume in the same dirpath: everything comes back, and the top-k continues.
  ModelCheckpoint resumed(o);
  Harness h2(log_dir);
  resumed.setup(h2.ctx);
  resumed.load_state(ltrt::json::parse(ltrt::json::write(mc.state())));
  EXPECT_EQ(resumed.best_k_models.size(), 2u);
  EXPECT_EQ(resumed.kth_best_model_path, mc.kth_best_model_path);
  EXPECT_EQ(resumed.last_model_path, mc.last_model_path);
  h2.ctx.global_step = 4;
  h2.ctx.current_epoch = 2;
  h2.epoch(resumed, 2, 0.3);  // better than the kth (0.5): epoch 0's file goes
  EXPECT_EQ(files_in(d), (std::set<std::string>{"epoch=1-step=4.safetensors", "epoch=2-step=6.safetensors",
                                                "last.safetensors"}));

  // Another dirpath: only best_model_path, with Lightning's warning.
  ModelCheckpoint elsewhere(o);
  Harness h3(fresh_dir("state_other"));
  elsewhere.setup(h3.ctx);
  elsewhere.load_state(mc.state());
  EXPECT_EQ(elsewhere.best_model_path, mc.best_model_path);
  EXPECT_TRUE(elsewhere.best_k_models.empty());
  EXPECT_FALSE(elsewhere.best_model_score.has_value());
  ASSERT_EQ(h3.warnings.size(), 1u);
  EXPECT_NE(h3.warnings[0].find("won't be reloaded. Only `best_model_path` will be reloaded."), std::string::npos);

  // A fresh callback's state: None scores, inf kth_value.
  ModelCheckpoint fresh(ModelCheckpoint::Options{});
  EXPECT_EQ(ltrt::json::write(fresh.state()),
            R"({"monitor":null,"best_model_score":null,"best_model_path":"","current_score":null,"dirpath":"",)"
            R"("best_k_models":{},"kth_best_model_path":"","kth_value":"inf","last_model_path":""})");
}

TEST(ModelCheckpoint, VerboseMessages) {
  const std::string log_dir = fresh_dir("verbose");
  auto o = monitored("val_loss", 1);
  o.verbose = true;
  ModelCheckpoint mc(o);
  Harness h(log_dir);
  mc.setup(h.ctx);
  h.epoch(mc, 3, 0.5);
  h.epoch(mc, 3, 0.75);
  ASSERT_EQ(h.infos.size(), 2u);
  EXPECT_EQ(h.infos[0], "Epoch 0, global step 3: 'val_loss' reached 0.50000 (best 0.50000), saving model to '" +
                            mc.dirpath + "/epoch=0-step=3.safetensors' as top 1");
  EXPECT_EQ(h.infos[1], "Epoch 1, global step 6: 'val_loss' was not in top 1");
}

// --- init_args -------------------------------------------------------------------------------

std::string read_error(const std::string& args) {
  const auto v = ltrt::json::parse(args);
  ltrt::ConfigObject a(v, "trainer.callbacks[0].init_args");
  return error_of([&] { ModelCheckpoint::read(a); });
}

TEST(ModelCheckpoint, ReadsInitArgsWithLightningsChecks) {
  const auto v = ltrt::json::parse(
      R"({"dirpath": null, "filename": "{epoch}-{val_loss:.3f}", "monitor": "val_loss", "save_last": "link",
          "save_top_k": 3, "mode": "min", "every_n_epochs": 2, "save_on_train_epoch_end": null,
          "enable_version_counter": false, "auto_insert_metric_name": true, "verbose": false})");
  ltrt::ConfigObject a(v, "trainer.callbacks[0].init_args");
  auto mc = ModelCheckpoint::read(a);
  EXPECT_EQ(mc->options().save_last, "link");
  EXPECT_EQ(mc->every_n_epochs(), 2);
  EXPECT_EQ(mc->every_n_train_steps(), 0);

  EXPECT_EQ(read_error(R"({"save_top_k": 2})"),
            "trainer.callbacks[0].init_args.save_top_k: ModelCheckpoint(save_top_k=2, monitor=None) is not a valid "
            "configuration. No quantity for top_k to track.");
  EXPECT_EQ(read_error(R"({"save_top_k": -2, "monitor": "x"})"),
            "trainer.callbacks[0].init_args.save_top_k: Invalid value for save_top_k=-2. Must be >= -1");
  EXPECT_EQ(read_error(R"({"every_n_train_steps": 5, "every_n_epochs": 1})"),
            "trainer.callbacks[0].init_args.every_n_train_steps: Combination of parameters every_n_train_steps=5, "
            "every_n_epochs=1 and train_time_interval=None should be mutually exclusive.");
  EXPECT_EQ(read_error(R"({"every_n_epochs": 1, "train_time_interval": "1:00:00"})"),
            "trainer.callbacks[0].init_args: Combination of parameters every_n_train_steps=0, every_n_epochs=1 and "
            "train_time_interval=1:00:00 should be mutually exclusive.");
  EXPECT_EQ(read_error(R"({"save_last": "copy"})"),
            "trainer.callbacks[0].init_args.save_last: expected true, false, \"link\" or null, got the string \"copy\"");
  EXPECT_EQ(read_error(R"({"every_n_train_step": 5})"),
            "trainer.callbacks[0].init_args.every_n_train_step: unknown key 'every_n_train_step'; did you mean "
            "'every_n_train_steps'?");

  const auto t = ltrt::json::parse(R"({"train_time_interval": {"hours": 1, "seconds": 30}})");
  ltrt::ConfigObject ta(t, "x");
  auto timed = ModelCheckpoint::read(ta);
  EXPECT_EQ(*timed->options().train_time_interval, 3630.0);
  EXPECT_EQ(timed->state_key(),
            "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 0, "
            "'train_time_interval': datetime.timedelta(seconds=3630)}");
}

}  // namespace
