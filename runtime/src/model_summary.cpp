// ModelSummary: name, type, parameters, mode and output size of each layer.
#include "ltrt/model_summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "ltrt/config_reader.hpp"

namespace ltrt {

std::unique_ptr<ModelSummary> ModelSummary::read(ConfigObject& a) {
  std::int64_t depth = 1;
  if (const json::Value* v = a.get("max_depth")) {
    depth = read_integer(*v, a.path_of("max_depth"), std::numeric_limits<std::int64_t>::min());
    // lightning.pytorch.utilities.model_summary.ModelSummary's check, met when fit starts
    if (depth < -1) a.fail("max_depth", "`max_depth` can be -1, 0 or > 0, got " + std::to_string(depth) + ".");
  }
  a.finish();
  return std::make_unique<ModelSummary>(depth);
}

std::string human_readable_count(std::int64_t n) {
  const char* labels[] = {"", "K", "M", "B", "T"};
  if (n <= 0) return std::to_string(n);
  const int digits = static_cast<int>(std::floor(std::log10(static_cast<double>(n)))) + 1;
  const int groups = std::min(4, (digits + 2) / 3);
  const double number = static_cast<double>(n) * std::pow(10.0, -3.0 * (groups - 1));
  char buf[64];
  if (groups == 1 || number >= 100) std::snprintf(buf, sizeof buf, "%lld %s", static_cast<long long>(number), labels[groups - 1]);
  else std::snprintf(buf, sizeof buf, "%.1f %s", number, labels[groups - 1]);
  std::string s = buf;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string model_summary(const ModelDef& model) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"", "Name", "Type", "Params", "Mode", "Out sizes"});
  std::int64_t total = 0;
  for (int i = 0; i < model.num_layers; ++i) {
    const LayerSummary& l = model.layers[i];
    rows.push_back({std::to_string(i), l.name, l.type, human_readable_count(l.params), "train", l.output_shape});
    total += l.params;
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  std::string out;
  std::size_t line_width = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      std::string cell = rows[r][c];
      cell.resize(width[c], ' ');
      line += (c ? " | " : "") + cell;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    line_width = std::max(line_width, line.size());
    out += line + "\n";
    if (r == 0) out += "@RULE@\n";
  }
  const std::string rule(line_width, '-');
  out.replace(out.find("@RULE@"), 6, rule);
  out += rule + "\n";
  // Lightning prints it at fit's start, after BackboneFinetuning's setup froze the backbone (again on
  // a resumed fit): the backbone's group counts as non-trainable.
  std::int64_t frozen = model.num_frozen_elements;
  if (model.backbone_group) frozen += model.param_groups[model.num_param_groups - 1].count;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%-10s Trainable params\n%-10s Non-trainable params\n%-10s Total params\n%-10.3f Total estimated model params size (MB)\n",
                human_readable_count(total - frozen).c_str(), human_readable_count(frozen).c_str(),
                human_readable_count(total).c_str(),
                static_cast<double>(total) * 4.0 / 1e6);
  return out + buf;
}

}  // namespace ltrt
