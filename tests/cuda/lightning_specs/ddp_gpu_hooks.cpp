// DDP on GPUs, seen from rank 1 (rank 0 logs; this rank's work shows only here): its averaged
// gradients after each backward (the step in pieces, whose backward graph holds the average),
// and its validation losses, which read its BatchNorm running statistics: rank 0's, broadcast
// before each forward that follows a synchronised one. ddp_gpu_hooks.py prints the same from
// Lightning's rank 1. With DDP_GPU_HOOKS_THROW_AT_STEP=N in the environment every rank throws at
// global step N, after NCCL's collectives were captured: lightning_parity.py checks that the
// launch ends with that error (and no hang in NCCL's teardown).
#include <cstdio>
#include <cstdlib>
#include <ltrt/hooks.hpp>
#include <stdexcept>
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

void on_after_backward(ltrt::Trainer& trainer) {
  if (trainer.global_rank == 1)
    std::printf("HOOK rank1_after_backward step=%lld grad_sq=%.9g\n", step(trainer), grad_sum_of_squares(trainer));
}

void on_validation_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx, float loss) {
  if (trainer.global_rank == 1)
    std::printf("HOOK rank1_validation_batch_end step=%lld batch=%lld loss=%.9g\n", step(trainer),
                static_cast<long long>(batch_idx), loss);
}

void on_train_batch_end(ltrt::Trainer& trainer, std::int64_t, float) {
  const char* at = std::getenv("DDP_GPU_HOOKS_THROW_AT_STEP");
  if (at && std::atoll(at) == step(trainer)) throw std::runtime_error("stopped by the test at step " + std::string(at));
}
