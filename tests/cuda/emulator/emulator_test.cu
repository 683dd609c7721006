// The CUDA emulator against what CUDA does: barriers and shuffles order threads, a missing
// barrier shows, a race between threads or blocks changes the result with the schedule while a
// correct reduction keeps its bits, streams run lazily (a missing synchronisation shows), graph
// capture keeps launch arguments and refuses what CUDA refuses, host code cannot read device
// memory, cuBLASLt's matmul follows its column-major contract, and the tensor-core mma of
// ltrt/cuda/mma.cuh follows PTX's fragment layouts and TF32 rounding (the checks of
// ../mma_checks.cuh, which mma_check.cu runs on a GPU). Written as CUDA source, so the launch
// rewrite (rewrite_launches.py) is tested too.
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mma_checks.cuh"  // rewritten for the emulator beside this file (CMakeLists.txt)

namespace {

constexpr int kBlock = 256;

// Block b sums in[b * n, (b + 1) * n) into out[b].
__global__ void block_sum(float* out, const float* in, int n) {
  __shared__ float partial[kBlock];
  in += static_cast<std::size_t>(blockIdx.x) * n;
  float mine = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) mine += in[i];
  partial[threadIdx.x] = mine;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
}

// The same reduction without its barriers: thread 0 reads its neighbours' slots before they
// are written, as it may on a GPU.
__global__ void racy_block_sum(float* out, const float* in, int n) {
  __shared__ float partial[kBlock];
  float mine = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) mine += in[i];
  partial[threadIdx.x] = mine;
  for (int s = blockDim.x / 2; s > 0; s /= 2)
    if (static_cast<int>(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
  if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
}

// Each thread reads its right neighbour's slot of shared memory: after a barrier (a stencil),
// and without one (a race: the neighbour may not have written it yet).
__global__ void neighbour(float* out, const float* in) {
  __shared__ float slot[kBlock];
  slot[threadIdx.x] = in[threadIdx.x];
  __syncthreads();
  out[threadIdx.x] = slot[(threadIdx.x + 1) % blockDim.x];
}
__global__ void racy_neighbour(float* out, const float* in) {
  __shared__ float slot[kBlock];
  slot[threadIdx.x] = in[threadIdx.x];
  out[threadIdx.x] = slot[(threadIdx.x + 1) % blockDim.x];
}

// A running sum across blocks in one launch: block b reads what block b - 1 wrote. Blocks run in
// no order (or at once) on a GPU, so this is a race.
__global__ void racy_block_prefix(float* out, const float* in) {
  if (threadIdx.x == 0) out[blockIdx.x] = in[blockIdx.x] + (blockIdx.x > 0 ? out[blockIdx.x - 1] : 0.0f);
}

__global__ void warp_sum(float* out, const float* in) {
  float v = in[threadIdx.x];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  out[threadIdx.x] = v;  // every lane holds its warp's sum
}

__global__ void vote_or(int* out, int voter) {
  out[threadIdx.x] = __syncthreads_or(static_cast<int>(threadIdx.x) == voter);
}

// Threads below `yes` vote 1 in the second vote; the first vote (everyone) must not linger.
__global__ void vote_count(int* out, int yes) {
  out[threadIdx.x] = __syncthreads_count(1) * 1000;
  out[threadIdx.x] += __syncthreads_count(static_cast<int>(threadIdx.x) < yes ? 7 : 0);
}

__global__ void divergent_barrier(float* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void fill(float* out, float value, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = value;
}

__global__ void index_grid(int* out) {
  const int block = blockIdx.x + gridDim.x * blockIdx.y;
  const int thread = threadIdx.x + blockDim.x * threadIdx.y;
  out[block * blockDim.x * blockDim.y + thread] = block * 1000 + thread;
}

// Block b reverses in[b * n, (b + 1) * n) into out through dynamic shared memory of n floats (the
// launch's third parameter).
__global__ void reverse_in_dynamic_shared(float* out, const float* in, int n) {
  extern __shared__ __align__(16) float staged[];
  in += static_cast<std::size_t>(blockIdx.x) * n;
  out += static_cast<std::size_t>(blockIdx.x) * n;
  for (int i = threadIdx.x; i < n; i += blockDim.x) staged[i] = in[i];
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = staged[n - 1 - i];
}

// Reads the first float of dynamic shared memory that no thread wrote.
__global__ void read_unwritten_dynamic_shared(float* out) {
  extern __shared__ float unwritten[];
  out[0] = unwritten[0];
}

// An mma (warp-collective) where the warp is not whole: a block of 16 threads, or a lane that
// returned before it.
__global__ void mma_in_warp_of(float* out, int lanes_that_stay) {
  if (static_cast<int>(threadIdx.x) >= lanes_that_stay) return;
  const std::uint32_t a[4] = {}, b[2] = {};
  float d[4];
  const float c[4] = {};
  ltrt::cuda::mma_tf32_16x8x8(d, a, b, c);
  out[threadIdx.x] = d[0];
}

template <class T>
T* device_alloc(std::size_t n) {
  T* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, n * sizeof(T)), cudaSuccess);
  return p;
}

std::vector<float> download(const float* d, std::size_t n) {
  std::vector<float> h(n);
  EXPECT_EQ(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
}

// The schedules that the tests compare: each an order that a GPU may run blocks and threads in.
const char* const kSchedules[] = {"forward", "reverse", "shuffle:1", "shuffle:2"};

// Sets the emulator's schedule for one test, and the default (forward) again after it.
class Schedule {
 public:
  explicit Schedule(const char* order) { ltgen_emu::set_schedule(order); }
  ~Schedule() { ltgen_emu::set_schedule("forward"); }
  Schedule(const Schedule&) = delete;
  Schedule& operator=(const Schedule&) = delete;
};

// The bits of `values`: float == would call -0 and 0 equal and NaN unequal to itself.
std::vector<std::uint32_t> bits(const std::vector<float>& values) {
  std::vector<std::uint32_t> b(values.size());
  std::memcpy(b.data(), values.data(), values.size() * sizeof(float));
  return b;
}

TEST(Emulator, SharedMemoryReductionNeedsItsBarriers) {
  const Schedule forward("forward");  // in reverse, the racy sum happens to be right
  const int n = 1000;
  std::vector<float> host(n);
  for (int i = 0; i < n; ++i) host[i] = static_cast<float>(i % 7);
  float* in = device_alloc<float>(n);
  float* out = device_alloc<float>(2);
  ASSERT_EQ(cudaMemcpy(in, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  block_sum<<<1, kBlock>>>(out, in, n);
  racy_block_sum<<<1, kBlock>>>(out + 1, in, n);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<float> sums = download(out, 2);
  float want = 0.0f;
  for (float v : host) want += v;
  EXPECT_FLOAT_EQ(sums[0], want);
  EXPECT_NE(sums[1], want) << "a reduction without __syncthreads must not add up here";
  cudaFree(in);
  cudaFree(out);
}

// A thread that reads another's shared-memory slot without a barrier between the write and the
// read gets what the schedule gives it: a fresh value where the other thread ran first, and a
// stale one where it did not. The orders disagree on which threads read fresh values.
TEST(Emulator, MissingBarrierDependsOnTheSchedule) {
  float* in = device_alloc<float>(kBlock);
  float* out = device_alloc<float>(kBlock);
  std::vector<bool> fresh_forward;
  float base = 0.0f;  // new inputs for each launch, so no stale slot holds a fresh value
  for (const char* order : kSchedules) {
    const Schedule schedule(order);
    std::vector<float> host(kBlock), want(kBlock);
    for (int i = 0; i < kBlock; ++i) host[i] = base + static_cast<float>(i + 1);
    for (int i = 0; i < kBlock; ++i) want[i] = host[(i + 1) % kBlock];
    base += 1000.0f;
    ASSERT_EQ(cudaMemcpy(in, host.data(), sizeof(float) * kBlock, cudaMemcpyHostToDevice), cudaSuccess);
    neighbour<<<1, kBlock>>>(out, in);
    EXPECT_EQ(download(out, kBlock), want) << order;
    racy_neighbour<<<1, kBlock>>>(out, in);
    const std::vector<float> racy = download(out, kBlock);
    std::vector<bool> fresh(kBlock);
    for (int i = 0; i < kBlock; ++i) fresh[i] = racy[i] == want[i];
    if (fresh_forward.empty()) {
      fresh_forward = fresh;
      EXPECT_FALSE(fresh[0]) << "forward runs thread 0 before thread 1 writes its slot";
    } else {
      EXPECT_NE(fresh, fresh_forward) << "without its barrier, " << order
                                      << " must give fresh values to other threads than forward";
    }
  }
  cudaFree(in);
  cudaFree(out);
}

// A block that reads what another block of the same launch writes gets what the block order
// gives it: the orders disagree.
TEST(Emulator, BlockReadingAnotherBlocksOutputDependsOnTheSchedule) {
  const int blocks = 16;
  std::vector<float> host(blocks);
  for (int i = 0; i < blocks; ++i) host[i] = static_cast<float>(i + 1);
  float* in = device_alloc<float>(blocks);
  float* out = device_alloc<float>(blocks);
  ASSERT_EQ(cudaMemcpy(in, host.data(), sizeof(float) * blocks, cudaMemcpyHostToDevice), cudaSuccess);
  std::vector<float> forward;
  for (const char* order : kSchedules) {
    const Schedule schedule(order);
    ASSERT_EQ(cudaMemset(out, 0, sizeof(float) * blocks), cudaSuccess);
    racy_block_prefix<<<blocks, 32>>>(out, in);
    const std::vector<float> got = download(out, blocks);
    if (forward.empty())
      forward = got;
    else
      EXPECT_NE(got, forward) << order << " must run the blocks in another order than forward";
  }
  EXPECT_EQ(forward[blocks - 1], blocks * (blocks + 1) / 2.0f) << "forward runs block b - 1 before block b";
  cudaFree(in);
  cudaFree(out);
}

// A reduction with its barriers, over shared memory across blocks and then over warp shuffles,
// gives the same bits under every schedule: what ltgen's kernels must do.
TEST(Emulator, CorrectReductionKeepsItsBitsUnderEverySchedule) {
  const int blocks = 6, n = 1000;
  std::vector<float> host(blocks * n);
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = std::sin(static_cast<float>(i)) * 1e3f + 0.1f;
  float* in = device_alloc<float>(host.size());
  float* partials = device_alloc<float>(blocks);
  float* warps = device_alloc<float>(64);
  ASSERT_EQ(cudaMemcpy(in, host.data(), sizeof(float) * host.size(), cudaMemcpyHostToDevice), cudaSuccess);
  std::vector<std::uint32_t> forward;
  for (const char* order : kSchedules) {
    const Schedule schedule(order);
    block_sum<<<blocks, kBlock>>>(partials, in, n);
    warp_sum<<<1, 64>>>(warps, in);
    std::vector<float> got = download(partials, blocks);
    const std::vector<float> lanes = download(warps, 64);
    got.insert(got.end(), lanes.begin(), lanes.end());
    if (forward.empty())
      forward = bits(got);
    else
      EXPECT_EQ(bits(got), forward) << order;
  }
  cudaFree(in);
  cudaFree(partials);
  cudaFree(warps);
}

TEST(EmulatorDeathTest, UnknownScheduleIsRefused) {
  EXPECT_DEATH(ltgen_emu::set_schedule("sideways"), "unknown schedule 'sideways'");
  EXPECT_DEATH(ltgen_emu::set_schedule("shuffle:"), "unknown schedule");
}

TEST(Emulator, WarpShuffleButterfly) {
  std::vector<float> host(64);
  for (int i = 0; i < 64; ++i) host[i] = static_cast<float>(i);
  float* in = device_alloc<float>(64);
  float* out = device_alloc<float>(64);
  ASSERT_EQ(cudaMemcpy(in, host.data(), sizeof(float) * 64, cudaMemcpyHostToDevice), cudaSuccess);
  warp_sum<<<1, 64>>>(out, in);
  const std::vector<float> got = download(out, 64);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(got[i], i < 32 ? 496.0f : 1520.0f) << "lane " << i;
  cudaFree(in);
  cudaFree(out);
}

TEST(Emulator, SyncthreadsOrIsEveryThreadsAnswer) {
  int* out = device_alloc<int>(64);
  std::vector<int> got(64);
  for (int voter : {5, -1}) {
    vote_or<<<1, 64>>>(out, voter);
    ASSERT_EQ(cudaMemcpy(got.data(), out, sizeof(int) * 64, cudaMemcpyDeviceToHost), cudaSuccess);
    for (int i = 0; i < 64; ++i) EXPECT_EQ(got[i], voter >= 0 ? 1 : 0) << "thread " << i << ", voter " << voter;
  }
  cudaFree(out);
}

TEST(Emulator, SyncthreadsCountIsEveryThreadsAnswer) {
  int* out = device_alloc<int>(64);
  std::vector<int> got(64);
  for (int yes : {0, 1, 40}) {
    vote_count<<<1, 64>>>(out, yes);
    ASSERT_EQ(cudaMemcpy(got.data(), out, sizeof(int) * 64, cudaMemcpyDeviceToHost), cudaSuccess);
    for (int i = 0; i < 64; ++i) EXPECT_EQ(got[i], 64 * 1000 + yes) << "thread " << i << ", yes " << yes;
  }
  cudaFree(out);
}

TEST(Emulator, TensorCoreSumNearestOrTruncated) {
  // 1 + 3 * 2^-25: to nearest it is 1 + 2^-23; aligned to 1's exponent and cut, the small term is
  // gone. -1 - 3 * 2^-25 likewise toward zero; terms of other exponents keep what fits at the top.
  const float small[8] = {3.0f * std::ldexp(1.0f, -25), 0, 0, 0, 0, 0, 0, 0};
  const float negative[8] = {-3.0f * std::ldexp(1.0f, -25), 0, 0, 0, 0, 0, 0, 0};
  const float exact[8] = {0.5f, 0.25f, -2.0f, 4.0f, 0, 0, 0, 0};
  ltgen_emu::set_tensor_core_sum("nearest");
  EXPECT_EQ(ltgen_emu::tensor_core_sum(1.0f, small, 8), 1.0f + std::ldexp(1.0f, -23));
  EXPECT_EQ(ltgen_emu::tensor_core_sum(1.0f, exact, 8), 3.75f);
  ltgen_emu::set_tensor_core_sum("truncate");
  EXPECT_EQ(ltgen_emu::tensor_core_sum(1.0f, small, 8), 1.0f);
  EXPECT_EQ(ltgen_emu::tensor_core_sum(-1.0f, negative, 8), -1.0f);
  EXPECT_EQ(ltgen_emu::tensor_core_sum(1.0f, exact, 8), 3.75f);
  ltgen_emu::set_tensor_core_sum("nearest");
}

TEST(Emulator, GridAndBlockIndices) {
  int* out = device_alloc<int>(2 * 3 * 4 * 2);
  index_grid<<<dim3(2, 3), dim3(4, 2)>>>(out);
  std::vector<int> got(48);
  ASSERT_EQ(cudaMemcpy(got.data(), out, sizeof(int) * 48, cudaMemcpyDeviceToHost), cudaSuccess);
  for (int b = 0; b < 6; ++b)
    for (int t = 0; t < 8; ++t) EXPECT_EQ(got[b * 8 + t], b * 1000 + t);
  cudaFree(out);
}

TEST(Emulator, LaunchConfigurationIsChecked) {
  float* out = device_alloc<float>(4);
  fill<<<0, 32>>>(out, 1.0f, 4);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  fill<<<1, 2048>>>(out, 1.0f, 4);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  fill<<<dim3(1, 65536), 32>>>(out, 1.0f, 4);  // grid y and z stop at 65535 (x at 2^31 - 1)
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  std::vector<float> host(4);
  fill<<<1, 32>>>(host.data(), 1.0f, 4);  // pageable host memory is not for kernels
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDevicePointer);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // reading the error cleared it
  cudaFree(out);
}

TEST(Emulator, DynamicSharedMemoryIsTheLaunchsThirdParameter) {
  constexpr int kFloats = 3000, kBlocks = 2;
  std::vector<float> host(kFloats * kBlocks);
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i);
  float* in = device_alloc<float>(host.size());
  float* out = device_alloc<float>(host.size());
  ASSERT_EQ(cudaMemcpy(in, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  reverse_in_dynamic_shared<<<kBlocks, 128, kFloats * sizeof(float)>>>(out, in, kFloats);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<float> got = download(out, host.size());
  for (int b = 0; b < kBlocks; ++b)
    for (int i = 0; i < kFloats; ++i) ASSERT_EQ(got[b * kFloats + i], host[b * kFloats + kFloats - 1 - i]) << b << " " << i;
  read_unwritten_dynamic_shared<<<1, 1, sizeof(float)>>>(out);
  EXPECT_TRUE(std::isnan(download(out, 1)[0])) << "a block's dynamic shared memory starts as NaNs, not the last block's";
  cudaFree(in);
  cudaFree(out);
}

TEST(Emulator, DynamicSharedMemoryOver48KbNeedsTheKernelsAttribute) {
  constexpr int kFloats = 20000;  // 80000 bytes
  constexpr std::size_t kBytes = kFloats * sizeof(float);
  cudaDeviceProp prop;
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  EXPECT_EQ(prop.sharedMemPerBlock, 48u * 1024);
  EXPECT_EQ(prop.sharedMemPerBlockOptin, 227u * 1024);  // H100 and H200
  float* in = device_alloc<float>(kFloats);
  float* out = device_alloc<float>(kFloats);
  reverse_in_dynamic_shared<<<1, 128, 48 * 1024 + 4>>>(out, in, kFloats);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue) << "over 48 KB without opting in";
  EXPECT_EQ(cudaFuncSetAttribute(reverse_in_dynamic_shared, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(prop.sharedMemPerBlockOptin) + 4),
            cudaErrorInvalidValue)
      << "more than the device has";
  ASSERT_EQ(cudaFuncSetAttribute(reverse_in_dynamic_shared, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(kBytes)),
            cudaSuccess);
  reverse_in_dynamic_shared<<<1, 128, kBytes + 4>>>(out, in, kFloats);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue) << "more than the kernel opted in to";
  std::vector<float> host(kFloats);
  for (int i = 0; i < kFloats; ++i) host[i] = static_cast<float>(i);
  ASSERT_EQ(cudaMemcpy(in, host.data(), kBytes, cudaMemcpyHostToDevice), cudaSuccess);
  reverse_in_dynamic_shared<<<1, 128, kBytes>>>(out, in, kFloats);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(download(out, kFloats)[0], host[kFloats - 1]);
  read_unwritten_dynamic_shared<<<1, 1, 48 * 1024 + 4>>>(out);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue) << "the attribute is the kernel's own";
  cudaFree(in);
  cudaFree(out);
}

TEST(Emulator, FuncSetAttributeIsRefusedDuringCapture) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  // The emulator refuses it in a capture, so that a program sets it once before (always legal).
  EXPECT_EQ(cudaFuncSetAttribute(read_unwritten_dynamic_shared, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536),
            cudaErrorStreamCaptureUnsupported);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

TEST(EmulatorDeathTest, DynamicSharedMemoryEndsAtTheLaunchsBytes) {
  float* in = device_alloc<float>(64);
  float* out = device_alloc<float>(64);
  EXPECT_DEATH(
      {
        reverse_in_dynamic_shared<<<1, 32, 32 * sizeof(float)>>>(out, in, 64);  // 64 floats staged in room for 32
        cudaDeviceSynchronize();
      },
      "");
  cudaFree(in);
  cudaFree(out);
}

TEST(EmulatorDeathTest, DivergentBarrierIsADeadlock) {
  float* out = device_alloc<float>(32);
  EXPECT_DEATH(
      {
        divergent_barrier<<<1, 32>>>(out);
        cudaDeviceSynchronize();
      },
      "deadlock");
  cudaFree(out);
}

TEST(EmulatorDeathTest, HostCodeCannotReadDeviceMemory) {
  float* out = device_alloc<float>(4);
  EXPECT_DEATH({ std::printf("%f\n", static_cast<double>(out[0])); }, "host code touched device memory");
  cudaFree(out);
}

TEST(Emulator, StreamsRunLazilyUntilSynchronised) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  float* d = device_alloc<float>(8);
  float* pinned = nullptr;
  ASSERT_EQ(cudaHostAlloc(reinterpret_cast<void**>(&pinned), 8 * sizeof(float), cudaHostAllocDefault), cudaSuccess);
  for (int i = 0; i < 8; ++i) pinned[i] = -1.0f;
  fill<<<1, 8, 0, s>>>(d, 3.0f, 8);
  ASSERT_EQ(cudaMemcpyAsync(pinned, d, 8 * sizeof(float), cudaMemcpyDeviceToHost, s), cudaSuccess);
  EXPECT_EQ(pinned[0], -1.0f) << "the copy has not run: nothing synchronised with the stream";
  cudaEvent_t done;
  ASSERT_EQ(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(done, s), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(done), cudaSuccess);
  EXPECT_EQ(pinned[7], 3.0f);

  // A stream that waits for another's event runs the other's work first.
  cudaStream_t t;
  ASSERT_EQ(cudaStreamCreateWithFlags(&t, cudaStreamNonBlocking), cudaSuccess);
  fill<<<1, 8, 0, s>>>(d, 5.0f, 8);
  ASSERT_EQ(cudaEventRecord(done, s), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(t, done, 0), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(pinned, d, 8 * sizeof(float), cudaMemcpyDeviceToHost, t), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(t), cudaSuccess);
  EXPECT_EQ(pinned[0], 5.0f);

  // Pageable memory is staged when the call returns: later host writes do not reach the device.
  std::vector<float> pageable(8, 7.0f);
  ASSERT_EQ(cudaMemcpyAsync(d, pageable.data(), 8 * sizeof(float), cudaMemcpyHostToDevice, s), cudaSuccess);
  pageable[0] = 9.0f;
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(download(d, 1)[0], 7.0f);
  cudaEventDestroy(done);
  cudaStreamDestroy(t);
  cudaStreamDestroy(s);
  cudaFreeHost(pinned);
  cudaFree(d);
}

// cudaMemset runs on the legacy stream, which a non-blocking stream does not wait for: work
// there after it may run first (here it always does), while a blocking stream's work waits.
TEST(Emulator, NonBlockingStreamsDoNotWaitForCudaMemset) {
  float* d = device_alloc<float>(8);
  const std::vector<float> sevens(8, 7.0f);
  cudaStream_t non_blocking, blocking;
  ASSERT_EQ(cudaStreamCreateWithFlags(&non_blocking, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamCreateWithFlags(&blocking, cudaStreamDefault), cudaSuccess);

  ASSERT_EQ(cudaMemset(d, 0, 8 * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(d, sevens.data(), 8 * sizeof(float), cudaMemcpyHostToDevice, non_blocking), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(non_blocking), cudaSuccess);
  EXPECT_EQ(download(d, 1)[0], 0.0f) << "the zeros landed after the copy";

  ASSERT_EQ(cudaMemset(d, 0, 8 * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(d, sevens.data(), 8 * sizeof(float), cudaMemcpyHostToDevice, blocking), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(blocking), cudaSuccess);
  EXPECT_EQ(download(d, 1)[0], 7.0f) << "a blocking stream runs after the legacy stream's earlier work";
  cudaStreamDestroy(blocking);
  cudaStreamDestroy(non_blocking);
  cudaFree(d);
}

TEST(Emulator, CaptureKeepsArgumentsAndRefusesWhatCudaRefuses) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  float* d = device_alloc<float>(4);
  float value = 2.0f;
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  fill<<<1, 4, 0, s>>>(d, value, 4);
  value = 4.0f;  // a replay uses the value captured
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  EXPECT_EQ(download(d, 1)[0], 0.0f) << "capturing runs nothing";
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(download(d, 4)[3], 2.0f);

  // Synchronising the capturing stream, or copying pageable memory in a capture, breaks it.
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
  cudaGraph_t broken = nullptr;
  EXPECT_EQ(cudaStreamEndCapture(s, &broken), cudaErrorStreamCaptureInvalidated);
  std::vector<float> pageable(4);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cudaMemcpyAsync(d, pageable.data(), 4 * sizeof(float), cudaMemcpyHostToDevice, s),
            cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaStreamEndCapture(s, &broken), cudaErrorStreamCaptureInvalidated);
  // ... and so does waiting for an event recorded outside the capture.
  cudaEvent_t outside;
  ASSERT_EQ(cudaEventCreate(&outside), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(outside, s), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cudaStreamWaitEvent(s, outside, 0), cudaErrorStreamCaptureIsolation);
  EXPECT_EQ(cudaStreamEndCapture(s, &broken), cudaErrorStreamCaptureInvalidated);
  cudaEventDestroy(outside);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
  cudaFree(d);
}

// Row-major C[m,n] = A[m,k] B[k,n]^T + bias through cuBLASLt's column-major view, as
// runtime/cuda/sgemm.cu does it (C^T = B A^T).
TEST(Emulator, CublasLtMatmulWithBias) {
  const int m = 3, n = 4, k = 5;
  std::vector<float> a(m * k), b(n * k), bias(n);
  for (int i = 0; i < m * k; ++i) a[i] = static_cast<float>(i % 4) - 1.5f;
  for (int i = 0; i < n * k; ++i) b[i] = static_cast<float>(i % 3) * 0.5f;
  for (int i = 0; i < n; ++i) bias[i] = static_cast<float>(i);
  float* da = device_alloc<float>(a.size());
  float* db = device_alloc<float>(b.size());
  float* dbias = device_alloc<float>(n);
  float* dc = device_alloc<float>(m * n);
  cudaMemcpy(da, a.data(), a.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(db, b.data(), b.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dbias, bias.data(), n * 4, cudaMemcpyHostToDevice);
  cublasLtHandle_t handle;
  ASSERT_EQ(cublasLtCreate(&handle), CUBLAS_STATUS_SUCCESS);
  cublasLtMatmulDesc_t op;
  ASSERT_EQ(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
  const cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t);
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof nt);
  const cublasLtEpilogue_t e = CUBLASLT_EPILOGUE_BIAS;
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e);
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &dbias, sizeof dbias);
  cublasLtMatrixLayout_t first, second, out;
  cublasLtMatrixLayoutCreate(&first, CUDA_R_32F, k, n, k);   // B row-major [n,k], transposed
  cublasLtMatrixLayoutCreate(&second, CUDA_R_32F, k, m, k);  // A row-major [m,k]
  cublasLtMatrixLayoutCreate(&out, CUDA_R_32F, n, m, n);
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulPreferenceCreate(&pref);
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  ASSERT_EQ(cublasLtMatmulAlgoGetHeuristic(handle, op, first, second, out, out, pref, 1, &heuristic, &found),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(found, 1);
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cublasLtMatmul(handle, op, &alpha, db, first, da, second, &beta, dc, out, dc, out, &heuristic.algo,
                           nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  const std::vector<float> c = download(dc, m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float want = 0.0f;
      for (int p = 0; p < k; ++p) want += a[i * k + p] * b[j * k + p];
      EXPECT_FLOAT_EQ(c[i * n + j], want + bias[j]) << i << "," << j;
    }
  // A pointer less aligned than the algorithm was chosen for is refused (256 bytes by default).
  EXPECT_EQ(cublasLtMatmul(handle, op, &alpha, db + 1, first, da, second, &beta, dc, out, dc, out, &heuristic.algo,
                           nullptr, 0, nullptr),
            CUBLAS_STATUS_INVALID_VALUE);
  // So is a bias that is not 16-byte aligned (ltrt::cuda::sgemm adds such a bias itself).
  const float* misaligned_bias = dbias + 1;
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &misaligned_bias, sizeof misaligned_bias);
  EXPECT_EQ(cublasLtMatmul(handle, op, &alpha, db, first, da, second, &beta, dc, out, dc, out, &heuristic.algo,
                           nullptr, 0, nullptr),
            CUBLAS_STATUS_INVALID_VALUE);
  // Shapes that do not chain are refused.
  cublasLtMatrixLayout_t wrong;
  cublasLtMatrixLayoutCreate(&wrong, CUDA_R_32F, k + 1, m, k + 1);
  EXPECT_EQ(cublasLtMatmulAlgoGetHeuristic(handle, op, first, wrong, out, out, pref, 1, &heuristic, &found),
            CUBLAS_STATUS_INVALID_VALUE);
  cublasLtMatrixLayoutDestroy(wrong);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(out);
  cublasLtMatrixLayoutDestroy(second);
  cublasLtMatrixLayoutDestroy(first);
  cublasLtMatmulDescDestroy(op);
  cublasLtDestroy(handle);
  for (float* p : {da, db, dbias, dc}) cudaFree(p);
}

// CUBLAS_COMPUTE_32F_FAST_TF32 reads its inputs with TF32's 10 mantissa bits; _32F with all 23.
TEST(Emulator, CublasLtFastTf32RoundsInputs) {
  const float x = 1.0f + 1.0f / 4096.0f;  // 2^-12: below TF32's last bit (2^-10)
  float* da = device_alloc<float>(1);
  float* dc = device_alloc<float>(1);
  cudaMemcpy(da, &x, sizeof x, cudaMemcpyHostToDevice);
  cublasLtHandle_t handle;
  ASSERT_EQ(cublasLtCreate(&handle), CUBLAS_STATUS_SUCCESS);
  cublasLtMatrixLayout_t one;
  cublasLtMatrixLayoutCreate(&one, CUDA_R_32F, 1, 1, 1);
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulPreferenceCreate(&pref);
  for (const cublasComputeType_t compute : {CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32}) {
    cublasLtMatmulDesc_t op;
    ASSERT_EQ(cublasLtMatmulDescCreate(&op, compute, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
    cublasLtMatmulHeuristicResult_t heuristic{};
    int found = 0;
    ASSERT_EQ(cublasLtMatmulAlgoGetHeuristic(handle, op, one, one, one, one, pref, 1, &heuristic, &found),
              CUBLAS_STATUS_SUCCESS);
    const float alpha = 1.0f, beta = 0.0f;
    ASSERT_EQ(cublasLtMatmul(handle, op, &alpha, da, one, da, one, &beta, dc, one, dc, one, &heuristic.algo, nullptr,
                             0, nullptr),
              CUBLAS_STATUS_SUCCESS);
    const float want = compute == CUBLAS_COMPUTE_32F ? x * x : 1.0f;
    EXPECT_EQ(download(dc, 1)[0], want) << "compute type " << compute;
    cublasLtMatmulDescDestroy(op);
  }
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(one);
  cublasLtDestroy(handle);
  cudaFree(da);
  cudaFree(dc);
}

void expect_passes(const mma_checks::MmaCheck& check) { EXPECT_TRUE(check.passed) << check.name << ": " << check.detail; }

// The layouts as PTX's tables give them for three lanes (written out here, not computed), and
// mma.cuh's helpers place every element of A, B and C/D exactly once.
TEST(EmulatorMma, FragmentLayoutsAreThePtxTables) {
  using ltrt::cuda::mma_a_position, ltrt::cuda::mma_b_position, ltrt::cuda::mma_c_position;
  struct Lane {
    int lane;
    int a[4][2], b[2][2], c[4][2];  // (row, col) of each element
  };
  const Lane lanes[] = {
      {0, {{0, 0}, {8, 0}, {0, 4}, {8, 4}}, {{0, 0}, {4, 0}}, {{0, 0}, {0, 1}, {8, 0}, {8, 1}}},
      {6, {{1, 2}, {9, 2}, {1, 6}, {9, 6}}, {{2, 1}, {6, 1}}, {{1, 4}, {1, 5}, {9, 4}, {9, 5}}},
      {31, {{7, 3}, {15, 3}, {7, 7}, {15, 7}}, {{3, 7}, {7, 7}}, {{7, 6}, {7, 7}, {15, 6}, {15, 7}}},
  };
  for (const Lane& l : lanes) {
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(mma_a_position(l.lane, i).row, l.a[i][0]) << "lane " << l.lane << " a" << i;
      EXPECT_EQ(mma_a_position(l.lane, i).col, l.a[i][1]) << "lane " << l.lane << " a" << i;
      EXPECT_EQ(mma_c_position(l.lane, i).row, l.c[i][0]) << "lane " << l.lane << " c" << i;
      EXPECT_EQ(mma_c_position(l.lane, i).col, l.c[i][1]) << "lane " << l.lane << " c" << i;
    }
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(mma_b_position(l.lane, i).row, l.b[i][0]) << "lane " << l.lane << " b" << i;
      EXPECT_EQ(mma_b_position(l.lane, i).col, l.b[i][1]) << "lane " << l.lane << " b" << i;
    }
  }
  int a[16][8] = {}, b[8][8] = {}, c[16][8] = {};
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 4; ++i) ++a[mma_a_position(lane, i).row][mma_a_position(lane, i).col];
    for (int i = 0; i < 2; ++i) ++b[mma_b_position(lane, i).row][mma_b_position(lane, i).col];
    for (int i = 0; i < 4; ++i) ++c[mma_c_position(lane, i).row][mma_c_position(lane, i).col];
  }
  for (int row = 0; row < 16; ++row)
    for (int col = 0; col < 8; ++col) {
      EXPECT_EQ(a[row][col], 1) << "A(" << row << ", " << col << ")";
      EXPECT_EQ(c[row][col], 1) << "C(" << row << ", " << col << ")";
      if (row < 8) {
        EXPECT_EQ(b[row][col], 1) << "B(" << row << ", " << col << ")";
      }
    }
}

TEST(EmulatorMma, ExactProductsLandWhereTheLayoutsSay) {
  expect_passes(mma_checks::check_layout_exact());
}

// The warp exchange is a barrier: the lanes' order between barriers does not change the result.
TEST(EmulatorMma, SameBitsUnderEverySchedule) {
  const mma_checks::Tile t = mma_checks::tf32_tile(9);
  const std::vector<std::uint32_t> a = mma_checks::as_bits(mma_checks::a_fragments(t));
  const std::vector<std::uint32_t> b = mma_checks::as_bits(mma_checks::b_fragments(t));
  const std::vector<float> forward = mma_checks::run_mma_tf32(a, b, mma_checks::c_fragments(t));
  for (const char* order : kSchedules) {
    Schedule schedule(order);
    const std::vector<float> d = mma_checks::run_mma_tf32(a, b, mma_checks::c_fragments(t));
    EXPECT_EQ(std::memcmp(d.data(), forward.data(), d.size() * sizeof(float)), 0) << order;
  }
}

TEST(EmulatorMma, Tf32OperandsWithinFloat32Rounding) {
  expect_passes(mma_checks::check_tf32_operands());
}

TEST(EmulatorMma, ReadsOnlyTheTf32BitsOfItsOperands) {
  expect_passes(mma_checks::check_ignores_low_bits());
}

TEST(EmulatorMma, ToTf32RoundsToNearestTiesAway) {
  expect_passes(mma_checks::check_to_tf32());
  // mma.cuh keeps a NaN a NaN even when its payload is only in the bits TF32 drops.
  EXPECT_EQ(ltrt::cuda::round_to_tf32_bits(0x7f800001u), 0x7fc00000u);
  EXPECT_EQ(ltrt::cuda::round_to_tf32_bits(0xff801fffu), 0xffc00000u);
}

TEST(EmulatorMma, ThreeTf32KeepsFloat32AccuracyWhereOneTf32DoesNot) {
  const mma_checks::MmaCheck check = mma_checks::check_3xtf32();
  expect_passes(check);
  std::printf("%s\n", check.detail.c_str());  // the two errors
}

TEST(EmulatorMmaDeathTest, MmaNeedsTheWholeWarp) {
  float* out = device_alloc<float>(32);
  EXPECT_DEATH(
      {
        mma_in_warp_of<<<1, 16>>>(out, 16);
        cudaDeviceSynchronize();
      },
      "in a warp of fewer than 32 threads");
  EXPECT_DEATH(
      {
        mma_in_warp_of<<<1, 32>>>(out, 31);
        cudaDeviceSynchronize();
      },
      "deadlock");
  cudaFree(out);
}

// The device has 4 GiB (totalGlobalMem): cudaMemGetInfo counts what cudaMalloc holds, and an
// allocation past what is free fails as CUDA's does, without touching what is held.
TEST(Emulator, DeviceMemoryIsFinite) {
  std::size_t free_bytes = 0, total_bytes = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total_bytes), cudaSuccess);
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  EXPECT_EQ(total_bytes, prop.totalGlobalMem);
  EXPECT_EQ(total_bytes, std::size_t(4) << 30);
  void* held = nullptr;
  ASSERT_EQ(cudaMalloc(&held, std::size_t(1) << 20), cudaSuccess);
  std::size_t free_after = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_after, &total_bytes), cudaSuccess);
  EXPECT_EQ(free_after, free_bytes - (std::size_t(1) << 20));
  void* too_much = nullptr;
  EXPECT_EQ(cudaMalloc(&too_much, free_after + 1), cudaErrorMemoryAllocation);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
  ASSERT_EQ(cudaFree(held), cudaSuccess);
  ASSERT_EQ(cudaMemGetInfo(&free_after, &total_bytes), cudaSuccess);
  EXPECT_EQ(free_after, free_bytes);
}

TEST(Emulator, VisibleDevicesEmptyHidesTheDevice) {
  int count = -1;
  EXPECT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  EXPECT_EQ(count, 1);
  setenv("CUDA_VISIBLE_DEVICES", "", 1);
  EXPECT_EQ(cudaGetDeviceCount(&count), cudaErrorNoDevice);
  EXPECT_EQ(count, 0);
  unsetenv("CUDA_VISIBLE_DEVICES");
  cudaGetLastError();
}

}  // namespace
