// Hooks inside the training step that read the loss and the gradients (bf16_mlp.json on the CPU,
// and tests/cuda/lightning_specs/fp16_hooks.json under "16-mixed" on the GPU, where the GradScaler
// works between them). Each prints a HOOK line; lightning_parity.py compares them, number by
// number, with those of grad_hooks.py, the same hooks as a Lightning Callback in Lightning's run.
// Under 16-mixed on_before_backward sees the scaled loss and on_after_backward the scaled
// gradients (MixedPrecision.pre_backward scales first); on_before_optimizer_step sees them
// unscaled, an infinity where the step will be skipped. on_before_zero_grad sees the last
// group's, unscaled and clipped (zeros before the first backward and after a validation, where
// Lightning's are None).
#include <cstdio>
#include <ltrt/hooks.hpp>
#include <string>

namespace {

double grad_sum_of_squares(const ltrt::Trainer& trainer) {
  double sum = 0;
  for (const std::string& name : trainer.parameter_names()) {
    const ltrt::TensorView g = trainer.grad(name);
    for (std::int64_t i = 0; i < g.numel; ++i) sum += static_cast<double>(g.data[i]) * g.data[i];
  }
  return sum;
}

long long step(const ltrt::Trainer& trainer) { return static_cast<long long>(trainer.global_step); }

}  // namespace

void on_before_zero_grad(ltrt::Trainer& trainer) {
  std::printf("HOOK on_before_zero_grad step=%lld grad_sq=%.9g\n", step(trainer), grad_sum_of_squares(trainer));
}

void on_before_backward(ltrt::Trainer& trainer, float loss) {
  std::printf("HOOK on_before_backward step=%lld loss=%.9g\n", step(trainer), loss);
}

void on_after_backward(ltrt::Trainer& trainer) {
  std::printf("HOOK on_after_backward step=%lld grad_sq=%.9g\n", step(trainer), grad_sum_of_squares(trainer));
}

void on_before_optimizer_step(ltrt::Trainer& trainer) {
  std::printf("HOOK on_before_optimizer_step step=%lld grad_sq=%.9g lr=%.9g\n", step(trainer),
              grad_sum_of_squares(trainer), trainer.lr());
}
