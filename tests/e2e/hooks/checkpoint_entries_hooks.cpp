// State of the hooks' own that travels in checkpoints, as a LightningModule keeps it with
// on_save_checkpoint(checkpoint) and on_load_checkpoint(checkpoint): a count of the batches
// trained, saved as trainer.checkpoint["batches"] and restored from it on resume.
#include <cstdio>
#include <string>
#include <ltrt/hooks.hpp>

namespace {
long long batches = 0;
}

void on_train_batch_end(ltrt::Trainer&, std::int64_t, float) { ++batches; }

void on_save_checkpoint(ltrt::Trainer& trainer) {
  std::printf("HOOK on_save_checkpoint entries=%zu\n", trainer.checkpoint.size());
  trainer.checkpoint["batches"] = std::to_string(batches);
  trainer.checkpoint["note"] = "saved at step " + std::to_string(trainer.global_step);
}

void on_load_checkpoint(ltrt::Trainer& trainer) {
  batches = std::stoll(trainer.checkpoint.at("batches"));
  std::printf("HOOK on_load_checkpoint batches=%lld note=%s\n", batches, trainer.checkpoint.at("note").c_str());
}

void on_train_epoch_start(ltrt::Trainer& trainer) {
  std::printf("HOOK on_train_epoch_start epoch=%lld batches=%lld entries=%zu\n",
              static_cast<long long>(trainer.current_epoch), batches, trainer.checkpoint.size());
}

void on_fit_end(ltrt::Trainer&) { std::printf("HOOK on_fit_end batches=%lld\n", batches); }
