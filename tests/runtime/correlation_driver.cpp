// ltrt's side of correlation_oracle.py: reads {"cases": [{"kind": "pearson_corrcoef",
// "concordance_corrcoef" or "spearman_corrcoef", "functional": true or false, "ranks": [[{"x": [...], "y": [...]}, ...],
// ...]}, ...]} (the values as float32 bits) from stdin and prints, per case, the float32 bits of the value ("nan" for a NaN). A
// functional case is one rank's one batch, as count_metrics scores it (spearman's ranks by the CPU's
// sort are checked against the GPU's counting too); a Metric object's updates its moments with each
// rank's batches in order, merges the ranks' in rank order and computes (spearman: ranks every
// rank's values, in rank order).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "ltrt/json.hpp"
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
      const MetricKind kind = name == "concordance_corrcoef" ? MetricKind::concordance_corrcoef
                              : name == "spearman_corrcoef"  ? MetricKind::spearman_corrcoef
                                                             : MetricKind::pearson_corrcoef;
      const Value& ranks = *c.find("ranks");
      if (c.find("functional")->b) {
        const Value& batch = ranks.items.at(0).items.at(0);
        const std::vector<float> x = floats(*batch.find("x")), y = floats(*batch.find("y"));
        ltrt::MetricsShape shape{};
        shape.count = 1;
        shape.kinds[0] = kind;
        shape.per_row = 1;
        double value;
        const auto n = static_cast<std::int64_t>(x.size());
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
        results.push(bits(static_cast<float>(value)));
        continue;
      }
      if (kind == MetricKind::spearman_corrcoef) {
        ltrt::EpochValues all;
        for (const Value& rank : ranks.items)
          for (const Value& batch : rank.items) {
            const std::vector<float> x = floats(*batch.find("x")), y = floats(*batch.find("y"));
            all.add(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
          }
        results.push(bits(ltrt::spearman_value(all.preds.data(), all.targets.data(),
                                               static_cast<std::int64_t>(all.preds.size()))));
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
