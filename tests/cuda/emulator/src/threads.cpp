// The emulated GPU's threads: a kernel's grid runs block after block, and each thread of a block
// is a fiber (fiber_context.h) on one OS thread. A fiber runs until it returns or reaches a barrier
// (__syncthreads, __syncwarp, a shuffle); the scheduler releases a barrier when every thread of
// the block (or warp) that has not returned stands at it, as the hardware does. The order of the
// blocks, and of the runnable fibers in each round, is the schedule's (schedule.h).
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "cuda_runtime.h"
#include "fiber_context.h"
#include "schedule.h"

namespace ltgen_emu {

ThreadState* current_thread = nullptr;
uint3 block_idx{0, 0, 0};
dim3 block_dim, grid_dim;

namespace {

constexpr int kMaxThreads = 1024;
constexpr int kWarp = 32;
constexpr std::size_t kStackBytes = 256 * 1024;  // per thread; kernels keep little on the stack

enum class State { runnable, at_block_barrier, at_warp_barrier, done };

struct Fiber {
  ThreadState thread;
  FiberContext context;
  State state = State::done;
  unsigned publishes = 0;  // warp_publish calls in this block: which set of gather slots is next
};

Fiber fibers[kMaxThreads];
std::byte* stacks = nullptr;  // kMaxThreads stacks, mapped once, touched as used
FiberContext scheduler;
Fiber* running = nullptr;
int block_threads = 0;
const std::function<void()>* thread_body = nullptr;
std::byte* dynamic_shared_end = nullptr;  // kOptinSharedBytes mapped, then an unmapped page
std::size_t dynamic_shared_bytes = 0;     // the running launch's
std::uint64_t shuffle_slots[kMaxThreads];
std::byte gather_slots[2][kMaxThreads][kWarpGatherBytes];  // warp_publish's, used in turn
int round_order[kMaxThreads];  // the fibers of one round, in the schedule's order

void thread_entry() {
  (*thread_body)();
  running->state = State::done;
  switch_context(running->context, scheduler);  // never resumed
}

void wait_at(State barrier) {
  if (running == nullptr) fatal("a barrier or shuffle was called outside a kernel");
  running->state = barrier;
  switch_context(running->context, scheduler);
}

// Releases the threads waiting at a barrier that every thread of its group (warp or block)
// has reached; false when none can go on. CUDA leaves a barrier that some threads never reach
// (they returned, or wait at another barrier) undefined, and it may hang: here it is an error.
bool release_barriers() {
  bool released = false;
  for (int base = 0; base < block_threads; base += kWarp) {
    const int end = std::min(base + kWarp, block_threads);
    bool all = true;
    for (int i = base; i < end; ++i) all = all && fibers[i].state == State::at_warp_barrier;
    if (all) {
      for (int i = base; i < end; ++i) fibers[i].state = State::runnable;
      released = true;
    }
  }
  if (released) return true;
  for (int i = 0; i < block_threads; ++i)
    if (fibers[i].state != State::at_block_barrier) return false;
  for (int i = 0; i < block_threads; ++i) fibers[i].state = State::runnable;
  return true;
}

std::string describe_deadlock() {
  std::string s = "deadlock in block (" + std::to_string(block_idx.x) + ", " + std::to_string(block_idx.y) + ", " +
                  std::to_string(block_idx.z) + "): a barrier that not every thread reaches (";
  int block = 0, warp = 0, done = 0;
  for (int i = 0; i < block_threads; ++i) {
    block += fibers[i].state == State::at_block_barrier;
    warp += fibers[i].state == State::at_warp_barrier;
    done += fibers[i].state == State::done;
  }
  return s + std::to_string(block) + " at __syncthreads, " + std::to_string(warp) + " at a warp barrier or shuffle, " +
         std::to_string(done) + " returned): __syncthreads or a shuffle in divergent code, or after an early return?";
}

std::uint64_t block_serial = 0;  // counts the blocks run: poison_static_shared's "this block"

void run_block(int threads, const dim3& block) {
  ++block_serial;
  block_threads = threads;
  const std::size_t shared = (dynamic_shared_bytes + 15) / 16 * 16;
  std::memset(dynamic_shared_end - shared, 0xff, shared);  // NaNs: nothing carries over from the block before
  for (int i = 0; i < threads; ++i) {
    Fiber& f = fibers[i];
    const unsigned u = static_cast<unsigned>(i);
    f.thread.idx = uint3{u % block.x, u / block.x % block.y, u / (block.x * block.y)};
    f.thread.linear = u;
    f.state = State::runnable;
    f.publishes = 0;
    start_context(f.context, stacks + static_cast<std::size_t>(i) * kStackBytes, kStackBytes, thread_entry);
  }
  for (;;) {
    arrange(round_order, threads);
    for (int i = 0; i < threads; ++i) {
      Fiber& f = fibers[round_order[i]];
      if (f.state != State::runnable) continue;
      running = &f;
      current_thread = &f.thread;
      switch_context(scheduler, f.context);
    }
    running = nullptr;
    current_thread = nullptr;
    bool all_done = true;
    for (int i = 0; i < threads && all_done; ++i) all_done = fibers[i].state == State::done;
    if (all_done) return;
    if (!release_barriers()) fatal(describe_deadlock().c_str());
  }
}

}  // namespace

void sync_block() { wait_at(State::at_block_barrier); }

int sync_block_count(int predicate) {
  const unsigned me = current_thread->linear;
  shuffle_slots[me] = predicate != 0;
  sync_block();  // every thread has written its vote
  int count = 0;
  for (int i = 0; i < block_threads; ++i) count += shuffle_slots[i] != 0;
  sync_block();  // every thread has read before any votes again
  return count;
}

int sync_block_or(int predicate) { return sync_block_count(predicate) != 0; }
void sync_warp() { wait_at(State::at_warp_barrier); }

int lane_id() { return static_cast<int>(current_thread->linear % kWarp); }

std::uint64_t shuffle(std::uint64_t mine, int src_lane, int width) {
  const unsigned me = current_thread->linear;
  const unsigned segment = me / kWarp * kWarp + (me % kWarp) / static_cast<unsigned>(width) * static_cast<unsigned>(width);
  shuffle_slots[me] = mine;
  sync_warp();  // every live lane has written its value
  const unsigned from = segment + static_cast<unsigned>(src_lane);
  const bool valid = src_lane >= 0 && src_lane < width && from < static_cast<unsigned>(block_threads) &&
                     fibers[from].state != State::done;
  const std::uint64_t value = valid ? shuffle_slots[from] : mine;
  sync_warp();  // every lane has read before any writes again
  return value;
}

const std::byte* warp_publish(const void* mine, std::size_t bytes) {
  if (bytes > kWarpGatherBytes) fatal("warp_publish: more than kWarpGatherBytes a lane");
  if (running == nullptr) fatal("a warp-collective operation (mma.sync) was called outside a kernel");
  const unsigned me = current_thread->linear;
  const unsigned warp = me / kWarp * kWarp;
  if (warp + kWarp > static_cast<unsigned>(block_threads))
    fatal("a warp-collective operation (mma.sync.aligned) in a warp of fewer than 32 threads");
  // The other set than this lane's last publish: a lane still reading that one has not reached
  // this barrier yet, and every lane has passed the last barrier of this set's previous use.
  std::byte(*slots)[kWarpGatherBytes] = gather_slots[running->publishes++ & 1u];
  std::memcpy(slots[me], mine, bytes);
  sync_warp();  // every lane has written its fragment (a lane that returned is a deadlock, fatal)
  return slots[warp];
}

void poison_static_shared(void* array, std::size_t bytes) {
  if (running == nullptr) fatal("static shared memory declared outside a kernel");
  static std::map<void*, std::uint64_t> poisoned_in;  // array -> the block that last poisoned it
  std::uint64_t& last = poisoned_in[array];
  if (last == block_serial) return;  // another thread of this block got here first
  last = block_serial;
  std::memset(array, 0xff, bytes);  // NaNs (and -1 in integers)
}

void* dynamic_shared_memory() {
  if (running == nullptr) fatal("dynamic shared memory (extern __shared__) used outside a kernel");
  return dynamic_shared_end - (dynamic_shared_bytes + 15) / 16 * 16;  // the run_block's region
}

void run_grid(dim3 grid, dim3 block, std::size_t shared_bytes, const std::function<void()>& body) {
  if (running != nullptr) fatal("a kernel launched from inside a kernel (dynamic parallelism) is not emulated");
  if (dynamic_shared_end == nullptr) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t mapped = (kOptinSharedBytes + page - 1) / page * page;
    void* p = mmap(nullptr, mapped + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(static_cast<std::byte*>(p) + mapped, page, PROT_NONE) != 0)
      fatal("cannot map the dynamic shared memory");
    dynamic_shared_end = static_cast<std::byte*>(p) + mapped;
  }
  dynamic_shared_bytes = shared_bytes;
  if (stacks == nullptr) {
    void* p = mmap(nullptr, kMaxThreads * kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) fatal("cannot map the fibers' stacks");
    stacks = static_cast<std::byte*>(p);
  }
  const int threads = static_cast<int>(block.x * block.y * block.z);
  thread_body = &body;
  grid_dim = grid;
  block_dim = block;
  const std::size_t blocks = std::size_t{grid.x} * grid.y * grid.z;
  if (blocks > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    fatal("a grid of more than 2^31 - 1 blocks is not emulated");
  std::vector<int> block_order(blocks);
  arrange(block_order.data(), static_cast<int>(blocks));
  for (const int b : block_order) {
    const unsigned u = static_cast<unsigned>(b);
    block_idx = uint3{u % grid.x, u / grid.x % grid.y, u / (grid.x * grid.y)};
    run_block(threads, block);
  }
  thread_body = nullptr;
}

}  // namespace ltgen_emu
