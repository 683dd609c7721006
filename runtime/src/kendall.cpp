#include "ltrt/kendall.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

namespace ltrt {
namespace {

// Pairs of equal values among v (sorted, NaN last) and the distinct values, each NaN its own.
void count_ties(const std::vector<float>& v, std::int64_t& ties, std::int64_t& unique) {
  ties = unique = 0;
  for (std::size_t start = 0; start < v.size();) {
    std::size_t end = start + 1;
    while (v[start] == v[start] && end < v.size() && v[end] == v[start]) ++end;
    const auto run = static_cast<std::int64_t>(end - start);
    ties += run * (run - 1) / 2;
    ++unique;
    start = end;
  }
}
std::vector<float> sorted_nan_last(const float* v, std::int64_t n) {
  std::vector<float> s(v, v + n);
  std::sort(s.begin(), s.end(), [](float a, float b) { return b != b ? a == a : a < b; });
  return s;
}

// Pairs i < j of y[lo, hi) with y[i] > y[j], y sorted in place (a merge sort).
std::int64_t count_inversions(std::vector<float>& y, std::vector<float>& scratch, std::size_t lo, std::size_t hi) {
  if (hi - lo < 2) return 0;
  const std::size_t mid = lo + (hi - lo) / 2;
  std::int64_t inversions = count_inversions(y, scratch, lo, mid) + count_inversions(y, scratch, mid, hi);
  std::size_t i = lo, j = mid, k = lo;
  while (i < mid && j < hi) {
    if (y[j] < y[i]) {  // y[j] is below every y[i .. mid): each of them is a pair out of order
      inversions += static_cast<std::int64_t>(mid - i);
      scratch[k++] = y[j++];
    } else {
      scratch[k++] = y[i++];
    }
  }
  while (i < mid) scratch[k++] = y[i++];
  while (j < hi) scratch[k++] = y[j++];
  std::copy(scratch.begin() + static_cast<std::ptrdiff_t>(lo), scratch.begin() + static_cast<std::ptrdiff_t>(hi),
            y.begin() + static_cast<std::ptrdiff_t>(lo));
  return inversions;
}

}  // namespace

KendallCounts kendall_counts(const float* x, const float* y, std::int64_t n) {
  KendallCounts c;
  c.n = n;
  count_ties(sorted_nan_last(x, n), c.ties_x, c.unique_x);
  count_ties(sorted_nan_last(y, n), c.ties_y, c.unique_y);
  // Knight's count over the rows without a NaN (a pair with one is neither concordant nor
  // discordant): sorted by x, then y, a pair out of order in y is discordant; of the m (m - 1) / 2
  // pairs, those tied in x or in y are neither, and the rest are concordant.
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < n; ++i)
    if (x[i] == x[i] && y[i] == y[i]) rows.push_back(i);
  std::sort(rows.begin(), rows.end(), [x, y](std::int64_t i, std::int64_t j) {
    return x[i] < x[j] || (x[i] == x[j] && y[i] < y[j]);
  });
  const auto m = static_cast<std::int64_t>(rows.size());
  std::int64_t tied_x = 0, tied_both = 0;  // pairs equal in x, and equal in x and y
  for (std::size_t start = 0; start < rows.size();) {
    std::size_t end = start + 1;
    while (end < rows.size() && x[rows[end]] == x[rows[start]]) ++end;
    const auto run = static_cast<std::int64_t>(end - start);
    tied_x += run * (run - 1) / 2;
    for (std::size_t s = start; s < end;) {  // within the run y is sorted: its runs of equal y
      std::size_t e = s + 1;
      while (e < end && y[rows[e]] == y[rows[s]]) ++e;
      const auto both = static_cast<std::int64_t>(e - s);
      tied_both += both * (both - 1) / 2;
      s = e;
    }
    start = end;
  }
  std::vector<float> ys(rows.size()), scratch(rows.size());
  for (std::size_t k = 0; k < rows.size(); ++k) ys[k] = y[rows[k]];
  std::vector<float> y_sorted = ys;
  std::sort(y_sorted.begin(), y_sorted.end());
  std::int64_t tied_y = 0, distinct = 0;
  count_ties(y_sorted, tied_y, distinct);
  c.discordant = count_inversions(ys, scratch, 0, ys.size());
  c.concordant = m * (m - 1) / 2 - tied_x - tied_y + tied_both - c.discordant;
  return c;
}

float kendall_value(const float* x, const float* y, std::int64_t n, KendallVariant variant) {
  return kendall_tau(kendall_counts(x, y, n), variant);
}

}  // namespace ltrt
