// A hook that throws: on_train_epoch_end of the second epoch, before ModelCheckpoint saves that
// epoch (the hooks run as one more Callback ahead of the ModelCheckpoints). on_exception must run,
// the program must end with a message naming the hook, and the first epoch's checkpoint must stay.
// predict's second batch throws too; teardown, which Lightning skips after an exception, says if it runs.
#include <cstdio>
#include <ltrt/hooks.hpp>
#include <stdexcept>
#include <string>

void on_train_epoch_end(ltrt::Trainer& trainer) {
  if (trainer.current_epoch == 1) throw std::runtime_error("loss exploded at epoch " + std::to_string(trainer.current_epoch));
}

void on_save_checkpoint(ltrt::Trainer& trainer) {
  std::printf("HOOK save epoch=%lld step=%lld\n", static_cast<long long>(trainer.current_epoch),
              static_cast<long long>(trainer.global_step));
}

void on_exception(ltrt::Trainer& trainer, const std::exception& exception) {
  std::printf("HOOK on_exception epoch=%lld: %s\n", static_cast<long long>(trainer.current_epoch), exception.what());
}

void on_predict_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx) {
  (void)trainer;
  if (batch_idx == 1) throw std::runtime_error("prediction failed at batch 1");
}

void teardown(ltrt::Trainer& trainer, const std::string& stage) {
  std::printf("HOOK teardown stage=%s step=%lld\n", stage.c_str(), static_cast<long long>(trainer.global_step));
}
