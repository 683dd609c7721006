// Saves a checkpoint inside a training step (after its backward, before its optimizer step) when
// SAVE_AT_STEP names the step: a fit resumed from it runs that batch again, so the persistent
// DataLoader workers' generators it holds must be those before the batch drew. SAVE_AT_EPOCH saves
// one in that epoch's on_train_epoch_start, after the epoch drew its shuffle's seed; SAVE_AT_TRAIN_START
// one in on_train_start, which a fit resumed from such a checkpoint saves before its loop goes on.
#include <cstdlib>
#include <ltrt/hooks.hpp>

void on_after_backward(ltrt::Trainer& trainer) {
  const char* at = std::getenv("SAVE_AT_STEP");
  if (at && trainer.global_step == std::atoll(at)) trainer.save_checkpoint("mid_step.safetensors");
}

void on_train_epoch_start(ltrt::Trainer& trainer) {
  const char* at = std::getenv("SAVE_AT_EPOCH");
  if (at && trainer.current_epoch == std::atoll(at)) trainer.save_checkpoint("mid_step.safetensors");
}

void on_train_start(ltrt::Trainer& trainer) {
  if (std::getenv("SAVE_AT_TRAIN_START")) trainer.save_checkpoint("train_start.safetensors");
}
