// on_before_optimizer_step alone: the step runs as forward and backward together (one graph on
// the GPU), then this hook, then clipping and the optimizer step (a graph of its own). It reads
// the gradients before clipping and sets the learning rate that the step must use (Adam: its
// step size); gpu_parity compares the HOOK lines of both devices.
#include <cstdio>
#include <ltrt/hooks.hpp>
#include <string>

void on_before_optimizer_step(ltrt::Trainer& trainer) {
  double sum = 0;
  for (const std::string& name : trainer.parameter_names()) {
    const ltrt::TensorView g = trainer.grad(name);
    for (std::int64_t i = 0; i < g.numel; ++i) sum += static_cast<double>(g.data[i]) * g.data[i];
  }
  std::printf("HOOK on_before_optimizer_step step=%lld grad_sq=%.9g lr=%.9g\n",
              static_cast<long long>(trainer.global_step), sum, trainer.lr());
  trainer.set_lr(trainer.global_step % 2 == 0 ? 0.05 : 0.01);
}

void on_train_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx, float loss) {
  const ltrt::TensorView w = trainer.parameter("layers.0.weight");
  double sum = 0;
  for (std::int64_t i = 0; i < w.numel; ++i) sum += static_cast<double>(w.data[i]) * w.data[i];
  std::printf("HOOK on_train_batch_end step=%lld batch=%lld loss=%.9g weight_sq=%.9g\n",
              static_cast<long long>(trainer.global_step), static_cast<long long>(batch_idx), loss, sum);
}
