// should_stop from a hook: set in on_train_batch_end once global_step reaches 8 (the third batch of
// the second epoch); Lightning then validates, ends that epoch and stops.
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

void on_validation_end(ltrt::Trainer& trainer) {
  if (trainer.sanity_checking) return;
  std::printf("HOOK validation epoch=%lld step=%lld val_loss=%g\n", static_cast<long long>(trainer.current_epoch),
              static_cast<long long>(trainer.global_step), trainer.callback_metrics.at("val_loss"));
}

void on_train_end(ltrt::Trainer& trainer) {
  std::printf("HOOK end epoch=%lld step=%lld should_stop=%d\n", static_cast<long long>(trainer.current_epoch),
              static_cast<long long>(trainer.global_step), trainer.should_stop ? 1 : 0);
}
