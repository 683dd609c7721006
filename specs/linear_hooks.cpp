// Hooks of specs/linear_hooks.json: what a Lightning user would put in a Callback.
//   - a linear learning-rate warmup over the first optimizer steps (on_train_batch_start);
//   - the gradient norm of the layer's weight after each backward (on_after_backward);
//   - a line per epoch with the losses, the learning rate and the largest gradient norm;
//   - stop when the validation loss is no longer a finite number (should_stop).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ltrt/hooks.hpp>

namespace {

constexpr double kBaseLr = 0.01;  // the spec's optimizer.lr
constexpr int kWarmupSteps = 20;

double max_grad_norm = 0;  // over the current epoch

double norm(const ltrt::TensorView& t) {
  double sum = 0;
  for (std::int64_t i = 0; i < t.numel; ++i) sum += static_cast<double>(t.data[i]) * t.data[i];
  return std::sqrt(sum);
}

}  // namespace

void on_train_batch_start(ltrt::Trainer& trainer, std::int64_t batch_idx) {
  (void)batch_idx;
  if (trainer.global_step < kWarmupSteps)
    trainer.set_lr(kBaseLr * static_cast<double>(trainer.global_step + 1) / kWarmupSteps);
}

void on_after_backward(ltrt::Trainer& trainer) {
  max_grad_norm = std::max(max_grad_norm, norm(trainer.grad("layers.0.weight")));
}

void on_train_epoch_end(ltrt::Trainer& trainer) {
  const auto& m = trainer.callback_metrics;
  std::printf("epoch %lld: train_loss %.4f, val_loss %.4f, lr %.4g, max |grad layers.0.weight| %.4f\n",
              static_cast<long long>(trainer.current_epoch), m.at("train_loss"), m.at("val_loss"), trainer.lr(),
              max_grad_norm);
  max_grad_norm = 0;
}

void on_validation_end(ltrt::Trainer& trainer) {
  const auto it = trainer.callback_metrics.find("val_loss");
  if (!trainer.sanity_checking && it != trainer.callback_metrics.end() && !std::isfinite(it->second)) {
    std::printf("val_loss is %g: stopping\n", it->second);
    trainer.should_stop = true;
  }
}
