// Lightning's Trainer for a generated model: fit (with validation, sanity
// check, gradient accumulation and clipping, LR schedulers, callbacks and
// exact resume), validate, test and predict, with Lightning 2.x's counting of
// steps, its logging and its checkpoints.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "ltrt/dataset.hpp"
#include "ltrt/json.hpp"
#include "ltrt/model.hpp"
#include "ltrt/trainer_config.hpp"

namespace ltrt {

// What a run needs: the spec's values, overridden from the command line.
struct FitConfig {
  TrainerConfig trainer;     // seed_everything, the trainer section, the lr_scheduler
  json::Value spec;          // the spec with the command line's overrides (callbacks are read from it)
  DataSource train, val, test, predict;
  std::string init_weights;  // --init_weights: safetensors weights (empty: default init)
  std::string ckpt_path;     // --ckpt_path, resolved (empty: none)
  std::string predictions_path;  // predict: the .npy written ("" = <default_root_dir>/predictions.npy)
  // LTGEN_DROPOUT_MASKS=counter: the CPU steps draw the GPU's dropout masks instead of torch's
  // (ltrt/dropout_draws.hpp), to check a GPU's training against the CPU's.
  bool counter_dropout_masks = false;

  // The spec's values (ModelDef.spec_json and .data).
  static FitConfig from_model(const ModelDef& model);
};

// Lightning's _parse_loop_limits: max_epochs unset and max_steps == -1 ->
// 1000 epochs; max_epochs unset with a step limit -> no epoch limit (-1).
std::int64_t resolve_max_epochs(std::int64_t max_epochs, std::int64_t max_steps);

// ModelCheckpoint's default file name: "epoch=<E>-step=<S>.safetensors".
std::string checkpoint_filename(std::int64_t epoch, std::int64_t global_step);

// --ckpt_path=last|best|PATH as Lightning resolves it, over the checkpoints in
// <default_root_dir>/lightning_logs: "last" is the newest version's
// last.safetensors (else its newest checkpoint), "best" the best_model_path
// its ModelCheckpoint recorded. Throws Error when there is none.
std::string resolve_ckpt_path(const std::string& value, const TrainerConfig& trainer);

struct FitResult {
  std::int64_t current_epoch = 0;   // trainer.current_epoch after fit (epochs completed)
  std::int64_t global_step = 0;     // optimizer steps, including those of a resumed checkpoint
  std::int64_t steps_this_run = 0;  // optimizer steps taken by this call
  std::int64_t validations = 0;     // validation runs, not counting the sanity check
  std::int64_t metrics_rows = 0;    // rows written to metrics.csv
  std::string log_dir;              // <root>/lightning_logs/version_<N> ("" without a logger)
  std::string checkpoint_path;      // the first ModelCheckpoint's last saved file; empty when none
  std::string best_model_path;      // its best_model_path
  bool has_loss = false;
  float last_loss = 0.0f;           // loss of the last step
  std::map<std::string, double> callback_metrics;
  std::string stop_reason;          // why fit stopped, as Lightning words it
};

// trainer.fit(model, datamodule, ckpt_path=...). The step loop does not
// allocate. Throws ltrt::Error on bad data, weights or checkpoints; files
// already written stay intact (atomic writes).
FitResult fit(const ModelDef& model, const FitConfig& config, std::FILE* out = stdout);

struct EvalResult {
  std::map<std::string, double> metrics;  // val_loss / test_loss (and _acc, _mae, ...)
  std::string log_dir;
  std::int64_t batches = 0;
};

// trainer.validate / trainer.test: one pass over the split in eval mode,
// metrics logged once at step 0 and printed as Lightning's results table.
EvalResult validate(const ModelDef& model, const FitConfig& config, std::FILE* out = stdout);
EvalResult test(const ModelDef& model, const FitConfig& config, std::FILE* out = stdout);

// trainer.predict: the model's outputs for the predict split, written as one
// float32 .npy array (rows in data order). Returns the path written.
std::string predict(const ModelDef& model, const FitConfig& config, std::FILE* out = stdout);

}  // namespace ltrt
