// The fit loop: trainer.fit(model, train_dataloader) with Lightning 2.x
// semantics for epochs, steps, logging and checkpointing.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "ltrt/dataset.hpp"
#include "ltrt/model.hpp"
#include "ltrt/trainer_config.hpp"

namespace ltrt {

// What a fit run needs: the spec's values, overridden from the command line.
struct FitConfig {
  TrainerConfig trainer;     // seed_everything and the trainer section
  DataSource train;
  std::string init_weights;  // --init_weights: safetensors weights (empty: default init)
  std::string ckpt_path;     // --ckpt_path: resume from this checkpoint (empty: fresh)

  // The spec's values (ModelDef.spec_json and .data).
  static FitConfig from_model(const ModelDef& model);
};

// Lightning's _parse_loop_limits: max_epochs unset and max_steps == -1 ->
// 1000 epochs; max_epochs unset with a step limit -> no epoch limit (-1).
std::int64_t resolve_max_epochs(std::int64_t max_epochs, std::int64_t max_steps);

// ModelCheckpoint's default file name: "epoch=<E>-step=<S>.safetensors".
std::string checkpoint_filename(std::int64_t epoch, std::int64_t global_step);

struct FitResult {
  std::int64_t current_epoch = 0;   // trainer.current_epoch after fit (epochs completed)
  std::int64_t global_step = 0;     // optimizer steps, including those of a resumed checkpoint
  std::int64_t steps_this_run = 0;  // optimizer steps taken by this call
  std::int64_t metrics_rows = 0;    // rows written to metrics.csv
  std::string log_dir;              // <root>/lightning_logs/version_<N>
  std::string checkpoint_path;      // the checkpoint kept at the end; empty when none
  bool has_loss = false;
  float last_loss = 0.0f;           // loss of the last step
  std::string stop_reason;          // why fit stopped, as Lightning words it
};

// Runs trainer.fit:
//  - seed_everything(seed): init generator -> default initialisation; data
//    generator -> randn data and shuffling; dropout generator -> training_step
//  - --init_weights replaces the initial weights; --ckpt_path restores
//    weights, optimizer slots and step, epoch, global_step and generators,
//    and training continues at the next epoch
//  - per epoch: new order (shuffle), then per batch: training_step,
//    optimizer step, global_step += 1; stops at max_steps / max_epochs
//  - logging: train_loss on step, as self.log("train_loss", loss) does; a
//    metrics.csv row {epoch, step, train_loss} when (batches_that_stepped +
//    1) % log_every_n_steps == 0, with step = batches_that_stepped before its
//    increment and epoch = current epoch
//  - checkpointing: at the end of every training epoch, ModelCheckpoint's
//    default (save_top_k=1, no monitor): write checkpoints/epoch=E-step=S,
//    remove the previous one of this run
//  - output: <default_root_dir>/lightning_logs/version_<N>/{hparams.yaml,
//    metrics.csv, checkpoints/}; progress and a summary go to `out`
// The step loop does not allocate. Throws ltrt::Error on bad data, weights or
// checkpoints; files already written stay intact (atomic writes).
FitResult fit(const ModelDef& model, const FitConfig& config, std::FILE* out = stdout);

}  // namespace ltrt
