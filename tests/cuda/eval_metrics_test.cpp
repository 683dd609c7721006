// The CUDA backend's evaluation metrics (runtime/cuda/eval_metrics.cu, run by the CUDA emulator)
// against the CPU's count_accuracy and count_metrics. Accuracy and against rows built to have a known torch.argmax: rows of
// more classes than a warp's lanes cover at once, ties of the largest logit (the first index
// wins), NaNs (torch counts them as the largest: the first NaN wins), sequence targets with
// ignore_index, more positions than the grid's warps (a grid-stride loop), and binary logits;
// the same bits in every schedule of blocks and threads. The mean absolute and squared errors,
// with accuracy beside them, agree with the CPU's to float64 rounding; r2 to float32 rounding.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "ltrt/backend.hpp"
#include "ltrt/cuda/kernels.cuh"
#include "ltrt/error.hpp"
#include "ltrt/metrics.hpp"

namespace {

constexpr std::int64_t kIgnore = -100;

// A MetricsShape of the metrics `kinds`, with their averages (micro where not given) and which are
// Metric objects (none where not given).
ltrt::MetricsShape make_shape(std::initializer_list<ltrt::MetricKind> kinds,
                              std::initializer_list<ltrt::MetricAverage> averages, const ltrt::AccuracyShape& accuracy,
                              std::int64_t per_row, std::initializer_list<bool> modules = {}) {
  ltrt::MetricsShape shape{};
  shape.count = static_cast<int>(kinds.size());
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    shape.metric[k] = ltrt::metric(kinds.begin()[k]);
    if (k < averages.size()) shape.metric[k].average = averages.begin()[k];
    if (k < modules.size()) shape.metric[k].module = modules.begin()[k];
  }
  shape.accuracy = accuracy;
  shape.per_row = per_row;
  return shape;
}

// A device copy of a host vector, freed with the object.
template <class T>
struct DeviceCopy {
  T* ptr = nullptr;
  explicit DeviceCopy(const std::vector<T>& host) {
    EXPECT_EQ(cudaMalloc(&ptr, host.size() * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceCopy() { cudaFree(ptr); }
};

// The sums after add_eval_metrics of one batch of n rows, on the emulated device in `schedule`.
ltrt::EvalSums device_sums(const ltrt::MetricsShape& shape, const std::vector<float>& out, const void* target,
                           std::size_t target_bytes, int n, const char* schedule) {
  ltgen_emu::set_schedule(schedule);
  const std::vector<float> loss = {0.25f};
  DeviceCopy<float> d_out(out), d_loss(loss);
  std::vector<unsigned char> target_bytes_host(static_cast<const unsigned char*>(target),
                                               static_cast<const unsigned char*>(target) + target_bytes);
  DeviceCopy<unsigned char> d_target(target_bytes_host);
  DeviceCopy<ltrt::EvalSums> d_sums(std::vector<ltrt::EvalSums>(1));
  cudaStream_t stream;
  EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  DeviceCopy<float> workspace(std::vector<float>(1 << 14));  // auroc's softmax rows
  ltrt::cuda::Context ctx{stream, nullptr, workspace.ptr, (1 << 14) * sizeof(float), nullptr};
  ltrt::cuda::add_eval_metrics(ctx, d_sums.ptr, d_loss.ptr, d_out.ptr, d_target.ptr, shape, n);
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  ltrt::EvalSums sums;
  EXPECT_EQ(cudaMemcpy(&sums, d_sums.ptr, sizeof sums, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  ltgen_emu::set_schedule("forward");
  return sums;
}

// The device's accuracy of the batch equals the CPU's (and `expected` hits of `counted`) in every
// schedule, bit for bit.
void expect_device_matches(const ltrt::AccuracyShape& accuracy, const std::vector<float>& out, const void* target,
                           std::size_t target_bytes, int n, std::int64_t expected_correct, std::int64_t expected_counted,
                           std::vector<const char*> schedules = {"forward", "reverse", "shuffle:3"}) {
  const ltrt::MetricsShape shape = make_shape({ltrt::MetricKind::accuracy}, {}, accuracy, 0);
  const ltrt::AccuracyCount cpu = ltrt::count_accuracy(accuracy, out.data(), target, n);
  EXPECT_EQ(cpu.correct, expected_correct);
  EXPECT_EQ(cpu.total, expected_counted);
  for (const char* schedule : schedules) {
    SCOPED_TRACE(schedule);
    const ltrt::EvalSums sums = device_sums(shape, out, target, target_bytes, n, schedule);
    EXPECT_EQ(sums.rows, n);
    EXPECT_EQ(sums.loss, 0.25 * n);
    EXPECT_EQ(sums.metric[0], cpu.value() * n);  // the same division and product as WeightedMean's
  }
}

// A batch of sequence targets over `classes` logits whose argmax is known by construction: a
// background of small integers below the row's largest logit (so many ties below it), then per
// position one of: a single largest logit, the largest tied at two indices (lanes' stripes apart,
// the later one often in a lower lane), NaNs at two indices, every logit equal, or ignore_index.
struct Batch {
  std::vector<float> out;
  std::vector<std::int64_t> target;
  std::int64_t correct = 0, counted = 0;
};
Batch build_batch(int n, int positions, std::int64_t classes, unsigned seed) {
  Batch b;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> background(-6, 0);
  std::uniform_int_distribution<std::int64_t> any_class(0, classes - 1);
  b.out.resize(static_cast<std::size_t>(n) * positions * classes);
  b.target.resize(static_cast<std::size_t>(n) * positions);
  for (std::int64_t pos = 0; pos < static_cast<std::int64_t>(b.target.size()); ++pos) {
    float* row = b.out.data() + pos * classes;
    for (std::int64_t k = 0; k < classes; ++k) row[k] = static_cast<float>(background(rng));
    const std::int64_t first = any_class(rng) / 2;  // where the largest logit (or first NaN) is
    const std::int64_t later = std::uniform_int_distribution<std::int64_t>(first + 1, classes - 1)(rng);
    std::int64_t argmax = first;
    switch (pos % 5) {
      case 0:  // one largest logit
        row[first] = 3.0f;
        break;
      case 1:  // tied largest logits: the first index wins
        row[first] = row[later] = 2.0f;
        break;
      case 2:  // NaNs beat every number: the first NaN wins
        row[any_class(rng)] = 1e30f;
        row[first] = row[later] = NAN;
        break;
      case 3:  // every logit equal: class 0
        for (std::int64_t k = 0; k < classes; ++k) row[k] = -0.0f;
        row[later] = 0.0f;  // -0.0 == 0.0: still a tie
        argmax = 0;
        break;
      case 4:  // not counted
        b.target[pos] = kIgnore;
        continue;
    }
    // Half the positions aim at the argmax, the others at the later tie or a random class.
    const bool hit = pos % 2 == 0;
    b.target[pos] = hit ? argmax : (pos % 3 == 0 ? later : any_class(rng));
    if (b.target[pos] == argmax) ++b.correct;
    ++b.counted;
  }
  return b;
}

TEST(CudaEvalMetrics, ArgmaxOverManyClassesWithTiesAndNaNs) {
  const int n = 7, positions = 5;
  const std::int64_t classes = 3001;  // 94 strides of a warp, the last one partial
  const Batch b = build_batch(n, positions, classes, 1);
  const ltrt::AccuracyShape shape{true, positions, classes, kIgnore};
  expect_device_matches(shape, b.out, b.target.data(), b.target.size() * sizeof(std::int64_t), n, b.correct,
                        b.counted);
}

// A top_k hit by definition: the target's place when the row's indices are sorted stably with
// NaNs first, then by descending logit (ties keep the lower index first, as argmax does).
bool in_top_k(const float* row, std::int64_t classes, std::int64_t t, std::int64_t top_k) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(classes));
  for (std::int64_t j = 0; j < classes; ++j) order[static_cast<std::size_t>(j)] = j;
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    const bool na = std::isnan(row[a]), nb = std::isnan(row[b]);
    return na != nb ? na : (!na && row[a] > row[b]);
  });
  return std::find(order.begin(), order.end(), t) - order.begin() < top_k;
}

TEST(CudaEvalMetrics, TopKAccuracyByTheTargetsRank) {
  const int n = 7, positions = 5;
  const std::int64_t classes = 75;  // two strides of a warp and a partial third
  const Batch b = build_batch(n, positions, classes, 4);
  const ltrt::AccuracyShape accuracy{true, positions, classes, kIgnore};
  for (const std::int64_t top_k : {std::int64_t{1}, std::int64_t{2}, std::int64_t{5}, classes}) {
    SCOPED_TRACE(top_k);
    std::int64_t correct = 0, counted = 0;
    for (std::size_t pos = 0; pos < b.target.size(); ++pos) {
      if (b.target[pos] == kIgnore) continue;
      correct += in_top_k(b.out.data() + pos * classes, classes, b.target[pos], top_k);
      ++counted;
    }
    if (top_k == 1) EXPECT_EQ(correct, b.correct);  // the argmax
    if (top_k == classes) EXPECT_EQ(correct, counted);
    const ltrt::AccuracyCount cpu = ltrt::count_accuracy(accuracy, b.out.data(), b.target.data(), n, top_k);
    EXPECT_EQ(cpu.correct, correct);
    EXPECT_EQ(cpu.total, counted);
    ltrt::MetricsShape shape = make_shape({ltrt::MetricKind::accuracy}, {}, accuracy, 0);
    shape.metric[0].top_k = top_k;
    for (const char* schedule : {"forward", "reverse", "shuffle:5"}) {
      SCOPED_TRACE(schedule);
      const ltrt::EvalSums sums =
          device_sums(shape, b.out, b.target.data(), b.target.size() * sizeof(std::int64_t), n, schedule);
      EXPECT_EQ(sums.metric[0], cpu.value() * n);
    }
  }
}

TEST(CudaEvalMetrics, MorePositionsThanTheGridsWarps) {
  // 1024 blocks of 8 warps take 8192 positions at a time: 9000 need a second pass of the grid
  // (260 000 emulated threads: one schedule, the one that runs the grid's last blocks first).
  const int n = 1800, positions = 5;
  const std::int64_t classes = 33;  // one class past a warp's stride
  const Batch b = build_batch(n, positions, classes, 2);
  const ltrt::AccuracyShape shape{true, positions, classes, kIgnore};
  expect_device_matches(shape, b.out, b.target.data(), b.target.size() * sizeof(std::int64_t), n, b.correct,
                        b.counted, {"reverse"});
}

TEST(CudaEvalMetrics, BinaryLogits) {
  const int n = 300, per_row = 3;
  std::mt19937 rng(4);
  std::normal_distribution<float> normal;
  std::vector<float> out(n * per_row), target(n * per_row);
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = i % 7 == 0 ? 0.0f : normal(rng);  // a logit of exactly 0 is a probability of 0.5: class 0
    target[i] = normal(rng) > 0.0f ? 1.0f : 0.0f;
    correct += (out[i] > 0.0f) == (target[i] > 0.5f);
  }
  const ltrt::AccuracyShape shape{false, per_row, 1, kIgnore};
  expect_device_matches(shape, out, target.data(), target.size() * sizeof(float), n, correct, n * per_row);
}

TEST(CudaEvalMetrics, ErrorsBesideAccuracy) {
  // Regression outputs (n, 5) against float targets: accuracy of the binary logits, the mean
  // absolute, the mean squared and the mean absolute percentage error, in that order; more
  // predictions than a block's threads, and targets of 0 and below MAPE's epsilon.
  const int n = 300, per_row = 5;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> out(n * per_row), target(n * per_row);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = normal(rng);
    target[i] = i % 11 == 0 ? out[i] : 3.0f * normal(rng);  // some exact predictions
  }
  target[7] = 0.0f;
  target[8] = -1e-7f;
  using ltrt::MetricKind;
  const ltrt::MetricsShape shape =
      make_shape({MetricKind::accuracy, MetricKind::mean_absolute_error, MetricKind::mean_squared_error,
                  MetricKind::mean_absolute_percentage_error},
                 {}, ltrt::AccuracyShape{false, per_row, 1, kIgnore}, per_row);
  double cpu[ltrt::kMaxMetrics];
  ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
  double abs_sum = 0, square_sum = 0, percentage_sum = 0;  // the definitions, directly
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float d = out[i] - target[i];
    abs_sum += std::fabs(d);
    square_sum += static_cast<double>(d * d);
    percentage_sum += static_cast<double>(std::fabs(d) / std::max(std::fabs(target[i]), 1.17e-06f));
  }
  EXPECT_EQ(cpu[1], abs_sum / (n * per_row));
  EXPECT_EQ(cpu[2], square_sum / (n * per_row));
  EXPECT_EQ(cpu[3], percentage_sum / (n * per_row));
  EXPECT_GT(cpu[3] * n * per_row, 1e5);  // the zero target's error over epsilon
  for (const char* schedule : {"forward", "reverse", "shuffle:3"}) {
    SCOPED_TRACE(schedule);
    const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(float), n, schedule);
    EXPECT_EQ(sums.rows, n);
    EXPECT_EQ(sums.metric[0], cpu[0] * n);
    EXPECT_NEAR(sums.metric[1], cpu[1] * n, 1e-12 * cpu[1] * n);
    EXPECT_NEAR(sums.metric[2], cpu[2] * n, 1e-12 * cpu[2] * n);
    EXPECT_NEAR(sums.metric[3], cpu[3] * n, 1e-12 * cpu[3] * n);
  }
}

// The mean squared log error, the symmetric mean absolute percentage error and the log-cosh error
// (torchmetrics' MSLE, SMAPE and LogCoshError) of nonnegative outputs, with zeros (SMAPE's epsilon
// where both are), against their definitions and on the device (whose expf and logf may round a
// step apart from the host's).
TEST(CudaEvalMetrics, LogAndSymmetricErrors) {
  const int n = 200, per_row = 3;
  std::mt19937 rng(8);
  std::normal_distribution<float> normal;
  std::vector<float> out(n * per_row), target(n * per_row);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = i % 13 == 0 ? 0.0f : std::fabs(normal(rng));
    target[i] = i % 26 == 0 ? 0.0f : 3.0f * std::fabs(normal(rng));
  }
  using ltrt::MetricKind;
  const ltrt::MetricsShape shape =
      make_shape({MetricKind::mean_squared_log_error, MetricKind::symmetric_mean_absolute_percentage_error,
                  MetricKind::log_cosh_error},
                 {}, ltrt::AccuracyShape{false, per_row, 1, kIgnore}, per_row);
  double cpu[ltrt::kMaxMetrics];
  ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
  double log_sum = 0, symmetric_sum = 0, log_cosh_sum = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float log_d = static_cast<float>(std::log1p(static_cast<double>(out[i]))) -
                        static_cast<float>(std::log1p(static_cast<double>(target[i])));
    log_sum += static_cast<double>(log_d * log_d);
    const float scale = std::max(std::fabs(target[i]) + std::fabs(out[i]), 1.17e-06f);
    symmetric_sum += static_cast<double>(2.0f * (std::fabs(out[i] - target[i]) / scale));
    const float d = out[i] - target[i];
    log_cosh_sum += static_cast<double>(std::log((std::exp(d) + std::exp(-d)) / 2.0f));
  }
  EXPECT_EQ(cpu[0], log_sum / (n * per_row));
  EXPECT_EQ(cpu[1], symmetric_sum / (n * per_row));
  EXPECT_EQ(cpu[2], log_cosh_sum / (n * per_row));
  EXPECT_GT(cpu[0], 0.0);
  EXPECT_GT(cpu[2], 0.0);
  for (const char* schedule : {"forward", "reverse", "shuffle:3"}) {
    SCOPED_TRACE(schedule);
    const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(float), n, schedule);
    for (int k = 0; k < 2; ++k) EXPECT_NEAR(sums.metric[k], cpu[k] * n, 1e-12 * cpu[k] * n);
    EXPECT_NEAR(sums.metric[2], cpu[2] * n, 1e-6 * cpu[2] * n);
  }
}

// explained_variance by its definition in float64 (per column 1 - var(residual) / var(target), 1
// where the residual's variance is 0, 0 where only the target's is), with a column predicted
// exactly and a constant one; both averages, and on the device, whose float64 column sums agree to
// float32 rounding.
TEST(CudaEvalMetrics, ExplainedVarianceByColumn) {
  const int n = 40, columns = 4;
  std::mt19937 rng(31);
  std::normal_distribution<float> normal;
  std::vector<float> out(n * columns), target(n * columns);
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < columns; ++c) {
      const float y = c == 2 ? 1.5f : 2.0f * normal(rng) + static_cast<float>(c);  // column 2: constant
      target[r * columns + c] = y;
      out[r * columns + c] = c == 1 ? y + 0.25f : y + 0.5f * normal(rng);  // column 1: a constant residual
    }
  using ltrt::MetricAverage;
  std::vector<double> score(columns), variance(columns);
  for (int c = 0; c < columns; ++c) {
    double e = 0, ee = 0, t = 0, tt = 0;
    for (int r = 0; r < n; ++r) {
      const double y = target[r * columns + c], d = y - out[r * columns + c];
      e += d, ee += d * d, t += y, tt += y * y;
    }
    const double numerator = ee / n - (e / n) * (e / n), denominator = tt / n - (t / n) * (t / n);
    variance[c] = denominator;
    score[c] = std::fabs(numerator) < 1e-6 ? 1.0 : std::fabs(denominator) < 1e-6 ? 0.0 : 1.0 - numerator / denominator;
  }
  double uniform = 0, weighted = 0, variances = 0;
  for (int c = 0; c < columns; ++c) uniform += score[c] / columns, variances += variance[c];
  for (int c = 0; c < columns; ++c) weighted += variance[c] / variances * score[c];
  for (MetricAverage average : {MetricAverage::uniform_average, MetricAverage::variance_weighted}) {
    const ltrt::MetricsShape shape = make_shape({ltrt::MetricKind::explained_variance}, {average},
                                                ltrt::AccuracyShape{false, columns, 1, kIgnore}, columns);
    double cpu[ltrt::kMaxMetrics];
    ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
    EXPECT_NEAR(cpu[0], average == MetricAverage::uniform_average ? uniform : weighted, 1e-5);
    for (const char* schedule : {"forward", "shuffle:3"}) {
      const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(float), n, schedule);
      EXPECT_NEAR(sums.metric[0], cpu[0] * n, 1e-5 * n) << schedule;
    }
  }
}

TEST(CudaEvalMetrics, WeightedMapeAndRelativeSquaredError) {
  // weighted_mean_absolute_percentage_error (two sums over every element) and
  // relative_squared_error (r2's column sums), squared and its root, over (n, 3) outputs with more
  // elements than a block's threads: the CPU's against the definitions in float64, the device's
  // against the CPU's (to float32 rounding: the device sums in float64).
  const int n = 300, columns = 3;
  std::mt19937 rng(41);
  std::normal_distribution<float> normal;
  std::vector<float> out(n * columns), target(n * columns);
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < columns; ++c) {
      const float y = 1.5f * normal(rng) + static_cast<float>(c);
      target[r * columns + c] = y;
      out[r * columns + c] = y + (0.2f + 0.3f * static_cast<float>(c)) * normal(rng);
    }
  double errors = 0, scale = 0, rse = 0, rrse = 0;
  for (int i = 0; i < n * columns; ++i)
    errors += std::fabs(static_cast<double>(out[i]) - target[i]), scale += std::fabs(static_cast<double>(target[i]));
  for (int c = 0; c < columns; ++c) {
    double t = 0, tt = 0, rss = 0;
    for (int r = 0; r < n; ++r) {
      const double y = target[r * columns + c], d = y - out[r * columns + c];
      t += y, tt += y * y, rss += d * d;
    }
    rse += rss / (tt - t * t / n) / columns;
    rrse += std::sqrt(rss / (tt - t * t / n)) / columns;
  }
  using ltrt::MetricKind;
  const struct {
    MetricKind kind;
    bool root;
    double want;
  } cases[] = {{MetricKind::weighted_mean_absolute_percentage_error, false, errors / scale},
               {MetricKind::relative_squared_error, false, rse},
               {MetricKind::relative_squared_error, true, rrse}};
  for (const auto& c : cases) {
    ltrt::MetricsShape shape = make_shape({c.kind}, {ltrt::MetricAverage::uniform_average},
                                          ltrt::AccuracyShape{false, columns, 1, kIgnore}, columns);
    shape.metric[0].root = c.root;
    double cpu[ltrt::kMaxMetrics];
    ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
    EXPECT_NEAR(cpu[0], c.want, 1e-5 * c.want) << ltrt::metric_suffix(c.kind) << c.root;
    for (const char* schedule : {"forward", "shuffle:3"}) {
      const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(float), n, schedule);
      EXPECT_NEAR(sums.metric[0], cpu[0] * n, 1e-5 * cpu[0] * n) << schedule << " " << ltrt::metric_suffix(c.kind);
    }
  }
}

TEST(CudaEvalMetrics, CriticalSuccessIndexCountsAsTheCpu) {
  // critical_success_index of a batch: the device's block counts the hits, misses and false alarms
  // of more elements than its threads, with values on the threshold (float32's 0.7), NaN and inf;
  // the CPU's value against the definition, the device's equal to it.
  const int n = 200, columns = 3;
  const float threshold = 0.7f;
  std::mt19937 rng(43);
  std::normal_distribution<float> normal;
  std::vector<float> out(n * columns), target(n * columns);
  for (int i = 0; i < n * columns; ++i) {
    target[i] = i % 13 == 0 ? threshold : normal(rng);
    out[i] = i % 7 == 0 ? threshold : target[i] + 0.5f * normal(rng);
  }
  out[5] = NAN, target[6] = INFINITY, out[8] = -INFINITY;
  long long hits = 0, events = 0;
  for (int i = 0; i < n * columns; ++i) {
    hits += out[i] >= threshold && target[i] >= threshold;
    events += out[i] >= threshold || target[i] >= threshold;
  }
  ltrt::MetricsShape shape = make_shape({ltrt::MetricKind::critical_success_index}, {ltrt::MetricAverage::micro},
                                        ltrt::AccuracyShape{false, columns, 1, kIgnore}, columns);
  shape.metric[0].threshold = threshold;
  double cpu[ltrt::kMaxMetrics];
  ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
  EXPECT_EQ(cpu[0], static_cast<double>(static_cast<float>(hits) / static_cast<float>(events)));
  for (const char* schedule : {"forward", "shuffle:7"}) {
    const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(float), n, schedule);
    EXPECT_EQ(sums.metric[0], cpu[0] * n) << schedule;
  }
}

TEST(CudaEvalMetrics, CorrelationsEqualTheCpus) {
  // pearson_corrcoef and concordance_corrcoef of a batch: the CPU's against the definition in
  // float64 (to float32 rounding), the device's one thread against the CPU's bit for bit (the same
  // functions); a batch of one row is NaN on both.
  std::mt19937 rng(43);
  std::normal_distribution<float> normal;
  for (const int n : {1, 7, 300}) {
    std::vector<float> out(n), target(n);
    for (int r = 0; r < n; ++r) {
      target[r] = 3.0f + 2.0f * normal(rng);
      out[r] = 0.6f * target[r] + normal(rng);
    }
    double mx = 0, my = 0;
    for (int r = 0; r < n; ++r) mx += out[r] / n, my += target[r] / n;
    double sxx = 0, syy = 0, sxy = 0;
    for (int r = 0; r < n; ++r)
      sxx += (out[r] - mx) * (out[r] - mx), syy += (target[r] - my) * (target[r] - my),
          sxy += (out[r] - mx) * (target[r] - my);
    const double pearson = sxy / std::sqrt(sxx * syy);
    const double ccc = 2 * sxy / (sxx + syy + (n - 1) * (mx - my) * (mx - my));
    for (const auto kind : {ltrt::MetricKind::pearson_corrcoef, ltrt::MetricKind::concordance_corrcoef}) {
      const ltrt::MetricsShape shape =
          make_shape({kind}, {ltrt::MetricAverage::micro}, ltrt::AccuracyShape{false, 1, 1, kIgnore}, 1);
      double cpu[ltrt::kMaxMetrics];
      ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
      if (n == 1) {
        EXPECT_TRUE(std::isnan(cpu[0]));
      } else {
        EXPECT_NEAR(cpu[0], kind == ltrt::MetricKind::pearson_corrcoef ? pearson : ccc, 1e-5) << n;
      }
      const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(float), n, "forward");
      if (n == 1) {
        EXPECT_TRUE(std::isnan(sums.metric[0]));
      } else {
        EXPECT_EQ(sums.metric[0], static_cast<double>(static_cast<float>(cpu[0])) * n) << n;
      }
    }
  }
}

// n correlated outputs and targets on coarse grids (halves and quarters), so that many tie.
void grid_values(std::mt19937& rng, int n, std::vector<float>& out, std::vector<float>& target) {
  std::normal_distribution<float> normal;
  out.resize(n);
  target.resize(n);
  for (int r = 0; r < n; ++r) {
    target[r] = std::round(2.0f * normal(rng)) / 2.0f;
    out[r] = std::round(4.0f * (0.5f * target[r] + normal(rng))) / 4.0f;
  }
}

TEST(CudaEvalMetrics, SpearmanRanksTiesAndNaNsAsTheCpu) {
  // spearman_corrcoef of a batch: the device counts each value's rank (a thread a value), the CPU
  // sorts; with ties (values on a grid), a NaN, and more values than a block's threads, the two
  // agree bit for bit. The CPU's value against Pearson's of the ranks in float64.
  std::mt19937 rng(47);
  for (const int n : {1, 9, 700}) {
    std::vector<float> out, target;
    grid_values(rng, n, out, target);
    if (n > 2) out[n / 2] = NAN;
    const ltrt::MetricsShape shape = make_shape({ltrt::MetricKind::spearman_corrcoef}, {ltrt::MetricAverage::micro},
                                                ltrt::AccuracyShape{false, 1, 1, kIgnore}, 1);
    double cpu[ltrt::kMaxMetrics];
    ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
    std::vector<float> rx(n), ry(n);
    ltrt::rank_values(out.data(), n, rx.data());
    ltrt::rank_values(target.data(), n, ry.data());
    double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
    for (int r = 0; r < n; ++r) mx += rx[r] / static_cast<double>(n), my += ry[r] / static_cast<double>(n);
    for (int r = 0; r < n; ++r)
      sxx += (rx[r] - mx) * (rx[r] - mx), syy += (ry[r] - my) * (ry[r] - my), sxy += (rx[r] - mx) * (ry[r] - my);
    EXPECT_NEAR(cpu[0], n == 1 ? 0.0 : sxy / std::sqrt(sxx * syy), 1e-5) << n;  // one row: 0 / (0 + eps)
    const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(float), n, "shuffle:3");
    EXPECT_EQ(sums.metric[0], static_cast<double>(static_cast<float>(cpu[0])) * n) << n;
  }
}

TEST(CudaEvalMetrics, KendallCountsPairsAsTheCpu) {
  // kendall_rank_corrcoef of a batch: the device adds each value's share of the pairs (a thread a
  // value), the CPU counts them by sorting; with ties (values on a grid), NaNs, -0.0 beside 0.0
  // and more values than a block's threads, the two agree bit for bit in every variant. The CPU's
  // value against tau's definitions over every pair, in float64.
  std::mt19937 rng(53);
  for (const int n : {1, 9, 700}) {
    std::vector<float> out, target;
    grid_values(rng, n, out, target);
    for (int r = 1; r < n; r += 2)
      if (out[r] == 0.0f) out[r] = -0.0f;
    if (n > 2) out[n / 2] = target[n / 3] = out[n - 1] = NAN;
    long long concordant = 0, discordant = 0, ties_x = 0, ties_y = 0;
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) {
        const double dx = static_cast<double>(out[i]) - out[j], dy = static_cast<double>(target[i]) - target[j];
        concordant += dx * dy > 0;
        discordant += dx * dy < 0;
        ties_x += out[i] == out[j];
        ties_y += target[i] == target[j];
      }
    const double pairs = n * (n - 1) / 2.0;
    for (const ltrt::KendallVariant variant : {ltrt::KendallVariant::a, ltrt::KendallVariant::b, ltrt::KendallVariant::c}) {
      ltrt::MetricsShape shape = make_shape({ltrt::MetricKind::kendall_rank_corrcoef}, {ltrt::MetricAverage::micro},
                                            ltrt::AccuracyShape{false, 1, 1, kIgnore}, 1);
      shape.metric[0].variant = variant;
      double cpu[ltrt::kMaxMetrics];
      ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
      if (n == 1) {
        EXPECT_TRUE(std::isnan(cpu[0]));  // no pair: 0 / 0
      } else if (variant == ltrt::KendallVariant::a) {
        EXPECT_NEAR(cpu[0], static_cast<double>(concordant - discordant) / static_cast<double>(concordant + discordant), 1e-6);
      } else if (variant == ltrt::KendallVariant::b) {
        EXPECT_NEAR(cpu[0], (concordant - discordant) / std::sqrt((pairs - ties_x) * (pairs - ties_y)), 1e-6);
      }
      const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(float), n, "shuffle:5");
      if (n == 1) {
        EXPECT_TRUE(std::isnan(sums.metric[0]));
      } else {
        EXPECT_EQ(sums.metric[0], static_cast<double>(static_cast<float>(cpu[0])) * n) << n;
      }
    }
  }
}

TEST(CudaEvalMetrics, CosineSimilarityAsTheCpu) {
  // cosine_similarity of a batch, each reduction: one thread on the device runs the CPU's order, so
  // the two agree bit for bit (NaN for a row of zeros); rows of 1 (abs as the norm), 5 (the norm's
  // tail alone), 13 (one block of 8 and a tail) and 37 values. The CPU's value against the
  // definition in float64.
  std::mt19937 rng(61);
  std::normal_distribution<float> normal;
  for (const int columns : {1, 5, 13, 37}) {
    const int n = 70;
    std::vector<float> out(n * columns), target(n * columns);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = normal(rng), target[i] = 0.5f * out[i] + normal(rng);
    double expected = 0;
    for (int r = 0; r < n; ++r) {
      double dot = 0, xx = 0, yy = 0;
      for (int c = 0; c < columns; ++c) {
        const double x = out[r * columns + c], y = target[r * columns + c];
        dot += x * y, xx += x * x, yy += y * y;
      }
      expected += dot / std::sqrt(xx * yy);
    }
    for (const ltrt::MetricReduction reduction : {ltrt::MetricReduction::sum, ltrt::MetricReduction::mean}) {
      ltrt::MetricsShape shape = make_shape({ltrt::MetricKind::cosine_similarity}, {ltrt::MetricAverage::micro},
                                            ltrt::AccuracyShape{false, columns, 1, kIgnore}, columns);
      shape.metric[0].reduction = reduction;
      double cpu[ltrt::kMaxMetrics];
      ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
      const double want = reduction == ltrt::MetricReduction::mean ? expected / n : expected;
      EXPECT_NEAR(cpu[0], want, 1e-5 * std::max(1.0, std::fabs(want))) << columns;
      const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(float), n, "shuffle:7");
      EXPECT_EQ(sums.metric[0], static_cast<double>(static_cast<float>(cpu[0])) * n) << columns;
    }
    std::fill(out.begin(), out.begin() + columns, 0.0f);  // a row of zeros: 0 / 0
    ltrt::MetricsShape shape = make_shape({ltrt::MetricKind::cosine_similarity}, {ltrt::MetricAverage::micro},
                                          ltrt::AccuracyShape{false, columns, 1, kIgnore}, columns);
    double cpu[ltrt::kMaxMetrics];
    ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
    EXPECT_TRUE(std::isnan(cpu[0]));
    EXPECT_TRUE(
        std::isnan(device_sums(shape, out, target.data(), target.size() * sizeof(float), n, "shuffle:7").metric[0]));
  }
}

TEST(CudaEvalMetrics, ExactMatchCountsSamplesAsTheCpu) {
  // exact_match of a batch of more samples than a block's threads: multiclass sequences (ignored
  // targets count as right) and multilabel rows of logits, then of values all in [0, 1], which
  // torchmetrics takes for probabilities. The device's count is the CPU's, the CPU's the definition's.
  std::mt19937 rng(67);
  std::normal_distribution<float> normal;
  const int n = 700, per_row = 3, classes = 2;
  std::vector<float> logits(n * per_row * classes);
  for (float& v : logits) v = normal(rng);
  std::vector<std::int64_t> labels(n * per_row);
  int want = 0;
  for (int i = 0; i < n; ++i) {
    bool all = true;
    for (int p = i * per_row; p < (i + 1) * per_row; ++p) {
      labels[p] = rng() % 4 == 0 ? kIgnore : static_cast<std::int64_t>(rng() % classes);
      const std::int64_t best = logits[p * classes + 1] > logits[p * classes] ? 1 : 0;
      all = all && (labels[p] == kIgnore || labels[p] == best);
    }
    want += all;
  }
  ltrt::MetricsShape multiclass = make_shape({ltrt::MetricKind::exact_match}, {},
                                             ltrt::AccuracyShape{true, per_row, classes, kIgnore}, per_row * classes);
  double cpu[ltrt::kMaxMetrics];
  ltrt::count_metrics(multiclass, logits.data(), labels.data(), n, cpu);
  EXPECT_EQ(cpu[0], static_cast<double>(static_cast<float>(want) / static_cast<float>(n)));
  EXPECT_EQ(
      device_sums(multiclass, logits, labels.data(), labels.size() * sizeof(std::int64_t), n, "shuffle:3").metric[0],
      cpu[0] * n);
  for (const bool probabilities : {false, true}) {
    std::vector<float> out(n * per_row), target(n * per_row);
    int right = 0;
    for (int i = 0; i < n; ++i) {
      bool all = true;
      for (int p = i * per_row; p < (i + 1) * per_row; ++p) {
        out[p] = probabilities ? std::uniform_real_distribution<float>(0.0f, 1.0f)(rng) : 2.0f * normal(rng);
        target[p] = rng() % 2 ? 1.0f : 0.0f;
        all = all && ((probabilities ? out[p] > 0.5f : out[p] > 0.0f) == (target[p] > 0.5f));
      }
      right += all;
    }
    ltrt::MetricsShape multilabel =
        make_shape({ltrt::MetricKind::exact_match}, {}, ltrt::AccuracyShape{false, per_row, 1, kIgnore}, per_row);
    ltrt::count_metrics(multilabel, out.data(), target.data(), n, cpu);
    EXPECT_EQ(cpu[0], static_cast<double>(static_cast<float>(right) / static_cast<float>(n))) << probabilities;
    EXPECT_EQ(device_sums(multilabel, out, target.data(), target.size() * sizeof(float), n, "shuffle:3").metric[0],
              cpu[0] * n)
        << probabilities;
  }
}

TEST(CudaEvalMetrics, WeightedKappaCountsTheMatrixAsTheCpu) {
  // cohen_kappa with linear and quadratic weights over 6 classes, more positions than a block's
  // threads, ignored targets and NaN logits: the device counts the whole confusion matrix and runs
  // the CPU's arithmetic in one thread, bit for bit. The CPU's value against the definition in
  // float64 (1 - sum(w * observed) / sum(w * expected)).
  std::mt19937 rng(71);
  std::normal_distribution<float> normal;
  const int n = 400, per_row = 2, classes = 6;
  std::vector<float> logits(n * per_row * classes);
  for (float& v : logits) v = normal(rng);
  logits[5] = logits[77] = NAN;
  std::vector<std::int64_t> labels(n * per_row);
  std::vector<double> matrix(classes * classes, 0.0);
  for (int p = 0; p < n * per_row; ++p) {
    int best = 0;  // torch.argmax: NaN the largest, the first of ties
    for (int c = 1; c < classes; ++c)
      if (std::isnan(logits[p * classes + c]) ? !std::isnan(logits[p * classes + best])
                                              : logits[p * classes + c] > logits[p * classes + best])
        best = c;
    labels[p] = rng() % 5 == 0 ? kIgnore : (rng() % 2 ? best : static_cast<std::int64_t>(rng() % classes));
    if (labels[p] != kIgnore) matrix[labels[p] * classes + best] += 1;
  }
  for (const ltrt::KappaWeights weights : {ltrt::KappaWeights::linear, ltrt::KappaWeights::quadratic}) {
    double rows[classes] = {}, columns[classes] = {}, total = 0, observed = 0, expected = 0;
    for (int i = 0; i < classes * classes; ++i) rows[i / classes] += matrix[i], columns[i % classes] += matrix[i];
    for (int c = 0; c < classes; ++c) total += columns[c];
    for (int i = 0; i < classes * classes; ++i) {
      const double d = std::abs(i % classes - i / classes), w = weights == ltrt::KappaWeights::linear ? d : d * d;
      observed += w * matrix[i];
      expected += w * rows[i / classes] * columns[i % classes] / total;
    }
    ltrt::MetricsShape shape = make_shape({ltrt::MetricKind::cohen_kappa}, {},
                                          ltrt::AccuracyShape{true, per_row, classes, kIgnore}, per_row * classes);
    shape.metric[0].weights = weights;
    double cpu[ltrt::kMaxMetrics];
    ltrt::count_metrics(shape, logits.data(), labels.data(), n, cpu);
    EXPECT_NEAR(cpu[0], 1.0 - observed / expected, 1e-5);
    EXPECT_EQ(device_sums(shape, logits, labels.data(), labels.size() * sizeof(std::int64_t), n, "shuffle:9").metric[0],
              cpu[0] * n);
  }
}

TEST(CudaEvalMetrics, R2ScoreByColumn) {
  // r2_score over (n, 4) outputs: a column of good predictions, one of poor ones (r2 below 0), one
  // whose predictions are exact (rss 0: r2 1) and one whose targets are constant while the
  // predictions are not (tss 0: r2 0); more rows than a block's threads. The CPU's value against
  // the definition in float64, the device's against the CPU's (to float32 rounding: their column
  // sums are added in different orders), both multioutput averages.
  const int n = 300, columns = 4;
  std::mt19937 rng(9);
  std::normal_distribution<float> normal;
  std::vector<float> out(n * columns), target(n * columns);
  for (int r = 0; r < n; ++r) {
    const float y0 = 2.0f * normal(rng) + 1.0f, y1 = normal(rng), y2 = 3.0f * normal(rng);
    target[r * columns + 0] = y0, out[r * columns + 0] = y0 + 0.3f * normal(rng);
    target[r * columns + 1] = y1, out[r * columns + 1] = 1.5f * normal(rng);
    target[r * columns + 2] = y2, out[r * columns + 2] = y2;
    target[r * columns + 3] = 0.5f, out[r * columns + 3] = 0.5f + 0.1f * normal(rng);
  }
  using ltrt::MetricAverage;
  using ltrt::MetricKind;
  double r2[columns], tss[columns];  // the definition: 1 - rss / sum((y - mean)^2)
  for (int c = 0; c < columns; ++c) {
    double mean = 0, rss = 0;
    for (int r = 0; r < n; ++r) mean += target[r * columns + c] / static_cast<double>(n);
    tss[c] = 0;
    for (int r = 0; r < n; ++r) {
      const double y = target[r * columns + c], d = y - out[r * columns + c];
      tss[c] += (y - mean) * (y - mean);
      rss += d * d;
    }
    r2[c] = c == 2 ? 1.0 : c == 3 ? 0.0 : 1.0 - rss / tss[c];  // rss 0: 1; tss 0 (rss not): 0
  }
  EXPECT_GT(r2[0], 0.9);
  EXPECT_LT(r2[1], 0.0);
  for (const MetricAverage average : {MetricAverage::uniform_average, MetricAverage::variance_weighted}) {
    SCOPED_TRACE(static_cast<int>(average));
    const ltrt::MetricsShape shape =
        make_shape({MetricKind::r2_score}, {average}, ltrt::AccuracyShape{false, columns, 1, kIgnore}, columns);
    double cpu[ltrt::kMaxMetrics];
    ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
    double expected = 0;
    if (average == MetricAverage::uniform_average) {
      expected = (r2[0] + r2[1] + r2[2] + r2[3]) / columns;
    } else {
      double all = 0, weighted = 0;  // each column's r2 weighted by its tss
      for (int c = 0; c < columns; ++c) all += tss[c], weighted += tss[c] * r2[c];
      expected = weighted / all;
    }
    EXPECT_NEAR(cpu[0], expected, 2e-5);  // float32's tss = squares - sum * mean cancels
    for (const char* schedule : {"forward", "reverse", "shuffle:3"}) {
      SCOPED_TRACE(schedule);
      const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(float), n, schedule);
      EXPECT_EQ(sums.rows, n);
      // The device sums each column in float64 and rounds once, the CPU in torch.sum's float32 order.
      EXPECT_NEAR(sums.metric[0], cpu[0] * n, 2e-6 * n);
    }
  }
  // The adjusted r2 with 5 regressors: 1 - (1 - r2) * (n - 1) / (n - 6), from the CPU's r2.
  const ltrt::MetricsShape plain = make_shape({MetricKind::r2_score}, {MetricAverage::uniform_average},
                                              ltrt::AccuracyShape{false, columns, 1, kIgnore}, columns);
  ltrt::MetricsShape adjusted = plain;
  adjusted.metric[0].adjusted = 5;
  double r2_plain[ltrt::kMaxMetrics], r2_adjusted[ltrt::kMaxMetrics];
  ltrt::count_metrics(plain, out.data(), target.data(), n, r2_plain);
  ltrt::count_metrics(adjusted, out.data(), target.data(), n, r2_adjusted);
  const float scaled = (1.0f - static_cast<float>(r2_plain[0])) * static_cast<float>(n - 1);
  EXPECT_EQ(r2_adjusted[0], 1.0f - scaled / static_cast<float>(n - 6));
  EXPECT_LT(r2_adjusted[0], r2_plain[0]);
  const ltrt::EvalSums adjusted_sums = device_sums(adjusted, out, target.data(), target.size() * sizeof(float), n, "forward");
  EXPECT_NEAR(adjusted_sums.metric[0], r2_adjusted[0] * n, 2e-6 * n);
  // Regressors past the rows: r2 as it is (torchmetrics falls back, with a warning).
  adjusted.metric[0].adjusted = n;
  ltrt::count_metrics(adjusted, out.data(), target.data(), n, r2_adjusted);
  EXPECT_EQ(r2_adjusted[0], r2_plain[0]);
  // torchmetrics refuses a batch of one row: both say so.
  const ltrt::MetricsShape shape = make_shape({MetricKind::r2_score}, {MetricAverage::uniform_average},
                                              ltrt::AccuracyShape{false, columns, 1, kIgnore}, columns);
  double cpu[ltrt::kMaxMetrics];
  EXPECT_THROW(ltrt::count_metrics(shape, out.data(), target.data(), 1, cpu), ltrt::Error);
  EXPECT_THROW(device_sums(shape, out, target.data(), target.size() * sizeof(float), 1, "forward"), ltrt::Error);
}

// precision, recall and F1 by their definitions (torchmetrics' stat scores, float32 quotients),
// from per-class counts taken here position by position.
float score_by_definition(ltrt::MetricKind kind, ltrt::MetricAverage average, const std::vector<std::int64_t>& tp,
                          const std::vector<std::int64_t>& fp, const std::vector<std::int64_t>& fn) {
  auto quotient = [&](std::int64_t t, std::int64_t p, std::int64_t n) {
    const float num = kind == ltrt::MetricKind::f1_score ? 2.0f * t : static_cast<float>(t);
    const float den = kind == ltrt::MetricKind::f1_score ? 2.0f * t + n + p
                      : kind == ltrt::MetricKind::precision ? static_cast<float>(t + p)
                                                            : static_cast<float>(t + n);
    return den == 0.0f ? 0.0f : num / den;
  };
  if (average == ltrt::MetricAverage::micro) {
    std::int64_t t = 0, p = 0, n = 0;
    for (std::size_t c = 0; c < tp.size(); ++c) t += tp[c], p += fp[c], n += fn[c];
    return quotient(t, p, n);
  }
  double weights = 0, sum = 0;
  std::vector<double> w(tp.size());
  for (std::size_t c = 0; c < tp.size(); ++c) {
    w[c] = average == ltrt::MetricAverage::weighted ? tp[c] + fn[c] : (tp[c] + fp[c] + fn[c] > 0 ? 1 : 0);
    weights += w[c];
  }
  for (std::size_t c = 0; c < tp.size(); ++c)
    if (weights > 0) sum += static_cast<float>(w[c] * quotient(tp[c], fp[c], fn[c])) / static_cast<float>(weights);
  return static_cast<float>(sum);
}

// Multiclass sequences with ignore_index: every kind and average on the CPU against the
// definitions (to float32 rounding of the sum), and on the device against the CPU in every schedule.
TEST(CudaEvalMetrics, PrecisionRecallF1OverClasses) {
  const int n = 9, steps = 5, classes = 7;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::vector<float> out(n * steps * classes);
  std::vector<std::int64_t> target(n * steps);
  for (float& v : out) v = normal(rng);
  std::vector<std::int64_t> tp(classes), fp(classes), fn(classes);
  for (std::size_t i = 0; i < target.size(); ++i) {
    target[i] = i % 6 == 5 ? kIgnore : static_cast<std::int64_t>(rng() % (classes - 1));  // class 6: never a target
    if (target[i] == kIgnore) continue;
    const float* row = out.data() + i * classes;
    const std::int64_t best = std::max_element(row, row + classes) - row;
    if (best == target[i]) ++tp[best];
    else ++fp[best], ++fn[target[i]];
  }
  using ltrt::MetricAverage;
  using ltrt::MetricKind;
  for (MetricAverage average : {MetricAverage::micro, MetricAverage::macro, MetricAverage::weighted}) {
    const ltrt::MetricsShape shape =
        make_shape({MetricKind::precision, MetricKind::recall, MetricKind::f1_score}, {average, average, average},
                   ltrt::AccuracyShape{true, steps, classes, kIgnore}, 0);
    double cpu[ltrt::kMaxMetrics];
    ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
    for (int k = 0; k < 3; ++k) {
      SCOPED_TRACE(k);
      const float want = score_by_definition(shape.metric[k].kind, average, tp, fp, fn);
      EXPECT_NEAR(cpu[k], want, 2e-7 * want);
      EXPECT_GT(cpu[k], 0.0);
    }
    for (const char* schedule : {"forward", "reverse", "shuffle:3"}) {
      SCOPED_TRACE(schedule);
      const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(std::int64_t), n, schedule);
      for (int k = 0; k < 3; ++k) EXPECT_NEAR(sums.metric[k], cpu[k] * n, 1e-12 * n);
    }
  }
}

// Binary: logits outside [0, 1] go through the sigmoid, a batch of logits inside it is taken for
// probabilities (torchmetrics' rule), both against target > 0.5.
TEST(CudaEvalMetrics, BinaryScoresTakeUnitLogitsForProbabilities) {
  const int n = 8, per_row = 3;
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> unit;
  std::vector<float> probabilities(n * per_row), logits(n * per_row), target(n * per_row);
  for (std::size_t i = 0; i < target.size(); ++i) {
    probabilities[i] = unit(rng);
    logits[i] = 4.0f * (unit(rng) - 0.5f);
    target[i] = unit(rng);
  }
  using ltrt::MetricKind;
  const ltrt::MetricsShape shape = make_shape({MetricKind::precision, MetricKind::recall, MetricKind::f1_score}, {},
                                              ltrt::AccuracyShape{false, per_row, 1, kIgnore}, per_row);
  for (const auto* out : {&probabilities, &logits}) {
    const float threshold = out == &probabilities ? 0.5f : 0.0f;  // sigmoid(x) > 0.5 where x > 0
    std::vector<std::int64_t> tp(1), fp(1), fn(1);
    for (std::size_t i = 0; i < target.size(); ++i) {
      const bool p = (*out)[i] > threshold, t = target[i] > 0.5f;
      tp[0] += p && t, fp[0] += p && !t, fn[0] += !p && t;
    }
    double cpu[ltrt::kMaxMetrics];
    ltrt::count_metrics(shape, out->data(), target.data(), n, cpu);
    for (int k = 0; k < 3; ++k)
      EXPECT_EQ(cpu[k], score_by_definition(shape.metric[k].kind, ltrt::MetricAverage::micro, tp, fp, fn));
    const ltrt::EvalSums sums = device_sums(shape, *out, target.data(), target.size() * sizeof(float), n, "shuffle:3");
    for (int k = 0; k < 3; ++k) EXPECT_EQ(sums.metric[k], cpu[k] * n);
  }
}

// specificity, fbeta_score, jaccard_index, matthews_corrcoef, hamming_distance,
// negative_predictive_value and cohen_kappa (their values are checked against
// torchmetrics' by stat_scores_oracle): the device's equal the CPU's bit for bit in every schedule,
// over multiclass sequences whose ignore_index lies outside the classes or names one (jaccard leaves
// it out), with top_k 1 and 2, and over binary logits and probabilities.
TEST(CudaEvalMetrics, StatScoreMetricsEqualTheCpus) {
  using ltrt::MetricAverage;
  using ltrt::MetricKind;
  const int n = 7, steps = 4, classes = 6, kinds = 7;
  std::mt19937 rng(21);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> unit;
  std::vector<float> out(n * steps * classes);
  for (float& v : out) v = normal(rng);
  for (const std::int64_t ignore : {kIgnore, std::int64_t{2}}) {
    std::vector<std::int64_t> target(n * steps);
    for (std::size_t i = 0; i < target.size(); ++i) target[i] = i % 5 == 3 ? ignore : static_cast<std::int64_t>(rng() % classes);
    for (MetricAverage average : {MetricAverage::micro, MetricAverage::macro, MetricAverage::weighted}) {
      for (const std::int64_t top_k : {1, 2}) {
        SCOPED_TRACE(std::to_string(ignore) + " " + std::to_string(static_cast<int>(average)) + " top_k " +
                     std::to_string(top_k));
        ltrt::MetricsShape shape = make_shape(
            {MetricKind::specificity, MetricKind::fbeta_score, MetricKind::jaccard_index, MetricKind::matthews_corrcoef,
             MetricKind::hamming_distance, MetricKind::negative_predictive_value, MetricKind::cohen_kappa},
            {average, average, average, average, average, average, average},
            ltrt::AccuracyShape{true, steps, classes, ignore}, 0);
        shape.metric[0].top_k = shape.metric[1].top_k = shape.metric[4].top_k = shape.metric[5].top_k = top_k;
        for (int k = 0; k < kinds; ++k) shape.metric[k].beta = 2.0;
        double cpu[ltrt::kMaxMetrics];
        ltrt::count_metrics(shape, out.data(), target.data(), n, cpu);
        for (int k = 0; k < kinds; ++k) EXPECT_NE(cpu[k], 0.0) << k;
        for (const char* schedule : {"forward", "reverse", "shuffle:3"}) {
          const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(std::int64_t), n, schedule);
          for (int k = 0; k < kinds; ++k) EXPECT_EQ(sums.metric[k], cpu[k] * n) << k << " " << schedule;
        }
      }
    }
  }
  const int per_row = 3;
  std::vector<float> probabilities(n * per_row), logits(n * per_row), floats(n * per_row);
  for (std::size_t i = 0; i < floats.size(); ++i) {
    probabilities[i] = unit(rng);
    logits[i] = 4.0f * (unit(rng) - 0.5f);
    floats[i] = unit(rng);
  }
  ltrt::MetricsShape binary = make_shape(
      {MetricKind::specificity, MetricKind::fbeta_score, MetricKind::jaccard_index, MetricKind::matthews_corrcoef,
       MetricKind::hamming_distance, MetricKind::negative_predictive_value, MetricKind::cohen_kappa},
      {}, ltrt::AccuracyShape{false, per_row, 1, kIgnore}, per_row);
  for (int k = 0; k < kinds; ++k) binary.metric[k].beta = 0.5;
  for (const auto* o : {&probabilities, &logits}) {
    double cpu[ltrt::kMaxMetrics];
    ltrt::count_metrics(binary, o->data(), floats.data(), n, cpu);
    const ltrt::EvalSums sums = device_sums(binary, *o, floats.data(), floats.size() * sizeof(float), n, "shuffle:3");
    for (int k = 0; k < kinds; ++k) EXPECT_EQ(sums.metric[k], cpu[k] * n) << k;
  }
}

// Metric objects: the device's stat scores of two batches, read back once, are the CPU's
// EpochCounts of the same batches (class targets with ignore_index, and binary logits with their
// positions); a second take starts again from zero.
TEST(CudaEvalMetrics, MetricObjectsCountTheWholeEvaluation) {
  const int n = 6, steps = 3, classes = 4;
  std::mt19937 rng(13);
  std::normal_distribution<float> normal;
  using ltrt::MetricKind;
  for (bool class_targets : {true, false}) {
    SCOPED_TRACE(class_targets);
    const std::int64_t per_row = class_targets ? steps : classes;
    const ltrt::MetricsShape shape = make_shape(
        {MetricKind::f1_score, MetricKind::accuracy}, {ltrt::MetricAverage::macro},
        ltrt::AccuracyShape{class_targets, per_row, class_targets ? classes : 1, kIgnore}, per_row, {true, true});
    ltrt::EpochCounts cpu;
    cudaStream_t stream;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    DeviceCopy<float> workspace(std::vector<float>(1 << 14));  // auroc's softmax rows
  ltrt::cuda::Context ctx{stream, nullptr, workspace.ptr, (1 << 14) * sizeof(float), nullptr};
    for (int batch = 0; batch < 2; ++batch) {
      std::vector<float> out(n * steps * classes);
      for (float& v : out) v = normal(rng);
      std::vector<std::int64_t> labels(n * steps);
      for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = i % 5 == 4 ? kIgnore : static_cast<std::int64_t>(rng() % classes);
      std::vector<float> floats(out.size());
      for (float& v : floats) v = normal(rng);
      const void* target = class_targets ? static_cast<const void*>(labels.data()) : floats.data();
      const std::size_t bytes = class_targets ? labels.size() * sizeof(std::int64_t) : floats.size() * sizeof(float);
      cpu.add(shape, out.data(), target, n);
      device_sums(shape, out, target, bytes, n, batch == 0 ? "reverse" : "shuffle:3");
    }
    const std::vector<std::int64_t> device = ltrt::cuda::take_epoch_counts(ctx, shape);
    EXPECT_EQ(device, cpu.stats);
    EXPECT_GT(cpu.stats[0] + cpu.stats[1], 0);
    const std::vector<std::int64_t> again = ltrt::cuda::take_epoch_counts(ctx, shape);
    EXPECT_EQ(again, std::vector<std::int64_t>(cpu.stats.size(), 0));
    // The epoch's values from the counts, not the batches' mean: what stats_score makes of them.
    EXPECT_EQ(ltrt::stats_score(shape, 1, cpu.stats), ltrt::stats_score(shape, 1, device));
    ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  }
}

// auroc by its definition: over each class's (positive, negative) pairs of counted positions, the
// share whose positive's probability is larger, ties counting half (0 without either), from the
// probabilities the test computes itself: a position's softmax (its sum in float64, as the CPU's),
// or the values as they are when all lie in [0, 1]. Binary: one class, labels 1 and 0.
// average_precision by its definition likewise: over each class's positives, the mean of the
// precision at each one's probability (the counted positions at or above it, and the positives
// among them); binary 0 without positives, a class without them left out of the average.
double ranked_by_definition(ltrt::MetricKind kind, const std::vector<float>& out, const std::vector<int>& labels,
                            std::int64_t classes, ltrt::MetricAverage average, bool binary) {
  bool unit = true;
  for (std::size_t i = 0; i < labels.size(); ++i)
    for (std::int64_t c = 0; c < classes; ++c)
      if (labels[i] >= 0) unit = unit && out[i * classes + c] >= 0.0f && out[i * classes + c] <= 1.0f;
  std::vector<float> p(out.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const float* row = out.data() + i * classes;
    if (unit || labels[i] < 0) {
      std::copy(row, row + classes, p.begin() + i * classes);
    } else if (binary) {
      p[i] = 1.0f / (1.0f + expf(-row[0]));
    } else {
      const float max = *std::max_element(row, row + classes);
      double sum = 0;
      for (std::int64_t c = 0; c < classes; ++c) sum += expf(row[c] - max);
      for (std::int64_t c = 0; c < classes; ++c) p[i * classes + c] = expf(row[c] - max) / static_cast<float>(sum);
    }
  }
  double total = 0;
  std::int64_t counted = 0, included = 0;
  for (int label : labels) counted += label >= 0;
  for (std::int64_t c = 0; c < classes; ++c) {
    double above = 0, precisions = 0;
    std::int64_t positives = 0, negatives = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const bool positive_i = binary ? labels[i] == 1 : labels[i] == c;
      positives += labels[i] >= 0 && positive_i;
      negatives += labels[i] >= 0 && !positive_i;
      if (labels[i] < 0 || !positive_i) continue;
      std::int64_t at_or_above = 0, positives_at_or_above = 0;
      for (std::size_t j = 0; j < labels.size(); ++j) {
        if (labels[j] < 0) continue;
        const bool positive_j = binary ? labels[j] == 1 : labels[j] == c;
        const float a = p[i * classes + c], b = p[j * classes + c];
        if (b >= a) ++at_or_above, positives_at_or_above += positive_j;
        if (!positive_j) above += a > b ? 1.0 : (a == b ? 0.5 : 0.0);
      }
      precisions += static_cast<double>(positives_at_or_above) / static_cast<double>(at_or_above);
    }
    const float area =
        kind == ltrt::MetricKind::auroc
            ? (positives && negatives ? static_cast<float>(above / (static_cast<double>(positives) * negatives)) : 0.0f)
            : (positives ? static_cast<float>(precisions / static_cast<double>(positives)) : 0.0f);
    if (kind == ltrt::MetricKind::average_precision && !binary && positives == 0) continue;  // torchmetrics' NaN
    total += average == ltrt::MetricAverage::weighted
                 ? area * (static_cast<float>(positives) / static_cast<float>(counted))
                 : area;
    ++included;
  }
  if (average == ltrt::MetricAverage::weighted) return static_cast<float>(total);
  return included ? static_cast<float>(total / static_cast<double>(included)) : NAN;
}

// auroc and average_precision: the CPU's sort by runs of equal probabilities and the device's pairs
// (auroc: a block per class and tile; average_precision: a block per class) against the definition, over class logits with many ties (small integers) and
// ignore_index, a class without targets (area 0), rows of probabilities (taken as they are, ties at
// quarter steps), more positions than a tile, binary logits whose sigmoids saturate to ties, and a
// binary batch without positives (0). Macro and weighted; the device's sums equal the CPU's in
// every schedule.
TEST(CudaEvalMetrics, AurocAndAveragePrecisionRankProbabilities) {
  using ltrt::MetricAverage;
  for (const ltrt::MetricKind kind : {ltrt::MetricKind::auroc, ltrt::MetricKind::average_precision}) {
    SCOPED_TRACE(kind == ltrt::MetricKind::auroc ? "auroc" : "average_precision");
    std::mt19937 rng(21);
    std::uniform_int_distribution<int> small(-3, 3), quarter(0, 4);
    const std::int64_t classes = 5;
    for (const bool unit : {false, true}) {
      for (const int positions : {30, 300}) {  // 300: two tiles of 256
        SCOPED_TRACE(std::to_string(positions) + (unit ? " probabilities" : " logits"));
        std::vector<float> out(positions * classes);
        std::vector<std::int64_t> target(positions);
        std::vector<int> labels(positions);
        for (int i = 0; i < positions; ++i) {
          for (std::int64_t c = 0; c < classes; ++c)
            out[i * classes + c] = unit ? 0.25f * static_cast<float>(quarter(rng)) : static_cast<float>(small(rng));
          target[i] = i % 7 == 3 ? kIgnore : std::uniform_int_distribution<std::int64_t>(0, classes - 2)(rng);
          labels[i] = target[i] == kIgnore ? -1 : static_cast<int>(target[i]);  // class 4 has no targets
        }
        for (const MetricAverage average : {MetricAverage::macro, MetricAverage::weighted}) {
          const ltrt::MetricsShape shape =
              make_shape({kind}, {average}, ltrt::AccuracyShape{true, 1, classes, kIgnore}, classes);
          double cpu[ltrt::kMaxMetrics];
          ltrt::count_metrics(shape, out.data(), target.data(), positions, cpu);
          EXPECT_EQ(cpu[0], ranked_by_definition(kind, out, labels, classes, average, false));
          EXPECT_GT(cpu[0], 0.0);
          for (const char* schedule : {"forward", "reverse", "shuffle:4"}) {
            SCOPED_TRACE(schedule);
            const ltrt::EvalSums sums =
                device_sums(shape, out, target.data(), target.size() * sizeof(std::int64_t), positions, schedule);
            EXPECT_EQ(sums.metric[0], cpu[0] * positions);
          }
        }
      }
    }
    // Binary: logits of +-30 and +-40 saturate the sigmoid to ties; then probabilities; then no positives.
    const int n = 12, per_row = 2;
    std::vector<float> logits(n * per_row), probabilities(n * per_row), target(n * per_row),
        negatives(n * per_row, 0.0f);
    std::vector<int> labels(n * per_row);
    for (int i = 0; i < n * per_row; ++i) {
      logits[i] = i % 4 == 0 ? (i % 8 == 0 ? 30.0f : -40.0f) : static_cast<float>(small(rng));
      probabilities[i] = 0.25f * static_cast<float>(quarter(rng));
      target[i] = static_cast<float>(quarter(rng)) / 4.0f;
      labels[i] = target[i] > 0.5f;
    }
    const ltrt::MetricsShape shape =
        make_shape({kind}, {MetricAverage::macro}, ltrt::AccuracyShape{false, per_row, 1, kIgnore}, per_row);
    const auto definition = [&](const std::vector<float>& out) {
      return ranked_by_definition(kind, out, labels, 1, MetricAverage::macro, true);
    };
    for (const auto& [out, y, expected] :
         {std::tuple{&logits, &target, definition(logits)},
          std::tuple{&probabilities, &target, definition(probabilities)}, std::tuple{&logits, &negatives, 0.0}}) {
      double cpu[ltrt::kMaxMetrics];
      ltrt::count_metrics(shape, out->data(), y->data(), n, cpu);
      EXPECT_EQ(cpu[0], expected);
      const ltrt::EvalSums sums = device_sums(shape, *out, y->data(), y->size() * sizeof(float), n, "reverse");
      EXPECT_EQ(sums.metric[0], cpu[0] * n);
    }
  }
}

TEST(CudaEvalMetrics, LossOnlyWithoutMetrics) {
  const std::vector<float> out(4, 1.0f);
  const std::vector<std::int64_t> target(4, 0);
  const ltrt::MetricsShape shape = make_shape({}, {}, ltrt::AccuracyShape{true, 1, 1, kIgnore}, 1);
  const ltrt::EvalSums sums = device_sums(shape, out, target.data(), target.size() * sizeof(std::int64_t), 4, "forward");
  EXPECT_EQ(sums.loss, 1.0);
  EXPECT_EQ(sums.metric[0], 0.0);
  EXPECT_EQ(sums.rows, 4);
}

}  // namespace
