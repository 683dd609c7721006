/// \file
/// torch.optim's keyword arguments of each optimizer class, in one table: what the schema lists,
/// what the generated program's OptimizerConfig fields hold, and what `--emit lightning` passes.
#pragma once

#include <string>
#include <vector>

#include "spec.hpp"

namespace ltgen {

/// One keyword argument of a torch.optim class with its value: a number, an int, a bool, a pair of
/// numbers (`betas`, `etas`, `step_sizes`), each number one OptimizerConfig field, or LBFGS's
/// `line_search_fn` (None or "strong_wolfe": the bool field strong_wolfe).
struct OptimizerArg {
  std::string key;                  // torch's keyword: "betas"
  std::vector<std::string> fields;  // OptimizerConfig's: {"beta1", "beta2"}
  std::vector<double> values;       // one per field (a bool as 0 or 1)
  bool boolean = false;
  bool integer = false;
  bool line_search = false;
};

/// torch.optim class `type`'s arguments with their values in `h`, in the order torch documents
/// them, as far as ltgen reads them: lr first, maximize last (Rprop and LBFGS have no weight_decay).
std::vector<OptimizerArg> optimizer_args(const std::string& type, const OptimizerHyper& h);

/// The arguments of `type` whose values in `group` differ from those in `optimizer`, lr and
/// weight_decay aside: what a parameter group sets apart from its optimizer beyond those two.
std::vector<OptimizerArg> group_own_args(const std::string& type, const OptimizerHyper& group,
                                         const OptimizerHyper& optimizer);

/// The torch.optim classes ltgen generates, in the schema's order.
const std::vector<std::string>& optimizer_types();

}  // namespace ltgen
