// ltrt's side of lr_scheduler_oracle.py: reads {"cases": [{"name", "base_lr",
// "type", "args", "steps", "resume_at", "metrics" (null or one per step),
// optionally "optimizer": {"betas", "momentum"}}]} from stdin and prints
// {"<name>": {"lrs": [...], "resumed": [...], "momentums": [...],
// "resumed_momentums": [...]}} (momentums: null unless cycled): the lr
// after construction and after each step, once straight through and once
// resumed at resume_at from state() written to JSON text, parsed back and
// loaded into a fresh scheduler.
#include <cstdint>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>

#include "ltrt/error.hpp"
#include "ltrt/json.hpp"
#include "ltrt/lr_scheduler.hpp"

namespace {

ltrt::json::Value run(const ltrt::json::Value& c) {
  using ltrt::json::Value;
  const ltrt::SchedulerSpec spec{c.find("type")->str, *c.find("args")};
  const double base_lr = c.find("base_lr")->num;
  const std::int64_t steps = c.find("steps")->integer;
  const std::int64_t resume_at = c.find("resume_at")->integer;
  const Value* metrics = c.find("metrics");
  auto metric = [&](std::int64_t t) -> std::optional<double> {
    if (metrics == nullptr || metrics->is_null()) return std::nullopt;
    return metrics->items[static_cast<std::size_t>(t)].num;
  };

  ltrt::OptimizerMomentum optimizer;  // plain SGD unless the case names its optimizer
  if (const Value* o = c.find("optimizer"); o != nullptr && o->is_object())
    optimizer = {o->find("betas")->b, o->find("momentum")->num};
  auto momentum = [](const ltrt::LrScheduler& s) {
    const std::optional<double> m = s.momentum();
    return m ? Value::make_number(*m) : Value::make_null();
  };

  Value lrs = Value::make_array(), resumed = Value::make_array();
  Value momentums = Value::make_array(), resumed_momentums = Value::make_array();
  auto a = ltrt::LrScheduler::create(spec, base_lr, optimizer);
  lrs.push(Value::make_number(a->lr()));
  resumed.push(Value::make_number(a->lr()));
  momentums.push(momentum(*a));
  resumed_momentums.push(momentum(*a));
  std::unique_ptr<ltrt::LrScheduler> b;
  for (std::int64_t t = 0; t < steps; ++t) {
    if (t == resume_at) {
      const std::string text = ltrt::json::write(a->state());
      b = ltrt::LrScheduler::create(spec, base_lr, optimizer);
      b->load_state(ltrt::json::parse(text));
    }
    a->step(metric(t));
    lrs.push(Value::make_number(a->lr()));
    momentums.push(momentum(*a));
    const ltrt::LrScheduler& r = b ? *b : *a;
    if (b) b->step(metric(t));
    resumed.push(Value::make_number(r.lr()));
    resumed_momentums.push(momentum(r));
  }
  Value out = Value::make_object();
  out.set("lrs", std::move(lrs));
  out.set("resumed", std::move(resumed));
  out.set("momentums", std::move(momentums));
  out.set("resumed_momentums", std::move(resumed_momentums));
  return out;
}

}  // namespace

int main() {
  try {
    const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const ltrt::json::Value input = ltrt::json::parse(text);
    ltrt::json::Value out = ltrt::json::Value::make_object();
    for (const auto& c : input.find("cases")->items) {
      try {
        out.set(c.find("name")->str, run(c));
      } catch (const ltrt::Error& e) {
        std::cerr << c.find("name")->str << ": " << e.what() << "\n";
        return 1;
      }
    }
    std::cout << ltrt::json::write(out) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "lr_scheduler_oracle_driver: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
