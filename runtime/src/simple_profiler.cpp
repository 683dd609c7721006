#include "ltrt/simple_profiler.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "ltrt/error.hpp"

namespace ltrt {

SimpleProfiler::SimpleProfiler(bool extended) : extended_(extended), start_time_(Clock::now()) {}

void SimpleProfiler::start(const std::string& action) {
  for (const auto& [name, when] : running_)
    if (name == action) throw Error("the profiler's action " + action + " has already started");
  running_.emplace_back(action, Clock::now());
}

void SimpleProfiler::stop(const std::string& action) {
  const Clock::time_point end = Clock::now();
  auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& r) { return r.first == action; });
  if (it == running_.end()) throw Error("the profiler's action " + action + " was never started");
  const double duration = std::chrono::duration<double>(end - it->second).count();
  running_.erase(it);
  auto rec = std::find_if(recorded_.begin(), recorded_.end(), [&](const auto& r) { return r.first == action; });
  if (rec == recorded_.end()) rec = recorded_.insert(recorded_.end(), {action, {}});
  rec->second.push_back(duration);
}

std::string python_format_5(double x) {
  if (!std::isfinite(x)) return std::isnan(x) ? "nan" : x > 0 ? "inf" : "-inf";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  // Python's repr-style rule for a precision of 5: scientific when the decimal exponent (after
  // rounding to 5 digits) is below -4 or at least 4, else fixed with at least one decimal; trailing
  // zeros dropped either way.
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4e", x);
  std::string s = buf;
  const std::size_t e = s.find('e');
  const int exponent = std::atoi(s.c_str() + e + 1);
  auto strip = [](std::string m, bool keep_one) {
    if (m.find('.') == std::string::npos) return m;
    while (m.back() == '0') m.pop_back();
    if (m.back() == '.') {
      if (keep_one) m += '0';
      else m.pop_back();
    }
    return m;
  };
  if (exponent < -4 || exponent >= 4) return strip(s.substr(0, e), false) + s.substr(e);
  std::snprintf(buf, sizeof buf, "%.*f", 4 - exponent, x);
  return strip(buf, true);
}

namespace {

// The width of `s` with its tabs expanded to multiples of 8 (Python's str.expandtabs()).
std::size_t expanded_width(const std::string& s) {
  std::size_t column = 0;
  for (char c : s) column = c == '\t' ? (column / 8 + 1) * 8 : column + 1;
  return column;
}

std::string padded(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

}  // namespace

std::string SimpleProfiler::summary(const std::string& stage) const {
  const std::string sep = "\n";
  std::string upper = stage;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string out = upper + " Profiler Report" + sep;
  std::size_t max_key = 0;
  for (const auto& [action, d] : recorded_) max_key = std::max(max_key, action.size());
  auto sum = [](const std::vector<double>& d) { return std::accumulate(d.begin(), d.end(), 0.0); };
  auto lines = [&](const std::string& header) { return sep + std::string(expanded_width(header) + 1, '-'); };
  if (extended_) {
    if (recorded_.empty()) return out + sep;
    auto row = [&](const std::string& action, const std::string& mean, const std::string& calls, const std::string& total,
                   const std::string& per) {
      return "|  " + padded(action, max_key) + "\t|  " + padded(mean, 15) + "\t|  " + padded(calls, 15) + "\t|  " +
             padded(total, 15) + "\t|  " + padded(per, 15) + "\t|";
    };
    const std::string header = row("Action", "Mean duration (s)", "Num calls", "Total time (s)", "Percentage %");
    const std::string rule = lines(header);
    const double total = std::chrono::duration<double>(Clock::now() - start_time_).count();
    struct Row {
      std::string action;
      double mean;
      std::size_t calls;
      double sum, percent;
    };
    std::vector<Row> report;
    std::size_t calls = 0;
    for (const auto& [action, d] : recorded_) {
      report.push_back({action, sum(d) / static_cast<double>(d.size()), d.size(), sum(d), 100.0 * sum(d) / total});
      calls += d.size();
    }
    std::stable_sort(report.begin(), report.end(), [](const Row& a, const Row& b) { return a.percent > b.percent; });
    out += rule + sep + header + rule;
    out += sep + row("Total", "-", std::to_string(calls), python_format_5(total), "100 %") + rule;
    for (const Row& r : report)
      out += sep + row(r.action, python_format_5(r.mean), std::to_string(r.calls), python_format_5(r.sum),
                       python_format_5(r.percent));
    out += rule;
  } else {
    auto row = [&](const std::string& action, const std::string& mean, const std::string& total) {
      return "|  " + padded(action, max_key) + "\t|  " + padded(mean, 15) + "\t|  " + padded(total, 15) + "\t|";
    };
    const std::string header = row("Action", "Mean duration (s)", "Total time (s)");
    const std::string rule = lines(header);
    std::vector<std::pair<std::string, std::pair<double, double>>> report;
    for (const auto& [action, d] : recorded_) report.push_back({action, {sum(d) / static_cast<double>(d.size()), sum(d)}});
    std::stable_sort(report.begin(), report.end(),
                     [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    out += rule + sep + header + rule;
    for (const auto& [action, m] : report)
      out += sep + row(action, python_format_5(m.first), python_format_5(m.second));
    out += rule;
  }
  return out + sep;
}

void describe_profile(const SimpleProfiler& profiler, const ProfilerConfig& config, const std::string& stage,
                      const std::string& log_dir, std::optional<int> rank, std::FILE* out) {
  const std::string summary = profiler.summary(stage);
  if (config.filename.empty()) {
    if (!rank || *rank == 0) {
      std::fputs(summary.c_str(), out);
      std::fflush(out);
    }
    return;
  }
  const std::filesystem::path dir = config.dirpath.empty() ? log_dir : config.dirpath;
  std::string name = stage + "-" + config.filename;
  if (rank) name += "-" + std::to_string(*rank);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = (dir / (name + ".txt")).string();
  std::FILE* f = std::fopen(path.c_str(), "a");  // appended, as Lightning opens it
  if (!f) throw Error("cannot write the profiler's report " + path + ": " + std::strerror(errno));
  std::fputs(summary.c_str(), f);
  if (std::fclose(f) != 0) throw Error("cannot write the profiler's report " + path + ": " + std::strerror(errno));
}

}  // namespace ltrt
