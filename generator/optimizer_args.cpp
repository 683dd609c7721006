#include "optimizer_args.hpp"

namespace ltgen {

std::vector<OptimizerArg> optimizer_args(const std::string& type, const OptimizerHyper& h) {
  std::vector<OptimizerArg> args;
  auto number = [&](const char* key, double v) { args.push_back({key, {key}, {v}, false}); };
  auto flag = [&](const char* key, bool v) { args.push_back({key, {key}, {v ? 1.0 : 0.0}, true}); };
  auto integer = [&](const char* key, std::int64_t v) {
    args.push_back({key, {key}, {static_cast<double>(v)}, false, true});
  };
  auto pair = [&](const char* key, const char* f0, double v0, const char* f1, double v1) {
    args.push_back({key, {f0, f1}, {v0, v1}, false});
  };
  number("lr", h.lr);
  if (type == "SGD") {
    number("momentum", h.momentum);
    number("dampening", h.dampening);
    flag("nesterov", h.nesterov);
  } else if (type == "RMSprop") {
    number("alpha", h.alpha);
    number("eps", h.eps);
    number("momentum", h.momentum);
    flag("centered", h.centered);
  } else if (type == "Rprop") {
    pair("etas", "etaminus", h.etaminus, "etaplus", h.etaplus);
    pair("step_sizes", "step_size_min", h.step_size_min, "step_size_max", h.step_size_max);
  } else if (type == "ASGD") {
    number("lambd", h.lambd);
    number("alpha", h.alpha);
    number("t0", h.t0);
  } else if (type == "LBFGS") {
    integer("max_iter", h.max_iter);
    integer("max_eval", h.max_eval);
    number("tolerance_grad", h.tolerance_grad);
    number("tolerance_change", h.tolerance_change);
    integer("history_size", h.history_size);
    args.push_back({"line_search_fn", {"strong_wolfe"}, {h.strong_wolfe ? 1.0 : 0.0}, false, false, true});
  } else if (type == "Adadelta") {
    number("rho", h.rho);
    number("eps", h.eps);
  } else if (type == "Adagrad") {
    number("lr_decay", h.lr_decay);
    number("initial_accumulator_value", h.initial_accumulator_value);
    number("eps", h.eps);
  } else {  // the Adam family
    pair("betas", "beta1", h.beta1, "beta2", h.beta2);
    number("eps", h.eps);
    if (type == "Adam" || type == "AdamW") flag("amsgrad", h.amsgrad);
    if (type == "NAdam") number("momentum_decay", h.momentum_decay);
    if (type == "RAdam" || type == "NAdam") flag("decoupled_weight_decay", h.decoupled_weight_decay);
  }
  if (type != "Rprop" && type != "LBFGS") number("weight_decay", h.weight_decay);  // those refuse one
  flag("maximize", h.maximize);
  return args;
}

std::vector<OptimizerArg> group_own_args(const std::string& type, const OptimizerHyper& group,
                                         const OptimizerHyper& optimizer) {
  const std::vector<OptimizerArg> base = optimizer_args(type, optimizer);
  std::vector<OptimizerArg> own;
  for (const OptimizerArg& a : optimizer_args(type, group)) {
    if (a.key == "lr" || a.key == "weight_decay") continue;
    for (const OptimizerArg& b : base)
      if (b.key == a.key && b.values != a.values) own.push_back(a);
  }
  return own;
}

const std::vector<std::string>& optimizer_types() {
  static const std::vector<std::string> types = {"SGD",     "Adam",  "AdamW", "Adamax",   "RAdam",   "NAdam",
                                                 "RMSprop", "Rprop", "ASGD",  "Adadelta", "Adagrad", "LBFGS"};
  return types;
}

}  // namespace ltgen
