// ltrt's side of lr_scheduler_oracle.py: reads {"cases": [{"name", "base_lr",
// "type", "args", "steps", "resume_at", "metrics" (null or one per step)}]}
// from stdin and prints {"<name>": {"lrs": [...], "resumed": [...]}}: the lr
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

  Value lrs = Value::make_array(), resumed = Value::make_array();
  auto a = ltrt::LrScheduler::create(spec, base_lr);
  lrs.push(Value::make_number(a->lr()));
  resumed.push(Value::make_number(a->lr()));
  std::unique_ptr<ltrt::LrScheduler> b;
  for (std::int64_t t = 0; t < steps; ++t) {
    if (t == resume_at) {
      const std::string text = ltrt::json::write(a->state());
      b = ltrt::LrScheduler::create(spec, base_lr);
      b->load_state(ltrt::json::parse(text));
    }
    a->step(metric(t));
    lrs.push(Value::make_number(a->lr()));
    if (b) {
      b->step(metric(t));
      resumed.push(Value::make_number(b->lr()));
    } else {
      resumed.push(Value::make_number(a->lr()));
    }
  }
  Value out = Value::make_object();
  out.set("lrs", std::move(lrs));
  out.set("resumed", std::move(resumed));
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
