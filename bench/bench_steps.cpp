// Per-step benchmarks of ltgen's generated code (bench/README.md):
//   BM_generated/<model>/threads:T  one full step = the generated training_step on a full batch +
//                                   the runtime's Optimizer::step, on T of the step's threads
//   BM_handwritten_linear           a hand-written C++ loop for specs/linear.json (Linear 10->1,
//                                   MSELoss, Adam(lr=1e-3), batch 32): the reference for aim (a)
//   BM_fma_peak                     one core's fp32 FMA throughput, the peak FLOP/s is measured against
// Each reports the wall-clock time per step (UseRealTime: the step's helper threads run beside this one),
// FLOP/s (the FLOPs of one step, see step_flops) and the allocations made inside the timed
// loop (operator new and the malloc family, counted by the replacements below; counters
// allocs and news, label "ALLOCATES ..." when not zero).
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <dlfcn.h>
#include <execinfo.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <unistd.h>

#include <ltrt/arena.hpp>
#include <ltrt/dropout_draws.hpp>
#include <ltrt/init.hpp>
#include <ltrt/model.hpp>
#include <ltrt/optimizer.hpp>
#include <ltrt/parallel_for.hpp>
#include <ltrt/rng.hpp>
#include <ltrt/torch_generator.hpp>

// --- allocation counting -------------------------------------------------------------------
namespace {
std::atomic<std::int64_t> g_allocations{0};
// LTGEN_BENCH_TRACE_ALLOCS=1: print a backtrace of every allocation inside a timed loop.
std::atomic<bool> g_trace{false};
thread_local bool t_in_trace = false;
void count_allocation() {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (g_trace.load(std::memory_order_relaxed) && !t_in_trace) {
    t_in_trace = true;
    void* frames[24];
    const int n = backtrace(frames, 24);
    static const char kHead[] = "ltgen_bench: allocation in the step loop:\n";
    (void)!write(2, kHead, sizeof kHead - 1);
    backtrace_symbols_fd(frames, n, 2);
    t_in_trace = false;
  }
}
void set_tracing(bool on) {
  static const bool wanted = [] {
    const char* e = std::getenv("LTGEN_BENCH_TRACE_ALLOCS");
    void* frames[2];
    backtrace(frames, 2);  // loads libgcc's unwinder now, not inside the loop
    return e != nullptr && e[0] == '1';
  }();
  g_trace.store(on && wanted);
}
}  // namespace

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void* malloc(std::size_t n) {
  count_allocation();
  return __libc_malloc(n);
}
void* calloc(std::size_t count, std::size_t n) {
  count_allocation();
  return __libc_calloc(count, n);
}
void* realloc(void* p, std::size_t n) {
  count_allocation();
  return __libc_realloc(p, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
  count_allocation();
  return __libc_memalign(alignment, n);
}
void* memalign(std::size_t alignment, std::size_t n) {
  count_allocation();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  count_allocation();
  void* p = __libc_memalign(alignment, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
}  // extern "C"

// operator new goes through malloc in libstdc++, but count it on its own as well: a
// replacement here catches every new of the process, whatever its library.
namespace {
std::atomic<std::int64_t> g_news{0};
void* counted_new(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* counted_new_aligned(std::size_t n, std::align_val_t al) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  const std::size_t a = static_cast<std::size_t>(al);
  if (void* p = aligned_alloc(a, (n + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
}  // namespace
void* operator new(std::size_t n) { return counted_new(n); }
void* operator new[](std::size_t n) { return counted_new(n); }
void* operator new(std::size_t n, std::align_val_t al) { return counted_new_aligned(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return counted_new_aligned(n, al); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

// --- the generated models ------------------------------------------------------------------
namespace linear { const ltrt::ModelDef& model(); }
namespace mlp { const ltrt::ModelDef& model(); }
namespace cnn_bench { const ltrt::ModelDef& model(); }
namespace gpt_char_bench { const ltrt::ModelDef& model(); }

namespace {

// The step's threads: ltrt splits its GEMMs and loops among them (ltrt/blas.hpp,
// ltrt/parallel_for.hpp) and runs OpenBLAS on one thread per call. With another BLAS (found at
// run time, so that any BLAS links) its own threads rule (OMP_NUM_THREADS and the like).
bool set_blas_threads(int threads) {
  if (dlsym(RTLD_DEFAULT, "openblas_set_num_threads") == nullptr) return false;
  ltrt::set_split_threads(threads);
  return true;
}

// FLOPs of one full-batch step, counted as the header comment of model.cpp does for the
// matrix products that dominate: per Linear weight (out, in), 2*B*in*out for the forward,
// as much for dW, and as much for dX except for the first layer (whose input needs no
// gradient); plus 2*B*out per bias (forward add, backward sum). Elementwise ops, the loss
// and the optimizer are left out, so FLOP/s slightly understates the work done.
double step_flops(const ltrt::ModelDef& m) {
  const double b = m.batch_size;
  double flops = 0.0;
  bool first = true;
  for (int i = 0; i < m.num_params; ++i) {
    const ltrt::TensorRef& t = m.params[i].value;
    if (t.rank == 2) {
      const double mn = static_cast<double>(t.shape[0]) * static_cast<double>(t.shape[1]);
      flops += (first ? 4.0 : 6.0) * b * mn;
      first = false;
    } else if (t.rank == 1) {
      flops += 2.0 * b * static_cast<double>(t.shape[0]);
    }
  }
  return flops;
}

// Random full batch: normal inputs; float targets normal, class targets in [0, num_classes).
void fill_batch(const ltrt::ModelDef& m, std::byte* arena, ltrt::Generator& gen) {
  if (m.input.dtype == ltrt::DType::i64) {  // token indices (an Embedding's input): vocab = num_classes here
    auto* x = reinterpret_cast<std::int64_t*>(arena + m.input.offset);
    for (std::int64_t i = 0; i < m.input.numel(); ++i) x[i] = static_cast<std::int64_t>(gen.below(m.num_classes));
  } else {
    auto* x = reinterpret_cast<float*>(arena + m.input.offset);
    for (std::int64_t i = 0; i < m.input.numel(); ++i) x[i] = static_cast<float>(gen.normal());
  }
  if (m.target.dtype == ltrt::DType::i64) {
    auto* y = reinterpret_cast<std::int64_t*>(arena + m.target.offset);
    for (std::int64_t i = 0; i < m.target.numel(); ++i) y[i] = static_cast<std::int64_t>(gen.below(m.num_classes));
  } else {
    auto* y = reinterpret_cast<float*>(arena + m.target.offset);
    for (std::int64_t i = 0; i < m.target.numel(); ++i) y[i] = static_cast<float>(gen.normal());
  }
}

// bench/specs/cnn_bench.json at batch 64: conv1 1->16 and conv2 16->32 (3x3, padding 1) on 28x28
// and 14x14 maps as im2col products (forward, dW; dX for conv2 only), the Linear 1568->10;
// BatchNorm, pooling, the loss and SGD left out.
double cnn_flops(const ltrt::ModelDef&) {
  const double b = 64;
  const double conv1 = 2.0 * b * 28 * 28 * 16 * 9, conv2 = 2.0 * b * 14 * 14 * 32 * 16 * 9;
  return 2.0 * conv1 + 3.0 * conv2 + 6.0 * b * 1568 * 10;
}
// bench/specs/gpt_char_bench.json: R = 32 x 64 tokens, E = 128, 4 layers of Linear weights
// 12 E^2 (in_proj 3E x E, out_proj, fc 4E x E, proj E x 4E), the tied head V x E (forward, dW,
// dX each), and per layer QK^T and AV over the full T x T (forward 4 N T^2 E, backward twice
// that). LayerNorm, GELU, softmax, the loss and AdamW left out.
double gpt_flops(const ltrt::ModelDef&) {
  const double n = 32, t = 64, e = 128, v = 146, layers = 4, r = n * t;
  return 6.0 * r * (layers * 12.0 * e * e + v * e) + layers * 3.0 * 4.0 * n * t * t * e;
}

void report(benchmark::State& state, double flops, std::int64_t allocs, std::int64_t news) {
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["FLOP/step"] = flops;
  state.counters["allocs"] = static_cast<double>(allocs);
  state.counters["news"] = static_cast<double>(news);
}

void BM_generated(benchmark::State& state, const ltrt::ModelDef& (*model)(),
                  double (*flops)(const ltrt::ModelDef&) = step_flops) {
  const int threads = static_cast<int>(state.range(0));
  if (!set_blas_threads(threads) && threads != 1) {
    state.SkipWithError("the BLAS is not OpenBLAS: set its threads with OMP_NUM_THREADS instead");
    return;
  }
  const ltrt::ModelDef& m = model();
  ltrt::Arena arena(m.arena_bytes);
  ltrt::Rngs rngs = ltrt::seed_everything(42);
  ltrt::TorchGenerator init(42);  // torch.manual_seed(42): the weights, then the dropout masks
  ltrt::init_parameters(m, arena.data(), init);
  const ltrt::DropoutDraws draws{init, rngs.dropout};
  fill_batch(m, arena.data(), rngs.data);
  ltrt::Optimizer optimizer(m, arena.data());
  // Warm up outside the count: the BLAS sets up its buffers and threads on first use.
  for (int i = 0; i < 3; ++i) {
    m.training_step(arena.data(), m.batch_size, 1.0f, false, draws);
    optimizer.step();
  }
  const std::int64_t allocs0 = g_allocations.load(), news0 = g_news.load();
  float loss = 0.0f;
  set_tracing(true);
  for (auto _ : state) {
    loss = m.training_step(arena.data(), m.batch_size, 1.0f, false, draws);
    optimizer.step();
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  set_tracing(false);
  const std::int64_t allocs = g_allocations.load() - allocs0, news = g_news.load() - news0;
  report(state, flops(m), allocs, news);
  state.counters["loss"] = loss;
  if (!std::isfinite(loss)) state.SkipWithError("the loss is not finite");
  // Kept as a result rather than an error, to keep the time: OpenBLAS 0.3.21's threaded sgemm
  // mallocs its job array on every call (LTGEN_BENCH_TRACE_ALLOCS=1 shows where).
  if (allocs != 0 || news != 0) state.SetLabel("ALLOCATES in the step loop");
}

// --- the hand-written reference for specs/linear.json -------------------------------------
// What one writes by hand for Linear(10, 1) + MSELoss + torch.optim.Adam(lr=1e-3) on a batch
// of 32: fused forward/backward over the rows, then Adam with torch's float64 bias
// corrections. Same arithmetic as torch (float32 tensors, float64 Python scalars).
struct HandLinear {
  static constexpr int kBatch = 32, kIn = 10, kParams = kIn + 1;
  alignas(64) float x[kBatch][kIn];
  alignas(64) float y[kBatch];
  alignas(64) float param[kParams];  // weight[0..9], bias
  alignas(64) float grad[kParams];
  alignas(64) float exp_avg[kParams];
  alignas(64) float exp_avg_sq[kParams];
  std::int64_t step_count = 0;

  float step() {
    float g[kParams] = {};
    float loss = 0.0f;
    for (int i = 0; i < kBatch; ++i) {
      float out = param[kIn];
      for (int k = 0; k < kIn; ++k) out += x[i][k] * param[k];
      const float diff = out - y[i];
      loss += diff * diff;
      const float d = diff * (2.0f / kBatch);
      for (int k = 0; k < kIn; ++k) g[k] += d * x[i][k];
      g[kIn] += d;
    }
    std::memcpy(grad, g, sizeof g);
    // torch.optim.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    ++step_count;
    const double bc1 = 1.0 - std::pow(0.9, static_cast<double>(step_count));
    const double bc2 = 1.0 - std::pow(0.999, static_cast<double>(step_count));
    const float step_size = static_cast<float>(1e-3 / bc1);
    const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    for (int k = 0; k < kParams; ++k) {
      const float m = exp_avg[k] + 0.1f * (grad[k] - exp_avg[k]);
      const float v = 0.999f * exp_avg_sq[k] + 0.001f * grad[k] * grad[k];
      exp_avg[k] = m;
      exp_avg_sq[k] = v;
      param[k] -= step_size * m / (std::sqrt(v) / bc2_sqrt + 1e-8f);
    }
    return loss / kBatch;
  }
};

void BM_handwritten_linear(benchmark::State& state) {
  HandLinear h{};
  ltrt::Generator gen(42);
  for (auto& row : h.x)
    for (float& v : row) v = static_cast<float>(gen.normal());
  for (float& v : h.y) v = static_cast<float>(gen.normal());
  for (float& v : h.param) v = static_cast<float>((2.0 * gen.uniform() - 1.0) / std::sqrt(10.0));
  const std::int64_t allocs0 = g_allocations.load(), news0 = g_news.load();
  float loss = 0.0f;
  for (auto _ : state) {
    loss = h.step();
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  report(state, step_flops(linear::model()), g_allocations.load() - allocs0, g_news.load() - news0);
  state.counters["loss"] = loss;
}

// --- one core's fp32 FMA peak ---------------------------------------------------------------
// 12 independent chains of vector FMAs (enough to cover latency x ports): the ceiling that
// "% of peak" refers to. AVX-512 where compiled for it, else AVX2+FMA.
void BM_fma_peak(benchmark::State& state) {
#if defined(__AVX512F__)
  using V = __m512;
  constexpr int kLanes = 16;
  auto fma = [](V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); };
  auto set1 = [](float x) { return _mm512_set1_ps(x); };
#elif defined(__FMA__)
  using V = __m256;
  constexpr int kLanes = 8;
  auto fma = [](V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); };
  auto set1 = [](float x) { return _mm256_set1_ps(x); };
#else
  state.SkipWithError("compiled without FMA");
  return;
#endif
#if defined(__AVX512F__) || defined(__FMA__)
  constexpr int kChains = 12, kInner = 1000;
  V acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = set1(0.001f * c);
  const V a = set1(0.999999f), b = set1(1e-7f);
  for (auto _ : state) {
    for (int i = 0; i < kInner; ++i) {
      for (int c = 0; c < kChains; ++c) acc[c] = fma(acc[c], a, b);
    }
    for (int c = 0; c < kChains; ++c) benchmark::DoNotOptimize(acc[c]);
  }
  const double flops = 2.0 * kLanes * kChains * kInner;
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
#endif
}

}  // namespace

BENCHMARK_CAPTURE(BM_generated, linear, &linear::model)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK_CAPTURE(BM_generated, mlp, &mlp::model)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK_CAPTURE(BM_generated, cnn, &cnn_bench::model, cnn_flops)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK_CAPTURE(BM_generated, gpt, &gpt_char_bench::model, gpt_flops)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_handwritten_linear)->UseRealTime();
BENCHMARK(BM_fma_peak)->UseRealTime();

BENCHMARK_MAIN();
