// Double-precision sums over float data that compilers vectorise. An in-order sum is one chain of
// dependent additions, which a compiler may not reorder (that would change the result); kSumLanes
// independent partial sums, added in a fixed order at the end, run as SIMD lanes instead. For
// the reductions where torch's CPU kernels accumulate in double (BatchNorm's statistics).
#pragma once

namespace ltrt {

constexpr int kSumLanes = 8;

// sum of term(k) for k in [0, len), term returning a double.
template <class Term>
inline double sum_f64(int len, Term term) {
  double lane[kSumLanes] = {};
  int k = 0;
  for (; k + kSumLanes <= len; k += kSumLanes)
    for (int l = 0; l < kSumLanes; ++l) lane[l] += term(k + l);
  double tail = 0.0;
  for (; k < len; ++k) tail += term(k);
  double total = 0.0;
  for (int l = 0; l < kSumLanes; ++l) total += lane[l];
  return total + tail;
}

}  // namespace ltrt
