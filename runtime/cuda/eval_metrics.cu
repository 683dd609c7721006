// An evaluation batch's loss and metrics added to running sums in device memory, so that a
// validation or test loop reads them back once, at its end (runtime/src/metrics.cpp's
// count_accuracy, sum_errors and WeightedMean, on the device).
//
// Two launches a metric: the first spreads the batch over many blocks (accuracy: a warp per
// position's argmax over its classes, a thread per binary logit; the errors: a thread per
// prediction), each block writing its counts of hits and counted positions, or its float64 sum of
// errors, to its own slot; the second adds the slots in a fixed tree and updates the sums. Counts
// are integers, so accuracy is exact in any order; the errors' sums agree with the CPU's to
// float64 rounding. No atomics there; precision, recall and F1 count each class's stat scores with
// integer atomics (exact in any order) and score them in one block; AUROC counts each class's
// ranked pairs so too, and average precision sums its precisions in a fixed order; r2 sums each
// output column in a block's fixed tree; the correlations run the CPU's code in one thread (spearman's
// ranks and kendall's counts of pairs a thread a value first).
#include <algorithm>
#include <string>

#include "ltrt/cuda/kernels.cuh"
#include "ltrt/cuda/reduce.cuh"
#include "ltrt/error.hpp"

namespace ltrt::cuda {

namespace {

constexpr int kThreads = 256;                 // TUNE: threads of a counting block (a multiple of 32)
constexpr int kWarps = kThreads / kWarp;      // positions a counting block takes at a time
constexpr int kMaxBlocks = 1024;              // TUNE: at most this many counting blocks (grid-stride beyond)
constexpr int kSumThreads = 1024;             // the second launch: one block, a thread per slot

struct Hits {
  unsigned long long correct, counted;
};

// Each counting block's slot. The runtime has one evaluation stream and a launch reads only the
// slots its first launch wrote, so one set serves every batch.
__device__ Hits block_hits[kMaxBlocks];

// torch.argmax of a row of `classes` logits, by a warp: lane l scans classes l, l + 32, ... (the
// warp reads 32 adjacent floats at a time, kUnroll such loads in flight) from class 0 as its first
// candidate, taking a class only when argmax_prefers it, in ascending order, so a lane keeps the
// first index of its best. The lanes' choices then meet in a butterfly that takes the preferred
// logit, else the lower index: the same choice in either order, so every lane ends with the row's
// first index of its largest logit (or of its first NaN).
constexpr int kUnroll = 4;  // TUNE: independent loads a lane has in flight (a GPT-2 row is 1572 strides)
__device__ std::int64_t warp_argmax(const float* __restrict__ row, std::int64_t classes, int lane) {
  float best = row[0];
  std::int64_t best_k = 0;
  for (std::int64_t k0 = lane; k0 < classes; k0 += kUnroll * kWarp) {
    float v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = k0 + u * kWarp < classes ? row[k0 + u * kWarp] : best;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (argmax_prefers(v[u], best)) {  // past the row, v[u] is best, which it does not beat
        best = v[u];
        best_k = k0 + u * kWarp;
      }
  }
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(0xffffffffu, best, offset);
    const std::int64_t other_k = __shfl_xor_sync(0xffffffffu, best_k, offset);
    if (argmax_prefers(other, best) || (!argmax_prefers(best, other) && other_k < best_k)) {
      best = other;
      best_k = other_k;
    }
  }
  return best_k;
}

// The rank of class t in a row of `classes` logits (metrics.hpp's top_k_rank), by a warp: lane l
// counts the classes l, l + 32, ... that rank above it, and the lanes' counts are summed, so every
// lane ends with the same integer.
__device__ std::int64_t warp_rank(const float* __restrict__ row, std::int64_t classes, std::int64_t t, int lane) {
  const float target = row[t];
  std::int64_t rank = 0;
  for (std::int64_t j = lane; j < classes; j += kWarp) rank += ranks_above(row[j], j, target, t);
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) rank += __shfl_xor_sync(0xffffffffu, rank, offset);
  return rank;
}

// Counts the hits of `positions` positions (class targets: a warp each; a hit is the argmax, or
// with top_k > 1 a rank below top_k) or binary logits (a thread each) into block_hits[blockIdx.x].
__global__ void __launch_bounds__(kThreads) count_hits_kernel(const float* __restrict__ out,
                                                              const void* __restrict__ target, AccuracyShape shape,
                                                              std::int64_t positions, std::int64_t top_k) {
  __shared__ unsigned long long partial[kWarp];
  unsigned long long correct = 0, counted = 0;
  if (shape.class_targets) {
    const int lane = threadIdx.x % kWarp;
    const auto* classes = static_cast<const std::int64_t*>(target);
    for (std::int64_t pos = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.x / kWarp; pos < positions;
         pos += static_cast<std::int64_t>(gridDim.x) * kWarps) {
      const std::int64_t t = classes[pos];
      if (t == shape.ignore_index) continue;  // the whole warp: ignore_index positions do not count
      const bool hit = top_k > 1 ? warp_rank(out + pos * shape.classes, shape.classes, t, lane) < top_k
                                 : warp_argmax(out + pos * shape.classes, shape.classes, lane) == t;
      if (lane == 0) {
        correct += hit;
        ++counted;
      }
    }
  } else {
    // Binary: a logit above 0 is a probability above 0.5.
    const auto* floats = static_cast<const float*>(target);
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < positions;
         i += static_cast<std::int64_t>(gridDim.x) * kThreads) {
      correct += (out[i] > 0.0f) == (floats[i] > 0.5f);
      ++counted;
    }
  }
  correct = block_reduce(correct, partial, 0ull, Sum());
  counted = block_reduce(counted, partial, 0ull, Sum());
  if (threadIdx.x == 0) block_hits[blockIdx.x] = Hits{correct, counted};
}

// The errors' kernel: a thread per prediction, each block's float64 sum of metric_error in its slot.
__device__ double block_errors[kMaxBlocks];

__global__ void __launch_bounds__(kThreads) sum_errors_kernel(const float* __restrict__ out,
                                                              const float* __restrict__ target, MetricKind kind,
                                                              std::int64_t count) {
  __shared__ double partial[kWarp];
  double sum = 0;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * kThreads)
    sum += metric_error(out[i], target[i], kind);
  sum = block_reduce(sum, partial, 0.0, Sum());
  if (threadIdx.x == 0) block_errors[blockIdx.x] = sum;
}

// torchmetrics takes the values for probabilities when all those it counts lie in [0, 1]: how many
// do not (binary logits, for the stat scores; any counted position's, for auroc and
// average_precision). Cleared by whichever of them runs, on the one evaluation stream.
__device__ unsigned int values_outside_unit;

__global__ void __launch_bounds__(kThreads) find_values_outside_unit_kernel(const float* __restrict__ out,
                                                                           const void* __restrict__ target,
                                                                           AccuracyShape shape,
                                                                           std::int64_t positions) {
  const std::int64_t values = positions * (shape.class_targets ? shape.classes : 1);
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < values;
       i += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    if (shape.class_targets && static_cast<const std::int64_t*>(target)[i / shape.classes] == shape.ignore_index)
      continue;
    if (!(out[i] >= 0.0f && out[i] <= 1.0f)) atomicAdd(&values_outside_unit, 1u);
  }
}

// The stat-score metrics (stat_score_metric): each class's true positives, predictions and targets
// (runtime/src/metrics.cpp's count_class_stats).
__device__ unsigned long long class_stats[3 * kMaxScoreClasses];

__global__ void __launch_bounds__(kThreads) clear_class_stats_kernel(std::int64_t classes) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < 3 * classes;
       i += static_cast<std::int64_t>(gridDim.x) * kThreads)
    class_stats[i] = 0;
  if (blockIdx.x == 0 && threadIdx.x == 0) values_outside_unit = 0;
}

// Multiclass: a warp per position (its argmax, or with top_k above 1 its target when that ranks
// below top_k), lane 0 counting it; binary: a thread per logit, each block's three counts added once.
__global__ void __launch_bounds__(kThreads) count_class_stats_kernel(const float* __restrict__ out,
                                                                    const void* __restrict__ target,
                                                                    AccuracyShape shape, std::int64_t positions,
                                                                    std::int64_t top_k) {
  if (shape.class_targets) {
    unsigned long long* tp = class_stats;
    unsigned long long* predicted = class_stats + shape.classes;
    unsigned long long* actual = class_stats + 2 * shape.classes;
    const int lane = threadIdx.x % kWarp;
    const auto* labels = static_cast<const std::int64_t*>(target);
    for (std::int64_t pos = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.x / kWarp; pos < positions;
         pos += static_cast<std::int64_t>(gridDim.x) * kWarps) {
      const std::int64_t t = labels[pos];
      if (t == shape.ignore_index) continue;
      std::int64_t best = warp_argmax(out + pos * shape.classes, shape.classes, lane);
      if (top_k > 1 && warp_rank(out + pos * shape.classes, shape.classes, t, lane) < top_k) best = t;
      if (lane == 0) {
        atomicAdd(predicted + best, 1ull);
        atomicAdd(actual + t, 1ull);
        if (best == t) atomicAdd(tp + t, 1ull);
      }
    }
    return;
  }
  __shared__ unsigned long long partial[kWarp];
  const bool probabilities = values_outside_unit == 0;
  const auto* floats = static_cast<const float*>(target);
  unsigned long long tp = 0, predicted = 0, actual = 0;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < positions;
       i += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const bool p = binary_prediction(out[i], probabilities), t = floats[i] > 0.5f;
    predicted += p;
    actual += t;
    tp += p && t;
  }
  tp = block_reduce(tp, partial, 0ull, Sum());
  predicted = block_reduce(predicted, partial, 0ull, Sum());
  actual = block_reduce(actual, partial, 0ull, Sum());
  if (threadIdx.x == 0) {
    atomicAdd(class_stats, tp);
    atomicAdd(class_stats + 1, predicted);
    atomicAdd(class_stats + 2, actual);
  }
}

// Adds this batch's score (metrics.cpp's stats_score over `classes` classes: average_score, or
// matrix_score) times n to metric k's sum: the micro sums and the weights' sum over the block,
// then the average's terms or matrix_score's sums in one thread, in torch's order. The positions
// counted are `binary_positions`, or with class targets (0 there) their targets'.
__global__ void __launch_bounds__(kSumThreads) add_score_kernel(EvalSums* __restrict__ sums, int k, ScoreRule rule,
                                                                bool matrix, std::int64_t classes, int n,
                                                                std::int64_t binary_positions) {
  __shared__ unsigned long long counts[kWarp];
  const unsigned long long* tp = class_stats;
  const unsigned long long* predicted = class_stats + classes;
  const unsigned long long* actual = class_stats + 2 * classes;
  unsigned long long t = 0, p = 0, a = 0, w = 0;
  for (std::int64_t c = threadIdx.x; c < classes; c += kSumThreads) {
    t += tp[c];
    p += predicted[c];
    a += actual[c];
    w += class_weight(rule, c, tp[c], predicted[c], actual[c]);
  }
  t = block_reduce(t, counts, 0ull, Sum());
  p = block_reduce(p, counts, 0ull, Sum());
  a = block_reduce(a, counts, 0ull, Sum());
  w = block_reduce(w, counts, 0ull, Sum());
  const std::int64_t positions = binary_positions > 0 ? binary_positions : static_cast<std::int64_t>(a);
  double value = 0;
  if (matrix) {  // matthews_corrcoef's or cohen_kappa's sums in torchmetrics' order
    if (threadIdx.x == 0) value = matrix_score(rule.kind, tp, predicted, actual, classes, positions);
  } else if (rule.average == MetricAverage::micro || classes == 1) {
    value = micro_score(rule, tp, predicted, actual, classes, positions, static_cast<std::int64_t>(t),
                        static_cast<std::int64_t>(p), static_cast<std::int64_t>(a));
  } else if (threadIdx.x == 0) {  // torch.sum's order of the terms
    value = average_of_terms(rule, tp, predicted, actual, classes, positions, static_cast<std::int64_t>(w));
  }
  if (threadIdx.x == 0) sums->metric[k] += value * n;  // WeightedMean::add(value, n)
}

// The Metric objects' stat scores of the evaluation so far (EpochCounts' layout: tp, predicted,
// actual per class, then the binary positions), added to after each batch's count.
__device__ unsigned long long epoch_stats[3 * kMaxScoreClasses + 1];

// Into set `set`'s entries (MetricsShape::stats_set; 3 * classes + 1 each).
__global__ void __launch_bounds__(kThreads) add_epoch_stats_kernel(std::int64_t classes, std::int64_t positions,
                                                                  int set) {
  unsigned long long* stats = epoch_stats + set * (3 * classes + 1);
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < 3 * classes;
       i += static_cast<std::int64_t>(gridDim.x) * kThreads)
    stats[i] += class_stats[i];
  if (blockIdx.x == 0 && threadIdx.x == 0) stats[3 * classes] += positions;
}

__global__ void __launch_bounds__(kThreads) clear_epoch_stats_kernel(std::int64_t entries) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < entries;
       i += static_cast<std::int64_t>(gridDim.x) * kThreads)
    epoch_stats[i] = 0;
}

// auroc (metrics.cpp's ranked_class_score), counted by pairs: per class, roc_area's 2 * (pairs whose
// positive ranks above) + (ties), and its positives; then the positions counted. Integers, so exact
// in any order.
__device__ unsigned long long roc_above2[kMaxScoreClasses];
__device__ unsigned long long roc_positives[kMaxScoreClasses];
__device__ unsigned long long roc_counted;

__global__ void __launch_bounds__(kThreads) clear_roc_kernel(std::int64_t classes) {
  for (std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; c < classes;
       c += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    roc_above2[c] = 0;
    roc_positives[c] = 0;
  }
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    roc_counted = 0;
    values_outside_unit = 0;
  }
}

// Multiclass logits: each position's softmax max and sum (float64 over its classes, then float32),
// a warp a position, into rows[2 * pos], rows[2 * pos + 1].
__global__ void __launch_bounds__(kThreads) softmax_rows_kernel(const float* __restrict__ out, float* __restrict__ rows,
                                                                std::int64_t classes, std::int64_t positions) {
  const int lane = threadIdx.x % kWarp;
  for (std::int64_t pos = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.x / kWarp; pos < positions;
       pos += static_cast<std::int64_t>(gridDim.x) * kWarps) {
    if (values_outside_unit == 0) return;  // probabilities already: the pairs read them as they are
    const float* row = out + pos * classes;
    float max = row[0];
    for (std::int64_t c = lane; c < classes; c += kWarp) max = fmaxf(max, row[c]);
#pragma unroll
    for (int offset = kWarp / 2; offset > 0; offset /= 2) max = fmaxf(max, __shfl_xor_sync(0xffffffffu, max, offset));
    double sum = 0;
    for (std::int64_t c = lane; c < classes; c += kWarp) sum += expf(row[c] - max);
#pragma unroll
    for (int offset = kWarp / 2; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) {
      rows[2 * pos] = max;
      rows[2 * pos + 1] = static_cast<float>(sum);
    }
  }
}

// Position j's probability of class c, and whether it is counted (-1: not, or past the batch's
// positions) and positive.
struct RocScore {
  float p;
  int label;  // -1 left out, 0 negative, 1 positive
};
__device__ RocScore roc_score(const float* __restrict__ out, const void* __restrict__ target,
                              const float* __restrict__ rows, const AccuracyShape& shape, std::int64_t j,
                              std::int64_t positions, std::int64_t c, bool probabilities) {
  if (j >= positions) return {0.0f, -1};
  if (!shape.class_targets) {
    const float x = out[j];
    return {probabilities ? x : logit_probability(x), static_cast<const float*>(target)[j] > 0.5f ? 1 : 0};
  }
  const std::int64_t t = static_cast<const std::int64_t*>(target)[j];
  if (t == shape.ignore_index) return {0.0f, -1};
  const float x = out[j * shape.classes + c];
  return {probabilities ? x : expf(x - rows[2 * j]) / rows[2 * j + 1], t == c ? 1 : 0};
}

// The block's scores of positions j0 .. j0 + kThreads into `chunk`, once every thread is done with
// the last chunk.
__device__ void load_roc_chunk(RocScore* chunk, const float* __restrict__ out, const void* __restrict__ target,
                               const float* __restrict__ rows, const AccuracyShape& shape, std::int64_t j0,
                               std::int64_t positions, std::int64_t c, bool probabilities) {
  __syncthreads();
  chunk[threadIdx.x] = roc_score(out, target, rows, shape, j0 + threadIdx.x, positions, c, probabilities);
  __syncthreads();
}

// A block per (class, tile of kThreads positions): each positive of the tile against every negative
// of the batch, kThreads at a time through shared memory. Classes along x (up to 65536), tiles
// along y (a grid-stride loop beyond the y limit).
__global__ void __launch_bounds__(kThreads) count_roc_pairs_kernel(const float* __restrict__ out,
                                                                  const void* __restrict__ target,
                                                                  const float* __restrict__ rows, AccuracyShape shape,
                                                                  std::int64_t positions) {
  __shared__ RocScore chunk[kThreads];
  __shared__ unsigned long long partial[kWarp];
  const std::int64_t c = blockIdx.x;
  const bool probabilities = values_outside_unit == 0;
  for (std::int64_t tile = blockIdx.y; tile * kThreads < positions; tile += gridDim.y) {
    const std::int64_t i = tile * kThreads + threadIdx.x;
    const RocScore mine = roc_score(out, target, rows, shape, i, positions, c, probabilities);
    unsigned long long above2 = 0;
    for (std::int64_t j0 = 0; j0 < positions; j0 += kThreads) {
      load_roc_chunk(chunk, out, target, rows, shape, j0, positions, c, probabilities);
      if (mine.label == 1)
        for (int j = 0; j < kThreads; ++j)
          if (chunk[j].label == 0)
            above2 += probability_above(mine.p, chunk[j].p) ? 2u : (probability_above(chunk[j].p, mine.p) ? 0u : 1u);
    }
    above2 = block_reduce(above2, partial, 0ull, Sum());
    const unsigned long long positives = block_reduce<unsigned long long>(mine.label == 1, partial, 0ull, Sum());
    const unsigned long long counted = block_reduce<unsigned long long>(mine.label >= 0, partial, 0ull, Sum());
    if (threadIdx.x == 0) {
      atomicAdd(roc_above2 + c, above2);
      atomicAdd(roc_positives + c, positives);
      if (c == 0) atomicAdd(&roc_counted, counted);
    }
  }
}

// average_precision: per class, the sum over its positives of the precision at each one's
// probability (metrics.cpp's ranked_class_score), in float64.
__device__ double precision_sums[kMaxScoreClasses];

// A block per class (classes along x): thread t takes positions t, t + kThreads, ...; for each
// positive, the counted positions at or above its probability and the positives among them, over
// the whole batch kThreads at a time through shared memory. Its precisions are added in the
// thread's fixed order, then in the block's tree, so the sum has the same bits in any schedule.
__global__ void __launch_bounds__(kThreads) sum_precisions_kernel(const float* __restrict__ out,
                                                                 const void* __restrict__ target,
                                                                 const float* __restrict__ rows, AccuracyShape shape,
                                                                 std::int64_t positions) {
  __shared__ RocScore chunk[kThreads];
  __shared__ double partial[kWarp];
  __shared__ unsigned long long counts[kWarp];
  const std::int64_t c = blockIdx.x;
  const bool probabilities = values_outside_unit == 0;
  double sum = 0;
  unsigned long long positives = 0, counted = 0;
  for (std::int64_t tile = 0; tile < positions; tile += kThreads) {
    const std::int64_t i = tile + threadIdx.x;
    const RocScore mine = roc_score(out, target, rows, shape, i, positions, c, probabilities);
    std::int64_t above = 0, positives_above = 0;
    for (std::int64_t j0 = 0; j0 < positions; j0 += kThreads) {
      load_roc_chunk(chunk, out, target, rows, shape, j0, positions, c, probabilities);
      if (mine.label == 1)
        for (int j = 0; j < kThreads; ++j)
          if (chunk[j].label >= 0 && !probability_above(mine.p, chunk[j].p)) {
            ++above;
            positives_above += chunk[j].label;
          }
    }
    if (mine.label == 1) {
      sum += precision_at(positives_above, above);
      ++positives;
    }
    counted += mine.label >= 0;
  }
  sum = block_reduce(sum, partial, 0.0, Sum());
  positives = block_reduce(positives, counts, 0ull, Sum());
  counted = block_reduce(counted, counts, 0ull, Sum());
  if (threadIdx.x == 0) {
    precision_sums[c] = sum;
    roc_positives[c] = positives;
    if (c == 0) roc_counted = counted;
  }
}

// Adds this batch's auroc or average_precision times n to metric k's sum: each class's value (its
// term of the average), summed over the block.
__global__ void __launch_bounds__(kSumThreads) add_ranked_kernel(EvalSums* __restrict__ sums, int k, MetricKind kind,
                                                                 MetricAverage average, bool class_targets,
                                                                 std::int64_t classes, int n) {
  __shared__ double terms[kWarp];
  __shared__ unsigned long long counts[kWarp];
  const std::int64_t all = static_cast<std::int64_t>(roc_counted);
  double sum = 0;
  unsigned long long included = 0;
  for (std::int64_t c = threadIdx.x; c < classes; c += kSumThreads) {
    const std::int64_t positives = static_cast<std::int64_t>(roc_positives[c]);
    if (!averages_class(kind, class_targets, positives)) continue;
    const float value =
        kind == MetricKind::auroc
            ? roc_area(static_cast<std::int64_t>(roc_above2[c]), positives, all - positives)
            : (positives ? static_cast<float>(precision_sums[c] / static_cast<double>(positives)) : 0.0f);
    sum += roc_term(average, value, positives, all);
    ++included;
  }
  sum = block_reduce(sum, terms, 0.0, Sum());
  included = block_reduce(included, counts, 0ull, Sum());
  const double value = ranked_average(average, sum, static_cast<std::int64_t>(included));
  if (threadIdx.x == 0) sums->metric[k] += value * n;  // WeightedMean::add(value, n)
}

// r2_score's, explained_variance's and relative_squared_error's sums of a batch (R2Sums' layout): a block per output column,
// its rows' targets, their squares, the residuals' squares and the residuals summed in float64 (a
// fixed tree) and rounded to float32.
__device__ float r2_batch[4 * kMaxR2Columns + 2];

__global__ void __launch_bounds__(kThreads) sum_r2_kernel(const float* __restrict__ out,
                                                          const float* __restrict__ target, std::int64_t rows,
                                                          std::int64_t columns) {
  __shared__ double partial[kWarp];
  const std::int64_t c = blockIdx.x;
  double sum = 0, squares = 0, rss = 0, residuals = 0;
  for (std::int64_t r = threadIdx.x; r < rows; r += kThreads) {
    const float y = target[r * columns + c];
    const float residual = y - out[r * columns + c];
    sum += y;
    squares += y * y;  // float32 products, as torch's target * target
    rss += residual * residual;
    residuals += residual;
  }
  sum = block_reduce(sum, partial, 0.0, Sum());
  squares = block_reduce(squares, partial, 0.0, Sum());
  rss = block_reduce(rss, partial, 0.0, Sum());
  residuals = block_reduce(residuals, partial, 0.0, Sum());
  if (threadIdx.x == 0) {
    r2_batch[c] = static_cast<float>(sum);
    r2_batch[columns + c] = static_cast<float>(squares);
    r2_batch[2 * columns + c] = static_cast<float>(rss);
    r2_batch[3 * columns + c] = static_cast<float>(residuals);
  }
}

// weighted_mean_absolute_percentage_error's sums of a batch over every element (after R2Sums' columns
// in r2_batch): |out - target| and |target|, in float64 (a fixed tree) and rounded to float32.
__global__ void __launch_bounds__(kThreads) sum_absolute_kernel(const float* __restrict__ out,
                                                                const float* __restrict__ target, std::int64_t count,
                                                                std::int64_t columns) {
  __shared__ double partial[kWarp];
  double errors = 0, scale = 0;
  for (std::int64_t i = threadIdx.x; i < count; i += kThreads) {
    errors += fabsf(out[i] - target[i]);
    scale += fabsf(target[i]);
  }
  errors = block_reduce(errors, partial, 0.0, Sum());
  scale = block_reduce(scale, partial, 0.0, Sum());
  if (threadIdx.x == 0) {
    r2_batch[4 * columns] = static_cast<float>(errors);
    r2_batch[4 * columns + 1] = static_cast<float>(scale);
  }
}

// Adds the batch's r2, explained variance, relative squared error or weighted mean absolute
// percentage error (metrics.hpp's column_sums_value of r2_batch) to metric k's sum.
__global__ void add_r2_kernel(EvalSums* __restrict__ sums, int k, MetricKind kind, MetricAverage average,
                              std::int64_t adjusted, bool root, std::int64_t columns, int n) {
  const float value = column_sums_value(kind, r2_batch, columns, n, average, adjusted, root);
  sums->metric[k] += static_cast<double>(value) * n;  // WeightedMean::add
}

// Adds the batch's pearson_corrcoef or concordance_corrcoef to metric k's sum: its moments in one
// thread, in the CPU's order (ltrt/correlation.hpp), so the value is the CPU's bit for bit.
__global__ void add_correlation_kernel(EvalSums* __restrict__ sums, int k, MetricKind kind,
                                       const float* __restrict__ out, const float* __restrict__ target, int n) {
  PearsonMoments moments;
  pearson_update(moments, out, target, n);
  sums->metric[k] += static_cast<double>(correlation_value(kind, moments)) * n;  // WeightedMean::add
}

// spearman_corrcoef's ranks of a batch's n outputs and n targets into ranks[0, 2n): a thread a
// value, counting the values below it and tied with it (correlation.hpp's rank_of, the CPU's sort's
// ranks exactly).
__global__ void __launch_bounds__(kThreads) rank_values_kernel(const float* __restrict__ out,
                                                               const float* __restrict__ target, std::int64_t n,
                                                               float* __restrict__ ranks) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < 2 * n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    ranks[i] = i < n ? rank_of(out, n, i) : rank_of(target, n, i - n);
}

// Adds the batch's spearman_corrcoef of its ranks to metric k's sum, in one thread in the CPU's order.
__global__ void add_spearman_kernel(EvalSums* __restrict__ sums, int k, const float* __restrict__ ranks, int n) {
  sums->metric[k] += static_cast<double>(spearman_of_ranks(ranks, ranks + n, n)) * n;  // WeightedMean::add
}

// Adds the batch's cosine_similarity of its n rows of `columns` outputs to metric k's sum, in one
// thread in the CPU's order.
__global__ void add_cosine_similarity_kernel(EvalSums* __restrict__ sums, int k, const float* __restrict__ out,
                                             const float* __restrict__ target, int n, std::int64_t columns,
                                             MetricReduction reduction) {
  sums->metric[k] += static_cast<double>(cosine_similarity_value(out, target, n, columns, reduction)) * n;
}

// kendall_rank_corrcoef's counts of a batch's n outputs against its targets: a thread a value, its
// share of the pairs (kendall.hpp's kendall_share) into shares[i].
__global__ void __launch_bounds__(kThreads) kendall_shares_kernel(const float* __restrict__ out,
                                                                  const float* __restrict__ target, std::int64_t n,
                                                                  KendallCounts* __restrict__ shares) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    shares[i] = kendall_share(out, target, n, i);
}

// Adds the batch's kendall_rank_corrcoef to metric k's sum: the shares added in one thread (integers,
// so the CPU's counts whatever the order), then the CPU's kendall_tau.
__global__ void add_kendall_kernel(EvalSums* __restrict__ sums, int k, KendallVariant variant,
                                   const KendallCounts* __restrict__ shares, int n) {
  KendallCounts counts;
  for (int i = 0; i < n; ++i) counts.add(shares[i]);
  sums->metric[k] += static_cast<double>(kendall_tau(counts, variant)) * n;  // WeightedMean::add
}

// Adds the batch's critical_success_index to metric k's sum: one block counts the hits, misses and
// false alarms of its `count` elements (integers: the CPU's counts), then the CPU's arithmetic.
__global__ void __launch_bounds__(kThreads) add_success_kernel(EvalSums* __restrict__ sums, int k,
                                                               const float* __restrict__ out,
                                                               const float* __restrict__ target, std::int64_t count,
                                                               float threshold, int n) {
  __shared__ unsigned long long partial[kWarp];
  unsigned long long hits = 0, misses = 0, false_alarms = 0;
  for (std::int64_t i = threadIdx.x; i < count; i += kThreads) {
    const bool predicted = out[i] >= threshold, actual = target[i] >= threshold;
    hits += predicted && actual;
    misses += actual && !predicted;
    false_alarms += predicted && !actual;
  }
  hits = block_reduce(hits, partial, 0ull, Sum());
  misses = block_reduce(misses, partial, 0ull, Sum());
  false_alarms = block_reduce(false_alarms, partial, 0ull, Sum());
  if (threadIdx.x == 0)
    sums->metric[k] += static_cast<double>(critical_success_index_value(static_cast<std::int64_t>(hits),
                                                                        static_cast<std::int64_t>(misses),
                                                                        static_cast<std::int64_t>(false_alarms))) *
                       n;  // WeightedMean::add
}

// A weighted cohen_kappa's confusion matrix of a batch's `positions` positions (zeroed before): a
// thread a position, its cell (confusion_cell) counted atomically.
__global__ void __launch_bounds__(kThreads)
    count_confusion_kernel(const float* __restrict__ out, const void* __restrict__ target, AccuracyShape a,
                           std::int64_t positions, unsigned long long* __restrict__ counts) {
  for (std::int64_t p = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; p < positions;
       p += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    if (const std::int64_t cell = confusion_cell(a, out, target, p); cell >= 0) atomicAdd(&counts[cell], 1ull);
}

// Adds the batch's weighted cohen_kappa of its confusion matrix to metric k's sum, in one thread in
// the CPU's order.
__global__ void add_weighted_kappa_kernel(EvalSums* __restrict__ sums, int k,
                                          const unsigned long long* __restrict__ counts, std::int64_t classes,
                                          KappaWeights weights, int n) {
  sums->metric[k] += static_cast<double>(weighted_cohen_kappa(counts, classes, weights)) * n;  // WeightedMean::add
}

// exact_match's flags of a batch (zeroed before), a thread a value: flags[0] is set where binary
// logits lie outside [0, 1] (torchmetrics' probabilities rule then takes the sigmoid); it is decided
// in this launch of its own, before the next reads it.
__global__ void __launch_bounds__(kThreads)
    find_outside_unit_kernel(const float* __restrict__ out, std::int64_t count, unsigned int* __restrict__ flags) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    if (!(out[i] >= 0.0f && out[i] <= 1.0f)) flags[0] = 1;
}
// ... then flags[1 + i] is set where a position of sample i is wrong (exact_position), a thread a
// position.
__global__ void __launch_bounds__(kThreads)
    find_wrong_samples_kernel(const float* __restrict__ out, const void* __restrict__ target, AccuracyShape a,
                              std::int64_t positions, unsigned int* __restrict__ flags) {
  const bool probabilities = flags[0] == 0;
  for (std::int64_t p = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; p < positions;
       p += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    if (!exact_position(a, out, target, p, probabilities)) flags[1 + p / a.per_row] = 1;
}
// Adds the batch's exact_match to metric k's sum: the samples without a wrong position counted in
// one block (integers: the CPU's count), then the CPU's float32 division.
__global__ void __launch_bounds__(kThreads)
    add_exact_match_kernel(EvalSums* __restrict__ sums, int k, const unsigned int* __restrict__ flags, int n) {
  __shared__ unsigned long long partial[kWarp];
  unsigned long long correct = 0;
  for (int i = threadIdx.x; i < n; i += kThreads) correct += flags[1 + i] == 0;
  correct = block_reduce(correct, partial, 0ull, Sum());
  if (threadIdx.x == 0) {
    ExactMatchCount count;
    count.correct = static_cast<std::int64_t>(correct);
    count.total = n;
    sums->metric[k] += static_cast<double>(count.value()) * n;  // WeightedMean::add
  }
}

// Adds this batch's value of metric k to its sum: accuracy from the first `blocks` slots of
// block_hits, an error's mean from those of block_errors over `count` predictions, or with `root`
// its square root (a root mean squared error's Metric object sums the mean: MetricsShape::sums_squares).
__global__ void __launch_bounds__(kSumThreads) add_metric_kernel(EvalSums* __restrict__ sums, int k, bool accuracy,
                                                                int blocks, std::int64_t count, int n, bool root) {
  __shared__ unsigned long long hits[kWarp];
  __shared__ double errors[kWarp];
  const bool mine = static_cast<int>(threadIdx.x) < blocks;
  double value = 0;
  if (accuracy) {
    const unsigned long long correct = block_reduce(mine ? block_hits[threadIdx.x].correct : 0ull, hits, 0ull, Sum());
    const unsigned long long counted = block_reduce(mine ? block_hits[threadIdx.x].counted : 0ull, hits, 0ull, Sum());
    value = counted ? static_cast<double>(correct) / static_cast<double>(counted) : 0.0;  // AccuracyCount::value
  } else {
    const double sum = block_reduce(mine ? block_errors[threadIdx.x] : 0.0, errors, 0.0, Sum());
    value = count ? sum / static_cast<double>(count) : 0.0;  // ErrorSum::value
    if (root) value = sqrt(value);
  }
  if (threadIdx.x == 0) sums->metric[k] += value * n;  // WeightedMean::add(value, n)
}

// Adds this batch's loss and rows to the sums: value * n in float64, the loss a float widened.
__global__ void add_loss_kernel(EvalSums* __restrict__ sums, const float* __restrict__ loss, int n) {
  sums->loss += static_cast<double>(loss[0]) * n;
  sums->rows += n;
}

// Counting blocks for `items` items, `per_block` to a block at a time.
int counting_blocks(std::int64_t items, int per_block) {
  const std::int64_t wanted = (items + per_block - 1) / per_block;
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(kMaxBlocks, wanted)));
}

static_assert(kMaxBlocks <= kSumThreads, "the second launch has a thread per counting block");

// auroc's and average_precision's launches: the scores' range, the softmax rows (in the GEMM
// workspace: nothing else runs on the stream between), the pairs or the precisions, the average.
void add_ranked(const Context& ctx, EvalSums* sums, int k, const MetricsShape& shape, const float* out,
                const void* target, int n) {
  const MetricKind kind = shape.metric[k].kind;
  const char* name = kind == MetricKind::auroc ? "auroc" : "average_precision";
  const AccuracyShape& a = shape.accuracy;
  const std::int64_t classes = shape.score_classes();
  const std::int64_t positions = static_cast<std::int64_t>(n) * a.per_row;
  if (classes > kMaxScoreClasses)
    throw Error(std::string(name) + " counts at most " + std::to_string(kMaxScoreClasses) +
                " classes on the GPU; the model has " + std::to_string(classes));
  float* rows = static_cast<float*>(ctx.workspace);
  if (a.class_targets && 2 * sizeof(float) * static_cast<std::size_t>(positions) > ctx.workspace_bytes)
    throw Error(std::string(name) + " over " + std::to_string(positions) + " positions a batch needs " +
                std::to_string(2 * sizeof(float) * positions) + " bytes of the GPU's workspace, which has " +
                std::to_string(ctx.workspace_bytes) + ": use a smaller batch");
  clear_roc_kernel<<<counting_blocks(classes, kThreads), kThreads, 0, ctx.stream>>>(classes);
  LTRT_CUDA_CHECK_LAUNCH("clear_roc_kernel");
  const std::int64_t values = positions * (a.class_targets ? a.classes : 1);
  find_values_outside_unit_kernel<<<counting_blocks(values, kThreads), kThreads, 0, ctx.stream>>>(out, target, a,
                                                                                                   positions);
  LTRT_CUDA_CHECK_LAUNCH("find_values_outside_unit_kernel");
  if (a.class_targets) {
    softmax_rows_kernel<<<counting_blocks(positions, kWarps), kThreads, 0, ctx.stream>>>(out, rows, a.classes,
                                                                                        positions);
    LTRT_CUDA_CHECK_LAUNCH("softmax_rows_kernel");
  }
  if (kind == MetricKind::auroc) {
    const std::int64_t tiles = (positions + kThreads - 1) / kThreads;
    const dim3 grid(static_cast<unsigned>(classes), static_cast<unsigned>(std::min<std::int64_t>(tiles, 65535)));
    count_roc_pairs_kernel<<<grid, kThreads, 0, ctx.stream>>>(out, target, rows, a, positions);
    LTRT_CUDA_CHECK_LAUNCH("count_roc_pairs_kernel");
  } else {
    sum_precisions_kernel<<<static_cast<unsigned>(classes), kThreads, 0, ctx.stream>>>(out, target, rows, a, positions);
    LTRT_CUDA_CHECK_LAUNCH("sum_precisions_kernel");
  }
  add_ranked_kernel<<<1, kSumThreads, 0, ctx.stream>>>(sums, k, kind, shape.metric[k].average, a.class_targets, classes,
                                                       n);
  LTRT_CUDA_CHECK_LAUNCH("add_ranked_kernel");
}

}  // namespace

void add_eval_metrics(const Context& ctx, EvalSums* sums, const float* loss, const float* out, const void* target,
                      const MetricsShape& shape, int n) {
  // The batch's stat scores, once a set (a top_k): for the stat-score metrics, accuracy's
  // averages and the Metric objects' epoch. Each set is counted into class_stats, then scored.
  const AccuracyShape& a = shape.accuracy;
  const std::int64_t classes = shape.score_classes();
  const int sets = shape.stats_sets();
  if (sets > 0 && (classes > kMaxScoreClasses || shape.stats_entries() > 3 * kMaxScoreClasses + 1))
    throw Error("precision, recall, the other stat-score metrics and Metric objects count at most " + std::to_string(kMaxScoreClasses) +
                " classes on the GPU, over all their top_k; the model has " + std::to_string(classes) + " classes and " +
                std::to_string(sets) + " top_k");
  for (int set = 0; set < sets; ++set) {
    const std::int64_t positions = static_cast<std::int64_t>(n) * a.per_row;
    clear_class_stats_kernel<<<counting_blocks(3 * classes, kThreads), kThreads, 0, ctx.stream>>>(classes);
    LTRT_CUDA_CHECK_LAUNCH("clear_class_stats_kernel");
    if (!a.class_targets) {
      find_values_outside_unit_kernel<<<counting_blocks(positions, kThreads), kThreads, 0, ctx.stream>>>(out, target,
                                                                                                      a, positions);
      LTRT_CUDA_CHECK_LAUNCH("find_values_outside_unit_kernel");
    }
    const int blocks = counting_blocks(positions, a.class_targets ? kWarps : kThreads);
    count_class_stats_kernel<<<blocks, kThreads, 0, ctx.stream>>>(out, target, a, positions, shape.set_top_k(set));
    LTRT_CUDA_CHECK_LAUNCH("count_class_stats_kernel");
    bool counted = false;
    for (int k = 0; k < shape.count; ++k) {
      if (!shape.reads_stats(k) || shape.stats_set(k) != set) continue;
      if (shape.counted(k)) {  // its value is the epoch's, from epoch_stats (take_epoch_counts)
        counted = true;
        continue;
      }
      // the scores, accuracy's macro or weighted average
      add_score_kernel<<<1, kSumThreads, 0, ctx.stream>>>(sums, k, shape.rule(k), reduces_matrix(shape.metric[k].kind),
                                                          classes, n, a.class_targets ? 0 : positions);
      LTRT_CUDA_CHECK_LAUNCH("add_score_kernel");
    }
    if (counted) {
      add_epoch_stats_kernel<<<counting_blocks(3 * classes, kThreads), kThreads, 0, ctx.stream>>>(
          classes, a.class_targets ? 0 : positions, set);
      LTRT_CUDA_CHECK_LAUNCH("add_epoch_stats_kernel");
    }
  }
  for (int k = 0; k < shape.count; ++k) {
    const MetricKind kind = shape.metric[k].kind;
    if (shape.reads_stats(k)) continue;  // scored with its set above
    if (shape.confusion(k)) {
      if (shape.confusion_object(k)) continue;  // an object's is the epoch's, on the host
      // the matrix in the GEMM workspace (nothing else runs on the stream between), as auroc's rows
      const std::size_t bytes = sizeof(unsigned long long) * static_cast<std::size_t>(a.classes * a.classes);
      if (bytes > ctx.workspace_bytes)
        throw Error("cohen_kappa's confusion matrix of " + std::to_string(a.classes) + " classes needs " +
                    std::to_string(bytes) + " bytes of the GPU's workspace, which has " +
                    std::to_string(ctx.workspace_bytes));
      auto* counts = static_cast<unsigned long long*>(ctx.workspace);
      LTRT_CUDA_CHECK(cudaMemsetAsync(counts, 0, bytes, ctx.stream));
      const std::int64_t positions = static_cast<std::int64_t>(n) * a.per_row;
      count_confusion_kernel<<<counting_blocks(positions, kThreads), kThreads, 0, ctx.stream>>>(out, target, a,
                                                                                                positions, counts);
      LTRT_CUDA_CHECK_LAUNCH("count_confusion_kernel");
      add_weighted_kappa_kernel<<<1, 1, 0, ctx.stream>>>(sums, k, counts, a.classes, shape.metric[k].weights, n);
      LTRT_CUDA_CHECK_LAUNCH("add_weighted_kappa_kernel");
      continue;
    }
    if (ranks_scores(kind)) {
      if (!shape.scored(k)) add_ranked(ctx, sums, k, shape, out, target, n);  // an object's is the epoch's, on the host
      continue;
    }
    if (kind == MetricKind::cosine_similarity) {
      if (shape.values_object(k)) continue;  // an object's is the epoch's, on the host
      add_cosine_similarity_kernel<<<1, 1, 0, ctx.stream>>>(sums, k, out, static_cast<const float*>(target), n,
                                                            shape.per_row, shape.metric[k].reduction);
      LTRT_CUDA_CHECK_LAUNCH("add_cosine_similarity_kernel");
      continue;
    }
    if (ranks_values(kind)) {
      if (shape.values_object(k)) continue;  // an object's is the epoch's, on the host
      if (kind == MetricKind::kendall_rank_corrcoef) {  // the shares in the GEMM workspace, as spearman's ranks
        auto* shares = static_cast<KendallCounts*>(ctx.workspace);
        if (sizeof(KendallCounts) * static_cast<std::size_t>(n) > ctx.workspace_bytes)
          throw Error("kendall_rank_corrcoef over " + std::to_string(n) + " rows a batch needs " +
                      std::to_string(sizeof(KendallCounts) * static_cast<std::size_t>(n)) +
                      " bytes of the GPU's workspace, which has " + std::to_string(ctx.workspace_bytes) +
                      ": use a smaller batch");
        kendall_shares_kernel<<<counting_blocks(n, kThreads), kThreads, 0, ctx.stream>>>(
            out, static_cast<const float*>(target), n, shares);
        LTRT_CUDA_CHECK_LAUNCH("kendall_shares_kernel");
        add_kendall_kernel<<<1, 1, 0, ctx.stream>>>(sums, k, shape.metric[k].variant, shares, n);
        LTRT_CUDA_CHECK_LAUNCH("add_kendall_kernel");
        continue;
      }
      // the ranks in the GEMM workspace (nothing else runs on the stream between), as auroc's rows
      float* ranks = static_cast<float*>(ctx.workspace);
      if (2 * sizeof(float) * static_cast<std::size_t>(n) > ctx.workspace_bytes)
        throw Error("spearman_corrcoef over " + std::to_string(n) + " rows a batch needs " +
                    std::to_string(2 * sizeof(float) * static_cast<std::size_t>(n)) +
                    " bytes of the GPU's workspace, which has " + std::to_string(ctx.workspace_bytes) +
                    ": use a smaller batch");
      rank_values_kernel<<<counting_blocks(2 * static_cast<std::int64_t>(n), kThreads), kThreads, 0, ctx.stream>>>(
          out, static_cast<const float*>(target), n, ranks);
      LTRT_CUDA_CHECK_LAUNCH("rank_values_kernel");
      add_spearman_kernel<<<1, 1, 0, ctx.stream>>>(sums, k, ranks, n);
      LTRT_CUDA_CHECK_LAUNCH("add_spearman_kernel");
      continue;
    }
    if (correlates(kind)) {
      if (shape.moments_object(k)) continue;  // an object's is the epoch's, on the host
      add_correlation_kernel<<<1, 1, 0, ctx.stream>>>(sums, k, kind, out, static_cast<const float*>(target), n);
      LTRT_CUDA_CHECK_LAUNCH("add_correlation_kernel");
      continue;
    }
    if (kind == MetricKind::exact_match) {
      if (shape.exact_object(k)) continue;  // an object's is the epoch's, on the host
      // the flags in the GEMM workspace (nothing else runs on the stream between), as auroc's rows
      const std::size_t bytes = sizeof(unsigned int) * (1 + static_cast<std::size_t>(n));
      if (bytes > ctx.workspace_bytes)
        throw Error("exact_match over " + std::to_string(n) + " samples a batch needs " + std::to_string(bytes) +
                    " bytes of the GPU's workspace, which has " + std::to_string(ctx.workspace_bytes));
      auto* flags = static_cast<unsigned int*>(ctx.workspace);
      LTRT_CUDA_CHECK(cudaMemsetAsync(flags, 0, bytes, ctx.stream));
      const std::int64_t positions = static_cast<std::int64_t>(n) * shape.accuracy.per_row;
      if (!shape.accuracy.class_targets) {
        find_outside_unit_kernel<<<counting_blocks(positions, kThreads), kThreads, 0, ctx.stream>>>(out, positions,
                                                                                                    flags);
        LTRT_CUDA_CHECK_LAUNCH("find_outside_unit_kernel");
      }
      find_wrong_samples_kernel<<<counting_blocks(positions, kThreads), kThreads, 0, ctx.stream>>>(
          out, target, shape.accuracy, positions, flags);
      LTRT_CUDA_CHECK_LAUNCH("find_wrong_samples_kernel");
      add_exact_match_kernel<<<1, kThreads, 0, ctx.stream>>>(sums, k, flags, n);
      LTRT_CUDA_CHECK_LAUNCH("add_exact_match_kernel");
      continue;
    }
    if (kind == MetricKind::critical_success_index) {
      if (shape.success_object(k)) continue;  // an object's is the epoch's, on the host
      add_success_kernel<<<1, kThreads, 0, ctx.stream>>>(sums, k, out, static_cast<const float*>(target),
                                                         static_cast<std::int64_t>(n) * shape.per_row,
                                                         shape.metric[k].threshold, n);
      LTRT_CUDA_CHECK_LAUNCH("add_success_kernel");
      continue;
    }
    if (sums_columns(kind)) {
      refuse_r2_single_row(shape, n);  // an object's forward computes the batch's value too
      if (shape.r2_object(k)) continue;  // an object's is the epoch's, on the host
      if (shape.per_row > kMaxR2Columns)
        throw Error(std::string(metric_suffix(kind)) + " sums at most " + std::to_string(kMaxR2Columns) +
                    " output columns on the GPU; the model has " + std::to_string(shape.per_row));
      if (kind == MetricKind::weighted_mean_absolute_percentage_error) {  // its two sums alone
        sum_absolute_kernel<<<1, kThreads, 0, ctx.stream>>>(out, static_cast<const float*>(target),
                                                            static_cast<std::int64_t>(n) * shape.per_row, shape.per_row);
        LTRT_CUDA_CHECK_LAUNCH("sum_absolute_kernel");
      } else {
        sum_r2_kernel<<<static_cast<unsigned>(shape.per_row), kThreads, 0, ctx.stream>>>(
            out, static_cast<const float*>(target), n, shape.per_row);
        LTRT_CUDA_CHECK_LAUNCH("sum_r2_kernel");
      }
      warn_adjusted_r2_fallback(n, shape.metric[k].adjusted);
      add_r2_kernel<<<1, 1, 0, ctx.stream>>>(sums, k, kind, shape.metric[k].average, shape.metric[k].adjusted,
                                             shape.metric[k].root, shape.per_row, n);
      LTRT_CUDA_CHECK_LAUNCH("add_r2_kernel");
      continue;
    }
    const bool accuracy = kind == MetricKind::accuracy;
    std::int64_t count = 0;
    int blocks = 0;
    if (accuracy) {
      const std::int64_t positions = static_cast<std::int64_t>(n) * shape.accuracy.per_row;
      blocks = counting_blocks(positions, shape.accuracy.class_targets ? kWarps : kThreads);  // a position per warp
      count_hits_kernel<<<blocks, kThreads, 0, ctx.stream>>>(out, target, shape.accuracy, positions,
                                                             shape.metric[k].top_k);
      LTRT_CUDA_CHECK_LAUNCH("count_hits_kernel");
    } else {
      count = static_cast<std::int64_t>(n) * shape.per_row;
      blocks = counting_blocks(count, kThreads);
      sum_errors_kernel<<<blocks, kThreads, 0, ctx.stream>>>(out, static_cast<const float*>(target), kind, count);
      LTRT_CUDA_CHECK_LAUNCH("sum_errors_kernel");
    }
    add_metric_kernel<<<1, kSumThreads, 0, ctx.stream>>>(sums, k, accuracy, blocks, count, n,
                                                         shape.metric[k].root && !shape.sums_squares(k));
    LTRT_CUDA_CHECK_LAUNCH("add_metric_kernel");
  }
  add_loss_kernel<<<1, 1, 0, ctx.stream>>>(sums, loss, n);
  LTRT_CUDA_CHECK_LAUNCH("add_loss_kernel");
}

std::vector<std::int64_t> take_epoch_counts(const Context& ctx, const MetricsShape& shape) {
  const std::int64_t entries = shape.stats_entries();
  std::vector<unsigned long long> counts(static_cast<std::size_t>(entries));
  LTRT_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));  // the batches' additions are done
  LTRT_CUDA_CHECK(cudaMemcpyFromSymbol(counts.data(), epoch_stats, counts.size() * sizeof(unsigned long long)));
  clear_epoch_stats_kernel<<<counting_blocks(entries, kThreads), kThreads, 0, ctx.stream>>>(entries);
  LTRT_CUDA_CHECK_LAUNCH("clear_epoch_stats_kernel");
  return std::vector<std::int64_t>(counts.begin(), counts.end());
}

}  // namespace ltrt::cuda
