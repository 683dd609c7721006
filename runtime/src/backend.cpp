// Choosing the backend from trainer.accelerator and what the program and machine have.
#include "ltrt/backend.hpp"

#include <string>

#include "ltrt/blas.hpp"
#include "ltrt/error.hpp"
#ifdef LTRT_WITH_CUDA
#include "ltrt/cuda_backend.hpp"
#endif

namespace ltrt {

std::unique_ptr<Backend> make_backend(const ModelDef& model, Arena& host, const TrainerConfig& trainer, std::FILE* log,
                                      const ProcessGroup& group) {
  // Lightning says so when its Trainer picks the precision plugin (the steps round as autocast does),
  // before its device lines; written once the device is settled, so that a refusal is one line.
  // "16-mixed" is float16 with a GradScaler on the GPU; on the CPU (trainer_config.cpp settles
  // "cpu" at once; "auto" here) Lightning runs bf16-mixed instead, and the program's CPU steps
  // round to bfloat16 (the generator emits them so).
  auto say_precision = [&](bool on_gpu) {
    const std::string& given = trainer.precision_given;
    if (given == "16" || given == "bf16")  // fabric's _convert_precision_to_unified_args
      std::fprintf(log, "UserWarning: `precision=%s` is supported for historical reasons but its usage is discouraged. "
                        "Please set your precision to %s-mixed instead!\n", given.c_str(), given.c_str());
    if (!on_gpu && (given == "16" || given == "16-mixed"))
      std::fprintf(log, "UserWarning: You passed `Trainer(accelerator='cpu', precision='16-mixed')` but AMP with fp16 "
                        "is not supported on CPU. Using `precision='bf16-mixed'` instead.\n");
    if (trainer.precision == "16-mixed" && on_gpu)
      std::fprintf(log, "Using 16bit Automatic Mixed Precision (AMP)\n");
    else if (trainer.precision == "bf16-mixed" || trainer.precision == "16-mixed")
      std::fprintf(log, "Using bfloat16 Automatic Mixed Precision (AMP)\n");
  };
  // Training on the CPU: the precision line, Lightning's GPU line where it has one, and a warning
  // when the BLAS library runs kernels far below this CPU (ltrt/blas.hpp).
  auto on_cpu = [&](const std::string& gpu_line) {
    say_precision(false);
    if (!gpu_line.empty()) std::fprintf(log, "%s\n", gpu_line.c_str());
    const std::string blas = blas_kernels_warning();
    if (!blas.empty()) std::fprintf(log, "warning: %s\n", blas.c_str());
    return make_cpu_backend(model, host, group);
  };
  const bool want_gpu = trainer.accelerator == "gpu";
  if (trainer.accelerator == "cpu") return on_cpu("");
  if (model.device_steps == nullptr) {
    if (want_gpu)
      throw Error("trainer.accelerator is \"gpu\" but this program was built without its CUDA backend (CMake found no "
                  "CUDA toolkit, or LTGEN_CUDA was OFF): rebuild it where nvcc is installed");
    return on_cpu("");  // a CPU-only program: nothing to choose
  }
#ifdef LTRT_WITH_CUDA
  // Under DDP the ranks choose together (all on GPUs, or with "auto" all on the CPU), and a rank's
  // refusal ends every rank instead of leaving the others waiting in NCCL's start.
  std::string why;
  int count = 0;
  group.agree_on_failure([&] {
    count = cuda::device_count(why);
    if (count == 0 && want_gpu) throw Error("trainer.accelerator is \"gpu\" but no CUDA GPU is available: " + why);
  });
  const int with_gpu = group.count(count > 0);  // ranks that see a GPU
  const bool everyone_has_one = with_gpu == group.size();
  if (!everyone_has_one && with_gpu > 0)
    throw AgreedError("some processes of the launch see a GPU and some none: under DDP every process trains on a GPU of "
                      "its own, or (trainer.accelerator \"auto\") every process on the CPU (CUDA_VISIBLE_DEVICES=\"\" "
                      "hides the GPUs)");
  // DDP over listed GPUs, none there (Lightning's CPU accelerator refuses a list too).
  if (!everyone_has_one && group.distributed() && !trainer.device_indices.empty()) {
    std::string listed;
    for (int k : trainer.device_indices) listed += (listed.empty() ? "" : ", ") + std::to_string(k);
    throw AgreedError("trainer.devices lists GPUs ([" + listed + "]), and no process sees one (" + why +
                      "): train on GPUs, or give the number of processes (devices " +
                      std::to_string(trainer.device_indices.size()) + ") to train on the CPU");
  }
  if (!everyone_has_one) return on_cpu("GPU available: False (" + why + "), used: False: training on the CPU");
  // Lightning's parallel_devices[local_rank]: devices=N takes GPUs 0..N-1 of each machine, [k, ...] those.
  const int local_rank = group.local_rank();
  int device = 0;
  group.agree_on_failure([&] {
    if (group.distributed() && local_rank >= trainer.devices)
      throw Error("this machine runs more processes of the launch than trainer.devices=" + std::to_string(trainer.devices) +
                  " (this one is its local rank " + std::to_string(local_rank) + "): start " +
                  std::to_string(trainer.devices) + " processes a machine, one a GPU");
    device = trainer.gpu_of(group.distributed() ? local_rank : 0);
    if (device >= count)
      throw Error("trainer.devices asks for GPU " + std::to_string(device) + " but there are only " +
                  std::to_string(count) + " (indices 0.." + std::to_string(count - 1) + ")" +
                  (group.distributed() ? ": under DDP each process trains on a GPU of its own" : ""));
  });
  std::unique_ptr<Backend> b =
      cuda::make_backend(model, host, device, /*grad_scaling=*/trainer.precision == "16-mixed", group);
  say_precision(true);
  if (group.distributed())
    std::fprintf(log, "GPU available: True (cuda), used: True: %d processes, one a GPU; rank 0 on %s\n", group.size(),
                 b->device().c_str());
  else
    std::fprintf(log, "GPU available: True (cuda), used: True: training on %s\n", b->device().c_str());
  return b;
#else
  if (want_gpu)
    throw Error("trainer.accelerator is \"gpu\" but this runtime was compiled without CUDA (LTRT_CUDA was OFF)");
  return on_cpu("");
#endif
}

}  // namespace ltrt
