#include "ltrt/correlation.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

namespace ltrt {

void rank_values(const float* x, std::int64_t n, float* ranks) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::sort(order.begin(), order.end(), [x](std::int64_t i, std::int64_t j) { return sorts_before(x[i], i, x[j], j); });
  for (std::int64_t start = 0; start < n;) {  // a run of equal numbers shares its ranks' mean
    const float v = x[order[start]];
    std::int64_t end = start + 1;
    while (v == v && end < n && x[order[end]] == v) ++end;
    const float rank = tie_rank(start, end - start);
    for (std::int64_t k = start; k < end; ++k) ranks[order[k]] = rank;
    start = end;
  }
}

float spearman_value(const float* x, const float* y, std::int64_t n) {
  std::vector<float> rx(static_cast<std::size_t>(n)), ry(static_cast<std::size_t>(n));
  rank_values(x, n, rx.data());
  rank_values(y, n, ry.data());
  return spearman_of_ranks(rx.data(), ry.data(), n);
}

}  // namespace ltrt
