// should_stop from a hook: set in on_train_batch_end once global_step reaches 8 (the second batch of
// the second epoch); Lightning then validates, ends that epoch and stops. Also the rest of the
// Trainer: parameters by name, the learning rate, logged_metrics and save_checkpoint.
#include <cstdio>
#include <ltrt/hooks.hpp>

void on_train_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx, float loss) {
  (void)loss;
  if (trainer.global_step == 8) {
    std::printf("HOOK stop at epoch=%lld batch=%lld\n", static_cast<long long>(trainer.current_epoch),
                static_cast<long long>(batch_idx));
    trainer.should_stop = true;
  }
}

void on_train_start(ltrt::Trainer& trainer) {
  const ltrt::TensorView w = trainer.parameter("layers.0.weight");
  std::printf("HOOK weight shape=%lldx%lld numel=%lld\n", static_cast<long long>(w.shape.at(0)),
              static_cast<long long>(w.shape.at(1)), static_cast<long long>(w.numel));
  trainer.set_lr(0.05);
  std::printf("HOOK lr=%g\n", trainer.lr());
}

void on_validation_end(ltrt::Trainer& trainer) {
  if (trainer.sanity_checking) return;
  const double val_loss = trainer.callback_metrics.at("val_loss");
  std::printf("HOOK validation epoch=%lld step=%lld logged=%d val_loss=%g\n",
              static_cast<long long>(trainer.current_epoch), static_cast<long long>(trainer.global_step),
              trainer.logged_metrics.count("val_loss") && trainer.logged_metrics.at("val_loss") == val_loss ? 1 : 0,
              val_loss);
}

void on_train_end(ltrt::Trainer& trainer) {
  trainer.save_checkpoint("final.safetensors");
  std::printf("HOOK end epoch=%lld step=%lld should_stop=%d\n", static_cast<long long>(trainer.current_epoch),
              static_cast<long long>(trainer.global_step), trainer.should_stop ? 1 : 0);
}
