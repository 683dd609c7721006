// A loop whose iterations are independent, split into contiguous parts among the step's helper
// threads (ltrt/workers.hpp): the elementwise and per-row passes between a step's GEMMs, which
// would otherwise run on one core while BLAS's threads wait for the next GEMM. Each iteration
// still does exactly what the loop did, so the results do not depend on how many parts there are.
#pragma once

#include <cstdint>

#include "ltrt/workers.hpp"

namespace ltrt {

// At most this many parts from now on (at least 1; blas_threads() until set): for a caller that
// changes BLAS's threads through its API (openblas_set_num_threads), as the benchmarks do.
void set_split_threads(int threads);

// How many parts `count` iterations are split into: one per BLAS thread (blas_threads()), but
// none smaller than `grain` iterations (a part's work must outweigh waking a helper, a
// microsecond or two). LTGEN_SPLIT_GRAIN=1 in the environment splits every loop as finely as the
// threads allow, so that tests reach the split code with small shapes.
int split_parts(std::int64_t count, std::int64_t grain);

constexpr std::int64_t kAlign = 16;  // iterations a part boundary falls on: 16 floats, one AVX-512 vector

// body(begin, end) for contiguous ranges that cover [0, count) once; part p of P starts at
// count * p / P rounded down to a multiple of kAlign, so that an elementwise loop's element takes the
// same path through its vectorised code (the 16-float body, or the tail, whose rounding may
// differ) whatever the number of parts. The body must not throw (it runs on a helper thread).

template <class Body>
void parallel_for(std::int64_t count, std::int64_t grain, const Body& body) {
  const int parts = split_parts(count, grain);
  if (parts <= 1) {
    if (count > 0) body(std::int64_t{0}, count);
    return;
  }
  struct Context {
    const Body* body;
    std::int64_t count;
  } context{&body, count};
  step_workers().run(
      [](void* c, int part, int parts) noexcept {
        const auto& ctx = *static_cast<const Context*>(c);
        const auto bound = [&](int p) { return p == parts ? ctx.count : ctx.count * p / parts / kAlign * kAlign; };
        const std::int64_t begin = bound(part), end = bound(part + 1);
        // A copy of the lambda, a local the loop's stores cannot reach: its captured pointers are
        // then loaded once, not on every iteration (which would keep a conditional load such as
        // ReLU's backward from being vectorised).
        const Body body = *ctx.body;
        if (begin < end) body(begin, end);
      },
      &context, parts);
}

}  // namespace ltrt
