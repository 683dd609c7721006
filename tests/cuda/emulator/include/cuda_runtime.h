// The CUDA emulator's stand-in for the toolkit's cuda_runtime.h: the subset of the CUDA runtime
// API and of the device language that ltgen's generated programs and runtime use, executed on
// the CPU so that CUDA code is run and checked on machines without a GPU.
//
// What it models, and checks where real CUDA would fail (see ../README.md):
//  - kernels: every thread of a block is a fiber; __syncthreads and warp shuffles are barriers
//    between them, so shared-memory reductions run as they do on a GPU. Launch configurations
//    are checked (no empty grid, at most 1024 threads a block, grid y and z at most 65535, dynamic
//    shared memory within 48 KB or the kernel's cudaFuncAttributeMaxDynamicSharedMemorySize). Blocks, and threads between
//    barriers, run in the order of the schedule (set_schedule): forward, reverse or shuffled.
//  - memory: device allocations are unreadable from host code (mprotect), so host code that
//    dereferences a device pointer crashes here as it would there. Kernel pointer arguments
//    must point into device or pinned memory.
//  - streams run lazily: work waits in its stream until something synchronises with it
//    (cudaStreamSynchronize, an event the host or another stream waits for). A missing wait
//    shows as stale data here, as a race would on the GPU.
//  - graph capture records what is enqueued with the arguments of that moment and replays it;
//    calls that capture forbids (synchronising the capturing stream, pageable copies, waiting
//    on an event from outside the capture, allocating) fail as they do in CUDA.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

// Code that must know it runs here rather than on a GPU (ltrt/cuda/mma.cuh: no PTX) tests this.
#define LTGEN_CUDA_EMULATOR 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Blocks run one at a time, so a block's shared memory is a static variable.
#define __shared__ static

// CUDA's vector types that kernels use for 8- and 16-byte loads and stores, with their alignment.
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoKernelImageForDevice = 209,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalAddress = 700,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureIsolation = 904,
  cudaErrorStreamCaptureUnjoined = 905,
  cudaErrorStreamCaptureWrongThread = 908,
};

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};

enum cudaDeviceAttr {
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

struct cudaFuncAttributes {
  std::size_t sharedSizeBytes;
  int maxThreadsPerBlock;
  int numRegs;
  int maxDynamicSharedSizeBytes;
};

enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00

struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  int major, minor;
  int multiProcessorCount;
  int warpSize;
  int maxThreadsPerBlock;
  std::size_t sharedMemPerBlock;       // 48 KB: a block's shared memory without opting in
  std::size_t sharedMemPerBlockOptin;  // 227 KB on H100 and H200: with cudaFuncAttributeMaxDynamicSharedMemorySize
};

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
// cudaDevAttrMaxSharedMemoryPerBlockOptin only.
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t error);
const char* cudaGetErrorString(cudaError_t error);

cudaError_t cudaMalloc(void** ptr, std::size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** ptr, std::size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
// The device's memory: ltgen_emu::device_memory_bytes() in all, less what cudaMalloc holds.
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes);
cudaError_t cudaHostAlloc(void** ptr, std::size_t bytes, unsigned flags);
cudaError_t cudaMallocHost(void** ptr, std::size_t bytes);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
// A __device__ variable is a plain global here (see the README): its bytes are copied as they are.
template <class T>
cudaError_t cudaMemcpyFromSymbol(void* dst, const T& symbol, std::size_t bytes, std::size_t offset = 0,
                                 cudaMemcpyKind kind = cudaMemcpyDeviceToHost) {
  if (kind != cudaMemcpyDeviceToHost || offset + bytes > sizeof(T)) return cudaErrorInvalidValue;
  __builtin_memcpy(dst, reinterpret_cast<const char*>(&symbol) + offset, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* dst, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);

namespace ltgen_emu {

// The thread a kernel's code runs as (a fiber of the block being run).
struct ThreadState {
  uint3 idx;
  unsigned linear;  // threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)
};
extern ThreadState* current_thread;
extern uint3 block_idx;
extern dim3 block_dim, grid_dim;

// Prints "ltgen CUDA emulator: <what>" and aborts: for what would hang or corrupt a GPU.
[[noreturn]] void fatal(const char* what);

// Barriers of the running block: every thread that has not returned must arrive.
void sync_block();
void sync_warp();
// __syncthreads_or / _count: the barrier, then whether any thread of the block passed a non-zero
// value / how many did.
int sync_block_or(int predicate);
int sync_block_count(int predicate);
// Lane `lane`'s value of the running warp, exchanged through the block's shuffle slots.
std::uint64_t shuffle(std::uint64_t mine, int src_lane, int width);
int lane_id();
// A warp-collective exchange (what mma.sync does with its fragments): every lane publishes `bytes`
// of its own (at most kWarpGatherBytes); warp_publish returns when all 32 have, with the warp's
// slots (lane l's kWarpGatherBytes * l bytes past the returned pointer). They stay as they are
// until the lane's next warp_publish: publishes alternate between two sets of slots, and the next
// one's barrier waits for every lane, so each must read its slots before it publishes again. Like
// mma.sync.aligned it needs the whole warp: a warp of fewer than 32 threads is fatal, and one whose
// lanes have returned is a deadlock (fatal).
constexpr std::size_t kWarpGatherBytes = 64;
const std::byte* warp_publish(const void* mine, std::size_t bytes);

// Work enqueued on a stream (a kernel launch, a copy, a cuBLASLt call): run when the stream
// is synchronised, or recorded when the stream is being captured.
cudaError_t enqueue(cudaStream_t stream, std::function<void()> work, const char* what);
// A collective (an emulated NCCL call, src/nccl.cpp), which every rank's process must run in the
// same order: enqueued as above, then run at once with everything before it on every stream, not
// lazily (ranks whose lazy streams ran at different host calls would wait for each other in
// different collectives). Captured, it marks the graph, whose every launch then runs at once too,
// and the graph and its executables keep `hold` until they are destroyed (NCCL counts the graphs
// that captured a communicator's collectives, and its teardown waits for them).
cudaError_t enqueue_collective(cudaStream_t stream, std::function<void()> work, const char* what,
                               std::shared_ptr<const void> hold = nullptr);
// Runs `thread_body` for every thread of the grid; blocks one after another.
void run_grid(dim3 grid, dim3 block, std::size_t dynamic_shared_bytes, const std::function<void()>& thread_body);
// The schedule: the order of a launch's blocks, and of a block's threads between barriers.
// "forward" (blockIdx and threadIdx ascending, the default), "reverse" (descending), or
// "shuffle:SEED" (a seeded random order, drawn anew for every launch and between barriers).
// LTGEN_CUDA_EMULATOR_ORDER sets it for a whole program; an unknown name is fatal. A GPU keeps
// no order, so a result that differs between schedules has a race.
void set_schedule(const char* order);
// An emulated mma element's sum of c and n exact products (n <= 16): "nearest" (the default) or
// "truncate", tensor cores' measured behaviour (src/tensor_core_sum.cpp); LTGEN_CUDA_EMULATOR_MMA
// sets it for a whole program, set_tensor_core_sum for a test.
float tensor_core_sum(float c, const float* products, int n);
void set_tensor_core_sum(const char* name);
// Kernel arguments that are pointers must point into device or pinned memory (or be null).
bool device_visible(const void* p);
void set_last_error(cudaError_t error, const char* what);
bool is_device_pointer(const void* p);
// Static shared memory (`__shared__ T name[N];`, a static array here, which would keep what the
// block before left, or zeros): rewrite_launches.py follows each declaration with this call, and
// the block's first thread to reach it fills the array with NaNs, as a GPU promises nothing of it.
void poison_static_shared(void* array, std::size_t bytes);
// Dynamic shared memory (`extern __shared__ T name[];`, which rewrite_launches.py turns into a
// call of dynamic_shared_memory()). A kernel may have 48 KB of it, or up to its
// cudaFuncAttributeMaxDynamicSharedMemorySize (at most the device's opt-in 227 KB).
constexpr std::size_t kDefaultSharedBytes = 48 * 1024;
constexpr std::size_t kOptinSharedBytes = 227 * 1024;
// The device's memory (totalGlobalMem): 4 GiB, or LTGEN_CUDA_EMULATOR_DEVICE_MEMORY=BYTES (a GPU
// too small for a program). cudaMalloc past it fails with cudaErrorMemoryAllocation.
std::size_t device_memory_bytes();
// The device's opt-in limit: kOptinSharedBytes, or less with LTGEN_CUDA_EMULATOR_SHARED_OPTIN=BYTES
// (a smaller GPU: 99 KB on sm_86 and sm_89, 64 KB on sm_75).
std::size_t optin_shared_bytes();
// cudaFuncGetAttributes: with LTGEN_CUDA_EMULATOR_NO_KERNEL_IMAGE=1, a GPU that none of the
// program's compiled architectures runs on (cudaErrorNoKernelImageForDevice).
cudaError_t func_attributes(cudaFuncAttributes* attributes, const void* kernel);
cudaError_t set_max_dynamic_shared(const void* kernel, int bytes);
std::size_t max_dynamic_shared(const void* kernel);
// The running block's dynamic shared memory: the launch's bytes, 16-byte aligned, ending at an
// unmapped page (an access past them crashes) and filled with NaN bytes before each block (as on
// a GPU, nothing carries over that a kernel may count on). Fatal outside a kernel.
void* dynamic_shared_memory();

struct LaunchConfig {
  dim3 grid, block;
  std::size_t shared_bytes;
  cudaStream_t stream;
  LaunchConfig(dim3 g, dim3 b, std::size_t s = 0, cudaStream_t st = nullptr)
      : grid(g), block(b), shared_bytes(s), stream(st) {}
};

template <class... Params>
struct Launch {
  LaunchConfig config;
  void (*kernel)(Params...);
  const char* name;

  template <class... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(Params), "a kernel launch with the wrong number of arguments");
    // Arguments are converted and copied now, as a launch (and a graph capture) does.
    std::tuple<std::decay_t<Params>...> values(static_cast<Params>(std::forward<Args>(args))...);
    if (config.grid.x == 0 || config.grid.y == 0 || config.grid.z == 0 || config.block.x == 0 ||
        config.block.y == 0 || config.block.z == 0 || config.block.x * config.block.y * config.block.z > 1024 ||
        config.grid.y > 65535 || config.grid.z > 65535 || config.block.z > 64) {  // CUDA's grid and block limits
      set_last_error(cudaErrorInvalidConfiguration, name);
      return;
    }
    if (config.shared_bytes > max_dynamic_shared(reinterpret_cast<const void*>(kernel))) {
      set_last_error(cudaErrorInvalidValue, name);  // CUDA: "invalid argument"
      return;
    }
    bool visible = true;
    std::apply([&](const auto&... v) { ((visible = visible && pointer_ok(v)), ...); }, values);
    if (!visible) {
      set_last_error(cudaErrorInvalidDevicePointer, name);
      return;
    }
    const auto k = kernel;
    const LaunchConfig c = config;
    const cudaError_t status = enqueue(
        config.stream, [k, c, values] { run_grid(c.grid, c.block, c.shared_bytes, [&] { std::apply(k, values); }); }, name);
    if (status != cudaSuccess) set_last_error(status, name);
  }

  template <class T>
  static bool pointer_ok(const T& v) {
    if constexpr (std::is_pointer_v<T>)
      return v == nullptr || device_visible(static_cast<const void*>(v));
    else
      return true;
  }
};

template <class... Params>
Launch<Params...> launch(LaunchConfig config, void (*kernel)(Params...), const char* name) {
  return Launch<Params...>{config, kernel, name};
}

}  // namespace ltgen_emu

// Sets what a kernel may have of dynamic shared memory; CUDA requires it before a launch with more
// than 48 KB. Refused (as the emulator cannot know whether CUDA allows it) during a graph capture.
template <class T>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, T* kernel) {
  return ltgen_emu::func_attributes(attributes, reinterpret_cast<const void*>(kernel));
}

template <class T>
cudaError_t cudaFuncSetAttribute(T* kernel, cudaFuncAttribute attribute, int value) {
  if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaErrorInvalidValue;
  return ltgen_emu::set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), value);
}

#define threadIdx (::ltgen_emu::current_thread->idx)
#define blockIdx (::ltgen_emu::block_idx)
#define blockDim (::ltgen_emu::block_dim)
#define gridDim (::ltgen_emu::grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { ltgen_emu::sync_block(); }
inline int __syncthreads_or(int predicate) { return ltgen_emu::sync_block_or(predicate); }
inline int __syncthreads_count(int predicate) { return ltgen_emu::sync_block_count(predicate); }
inline void __syncwarp(unsigned = 0xffffffffu) { ltgen_emu::sync_warp(); }

template <class T>
T ltgen_emu_shuffle(T v, int src_lane, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffles move values of up to 8 bytes");
  std::uint64_t bits = 0;
  __builtin_memcpy(&bits, &v, sizeof(T));
  bits = ltgen_emu::shuffle(bits, src_lane, width);
  T out;
  __builtin_memcpy(&out, &bits, sizeof(T));
  return out;
}
template <class T>
T __shfl_sync(unsigned, T v, int src_lane, int width = 32) {
  return ltgen_emu_shuffle(v, src_lane, width);
}
template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = 32) {
  return ltgen_emu_shuffle(v, (ltgen_emu::lane_id() % width) ^ lane_mask, width);
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = ltgen_emu::lane_id() % width;
  return ltgen_emu_shuffle(v, lane + static_cast<int>(delta) < width ? lane + static_cast<int>(delta) : lane, width);
}
template <class T>
T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = ltgen_emu::lane_id() % width;
  return ltgen_emu_shuffle(v, lane >= static_cast<int>(delta) ? lane - static_cast<int>(delta) : lane, width);
}

// Fibers switch only at barriers, so read-modify-write needs no atomic instruction here.
template <class T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
template <class T>
T atomicMax(T* address, T value) {
  const T old = *address;
  *address = old < value ? value : old;
  return old;
}
template <class T>
T __ldg(const T* p) {
  return *p;
}

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __int_as_float(int x) {
  float f;
  __builtin_memcpy(&f, &x, sizeof f);
  return f;
}
inline int __float_as_int(float x) {
  int i;
  __builtin_memcpy(&i, &x, sizeof i);
  return i;
}
