// Hooks inside the training step, which then runs in pieces (on the GPU: a graph each) with the
// hooks between them. Each hook prints a HOOK line; gpu_parity compares the CPU's and the GPU's
// lines, number by number. They read the loss between forward and backward, the gradients after
// backward and before clipping, the weights after the optimizer step (a GPU's are copied down
// for trainer.parameter and trainer.grad), and set a learning rate in on_before_optimizer_step
// that the step must already use.
#include <cstdio>
#include <ltrt/hooks.hpp>
#include <string>

namespace {

double sum_of_squares(const ltrt::Trainer& trainer, bool gradients) {
  double sum = 0;
  for (const std::string& name : trainer.parameter_names()) {
    const ltrt::TensorView v = gradients ? trainer.grad(name) : trainer.parameter(name);
    for (std::int64_t i = 0; i < v.numel; ++i) sum += static_cast<double>(v.data[i]) * v.data[i];
  }
  return sum;
}

long long step(const ltrt::Trainer& trainer) { return static_cast<long long>(trainer.global_step); }

}  // namespace

void on_before_zero_grad(ltrt::Trainer& trainer) {
  std::printf("HOOK on_before_zero_grad step=%lld grad_sq=%.9g\n", step(trainer), sum_of_squares(trainer, true));
}

void on_before_backward(ltrt::Trainer& trainer, float loss) {
  std::printf("HOOK on_before_backward step=%lld loss=%.9g\n", step(trainer), loss);
}

void on_after_backward(ltrt::Trainer& trainer) {
  std::printf("HOOK on_after_backward step=%lld grad_sq=%.9g\n", step(trainer), sum_of_squares(trainer, true));
}

void on_before_optimizer_step(ltrt::Trainer& trainer) {
  std::printf("HOOK on_before_optimizer_step step=%lld grad_sq=%.9g param_sq=%.9g lr=%.9g\n", step(trainer),
              sum_of_squares(trainer, true), sum_of_squares(trainer, false), trainer.lr());
  trainer.set_lr(0.2 / static_cast<double>(2 + trainer.global_step));
}

void on_train_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx, float loss) {
  std::printf("HOOK on_train_batch_end step=%lld batch=%lld loss=%.9g param_sq=%.9g\n", step(trainer),
              static_cast<long long>(batch_idx), loss, sum_of_squares(trainer, false));
}

void on_validation_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx, float loss) {
  std::printf("HOOK on_validation_batch_end step=%lld batch=%lld loss=%.9g\n", step(trainer),
              static_cast<long long>(batch_idx), loss);
}
