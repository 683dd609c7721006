// The CUDA backend: the generated model's CUDA steps over a device arena with the host
// arena's layout. A training step (forward, backward, clipping, optimizer) is captured once
// per batch shape as a CUDA graph and replayed; what changes between steps (loss scale,
// dropout seed, optimizer scalars) is one small copy into device memory before the replay.
// train() returns once the step is enqueued: the host loads the next batch while the device
// computes, and waits only when the trainer reads a step's loss or outputs. Evaluation and
// predict batches are graphs too; evaluation adds its loss and metrics to sums on the device,
// read once per loop. For user hooks inside the step, the step also runs in pieces (forward;
// backward; clipping and optimizer), each a graph, with the hooks between them on the host.
// Under "16-mixed" the backend runs the GradScaler: the loss scale is part of the step's scalars,
// the gradients are unscaled on the device before clipping, and whether the step found an
// infinity (and was skipped) is read back behind it and settled before the next step.
// Under DDP each rank is a process with a GPU of its own: the gradient average (NCCL) is part of
// the step's graph, after the backward of the last batch of an accumulation group.
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ltrt/cuda/context.cuh"
#include "ltrt/cuda/device_group.cuh"
#include "ltrt/cuda/kernels.cuh"
#include "ltrt/cuda_backend.hpp"
#include "ltrt/error.hpp"
#include "ltrt/grad_scaler.hpp"
#include "ltrt/optimizer.hpp"
#include "ltrt/rng.hpp"

namespace ltrt::cuda {

namespace {

constexpr std::size_t kAlign = 256;                        // cudaMalloc's own alignment
constexpr std::size_t kWorkspaceBytes = 32u << 20;         // TUNE: cuBLASLt workspace
std::size_t align_up(std::size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

// Teardown cannot throw; a failure there is reported, not hidden.
void report(cudaError_t status, const char* call) {
  if (status != cudaSuccess) std::fprintf(stderr, "warning: %s: %s\n", call, cudaGetErrorString(status));
}

// What the build's CMAKE_CUDA_ARCHITECTURES was (runtime/CMakeLists.txt), for messages.
#ifndef LTRT_CUDA_ARCHITECTURES
#define LTRT_CUDA_ARCHITECTURES "(not recorded)"
#endif

// A kernel that does nothing, compiled for the same architectures as every other: whether the
// driver finds code of it that the GPU runs says whether any of the program's kernels can run.
__global__ void probe_kernel() {}

// Refuses, before anything is allocated or launched, a GPU that none of the program's compiled
// code runs on (its SASS is for other architectures and its PTX, if any, for a newer one): the
// first kernel would otherwise fail inside a graph capture with a bare cudaErrorNoKernelImageForDevice.
void check_kernel_image(int device, const cudaDeviceProp& prop) {
  cudaFuncAttributes attributes{};
  const cudaError_t status = cudaFuncGetAttributes(&attributes, probe_kernel);
  if (status == cudaSuccess) return;
  cudaGetLastError();  // the status is in the message; later calls start clean
  const std::string cc = std::to_string(prop.major) + std::to_string(prop.minor);
  throw Error("cuda:" + std::to_string(device) + " (" + prop.name + ") has compute capability " +
              std::to_string(prop.major) + "." + std::to_string(prop.minor) +
              ", and this program's CUDA code, built for the architectures " LTRT_CUDA_ARCHITECTURES
              ", has nothing it can run (" + cudaGetErrorName(status) + "): generate it with ltgen --cuda-arch " + cc +
              "-real (or configure its build with -DCMAKE_CUDA_ARCHITECTURES=" + cc +
              "-real), or train on the CPU with CUDA_VISIBLE_DEVICES=\"\" (trainer.accelerator \"auto\")");
}

// "80.5 KiB", "512.25 MiB", "3.25 GiB": device memory as nvidia-smi users read it.
std::string memory_size(std::size_t bytes) {
  char text[32];
  const double kib = static_cast<double>(bytes) / 1024;
  if (kib < 1024) std::snprintf(text, sizeof text, "%.1f KiB", kib);
  else if (kib < 1024 * 1024) std::snprintf(text, sizeof text, "%.2f MiB", kib / 1024);
  else std::snprintf(text, sizeof text, "%.2f GiB", kib / (1024 * 1024));
  return text;
}

// Refuses, before anything is allocated there, a GPU whose free memory is less than the run's one
// allocation (`needed`, of which `per_batch` grows with the batch and the rest does not, `flat`
// the parameters, gradients and optimizer slots among it): the
// message says what takes the memory and which data.batch_size would fit at most, instead of
// cudaMalloc's bare out of memory in the middle of start-up. `per_batch` counts the whole arena
// past its flat regions, some of which does not grow with the batch (mixed precision's weight
// casts, running statistics), so the batch size it names is an upper bound.
[[noreturn]] void refuse_device_memory(const std::string& device, const ModelDef& m, std::size_t needed,
                                       std::size_t flat, std::size_t per_batch, std::size_t free_bytes,
                                       std::size_t total_bytes) {
  const std::size_t fixed = needed - per_batch;  // the flat regions, cuBLASLt's workspace, the step's scalars
  std::string message = device + " has " + memory_size(free_bytes) + " free of " + memory_size(total_bytes) +
                        ", and this program needs " + memory_size(needed) + " there: " + memory_size(flat) +
                        " for the parameters, their gradients and the optimizer's state, " + memory_size(per_batch) +
                        " for the activations and batches of data.batch_size " + std::to_string(m.batch_size) +
                        ", and " + memory_size(fixed > flat ? fixed - flat : 0) + " of workspace";
  const std::size_t batch = static_cast<std::size_t>(m.batch_size);
  const std::size_t per_sample = std::max<std::size_t>(per_batch / batch, 1);
  const std::size_t fits = free_bytes > fixed ? std::min((free_bytes - fixed) / per_sample, batch - 1) : 0;
  if (free_bytes >= needed)  // cudaMalloc failed all the same: fragmented, or taken since
    message += ": the allocation failed all the same (another process may hold or fragment the memory); free "
               "memory on the GPU";
  else if (fits >= 1)
    message += ": generate it with a smaller data.batch_size (at most about " + std::to_string(fits) +
               " fits) or free memory on the GPU";
  else
    message += ": not even a batch of 1 fits; free memory on the GPU or use one with more";
  throw Error(message + " (trainer.accelerator \"auto\" trains on the CPU with CUDA_VISIBLE_DEVICES=\"\")");
}

std::size_t row_bytes(const TensorRef& t) {
  return dtype_size(t.dtype) * static_cast<std::size_t>(t.sample_numel());
}

class CudaBackend : public Backend {
 public:
  // What only this rank does (its GPU, its memory): a refusal here is agreed on before any rank
  // starts join()'s collective.
  CudaBackend(const ModelDef& model, Arena& host, int device, bool grad_scaling)
      : m_(model), groups_(param_groups_of(model)), host_(host), device_(device), metrics_(metrics_shape(model)),
        grad_scaling_(grad_scaling) {
    LTRT_CUDA_CHECK(cudaSetDevice(device_));
    cudaDeviceProp prop{};
    LTRT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    check_kernel_image(device_, prop);
    m_.device_steps->prepare_kernels();
    name_ = "cuda:" + std::to_string(device_) + " (" + prop.name + ")";
    for (int i = 0; i < m_.num_buffers; ++i)
      if (std::strcmp(m_.buffers[i].name, "loss") == 0) loss_offset_ = m_.buffers[i].offset;
    if (loss_offset_ == kNone) throw Error(std::string("model '") + m_.name + "' has no 'loss' buffer; regenerate it");

    // A batch as it travels: the inputs, the target and (for a training step) the step's scalars,
    // each at its full batch's room. Two of them in pinned host memory and two on the device, used
    // in turn.
    batch_buffers_.push_back(m_.input);
    for (int k = 0; k < m_.num_other_inputs; ++k) batch_buffers_.push_back(m_.other_inputs[k]);
    batch_buffers_.push_back(m_.target);
    for (const TensorRef& t : batch_buffers_) {
      staged_at_.push_back(staging_bytes_);
      staging_bytes_ += align_up(row_bytes(t) * static_cast<std::size_t>(m_.batch_size));
    }
    scalars_staged_at_ = staging_bytes_;
    staging_bytes_ += align_up(sizeof(StepScalars));

    // The one device allocation of the run.
    const std::size_t arena = align_up(m_.arena_bytes);
    const std::size_t scalars = align_up(sizeof(StepScalars));
    const std::size_t clip = align_up(kClipBlocks * sizeof(double) + sizeof(float));
    const std::size_t sums = align_up(sizeof(EvalSums));
    const std::size_t zeroed = arena + scalars + clip + sums;
    const std::size_t operands16 = align_up(m_.device_steps->operands16_bytes);
    const std::size_t needed = zeroed + 2 * staging_bytes_ + kWorkspaceBytes + operands16;
    // What grows with the batch: the arena past its flat regions (activations, batch buffers), the
    // staged batches and the GEMM operands' copies.
    const std::size_t flat = 4 * static_cast<std::size_t>(m_.num_param_elements) * static_cast<std::size_t>(2 + m_.num_slots);
    const std::size_t per_batch = (arena > flat ? arena - flat : 0) + 2 * staging_bytes_ + operands16;
    std::size_t free_bytes = 0, total_bytes = 0;
    LTRT_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (needed > free_bytes) refuse_device_memory(name_, m_, needed, flat, per_batch, free_bytes, total_bytes);
    const cudaError_t allocated = cudaMalloc(&block_, needed);
    if (allocated == cudaErrorMemoryAllocation) {  // taken by another process since
      cudaGetLastError();
      LTRT_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
      refuse_device_memory(name_, m_, needed, flat, per_batch, free_bytes, total_bytes);
    }
    LTRT_CUDA_CHECK(allocated);
    arena_ = static_cast<std::byte*>(block_);
    scalars_ = reinterpret_cast<StepScalars*>(arena_ + arena);
    clip_scratch_ = arena_ + arena + scalars;
    eval_sums_ = reinterpret_cast<EvalSums*>(arena_ + arena + scalars + clip);
    device_staging_ = arena_ + zeroed;
    workspace_ = device_staging_ + 2 * staging_bytes_;

    LTRT_CUDA_CHECK(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking));
    LTRT_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
    // On the compute stream: a non-blocking stream does not wait for the legacy stream, where a
    // plain cudaMemset would run, so the upload after it could land before the zeros.
    LTRT_CUDA_CHECK(cudaMemsetAsync(block_, 0, zeroed, compute_));
    LTRT_CUDA_CHECK(cublasLtCreate(&blas_));
    LTRT_CUDA_CHECK(cudaEventCreateWithFlags(&train_loss_ready_, cudaEventDisableTiming));
    for (cudaEvent_t* e : {&staged_[0], &staged_[1], &slot_free_[0], &slot_free_[1]})
      LTRT_CUDA_CHECK(cudaEventCreateWithFlags(e, cudaEventDisableTiming));
    ctx_ = Context{compute_, blas_, workspace_, kWorkspaceBytes, scalars_, m_.tf32_matmul,
                   operands16 > 0 ? static_cast<std::byte*>(workspace_) + kWorkspaceBytes : nullptr, operands16};
    if (m_.tf32_matmul) name_ += ", TF32 matmuls";

    // Pinned: the two staging buffers, then what is read back (the evaluation's sums, a training
    // step's loss, an evaluation batch's loss), then the step scalars of an optimizer step run on
    // its own (step_optimizer).
    const std::size_t readback = align_up(sizeof(EvalSums) + 2 * sizeof(float) + sizeof(int));
    LTRT_CUDA_CHECK(cudaHostAlloc(&pinned_, 2 * staging_bytes_ + readback + sizeof(StepScalars), cudaHostAllocDefault));
    std::byte* back = static_cast<std::byte*>(pinned_) + 2 * staging_bytes_;
    pinned_sums_ = reinterpret_cast<EvalSums*>(back);  // staging_bytes_ is a multiple of 256
    pinned_train_loss_ = reinterpret_cast<float*>(back + sizeof(EvalSums));
    pinned_eval_loss_ = pinned_train_loss_ + 1;
    pinned_found_inf_ = reinterpret_cast<int*>(pinned_eval_loss_ + 1);
    pinned_scalars_ = reinterpret_cast<StepScalars*>(back + readback);
    LTRT_CUDA_CHECK(cudaEventCreateWithFlags(&scalars_sent_, cudaEventDisableTiming));
    LTRT_CUDA_CHECK(cudaEventCreateWithFlags(&found_inf_ready_, cudaEventDisableTiming));
    mark_host_copies(false);  // the device's arena is zeros until upload()
  }

  // DDP: the ranks' NCCL communicator (a collective), then one gradient average outside any graph
  // capture, of the gradient region's zeros (which stay zeros): NCCL sets up its connections and
  // buffers for that size at its first collective, which should not be inside a capture.
  void join(const ProcessGroup& group) {
    ddp_ = std::make_unique<DeviceGroup>(group);
    if (!ddp_->distributed()) return;
    ctx_.ranks = ddp_.get();  // SyncBatchNorm's sums
    average_gradients();
    // SyncBatchNorm's float64 sums are small, and NCCL may run them with another algorithm than the
    // gradients' (connecting it at its first use): one of them here too, on scratch memory.
    ddp_->sum(static_cast<double*>(workspace_), 1, compute_);
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
  }

  ~CudaBackend() override {
    // The graphs first: CUDA frees one still in flight when it completes, and NCCL's teardown of a
    // communicator (its abort too) waits until every graph that captured its collectives is gone.
    auto destroy = [](auto& graphs) {
      for (auto& [key, exec] : graphs) report(cudaGraphExecDestroy(exec), "cudaGraphExecDestroy");
    };
    destroy(graphs_);
    destroy(eval_graphs_);
    destroy(predict_graphs_);
    destroy(forward_graphs_);
    destroy(backward_graphs_);
    destroy(optimizer_graphs_);
    // Under DDP, unwinding from an error: NCCL work a peer will never match would block the
    // synchronisation below; aborting the communicator ends it (the launch is ending anyway).
    if (ddp_ && std::uncaught_exceptions() > 0) ddp_->abort();
    // Work still in flight (a hook threw after its step was enqueued) reads what is freed below.
    if (compute_) report(cudaStreamSynchronize(compute_), "cudaStreamSynchronize");
    if (copy_) report(cudaStreamSynchronize(copy_), "cudaStreamSynchronize");
    if (pinned_) report(cudaFreeHost(pinned_), "cudaFreeHost");
    for (cudaEvent_t e :
         {staged_[0], staged_[1], slot_free_[0], slot_free_[1], train_loss_ready_, scalars_sent_, found_inf_ready_})
      if (e) report(cudaEventDestroy(e), "cudaEventDestroy");
    if (blas_ && cublasLtDestroy(blas_) != CUBLAS_STATUS_SUCCESS) std::fprintf(stderr, "warning: cublasLtDestroy failed\n");
    if (copy_) report(cudaStreamDestroy(copy_), "cudaStreamDestroy");
    if (compute_) report(cudaStreamDestroy(compute_), "cudaStreamDestroy");
    if (block_) report(cudaFree(block_), "cudaFree");
    if (average_block_) report(cudaFree(average_block_), "cudaFree");
  }

  std::string device() const override { return name_; }

  void upload() override {
    // Before training only (start, resume): the whole host arena, gradients and optimizer slots
    // too, replaces the device's.
    mark_host_copies(true);  // the device's arena is the host's, byte for byte
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
    LTRT_CUDA_CHECK(cudaMemcpyAsync(arena_, host_.data(), m_.arena_bytes, cudaMemcpyHostToDevice, compute_));
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
  }

  void download() override {
    settle_grad_scaler();
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
    const std::size_t region = static_cast<std::size_t>(m_.num_param_elements) * sizeof(float);
    copy_down(m_.params_offset, region);
    copy_down(m_.slots_offset, region * static_cast<std::size_t>(m_.num_slots));
    for (int i = 0; i < m_.num_state; ++i)
      copy_down(m_.state[i].value.offset, static_cast<std::size_t>(m_.state[i].value.numel()) * dtype_size(m_.state[i].value.dtype));
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
    host_params_current_.assign(host_params_current_.size(), true);
  }

  void upload_state() override {
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
    for (int i = 0; i < m_.num_state; ++i) {
      const TensorRef& t = m_.state[i].value;
      LTRT_CUDA_CHECK(cudaMemcpyAsync(arena_ + t.offset, host_.data() + t.offset,
                                      static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype),
                                      cudaMemcpyHostToDevice, compute_));
    }
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
  }

  // The next steps' scalars carry it: the captured graphs read it when they run.
  void set_batch_norm_momentum_none(bool on) override { batch_norm_momentum_none_ = on; }

  void train(const TrainStep& s, Optimizer& optimizer, DropoutDraws dropout) override {
    settle_grad_scaler();
    active_groups_ = s.active_groups;
    begin_step(s, dropout.own, s.optimizer_step ? &optimizer : nullptr);
    launch(training_graph(s));
    read_back_train_loss();  // behind the step; nothing waits for it here
    if (s.optimizer_step) count_step(optimizer);
    train_rows_ = s.n;
  }

  float train_forward(const TrainStep& s, DropoutDraws dropout) override {
    require_split_step();
    settle_grad_scaler();
    active_groups_ = s.active_groups;
    begin_step(s, dropout.own, nullptr);
    auto it = forward_graphs_.find(s.n);
    if (it == forward_graphs_.end())
      it = forward_graphs_.emplace(s.n, capture([&] { m_.device_steps->training_forward(arena_, s.n, ctx_); })).first;
    launch(it->second);
    read_back_train_loss();
    train_rows_ = s.n;
    return loss();
  }

  void train_backward(const TrainStep& s) override {
    require_split_step();
    // d(loss) comes from the scalars staged with the batch for train_forward: the same loss scale.
    if (s.loss_scale != staged_loss_scale_)
      throw Error("internal error: train_backward's loss scale differs from its train_forward's");
    const auto key = std::make_tuple(s.n, s.accumulate, s.sync_gradients);
    auto it = backward_graphs_.find(key);
    if (it == backward_graphs_.end())
      it = backward_graphs_
               .emplace(key, capture([&] {
                 m_.device_steps->training_backward(arena_, s.n, s.accumulate, ctx_);
                 if (s.sync_gradients) average_gradients();
               }))
               .first;
    launch(it->second);
  }

  void step_optimizer(double clip_val, bool clip_by_value, Optimizer& optimizer) override {
    settle_grad_scaler();
    // The learning rate as it is now: on_before_optimizer_step may have set it.
    active_groups_ = optimizer.num_active_groups();
    set_optimizer_scalars(step_scalars_, m_.optimizer, groups_, optimizer.lrs(), optimizer.momentums(),
                          optimizer.group_states(), next_steps(optimizer));
    LTRT_CUDA_CHECK(cudaEventSynchronize(scalars_sent_));  // the pinned scalars' last copy is done
    *pinned_scalars_ = step_scalars_;
    // After unscale_gradients the device's found_inf is the step's verdict: the optimizer's
    // scalars go after it (and leave it as it is).
    static_assert(offsetof(StepScalars, inv_scale) == sizeof(float) &&
                      offsetof(StepScalars, found_inf) == 2 * sizeof(float) &&
                      offsetof(StepScalars, dropout_seed) == 16,
                  "StepScalars starts with loss_scale, inv_scale, found_inf, then dropout_seed: the rest is the "
                  "optimizer's");
    const std::size_t from = unscaled_ ? offsetof(StepScalars, dropout_seed) : 0;
    LTRT_CUDA_CHECK(cudaMemcpyAsync(reinterpret_cast<std::byte*>(scalars_) + from,
                                    reinterpret_cast<const std::byte*>(pinned_scalars_) + from,
                                    sizeof(StepScalars) - from, cudaMemcpyHostToDevice, compute_));
    LTRT_CUDA_CHECK(cudaEventRecord(scalars_sent_, compute_));
    const bool unscale = grad_scaling_ && !unscaled_;
    const auto key = std::make_tuple(clip_val, clip_by_value, unscale, active_groups_);
    auto it = optimizer_graphs_.find(key);
    if (it == optimizer_graphs_.end())
      it = optimizer_graphs_.emplace(key, capture([&] { enqueue_clip_and_step(clip_val, clip_by_value, unscale); }))
               .first;
    launch(it->second);
    unscaled_ = false;
    count_step(optimizer);
  }

  void zero_gradients() override {
    mark_host_copies(false);
    LTRT_CUDA_CHECK(cudaMemsetAsync(arena_ + m_.grads_offset, 0, static_cast<std::size_t>(trainable_elements(m_)) *
                                    sizeof(float), compute_));
  }

  void broadcast_buffers() override {
    std::vector<DeviceGroup::Part> parts;
    for (int i = 0; i < m_.num_state; ++i) {
      const TensorRef& t = m_.state[i].value;
      parts.push_back({arena_ + t.offset, static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype)});
    }
    ddp_->broadcast(parts.data(), static_cast<int>(parts.size()), compute_);
  }

  void unscale_gradients() override {
    if (!grad_scaling_) return;
    // On the compute stream after the backward, with the inv_scale staged with the batch; the
    // hooks' copies of the gradients are stale after it.
    mark_host_copies(false);
    ltrt::cuda::unscale_gradients(ctx_, reinterpret_cast<float*>(arena_ + m_.grads_offset), active_elements(),
                                  scalars_);
    unscaled_ = true;
  }

  std::optional<GradScaler> grad_scaler() override {
    if (!grad_scaling_) return std::nullopt;
    settle_grad_scaler();
    return scaler_;
  }

  void restore_grad_scaler(const GradScaler& state) override {
    if (grad_scaling_) scaler_ = state;
  }

  // One tensor at a time, as hooks ask: a hook that reads one layer's gradient copies that layer's.
  void fetch_for_hooks(int param, bool gradient) override {
    std::vector<bool>& current = gradient ? host_grads_current_ : host_params_current_;
    if (current.at(static_cast<std::size_t>(param))) return;
    const ParamDef& p = m_.params[param];
    const std::size_t region = gradient ? m_.grads_offset : m_.params_offset;
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
    copy_down(region + static_cast<std::size_t>(p.flat_index) * sizeof(float),
              static_cast<std::size_t>(p.value.numel()) * sizeof(float));
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
    current[static_cast<std::size_t>(param)] = true;
  }

  void parameters_to_host() override {
    trainable_region_down(m_.params_offset);
    host_params_current_.assign(host_params_current_.size(), true);  // (frozen ones never change)
  }

  void gradients_to_host() override {
    trainable_region_down(m_.grads_offset);
    host_grads_current_.assign(host_grads_current_.size(), true);
  }

  void parameters_from_host() override {
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
    LTRT_CUDA_CHECK(cudaMemcpyAsync(arena_ + m_.params_offset, host_.data() + m_.params_offset, trainable_bytes(),
                                    cudaMemcpyHostToDevice, compute_));
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
  }

  // WeightAveraging's copy: a second device allocation, made only when a spec asks for one (two
  // copies' room: the copy, and where a swap puts the model's values).
  void average_reset(const AveragingRule& rule) override {
    average_rule_ = rule;
    const std::size_t bytes = model_state_bytes(m_);
    if (average_ == nullptr) {
      LTRT_CUDA_CHECK(cudaMalloc(&average_block_, 2 * bytes));
      average_ = static_cast<std::byte*>(average_block_);
      average_scratch_ = average_ + bytes;
    }
    copy_model_state(average_, arena_, true);
  }

  void average_update(std::int64_t n_averaged) override {
    const std::size_t params_bytes = static_cast<std::size_t>(m_.num_param_elements) * sizeof(float);
    if (average_rule_.parameters_only) {  // StochasticWeightAveraging: the parameters alone
      if (n_averaged == 0)
        LTRT_CUDA_CHECK(cudaMemcpyAsync(average_, arena_ + m_.params_offset, params_bytes, cudaMemcpyDeviceToDevice,
                                        compute_));
      else
        swa_update(ctx_, reinterpret_cast<float*>(average_), reinterpret_cast<const float*>(arena_ + m_.params_offset),
                   m_.num_param_elements, n_averaged);
      return;
    }
    if (n_averaged == 0) {  // the first update copies the model
      copy_model_state(average_, arena_, true);
      return;
    }
    const float decay = static_cast<float>(average_rule_.decay);
    const float one_minus_decay = static_cast<float>(1.0 - average_rule_.decay);
    const auto update = [&](float* average, const float* model, std::int64_t n) {
      if (average_rule_.ema) ema_update(ctx_, average, model, n, decay, one_minus_decay);
      else lerp_update(ctx_, average, model, n, n_averaged);  // WeightAveraging: torch's _foreach_lerp_ here
    };
    update(reinterpret_cast<float*>(average_), reinterpret_cast<const float*>(arena_ + m_.params_offset),
           m_.num_param_elements);
    for_each_state_offset(m_, [&](int, const TensorRef& t, std::size_t offset) {
      std::byte* copy = average_ + offset;
      if (!average_rule_.use_buffers) {
        LTRT_CUDA_CHECK(cudaMemcpyAsync(copy, arena_ + t.offset, static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype),
                                        cudaMemcpyDeviceToDevice, compute_));
      } else if (t.dtype == DType::i64 && !average_rule_.ema) {
        throw Error("WeightAveraging with use_buffers over an int64 buffer (BatchNorm's num_batches_tracked): "
                    "torch's running mean on the GPU raises there (addcdiv on integers); set use_buffers false");
      } else if (t.dtype == DType::i64) {
        ema_update(ctx_, reinterpret_cast<std::int64_t*>(copy), reinterpret_cast<const std::int64_t*>(arena_ + t.offset),
                   t.numel(), decay, one_minus_decay);
      } else {
        update(reinterpret_cast<float*>(copy), reinterpret_cast<const float*>(arena_ + t.offset), t.numel());
      }
    });
  }

  void average_swap() override {
    mark_host_copies(false);  // the hooks' copies of the parameters are the other model's now
    copy_model_state(average_scratch_, arena_, true);
    copy_model_state(average_, arena_, false);
    std::swap(average_, average_scratch_);
  }

  void average_to_model(bool parameters_only) override {
    mark_host_copies(false);
    if (parameters_only) {
      LTRT_CUDA_CHECK(cudaMemcpyAsync(arena_ + m_.params_offset, average_,
                                      static_cast<std::size_t>(m_.num_param_elements) * sizeof(float),
                                      cudaMemcpyDeviceToDevice, compute_));
      return;
    }
    copy_model_state(average_, arena_, false);
  }

  void average_read(std::byte* copy) override {
    LTRT_CUDA_CHECK(cudaMemcpyAsync(copy, average_, model_state_bytes(m_), cudaMemcpyDeviceToHost, compute_));
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
  }

  float loss() override {
    check_train_results("loss");
    LTRT_CUDA_CHECK(cudaEventSynchronize(train_loss_ready_));
    return *pinned_train_loss_;
  }

  void outputs(int n) override {
    check_train_results("outputs");
    if (n != train_rows_) throw Error("internal error: outputs of " + std::to_string(n) + " rows asked for a step of " +
                                      std::to_string(train_rows_));
    copy_output_down(m_.metric_output, n);
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
  }

  void evaluate(int n) override {
    train_rows_ = -1;  // the device's loss and output buffers are this batch's now
    stage_batch(n, nullptr);
    LTRT_CUDA_CHECK(cudaGraphLaunch(evaluation_graph(n), compute_));
    // auroc and average_precision objects rank the epoch's probabilities, the column sums' objects
    // add its float32 sums, pearson_corrcoef objects merge its moments, and spearman_corrcoef and
    // kendall_rank_corrcoef objects (and cosine_similarity's) keep its values, and
    // critical_success_index and exact_match objects count its events and samples, and weighted
    // cohen_kappa objects its confusion matrix: on the host (the stat scores are counted on the device).
    if (metrics_.any_scored() || metrics_.any_r2_object() || metrics_.any_moments_object() ||
        metrics_.any_values_object() || metrics_.any_success_object() || metrics_.any_exact_object() ||
        metrics_.any_confusion_object()) {
      copy_output_down(m_.metric_output, n);
      LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
      states_.add(metrics_, reinterpret_cast<const float*>(host_.data() + m_.metric_output.offset),
                  host_.data() + m_.target.offset, n, false);
    }
  }

  float eval_loss() override {
    LTRT_CUDA_CHECK(cudaMemcpyAsync(pinned_eval_loss_, arena_ + loss_offset_, sizeof(float), cudaMemcpyDeviceToHost,
                                    compute_));
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
    return *pinned_eval_loss_;
  }

  MetricStates take_eval_states() override {
    MetricStates states = std::exchange(states_, MetricStates{});
    if (metrics_.any_counted()) states.counts.stats = take_epoch_counts(ctx_, metrics_);
    return states;
  }

  EvalSums take_eval_sums() override {
    LTRT_CUDA_CHECK(cudaMemcpyAsync(pinned_sums_, eval_sums_, sizeof(EvalSums), cudaMemcpyDeviceToHost, compute_));
    LTRT_CUDA_CHECK(cudaMemsetAsync(eval_sums_, 0, sizeof(EvalSums), compute_));
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
    return *pinned_sums_;
  }

  void synchronize() override { LTRT_CUDA_CHECK(cudaDeviceSynchronize()); }  // torch.cuda.synchronize()

  void predict(int n) override {
    train_rows_ = -1;
    stage_batch(n, nullptr);
    LTRT_CUDA_CHECK(cudaGraphLaunch(predict_graph(n), compute_));
    copy_output_down(m_.output, n);
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
  }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

  // A graph that trains: the host arena's copies of the parameters and gradients are stale after it.
  void launch(cudaGraphExec_t graph) {
    mark_host_copies(false);
    LTRT_CUDA_CHECK(cudaGraphLaunch(graph, compute_));
  }

  void mark_host_copies(bool current) {
    host_params_current_.assign(static_cast<std::size_t>(m_.num_params), current);
    host_grads_current_.assign(static_cast<std::size_t>(m_.num_params), current);
  }

  // A training step's scalars (the optimizer's too when it steps), staged with its batch.
  void begin_step(const TrainStep& s, Generator& dropout, const Optimizer* stepping) {
    step_scalars_ = StepScalars{};
    unscaled_ = false;  // (also after a hook threw between unscale_gradients and step_optimizer)
    staged_loss_scale_ = s.loss_scale;
    // Lightning scales the loss divided by accumulate_grad_batches: d(loss) is scale / k, the same
    // float as (1 / k) * scale, the scale being a power of two.
    step_scalars_.loss_scale = grad_scaling_ ? s.loss_scale * scaler_.scale : s.loss_scale;
    step_scalars_.inv_scale = grad_scaling_ ? scaler_.inv_scale() : 1.0f;
    step_scalars_.found_inf = 0;
    step_scalars_.dropout_seed = dropout.next_u64();
    step_scalars_.batch_norm_momentum_none = batch_norm_momentum_none_ ? 1 : 0;
    if (stepping)
      set_optimizer_scalars(step_scalars_, m_.optimizer, groups_, stepping->lrs(), stepping->momentums(),
                            stepping->group_states(), next_steps(*stepping));
    stage_batch(s.n, &step_scalars_);
  }

  // The optimizer step just enqueued advances the optimizer's count (and NAdam's mu_product or ASGD's eta) on the
  // host at once, as the next step's scalars need it. Under "16-mixed" the step may turn out
  // skipped: what the count was before is kept, and found_inf is read back behind the step.
  void count_step(Optimizer& optimizer) {
    if (grad_scaling_) {
      counted_ = &optimizer;
      steps_before_ = optimizer.step_count();
      group_states_before_ = optimizer.group_states();
      LTRT_CUDA_CHECK(cudaMemcpyAsync(pinned_found_inf_, &scalars_->found_inf, sizeof(int), cudaMemcpyDeviceToHost,
                                      compute_));
      LTRT_CUDA_CHECK(cudaEventRecord(found_inf_ready_, compute_));
    }
    optimizer.count_device_step();
  }

  // GradScaler.update() for the last optimizer step, once its found_inf is back (waits for it): a
  // skipped step takes its count back and halves the scale. Before anything reads the scale or
  // the optimizer's count: the next step, a checkpoint.
  void settle_grad_scaler() {
    if (counted_ == nullptr) return;
    LTRT_CUDA_CHECK(cudaEventSynchronize(found_inf_ready_));
    const bool found_inf = *pinned_found_inf_ != 0;
    scaler_.update(found_inf);
    if (found_inf) {
      counted_->set_step_count(steps_before_);
      counted_->set_group_states(group_states_before_);
    }
    counted_ = nullptr;
  }

  // The training step's loss into pinned memory, behind the step on the compute stream.
  void read_back_train_loss() {
    LTRT_CUDA_CHECK(cudaMemcpyAsync(pinned_train_loss_, arena_ + loss_offset_, sizeof(float), cudaMemcpyDeviceToHost,
                                    compute_));
    LTRT_CUDA_CHECK(cudaEventRecord(train_loss_ready_, compute_));
  }

  void require_split_step() const {
    if (!m_.device_steps->training_forward || !m_.device_steps->training_backward)
      throw Error(std::string("model '") + m_.name +
                  "' has no CUDA training_forward and training_backward for hooks that run between them: "
                  "regenerate it with ltgen");
  }

  // DDP: the gradients averaged across the ranks, on the compute stream (before any unscaling and
  // clipping, as DistributedDataParallel's hooks run inside the backward).
  void average_gradients() {
    ddp_->average(reinterpret_cast<float*>(arena_ + m_.grads_offset), trainable_elements(m_), compute_);
  }

  // Clipping (clip_val > 0) and the optimizer step over the flat regions, enqueued on the compute stream.
  // The optimizer's active groups only (a BackboneFinetuning's before it joins is left out).
  void enqueue_clip_and_step(double clip_val, bool clip_by_value, bool unscale) {
    float* grad = reinterpret_cast<float*>(arena_ + m_.grads_offset);
    if (unscale) ltrt::cuda::unscale_gradients(ctx_, grad, active_elements(), scalars_);  // before clipping, as Lightning
    if (clip_val > 0)
      clip_gradients(ctx_, grad, active_elements(), static_cast<float>(clip_val), clip_by_value, clip_scratch_);
    const std::vector<ParamGroupDef> active(groups_.begin(), groups_.begin() + active_groups_);
    optimizer_step(ctx_, m_.optimizer, active, reinterpret_cast<float*>(arena_ + m_.params_offset), grad,
                   reinterpret_cast<float*>(arena_ + m_.slots_offset), m_.num_param_elements);
  }

  // The flat regions' elements of the optimizer's active groups.
  std::int64_t active_elements() const { return group_elements(groups_, active_groups_); }

  // Each group's state["step"] after the next step (no allocation: every training step asks).
  static std::array<std::int64_t, kMaxParamGroups> next_steps(const Optimizer& optimizer) {
    std::array<std::int64_t, kMaxParamGroups> steps{};
    for (int g = 0; g < optimizer.num_groups() && g < kMaxParamGroups; ++g) steps[g] = optimizer.group_step_count(g) + 1;
    return steps;
  }

  // The model's parameters and state between the device arena and a copy in model_state_bytes'
  // layout (to_copy: arena -> copy), on the compute stream.
  void copy_model_state(std::byte* copy, std::byte* arena, bool to_copy) {
    auto move = [&](std::byte* in_copy, std::byte* in_arena, std::size_t bytes) {
      if (bytes == 0) return;
      LTRT_CUDA_CHECK(cudaMemcpyAsync(to_copy ? in_copy : in_arena, to_copy ? in_arena : in_copy, bytes,
                                      cudaMemcpyDeviceToDevice, compute_));
    };
    move(copy, arena + m_.params_offset, static_cast<std::size_t>(m_.num_param_elements) * sizeof(float));
    for_each_state_offset(m_, [&](int, const TensorRef& t, std::size_t offset) {
      move(copy + offset, arena + t.offset, static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype));
    });
  }

  void copy_down(std::size_t offset, std::size_t bytes) {
    if (bytes == 0) return;
    LTRT_CUDA_CHECK(cudaMemcpyAsync(host_.data() + offset, arena_ + offset, bytes, cudaMemcpyDeviceToHost, compute_));
  }

  std::size_t trainable_bytes() const { return static_cast<std::size_t>(trainable_elements(m_)) * sizeof(float); }

  // The trainable part of the flat region at `offset` (parameters or gradients) into the host arena,
  // after the queued work, waiting for the copy.
  void trainable_region_down(std::size_t offset) {
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
    copy_down(offset, trainable_bytes());
    LTRT_CUDA_CHECK(cudaStreamSynchronize(compute_));
  }

  // n rows of `output` (the model's, predict's) or of metric_output (the metrics').
  void copy_output_down(const TensorRef& output, int n) {
    copy_down(output.offset, row_bytes(output) * static_cast<std::size_t>(n));
  }

  void check_train_results(const char* what) const {
    if (train_rows_ < 0)
      throw Error(std::string("internal error: the last training step's ") + what +
                  " were asked for after an evaluation overwrote them");
  }

  // The batch the data loader wrote into the host arena (and a training step's scalars) travel
  // through staging buffer k (two, used in turn): into pinned buffer k on the host, to device
  // buffer k on the copy stream (while the previous step computes), then into the arena's batch
  // buffers on the compute stream, just before the step. The host waits only for pinned buffer
  // k's last copy, two batches ago.
  void stage_batch(int n, const StepScalars* scalars) {
    const int k = next_staging_;
    next_staging_ ^= 1;
    const std::size_t slot = static_cast<std::size_t>(k) * staging_bytes_;
    std::byte* pinned = static_cast<std::byte*>(pinned_) + slot;
    std::byte* device = device_staging_ + slot;
    const auto rows_bytes = [n](const TensorRef& t) { return row_bytes(t) * static_cast<std::size_t>(n); };

    LTRT_CUDA_CHECK(cudaEventSynchronize(staged_[k]));  // pinned buffer k is free again
    for (std::size_t b = 0; b < batch_buffers_.size(); ++b)
      std::memcpy(pinned + staged_at_[b], host_.data() + batch_buffers_[b].offset, rows_bytes(batch_buffers_[b]));
    if (scalars) std::memcpy(pinned + scalars_staged_at_, scalars, sizeof(StepScalars));
    const std::size_t bytes =
        scalars ? scalars_staged_at_ + sizeof(StepScalars) : staged_at_.back() + rows_bytes(batch_buffers_.back());

    LTRT_CUDA_CHECK(cudaStreamWaitEvent(copy_, slot_free_[k], 0));  // device buffer k was read
    LTRT_CUDA_CHECK(cudaMemcpyAsync(device, pinned, bytes, cudaMemcpyHostToDevice, copy_));
    LTRT_CUDA_CHECK(cudaEventRecord(staged_[k], copy_));

    LTRT_CUDA_CHECK(cudaStreamWaitEvent(compute_, staged_[k], 0));
    for (std::size_t b = 0; b < batch_buffers_.size(); ++b)
      LTRT_CUDA_CHECK(cudaMemcpyAsync(arena_ + batch_buffers_[b].offset, device + staged_at_[b],
                                      rows_bytes(batch_buffers_[b]), cudaMemcpyDeviceToDevice, compute_));
    if (scalars)
      LTRT_CUDA_CHECK(cudaMemcpyAsync(scalars_, device + scalars_staged_at_, sizeof(StepScalars),
                                      cudaMemcpyDeviceToDevice, compute_));
    LTRT_CUDA_CHECK(cudaEventRecord(slot_free_[k], compute_));
  }

  // Everything `enqueue` puts on the compute stream, captured as one graph.
  template <class Enqueue>
  cudaGraphExec_t capture(Enqueue&& enqueue) {
    LTRT_CUDA_CHECK(cudaStreamBeginCapture(compute_, cudaStreamCaptureModeThreadLocal));
    try {
      enqueue();
    } catch (...) {
      cudaGraph_t broken = nullptr;
      report(cudaStreamEndCapture(compute_, &broken), "cudaStreamEndCapture");
      if (broken) report(cudaGraphDestroy(broken), "cudaGraphDestroy");
      throw;
    }
    cudaGraph_t graph = nullptr;
    LTRT_CUDA_CHECK(cudaStreamEndCapture(compute_, &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
    report(cudaGraphDestroy(graph), "cudaGraphDestroy");
    LTRT_CUDA_CHECK(instantiated);
    return exec;
  }

  // The graph of a training step with this shape: captured at its first use, then replayed.
  cudaGraphExec_t training_graph(const TrainStep& s) {
    const auto key =
        std::make_tuple(s.n, s.accumulate, s.sync_gradients, s.optimizer_step, s.clip_val, s.clip_by_value, active_groups_);
    auto it = graphs_.find(key);
    if (it != graphs_.end()) return it->second;
    return graphs_[key] = capture([&] {
      m_.device_steps->training_step(arena_, s.n, s.accumulate, ctx_);
      if (s.sync_gradients) average_gradients();
      if (s.optimizer_step) enqueue_clip_and_step(s.clip_val, s.clip_by_value, grad_scaling_);
    });
  }

  // The graph of an evaluation batch of n rows: eval-mode forward and loss, then its metrics
  // added to the running sums.
  cudaGraphExec_t evaluation_graph(int n) {
    auto it = eval_graphs_.find(n);
    if (it != eval_graphs_.end()) return it->second;
    return eval_graphs_[n] = capture([&] {
      m_.device_steps->evaluation_step(arena_, n, ctx_);
      add_eval_metrics(ctx_, eval_sums_, reinterpret_cast<const float*>(arena_ + loss_offset_),
                       reinterpret_cast<const float*>(arena_ + m_.metric_output.offset), arena_ + m_.target.offset, metrics_,
                       n);
    });
  }

  // The graph of a predict batch of n rows: eval-mode forward into the output buffer.
  cudaGraphExec_t predict_graph(int n) {
    auto it = predict_graphs_.find(n);
    if (it != predict_graphs_.end()) return it->second;
    return predict_graphs_[n] = capture([&] { m_.device_steps->predict_step(arena_, n, ctx_); });
  }

  const ModelDef& m_;
  const std::vector<ParamGroupDef> groups_;  // the optimizer's parameter groups
  Arena& host_;
  int device_;
  MetricsShape metrics_;
  std::unique_ptr<DeviceGroup> ddp_;  // DDP's ranks (NCCL); a group of one does nothing
  std::string name_;
  std::size_t loss_offset_ = kNone;
  const bool grad_scaling_;      // "16-mixed": the GradScaler's loss scaling
  bool unscaled_ = false;        // unscale_gradients ran after the last backward (hooks inside the step)
  GradScaler scaler_;
  Optimizer* counted_ = nullptr;  // the optimizer whose last step's found_inf is not settled yet
  std::int64_t steps_before_ = 0;
  std::vector<float> group_states_before_;
  int* pinned_found_inf_ = nullptr;
  cudaEvent_t found_inf_ready_ = nullptr;
  void* block_ = nullptr;
  std::byte* arena_ = nullptr;
  bool batch_norm_momentum_none_ = false;  // set_batch_norm_momentum_none
  // WeightAveraging's averaged model (average_reset), and the room a swap writes the model into.
  AveragingRule average_rule_;
  void* average_block_ = nullptr;
  std::byte* average_ = nullptr;
  std::byte* average_scratch_ = nullptr;
  StepScalars* scalars_ = nullptr;
  void* clip_scratch_ = nullptr;
  EvalSums* eval_sums_ = nullptr;
  MetricStates states_;  // the Metric objects' states of the evaluation so far, but the stat scores
  std::byte* device_staging_ = nullptr;
  void* workspace_ = nullptr;
  cudaStream_t compute_ = nullptr, copy_ = nullptr;
  cublasLtHandle_t blas_ = nullptr;
  cudaEvent_t train_loss_ready_ = nullptr;
  cudaEvent_t staged_[2] = {nullptr, nullptr};     // pinned buffer k's copy to the device is done
  cudaEvent_t slot_free_[2] = {nullptr, nullptr};  // device buffer k has been read into the arena
  Context ctx_{};
  void* pinned_ = nullptr;
  EvalSums* pinned_sums_ = nullptr;
  float* pinned_train_loss_ = nullptr;
  float* pinned_eval_loss_ = nullptr;
  StepScalars* pinned_scalars_ = nullptr;  // step_optimizer's copy of step_scalars_ to the device
  cudaEvent_t scalars_sent_ = nullptr;     // ... has been made
  StepScalars step_scalars_{};             // the current training step's scalars, as the device has them
  float staged_loss_scale_ = 0;            // ... made from this TrainStep::loss_scale
  // Whether each parameter's values and gradient in the host arena are the device's (for hooks).
  std::vector<bool> host_params_current_, host_grads_current_;
  int train_rows_ = -1;  // rows of the last training step; -1 once an evaluation has overwritten its results
  // The batch's buffers as they travel (the inputs, then the target), where each lies in a
  // staging buffer, and where the step's scalars do.
  std::vector<TensorRef> batch_buffers_;
  std::vector<std::size_t> staged_at_;
  std::size_t scalars_staged_at_ = 0, staging_bytes_ = 0;
  int next_staging_ = 0;
  std::map<std::tuple<int, bool, bool, bool, double, bool, int>, cudaGraphExec_t> graphs_;
  std::map<int, cudaGraphExec_t> eval_graphs_;
  std::map<int, cudaGraphExec_t> predict_graphs_;
  std::map<int, cudaGraphExec_t> forward_graphs_;                      // the step in pieces, for hooks
  std::map<std::tuple<int, bool, bool>, cudaGraphExec_t> backward_graphs_;  // ...
  std::map<std::tuple<double, bool, bool, int>, cudaGraphExec_t> optimizer_graphs_;  // ...
  int active_groups_ = 1;  // the optimizer's groups in the step now (TrainStep::active_groups)
};

}  // namespace

int device_count(std::string& why) {
  // The first call into CUDA, before it reads the environment: load every kernel when the context
  // is made, unless the user chose otherwise. Kernels are first launched inside a graph capture,
  // and drivers before CUDA 12.3 may refuse to load a kernel lazily there.
  setenv("CUDA_MODULE_LOADING", "EAGER", /*overwrite=*/0);
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    why = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
    cudaGetLastError();  // the status was taken into `why`; clear it so that later calls start clean
    return 0;
  }
  if (count == 0) why = "no CUDA device";
  return count;
}

std::unique_ptr<Backend> make_backend(const ModelDef& model, Arena& host, int device, bool grad_scaling,
                                      const ProcessGroup& group) {
  if (model.device_steps == nullptr)
    throw Error(std::string("model '") + model.name + "' has no CUDA steps; regenerate it with trainer.accelerator \"gpu\" or \"auto\"");
  std::unique_ptr<CudaBackend> backend;
  group.agree_on_failure([&] { backend = std::make_unique<CudaBackend>(model, host, device, grad_scaling); });
  try {
    backend->join(group);
  } catch (const AgreedError&) {
    throw;
  } catch (const std::exception& e) {
    // NCCL's start or its first collective failed here, and other ranks may be waiting inside NCCL,
    // where no agreement reaches them: this rank ends the launch.
    throw RankFatal(e.what());
  }
  return backend;
}

}  // namespace ltrt::cuda
