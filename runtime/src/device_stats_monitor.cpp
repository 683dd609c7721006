// DeviceStatsMonitor with Lightning 2.6's rules (lightning/pytorch/callbacks/device_stats_monitor.py,
// accelerators/cpu.py's get_cpu_stats) and psutil's Linux sources (/proc/stat, /proc/meminfo).
#include "ltrt/device_stats_monitor.hpp"

#include <sys/sysinfo.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"

namespace ltrt {

double python_round_1(double x) {
  // Python rounds the exact binary value to the nearest decimal, ties to even, as printf does.
  char text[64];
  std::snprintf(text, sizeof text, "%.1f", x);
  return std::strtod(text, nullptr);
}

CpuTimes read_cpu_times() {
  std::ifstream in("/proc/stat");
  if (!in) throw Error("DeviceStatsMonitor: cannot open /proc/stat (the CPU's times)");
  std::string line, cpu;
  std::getline(in, line);
  std::istringstream fields(line);
  fields >> cpu;
  // user nice system idle iowait irq softirq steal guest guest_nice (older kernels stop earlier; the
  // guests' times are in user and nice already, which psutil's total leaves them out for)
  CpuTimes t;
  int read = 0;
  while (read < 8 && fields >> t.fields[read]) ++read;
  if (cpu != "cpu" || read < 4) throw Error("DeviceStatsMonitor: cannot read the CPU times in /proc/stat");
  return t;
}

namespace {

// /proc/meminfo's fields in kB, read at once (one snapshot).
std::map<std::string, double> meminfo() {
  std::ifstream in("/proc/meminfo");
  if (!in) throw Error("DeviceStatsMonitor: cannot open /proc/meminfo (the memory's statistics)");
  std::map<std::string, double> fields;
  std::string name;
  double kb = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    if (words >> name >> kb && !name.empty() && name.back() == ':') fields[name.substr(0, name.size() - 1)] = kb;
  }
  return fields;
}

double field(const std::map<std::string, double>& fields, const char* name) {
  const auto it = fields.find(name);
  if (it == fields.end()) throw Error(std::string("DeviceStatsMonitor: /proc/meminfo has no ") + name);
  return it->second;
}

// psutil's usage_percent(used, total, round_=1): 0 when total is.
double usage_percent(double used, double total) { return total == 0 ? 0.0 : python_round_1(used / total * 100); }

}  // namespace

double memory_percent() {
  const std::map<std::string, double> m = meminfo();
  const double total = field(m, "MemTotal"), free = field(m, "MemFree");
  const auto available = m.find("MemAvailable");
  double avail = 0;
  if (available != m.end() && available->second != 0) {
    avail = available->second;
  } else {
    // Kernels before 3.14: psutil estimates it from /proc/zoneinfo's watermarks, or without them as
    // free + cached, which the program takes.
    const auto cached = m.find("Cached");
    const auto reclaimable = m.find("SReclaimable");
    avail = free + (cached != m.end() ? cached->second + (reclaimable != m.end() ? reclaimable->second : 0) : 0);
  }
  if (avail < 0)
    avail = 0;
  else if (avail > total)
    avail = free;  // (LXC's lxcfs, as psutil)
  return usage_percent(total - avail, total);
}

double swap_percent() {
  const std::map<std::string, double> m = meminfo();
  const auto total = m.find("SwapTotal"), free = m.find("SwapFree");
  if (total != m.end() && free != m.end()) return usage_percent(total->second - free->second, total->second);
  struct sysinfo info {};  // psutil's fallback without those lines
  if (sysinfo(&info) != 0) throw Error("DeviceStatsMonitor: cannot read the swap's size (/proc/meminfo, sysinfo)");
  const double unit = info.mem_unit, swap_total = static_cast<double>(info.totalswap) * unit;
  return usage_percent(swap_total - static_cast<double>(info.freeswap) * unit, swap_total);
}

double cpu_percent(CpuTimes& last) {
  const CpuTimes now = read_cpu_times();
  // psutil's _cpu_times_deltas: each field's delta, 0 where a counter went back (iowait may)
  double delta[8];
  for (int i = 0; i < 8; ++i) delta[i] = std::max(0.0, now.fields[i] - last.fields[i]);
  last = now;
  double all = 0;
  for (double d : delta) all += d;
  const double busy = all - delta[3] - delta[4];  // less idle and iowait
  if (all == 0) return 0.0;
  return python_round_1(busy / all * 100);
}

DeviceStatsMonitor::DeviceStatsMonitor(Options options) : o_(options) {}

std::unique_ptr<DeviceStatsMonitor> DeviceStatsMonitor::read(ConfigObject& a) {
  Options o;
  if (const json::Value* v = a.get("cpu_stats"); v && !v->is_null()) {
    if (!v->is_bool()) a.fail("cpu_stats", "expected true, false or null, got " + describe(*v));
    o.cpu_stats = v->b;
  }
  a.finish();
  return std::make_unique<DeviceStatsMonitor>(o);
}

void DeviceStatsMonitor::setup(const CallbackContext& ctx) {
  if (!ctx.has_logger) throw Error("Cannot use `DeviceStatsMonitor` callback with `Trainer(logger=False)`.");
}

void DeviceStatsMonitor::log_stats(const CallbackContext& ctx, const char* hook, std::int64_t step) {
  if (!ctx.should_update_logs(step) || (o_.cpu_stats && !*o_.cpu_stats) || !ctx.log_metrics) return;
  if (!last_) last_ = read_cpu_times();  // psutil's import-time reading: the first call gives 0.0
  const std::string prefix = std::string("DeviceStatsMonitor.") + hook + "/";
  // get_cpu_stats' order
  const std::vector<std::pair<std::string, double>> stats = {{prefix + "cpu_vm_percent", memory_percent()},
                                                             {prefix + "cpu_percent", cpu_percent(*last_)},
                                                             {prefix + "cpu_swap_percent", swap_percent()}};
  ctx.log_metrics(stats, ctx.batches_that_stepped);
}

void DeviceStatsMonitor::on_train_batch_start(const CallbackContext& ctx) {
  log_stats(ctx, "on_train_batch_start", ctx.batches_that_stepped + 1);
}

void DeviceStatsMonitor::on_train_batch_end(const CallbackContext& ctx) {
  log_stats(ctx, "on_train_batch_end", ctx.batches_that_stepped + 1);
}

// In a validation, the sanity check's too, should_update_logs counts the evaluation's batches so far
// (trainer._active_loop is the validation loop then).
void DeviceStatsMonitor::on_validation_batch_start(const CallbackContext& ctx) {
  log_stats(ctx, "on_validation_batch_start", ctx.eval_batches_ready);
}

void DeviceStatsMonitor::on_validation_batch_end(const CallbackContext& ctx) {
  log_stats(ctx, "on_validation_batch_end", ctx.eval_batches_ready);
}

std::string device_stats_refusal(const Callbacks& callbacks, bool on_gpu) {
  if (!on_gpu) return "";
  for (const auto& cb : callbacks.list())
    if (dynamic_cast<const DeviceStatsMonitor*>(cb.get()))
      return "DeviceStatsMonitor on the GPU is not supported yet (Lightning logs torch.cuda.memory_stats() there, the "
             "statistics of torch's caching allocator, which the program does not use): train on the CPU "
             "(trainer.accelerator \"cpu\"), or leave the callback out";
  return "";
}

}  // namespace ltrt
