// ltrt's side of correlation_oracle.py: reads {"cases": [{"kind": "pearson_corrcoef",
// "concordance_corrcoef", "spearman_corrcoef" or "kendall_rank_corrcoef" (with "variant": "a", "b" or
// "c"), "functional": true or false, "ranks": [[{"x": [...], "y": [...]}, ...], ...]}, ...]} (the
// values as float32 bits) from stdin and prints, per case, the float32 bits of the value ("nan" for
// a NaN). A functional case is one rank's one batch, as count_metrics scores it (spearman's ranks by
// the CPU's sort are checked against the GPU's counting too, and kendall's counts so); a Metric
// object's updates its moments with each rank's batches in order, merges the ranks' in rank order
// and computes (spearman and kendall: over every rank's values, in rank order). A case of kind
// "kendall_tau" gives the counts themselves ({"variant", "n", "concordant", "discordant", "ties_x",
// "ties_y"}): kendall_tau's arithmetic on counts too large to reach with values. A case of kind
// "relative_squared_error" or "weighted_mean_absolute_percentage_error" (which read r2_score's sums)
// has "columns" (outputs a row, the values row-major) and "root" (squared=False); its Metric object
// adds each rank's sums in float32, as two ranks' synced states are. A case of kind
// "critical_success_index" has "columns" and "threshold"; its object adds every rank's counts. A
// case of kind "cosine_similarity" has "columns" and "reduction" ("sum" or "mean"); its object
// computes over every rank's rows, in rank order.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "ltrt/json.hpp"
#include "ltrt/metric_info.hpp"
#include "ltrt/metrics.hpp"

namespace {

using ltrt::MetricKind;
using ltrt::json::Value;

Value bits(float f) {
  if (std::isnan(f)) return Value::make_string("nan");
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return Value::make_integer(u);
}

// float32 values given as their bits (JSON has no NaN or infinity).
std::vector<float> floats(const Value& v) {
  std::vector<float> out;
  for (const Value& x : v.items) {
    const auto u = static_cast<std::uint32_t>(x.integer);
    float f;
    std::memcpy(&f, &u, sizeof f);
    out.push_back(f);
  }
  return out;
}

}  // namespace

int main() {
  try {
    const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const Value in = ltrt::json::parse(text);
    Value results = Value::make_array();
    for (const Value& c : in.find("cases")->items) {
      const std::string& name = c.find("kind")->str;
      const Value* variant_name = c.find("variant");
      const ltrt::KendallVariant variant = !variant_name             ? ltrt::KendallVariant::b
                                           : variant_name->str == "a" ? ltrt::KendallVariant::a
                                           : variant_name->str == "c" ? ltrt::KendallVariant::c
                                                                      : ltrt::KendallVariant::b;
      if (name == "kendall_tau") {
        ltrt::KendallCounts counts;
        counts.n = c.find("n")->integer;
        counts.concordant = c.find("concordant")->integer;
        counts.discordant = c.find("discordant")->integer;
        counts.ties_x = c.find("ties_x")->integer;
        counts.ties_y = c.find("ties_y")->integer;
        results.push(bits(ltrt::kendall_tau(counts, variant)));
        continue;
      }
      const Value* columns_given = c.find("columns");
      const std::int64_t columns = columns_given ? columns_given->integer : 1;
      const bool root = c.find("root") && c.find("root")->b;
      const Value* threshold_given = c.find("threshold");
      const float threshold = threshold_given ? static_cast<float>(threshold_given->num) : 0.0f;
      const ltrt::MetricReduction reduction = c.find("reduction") && c.find("reduction")->str == "mean"
                                                  ? ltrt::MetricReduction::mean
                                                  : ltrt::MetricReduction::sum;
      const ltrt::MetricInfo* info = ltrt::find_metric_info(name.c_str());
      if (!info) throw std::runtime_error("unknown metric " + name);
      const MetricKind kind = info->kind;
      const Value& ranks = *c.find("ranks");
      if (c.find("functional")->b) {
        const Value& batch = ranks.items.at(0).items.at(0);
        const std::vector<float> x = floats(*batch.find("x")), y = floats(*batch.find("y"));
        ltrt::MetricsShape shape{};
        shape.count = 1;
        shape.metric[0].kind = kind;
        shape.metric[0].variant = variant;
        shape.metric[0].root = root;
        shape.metric[0].threshold = threshold;
        shape.metric[0].reduction = reduction;
        shape.per_row = columns;
        double value;
        const auto n = static_cast<std::int64_t>(x.size()) / columns;
        ltrt::count_metrics(shape, x.data(), y.data(), n, &value);
        if (kind == MetricKind::spearman_corrcoef) {  // the GPU's ranks, by counting, are the sort's
          std::vector<float> sorted(x.size());
          ltrt::rank_values(x.data(), n, sorted.data());
          for (std::int64_t i = 0; i < n; ++i) {
            const float counted = ltrt::rank_of(x.data(), n, i);
            if (std::memcmp(&sorted[i], &counted, sizeof(float)) != 0)
              throw std::runtime_error("rank_of and rank_values disagree at " + std::to_string(i));
          }
        }
        if (kind == MetricKind::kendall_rank_corrcoef) {  // the GPU's shares of the pairs add up to the sort's counts
          ltrt::KendallCounts counted;
          for (std::int64_t i = 0; i < n; ++i) counted.add(ltrt::kendall_share(x.data(), y.data(), n, i));
          const ltrt::KendallCounts sorted = ltrt::kendall_counts(x.data(), y.data(), n);
          const std::int64_t a[] = {counted.n, counted.concordant, counted.discordant, counted.ties_x,
                                    counted.ties_y, counted.unique_x, counted.unique_y};
          const std::int64_t b[] = {sorted.n, sorted.concordant, sorted.discordant, sorted.ties_x,
                                    sorted.ties_y, sorted.unique_x, sorted.unique_y};
          for (int f = 0; f < 7; ++f)
            if (a[f] != b[f])
              throw std::runtime_error("kendall_share and kendall_counts disagree on count " + std::to_string(f) +
                                       ": " + std::to_string(a[f]) + " against " + std::to_string(b[f]));
        }
        results.push(bits(static_cast<float>(value)));
        continue;
      }
      if (kind == MetricKind::critical_success_index) {
        ltrt::SuccessCounts all;
        for (const Value& rank : ranks.items)
          for (const Value& batch : rank.items) {
            const std::vector<float> x = floats(*batch.find("x")), y = floats(*batch.find("y"));
            all.add(x.data(), y.data(), static_cast<std::int64_t>(x.size()), threshold);
          }
        results.push(bits(ltrt::critical_success_index_value(all.hits, all.misses, all.false_alarms)));
        continue;
      }
      if (ltrt::sums_columns(kind)) {
        ltrt::R2Sums all;
        for (const Value& rank : ranks.items) {
          ltrt::R2Sums sums;
          for (const Value& batch : rank.items) {
            const std::vector<float> x = floats(*batch.find("x")), y = floats(*batch.find("y"));
            sums.add(x.data(), y.data(), static_cast<std::int64_t>(x.size()) / columns, columns);
          }
          if (!sums.empty()) all.add(sums);
        }
        results.push(bits(ltrt::column_sums_value(kind, all.sums.data(), columns, all.rows,
                                                  ltrt::MetricAverage::uniform_average, 0, root)));
        continue;
      }
      if (ltrt::keeps_values(kind)) {
        ltrt::EpochValues all;
        for (const Value& rank : ranks.items)
          for (const Value& batch : rank.items) {
            const std::vector<float> x = floats(*batch.find("x")), y = floats(*batch.find("y"));
            all.add(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
          }
        const ltrt::MetricDef def = ltrt::metric(kind).with_variant(variant).with_reduction(reduction);
        results.push(bits(ltrt::kept_values_value(def, all.preds.data(), all.targets.data(),
                                                  static_cast<std::int64_t>(all.preds.size()) / columns, columns)));
        continue;
      }
      ltrt::PearsonMoments merged;
      for (std::size_t r = 0; r < ranks.items.size(); ++r) {
        ltrt::PearsonMoments rank;
        for (const Value& batch : ranks.items[r].items) {
          const std::vector<float> x = floats(*batch.find("x")), y = floats(*batch.find("y"));
          ltrt::pearson_update(rank, x.data(), y.data(), static_cast<std::int64_t>(x.size()));
        }
        merged = r == 0 ? rank : ltrt::pearson_merge(merged, rank);
      }
      results.push(bits(ltrt::correlation_value(kind, merged)));
    }
    std::cout << ltrt::json::write(results) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "correlation_driver: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
