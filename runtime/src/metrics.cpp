// The metrics of model.metrics over the model's output buffer.
#include "ltrt/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "ltrt/error.hpp"
#include "ltrt/metric_info.hpp"
#include "ltrt/process_group.hpp"

namespace ltrt {

namespace {

AccuracyShape accuracy_shape(const ModelDef& model) {
  const bool classes = model.target.dtype == DType::i64;
  // Sequence targets (batch, T) count every position: logits (batch, T, classes) are batch * T rows.
  return AccuracyShape{classes, classes ? model.target.sample_numel() : model.metric_output.sample_numel(),
                       classes ? model.metric_output.shape[model.metric_output.rank - 1] : 1, model.ignore_index};
}

}  // namespace

AccuracyCount count_accuracy(const AccuracyShape& s, const float* out, const void* target, std::int64_t n,
                             std::int64_t top_k) {
  AccuracyCount c;
  if (s.class_targets) {
    // torch.argmax over the last dimension: the first index of the largest logit (or first NaN).
    const auto* classes = static_cast<const std::int64_t*>(target);
    for (std::int64_t i = 0; i < n * s.per_row; ++i) {
      if (classes[i] == s.ignore_index) continue;
      const float* row = out + i * s.classes;
      if (top_k > 1) {  // torchmetrics' top_k: the target among the top_k largest logits
        c.correct += top_k_rank(row, s.classes, classes[i]) < top_k;
        ++c.total;
        continue;
      }
      c.correct += row_argmax(row, s.classes) == classes[i];
      ++c.total;
    }
    return c;
  }
  // Binary: a logit above 0 is a probability above 0.5.
  const auto* floats = static_cast<const float*>(target);
  for (std::int64_t i = 0; i < n * s.per_row; ++i) {
    c.correct += (out[i] > 0.0f) == (floats[i] > 0.5f);
    ++c.total;
  }
  return c;
}

void count_class_stats(const AccuracyShape& s, const float* out, const void* target, std::int64_t n,
                       std::int64_t* tp, std::int64_t* predicted, std::int64_t* actual, std::int64_t top_k) {
  const std::int64_t classes = s.class_targets ? s.classes : 1;
  std::fill(tp, tp + classes, 0);
  std::fill(predicted, predicted + classes, 0);
  std::fill(actual, actual + classes, 0);
  const std::int64_t positions = n * s.per_row;
  if (s.class_targets) {
    const auto* labels = static_cast<const std::int64_t*>(target);
    for (std::int64_t i = 0; i < positions; ++i) {
      const std::int64_t t = labels[i];
      if (t == s.ignore_index) continue;
      const float* row = out + i * s.classes;
      std::int64_t best = row_argmax(row, s.classes);
      if (top_k > 1 && top_k_rank(row, s.classes, t) < top_k) best = t;  // the target among the top_k
      ++predicted[best];
      ++actual[t];
      tp[t] += best == t;
    }
    return;
  }
  // torch.all((preds >= 0) * (preds <= 1)): a NaN is outside.
  const bool probabilities = std::all_of(out, out + positions, [](float x) { return x >= 0.0f && x <= 1.0f; });
  const auto* floats = static_cast<const float*>(target);
  for (std::int64_t i = 0; i < positions; ++i) {
    const bool p = binary_prediction(out[i], probabilities), t = floats[i] > 0.5f;
    predicted[0] += p;
    actual[0] += t;
    tp[0] += p && t;
  }
}

ScoreRule score_rule(MetricKind kind, MetricAverage average, std::int64_t top_k, double beta,
                     std::int64_t ignore_index, std::int64_t classes, bool binary) {
  ScoreRule r{};
  r.kind = kind;
  r.average = average;
  r.binary = binary;
  r.targets_only = top_k > 1 && (kind == MetricKind::precision || kind == MetricKind::recall ||
                                 kind == MetricKind::negative_predictive_value);
  const double beta2 = kind == MetricKind::fbeta_score ? beta * beta : 1.0;  // Python's beta**2
  r.one_plus_beta2 = static_cast<float>(1.0 + beta2);
  r.beta2 = static_cast<float>(beta2);
  // _jaccard_index_reduce leaves out an ignore_index among the classes
  r.ignored_class = kind == MetricKind::jaccard_index && ignore_index >= 0 && ignore_index < classes && classes > 1
                        ? ignore_index
                        : -1;
  return r;
}

double average_score(const ScoreRule& r, const std::int64_t* tp, const std::int64_t* predicted,
                     const std::int64_t* actual, std::int64_t classes, std::int64_t positions) {
  if (r.average == MetricAverage::micro || classes == 1) {
    std::int64_t t = 0, p = 0, a = 0;
    for (std::int64_t c = 0; c < classes; ++c) t += tp[c], p += predicted[c], a += actual[c];
    return micro_score(r, tp, predicted, actual, classes, positions, t, p, a);
  }
  std::int64_t weights = 0;
  for (std::int64_t c = 0; c < classes; ++c) weights += class_weight(r, c, tp[c], predicted[c], actual[c]);
  return average_of_terms(r, tp, predicted, actual, classes, positions, weights);
}

namespace {

// One class's score from (probability, positive) of the positions counted, sorted by probability
// and taken in runs of equal ones. auroc: each run adds its positives' pairs with the negatives
// below it and half with its own. average_precision: each run adds its positives times the
// precision at its threshold (the positives at or above it over all at or above it), from the top.
float ranked_class_score(MetricKind kind, std::vector<std::pair<float, bool>>& scored) {
  std::sort(scored.begin(), scored.end(),
            [](const std::pair<float, bool>& a, const std::pair<float, bool>& b) {
              return probability_above(b.first, a.first);
            });
  if (kind == MetricKind::auroc) {
    std::int64_t above2 = 0, positives_below = 0, negatives_below = 0;
    for (std::size_t i = 0; i < scored.size();) {
      std::size_t j = i;
      std::int64_t positives = 0, negatives = 0;
      for (; j < scored.size() && !probability_above(scored[j].first, scored[i].first); ++j)
        (scored[j].second ? positives : negatives) += 1;
      above2 += positives * (2 * negatives_below + negatives);
      positives_below += positives;
      negatives_below += negatives;
      i = j;
    }
    return roc_area(above2, positives_below, negatives_below);
  }
  double sum = 0;
  std::int64_t above = 0, positives_above = 0;
  for (std::size_t i = scored.size(); i > 0;) {
    std::size_t j = i;
    std::int64_t positives = 0;
    for (; j > 0 && !probability_above(scored[i - 1].first, scored[j - 1].first); --j)
      positives += scored[j - 1].second;
    above += static_cast<std::int64_t>(i - j);
    positives_above += positives;
    sum += static_cast<double>(positives) * precision_at(positives_above, above);
    i = j;
  }
  return positives_above ? static_cast<float>(sum / static_cast<double>(positives_above)) : 0.0f;
}

}  // namespace

void EpochScores::add(const AccuracyShape& s, const float* out, const void* target, std::int64_t n) {
  const std::int64_t positions = n * s.per_row;
  if (!s.class_targets) {
    const auto* floats = static_cast<const float*>(target);
    const bool probabilities = std::all_of(out, out + positions, [](float x) { return x >= 0.0f && x <= 1.0f; });
    for (std::int64_t i = 0; i < positions; ++i) {
      scores.push_back(probabilities ? out[i] : logit_probability(out[i]));
      labels.push_back(floats[i] > 0.5f);
    }
    return;
  }
  const auto* classes = static_cast<const std::int64_t*>(target);
  bool probabilities = true;  // torch.all over the counted positions' values
  for (std::int64_t i = 0; i < positions; ++i)
    if (classes[i] != s.ignore_index)
      probabilities = std::all_of(out + i * s.classes, out + (i + 1) * s.classes,
                                  [](float x) { return x >= 0.0f && x <= 1.0f; }) && probabilities;
  for (std::int64_t i = 0; i < positions; ++i) {
    if (classes[i] == s.ignore_index) continue;
    const float* row = out + i * s.classes;
    labels.push_back(classes[i]);
    if (probabilities) {
      scores.insert(scores.end(), row, row + s.classes);
      continue;
    }
    // softmax in float32, its sum in float64
    float max = row[0];
    for (std::int64_t c = 1; c < s.classes; ++c) max = std::max(max, row[c]);
    double sum = 0;
    for (std::int64_t c = 0; c < s.classes; ++c) sum += expf(row[c] - max);
    for (std::int64_t c = 0; c < s.classes; ++c) scores.push_back(expf(row[c] - max) / static_cast<float>(sum));
  }
}

double ranked_score(MetricKind kind, const AccuracyShape& s, MetricAverage average, const EpochScores& e) {
  const std::int64_t classes = s.class_targets ? s.classes : 1;
  const std::size_t all = e.labels.size();
  std::vector<std::pair<float, bool>> scored(all);
  double total = 0;
  std::int64_t included = 0;
  for (std::int64_t c = 0; c < classes; ++c) {
    std::int64_t positives = 0;
    for (std::size_t r = 0; r < all; ++r) {
      scored[r] = {e.scores[r * static_cast<std::size_t>(classes) + static_cast<std::size_t>(c)],
                   s.class_targets ? e.labels[r] == c : e.labels[r] == 1};
      positives += scored[r].second;
    }
    if (!averages_class(kind, s.class_targets, positives)) continue;
    total += roc_term(average, ranked_class_score(kind, scored), positives, static_cast<std::int64_t>(all));
    ++included;
  }
  return ranked_average(average, total, included);
}

ErrorSum sum_errors(const float* out, const float* target, std::int64_t count, MetricKind kind) {
  ErrorSum e;
  for (std::int64_t i = 0; i < count; ++i) e.sum += metric_error(out[i], target[i], kind);
  e.count = count;
  return e;
}

void R2Sums::add(const float* out, const float* target, std::int64_t n, std::int64_t columns) {
  // _r2_score_update: torch.sum(target, 0), torch.sum(target * target, 0), torch.sum(residual * residual, 0)
  const std::size_t count = static_cast<std::size_t>(n * columns);
  // _explained_variance_update: torch.sum(target - preds, 0) besides
  std::vector<float> squares(count), residual_squares(count), residuals(count);
  for (std::size_t i = 0; i < count; ++i) {
    squares[i] = target[i] * target[i];
    residuals[i] = target[i] - out[i];
    residual_squares[i] = residuals[i] * residuals[i];
  }
  R2Sums b;
  b.sums.resize(4 * static_cast<std::size_t>(columns) + 2);
  torch_column_sums(target, n, columns, b.sums.data());
  torch_column_sums(squares.data(), n, columns, b.sums.data() + columns);
  torch_column_sums(residual_squares.data(), n, columns, b.sums.data() + 2 * columns);
  torch_column_sums(residuals.data(), n, columns, b.sums.data() + 3 * columns);
  // _weighted_mean_absolute_percentage_error_update: (preds - target).abs().sum(), target.abs().sum()
  const auto all = static_cast<std::int64_t>(count);
  b.sums[4 * columns] = torch_sum([out, target](std::int64_t i) { return std::fabs(out[i] - target[i]); }, all);
  b.sums[4 * columns + 1] = torch_sum([target](std::int64_t i) { return std::fabs(target[i]); }, all);
  b.rows = n;
  add(b);
}

void R2Sums::add(const R2Sums& other) {
  if (sums.empty()) sums.assign(other.sums.size(), 0.0f);
  for (std::size_t i = 0; i < sums.size() && i < other.sums.size(); ++i) sums[i] += other.sums[i];
  rows += other.rows;
}

void warn_adjusted_r2_fallback(std::int64_t rows, std::int64_t adjusted) {
  if (adjusted == 0 || adjusted < rows - 1) return;
  static bool warned[2] = {false, false};
  const bool more = adjusted > rows - 1;
  if (warned[more]) return;
  warned[more] = true;
  std::fprintf(stderr, "UserWarning: %s\n",
               more ? "More independent regressions than data points in adjusted r2 score. Falls back to standard r2 "
                      "score."
                    : "Division by zero in adjusted r2 score. Falls back to standard r2 score.");
}

namespace {

// torchmetrics' _r2_score_compute raises below two rows.
void check_r2_rows(std::int64_t rows, const std::string& what) {
  if (rows < 2)
    throw Error("r2_score over " + what + " of " + std::to_string(rows) +
                " row: torchmetrics needs at least two samples to calculate r2 score (Lightning stops there); "
                "choose a batch_size that leaves no batch of one row, or set data.drop_last");
}

}  // namespace

double r2_score(const R2Sums& sums, std::int64_t columns, MetricAverage average, const std::string& what,
                std::int64_t adjusted) {
  check_r2_rows(sums.rows, what);
  warn_adjusted_r2_fallback(sums.rows, adjusted);
  return r2_value(sums.sums.data(), columns, sums.rows, average, adjusted);
}

void warn_correlation_near_zero() {
  static bool warned = false;
  if (warned || ProcessGroup::launcher_rank() != 0) return;  // rank_zero_warn
  warned = true;
  std::fprintf(stderr,
               "UserWarning: the variance of the predictions or of the targets is close to zero (below sqrt(eps) of "
               "float32 once scaled), so the Pearson correlation is NaN, as torchmetrics sets it; rescale the values "
               "if that is not what they are\n");
}

void refuse_r2_single_row(const MetricsShape& shape, std::int64_t n) {
  for (int k = 0; k < shape.count; ++k)
    if (shape.metric[k].kind == MetricKind::r2_score) check_r2_rows(n, "a batch");
}

const char* metric_suffix(MetricKind kind) { return metric_info(kind).suffix; }

std::string metric_name(const ModelDef& model, int k) {
  const MetricDef& m = model.metrics[k];
  // the root mean squared error, the root relative squared error
  const char* root_name = m.kind == MetricKind::relative_squared_error ? "rrse" : "rmse";
  return (m.root ? root_name : metric_suffix(m.kind)) +
         (m.top_k > 1 ? "_top" + std::to_string(m.top_k) : std::string());
}

MetricsShape metrics_shape(const ModelDef& model) {
  MetricsShape s{};
  s.count = model.num_metrics;
  for (int k = 0; k < model.num_metrics; ++k) s.metric[k] = model.metrics[k];
  s.accuracy = accuracy_shape(model);
  s.per_row = model.metric_output.sample_numel();
  return s;
}

void EpochCounts::add(const MetricsShape& s, const float* out, const void* target, std::int64_t n) {
  const std::int64_t classes = s.score_classes();
  std::vector<std::int64_t> batch(static_cast<std::size_t>(s.stats_entries()));
  for (int set = 0; set < s.stats_sets(); ++set) {
    std::int64_t* stats = batch.data() + set * s.set_entries();
    count_class_stats(s.accuracy, out, target, n, stats, stats + classes, stats + 2 * classes, s.set_top_k(set));
    stats[3 * classes] = s.accuracy.class_targets ? 0 : n * s.accuracy.per_row;
  }
  add(batch);
}

void MetricStates::add(const MetricsShape& s, const float* out, const void* target, std::int64_t n, bool with_counts) {
  const auto* y = static_cast<const float*>(target);  // the regression metrics' float targets
  if (with_counts && s.any_counted()) counts.add(s, out, target, n);
  if (s.any_scored()) scores.add(s.accuracy, out, target, n);
  if (s.any_r2_object()) r2.add(out, y, n, s.per_row);
  if (s.any_moments_object()) pearson_update(moments, out, y, n);
  if (s.any_values_object()) values.add(out, y, n * s.per_row);
  for (int k = 0; k < s.count; ++k)
    if (s.success_object(k)) success.add(out, y, n * s.per_row, s.metric[k].threshold);
  if (s.any_exact_object()) exact.add(s.accuracy, out, target, n);
  if (s.any_confusion_object()) confusion.add(s.accuracy, out, target, n);
}

void ConfusionCounts::add(const AccuracyShape& s, const float* out, const void* target, std::int64_t n) {
  if (counts.empty()) counts.assign(static_cast<std::size_t>(s.classes * s.classes), 0);
  for (std::int64_t p = 0; p < n * s.per_row; ++p)
    if (const std::int64_t cell = confusion_cell(s, out, target, p); cell >= 0)
      ++counts[static_cast<std::size_t>(cell)];
}

void ExactMatchCount::add(const AccuracyShape& s, const float* out, const void* target, std::int64_t n) {
  const bool probabilities =
      !s.class_targets && std::all_of(out, out + n * s.per_row, [](float x) { return x >= 0.0f && x <= 1.0f; });
  for (std::int64_t i = 0; i < n; ++i) correct += exact_sample(s, out, target, i, probabilities);
  total += n;
}

void SuccessCounts::add(const float* out, const float* target, std::int64_t count, float threshold) {
  for (std::int64_t i = 0; i < count; ++i) {
    const bool predicted = out[i] >= threshold, actual = target[i] >= threshold;
    hits += predicted && actual;
    misses += actual && !predicted;
    false_alarms += predicted && !actual;
  }
}

void EpochCounts::add(const std::vector<std::int64_t>& other) {
  if (stats.empty()) stats.assign(other.size(), 0);
  for (std::size_t i = 0; i < stats.size() && i < other.size(); ++i) stats[i] += other[i];
}

double stats_score(const MetricsShape& s, int k, const std::vector<std::int64_t>& stats) {
  const std::int64_t classes = s.score_classes();
  const std::int64_t* tp = stats.data() + s.stats_set(k) * s.set_entries();
  const std::int64_t* predicted = tp + classes;
  const std::int64_t* actual = predicted + classes;
  // The positions counted: binary's are kept after the counts, each is a class target's once.
  std::int64_t positions = s.accuracy.class_targets ? 0 : actual[classes];
  if (s.accuracy.class_targets)
    for (std::int64_t c = 0; c < classes; ++c) positions += actual[c];
  if (reduces_matrix(s.metric[k].kind))
    return matrix_score(s.metric[k].kind, tp, predicted, actual, classes, positions);
  if (s.metric[k].kind != MetricKind::accuracy || s.metric[k].average != MetricAverage::micro)
    return average_score(s.rule(k), tp, predicted, actual, classes, positions);
  if (!s.accuracy.class_targets) {  // _safe_divide(tp + tn, tp + tn + fp + fn)
    const std::int64_t wrong = (predicted[0] - tp[0]) + (actual[0] - tp[0]);
    return positions ? static_cast<float>(positions - wrong) / static_cast<float>(positions) : 0.0f;
  }
  std::int64_t hits = 0;  // micro: _safe_divide(tp, tp + fn) over the summed classes
  for (std::int64_t c = 0; c < classes; ++c) hits += tp[c];
  return positions ? static_cast<float>(hits) / static_cast<float>(positions) : 0.0f;
}

void count_metrics(const MetricsShape& s, const float* out, const void* target, std::int64_t n, double* values) {
  EpochCounts batch;  // the stat scores, counted once for all the metrics that read them
  for (int k = 0; k < s.count; ++k) {
    const MetricKind kind = s.metric[k].kind;
    if (s.confusion(k)) {  // a Metric object's batch value too (its forward)
      ConfusionCounts batch_counts;
      batch_counts.add(s.accuracy, out, target, n);
      values[k] = weighted_cohen_kappa(batch_counts.counts.data(), s.accuracy.classes, s.metric[k].weights);
    } else if (s.reads_stats(k)) {
      // A Metric object's batch value (its forward) is its compute() over the batch's stat scores.
      if (batch.empty()) batch.add(s, out, target, n);
      values[k] = stats_score(s, k, batch.stats);
    } else if (kind == MetricKind::accuracy) {
      values[k] = count_accuracy(s.accuracy, out, target, n, s.metric[k].top_k).value();
    } else if (kind == MetricKind::exact_match) {  // a Metric object's batch value too (its forward)
      ExactMatchCount count;
      count.add(s.accuracy, out, target, n);
      values[k] = count.value();
    } else if (ranks_scores(kind)) {
      EpochScores scores;  // a Metric object's batch value too (its forward)
      scores.add(s.accuracy, out, target, n);
      values[k] = ranked_score(kind, s.accuracy, s.metric[k].average, scores);
    } else if (sums_columns(kind)) {
      R2Sums sums;  // a Metric object's batch value too (its forward)
      sums.add(out, static_cast<const float*>(target), n, s.per_row);
      values[k] =
          kind == MetricKind::r2_score
              ? r2_score(sums, s.per_row, s.metric[k].average, "a batch", s.metric[k].adjusted)
              : column_sums_value(kind, sums.sums.data(), s.per_row, n, s.metric[k].average, 0, s.metric[k].root);
    } else if (kind == MetricKind::critical_success_index) {  // a Metric object's batch value too (its forward)
      SuccessCounts counts;
      counts.add(out, static_cast<const float*>(target), n * s.per_row, s.metric[k].threshold);
      values[k] = critical_success_index_value(counts.hits, counts.misses, counts.false_alarms);
    } else if (keeps_values(kind)) {  // a Metric object's batch value too (its forward)
      values[k] = kept_values_value(s.metric[k], out, static_cast<const float*>(target), n, s.per_row);
    } else if (correlates(kind)) {
      PearsonMoments moments;  // a Metric object's batch value too (its forward)
      pearson_update(moments, out, static_cast<const float*>(target), n);
      bool near_zero = false;
      values[k] = correlation_value(kind, moments, &near_zero);
      if (near_zero) warn_correlation_near_zero();
    } else {
      values[k] = sum_errors(out, static_cast<const float*>(target), n * s.per_row, kind).value();
      if (s.metric[k].root) values[k] = std::sqrt(values[k]);  // torch.sqrt(sum / count)
    }
  }
}

void batch_metrics(const ModelDef& model, const std::byte* arena, int n, double* values) {
  count_metrics(metrics_shape(model), reinterpret_cast<const float*>(arena + model.metric_output.offset),
                arena + model.target.offset, n, values);
}

}  // namespace ltrt
