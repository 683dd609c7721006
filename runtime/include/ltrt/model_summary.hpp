// Lightning's ModelSummary table, printed when fit starts
// (Trainer(enable_model_summary=True)): one row per layer of the spec.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ltrt/callbacks.hpp"
#include "ltrt/model.hpp"

namespace ltrt {

class ConfigObject;

std::string model_summary(const ModelDef& model);

// lightning.pytorch.callbacks.ModelSummary (2.6) in trainer.callbacks, in place of the default one:
//   {"class_path": "ModelSummary", "init_args": {"max_depth": 1}}
// max_depth 0 turns the summary off; -1 or a positive depth print the table above, whose rows are
// the spec's layers whatever the depth (Lightning's rows follow the module tree to that depth). As
// in Lightning, a ModelSummary in the list prints even with trainer.enable_model_summary false.
class ModelSummary : public Callback {
 public:
  explicit ModelSummary(std::int64_t max_depth) : max_depth_(max_depth) {}
  static std::unique_ptr<ModelSummary> read(ConfigObject& init_args);  // ConfigError for a depth below -1
  const char* class_name() const override { return "ModelSummary"; }
  std::int64_t max_depth() const { return max_depth_; }

 private:
  std::int64_t max_depth_;
};

// Lightning's get_human_readable_count: 11 -> "11", 1234 -> "1.2 K", 269322 -> "269 K".
std::string human_readable_count(std::int64_t n);

}  // namespace ltrt
