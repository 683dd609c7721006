// ModelCheckpoint with Lightning 2.x's rules (lightning/pytorch/callbacks/model_checkpoint.py).
#include "ltrt/model_checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <regex>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/python_repr.hpp"

namespace ltrt {

namespace fs = std::filesystem;

// --- Python's format-spec mini-language -------------------------------------------------------------

namespace {

std::string group_digits(const std::string& digits, char sep, int every) {
  std::string out;
  const int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % every == 0) out += sep;
    out += digits[i];
  }
  return out;
}

// Groups the integer part of a formatted non-negative number ("1234.5" -> "1,234.5").
std::string group_number(const std::string& body, char sep) {
  std::size_t end = 0;
  while (end < body.size() && std::isdigit(static_cast<unsigned char>(body[end]))) ++end;
  return group_digits(body.substr(0, end), sep, 3) + body.substr(end);
}

std::string strip_trailing_zeros(const std::string& s) {
  // "1.2300e+05" -> "1.23e+05", "1.000" -> "1"
  const std::size_t e = s.find_first_of("eE");
  std::string mant = e == std::string::npos ? s : s.substr(0, e);
  const std::string exp = e == std::string::npos ? "" : s.substr(e);
  if (mant.find('.') != std::string::npos) {
    while (!mant.empty() && mant.back() == '0') mant.pop_back();
    if (!mant.empty() && mant.back() == '.') mant.pop_back();
  }
  return mant + exp;
}

std::string printf_double(const char* fmt, int precision, double x) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, precision, x);
  return buf;
}

// 'g' (and the empty type with a precision: add_dot_0) on a finite non-negative x.
std::string format_general(double x, int precision, bool alt, bool add_dot_0, bool upper) {
  if (precision == 0) precision = 1;
  int exp = 0;
  if (x != 0) {
    const std::string e = printf_double("%.*e", precision - 1, x);
    exp = std::atoi(e.c_str() + e.find('e') + 1);
  }
  // CPython's format_float_short: exponent when decpt <= -4 or decpt > (add_dot_0 ? precision-1 : precision)
  const int decpt = exp + 1;
  const bool use_exp = decpt <= -4 || decpt > (add_dot_0 ? precision - 1 : precision);
  std::string s;
  if (use_exp) {
    s = printf_double(alt ? "%#.*e" : "%.*e", precision - 1, x);
    if (!alt) s = strip_trailing_zeros(s);
  } else {
    s = printf_double(alt ? "%#.*f" : "%.*f", std::max(precision - decpt, 0), x);
    if (!alt) s = strip_trailing_zeros(s);
    if (add_dot_0 && s.find('.') == std::string::npos) s += ".0";
  }
  if (upper)
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string python_format(const PyScalar& value, const std::string& spec) {
  auto bad = [&](const std::string& why) -> Error { return Error("format spec '" + spec + "': " + why); };
  std::size_t i = 0;
  const std::size_t n = spec.size();
  char fill = ' ';
  char align = 0;
  const std::string aligns = "<>=^";
  if (n >= 2 && aligns.find(spec[1]) != std::string::npos) {
    fill = spec[0];
    align = spec[1];
    i = 2;
  } else if (n >= 1 && aligns.find(spec[0]) != std::string::npos) {
    align = spec[0];
    i = 1;
  }
  char sign = '-';
  if (i < n && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
  bool z = false;
  if (i < n && spec[i] == 'z') z = true, ++i;
  bool alt = false;
  if (i < n && spec[i] == '#') alt = true, ++i;
  if (i < n && spec[i] == '0') {
    if (!align) fill = '0', align = '=';
    ++i;
  }
  // Widths and precisions stop at 4096: a file name cannot be that long, and a bigger count would
  // only build a huge string (or, past int, wrap).
  constexpr int kMaxCount = 4096;
  int width = 0;
  while (i < n && std::isdigit(static_cast<unsigned char>(spec[i]))) {
    width = width * 10 + (spec[i++] - '0');
    if (width > kMaxCount) throw bad("a width above 4096 in a checkpoint filename");
  }
  char grouping = 0;
  if (i < n && (spec[i] == ',' || spec[i] == '_')) grouping = spec[i++];
  int precision = -1;
  if (i < n && spec[i] == '.') {
    ++i;
    if (i >= n || !std::isdigit(static_cast<unsigned char>(spec[i]))) throw bad("Format specifier missing precision");
    precision = 0;
    while (i < n && std::isdigit(static_cast<unsigned char>(spec[i]))) {
      precision = precision * 10 + (spec[i++] - '0');
      if (precision > kMaxCount) throw bad("a precision above 4096 in a checkpoint filename");
    }
  }
  char type = 0;
  if (i < n) type = spec[i++];
  if (i < n) throw bad("Invalid format specifier");

  std::string prefix;  // sign and 0x
  std::string body;
  const std::string float_types = "eEfFgG%";
  if (value.is_int && float_types.find(type) == std::string::npos) {
    if (precision >= 0) throw bad("Precision not allowed in integer format specifier");
    const bool neg = value.i < 0;
    unsigned long long u = neg ? 0ull - static_cast<unsigned long long>(value.i) : static_cast<unsigned long long>(value.i);
    int base = 10;
    switch (type) {
      case 0: case 'd': case 'n': break;
      case 'x': case 'X': base = 16; break;
      case 'o': base = 8; break;
      case 'b': base = 2; break;
      default: throw Error(std::string("Unknown format code '") + type + "' for object of type 'int'");
    }
    const char* digits = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
      body.insert(body.begin(), digits[u % static_cast<unsigned>(base)]);
      u /= static_cast<unsigned>(base);
    } while (u);
    if (grouping) body = group_digits(body, grouping, base == 10 ? 3 : 4);
    prefix = neg ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
    if (alt && base != 10) prefix += base == 16 ? (type == 'X' ? "0X" : "0x") : base == 8 ? "0o" : "0b";
  } else {
    if (type != 0 && float_types.find(type) == std::string::npos)
      throw Error(std::string("Unknown format code '") + type + "' for object of type 'float'");
    double x = value.is_int ? static_cast<double>(value.i) : value.f;
    const bool upper = type == 'E' || type == 'F' || type == 'G';
    bool neg = std::signbit(x) && !std::isnan(x);
    x = std::fabs(x);
    if (type == '%') x *= 100;
    if (std::isnan(x) || std::isinf(x)) {
      body = std::isnan(x) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
      if (type == '%') body += '%';
    } else {
      switch (type) {
        case 0:
          body = precision < 0 ? python_repr(x) : format_general(x, precision, alt, true, false);
          break;
        case 'f': case 'F': case '%':
          body = printf_double(alt ? "%#.*f" : "%.*f", precision < 0 ? 6 : precision, x);
          if (type == '%') body += '%';
          break;
        case 'e': case 'E':
          body = printf_double(alt ? (upper ? "%#.*E" : "%#.*e") : (upper ? "%.*E" : "%.*e"),
                               precision < 0 ? 6 : precision, x);
          break;
        default:  // g, G
          body = format_general(x, precision < 0 ? 6 : precision, alt, false, upper);
      }
      if (grouping) body = group_number(body, grouping);
    }
    if (z && neg && body.find_first_not_of("0.,_%") == std::string::npos) neg = false;
    prefix = neg ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
  }

  const int len = static_cast<int>(prefix.size() + body.size());
  if (width <= len) return prefix + body;
  const std::string pad(static_cast<std::size_t>(width - len), fill);
  switch (align ? align : '>') {
    case '<': return prefix + body + pad;
    case '=': return prefix + pad + body;
    case '^': {
      const std::size_t left = pad.size() / 2;
      return pad.substr(0, left) + prefix + body + pad.substr(left);
    }
    default: return pad + prefix + body;
  }
}

// --- helpers ----------------------------------------------------------------------------------------

namespace {

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  std::size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

const PyScalar* find_candidate(const MonitorCandidates& c, const std::string& name) {
  for (const auto& kv : c)
    if (kv.first == name) return &kv.second;
  return nullptr;
}

// str.format(metrics) for the fields Lightning's _format_checkpoint_name writes: {0[name]} and {0[name]:spec}.
std::string format_fields(const std::string& t, const MonitorCandidates& metrics) {
  std::string out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '}') {
      if (i + 1 < t.size() && t[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      throw Error("checkpoint filename '" + t + "': Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < t.size() && t[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    // field name up to ':' / '!' / '}', brackets taken whole
    std::size_t j = i + 1;
    std::string field;
    while (j < t.size() && t[j] != '}' && t[j] != ':' && t[j] != '!') {
      if (t[j] == '[') {
        const std::size_t close = t.find(']', j);
        if (close == std::string::npos) throw Error("checkpoint filename '" + t + "': Missing ']' in format string");
        field += t.substr(j, close - j + 1);
        j = close + 1;
      } else {
        field += t[j++];
      }
    }
    if (j < t.size() && t[j] == '!') {  // conversion: !s / !r of a number is its repr, as format_spec ""
      j += 2;
    }
    std::string spec;
    if (j < t.size() && t[j] == ':') {
      ++j;
      while (j < t.size() && t[j] != '}') spec += t[j++];
    }
    if (j >= t.size()) throw Error("checkpoint filename '" + t + "': expected '}' before end of string");
    if (field.size() < 3 || field.compare(0, 2, "0[") != 0 || field.back() != ']')
      throw Error("checkpoint filename '" + t + "': unsupported replacement field '{" + field + "}'");
    const std::string key = field.substr(2, field.size() - 3);
    const PyScalar* v = find_candidate(metrics, key);
    if (!v) throw Error("checkpoint filename '" + t + "': KeyError: " + python_str_repr(key));
    out += python_format(*v, spec);
    i = j;
  }
  return out;
}

// repr(datetime.timedelta(seconds=s)) / str(...), for state_key and messages.
void split_timedelta(double s, long long& days, long long& secs, long long& micros) {
  const long long us = std::llround(s * 1e6);
  days = us >= 0 ? us / 86400000000LL : -((-us + 86399999999LL) / 86400000000LL);
  const long long rest = us - days * 86400000000LL;
  secs = rest / 1000000;
  micros = rest % 1000000;
}

std::string timedelta_repr(double s) {
  long long d, sec, us;
  split_timedelta(s, d, sec, us);
  std::string args;
  if (d) args += "days=" + std::to_string(d);
  if (sec) args += (args.empty() ? "" : ", ") + std::string("seconds=") + std::to_string(sec);
  if (us) args += (args.empty() ? "" : ", ") + std::string("microseconds=") + std::to_string(us);
  return "datetime.timedelta(" + (args.empty() ? std::string("0") : args) + ")";
}

std::string timedelta_text(double s) {
  long long d, sec, us;
  split_timedelta(s, d, sec, us);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", sec / 3600, sec / 60 % 60, sec % 60);
  std::string out = buf;
  if (us) {
    std::snprintf(buf, sizeof buf, ".%06lld", us);
    out += buf;
  }
  if (d) out = std::to_string(d) + (d == 1 || d == -1 ? " day, " : " days, ") + out;
  return out;
}

// A train_time_interval as the spec gives it: seconds, "[D day[s], ]H:MM:SS[.ffffff]" or timedelta's
// keyword arguments.
std::optional<double> read_interval(const json::Value& v, const std::string& path) {
  if (v.is_null()) return std::nullopt;
  // timedelta's range: under 10^9 days (Python raises OverflowError past it).
  const auto in_range = [&](double s) {
    if (!(std::fabs(s) < 1e9 * 86400.0))
      throw ConfigError(path, v.pos, "is past a timedelta's range (999999999 days): Python raises OverflowError");
    return s;
  };
  if (v.is_number()) {
    if (!(v.num >= 0) || std::isinf(v.num)) throw ConfigError(path, v.pos, "must be a non-negative number of seconds");
    return in_range(v.num);
  }
  if (v.is_object()) {
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
    return in_range(s);
  }
  // A duration string is short: a long one is none (and would only cost the regex its stack).
  if (v.is_string() && v.str.size() <= 64) {
    static const std::regex re(R"(^\s*(?:(\d+) days?, )?(\d+):(\d\d):(\d\d(?:\.\d{1,6})?)\s*$)");
    std::smatch m;
    if (std::regex_match(v.str, m, re)) {
      double s = m[1].matched ? std::strtod(m[1].str().c_str(), nullptr) * 86400.0 : 0.0;
      s += std::strtod(m[2].str().c_str(), nullptr) * 3600.0 + std::stod(m[3].str()) * 60.0 + std::stod(m[4].str());
      return in_range(s);
    }
  }
  throw ConfigError(path, v.pos,
                    "expected a duration: seconds, an \"H:MM:SS\" string or an object of timedelta arguments "
                    "(hours, minutes, seconds, ...), got " + describe(v));
}

std::string expand_user(const std::string& p) {
  if (p.empty() || p[0] != '~' || (p.size() > 1 && p[1] != '/')) return p;
  const char* home = std::getenv("HOME");
  return home ? std::string(home) + p.substr(1) : p;
}

// Lightning's __validate_init_configuration (and __init_monitor_mode), on the resolved triggers; the
// message and the argument it is about.
std::pair<std::string, std::string> check_options(const ModelCheckpoint::Options& o, std::int64_t every_n_train_steps,
                                                  std::int64_t every_n_epochs) {
  if (o.mode != "min" && o.mode != "max") return {"mode", "`mode` can be min, max but got " + o.mode};
  if (o.save_top_k < -1)
    return {"save_top_k", "Invalid value for save_top_k=" + std::to_string(o.save_top_k) + ". Must be >= -1"};
  if (every_n_train_steps < 0)
    return {"every_n_train_steps",
            "Invalid value for every_n_train_steps=" + std::to_string(every_n_train_steps) + ". Must be >= 0"};
  if (every_n_epochs < 0)
    return {"every_n_epochs", "Invalid value for every_n_epochs=" + std::to_string(every_n_epochs) + ". Must be >= 0"};
  const int triggered = (every_n_train_steps >= 1) + (every_n_epochs >= 1) + (o.train_time_interval.has_value());
  if (triggered > 1)
    return {"every_n_train_steps",
            "Combination of parameters every_n_train_steps=" + std::to_string(every_n_train_steps) +
                ", every_n_epochs=" + std::to_string(every_n_epochs) + " and train_time_interval=" +
                (o.train_time_interval ? timedelta_text(*o.train_time_interval) : std::string("None")) +
                " should be mutually exclusive."};
  if (o.monitor.empty() && o.save_top_k != -1 && o.save_top_k != 0 && o.save_top_k != 1)
    return {"save_top_k", "ModelCheckpoint(save_top_k=" + std::to_string(o.save_top_k) +
                              ", monitor=None) is not a valid configuration. No quantity for top_k to track."};
  return {"", ""};
}

// __init_triggers: nothing given -> every_n_epochs=1, every_n_train_steps=0; else None -> 0.
void resolve_triggers(const ModelCheckpoint::Options& o, std::int64_t& steps, std::int64_t& epochs) {
  if (!o.every_n_train_steps && !o.every_n_epochs && !o.train_time_interval) {
    epochs = 1;
    steps = 0;
  } else {
    epochs = o.every_n_epochs.value_or(0);
    steps = o.every_n_train_steps.value_or(0);
  }
}

// ModelCheckpoint.file_exists: rank 0 looks (fsspec's exists, which follows a link: a dangling one
// is no file), every rank gets its answer ("preventing the internal state to diverge between
// ranks": another node may not see rank 0's files, or not yet).
bool file_exists(const CallbackContext& ctx, const std::string& p) {
  std::error_code ec;
  return ctx.reduce_decision(ctx.is_global_zero && fs::exists(p, ec), false);
}

fs::path absolute_normal(const std::string& p) {
  std::error_code ec;
  fs::path a = fs::absolute(p, ec);
  if (ec) a = p;
  a = a.lexically_normal();
  if (a.has_filename() == false && a.has_parent_path() && a != a.root_path()) a = a.parent_path();
  return a;
}

}  // namespace

// --- ModelCheckpoint --------------------------------------------------------------------------------

ModelCheckpoint::ModelCheckpoint(Options options) : o_(std::move(options)) {
  resolve_triggers(o_, every_n_train_steps_, every_n_epochs_);
  const auto [key, message] = check_options(o_, every_n_train_steps_, every_n_epochs_);
  if (!message.empty()) throw Error(message);
  // __init_monitor_mode: kth_value = inf for "min", -inf for "max"
  kth_value = o_.mode == "min" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  // __init_ckpt_dir: a given dirpath is os.path.realpath(os.path.expanduser(dirpath))
  if (!o_.dirpath.empty()) {
    std::error_code ec;
    fs::path p = fs::weakly_canonical(fs::absolute(expand_user(o_.dirpath), ec), ec);
    dirpath = ec ? expand_user(o_.dirpath) : p.lexically_normal().string();
    if (dirpath.size() > 1 && dirpath.back() == '/') dirpath.pop_back();
  }
}

std::unique_ptr<ModelCheckpoint> ModelCheckpoint::read(ConfigObject& a) {
  Options o;
  auto opt_string = [&](const char* key) {
    const json::Value* v = a.get(key);
    if (!v || v->is_null()) return std::string();
    if (!v->is_string()) a.fail(key, "expected a string or null, got " + describe(*v));
    return v->str;
  };
  auto opt_int = [&](const char* key) -> std::optional<std::int64_t> {
    const json::Value* v = a.get(key);
    if (!v || v->is_null()) return std::nullopt;
    return read_integer(*v, a.path_of(key), std::numeric_limits<std::int64_t>::min());
  };
  o.dirpath = opt_string("dirpath");
  o.filename = opt_string("filename");
  if (o.filename.size() > 4096) a.fail("filename", "is longer than 4096 characters: no file name is that long");
  o.monitor = opt_string("monitor");
  o.verbose = a.boolean("verbose", false);
  if (const json::Value* v = a.get("save_last"); v && !v->is_null()) {
    if (v->is_bool()) o.save_last = v->b ? "true" : "";
    else if (v->is_string() && v->str == "link") o.save_last = "link";
    else a.fail("save_last", "expected true, false, \"link\" or null, got " + describe(*v));
  }
  o.save_top_k = opt_int("save_top_k").value_or(1);
  o.save_weights_only = a.boolean("save_weights_only", false);
  o.mode = a.string("mode", "min", {"min", "max"}, false);
  o.auto_insert_metric_name = a.boolean("auto_insert_metric_name", true);
  o.every_n_train_steps = opt_int("every_n_train_steps");
  if (const json::Value* v = a.get("train_time_interval")) o.train_time_interval = read_interval(*v, a.path_of("train_time_interval"));
  o.every_n_epochs = opt_int("every_n_epochs");
  if (const json::Value* v = a.get("save_on_train_epoch_end"); v && !v->is_null())
    o.save_on_train_epoch_end = a.boolean("save_on_train_epoch_end", false);
  o.enable_version_counter = a.boolean("enable_version_counter", true);
  o.save_on_exception = a.boolean("save_on_exception", false);
  a.finish();
  std::int64_t steps = 0, epochs = 0;
  resolve_triggers(o, steps, epochs);
  const auto [key, message] = check_options(o, steps, epochs);
  if (!message.empty()) {
    if (a.value().find(key)) a.fail(key, message);
    a.fail_here(message);
  }
  auto checkpoint = std::make_unique<ModelCheckpoint>(std::move(o));
  // A filename that no save could format is refused now, not after the first epoch: epoch and step
  // are ints, a logged metric a float, one not logged (yet) the int 0.
  if (!checkpoint->o_.filename.empty()) {
    auto trial = [&](bool metrics_as_floats) {
      MonitorCandidates metrics = {{"epoch", PyScalar::of_int(0)}, {"step", PyScalar::of_int(0)}};
      static const std::regex group_re(R"(\{([^:}]*)[:}])");
      const std::string& f = checkpoint->o_.filename;
      for (auto it = std::sregex_iterator(f.begin(), f.end(), group_re); it != std::sregex_iterator(); ++it) {
        const std::string name = (*it)[1].str();
        if (!find_candidate(metrics, name))
          metrics.emplace_back(name, metrics_as_floats ? PyScalar::of_float(0.5) : PyScalar::of_int(0));
      }
      checkpoint->format_checkpoint_name(metrics);
    };
    try {
      trial(true);
    } catch (const Error&) {
      try {
        trial(false);
      } catch (const Error& e) {
        a.fail("filename", e.what());
      }
    }
  }
  return checkpoint;
}

std::string ModelCheckpoint::state_key() const {
  return "ModelCheckpoint{'monitor': " + (o_.monitor.empty() ? std::string("None") : python_str_repr(o_.monitor)) +
         ", 'mode': " + python_str_repr(o_.mode) + ", 'every_n_train_steps': " + std::to_string(every_n_train_steps_) +
         ", 'every_n_epochs': " + std::to_string(every_n_epochs_) + ", 'train_time_interval': " +
         (o_.train_time_interval ? timedelta_repr(*o_.train_time_interval) : std::string("None")) + "}";
}

json::Value ModelCheckpoint::state() const {
  using json::Value;
  auto opt = [](const std::optional<double>& v) { return v ? state_number(*v) : Value::make_null(); };
  Value s = Value::make_object();
  s.set("monitor", o_.monitor.empty() ? Value::make_null() : Value::make_string(o_.monitor));
  s.set("best_model_score", opt(best_model_score));
  s.set("best_model_path", Value::make_string(best_model_path));
  s.set("current_score", opt(current_score));
  s.set("dirpath", Value::make_string(dirpath));
  Value k = Value::make_object();
  for (const auto& [path, score] : best_k_models) k.set(path, state_number(score));
  s.set("best_k_models", std::move(k));
  s.set("kth_best_model_path", Value::make_string(kth_best_model_path));
  s.set("kth_value", state_number(kth_value));
  s.set("last_model_path", Value::make_string(last_model_path));
  return s;
}

void ModelCheckpoint::load_state(const json::Value& s) {
  if (!s.is_object()) throw Error("ModelCheckpoint state: expected an object");
  auto str = [&](const char* key, const std::string& def, bool required) {
    const json::Value* v = s.find(key);
    if (!v) {
      if (required) throw Error(std::string("ModelCheckpoint state: '") + key + "' is missing");
      return def;
    }
    if (!v->is_string()) throw Error(std::string("ModelCheckpoint state: '") + key + "' is not a string");
    return v->str;
  };
  auto opt_number = [&](const json::Value& v, const std::string& what) -> std::optional<double> {
    if (v.is_null()) return std::nullopt;
    return read_state_number(v, what);
  };
  // dirpath_from_ckpt = state_dict.get("dirpath", self.dirpath)
  const json::Value* dp = s.find("dirpath");
  const std::string dirpath_from_ckpt = dp && dp->is_string() ? dp->str : dirpath;
  if (dirpath == dirpath_from_ckpt) {
    const json::Value* score = s.find("best_model_score");
    if (!score) throw Error("ModelCheckpoint state: 'best_model_score' is missing");
    best_model_score = opt_number(*score, "ModelCheckpoint state 'best_model_score'");
    kth_best_model_path = str("kth_best_model_path", kth_best_model_path, false);
    if (const json::Value* v = s.find("kth_value")) kth_value = read_state_number(*v, "ModelCheckpoint state 'kth_value'");
    if (const json::Value* v = s.find("best_k_models")) {
      if (!v->is_object()) throw Error("ModelCheckpoint state: 'best_k_models' is not an object");
      best_k_models.clear();
      for (const auto& [path, score_v] : v->members)
        best_k_models.emplace_back(path, read_state_number(score_v, "ModelCheckpoint state 'best_k_models'"));
    }
    last_model_path = str("last_model_path", last_model_path, false);
  } else {
    const std::string msg = "The dirpath has changed from " + python_str_repr(dirpath_from_ckpt) + " to " +
                            python_str_repr(dirpath) +
                            ", therefore `best_model_score`, `kth_best_model_path`, `kth_value`, `last_model_path` "
                            "and `best_k_models` won't be reloaded. Only `best_model_path` will be reloaded.";
    if (warn_) warn_(msg);
    else std::fprintf(stderr, "UserWarning: %s\n", msg.c_str());
  }
  best_model_path = str("best_model_path", "", true);
}

void ModelCheckpoint::setup(const CallbackContext& ctx) {
  warn_ = ctx.warn;
  // __resolve_ckpt_dir: dirpath if given; else <logger save_dir>/<name>/<version>/checkpoints (the log_dir),
  // else <default_root_dir>/checkpoints.
  if (o_.dirpath.empty())
    dirpath = join_path(ctx.log_dir.empty() ? ctx.default_root_dir : ctx.log_dir, "checkpoints");
  // __warn_if_dir_not_empty (stage "fit")
  std::error_code ec;
  if (o_.save_top_k != 0 && fs::is_directory(dirpath, ec) && !fs::is_empty(dirpath, ec))
    ctx.emit_warning("Checkpoint directory " + dirpath + " exists and is not empty.");
}

void ModelCheckpoint::on_train_start(const CallbackContext& ctx) { last_time_checked_ = ctx.elapsed_seconds; }

void ModelCheckpoint::on_train_batch_end(const CallbackContext& ctx) {
  // "Save checkpoint on train batch end if we meet the criteria for `every_n_train_steps`"
  const bool skip_due_to_state = should_skip_saving_checkpoint(ctx);
  const bool skip_batch = every_n_train_steps_ < 1 || ctx.global_step % every_n_train_steps_ != 0;
  bool skip_time = true;
  const double now = ctx.elapsed_seconds;
  if (o_.train_time_interval) {  // "allow zero timedelta as a valid interval"
    skip_time = !last_time_checked_ || (now - *last_time_checked_) < *o_.train_time_interval;
    skip_time = ctx.rank_zero_decision(skip_time);  // ranks' clocks differ
  }
  if (skip_batch && skip_time) return;
  if (!skip_time) last_time_checked_ = now;
  MonitorCandidates candidates = monitor_candidates(ctx);
  // A monitored metric that validation has not logged yet: save when it has (on_validation_end).
  if (!o_.monitor.empty() && !find_candidate(candidates, o_.monitor)) {
    defer_save_until_validation_ = true;
    return;
  }
  // The metric may be stale: when validation runs right after this epoch's last batch, save then.
  if (!o_.monitor.empty() && !should_save_on_train_epoch_end(ctx) && ctx.is_last_batch) {
    const bool will_run_val = ctx.has_val_loop && (ctx.check_val_every_n_epoch == 0 ||
                                                   (ctx.current_epoch + 1) % ctx.check_val_every_n_epoch == 0);
    if (will_run_val) {
      defer_save_until_validation_ = true;
      return;
    }
  }
  if (skip_due_to_state) return;
  save_topk_checkpoint(ctx, candidates);
  save_last_checkpoint(ctx, candidates);
}

// Lightning 2.6: `last` follows a checkpoint saved at this very step (or links to the last one saved).
bool ModelCheckpoint::last_is_due(const CallbackContext& ctx) const {
  return last_global_step_saved_ == ctx.global_step || (o_.save_last == "link" && !last_checkpoint_saved_.empty());
}

void ModelCheckpoint::on_train_epoch_end(const CallbackContext& ctx) {
  if (!should_skip_saving_checkpoint(ctx) && should_save_on_train_epoch_end(ctx)) {
    MonitorCandidates candidates = monitor_candidates(ctx);
    if (every_n_epochs_ >= 1 && (ctx.current_epoch + 1) % every_n_epochs_ == 0) save_topk_checkpoint(ctx, candidates);
    if (last_is_due(ctx)) save_last_checkpoint(ctx, candidates);
  }
}

void ModelCheckpoint::on_validation_end(const CallbackContext& ctx) {
  if (!should_skip_saving_checkpoint(ctx) && !should_save_on_train_epoch_end(ctx)) {
    MonitorCandidates candidates = monitor_candidates(ctx);
    if (defer_save_until_validation_) {  // a step's save that waited for the monitored metric
      save_topk_checkpoint(ctx, candidates);
      save_last_checkpoint(ctx, candidates);
      defer_save_until_validation_ = false;
      return;
    }
    if (every_n_epochs_ >= 1 && (ctx.current_epoch + 1) % every_n_epochs_ == 0) save_topk_checkpoint(ctx, candidates);
    if (last_is_due(ctx)) save_last_checkpoint(ctx, candidates);
  }
}

void ModelCheckpoint::on_train_end(const CallbackContext& ctx) {
  // "Ensure save_last=True is applied when training ends": when nothing was saved at all.
  if (!o_.save_last.empty() && last_checkpoint_saved_.empty()) {
    MonitorCandidates candidates = monitor_candidates(ctx);
    save_last_checkpoint(ctx, candidates);
  }
}

// Lightning 2.6's on_exception: a checkpoint under the usual name (no top-k bookkeeping), then `last`.
void ModelCheckpoint::on_exception(const CallbackContext& ctx, const std::exception& exception) {
  if (!o_.save_on_exception || should_skip_saving_checkpoint(ctx)) return;  // _should_save_on_exception
  MonitorCandidates candidates = monitor_candidates(ctx);
  const std::string filepath = format_checkpoint_name(candidates);
  save_checkpoint(ctx, filepath);
  save_last_checkpoint(ctx, candidates);
  ctx.emit_info(std::string("An exception was raised with message: ") + exception.what() + ", saved checkpoint to " +
                filepath);
}

bool ModelCheckpoint::should_skip_saving_checkpoint(const CallbackContext& ctx) const {
  // fast_dev_run and non-fit stages do not exist here; "don't save anything during sanity check";
  // "already saved at the last step"
  return ctx.sanity_checking || last_global_step_saved_ == ctx.global_step;
}

bool ModelCheckpoint::should_save_on_train_epoch_end(const CallbackContext& ctx) const {
  if (o_.save_on_train_epoch_end) return *o_.save_on_train_epoch_end;
  // "if `check_val_every_n_epoch != 1`, we can't say when the validation dataloader will be loaded so
  // let's not enforce saving at every training epoch end"
  if (ctx.check_val_every_n_epoch != 1) return false;
  // "no validation means save on train epoch end"
  if (!ctx.has_val_loop) return true;
  // "if the user runs validation multiple times per training epoch, then we run after validation"
  return ctx.val_check_interval == 1.0;
}

MonitorCandidates ModelCheckpoint::monitor_candidates(const CallbackContext& ctx) const {
  MonitorCandidates c;
  bool has_epoch = false, has_step = false;
  if (const std::map<std::string, double>* metrics = ctx.metrics()) {
    for (const auto& [k, v] : *metrics) {
      // epoch/step: "cast to int if necessary because `self.log("epoch", 123)` will convert it to float"
      if (k == "epoch" || k == "step") {
        (k == "epoch" ? has_epoch : has_step) = true;
        c.emplace_back(k, PyScalar::of_int(static_cast<std::int64_t>(static_cast<float>(v))));
      } else {
        c.emplace_back(k, PyScalar::of_float(as_float32(v)));
      }
    }
  }
  if (!has_epoch) c.emplace_back("epoch", PyScalar::of_int(ctx.current_epoch));
  if (!has_step) c.emplace_back("step", PyScalar::of_int(ctx.global_step));
  return c;
}

std::string ModelCheckpoint::format_checkpoint_name(MonitorCandidates& metrics, const std::string& filename_arg,
                                                    std::optional<int> ver) const {
  std::string filename = !filename_arg.empty() ? filename_arg : o_.filename;
  // _format_checkpoint_name
  if (filename.empty()) filename = std::string("{epoch}") + CHECKPOINT_JOIN_CHAR + "{step}";
  // groups = re.findall(r"(\{.*?)[:\}]", filename), sorted longest first (stable)
  static const std::regex group_re(R"((\{.*?)[:\}])");
  std::vector<std::string> groups;
  for (auto it = std::sregex_iterator(filename.begin(), filename.end(), group_re); it != std::sregex_iterator(); ++it)
    groups.push_back((*it)[1].str());
  std::stable_sort(groups.begin(), groups.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& group : groups) {
    const std::string name = group.substr(1);
    if (o_.auto_insert_metric_name) replace_all(filename, group, name + CHECKPOINT_EQUALS_CHAR + "{" + name);
    // "support for dots": {0[name]}
    replace_all(filename, group, "{0[" + name + "]");
    if (!find_candidate(metrics, name)) metrics.emplace_back(name, PyScalar::of_int(0));  // torch.tensor(0)
  }
  filename = format_fields(filename, metrics);
  if (ver) filename += std::string(CHECKPOINT_JOIN_CHAR) + "v" + std::to_string(*ver);
  const std::string ckpt_name = filename + FILE_EXTENSION;
  return dirpath.empty() ? ckpt_name : join_path(dirpath, ckpt_name);
}

std::string ModelCheckpoint::metric_interpolated_filepath(const CallbackContext& ctx, MonitorCandidates& candidates,
                                                          const std::string& del_filepath) const {
  std::string filepath = format_checkpoint_name(candidates);
  if (o_.enable_version_counter) {
    int version_cnt = STARTING_VERSION;
    while (file_exists(ctx, filepath) && filepath != del_filepath) {
      filepath = format_checkpoint_name(candidates, "", version_cnt);
      ++version_cnt;
    }
  }
  return filepath;
}

void ModelCheckpoint::save_topk_checkpoint(const CallbackContext& ctx, MonitorCandidates& candidates) {
  if (o_.save_top_k == 0) return;
  if (!o_.monitor.empty()) {
    if (!find_candidate(candidates, o_.monitor)) {
      std::string keys;
      for (const auto& kv : candidates) keys += (keys.empty() ? "" : ", ") + python_str_repr(kv.first);
      const std::string m = "`ModelCheckpoint(monitor=" + python_str_repr(o_.monitor) +
                            ")` could not find the monitored key in the returned metrics: [" + keys +
                            "]. HINT: Did you call `log(" + python_str_repr(o_.monitor) +
                            ", value)` in the `LightningModule`?";
      if (ctx.val_loop_has_run) throw Error(m);  // MisconfigurationException
      if (!warned_missing_monitor_) {
        warned_missing_monitor_ = true;
        ctx.emit_warning(m);
      }
    }
    save_monitor_checkpoint(ctx, candidates);
  } else {
    save_none_monitor_checkpoint(ctx, candidates);
  }
}

void ModelCheckpoint::save_checkpoint(const CallbackContext& ctx, const std::string& filepath) {
  if (!ctx.save_checkpoint) throw Error("ModelCheckpoint: the trainer gave no save_checkpoint");
  const std::string parent = fs::path(filepath).parent_path().string();
  if (!parent.empty() && ctx.is_global_zero) make_dirs(parent);  // the checkpoint IO's makedirs(dirname(path), exist_ok=True)
  ctx.save_checkpoint(filepath, o_.save_weights_only);
  last_global_step_saved_ = ctx.global_step;
  last_checkpoint_saved_ = filepath;
}

void ModelCheckpoint::link_checkpoint(const std::string& filepath, const std::string& linkpath) const {
  // Lightning would replace linkpath by a link to itself; the file is already there.
  if (filepath == linkpath) return;
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(linkpath, ec);
  if (fs::is_symlink(st) || fs::is_regular_file(st)) fs::remove(linkpath, ec);
  else if (fs::is_directory(st)) fs::remove_all(linkpath, ec);
  const fs::path parent = fs::path(linkpath).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  // os.symlink(os.path.relpath(filepath, os.path.dirname(linkpath)), linkpath); on OSError a copy
  ec.clear();
  const fs::path target = fs::path(filepath).lexically_relative(parent.empty() ? fs::path(".") : parent);
  fs::create_symlink(target.empty() ? fs::path(filepath) : target, linkpath, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(filepath, linkpath, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error(linkpath + ": cannot link or copy " + filepath + ": " + ec.message());
  }
}

bool ModelCheckpoint::should_remove_checkpoint(const CallbackContext& ctx, const std::string& previous,
                                               const std::string& current) const {
  // Not when it is the current one, the checkpoint fit resumed from, or outside dirpath.
  if (previous == current) return false;
  const fs::path prev = absolute_normal(previous);
  if (!ctx.ckpt_path.empty() && prev == absolute_normal(ctx.ckpt_path)) return false;
  const fs::path dir = absolute_normal(dirpath);
  for (fs::path p = prev.parent_path(); !p.empty(); p = p.parent_path()) {  // dirpath in previous.parents
    if (p == dir) return true;
    if (p == p.root_path()) break;
  }
  return false;
}

void ModelCheckpoint::remove_checkpoint(const CallbackContext& ctx, const std::string& filepath) const {
  if (ctx.remove_checkpoint) {
    ctx.remove_checkpoint(filepath);
    return;
  }
  std::error_code ec;
  fs::remove(filepath, ec);
}

void ModelCheckpoint::save_last_checkpoint(const CallbackContext& ctx, MonitorCandidates& candidates) {
  if (o_.save_last.empty()) return;
  std::string filepath = format_checkpoint_name(candidates, CHECKPOINT_NAME_LAST);
  if (o_.enable_version_counter) {
    int version_cnt = STARTING_VERSION;
    while (file_exists(ctx, filepath) && filepath != last_model_path) {
      filepath = format_checkpoint_name(candidates, CHECKPOINT_NAME_LAST, version_cnt);
      ++version_cnt;
    }
  }
  // "set the last model path before saving because it will be part of the state"
  const std::string previous = last_model_path;
  last_model_path = filepath;
  if (o_.save_last == "link" && !last_checkpoint_saved_.empty() && o_.save_top_k != 0) {
    if (ctx.is_global_zero) link_checkpoint(last_checkpoint_saved_, filepath);
  }
  else
    save_checkpoint(ctx, filepath);
  if (!previous.empty() && should_remove_checkpoint(ctx, previous, filepath)) remove_checkpoint(ctx, previous);
}

void ModelCheckpoint::save_monitor_checkpoint(const CallbackContext& ctx, MonitorCandidates& candidates) {
  std::optional<double> current;
  if (const PyScalar* v = find_candidate(candidates, o_.monitor))
    current = v->is_int ? static_cast<double>(v->i) : v->f;
  if (check_monitor_top_k(ctx, current)) {
    update_best_and_save(*current, ctx, candidates);
  } else if (o_.verbose) {
    ctx.emit_info("Epoch " + python_format(*find_candidate(candidates, "epoch"), "d") + ", global step " +
                  python_format(*find_candidate(candidates, "step"), "d") + ": " + python_str_repr(o_.monitor) +
                  " was not in top " + std::to_string(o_.save_top_k));
  }
}

void ModelCheckpoint::save_none_monitor_checkpoint(const CallbackContext& ctx, MonitorCandidates& candidates) {
  const std::string filepath = metric_interpolated_filepath(ctx, candidates, best_model_path);
  // "set the best model path before saving because it will be part of the state"
  const std::string previous = best_model_path;
  best_model_path = filepath;
  save_checkpoint(ctx, filepath);
  if (o_.save_top_k == 1 && !previous.empty() && should_remove_checkpoint(ctx, previous, filepath))
    remove_checkpoint(ctx, previous);
}

double* ModelCheckpoint::best_k_find(const std::string& path) {
  for (auto& kv : best_k_models)
    if (kv.first == path) return &kv.second;
  return nullptr;
}

bool ModelCheckpoint::check_monitor_top_k(const CallbackContext& ctx, std::optional<double> current) const {
  if (!current) return false;
  if (o_.save_top_k == -1) return true;
  if (static_cast<std::int64_t>(best_k_models.size()) < o_.save_top_k) return true;  // less_than_k_models
  const double* kth = nullptr;
  for (const auto& kv : best_k_models)
    if (kv.first == kth_best_model_path) kth = &kv.second;
  if (!kth) throw Error("ModelCheckpoint: kth_best_model_path '" + kth_best_model_path + "' is not in best_k_models");
  // monitor_op = {"min": torch.lt, "max": torch.gt} on float32 values; under DDP every rank must agree
  return ctx.reduce_decision(o_.mode == "min" ? *current < *kth : *current > *kth, true);
}

void ModelCheckpoint::update_best_and_save(double current, const CallbackContext& ctx, MonitorCandidates& candidates) {
  const std::int64_t k = o_.save_top_k == -1 ? static_cast<std::int64_t>(best_k_models.size()) + 1 : o_.save_top_k;
  std::string del_filepath;
  if (static_cast<std::int64_t>(best_k_models.size()) == k && k > 0) {
    del_filepath = kth_best_model_path;
    best_k_models.erase(std::remove_if(best_k_models.begin(), best_k_models.end(),
                                       [&](const auto& kv) { return kv.first == del_filepath; }),
                        best_k_models.end());
  }
  // "do not save nan, replace with +/- inf"
  if (std::isnan(current))
    current = o_.mode == "min" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  const std::string filepath = metric_interpolated_filepath(ctx, candidates, del_filepath);
  current_score = current;
  if (double* existing = best_k_find(filepath)) *existing = current;
  else best_k_models.emplace_back(filepath, current);

  // max()/min() over the dict keep the first of equal values
  auto pick = [&](bool want_max) {
    const std::pair<std::string, double>* best = &best_k_models.front();
    for (const auto& kv : best_k_models)
      if (want_max ? kv.second > best->second : kv.second < best->second) best = &kv;
    return *best;
  };
  if (static_cast<std::int64_t>(best_k_models.size()) == k) {
    const auto kth = pick(o_.mode == "min");  // _op = max if mode == "min" else min
    kth_best_model_path = kth.first;
    kth_value = kth.second;
  }
  const auto best = pick(o_.mode != "min");
  best_model_path = best.first;
  best_model_score = best.second;

  if (o_.verbose) {
    ctx.emit_info("Epoch " + python_format(*find_candidate(candidates, "epoch"), "d") + ", global step " +
                  python_format(*find_candidate(candidates, "step"), "d") + ": " + python_str_repr(o_.monitor) +
                  " reached " + python_format(PyScalar::of_float(current), "0.5f") + " (best " +
                  python_format(PyScalar::of_float(*best_model_score), "0.5f") + "), saving model to " +
                  python_str_repr(filepath) + " as top " + std::to_string(k));
  }
  save_checkpoint(ctx, filepath);
  if (!del_filepath.empty() && should_remove_checkpoint(ctx, del_filepath, filepath)) remove_checkpoint(ctx, del_filepath);
}

}  // namespace ltrt
