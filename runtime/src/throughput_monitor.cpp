// ThroughputMonitor with Lightning 2.x's rules (lightning/pytorch/callbacks/throughput_monitor.py,
// lightning/fabric/utilities/throughput.py), in fit.
#include "ltrt/throughput_monitor.hpp"

#include <regex>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"

namespace ltrt {

ThroughputMonitor::ThroughputMonitor(Options options) : o_(std::move(options)) {
  // Throughput: "at least 2 is enforced since it looks at the difference between the first and last elements"
  if (o_.window_size < 2) throw Error("ThroughputMonitor: window_size must be at least 2");
}

std::unique_ptr<ThroughputMonitor> ThroughputMonitor::read(ConfigObject& a) {
  Options o;
  const json::Value& fn = a.require("batch_size_fn");
  // A spec's batches are (inputs..., target) of one size: the lambdas that read it from the first.
  static const std::regex rows(R"(\s*lambda\s+([A-Za-z_]\w*)\s*:\s*(?:len\(\s*\1\s*\[\s*0\s*\]\s*\)|\1\s*\[\s*0\s*\]\s*\.\s*(?:size\(\s*0\s*\)|shape\s*\[\s*0\s*\]|size\(\s*dim\s*=\s*0\s*\)))\s*)");
  std::smatch m;
  if (!fn.is_string() || !std::regex_match(fn.str, m, rows))
    a.fail("batch_size_fn", "expected a Python lambda that gives a batch's size from its first tensor, such as "
                            "\"lambda batch: batch[0].size(0)\" (len(batch[0]) and batch[0].shape[0] too); got " +
                                describe(fn));
  o.batch_size_fn = fn.str;
  if (const json::Value* length = a.get("length_fn"); length && !length->is_null())
    a.fail("length_fn", "ThroughputMonitor's length_fn is not supported yet: remove it");
  if (const json::Value* flops = a.get("available_flops"); flops && !flops->is_null())
    a.fail("available_flops", "is not an argument of ThroughputMonitor (Lightning reads it from the device): remove it");
  o.window_size = a.integer("window_size", 100, 2);
  o.separator = a.string("separator", "/", {}, false);
  a.finish();
  return std::make_unique<ThroughputMonitor>(std::move(o));
}

void ThroughputMonitor::start(Stage& stage, double now) {
  stage.window.reset();  // fit resets each stage at its start
  stage.batches = stage.samples = 0;
  stage.t0 = now;
}

void ThroughputMonitor::on_train_start(const CallbackContext& ctx) {
  if (ctx.is_global_zero) start(train_, ctx.now());
}

void ThroughputMonitor::update(Stage& stage, const CallbackContext& ctx, std::int64_t rows) {
  if (ctx.synchronize) ctx.synchronize();  // a GPU's queued work counts in its batch's time
  const double elapsed = ctx.now() - stage.t0;
  if (!warned_flops_) {
    // The LightningModule is --emit lightning's Model, which has no flops_per_batch (nor has ltgen yet).
    ctx.emit_warning("When using the `ThroughputMonitor`, you need to define a `flops_per_batch` attribute or "
                     "property in Model to compute the FLOPs.");
    warned_flops_ = true;
  }
  stage.samples += rows;
  stage.batches += 1;
  auto push = [this](auto& window, auto value) {
    window.push_back(value);
    if (static_cast<std::int64_t>(window.size()) > o_.window_size) window.pop_front();
  };
  push(stage.window.time, elapsed);
  push(stage.window.batches, stage.batches);
  push(stage.window.samples, stage.samples);
}

std::vector<std::pair<std::string, double>> ThroughputMonitor::compute(const Stage& stage, const char* name,
                                                                       int world_size) const {
  const Window& w = stage.window;
  const std::string prefix = std::string(name) + o_.separator;
  std::vector<std::pair<std::string, double>> m = {{prefix + "time", w.time.back()},
                                                   {prefix + "batches", static_cast<double>(w.batches.back())},
                                                   {prefix + "samples", static_cast<double>(w.samples.back())}};
  if (static_cast<std::int64_t>(w.time.size()) == o_.window_size) {
    const double elapsed = w.time.back() - w.time.front();
    const double batches = static_cast<double>(w.batches.back() - w.batches.front());
    const double samples = static_cast<double>(w.samples.back() - w.samples.front());
    m.push_back({prefix + "device" + o_.separator + "batches_per_sec", batches / elapsed});
    m.push_back({prefix + "device" + o_.separator + "samples_per_sec", samples / elapsed});
    if (world_size > 1) {
      m.push_back({prefix + "batches_per_sec", batches / elapsed * world_size});
      m.push_back({prefix + "samples_per_sec", samples / elapsed * world_size});
    }
  }
  return m;
}

void ThroughputMonitor::on_train_batch_end(const CallbackContext& ctx) {
  if (!ctx.is_global_zero) return;
  update(train_, ctx, ctx.batch_rows);
  // Logged where the step's metrics are: after an accumulation group, when should_update_logs.
  if (!ctx.accumulating && ctx.should_update_logs(ctx.batches_that_stepped + 1))
    ctx.log_metrics(compute(train_, "train", ctx.world_size), std::nullopt);
}

void ThroughputMonitor::on_validation_start(const CallbackContext& ctx) {
  if (ctx.sanity_checking || !ctx.is_global_zero) return;
  start(validate_, ctx.now());
}

void ThroughputMonitor::on_validation_batch_end(const CallbackContext& ctx) {
  if (ctx.sanity_checking || !ctx.is_global_zero) return;
  update(validate_, ctx, ctx.batch_rows);
  if (ctx.should_update_logs(ctx.eval_batches_ready))
    ctx.log_metrics(compute(validate_, "validate", ctx.world_size), ctx.eval_batches_total);
}

void ThroughputMonitor::on_validation_end(const CallbackContext& ctx) {
  if (ctx.sanity_checking || !ctx.is_global_zero) return;
  // The validation's time is added to the training's start, so that it does not count as training.
  const double train_elapsed = train_.window.time.empty() ? 0.0 : train_.window.time.back();
  const double val_elapsed = validate_.window.time.empty() ? 0.0 : validate_.window.time.back();
  const double between = validate_.t0 - (train_.t0 + train_elapsed);
  train_.t0 += between + val_elapsed;
}

}  // namespace ltrt
