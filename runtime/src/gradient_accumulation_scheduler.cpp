// GradientAccumulationScheduler with Lightning 2.x's rules.
#include "ltrt/gradient_accumulation_scheduler.hpp"

#include <string>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"

namespace ltrt {

namespace {

// Python's list(scheduling.keys()) / .values() in a message: [0, 2].
template <typename F>
std::string python_list(const std::map<std::int64_t, std::int64_t>& m, F pick) {
  std::string s = "[";
  for (const auto& kv : m) s += (s.size() > 1 ? ", " : "") + std::to_string(pick(kv));
  return s + "]";
}

}  // namespace

GradientAccumulationScheduler::GradientAccumulationScheduler(std::map<std::int64_t, std::int64_t> scheduling)
    : scheduling_(std::move(scheduling)) {
  if (scheduling_.empty()) throw Error("Empty dict cannot be interpreted correct");
  if (scheduling_.begin()->first < 0)
    throw Error("Epoch should be an int greater than or equal to 0. Got " +
                python_list(scheduling_, [](const auto& kv) { return kv.first; }) + ".");
  for (const auto& kv : scheduling_)
    if (kv.second < 1)
      throw Error("Accumulation factor should be an int greater than 0. Got " +
                  python_list(scheduling_, [](const auto& kv2) { return kv2.second; }) + ".");
  scheduling_.emplace(0, 1);  // "if the user didn't define the first epoch's factor"; no-op otherwise
}

std::unique_ptr<GradientAccumulationScheduler> GradientAccumulationScheduler::read(ConfigObject& init) {
  const json::Value& s = init.require("scheduling");
  const std::string path = init.path_of("scheduling");
  if (!s.is_object())
    throw ConfigError(path, s.pos, "expected an object of {epoch: accumulation factor}, e.g. {\"0\": 4, \"4\": 1}, got " +
                                       describe(s));
  std::map<std::int64_t, std::int64_t> scheduling;
  for (std::size_t i = 0; i < s.members.size(); ++i) {
    const auto& [key, value] = s.members[i];
    const json::Pos pos = i < s.key_pos.size() ? s.key_pos[i] : s.pos;
    bool digits = !key.empty() && key.size() <= 9;  // an epoch number, as Python's int() of the key
    for (char c : key) digits = digits && c >= '0' && c <= '9';
    const long long epoch = digits ? std::stoll(key) : -1;
    if (!digits)
      throw ConfigError(path + "." + key, pos, "Epoch should be an int greater than or equal to 0, got '" + key + "'");
    if (!value.is_number() || !value.is_integer || value.integer < 1)
      throw ConfigError(path + "." + key, value.pos,
                        "Accumulation factor should be an int greater than 0, got " + describe(value));
    if (!scheduling.emplace(epoch, value.integer).second)
      throw ConfigError(path + "." + key, pos, "epoch " + std::to_string(epoch) + " is given twice");
  }
  init.finish();
  try {
    return std::make_unique<GradientAccumulationScheduler>(std::move(scheduling));
  } catch (const Error& e) {
    throw ConfigError(path, s.pos, e.what());
  }
}

std::int64_t GradientAccumulationScheduler::factor(std::int64_t epoch) const {
  auto it = scheduling_.upper_bound(epoch);  // the first epoch after it; the entry before applies
  return it == scheduling_.begin() ? 1 : std::prev(it)->second;
}

void GradientAccumulationScheduler::on_train_start(const CallbackContext& ctx) {
  if (ctx.accumulate_grad_batches && *ctx.accumulate_grad_batches != 1)
    throw Error("You have set `accumulate_grad_batches` and are using the `GradientAccumulationScheduler` callback. "
                "Either remove `accumulate_grad_batches` from the Trainer or remove the callback.");
}

void GradientAccumulationScheduler::on_train_epoch_start(const CallbackContext& ctx) {
  if (ctx.accumulate_grad_batches) *ctx.accumulate_grad_batches = factor(ctx.current_epoch);
}

}  // namespace ltrt
