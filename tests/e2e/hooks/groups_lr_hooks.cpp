// A learning rate set by a hook, per parameter group: the next scheduler step builds on it, as
// torch's recursive schedulers build on param_groups[g]["lr"]. A frozen parameter has no gradient.
#include <cstdio>
#include <ltrt/hooks.hpp>

void on_train_start(ltrt::Trainer& trainer) {
  std::printf("HOOK groups=%d lr0=%g lr1=%g lr=%g\n", trainer.num_param_groups(), trainer.lr(0), trainer.lr(1),
              trainer.lr());
  std::printf("HOOK requires_grad layers.0.bias=%d layers.0.weight=%d\n", trainer.requires_grad("layers.0.bias"),
              trainer.requires_grad("layers.0.weight"));
  try {
    trainer.grad("layers.0.bias");
  } catch (const ltrt::Error& e) {
    std::printf("HOOK %s\n", e.what());
  }
}

void on_train_batch_start(ltrt::Trainer& trainer, std::int64_t batch_idx) {
  (void)batch_idx;
  if (trainer.global_step == 3) {
    trainer.set_lr(1, 0.8);  // the second group (the weights) only
    std::printf("HOOK set lr1=%g at step=3\n", trainer.lr(1));
  }
}
