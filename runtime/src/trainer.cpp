// The fit loop (Lightning's _FitLoop / _TrainingEpochLoop for one optimizer,
// automatic optimization, no validation).
#include "ltrt/trainer.hpp"

#include <cstdio>
#include <filesystem>
#include <vector>

#include "ltrt/arena.hpp"
#include "ltrt/checkpoint.hpp"
#include "ltrt/csv_logger.hpp"
#include "ltrt/data_loader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/hparams_yaml.hpp"
#include "ltrt/init.hpp"
#include "ltrt/json.hpp"
#include "ltrt/optimizer.hpp"
#include "ltrt/progress_bar.hpp"
#include "ltrt/rng.hpp"

namespace ltrt {
namespace {

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// A metrics row recorded in the step loop, written at the end of the epoch
// (so that the loop itself does not allocate).
struct StepRow {
  std::int64_t epoch;
  std::int64_t step;
  float train_loss;
};

void write_rows(CsvLogger& logger, std::vector<StepRow>& rows) {
  if (rows.empty()) return;
  for (const StepRow& row : rows) {
    logger.log_values({{"epoch", CsvLogger::MetricValue(row.epoch)},
                       {"train_loss", CsvLogger::MetricValue(static_cast<double>(row.train_loss))}},
                      row.step);
  }
  logger.save();
  rows.clear();  // keeps the capacity
}

}  // namespace

FitConfig FitConfig::from_model(const ModelDef& model) {
  FitConfig c;
  c.trainer = read_trainer_config(json::parse(model.spec_json ? model.spec_json : "{}"));
  c.train = DataSource::from(model.data.train);
  return c;
}

std::int64_t resolve_max_epochs(std::int64_t max_epochs, std::int64_t max_steps) {
  if (max_epochs == -1 && max_steps == -1) return 1000;
  return max_epochs;
}

std::string checkpoint_filename(std::int64_t epoch, std::int64_t global_step) {
  return "epoch=" + std::to_string(epoch) + "-step=" + std::to_string(global_step) + ".safetensors";
}

FitResult fit(const ModelDef& model, const FitConfig& config, std::FILE* out) {
  if (config.trainer.max_steps < -1) throw Error("max_steps must be a non-negative integer or -1 (no limit), got " + std::to_string(config.trainer.max_steps));
  if (config.trainer.max_epochs < -1) throw Error("max_epochs must be a non-negative integer or -1, got " + std::to_string(config.trainer.max_epochs));
  if (config.trainer.log_every_n_steps < 0) throw Error("log_every_n_steps must be non-negative, got " + std::to_string(config.trainer.log_every_n_steps));
  const std::int64_t max_epochs = resolve_max_epochs(config.trainer.max_epochs, config.trainer.max_steps);
  const std::int64_t max_steps = config.trainer.max_steps;

  // --- setup: seed, weights, data, optimizer -------------------------------
  Rngs rngs = seed_everything(config.trainer.seed);
  Arena arena(model.arena_bytes);
  init_parameters(model, arena.data(), rngs.init);
  const Dataset dataset = load_dataset(config.train, model.input, model.target, rngs.data,
                                       ClassTargets{model.num_classes, model.ignore_index});
  DataLoader loader(dataset, model.data.batch_size, model.data.shuffle, model.data.drop_last);
  if (loader.num_batches() > 0 && model.batch_size < model.data.batch_size) {
    throw Error("model batch buffers hold " + std::to_string(model.batch_size) + " rows, batch_size is " +
                std::to_string(model.data.batch_size));
  }
  if (!config.init_weights.empty()) load_weights(config.init_weights, model, arena.data());
  Optimizer optimizer(model, arena.data());

  std::int64_t first_epoch = 0;
  std::int64_t global_step = 0;
  if (!config.ckpt_path.empty()) {
    const TrainState state = load_checkpoint(config.ckpt_path, model, arena.data());
    optimizer.set_step_count(state.optimizer_step);
    rngs.init.set_state(state.rng_init);
    rngs.data.set_state(state.rng_data);
    rngs.dropout.set_state(state.rng_dropout);
    first_epoch = state.epoch + 1;  // the checkpoint was saved at the end of `epoch`
    global_step = state.global_step;
  }

  // --- output folder: lightning_logs/version_N -------------------------------
  FitResult result;
  const std::string logs_root = join_path(config.trainer.default_root_dir, "lightning_logs");
  result.log_dir = join_path(logs_root, "version_" + std::to_string(next_version(logs_root)));
  make_dirs(result.log_dir);
  // The generator checked the spec text; a parse error here is a real fault.
  const json::Value hparams = json::parse(model.spec_json ? model.spec_json : "{}");
  write_hparams_yaml(join_path(result.log_dir, "hparams.yaml"), hparams);
  CsvLogger logger(join_path(result.log_dir, "metrics.csv"));
  const std::string checkpoint_dir = join_path(result.log_dir, "checkpoints");

  const std::int64_t num_batches = loader.num_batches();
  const std::int64_t log_every = config.trainer.log_every_n_steps;
  std::vector<StepRow> rows;
  rows.reserve(static_cast<std::size_t>(log_every > 0 ? num_batches / log_every + 2 : 1));
  ProgressBar bar(out, ProgressBar::detect(out, config.trainer.enable_progress_bar));

  auto max_steps_reached = [&] { return max_steps != -1 && global_step >= max_steps; };
  auto max_epochs_reached = [&](std::int64_t epoch) { return max_epochs != -1 && epoch >= max_epochs; };

  // --- the fit loop -----------------------------------------------------------
  std::int64_t epoch = first_epoch;
  std::int64_t saved_step = -1;  // ModelCheckpoint._last_global_step_saved
  for (;;) {
    // _FitLoop.done, checked before every epoch.
    if (num_batches == 0) {
      result.stop_reason = "No training batches.";
      break;
    }
    if (max_steps_reached()) {
      result.stop_reason = "`max_steps=" + std::to_string(max_steps) + "` reached.";
      break;
    }
    if (max_epochs_reached(epoch)) {
      result.stop_reason = "`max_epochs=" + std::to_string(max_epochs) + "` reached.";
      break;
    }

    loader.start_epoch(rngs.data);
    bar.start_epoch(epoch, num_batches);
    for (std::int64_t b = 0; b < num_batches && !max_steps_reached(); ++b) {
      const int n = loader.load_batch(b, arena.data(), model.input, model.target);
      const float loss = model.training_step(arena.data(), n, 1.0f, false, rngs.dropout);
      optimizer.step();
      // LoggerConnector.update_train_step_metrics runs before
      // _batches_that_stepped is incremented (in on_advance_end).
      if (log_every > 0 && (global_step + 1) % log_every == 0) rows.push_back({epoch, global_step, loss});
      ++global_step;
      ++result.steps_this_run;
      result.last_loss = loss;
      result.has_loss = true;
      bar.update(b + 1, loss);
    }
    bar.end_epoch();
    result.metrics_rows += static_cast<std::int64_t>(rows.size());
    write_rows(logger, rows);

    // on_train_epoch_end: ModelCheckpoint (save_top_k=1, no monitor).
    if (config.trainer.enable_checkpointing && saved_step != global_step) {
      make_dirs(checkpoint_dir);
      const std::string path = join_path(checkpoint_dir, checkpoint_filename(epoch, global_step));
      TrainState state;
      state.epoch = epoch;
      state.global_step = global_step;
      state.optimizer_step = optimizer.step_count();
      state.rng_init = rngs.init.state();
      state.rng_data = rngs.data.state();
      state.rng_dropout = rngs.dropout.state();
      save_checkpoint(path, model, arena.data(), state);
      if (!result.checkpoint_path.empty() && result.checkpoint_path != path) {
        std::error_code ec;
        std::filesystem::remove(result.checkpoint_path, ec);
      }
      result.checkpoint_path = path;
      saved_step = global_step;
    }
    ++epoch;
  }
  result.current_epoch = epoch;
  result.global_step = global_step;

  std::fprintf(out, "`Trainer.fit` stopped: %s\n", result.stop_reason.c_str());
  std::fprintf(out, "Logs: %s\n", result.log_dir.c_str());
  if (!result.checkpoint_path.empty()) std::fprintf(out, "Checkpoint: %s\n", result.checkpoint_path.c_str());
  std::fflush(out);
  return result;
}

}  // namespace ltrt
