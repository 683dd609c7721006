// ltrt's side of spike_detection_oracle.py: reads {"root": DIR, "cases": [{"init_args": {...},
// "steps": [[batch_idx, loss], ...]}, ...]} from stdin (a loss may be "nan", "inf" or "-inf") and
// prints, per case, a list with one entry a step: {"running": bits, "last": bits} (the float32 bits
// of the running mean and of last_val after the step, "nan" for a NaN), or {"spike": N, "file": text} for the step
// that stopped fit, which ends the case; or {"error": message} when the arguments are refused.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <limits>
#include <string>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/json.hpp"
#include "ltrt/process_group.hpp"
#include "ltrt/spike_detection.hpp"

namespace {

// float32 bits, or "nan" for any NaN (its sign and payload are the arithmetic's, not the rules').
ltrt::json::Value bits(float f) {
  if (std::isnan(f)) return ltrt::json::Value::make_string("nan");
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return ltrt::json::Value::make_integer(u);
}

float number(const ltrt::json::Value& v) {
  if (v.is_string()) {
    if (v.str == "nan") return std::numeric_limits<float>::quiet_NaN();
    return v.str == "inf" ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  }
  return static_cast<float>(v.num);
}

}  // namespace

int main() {
  using ltrt::json::Value;
  try {
    const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const Value in = ltrt::json::parse(text);
    const std::string root = in.find("root")->str;
    Value out = Value::make_array();
    for (const Value& c : in.find("cases")->items) {
      Value steps = Value::make_array();
      try {
        ltrt::ConfigObject args(*c.find("init_args"), "init_args");
        const auto spike = ltrt::SpikeDetection::read(args);
        ltrt::CallbackContext ctx;
        ctx.default_root_dir = root;
        ctx.warn = [](const std::string&) {};
        for (const Value& step : c.find("steps")->items) {
          const float loss = number(step.items[1]);
          ctx.batch_idx = step.items[0].integer;
          ctx.batch_loss = [loss] { return loss; };
          Value entry = Value::make_object();
          try {
            spike->on_train_batch_end(ctx);
          } catch (const ltrt::AgreedError&) {
            entry.set("spike", Value::make_integer(ctx.batch_idx));
            const std::string path = spike->skip_path(root);
            entry.set("file", Value::make_string(std::filesystem::exists(path) ? ltrt::read_file(path) : ""));
            steps.push(std::move(entry));
            break;
          }
          entry.set("running", bits(spike->running_mean()));
          const Value state = spike->state();
          entry.set("last", bits(static_cast<float>(ltrt::read_state_number(*state.find("last_val"), "last_val"))));
          steps.push(std::move(entry));
        }
      } catch (const ltrt::Error& e) {
        Value entry = Value::make_object();
        entry.set("error", Value::make_string(e.what()));
        steps.push(std::move(entry));
      }
      out.push(std::move(steps));
    }
    std::cout << ltrt::json::write(out) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "spike_detection_driver: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
