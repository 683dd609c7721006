// ltrt's side of stat_scores_oracle.py: reads {"cases": [{"kind": "specificity", "average": "macro",
// "top_k": 1, "beta": 2.0, "classes": C (0: binary logits), "per_row": P, "ignore_index": I, "n": N,
// "out": [...], "target": [...]}, ...]} from stdin and prints, per case, the float32 bits of the
// metric's value over the batch as count_metrics computes it ("nan" for a NaN). A case with
// "counts": [tp, predicted, actual, positions] instead gives a binary model's stat scores as they
// are, scored by stats_score (an epoch's, a Metric object's).
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

using ltrt::MetricAverage;
using ltrt::MetricKind;
using ltrt::json::Value;

MetricKind kind_of(const std::string& name) {
  if (const ltrt::MetricInfo* info = ltrt::find_metric_info(name.c_str())) return info->kind;
  throw std::runtime_error("unknown metric " + name);
}

// float32 bits, or "nan".
Value bits(float f) {
  if (std::isnan(f)) return Value::make_string("nan");
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return Value::make_integer(u);
}

MetricAverage average_of(const std::string& name) {
  if (name == "macro") return MetricAverage::macro;
  if (name == "weighted") return MetricAverage::weighted;
  return MetricAverage::micro;
}

}  // namespace

int main() {
  try {
    const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const Value in = ltrt::json::parse(text);
    Value results = Value::make_array();
    for (const Value& c : in.find("cases")->items) {
      if (const Value* counts = c.find("counts")) {  // binary counts: [tp, predicted, actual, positions]
        ltrt::MetricsShape shape{};
        shape.count = 1;
        shape.metric[0].kind = kind_of(c.find("kind")->str);
        shape.metric[0].top_k = 1;
        shape.metric[0].beta = c.find("beta")->num;
        shape.accuracy = ltrt::AccuracyShape{false, 1, 1, -100};
        std::vector<std::int64_t> stats;
        for (const Value& v : counts->items) stats.push_back(v.integer);
        results.push(bits(static_cast<float>(ltrt::stats_score(shape, 0, stats))));
        continue;
      }
      const std::int64_t classes = c.find("classes")->integer, per_row = c.find("per_row")->integer,
                         n = c.find("n")->integer;
      const bool binary = classes == 0;
      ltrt::MetricsShape shape{};
      shape.count = 1;
      shape.metric[0].kind = kind_of(c.find("kind")->str);
      shape.metric[0].average = average_of(c.find("average")->str);
      shape.metric[0].top_k = c.find("top_k")->integer;
      shape.metric[0].beta = c.find("beta")->num;
      const std::string weights = c.find("weights") ? c.find("weights")->str : "none";
      shape.metric[0].weights = weights == "linear"      ? ltrt::KappaWeights::linear
                                : weights == "quadratic" ? ltrt::KappaWeights::quadratic
                                                         : ltrt::KappaWeights::none;
      shape.accuracy = ltrt::AccuracyShape{!binary, per_row, binary ? 1 : classes, c.find("ignore_index")->integer};
      shape.per_row = binary ? per_row : per_row * classes;
      std::vector<float> out;
      for (const Value& v : c.find("out")->items) out.push_back(static_cast<float>(v.num));
      std::vector<std::int64_t> labels;
      std::vector<float> floats;
      for (const Value& v : c.find("target")->items) {
        labels.push_back(v.is_integer ? v.integer : 0);
        floats.push_back(static_cast<float>(v.num));
      }
      double value;
      ltrt::count_metrics(shape, out.data(), binary ? static_cast<const void*>(floats.data()) : labels.data(), n,
                          &value);
      results.push(bits(static_cast<float>(value)));
    }
    std::cout << ltrt::json::write(results) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "stat_scores_driver: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
