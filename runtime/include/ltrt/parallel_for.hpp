// Loops whose iterations are independent, split into contiguous parts among the step's helper
// threads (ltrt/workers.hpp): the elementwise and per-row passes between a step's GEMMs, and the
// optimizer's update. Each iteration still does exactly what the loop did, so the results do
// not depend on how many parts there are.
#pragma once

#include <cstdint>

#include "ltrt/workers.hpp"

namespace ltrt {

// At most this many parts from now on (at least 1; blas_threads() until set): for a caller that
// runs the same step on other thread counts, as the benchmarks do.
void set_split_threads(int threads);

// How many parts `count` iterations are split into: one per thread (blas_threads()), but none
// smaller than `grain` iterations (a part's work must outweigh waking a helper, a microsecond or
// two). LTGEN_SPLIT_GRAIN=1 in the environment splits every loop and GEMM as finely as the threads
// allow, so that tests reach the split code with small shapes (results may then depend on the
// thread count: the bounds no longer keep each element's path).
int split_parts(std::int64_t count, std::int64_t grain);
// Whether LTGEN_SPLIT_GRAIN is set: then part bounds fall anywhere, aligned loops' and GEMMs' too.
bool split_forced();

namespace detail {
template <class Body>
void split(std::int64_t count, std::int64_t grain, std::int64_t align, const Body& body) {
  const int parts = split_parts(count, grain);
  if (parts <= 1) {
    // A copy here too: `body`'s address escapes to the helpers below, so through it the
    // compiler must reload the captured pointers after every store (see the part's copy).
    const Body whole = body;
    if (count > 0) whole(std::int64_t{0}, count);
    return;
  }
  struct Context {
    const Body* body;
    std::int64_t count, align;
  } context{&body, count, split_forced() ? 1 : align};
  step_workers().run(
      [](void* c, int part, int parts) noexcept {
        const auto& ctx = *static_cast<const Context*>(c);
        const auto bound = [&](int p) {
          return p == parts ? ctx.count : ctx.count * p / parts / ctx.align * ctx.align;
        };
        const std::int64_t begin = bound(part), end = bound(part + 1);
        // A copy of the lambda, a local the loop's stores cannot reach: its captured pointers are
        // then loaded once, not on every iteration (which would keep a conditional load such as
        // ReLU's backward from being vectorised).
        const Body body = *ctx.body;
        if (begin < end) body(begin, end);
      },
      &context, parts);
}
}  // namespace detail

// body(begin, end) for contiguous ranges that cover [0, count) once; part p of P starts at
// count * p / P. For loops over rows (samples, channels, rows of a matrix) whose inner loops are
// each iteration's own. The body must not throw (it runs on a helper thread).
template <class Body>
void parallel_for(std::int64_t count, std::int64_t grain, const Body& body) {
  detail::split(count, grain, 1, body);
}

// The same with part bounds on multiples of 16 iterations, for a loop that the compiler
// vectorises along the split index itself (elements, columns): each element then takes the same
// path through the vectorised code (a 16-float vector, or the loop's tail, whose rounding may
// differ) whatever the number of parts.
template <class Body>
void parallel_for_aligned(std::int64_t count, std::int64_t grain, const Body& body) {
  detail::split(count, grain, 16, body);
}

}  // namespace ltrt
