// torch.optim.lr_scheduler, one parameter group, in double as Python computes
// it. Every formula below is written in the order torch writes it (Python
// evaluates left to right; int operands are converted to double first), so
// that the results agree bit for bit with torch on the same libm. The file
// relies on ltrt's -ffp-contract=off (no fused multiply-adds).
//
// Reference: torch/optim/lr_scheduler.py of torch 1.13 (tested by the oracle
// test against Debian's python3-torch) and of torch 2.x. Differences between
// the two that matter here are noted where they occur; for the flows used here
// (construct, then step() / SequentialLR's milestone switch) both give the same
// sequences.
#include "ltrt/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>

#include "ltrt/error.hpp"
#include "ltrt/python_lambda.hpp"

namespace ltrt {

namespace {

constexpr double kPi = 3.141592653589793;  // math.pi

// Python's a % b for ints (the result has the sign of b).
std::int64_t py_mod(std::int64_t a, std::int64_t b) {
  std::int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

// Python's a // b for ints.
std::int64_t py_floordiv(std::int64_t a, std::int64_t b) { return (a - py_mod(a, b)) / b; }

// bisect.bisect_right, exactly (it is a binary search, also on unsorted lists).
std::size_t bisect_right(const std::vector<std::int64_t>& a, std::int64_t x) {
  std::size_t lo = 0, hi = a.size();
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    if (x < a[mid]) hi = mid; else lo = mid + 1;
  }
  return lo;
}

// ---------------------------------------------------------------------------
// Argument reading.

class Args {
 public:
  Args(const std::string& type, const json::Value& args) : type_(type), args_(args) {
    if (!args_.is_null() && !args_.is_object()) fail("arguments must be an object");
  }

  bool has(const char* name) const {
    const json::Value* v = args_.find(name);
    return v != nullptr && !v->is_null();
  }
  const json::Value* get(const char* name) const {
    const json::Value* v = args_.find(name);
    return (v != nullptr && !v->is_null()) ? v : nullptr;
  }

  double number(const char* name, std::optional<double> def = std::nullopt) const {
    const json::Value* v = get(name);
    if (v == nullptr) return required(name, def);
    if (!v->is_number()) fail(name, "must be a number, got " + std::string(json::kind_name(v->kind)));
    if (!std::isfinite(v->num)) fail(name, "must be finite");
    return v->num;
  }
  std::int64_t integer(const char* name, std::optional<std::int64_t> def = std::nullopt) const {
    const json::Value* v = get(name);
    if (v == nullptr) {
      if (def) return *def;
      fail(name, "is required");
    }
    return as_integer(*v, name);
  }
  std::int64_t as_integer(const json::Value& v, const std::string& what) const {
    if (!v.is_number() || !v.is_integer) fail(what, "must be an integer, got " + json::write(v));
    return v.integer;
  }
  bool boolean(const char* name, bool def) const {
    const json::Value* v = get(name);
    if (v == nullptr) return def;
    if (!v->is_bool()) fail(name, "must be true or false, got " + json::write(*v));
    return v->b;
  }
  std::string string(const char* name, const char* def, std::initializer_list<const char*> allowed) const {
    const json::Value* v = get(name);
    std::string s = def;
    if (v != nullptr) {
      if (!v->is_string()) fail(name, "must be a string, got " + json::write(*v));
      s = v->str;
    }
    std::string list;
    for (const char* a : allowed) {
      if (s == a) return s;
      list += (list.empty() ? "'" : ", '") + std::string(a) + "'";
    }
    fail(name, "must be one of " + list + ", got '" + s + "'");
  }

  // Unknown names are an error (torch: unexpected keyword argument).
  void check_known(const std::vector<SchedulerArgument>& known) const {
    if (!args_.is_object()) return;
    for (const auto& [key, value] : args_.members) {
      bool ok = false;
      for (const auto& a : known) ok = ok || a.name == key;
      if (!ok) fail("unknown argument '" + key + "'");
    }
  }

  [[noreturn]] void fail(const std::string& name, const std::string& what) const {
    throw Error(type_ + ": argument '" + name + "' " + what);
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(type_ + ": " + what); }

 private:
  double required(const char* name, std::optional<double> def) const {
    if (def) return *def;
    fail(name, "is required");
  }

  std::string type_;
  const json::Value& args_;
};

// ---------------------------------------------------------------------------
// State (de)serialization helpers.

json::Value num(double v) {
  if (std::isnan(v)) return json::Value::make_string("nan");
  if (std::isinf(v)) return json::Value::make_string(v > 0 ? "inf" : "-inf");
  return json::Value::make_number(v);
}

const json::Value& member(const json::Value& state, const char* type, const char* key) {
  const json::Value* v = state.is_object() ? state.find(key) : nullptr;
  if (v == nullptr) throw Error(std::string(type) + " state: missing '" + key + "'");
  return *v;
}

double read_num(const json::Value& state, const char* type, const char* key) {
  const json::Value& v = member(state, type, key);
  if (v.is_number()) return v.num;
  if (v.is_string()) {
    if (v.str == "inf") return std::numeric_limits<double>::infinity();
    if (v.str == "-inf") return -std::numeric_limits<double>::infinity();
    if (v.str == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  throw Error(std::string(type) + " state: '" + key + "' must be a number, got " + json::write(v));
}

std::int64_t read_int(const json::Value& state, const char* type, const char* key) {
  const json::Value& v = member(state, type, key);
  if (!v.is_number() || !v.is_integer)
    throw Error(std::string(type) + " state: '" + key + "' must be an integer, got " + json::write(v));
  return v.integer;
}

// ---------------------------------------------------------------------------
// torch's optimizer.param_groups[0]: the entries schedulers read and write.
// Shared by the schedulers of a SequentialLR, as in torch.

struct Group {
  double lr = 0;
  std::optional<double> initial_lr;  // set by the first scheduler (setdefault) or by OneCycleLR
  std::optional<double> max_lr;      // OneCycleLR
  std::optional<double> min_lr;      // OneCycleLR
  // OneCycleLR with cycle_momentum: the optimizer's momentum (SGD) or betas[0] (Adam), and its bounds.
  std::optional<double> momentum, max_momentum, base_momentum;

  void save(json::Value& out) const {
    out.set("lr", num(lr));
    if (initial_lr) out.set("initial_lr", num(*initial_lr));
    if (max_lr) out.set("max_lr", num(*max_lr));
    if (min_lr) out.set("min_lr", num(*min_lr));
    if (momentum) out.set("momentum", num(*momentum));
    if (max_momentum) out.set("max_momentum", num(*max_momentum));
    if (base_momentum) out.set("base_momentum", num(*base_momentum));
  }
  void load(const json::Value& in, const char* type) {
    lr = read_num(in, type, "lr");
    auto opt = [&](const char* key, std::optional<double>& field) {
      if (in.find(key) != nullptr) field = read_num(in, type, key); else field.reset();
    };
    opt("initial_lr", initial_lr);
    opt("max_lr", max_lr);
    opt("min_lr", min_lr);
    opt("momentum", momentum);
    opt("max_momentum", max_momentum);
    opt("base_momentum", base_momentum);
  }
};

// ---------------------------------------------------------------------------
// torch's _LRScheduler: last_epoch, _step_count, base_lrs and step(epoch).

class Chainable : public LrScheduler {
 public:
  double lr() const override { return group_->lr; }
  void take_lr(double lr) override { group_->lr = lr; }
  std::optional<double> momentum() const override { return group_->momentum; }

  void step(std::optional<double> metric) override {
    if (metric) throw Error(std::string(type()) + ".step() takes no metric (only ReduceLROnPlateau does)");
    torch_step(std::nullopt);
  }

  json::Value state() const override {
    json::Value out = json::Value::make_object();
    out.set("type", json::Value::make_string(type()));
    group_->save(out);
    save_own(out);
    return out;
  }
  void load_state(const json::Value& in) override {
    check_type(in);
    group_->load(in, type());
    load_own(in);
  }

  // _LRScheduler.__init__ with last_epoch=-1 (after the subclass set its
  // fields): setdefault initial_lr, base_lrs, then _initial_step().
  void attach(std::shared_ptr<Group> group) {
    group_ = std::move(group);
    if (!group_->initial_lr) group_->initial_lr = group_->lr;
    base_lr_ = *group_->initial_lr;
    last_epoch_ = -1;
    initial_step();
  }

  // _LRScheduler._initial_step(), which torch 2.x runs in `_initial_mode` (`_is_initial`).
  void initial_step() {
    step_count_ = 0;
    initial_ = true;
    torch_step(std::nullopt);
    initial_ = false;
  }

  // _LRScheduler.step(epoch): the recursive get_lr() without an epoch, the
  // closed form (where there is one) with an epoch.
  virtual void torch_step(std::optional<std::int64_t> epoch) {
    step_count_ += 1;
    double value;
    if (!epoch) {
      last_epoch_ += 1;
      value = get_lr();
    } else {
      last_epoch_ = *epoch;
      std::optional<double> closed = closed_form_lr();
      value = closed ? *closed : get_lr();
    }
    group_->lr = value;
  }

  std::int64_t last_epoch() const { return last_epoch_; }
  void set_last_epoch(std::int64_t e) { last_epoch_ = e; }

  // Own fields only (the group is saved by the outermost scheduler).
  virtual void save_own(json::Value& out) const {
    out.set("last_epoch", json::Value::make_integer(last_epoch_));
    out.set("_step_count", json::Value::make_integer(step_count_));
    out.set("base_lr", num(base_lr_));
  }
  virtual void load_own(const json::Value& in) {
    last_epoch_ = read_int(in, type(), "last_epoch");
    step_count_ = read_int(in, type(), "_step_count");
    base_lr_ = read_num(in, type(), "base_lr");
  }
  void check_type(const json::Value& in) const {
    const json::Value& t = member(in, type(), "type");
    if (!t.is_string() || t.str != type())
      throw Error(std::string("scheduler state is for ") + json::write(t) + ", not \"" + type() + "\"");
  }

 protected:
  virtual double get_lr() = 0;
  virtual std::optional<double> closed_form_lr() const { return std::nullopt; }

  std::shared_ptr<Group> group_;
  double base_lr_ = 0;
  std::int64_t last_epoch_ = -1;
  std::int64_t step_count_ = 0;
  bool initial_ = false;  // torch 2.x's _is_initial: in the constructor's step
};

class StepLR final : public Chainable {
 public:
  StepLR(std::int64_t step_size, double gamma) : step_size_(step_size), gamma_(gamma) {}
  const char* type() const override { return "StepLR"; }

 protected:
  double get_lr() override {
    if (last_epoch_ == 0 || py_mod(last_epoch_, step_size_) != 0) return group_->lr;
    return group_->lr * gamma_;
  }
  std::optional<double> closed_form_lr() const override {
    return base_lr_ * std::pow(gamma_, static_cast<double>(py_floordiv(last_epoch_, step_size_)));
  }

 private:
  std::int64_t step_size_;
  double gamma_;
};

class MultiStepLR final : public Chainable {
 public:
  MultiStepLR(std::vector<std::int64_t> milestones, double gamma) : gamma_(gamma) {
    for (std::int64_t m : milestones) counts_[m] += 1;  // collections.Counter
    sorted_ = std::move(milestones);
    std::sort(sorted_.begin(), sorted_.end());
  }
  const char* type() const override { return "MultiStepLR"; }

 protected:
  double get_lr() override {
    auto it = counts_.find(last_epoch_);
    if (it == counts_.end()) return group_->lr;
    return group_->lr * std::pow(gamma_, static_cast<double>(it->second));
  }
  std::optional<double> closed_form_lr() const override {
    return base_lr_ * std::pow(gamma_, static_cast<double>(bisect_right(sorted_, last_epoch_)));
  }

 private:
  std::map<std::int64_t, std::int64_t> counts_;
  std::vector<std::int64_t> sorted_;
  double gamma_;
};

class ExponentialLR final : public Chainable {
 public:
  explicit ExponentialLR(double gamma) : gamma_(gamma) {}
  const char* type() const override { return "ExponentialLR"; }

 protected:
  // torch 2.x tests `_is_initial` instead of last_epoch == 0: the same in
  // every flow here (last_epoch is 0 exactly at the initial step).
  double get_lr() override {
    if (last_epoch_ == 0) return group_->lr;
    return group_->lr * gamma_;
  }
  std::optional<double> closed_form_lr() const override {
    return base_lr_ * std::pow(gamma_, static_cast<double>(last_epoch_));
  }

 private:
  double gamma_;
};

// LambdaLR: base_lr * lr_lambda(last_epoch), and no closed form (SequentialLR's step(0) calls the
// lambda at 0).
// lr_lambda(x) as a float, its errors named as Python raises them.
double apply_lambda(const char* type, const PythonLambda& lambda, std::int64_t x) {
  try {
    return lambda(x).as_float();
  } catch (const Error& e) {
    throw Error(std::string(type) + ": lr_lambda(" + std::to_string(x) + ") raised " + e.what() + " (" + lambda.text() + ")");
  }
}

class LambdaLR final : public Chainable {
 public:
  explicit LambdaLR(PythonLambda lambda) : lambda_(std::move(lambda)) {}
  const char* type() const override { return "LambdaLR"; }

 protected:
  double get_lr() override { return base_lr_ * apply_lambda(type(), lambda_, last_epoch_); }

 private:
  PythonLambda lambda_;
};

// MultiplicativeLR: the group's lr times lr_lambda(last_epoch) but in the constructor's step. That
// is torch 2.x's `_is_initial`; torch 1.13 tests last_epoch > 0 instead, which differs where
// SequentialLR starts it with step(0) at a milestone (2.x multiplies by lr_lambda(0) there,
// 1.13 does not): ltgen follows 2.x, which Lightning 2 runs on.
class MultiplicativeLR final : public Chainable {
 public:
  explicit MultiplicativeLR(PythonLambda lambda) : lambda_(std::move(lambda)) {}
  const char* type() const override { return "MultiplicativeLR"; }

 protected:
  double get_lr() override {
    if (!initial_) return group_->lr * apply_lambda(type(), lambda_, last_epoch_);
    return group_->lr;
  }

 private:
  PythonLambda lambda_;
};

class CosineAnnealingLR final : public Chainable {
 public:
  CosineAnnealingLR(std::int64_t t_max, double eta_min) : t_max_(t_max), eta_min_(eta_min) {}
  const char* type() const override { return "CosineAnnealingLR"; }

 protected:
  double get_lr() override {
    const double T = static_cast<double>(t_max_);
    const double e = static_cast<double>(last_epoch_);
    const double lr = group_->lr;
    if (last_epoch_ == 0) return lr;  // torch 2.x: `_is_initial`
    if (step_count_ == 1 && last_epoch_ > 0)
      return eta_min_ + (base_lr_ - eta_min_) * (1 + std::cos(e * kPi / T)) / 2;
    if (py_mod(last_epoch_ - 1 - t_max_, 2 * t_max_) == 0)
      return lr + (base_lr_ - eta_min_) * (1 - std::cos(kPi / T)) / 2;
    return (1 + std::cos(kPi * e / T)) / (1 + std::cos(kPi * static_cast<double>(last_epoch_ - 1) / T)) *
               (lr - eta_min_) +
           eta_min_;
  }
  std::optional<double> closed_form_lr() const override {
    return eta_min_ + (base_lr_ - eta_min_) * (1 + std::cos(kPi * static_cast<double>(last_epoch_) /
                                                            static_cast<double>(t_max_))) /
                          2;
  }

 private:
  std::int64_t t_max_;
  double eta_min_;
};

class LinearLR final : public Chainable {
 public:
  LinearLR(double start, double end, std::int64_t total) : start_(start), end_(end), total_(total) {}
  const char* type() const override { return "LinearLR"; }

 protected:
  double get_lr() override {
    const double lr = group_->lr;
    if (last_epoch_ == 0) return lr * start_;
    if (last_epoch_ > total_) return lr;  // torch 2.x adds `_is_initial or`
    return lr * (1. + (end_ - start_) / (static_cast<double>(total_) * start_ +
                                         static_cast<double>(last_epoch_ - 1) * (end_ - start_)));
  }
  std::optional<double> closed_form_lr() const override {
    if (total_ == 0) throw Error("LinearLR: total_iters=0 divides by zero in the closed form (torch: ZeroDivisionError)");
    const std::int64_t m = std::min(total_, last_epoch_);
    return base_lr_ * (start_ + (end_ - start_) * static_cast<double>(m) / static_cast<double>(total_));
  }

 private:
  double start_, end_;
  std::int64_t total_;
};

class ConstantLR final : public Chainable {
 public:
  ConstantLR(double factor, std::int64_t total) : factor_(factor), total_(total) {}
  const char* type() const override { return "ConstantLR"; }

 protected:
  double get_lr() override {
    const double lr = group_->lr;
    if (last_epoch_ == 0) return lr * factor_;
    if (last_epoch_ != total_) return lr;
    return lr * (1.0 / factor_);
  }
  std::optional<double> closed_form_lr() const override {
    return base_lr_ * (factor_ + (last_epoch_ >= total_ ? 1.0 : 0.0) * (1 - factor_));
  }

 private:
  double factor_;
  std::int64_t total_;
};

class PolynomialLR final : public Chainable {
 public:
  PolynomialLR(std::int64_t total_iters, double power) : total_iters_(total_iters), power_(power) {}
  const char* type() const override { return "PolynomialLR"; }

 protected:
  double get_lr() override {
    if (last_epoch_ == 0 || last_epoch_ > total_iters_) return group_->lr;
    const double t = static_cast<double>(total_iters_);
    const double decay_factor = std::pow((1.0 - static_cast<double>(last_epoch_) / t) /
                                             (1.0 - static_cast<double>(last_epoch_ - 1) / t),
                                         power_);
    return group_->lr * decay_factor;
  }
  std::optional<double> closed_form_lr() const override {
    const double t = static_cast<double>(total_iters_);
    return base_lr_ * std::pow(1.0 - static_cast<double>(std::min(total_iters_, last_epoch_)) / t, power_);
  }

 private:
  std::int64_t total_iters_;
  double power_;
};

// torch.optim.swa_utils.SWALR: from the group's lr towards swa_lr over anneal_epochs steps, by
// the recursive form get_lr has (each step recovers the previous step's starting lr from the
// group's lr). Not a spec type: Lightning's StochasticWeightAveraging builds it (make_swalr).
class SWALR final : public Chainable {
 public:
  SWALR(double swa_lr, std::int64_t anneal_epochs, bool cosine)
      : swa_lr_(swa_lr), anneal_epochs_(anneal_epochs), cosine_(cosine) {}
  const char* type() const override { return "SWALR"; }

  // LRScheduler.__init__ with a last_epoch of its own: the group's initial_lr (Lightning sets it to
  // swa_lr first) is base_lrs, then the initial step.
  void attach(std::shared_ptr<Group> group, std::int64_t last_epoch) {
    group_ = std::move(group);
    group_->initial_lr = swa_lr_;
    base_lr_ = swa_lr_;
    last_epoch_ = last_epoch;
    initial_step();
  }

 protected:
  double anneal(double t) const { return cosine_ ? (1 - std::cos(kPi * t)) / 2 : t; }
  double get_lr() override {
    std::int64_t step = step_count_ - 1;
    if (anneal_epochs_ == 0) step = std::max<std::int64_t>(1, step);
    const double epochs = static_cast<double>(std::max<std::int64_t>(1, anneal_epochs_));
    const double prev_t = std::max(0.0, std::min(1.0, static_cast<double>(step - 1) / epochs));
    const double prev_alpha = anneal(prev_t);
    // _get_initial_lr
    const double prev_lr = prev_alpha == 1 ? swa_lr_ : (group_->lr - prev_alpha * swa_lr_) / (1 - prev_alpha);
    const double t = std::max(0.0, std::min(1.0, static_cast<double>(step) / epochs));
    const double alpha = anneal(t);
    return swa_lr_ * alpha + prev_lr * (1 - alpha);
  }

 private:
  double swa_lr_;
  std::int64_t anneal_epochs_;
  bool cosine_;
};

class OneCycleLR final : public Chainable {
 public:
  struct Phase {
    double end_step;
    enum Key { initial, max, min } start, end;
    enum Momentum { base_momentum, max_momentum } start_momentum, end_momentum;
  };
  OneCycleLR(std::int64_t total_steps, std::vector<Phase> phases, bool cos, bool cycle_momentum)
      : total_steps_(total_steps), phases_(std::move(phases)), cos_(cos), cycle_momentum_(cycle_momentum) {}
  const char* type() const override { return "OneCycleLR"; }

 protected:
  double get_lr() override {
    const std::int64_t step_num = last_epoch_;
    if (step_num > total_steps_)
      throw Error("OneCycleLR: tried to step " + std::to_string(step_num + 1) +
                  " times. The specified number of total steps is " + std::to_string(total_steps_));
    const double s = static_cast<double>(step_num);
    double start_step = 0;
    for (std::size_t i = 0; i < phases_.size(); ++i) {
      const double end_step = phases_[i].end_step;
      if (s <= end_step || i == phases_.size() - 1) {
        if (end_step - start_step == 0)
          throw Error("OneCycleLR: a phase of zero steps (pct_start * total_steps = " +
                      json::write(json::Value::make_number(end_step + 1)) +
                      ") divides by zero (torch: ZeroDivisionError); change pct_start or total_steps");
        const double pct = (s - start_step) / (end_step - start_step);
        if (cycle_momentum_)  // torch sets group["betas"] / group["momentum"] inside get_lr()
          group_->momentum = anneal(momentum_value(phases_[i].start_momentum), momentum_value(phases_[i].end_momentum), pct);
        return anneal(value(phases_[i].start), value(phases_[i].end), pct);
      }
      start_step = end_step;
    }
    return group_->lr;  // unreachable: the last phase always matches
  }

 private:
  double value(Phase::Key k) const {
    switch (k) {
      case Phase::initial: return *group_->initial_lr;
      case Phase::max: return *group_->max_lr;
      case Phase::min: return *group_->min_lr;
    }
    return 0;
  }
  double momentum_value(Phase::Momentum k) const {
    return k == Phase::max_momentum ? *group_->max_momentum : *group_->base_momentum;
  }
  double anneal(double start, double end, double pct) const {
    if (cos_) {
      const double cos_out = std::cos(kPi * pct) + 1;
      return end + (start - end) / 2.0 * cos_out;
    }
    return (end - start) * pct + start;
  }

  std::int64_t total_steps_;
  std::vector<Phase> phases_;
  bool cos_;
  bool cycle_momentum_;
};

// torch's CyclicLR: the lr (and, cycling, the momentum) along triangles between base_lr and
// max_lr, from its own base_lr (not the group's lr), the same formula on every step.
class CyclicLR final : public Chainable {
 public:
  enum class Mode { triangular, triangular2, exp_range };
  // initial_base: the group's initial_lr when the scheduler is built, which torch's constructor step
  // still uses as base_lr (its base_lrs take the argument only after that step).
  // custom: a scale_fn (a lambda of the cycle or the iteration, an int, as scale_by_cycle says),
  // in place of the mode's.
  CyclicLR(double initial_base, double base_lr, double max_lr, double step_size_up, double step_size_down, Mode mode,
           double gamma, bool scale_by_cycle, bool cycle_momentum, std::optional<PythonLambda> custom)
      : custom_(std::move(custom)),
        initial_base_(initial_base),
        base_lr_arg_(base_lr),
        max_lr_(max_lr),
        total_size_(step_size_up + step_size_down),
        step_ratio_(step_size_up / (step_size_up + step_size_down)),
        mode_(mode),
        gamma_(gamma),
        scale_by_cycle_(scale_by_cycle),
        cycle_momentum_(cycle_momentum) {}
  const char* type() const override { return "CyclicLR"; }

 protected:
  double get_lr() override {
    const double e = static_cast<double>(last_epoch_);
    const double cycle = std::floor(1 + e / total_size_);
    const double x = 1.0 + e / total_size_ - cycle;
    const double scale_factor = x <= step_ratio_ ? x / step_ratio_ : (x - 1) / (step_ratio_ - 1);
    const double scale = scale_fn(scale_by_cycle_ ? cycle : e);
    if (cycle_momentum_) {  // torch sets group["betas"] / group["momentum"] inside get_lr()
      const double base_height = (*group_->max_momentum - *group_->base_momentum) * scale_factor;
      group_->momentum = *group_->max_momentum - base_height * scale;
    }
    const double base = constructed_ ? base_lr_arg_ : initial_base_;
    constructed_ = true;
    const double base_height = (max_lr_ - base) * scale_factor;
    return base + base_height * scale;
  }

 private:
  double scale_fn(double x) const {
    if (custom_) return apply_lambda(type(), *custom_, static_cast<std::int64_t>(x));  // math.floor's int, or last_epoch
    switch (mode_) {
      case Mode::triangular: return 1.0;
      case Mode::triangular2: return 1 / std::pow(2.0, x - 1);
      case Mode::exp_range: return std::pow(gamma_, x);
    }
    return 1.0;
  }

  std::optional<PythonLambda> custom_;
  double initial_base_, base_lr_arg_, max_lr_, total_size_, step_ratio_;
  bool constructed_ = false;  // past the constructor's step
  Mode mode_;
  double gamma_;
  bool scale_by_cycle_, cycle_momentum_;
};

class CosineAnnealingWarmRestarts final : public Chainable {
 public:
  CosineAnnealingWarmRestarts(std::int64_t t0, std::int64_t t_mult, double eta_min)
      : t0_(t0), t_i_(t0), t_mult_(t_mult), t_cur_(-1), eta_min_(eta_min) {}
  const char* type() const override { return "CosineAnnealingWarmRestarts"; }

  // Its own step(epoch); called with an epoch only by SequentialLR (epoch 0).
  // torch 2.x's SequentialLR calls _update_lr(0) instead, which skips the
  // T_i/T_cur reset below; a scheduler that was never stepped before its
  // milestone has T_cur = 0 and T_i = T_0 either way.
  void torch_step(std::optional<std::int64_t> epoch) override {
    if (!epoch && last_epoch_ < 0) epoch = 0;
    std::int64_t e;
    if (!epoch) {
      e = last_epoch_ + 1;
      t_cur_ = t_cur_ + 1;
      if (t_cur_ >= t_i_) {
        t_cur_ = t_cur_ - t_i_;  // torch 2.x: T_cur % T_i, the same for unit steps
        t_i_ = t_i_ * t_mult_;
      }
    } else {
      e = *epoch;
      if (e < 0) throw Error("CosineAnnealingWarmRestarts: expected non-negative epoch, but got " + std::to_string(e));
      if (e >= t0_) {
        if (t_mult_ != 1) throw Error("CosineAnnealingWarmRestarts: step(epoch >= T_0) with T_mult > 1 is not supported");
        t_cur_ = py_mod(e, t0_);
      } else {
        t_i_ = t0_;
        t_cur_ = e;
      }
    }
    last_epoch_ = e;
    group_->lr = get_lr();
  }

  void save_own(json::Value& out) const override {
    Chainable::save_own(out);
    out.set("T_i", json::Value::make_integer(t_i_));
    out.set("T_cur", json::Value::make_integer(t_cur_));
  }
  void load_own(const json::Value& in) override {
    Chainable::load_own(in);
    t_i_ = read_int(in, type(), "T_i");
    t_cur_ = read_int(in, type(), "T_cur");
  }

 protected:
  double get_lr() override {
    return eta_min_ + (base_lr_ - eta_min_) *
                          (1 + std::cos(kPi * static_cast<double>(t_cur_) / static_cast<double>(t_i_))) / 2;
  }

 private:
  std::int64_t t0_, t_i_, t_mult_, t_cur_;
  double eta_min_;
};

// ---------------------------------------------------------------------------

// Schedulers of other schedulers on one parameter group (SequentialLR, ChainedScheduler): the
// group, the schedulers, and their state (the group's once, then each scheduler's own fields).
class Composite : public LrScheduler {
 public:
  Composite(std::shared_ptr<Group> group, std::vector<std::unique_ptr<Chainable>> schedulers)
      : group_(std::move(group)), schedulers_(std::move(schedulers)) {}
  double lr() const override { return group_->lr; }
  void take_lr(double lr) override { group_->lr = lr; }
  std::optional<double> momentum() const override { return group_->momentum; }

  json::Value state() const override {
    json::Value out = json::Value::make_object();
    out.set("type", json::Value::make_string(type()));
    group_->save(out);
    save_own(out);
    json::Value subs = json::Value::make_array();
    for (const auto& s : schedulers_) {
      json::Value sub = json::Value::make_object();
      sub.set("type", json::Value::make_string(s->type()));
      s->save_own(sub);
      subs.push(std::move(sub));
    }
    out.set("schedulers", std::move(subs));
    return out;
  }
  void load_state(const json::Value& in) override {
    const json::Value& t = member(in, type(), "type");
    if (!t.is_string() || t.str != type())
      throw Error("scheduler state is for " + json::write(t) + ", not \"" + type() + "\"");
    const json::Value& subs = member(in, type(), "schedulers");
    if (!subs.is_array() || subs.items.size() != schedulers_.size())
      throw Error(std::string(type()) + " state: 'schedulers' must be an array of " +
                  std::to_string(schedulers_.size()) + " states");
    for (std::size_t i = 0; i < schedulers_.size(); ++i) schedulers_[i]->check_type(subs.items[i]);
    group_->load(in, type());
    load_own(in);
    for (std::size_t i = 0; i < schedulers_.size(); ++i) schedulers_[i]->load_own(subs.items[i]);
  }

 protected:
  virtual void save_own(json::Value&) const {}
  virtual void load_own(const json::Value&) {}

  std::shared_ptr<Group> group_;
  std::vector<std::unique_ptr<Chainable>> schedulers_;
};

class SequentialLR final : public Composite {
 public:
  SequentialLR(std::shared_ptr<Group> group, std::vector<std::unique_ptr<Chainable>> schedulers,
               std::vector<std::int64_t> milestones)
      : Composite(std::move(group), std::move(schedulers)), milestones_(std::move(milestones)) {
    last_epoch_ = 0;  // last_epoch + 1
    group_->lr = *group_->initial_lr;  // reset learning rates back to initial values
    for (auto& s : schedulers_) s->set_last_epoch(s->last_epoch() - 1);  // "undo" their initial steps
    schedulers_[0]->initial_step();
  }
  const char* type() const override { return "SequentialLR"; }

  void step(std::optional<double> metric) override {
    if (metric) throw Error("SequentialLR.step() takes no metric");
    last_epoch_ += 1;
    const std::size_t idx = bisect_right(milestones_, last_epoch_);
    Chainable& s = *schedulers_[idx];
    if (idx > 0 && milestones_[idx - 1] == last_epoch_)
      s.torch_step(0);
    else
      s.torch_step(std::nullopt);
  }

 protected:
  void save_own(json::Value& out) const override { out.set("last_epoch", json::Value::make_integer(last_epoch_)); }
  void load_own(const json::Value& in) override { last_epoch_ = read_int(in, type(), "last_epoch"); }

 private:
  std::vector<std::int64_t> milestones_;
  std::int64_t last_epoch_ = 0;
};

// torch's ChainedScheduler: its schedulers, built in order on one parameter group (each
// constructor's initial step compounding on the last), all stepped at each step, in order.
class ChainedScheduler final : public Composite {
 public:
  using Composite::Composite;
  const char* type() const override { return "ChainedScheduler"; }

  void step(std::optional<double> metric) override {
    if (metric) throw Error("ChainedScheduler.step() takes no metric");
    for (auto& s : schedulers_) s->torch_step(std::nullopt);
  }
};

class ReduceLROnPlateau final : public LrScheduler {
 public:
  ReduceLROnPlateau(double lr, bool max_mode, double factor, std::int64_t patience, double threshold, bool abs_mode,
                    std::int64_t cooldown, double min_lr, double eps)
      : lr_(lr), max_mode_(max_mode), factor_(factor), patience_(patience), threshold_(threshold),
        abs_mode_(abs_mode), cooldown_(cooldown), min_lr_(min_lr), eps_(eps) {
    best_ = mode_worse();
  }
  const char* type() const override { return "ReduceLROnPlateau"; }
  bool needs_metric() const override { return true; }
  double lr() const override { return lr_; }
  void take_lr(double lr) override { lr_ = lr; }

  void step(std::optional<double> metric) override {
    if (!metric) throw Error("ReduceLROnPlateau.step() needs the monitored metric");
    const double current = *metric;
    last_epoch_ += 1;
    if (is_better(current, best_)) {
      best_ = current;
      num_bad_epochs_ = 0;
    } else {
      num_bad_epochs_ += 1;
    }
    if (cooldown_counter_ > 0) {
      cooldown_counter_ -= 1;
      num_bad_epochs_ = 0;  // ignore any bad epochs in cooldown
    }
    if (num_bad_epochs_ > patience_) {
      reduce_lr();
      cooldown_counter_ = cooldown_;
      num_bad_epochs_ = 0;
    }
  }

  json::Value state() const override {
    json::Value out = json::Value::make_object();
    out.set("type", json::Value::make_string(type()));
    out.set("lr", num(lr_));
    out.set("best", num(best_));
    out.set("num_bad_epochs", json::Value::make_integer(num_bad_epochs_));
    out.set("cooldown_counter", json::Value::make_integer(cooldown_counter_));
    out.set("last_epoch", json::Value::make_integer(last_epoch_));
    return out;
  }
  void load_state(const json::Value& in) override {
    const json::Value& t = member(in, type(), "type");
    if (!t.is_string() || t.str != type())
      throw Error("scheduler state is for " + json::write(t) + ", not \"ReduceLROnPlateau\"");
    lr_ = read_num(in, type(), "lr");
    best_ = read_num(in, type(), "best");
    num_bad_epochs_ = read_int(in, type(), "num_bad_epochs");
    cooldown_counter_ = read_int(in, type(), "cooldown_counter");
    last_epoch_ = read_int(in, type(), "last_epoch");
  }

 private:
  double mode_worse() const {
    return max_mode_ ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  bool is_better(double a, double best) const {
    if (!max_mode_ && !abs_mode_) return a < best * (1. - threshold_);
    if (!max_mode_ && abs_mode_) return a < best - threshold_;
    if (max_mode_ && !abs_mode_) return a > best * (threshold_ + 1.);
    return a > best + threshold_;
  }
  void reduce_lr() {
    const double old_lr = lr_;
    const double scaled = old_lr * factor_;
    const double new_lr = (min_lr_ > scaled) ? min_lr_ : scaled;  // Python's max(scaled, min_lr)
    if (old_lr - new_lr > eps_) lr_ = new_lr;
  }

  double lr_;
  bool max_mode_;
  double factor_;
  std::int64_t patience_;
  double threshold_;
  bool abs_mode_;
  std::int64_t cooldown_;
  double min_lr_;
  double eps_;
  double best_;
  std::int64_t num_bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
  std::int64_t last_epoch_ = 0;
};

// ---------------------------------------------------------------------------
// Construction.

const std::vector<SchedulerArgument>* find_arguments(const std::string& type) {
  for (const auto& [name, args] : scheduler_arguments())
    if (name == type) return &args;
  return nullptr;
}

std::vector<std::int64_t> int_list(const Args& a, const char* name) {
  const json::Value* v = a.get(name);
  if (v == nullptr) a.fail(name, "is required");
  if (!v->is_array()) a.fail(name, "must be a list of integers, got " + json::write(*v));
  std::vector<std::int64_t> out;
  for (const json::Value& item : v->items) out.push_back(a.as_integer(item, name));
  return out;
}

std::int64_t at_least(const Args& a, const char* name, std::int64_t v, std::int64_t lo) {
  if (v < lo) a.fail(name, "must be >= " + std::to_string(lo) + ", got " + std::to_string(v));
  return v;
}

// cycle_momentum (torch's default true) of OneCycleLR and CyclicLR: torch's constructor sets the
// group's momentum (SGD, RMSprop) or betas[0] (the Adam family) to max_momentum and keeps both bounds
// in the group.
// Returns whether the scheduler cycles; refuses what ltgen cannot reproduce.
bool read_momentum_cycle(const Args& a, const std::string& type, Group& group, const OptimizerMomentum& optimizer,
                         double base_default, double max_default) {
  const bool cycle = a.boolean("cycle_momentum", true);
  const double base = a.number("base_momentum", base_default);  // type-checked even when unused
  const double max = a.number("max_momentum", max_default);
  if (!cycle) return false;
  const std::string name = optimizer.optimizer;
  if (!optimizer.cyclable)
    a.fail("cycle_momentum", "(true: torch's default) cycles a momentum or betas[0], and " + name +
                                 " has neither (torch refuses it too): set cycle_momentum to false");
  if (!optimizer.betas) {
    if (optimizer.momentum == 0)
      a.fail("cycle_momentum",
             "(true: torch's default) cycles " + name + "'s momentum, and this " + name + " has momentum 0 (no "
             "momentum buffer; torch would switch one on): give the optimizer a momentum (" + type + " sets it), "
             "or set cycle_momentum to false");
    // RMSprop: torch's first step (at max_momentum) creates no momentum buffer when it is 0, and a
    // later step with a momentum fails in torch (KeyError 'momentum_buffer').
    if (name == "RMSprop" && max == 0)
      a.fail("max_momentum", "must not be 0 with RMSprop: torch's first step would create no momentum buffer, "
                             "and a later step with a momentum fails in torch");
    if (name == "SGD" && (base == 0 || max == 0))
      a.fail(base == 0 ? "base_momentum" : "max_momentum",
             "must not be 0 with SGD: a step of momentum 0 skips torch's momentum buffer, which ltgen does not "
             "reproduce yet");
  }
  group.momentum = max;
  group.max_momentum = max;
  group.base_momentum = base;
  return true;
}

// Builds a chainable scheduler's object (its constructor's own part); the
// caller attaches it to the group (the _LRScheduler.__init__ part).
std::unique_ptr<Chainable> make_chainable(const std::string& type, const Args& a, Group& group,
                                          const OptimizerMomentum& optimizer) {
  if (type == "StepLR") {
    const std::int64_t step_size = at_least(a, "step_size", a.integer("step_size"), 1);
    return std::make_unique<StepLR>(step_size, a.number("gamma", 0.1));
  }
  if (type == "MultiStepLR") {
    std::vector<std::int64_t> milestones = int_list(a, "milestones");
    return std::make_unique<MultiStepLR>(std::move(milestones), a.number("gamma", 0.1));
  }
  if (type == "ExponentialLR") return std::make_unique<ExponentialLR>(a.number("gamma"));
  if (type == "LambdaLR" || type == "MultiplicativeLR") {
    const json::Value* text = a.get("lr_lambda");
    if (text == nullptr) a.fail("lr_lambda", "is required");
    if (!text->is_string())
      a.fail("lr_lambda", "must be a Python lambda as a string (\"lambda epoch: 0.95 ** epoch\"), or a list of them, one "
                          "per parameter group; got " + json::write(*text));
    try {
      PythonLambda lambda(text->str);
      if (type == "LambdaLR") return std::make_unique<LambdaLR>(std::move(lambda));
      return std::make_unique<MultiplicativeLR>(std::move(lambda));
    } catch (const Error& e) {
      a.fail("lr_lambda", std::string("is not a lambda ltgen can evaluate: ") + e.what());
    }
  }
  if (type == "CosineAnnealingLR") {
    const std::int64_t t_max = at_least(a, "T_max", a.integer("T_max"), 1);
    return std::make_unique<CosineAnnealingLR>(t_max, a.number("eta_min", 0.0));
  }
  if (type == "LinearLR") {
    const double start = a.number("start_factor", 1.0 / 3);
    const double end = a.number("end_factor", 1.0);
    // torch 2.x rejects start_factor = 0 (1.13 accepts it, then divides by
    // zero at the second step).
    if (start > 1.0 || start <= 0) a.fail("start_factor", "must be greater than 0 and at most 1");
    if (end > 1.0 || end < 0) a.fail("end_factor", "must be between 0 and 1");
    const std::int64_t total = at_least(a, "total_iters", a.integer("total_iters", 5), 0);
    return std::make_unique<LinearLR>(start, end, total);
  }
  if (type == "PolynomialLR") {
    // torch divides by total_iters (in the closed form SequentialLR uses) and raises 0 to the power
    // at total_iters (ZeroDivisionError for a negative one): refused here rather than mid-training.
    const std::int64_t total = at_least(a, "total_iters", a.integer("total_iters", 5), 1);
    const double power = a.number("power", 1.0);
    if (power < 0) a.fail("power", "must not be negative (torch divides by zero at total_iters)");
    return std::make_unique<PolynomialLR>(total, power);
  }
  if (type == "ConstantLR") {
    const double factor = a.number("factor", 1.0 / 3);
    if (factor > 1.0 || factor < 0) a.fail("factor", "must be between 0 and 1");
    const std::int64_t total = at_least(a, "total_iters", a.integer("total_iters", 5), 0);
    // torch accepts factor = 0 but then divides by it at total_iters.
    if (factor == 0 && total > 0) a.fail("factor", "must be greater than 0 (torch divides by it at total_iters)");
    return std::make_unique<ConstantLR>(factor, total);
  }
  if (type == "OneCycleLR") {
    const double max_lr = a.number("max_lr");
    std::int64_t total_steps;
    if (a.has("total_steps")) {
      total_steps = at_least(a, "total_steps", a.integer("total_steps"), 1);
    } else if (a.has("epochs") && a.has("steps_per_epoch")) {
      const std::int64_t epochs = at_least(a, "epochs", a.integer("epochs"), 1);
      const std::int64_t per_epoch = at_least(a, "steps_per_epoch", a.integer("steps_per_epoch"), 1);
      if (epochs > std::numeric_limits<std::int64_t>::max() / per_epoch)
        a.fail("epochs * steps_per_epoch is past 2^63: give smaller ones, or total_steps");
      total_steps = epochs * per_epoch;
    } else {
      a.fail("you must define either total_steps OR (epochs AND steps_per_epoch)");
    }
    const double pct_start = a.number("pct_start", 0.3);
    if (pct_start < 0 || pct_start > 1) a.fail("pct_start", "must be a float between 0 and 1");
    const bool cos = a.string("anneal_strategy", "cos", {"cos", "linear"}) == "cos";
    const bool cycle_momentum = read_momentum_cycle(a, type, group, optimizer, 0.85, 0.95);
    const double div_factor = a.number("div_factor", 25.0);
    const double final_div_factor = a.number("final_div_factor", 1e4);
    if (div_factor == 0) a.fail("div_factor", "must not be 0");
    if (final_div_factor == 0) a.fail("final_div_factor", "must not be 0");
    const bool three_phase = a.boolean("three_phase", false);

    const double T = static_cast<double>(total_steps);
    using P = OneCycleLR::Phase;
    // end_step: float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2, total_steps - 1.
    std::vector<P> phases;
    phases.push_back({pct_start * T - 1, P::initial, P::max, P::max_momentum, P::base_momentum});
    if (three_phase) {
      phases.push_back({2 * pct_start * T - 2, P::max, P::initial, P::base_momentum, P::max_momentum});
      phases.push_back({static_cast<double>(total_steps - 1), P::initial, P::min, P::max_momentum, P::max_momentum});
    } else {
      phases.push_back({static_cast<double>(total_steps - 1), P::max, P::min, P::base_momentum, P::max_momentum});
    }
    // Overwrites the group's initial_lr (torch does, with last_epoch=-1).
    group.initial_lr = max_lr / div_factor;
    group.max_lr = max_lr;
    group.min_lr = *group.initial_lr / final_div_factor;
    return std::make_unique<OneCycleLR>(total_steps, std::move(phases), cos, cycle_momentum);
  }
  if (type == "CyclicLR") {
    const double base_lr = a.number("base_lr"), max_lr = a.number("max_lr");
    const std::int64_t up = at_least(a, "step_size_up", a.integer("step_size_up", 2000), 1);
    const std::int64_t down = a.has("step_size_down") ? at_least(a, "step_size_down", a.integer("step_size_down"), 0)
                                                      : up;  // None: step_size_up
    const std::string mode_name = a.string("mode", "triangular", {"triangular", "triangular2", "exp_range"});
    const double gamma = a.number("gamma", 1.0);
    // scale_fn: a lambda of the cycle (scale_mode "cycle") or the iteration, in place of the mode's;
    // without one the mode's scale_mode replaces the argument, as torch does.
    std::optional<PythonLambda> custom;
    if (const json::Value* fn = a.get("scale_fn")) {
      if (!fn->is_string())
        a.fail("scale_fn", "must be a Python lambda as a string (\"lambda x: 0.5 ** x\"), got " + json::write(*fn));
      try {
        custom.emplace(fn->str);
      } catch (const Error& e) {
        a.fail("scale_fn", std::string("is not a lambda ltgen can evaluate: ") + e.what());
      }
    }
    const bool cycle_mode = a.string("scale_mode", "cycle", {"cycle", "iterations"}) == "cycle";
    const bool cycle_momentum = read_momentum_cycle(a, type, group, optimizer, 0.8, 0.9);
    // torch's __init__: group["lr"] = base_lr (and initial_lr, unless a scheduler before it set that).
    group.lr = base_lr;
    const double initial_base = group.initial_lr.value_or(base_lr);
    const CyclicLR::Mode mode = mode_name == "triangular"    ? CyclicLR::Mode::triangular
                                : mode_name == "triangular2" ? CyclicLR::Mode::triangular2
                                                             : CyclicLR::Mode::exp_range;
    const bool scale_by_cycle = custom ? cycle_mode : mode != CyclicLR::Mode::exp_range;
    return std::make_unique<CyclicLR>(initial_base, base_lr, max_lr, static_cast<double>(up), static_cast<double>(down),
                                      mode, gamma, scale_by_cycle, cycle_momentum, std::move(custom));
  }
  if (type == "CosineAnnealingWarmRestarts") {
    const std::int64_t t0 = at_least(a, "T_0", a.integer("T_0"), 1);
    const std::int64_t t_mult = at_least(a, "T_mult", a.integer("T_mult", 1), 1);
    return std::make_unique<CosineAnnealingWarmRestarts>(t0, t_mult, a.number("eta_min", 0.0));
  }
  return nullptr;
}

std::unique_ptr<Chainable> create_chainable(const std::string& type, const json::Value& args, const OptimizerMomentum& optimizer,
                                            const std::shared_ptr<Group>& group) {
  const std::vector<SchedulerArgument>* known = find_arguments(type);
  Args a(type, args);
  if (known != nullptr) a.check_known(*known);
  std::unique_ptr<Chainable> s = make_chainable(type, a, *group, optimizer);
  if (!s) return nullptr;
  s->attach(group);
  return s;
}

std::string known_types() {
  std::string out;
  for (const auto& [name, args] : scheduler_arguments()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

LrScheduler::~LrScheduler() = default;

std::unique_ptr<LrScheduler> make_swalr(double swa_lr, std::int64_t anneal_epochs, bool cosine, std::int64_t last_epoch,
                                        double lr_now) {
  if (anneal_epochs < 0) throw Error("SWALR: anneal_epochs must be equal or greater than 0, got " + std::to_string(anneal_epochs));
  auto group = std::make_shared<Group>();
  group->lr = lr_now;
  auto scheduler = std::make_unique<SWALR>(swa_lr, anneal_epochs, cosine);
  scheduler->attach(std::move(group), last_epoch);
  return scheduler;
}

std::unique_ptr<LrScheduler> LrScheduler::create(const SchedulerSpec& spec, double base_lr,
                                                 const OptimizerMomentum& optimizer) {
  const std::vector<SchedulerArgument>* known = find_arguments(spec.type);
  if (known == nullptr)
    throw Error("unknown lr scheduler '" + spec.type + "' (supported: " + known_types() + ")");
  auto group = std::make_shared<Group>();
  group->lr = base_lr;

  if (spec.type == "ReduceLROnPlateau") {
    Args a(spec.type, spec.args);
    a.check_known(*known);
    const bool max_mode = a.string("mode", "min", {"min", "max"}) == "max";
    const double factor = a.number("factor", 0.1);
    if (factor >= 1.0) a.fail("factor", "should be < 1.0");
    const std::int64_t patience = at_least(a, "patience", a.integer("patience", 10), 0);
    const double threshold = a.number("threshold", 1e-4);
    const bool abs_mode = a.string("threshold_mode", "rel", {"rel", "abs"}) == "abs";
    const std::int64_t cooldown = at_least(a, "cooldown", a.integer("cooldown", 0), 0);
    // A list (one per parameter group) reaches here as this group's entry (group_scheduler_spec).
    const double min_lr = a.number("min_lr", 0.0);
    const double eps = a.number("eps", 1e-8);
    return std::make_unique<ReduceLROnPlateau>(base_lr, max_mode, factor, patience, threshold, abs_mode, cooldown,
                                               min_lr, eps);
  }

  if (spec.type == "SequentialLR" || spec.type == "ChainedScheduler") {
    Args a(spec.type, spec.args);
    a.check_known(*known);
    const json::Value* list = a.get("schedulers");
    if (list == nullptr) a.fail("schedulers", "is required");
    if (!list->is_array() || list->items.empty())
      a.fail("schedulers", "must be a non-empty list of {\"type\": ..., <arguments>} objects");
    std::vector<std::int64_t> milestones;
    if (spec.type == "SequentialLR") {
      milestones = int_list(a, "milestones");
      if (milestones.size() != list->items.size() - 1)
        a.fail("milestones", "must have one entry fewer than schedulers (" + std::to_string(list->items.size()) +
                                 " schedulers, " + std::to_string(milestones.size()) + " milestones)");
      for (std::int64_t m : milestones)
        if (m <= 0)
          a.fail("milestones", "must be positive, got " + std::to_string(m) +
                                   " (torch 1.x and 2.x start a milestone of 0 differently)");
    }
    std::vector<std::unique_ptr<Chainable>> subs;
    for (std::size_t i = 0; i < list->items.size(); ++i) {
      const json::Value& item = list->items[i];
      const std::string where = "schedulers[" + std::to_string(i) + "]";
      const json::Value* t = item.is_object() ? item.find("type") : nullptr;
      if (t == nullptr || !t->is_string()) a.fail(where, "must be an object with a \"type\" string");
      if (t->str == "SequentialLR" || t->str == "ChainedScheduler" || t->str == "ReduceLROnPlateau")
        a.fail(where, "cannot be " + t->str + (t->str == "ReduceLROnPlateau"
                                                    ? " (torch steps these schedulers without a metric)"
                                                    : std::string(" (only the other schedulers can be ") +
                                                          (spec.type == "SequentialLR" ? "sequenced" : "chained") +
                                                          " yet)"));
      if (find_arguments(t->str) == nullptr)
        a.fail(where, "unknown lr scheduler '" + t->str + "' (supported: " + known_types() + ")");
      json::Value sub_args = json::Value::make_object();
      for (const auto& [key, value] : item.members)
        if (key != "type") sub_args.set(key, value);
      try {
        subs.push_back(create_chainable(t->str, sub_args, optimizer, group));
      } catch (const Error& e) {
        throw Error(spec.type + " " + where + ": " + e.what());
      }
    }
    if (spec.type == "ChainedScheduler") return std::make_unique<ChainedScheduler>(group, std::move(subs));
    return std::make_unique<SequentialLR>(group, std::move(subs), std::move(milestones));
  }

  return create_chainable(spec.type, spec.args, optimizer, group);
}

namespace {

json::Value group_args(const std::string& type, const json::Value& args, int group, int groups) {
  json::Value out = json::Value::make_object();
  // OneCycleLR reads its momentum bounds only when it cycles (torch formats them only then).
  const json::Value* cycle = type == "OneCycleLR" || type == "CyclicLR" ? args.find("cycle_momentum") : nullptr;
  const bool momentum_unused = cycle != nullptr && cycle->is_bool() && !cycle->b;
  for (const auto& [key, value] : args.members) {
    if (momentum_unused && (key == "base_momentum" || key == "max_momentum") && value.is_array()) continue;
    const bool per_group =
        ((type == "OneCycleLR" || type == "CyclicLR") &&
         (key == "max_lr" || key == "base_momentum" || key == "max_momentum" || (type == "CyclicLR" && key == "base_lr"))) ||
        (type == "ReduceLROnPlateau" && key == "min_lr") ||
        ((type == "LambdaLR" || type == "MultiplicativeLR") && key == "lr_lambda");
    if (per_group && value.is_array()) {
      if (value.items.size() != static_cast<std::size_t>(groups))
        throw Error(type + ": expected " + std::to_string(groups) + " values for " + key + " (one per parameter group), got " +
                    std::to_string(value.items.size()));
      out.set(key, value.items[static_cast<std::size_t>(group)]);
    } else if ((type == "SequentialLR" || type == "ChainedScheduler") && key == "schedulers" && value.is_array()) {
      json::Value subs = json::Value::make_array();
      for (std::size_t i = 0; i < value.items.size(); ++i) {
        const json::Value& sub = value.items[i];
        const json::Value* t = sub.is_object() ? sub.find("type") : nullptr;
        if (t == nullptr || !t->is_string()) {
          subs.push(sub);  // create() says what is wrong with it
          continue;
        }
        try {
          subs.push(group_args(t->str, sub, group, groups));
        } catch (const Error& e) {
          throw Error(type + " schedulers[" + std::to_string(i) + "]: " + e.what());
        }
      }
      out.set(key, std::move(subs));
    } else {
      out.set(key, value);
    }
  }
  return out;
}

}  // namespace

SchedulerSpec group_scheduler_spec(const SchedulerSpec& spec, int group, int groups) {
  if (!spec.args.is_object()) return spec;
  return {spec.type, group_args(spec.type, spec.args, group, groups)};
}

const std::vector<std::pair<std::string, std::vector<SchedulerArgument>>>& scheduler_arguments() {
  using json::Value;
  auto req = [](const char* name) { return SchedulerArgument{name, Value::make_null(), true}; };
  auto opt = [](const char* name, Value def) { return SchedulerArgument{name, std::move(def), false}; };
  auto d = [](double v) { return Value::make_number(v); };
  auto i = [](std::int64_t v) { return Value::make_integer(v); };
  auto s = [](const char* v) { return Value::make_string(v); };
  auto b = [](bool v) { return Value::make_bool(v); };
  static const std::vector<std::pair<std::string, std::vector<SchedulerArgument>>> table = {
      {"StepLR", {req("step_size"), opt("gamma", d(0.1))}},
      {"MultiStepLR", {req("milestones"), opt("gamma", d(0.1))}},
      {"ExponentialLR", {req("gamma")}},
      {"LambdaLR", {req("lr_lambda")}},
      {"MultiplicativeLR", {req("lr_lambda")}},
      {"CosineAnnealingLR", {req("T_max"), opt("eta_min", i(0))}},
      {"LinearLR", {opt("start_factor", d(1.0 / 3)), opt("end_factor", d(1.0)), opt("total_iters", i(5))}},
      {"ConstantLR", {opt("factor", d(1.0 / 3)), opt("total_iters", i(5))}},
      {"PolynomialLR", {opt("total_iters", i(5)), opt("power", d(1.0))}},
      {"OneCycleLR",
       {req("max_lr"), opt("total_steps", Value::make_null()), opt("epochs", Value::make_null()),
        opt("steps_per_epoch", Value::make_null()), opt("pct_start", d(0.3)), opt("anneal_strategy", s("cos")),
        opt("cycle_momentum", b(true)), opt("base_momentum", d(0.85)), opt("max_momentum", d(0.95)),
        opt("div_factor", d(25.0)), opt("final_div_factor", d(1e4)), opt("three_phase", b(false))}},
      {"CosineAnnealingWarmRestarts", {req("T_0"), opt("T_mult", i(1)), opt("eta_min", i(0))}},
      {"CyclicLR",
       {req("base_lr"), req("max_lr"), opt("step_size_up", i(2000)), opt("step_size_down", Value::make_null()),
        opt("mode", s("triangular")), opt("gamma", d(1.0)), opt("scale_fn", Value::make_null()),
        opt("scale_mode", s("cycle")), opt("cycle_momentum", b(true)), opt("base_momentum", d(0.8)),
        opt("max_momentum", d(0.9))}},
      {"SequentialLR", {req("schedulers"), req("milestones")}},
      {"ChainedScheduler", {req("schedulers")}},
      {"ReduceLROnPlateau",
       {opt("mode", s("min")), opt("factor", d(0.1)), opt("patience", i(10)), opt("threshold", d(1e-4)),
        opt("threshold_mode", s("rel")), opt("cooldown", i(0)), opt("min_lr", i(0)), opt("eps", d(1e-8))}},
  };
  return table;
}

}  // namespace ltrt
