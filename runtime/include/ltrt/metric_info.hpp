// The names of model.metrics' metrics, one table for ltgen and the runtime: the spec's name
// (torchmetrics' functional metric), the suffix the logs give it (train_<suffix>) and torchmetrics'
// Metric class, in the order ltgen lists them to the user.
#pragma once

#include <cstring>

#include "ltrt/model.hpp"

namespace ltrt {

struct MetricInfo {
  MetricKind kind;
  const char* name;    // the spec's, torchmetrics.functional's
  const char* suffix;  // logged as <stage>_<suffix>
  const char* torchmetrics_class;
};

inline constexpr MetricInfo kMetricInfos[] = {
    {MetricKind::accuracy, "accuracy", "acc", "Accuracy"},
    {MetricKind::mean_absolute_error, "mean_absolute_error", "mae", "MeanAbsoluteError"},
    {MetricKind::mean_squared_error, "mean_squared_error", "mse", "MeanSquaredError"},
    {MetricKind::mean_absolute_percentage_error, "mean_absolute_percentage_error", "mape",
     "MeanAbsolutePercentageError"},
    {MetricKind::mean_squared_log_error, "mean_squared_log_error", "msle", "MeanSquaredLogError"},
    {MetricKind::symmetric_mean_absolute_percentage_error, "symmetric_mean_absolute_percentage_error", "smape",
     "SymmetricMeanAbsolutePercentageError"},
    {MetricKind::log_cosh_error, "log_cosh_error", "log_cosh", "LogCoshError"},
    {MetricKind::precision, "precision", "precision", "Precision"},
    {MetricKind::recall, "recall", "recall", "Recall"},
    {MetricKind::f1_score, "f1_score", "f1", "F1Score"},
    {MetricKind::fbeta_score, "fbeta_score", "fbeta", "FBetaScore"},
    {MetricKind::specificity, "specificity", "specificity", "Specificity"},
    {MetricKind::negative_predictive_value, "negative_predictive_value", "npv", "NegativePredictiveValue"},
    {MetricKind::hamming_distance, "hamming_distance", "hamming", "HammingDistance"},
    {MetricKind::jaccard_index, "jaccard_index", "jaccard", "JaccardIndex"},
    {MetricKind::matthews_corrcoef, "matthews_corrcoef", "mcc", "MatthewsCorrCoef"},
    {MetricKind::cohen_kappa, "cohen_kappa", "kappa", "CohenKappa"},
    {MetricKind::auroc, "auroc", "auroc", "AUROC"},
    {MetricKind::average_precision, "average_precision", "ap", "AveragePrecision"},
    {MetricKind::r2_score, "r2_score", "r2", "R2Score"},
    {MetricKind::explained_variance, "explained_variance", "ev", "ExplainedVariance"},
    {MetricKind::pearson_corrcoef, "pearson_corrcoef", "pearson", "PearsonCorrCoef"},
    {MetricKind::concordance_corrcoef, "concordance_corrcoef", "ccc", "ConcordanceCorrCoef"},
    {MetricKind::spearman_corrcoef, "spearman_corrcoef", "spearman", "SpearmanCorrCoef"},
    {MetricKind::kendall_rank_corrcoef, "kendall_rank_corrcoef", "kendall", "KendallRankCorrCoef"},
    {MetricKind::relative_squared_error, "relative_squared_error", "rse", "RelativeSquaredError"},
    {MetricKind::weighted_mean_absolute_percentage_error, "weighted_mean_absolute_percentage_error", "wmape",
     "WeightedMeanAbsolutePercentageError"},
    {MetricKind::critical_success_index, "critical_success_index", "csi", "CriticalSuccessIndex"},
    {MetricKind::cosine_similarity, "cosine_similarity", "cos_sim", "CosineSimilarity"},
    {MetricKind::exact_match, "exact_match", "exact_match", "ExactMatch"},
};

namespace metric_info_detail {
constexpr bool every_kind_once() {
  constexpr int kinds = static_cast<int>(MetricKind::exact_match) + 1;  // MetricKind's last
  if (sizeof(kMetricInfos) / sizeof(kMetricInfos[0]) != kinds) return false;
  for (int k = 0; k < kinds; ++k) {
    int seen = 0;
    for (const MetricInfo& info : kMetricInfos) seen += static_cast<int>(info.kind) == k;
    if (seen != 1) return false;
  }
  return true;
}
}  // namespace metric_info_detail
static_assert(metric_info_detail::every_kind_once(), "kMetricInfos names every MetricKind once");

// The entry of a metric kind.
inline const MetricInfo& metric_info(MetricKind kind) {
  for (const MetricInfo& info : kMetricInfos)
    if (info.kind == kind) return info;
  return kMetricInfos[0];
}
// The entry of a spec's metric name, or nullptr for a name that is none.
inline const MetricInfo* find_metric_info(const char* name) {
  for (const MetricInfo& info : kMetricInfos)
    if (std::strcmp(info.name, name) == 0) return &info;
  return nullptr;
}

}  // namespace ltrt
