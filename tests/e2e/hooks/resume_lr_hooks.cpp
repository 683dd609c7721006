// A learning rate set by a hook (no scheduler) must survive a resume, as torch's
// optimizer.load_state_dict restores param_groups[g]["lr"]: epoch 0's end sets it, the default
// ModelCheckpoint saves after this hook, and each epoch's start prints it.
#include <cstdio>
#include <ltrt/hooks.hpp>

void on_train_epoch_start(ltrt::Trainer& trainer) {
  std::printf("HOOK on_train_epoch_start epoch=%lld lr=%g\n", static_cast<long long>(trainer.current_epoch), trainer.lr());
}

void on_train_epoch_end(ltrt::Trainer& trainer) {
  if (trainer.current_epoch == 0) trainer.set_lr(0.02);
}
