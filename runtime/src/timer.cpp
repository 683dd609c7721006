// Timer with Lightning 2.x's rules (lightning/pytorch/callbacks/timer.py).
#include "ltrt/timer.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"

namespace ltrt {

namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!std::isdigit(c)) return false;
  return true;
}

std::string strip(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

json::Value seconds_value(double s) {
  // Python's time_elapsed returns the int offset 0 when a stage never started.
  if (s == 0) return json::Value::make_integer(0);
  return json::Value::make_number(s);
}

}  // namespace

std::optional<double> read_duration(const json::Value& v, const std::string& path) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) {
    // re.fullmatch(r"(\d+):(\d\d):(\d\d):(\d\d)", duration.strip())
    const std::string s = strip(v.str);
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
      const std::size_t colon = s.find(':', start);
      parts.push_back(s.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    bool ok = parts.size() == 4 && all_digits(parts[0]);
    for (std::size_t i = 1; ok && i < 4; ++i) ok = parts[i].size() == 2 && all_digits(parts[i]);
    if (!ok)
      throw ConfigError(path, v.pos,
                        "`Timer(duration=" + python_str_repr(v.str) +
                            ")` is not a valid duration. Expected a string in the format DD:HH:MM:SS.");
    // timedelta(days=...) takes under 10^9 days (Python raises OverflowError past it).
    if (parts[0].find_first_not_of('0') != std::string::npos && parts[0].size() - parts[0].find_first_not_of('0') > 9)
      throw ConfigError(path, v.pos, "days=" + parts[0] + "; must have magnitude <= 999999999");
    return std::stod(parts[0]) * 86400.0 + std::stod(parts[1]) * 3600.0 + std::stod(parts[2]) * 60.0 +
           std::stod(parts[3]);
  }
  if (v.is_object()) {
    // timedelta(**duration).total_seconds()
    ConfigObject o(v, path);
    const double inf = std::numeric_limits<double>::infinity();
    double s = 0;
    s += o.number("weeks", 0, -inf, inf) * 7 * 86400.0;
    s += o.number("days", 0, -inf, inf) * 86400.0;
    s += o.number("hours", 0, -inf, inf) * 3600.0;
    s += o.number("minutes", 0, -inf, inf) * 60.0;
    s += o.number("seconds", 0, -inf, inf);
    s += o.number("milliseconds", 0, -inf, inf) / 1e3;
    s += o.number("microseconds", 0, -inf, inf) / 1e6;
    o.finish();
    if (!(std::fabs(s) < 1e9 * 86400.0))
      throw ConfigError(path, v.pos, "is past a timedelta's range (999999999 days): Python raises OverflowError");
    return s;
  }
  throw ConfigError(path, v.pos,
                    "expected a \"DD:HH:MM:SS\" string or an object of timedelta arguments (days, hours, minutes, "
                    "seconds, ...), got " + describe(v));
}

std::string timedelta_str(long long seconds) {
  const long long days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
  const long long rest = seconds - days * 86400;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", rest / 3600, rest / 60 % 60, rest % 60);
  if (days == 0) return buf;
  return std::to_string(days) + (days == 1 || days == -1 ? " day, " : " days, ") + buf;
}

Timer::Timer(Options options) : o_(std::move(options)) {
  if (o_.interval != "step" && o_.interval != "epoch")
    throw Error("Unsupported parameter value `Timer(interval=" + o_.interval +
                ")`. Possible choices are: step, epoch");
}

std::unique_ptr<Timer> Timer::read(ConfigObject& a) {
  Options o;
  if (const json::Value* d = a.get("duration")) o.duration = read_duration(*d, a.path_of("duration"));
  o.interval = a.string("interval", "step", {"step", "epoch"}, false);
  o.verbose = a.boolean("verbose", true);
  a.finish();
  return std::make_unique<Timer>(std::move(o));
}

double Timer::time_elapsed_train(double now) const {
  if (!train_start_) return offset_;
  if (!train_end_) return now - *train_start_ + offset_;
  return *train_end_ - *train_start_ + offset_;
}

double Timer::time_elapsed_validate(double now) const {
  if (!val_start_) return 0;
  if (!val_end_) return now - *val_start_;
  return *val_end_ - *val_start_;
}

std::optional<double> Timer::time_remaining(double now) const {
  if (!o_.duration) return std::nullopt;
  return *o_.duration - time_elapsed_train(now);
}

json::Value Timer::state() const {
  json::Value elapsed = json::Value::make_object();
  elapsed.set("train", seconds_value(time_elapsed_train(now_)));
  elapsed.set("sanity_check", seconds_value(0));
  elapsed.set("validate", seconds_value(time_elapsed_validate(now_)));
  elapsed.set("test", seconds_value(0));
  elapsed.set("predict", seconds_value(0));
  json::Value s = json::Value::make_object();
  s.set("time_elapsed", std::move(elapsed));
  return s;
}

void Timer::load_state(const json::Value& s) {
  // time_elapsed = state_dict.get("time_elapsed", {}); self._offset = time_elapsed.get("train", 0)
  offset_ = 0;
  const json::Value* elapsed = s.find("time_elapsed");
  if (!elapsed) return;
  if (!elapsed->is_object()) throw Error("Timer state: 'time_elapsed' is not an object");
  if (const json::Value* t = elapsed->find("train")) offset_ = read_state_number(*t, "Timer state 'time_elapsed.train'");
}

void Timer::on_fit_start(const CallbackContext& ctx) {
  now_ = ctx.elapsed_seconds;
  // "this checks the time after the state is reloaded, regardless of the interval"
  if (!o_.duration) return;
  check_time_remaining(ctx);
}

void Timer::on_train_start(const CallbackContext& ctx) {
  now_ = ctx.elapsed_seconds;
  train_start_ = now_;
}

void Timer::on_train_end(const CallbackContext& ctx) {
  now_ = ctx.elapsed_seconds;
  train_end_ = now_;
}

void Timer::on_validation_start(const CallbackContext& ctx) {
  now_ = ctx.elapsed_seconds;
  val_start_ = now_;  // the end time is kept, as Lightning keeps it
}

void Timer::on_validation_end(const CallbackContext& ctx) {
  now_ = ctx.elapsed_seconds;
  val_end_ = now_;
}

void Timer::on_train_batch_end(const CallbackContext& ctx) {
  now_ = ctx.elapsed_seconds;
  if (o_.interval != "step" || !o_.duration) return;
  check_time_remaining(ctx);
}

void Timer::on_train_epoch_end(const CallbackContext& ctx) {
  now_ = ctx.elapsed_seconds;
  if (o_.interval != "epoch" || !o_.duration) return;
  check_time_remaining(ctx);
}

void Timer::check_time_remaining(const CallbackContext& ctx) {
  // Ranks' clocks differ: rank 0's decision is everyone's.
  const bool should_stop = ctx.rank_zero_decision(time_elapsed_train(now_) >= *o_.duration);
  if (!should_stop) return;
  ctx.request_stop();
  if (o_.verbose) {
    const long long elapsed = static_cast<long long>(time_elapsed_train(now_));  // int(): toward zero
    ctx.emit_info("Time limit reached. Elapsed time is " + timedelta_str(elapsed) + ". Signaling Trainer to stop.");
  }
}

}  // namespace ltrt
