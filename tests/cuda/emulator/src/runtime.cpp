// The emulated CUDA runtime: device and pinned memory, lazy streams, events, graph capture and
// the last-error state. See include/cuda_runtime.h for what is modelled and checked.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cuda_runtime.h"

struct CUgraph_st {
  std::vector<std::function<void()>> work;
  bool collective = false;  // holds an NCCL call: launches run at once (ltgen_emu::enqueue_collective)
  std::vector<std::shared_ptr<const void>> holds;  // what its captured collectives keep alive
};
// Shared with launches still queued: CUDA frees an exec destroyed in flight when it completes.
struct CUgraphExec_st {
  std::shared_ptr<const std::vector<std::function<void()>>> work;
  bool collective = false;
  std::vector<std::shared_ptr<const void>> holds;
};

struct CUstream_st {
  std::deque<std::function<void()>> queue;
  std::uint64_t enqueued = 0;  // work items ever enqueued (not counting captured ones)
  std::uint64_t executed = 0;
  CUgraph_st* capture = nullptr;  // the graph being captured, if any
  bool capture_invalidated = false;
  bool blocking = true;  // waits for the legacy stream's earlier work, which waits for it (not cudaStreamNonBlocking)
};

struct CUevent_st {
  CUstream_st* stream = nullptr;   // where it was last recorded (outside a capture)
  std::uint64_t position = 0;      // the stream's enqueued count at that moment
  CUgraph_st* captured_in = nullptr;  // recorded in this capture
};

namespace ltgen_emu {

void fatal(const char* what) {
  std::fprintf(stderr, "ltgen CUDA emulator: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

namespace {

struct Allocation {
  std::byte* base;
  std::size_t bytes;    // as asked for
  std::size_t mapped;   // whole pages
  bool device;
};

std::map<const std::byte*, Allocation> allocations;  // by base
std::size_t device_bytes_held = 0;                    // what cudaMalloc holds, as asked for
cudaError_t last_error = cudaSuccess;
int device_access_depth = 0;  // > 0 while device work runs: device memory is readable then
CUstream_st legacy_stream;    // stream 0
int capturing_streams = 0;

const Allocation* find(const void* p) {
  const auto* b = static_cast<const std::byte*>(p);
  auto it = allocations.upper_bound(b);
  if (it == allocations.begin()) return nullptr;
  --it;
  const Allocation& a = it->second;
  return b < a.base + a.bytes ? &a : nullptr;
}

// Is [p, p + bytes) inside one allocation of that kind?
bool inside(const void* p, std::size_t bytes, bool device) {
  const Allocation* a = find(p);
  return a && a->device == device && static_cast<const std::byte*>(p) + bytes <= a->base + a->bytes;
}

void protect_device_memory(bool readable) {
  for (auto& [base, a] : allocations)
    if (a.device && mprotect(a.base, a.mapped, readable ? PROT_READ | PROT_WRITE : PROT_NONE) != 0)
      fatal((std::string("mprotect: ") + std::strerror(errno)).c_str());
}

// Device work runs with device memory readable; host code in between cannot touch it.
struct DeviceAccess {
  DeviceAccess() {
    if (device_access_depth++ == 0) protect_device_memory(true);
  }
  ~DeviceAccess() {
    if (--device_access_depth == 0) protect_device_memory(false);
  }
};

void on_segfault(int, siginfo_t* info, void*) {
  const Allocation* a = find(info->si_addr);
  char line[256];
  int len;
  if (a && a->device && device_access_depth == 0)
    len = std::snprintf(line, sizeof line,
                        "ltgen CUDA emulator: host code touched device memory at %p (an allocation of %zu bytes at "
                        "%p): on a GPU this is an invalid access\n",
                        info->si_addr, a->bytes, static_cast<void*>(a->base));
  else
    len = std::snprintf(line, sizeof line, "ltgen CUDA emulator: segmentation fault at %p%s\n", info->si_addr,
                        device_access_depth ? " in device work (a kernel or copy out of bounds?)" : "");
  if (write(STDERR_FILENO, line, static_cast<std::size_t>(len)) < 0) {}
  signal(SIGSEGV, SIG_DFL);
  raise(SIGSEGV);
}

void install_handler() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction sa {};
  sa.sa_sigaction = on_segfault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGSEGV, &sa, nullptr);
  // Fibers have small stacks: the handler gets its own.
  static std::vector<char> alt(1 << 16);
  stack_t ss{};
  ss.ss_sp = alt.data();
  ss.ss_size = alt.size();
  sigaltstack(&ss, nullptr);
}

CUstream_st* resolve(cudaStream_t s) { return s ? s : &legacy_stream; }

void flush_all(CUstream_st* s);

// Runs a stream's work until `position` items have run. Pending legacy-stream work (a
// cudaMemset) is not ordered with a non-blocking stream: it runs after that stream's work, the
// interleaving that shows a missing synchronisation.
void flush(CUstream_st* s, std::uint64_t position) {
  bool ran = false;
  {
    DeviceAccess access;
    while (s->executed < position && !s->queue.empty()) {
      std::function<void()> work = std::move(s->queue.front());
      s->queue.pop_front();
      ++s->executed;
      work();
      ran = true;
    }
  }
  if (ran && s != &legacy_stream && !s->blocking) flush_all(&legacy_stream);
}
void flush_all(CUstream_st* s) { flush(s, s->enqueued); }

cudaError_t fail_capture(CUstream_st* s, cudaError_t error) {
  s->capture_invalidated = true;
  return error;
}

std::set<CUstream_st*> streams;

// LTGEN_CUDA_EMULATOR_TRACE=1 also names each host wait that has device work to wait for.
void trace_wait(const char* call, const CUstream_st* s, std::uint64_t position) {
  static const bool trace = std::getenv("LTGEN_CUDA_EMULATOR_TRACE") != nullptr;
  if (trace && s->executed < position)
    std::fprintf(stderr, "ltgen CUDA emulator: host waits: %s (stream %p)\n", call, static_cast<const void*>(s));
}

bool any_capture() { return capturing_streams > 0; }

std::size_t page_size() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

cudaError_t allocate(void** ptr, std::size_t bytes, bool device) {
  if (ptr == nullptr) return cudaErrorInvalidValue;
  if (any_capture()) return cudaErrorStreamCaptureUnsupported;
  if (device && bytes > device_memory_bytes() - device_bytes_held) return last_error = cudaErrorMemoryAllocation;
  install_handler();
  const std::size_t mapped = (std::max<std::size_t>(bytes, 1) + page_size() - 1) / page_size() * page_size();
  void* p = mmap(nullptr, mapped, device && device_access_depth == 0 ? PROT_NONE : PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return cudaErrorMemoryAllocation;
  auto* base = static_cast<std::byte*>(p);
  allocations[base] = Allocation{base, bytes, mapped, device};
  if (device) device_bytes_held += bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t release(void* ptr, bool device) {
  if (ptr == nullptr) return cudaSuccess;
  auto it = allocations.find(static_cast<std::byte*>(ptr));
  if (it == allocations.end() || it->second.device != device)
    return device ? cudaErrorInvalidDevicePointer : cudaErrorInvalidValue;
  for (CUstream_st* s : streams) flush_all(s);  // cudaFree synchronises the device
  flush_all(&legacy_stream);
  munmap(it->second.base, it->second.mapped);
  if (device) device_bytes_held -= it->second.bytes;
  allocations.erase(it);
  return cudaSuccess;
}

}  // namespace

bool is_device_pointer(const void* p) {
  const Allocation* a = find(p);
  return a && a->device;
}

bool device_visible(const void* p) { return find(p) != nullptr; }

void set_last_error(cudaError_t error, const char* what) {
  if (std::getenv("LTGEN_CUDA_EMULATOR_VERBOSE")) std::fprintf(stderr, "ltgen CUDA emulator: %s: %s\n", what, cudaGetErrorName(error));
  last_error = error;
}

namespace {
std::map<const void*, std::size_t> dynamic_shared_limits;  // kernels that set their own
}  // namespace

std::size_t device_memory_bytes() {
  static const std::size_t bytes = [] {
    const char* env = std::getenv("LTGEN_CUDA_EMULATOR_DEVICE_MEMORY");
    if (!env) return std::size_t(4) << 30;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    if (end == env || *end != '\0' || v == 0) fatal("LTGEN_CUDA_EMULATOR_DEVICE_MEMORY must be a number of bytes");
    return static_cast<std::size_t>(v);
  }();
  return bytes;
}

std::size_t optin_shared_bytes() {
  static const std::size_t bytes = [] {
    const char* env = std::getenv("LTGEN_CUDA_EMULATOR_SHARED_OPTIN");
    if (!env) return kOptinSharedBytes;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    if (end == env || *end != '\0' || v < kDefaultSharedBytes || v > kOptinSharedBytes)
      fatal("LTGEN_CUDA_EMULATOR_SHARED_OPTIN must be a number of bytes from 49152 to 232448");
    return static_cast<std::size_t>(v);
  }();
  return bytes;
}

cudaError_t func_attributes(cudaFuncAttributes* attributes, const void* kernel) {
  if (kernel == nullptr) return last_error = cudaErrorInvalidDeviceFunction;
  static const bool no_image = std::getenv("LTGEN_CUDA_EMULATOR_NO_KERNEL_IMAGE") != nullptr;
  if (no_image) return last_error = cudaErrorNoKernelImageForDevice;
  *attributes = cudaFuncAttributes{};
  attributes->maxThreadsPerBlock = 1024;
  attributes->maxDynamicSharedSizeBytes = static_cast<int>(max_dynamic_shared(kernel));
  return cudaSuccess;
}

cudaError_t set_max_dynamic_shared(const void* kernel, int bytes) {
  if (any_capture()) return cudaErrorStreamCaptureUnsupported;
  if (kernel == nullptr) return cudaErrorInvalidDeviceFunction;
  if (bytes < 0 || static_cast<std::size_t>(bytes) > optin_shared_bytes()) return cudaErrorInvalidValue;
  dynamic_shared_limits[kernel] = static_cast<std::size_t>(bytes);
  return cudaSuccess;
}

std::size_t max_dynamic_shared(const void* kernel) {
  const auto it = dynamic_shared_limits.find(kernel);
  return it == dynamic_shared_limits.end() ? kDefaultSharedBytes : it->second;
}

// Runs every stream's work enqueued so far (a collective's stream and what it waits for first).
void flush_everything(CUstream_st* first) {
  flush_all(first);
  flush_all(&legacy_stream);
  for (CUstream_st* s : streams) flush_all(s);
}

cudaError_t enqueue(cudaStream_t stream, std::function<void()> work, const char* what) {
  CUstream_st* s = resolve(stream);
  // LTGEN_CUDA_EMULATOR_TRACE=1: each piece of work is named on stderr when it runs.
  static const bool trace = std::getenv("LTGEN_CUDA_EMULATOR_TRACE") != nullptr;
  if (trace)
    work = [work = std::move(work), what, s] {
      std::fprintf(stderr, "ltgen CUDA emulator: stream %p: %s\n", static_cast<void*>(s), what);
      work();
    };
  if (s->capture) {
    if (s->capture_invalidated) return cudaErrorStreamCaptureInvalidated;
    s->capture->work.push_back(std::move(work));
    return cudaSuccess;
  }
  if (s == &legacy_stream && any_capture()) return cudaErrorStreamCaptureUnsupported;  // the legacy stream during a capture
  if (s == &legacy_stream) {
    for (CUstream_st* other : streams)
      if (other->blocking) flush_all(other);  // legacy work waits for the blocking streams' earlier work
  } else if (s->blocking) {
    flush_all(&legacy_stream);  // and a blocking stream's work for the legacy stream's
  }
  s->queue.push_back(std::move(work));
  ++s->enqueued;
  if (s == &legacy_stream) flush_all(s);  // the legacy stream is synchronous here (but see cudaMemset)
  return cudaSuccess;
}

cudaError_t enqueue_collective(cudaStream_t stream, std::function<void()> work, const char* what,
                               std::shared_ptr<const void> hold) {
  CUstream_st* s = resolve(stream);
  const cudaError_t status = enqueue(stream, std::move(work), what);
  if (status != cudaSuccess) return status;
  if (s->capture) {
    s->capture->collective = true;
    if (hold) s->capture->holds.push_back(std::move(hold));
  } else {
    flush_everything(s);
  }
  return cudaSuccess;
}

}  // namespace ltgen_emu

using namespace ltgen_emu;

// ---- devices and errors ----

namespace {
// How many GPUs the process sees: LTGEN_CUDA_EMULATOR_DEVICES (default 1), so that DDP's ranks each
// take a GPU of their own. They are alike, and each process emulates its own: the index is a label.
int emulated_devices() {
  static const int n = [] {
    const char* v = std::getenv("LTGEN_CUDA_EMULATOR_DEVICES");
    if (!v || !*v) return 1;
    char* end = nullptr;
    const long k = std::strtol(v, &end, 10);
    if (*end != '\0' || k < 1 || k > 64) ltgen_emu::fatal("LTGEN_CUDA_EMULATOR_DEVICES is not a number of GPUs from 1 to 64");
    return static_cast<int>(k);
  }();
  return n;
}
int current_device = 0;
bool valid_device(int device) { return device >= 0 && device < emulated_devices(); }
}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  // As the driver does: CUDA_VISIBLE_DEVICES="" hides every device.
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  if (visible && (visible[0] == '\0' || std::strcmp(visible, "-1") == 0)) {
    *count = 0;
    return last_error = cudaErrorNoDevice;
  }
  *count = emulated_devices();
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (!valid_device(device)) return last_error = cudaErrorInvalidDevice;
  current_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = current_device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!valid_device(device)) return cudaErrorInvalidDevice;
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "ltgen CUDA emulator on the CPU");
  prop->totalGlobalMem = ltgen_emu::device_memory_bytes();
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->sharedMemPerBlock = ltgen_emu::kDefaultSharedBytes;
  prop->sharedMemPerBlockOptin = ltgen_emu::optin_shared_bytes();
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (!valid_device(device)) return last_error = cudaErrorInvalidDevice;
  if (attribute != cudaDevAttrMaxSharedMemoryPerBlockOptin) return last_error = cudaErrorInvalidValue;
  *value = static_cast<int>(ltgen_emu::optin_shared_bytes());
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  if (any_capture()) return cudaErrorStreamCaptureUnsupported;
  flush_all(&legacy_stream);
  for (CUstream_st* s : streams) flush_all(s);
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return last_error; }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoKernelImageForDevice: return "cudaErrorNoKernelImageForDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureIsolation: return "cudaErrorStreamCaptureIsolation";
    case cudaErrorStreamCaptureUnjoined: return "cudaErrorStreamCaptureUnjoined";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoKernelImageForDevice: return "no kernel image is available for execution on the device";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureIsolation: return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorStreamCaptureUnjoined: return "capture was not joined";
    case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
  }
  return "unknown error";
}

// ---- memory ----

cudaError_t cudaMalloc(void** ptr, std::size_t bytes) { return allocate(ptr, bytes, true); }
cudaError_t cudaFree(void* ptr) { return release(ptr, true); }
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  if (free_bytes == nullptr || total_bytes == nullptr) return last_error = cudaErrorInvalidValue;
  *total_bytes = ltgen_emu::device_memory_bytes();
  *free_bytes = *total_bytes - device_bytes_held;
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** ptr, std::size_t bytes, unsigned) { return allocate(ptr, bytes, false); }
cudaError_t cudaMallocHost(void** ptr, std::size_t bytes) { return allocate(ptr, bytes, false); }
cudaError_t cudaFreeHost(void* ptr) { return release(ptr, false); }

namespace {

// Where each side of a copy must lie for its kind; pinned host memory counts as host memory.
bool copy_ok(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  if (src_device ? !inside(src, bytes, true) : is_device_pointer(src)) return false;
  if (dst_device ? !inside(dst, bytes, true) : is_device_pointer(dst)) return false;
  return kind != cudaMemcpyHostToHost && kind != cudaMemcpyDefault;
}

bool pinned(const void* p, std::size_t bytes) { return inside(p, bytes, false); }

}  // namespace

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (!copy_ok(dst, src, bytes, kind)) return cudaErrorInvalidValue;
  CUstream_st* s = resolve(stream);
  const bool host_side_pageable = (kind == cudaMemcpyHostToDevice && !pinned(src, bytes)) ||
                                  (kind == cudaMemcpyDeviceToHost && !pinned(dst, bytes));
  if (s->capture && host_side_pageable) return fail_capture(s, cudaErrorStreamCaptureUnsupported);
  if (kind == cudaMemcpyHostToDevice && host_side_pageable) {
    // CUDA stages pageable memory before it returns: the source is read now.
    auto staged = std::make_shared<std::vector<std::byte>>(static_cast<const std::byte*>(src),
                                                           static_cast<const std::byte*>(src) + bytes);
    return enqueue(stream, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); }, "cudaMemcpyAsync");
  }
  const cudaError_t e = enqueue(stream, [dst, src, bytes] { std::memcpy(dst, src, bytes); }, "cudaMemcpyAsync");
  // ... and a copy into pageable memory is complete when it returns.
  if (e == cudaSuccess && kind == cudaMemcpyDeviceToHost && host_side_pageable) flush_all(s);
  return e;
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (any_capture()) return cudaErrorStreamCaptureUnsupported;
  if (!copy_ok(dst, src, bytes, kind)) return cudaErrorInvalidValue;
  flush_all(&legacy_stream);  // a cudaMemset before it
  for (CUstream_st* s : streams) flush_all(s);  // synchronous with respect to the device
  DeviceAccess access;
  std::memcpy(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (!inside(dst, bytes, true)) return cudaErrorInvalidValue;
  return enqueue(stream, [dst, value, bytes] { std::memset(dst, value, bytes); }, "cudaMemsetAsync");
}

// cudaMemset returns before the device has run it, on the legacy stream. A non-blocking stream
// does not wait for it, so here it stays pending until something synchronises with the legacy
// stream: work enqueued on a non-blocking stream after it, and not ordered behind it, runs first.
cudaError_t cudaMemset(void* dst, int value, std::size_t bytes) {
  if (any_capture()) return cudaErrorStreamCaptureUnsupported;
  if (!inside(dst, bytes, true)) return cudaErrorInvalidValue;
  for (CUstream_st* s : streams)
    if (s->blocking) flush_all(s);
  legacy_stream.queue.push_back([dst, value, bytes] { std::memset(dst, value, bytes); });
  ++legacy_stream.enqueued;
  return cudaSuccess;
}

// ---- streams and events ----

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  *stream = new CUstream_st;
  (*stream)->blocking = (flags & cudaStreamNonBlocking) == 0;
  streams.insert(*stream);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!streams.count(stream)) return cudaErrorInvalidResourceHandle;
  if (stream->capture) return cudaErrorStreamCaptureUnsupported;
  flush_all(stream);  // pending work still runs, as CUDA finishes it
  streams.erase(stream);
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  CUstream_st* s = resolve(stream);
  if (s->capture) return fail_capture(s, cudaErrorStreamCaptureUnsupported);
  if (s != &legacy_stream && !streams.count(s)) return cudaErrorInvalidResourceHandle;
  trace_wait("cudaStreamSynchronize", s, s->enqueued);
  flush_all(s);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) {
  *event = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (event == nullptr) return cudaErrorInvalidResourceHandle;
  CUstream_st* s = resolve(stream);
  if (s->capture) {
    event->captured_in = s->capture;
    return cudaSuccess;
  }
  event->stream = s;
  event->position = s->enqueued;
  event->captured_in = nullptr;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (event == nullptr) return cudaErrorInvalidResourceHandle;
  if (event->captured_in) return cudaErrorStreamCaptureUnsupported;
  if (event->stream) {  // never recorded: complete at once
    trace_wait("cudaEventSynchronize", event->stream, event->position);
    flush(event->stream, event->position);
  }
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  if (event == nullptr) return cudaErrorInvalidResourceHandle;
  CUstream_st* s = resolve(stream);
  if (s->capture) {
    // Only events recorded in the same capture may order captured work.
    if (event->captured_in != s->capture) return fail_capture(s, cudaErrorStreamCaptureIsolation);
    return cudaSuccess;
  }
  CUstream_st* other = event->stream;
  const std::uint64_t position = event->position;
  if (other == nullptr || other == s) return cudaSuccess;
  // When this stream reaches the wait, the other stream's work up to the record runs first.
  return enqueue(stream, [other, position] { flush(other, position); }, "cudaStreamWaitEvent");
}

// ---- graphs ----

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  CUstream_st* s = resolve(stream);
  if (s == &legacy_stream) return cudaErrorStreamCaptureUnsupported;
  if (s->capture) return cudaErrorStreamCaptureUnsupported;
  s->capture = new CUgraph_st;
  s->capture_invalidated = false;
  ++capturing_streams;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  CUstream_st* s = resolve(stream);
  if (!s->capture) return cudaErrorInvalidValue;
  CUgraph_st* g = s->capture;
  s->capture = nullptr;
  --capturing_streams;
  if (s->capture_invalidated) {
    delete g;
    *graph = nullptr;
    return cudaErrorStreamCaptureInvalidated;
  }
  *graph = g;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (graph == nullptr) return cudaErrorInvalidValue;
  *exec = new CUgraphExec_st{std::make_shared<const std::vector<std::function<void()>>>(graph->work), graph->collective,
                             graph->holds};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (exec == nullptr) return cudaErrorInvalidResourceHandle;
  const cudaError_t status = enqueue(stream, [work = exec->work] {
    for (const auto& w : *work) w();
  }, "cudaGraphLaunch");
  if (status == cudaSuccess && exec->collective && !resolve(stream)->capture) flush_everything(resolve(stream));
  return status;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
