// Reading and checking the spec's trainer section.
#include "ltrt/trainer_config.hpp"

#include <algorithm>

#include "ltrt/config_reader.hpp"

namespace ltrt {

namespace {

// Lightning Trainer arguments ltgen knows but does not implement yet: naming
// them gives "not supported yet" rather than "unknown key".
const char* const kNotYet[] = {
    "strategy", "num_nodes", "logger", "callbacks", "fast_dev_run", "min_epochs", "min_steps", "max_time",
    "limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
    "overfit_batches", "val_check_interval", "check_val_every_n_epoch", "num_sanity_val_steps",
    "enable_model_summary", "accumulate_grad_batches", "gradient_clip_val", "gradient_clip_algorithm",
    "benchmark", "inference_mode", "use_distributed_sampler", "profiler", "detect_anomaly", "barebones",
    "plugins", "sync_batchnorm", "reload_dataloaders_every_n_epochs"};

const char* const kFixed[] = {"accelerator", "devices", "precision", "strategy", "num_nodes"};

}  // namespace

bool trainer_field_is_fixed(const std::string& name) {
  return std::find(std::begin(kFixed), std::end(kFixed), name) != std::end(kFixed);
}

TrainerConfig read_trainer_config(const json::Value& spec) {
  TrainerConfig c;
  if (const json::Value* seed = spec.find("seed_everything"); seed && seed->kind != json::Kind::null)
    c.seed = read_integer(*seed, "seed_everything", 0);
  const json::Value* section = spec.find("trainer");
  if (!section) return c;
  ConfigObject t(*section, "trainer");
  c.max_epochs = t.integer("max_epochs", -1, -1);
  c.max_steps = t.integer("max_steps", -1, -1);
  c.log_every_n_steps = t.integer("log_every_n_steps", 50, 1);
  c.default_root_dir = t.string("default_root_dir", ".");
  if (c.default_root_dir.empty()) t.fail("default_root_dir", "must not be empty");
  for (unsigned char ch : c.default_root_dir)
    if (ch < 0x20 || ch == 0x7f) t.fail("default_root_dir", "path contains a control character");
  c.enable_progress_bar = t.boolean("enable_progress_bar", true);
  c.enable_checkpointing = t.boolean("enable_checkpointing", true);
  c.deterministic = t.boolean("deterministic", false);
  c.accelerator = t.string("accelerator", "auto", {"auto", "cpu", "gpu", "cuda"});
  if (c.accelerator == "gpu" || c.accelerator == "cuda")
    t.fail("accelerator", "the CUDA backend is not supported yet: use \"cpu\" or \"auto\"");
  if (const json::Value* d = t.get("devices")) {
    const bool ok = (d->kind == json::Kind::string && d->str == "auto") ||
                    (d->kind == json::Kind::number && d->is_integer && (d->integer == 1 || d->integer == -1));
    if (!ok) t.fail("devices", "only one device is supported yet (DDP is not): use 1 or \"auto\"");
  }
  if (const json::Value* p = t.get("precision")) {
    const bool ok = (p->kind == json::Kind::string && (p->str == "32-true" || p->str == "32")) ||
                    (p->kind == json::Kind::number && p->is_integer && p->integer == 32);
    if (!ok) t.fail("precision", describe(*p) + ": only \"32-true\" is supported yet (mixed precision is not)");
  }
  for (const char* k : kNotYet) t.not_yet(k, std::string("trainer.") + k);
  t.finish();
  return c;
}

json::Value trainer_config_json(const TrainerConfig& c) {
  using json::Value;
  Value t = Value::make_object();
  // Lightning's _parse_loop_limits: no limit at all means 1000 epochs.
  t.set("max_epochs", Value::make_integer(c.max_epochs == -1 && c.max_steps == -1 ? 1000 : c.max_epochs));
  t.set("max_steps", Value::make_integer(c.max_steps));
  t.set("log_every_n_steps", Value::make_integer(c.log_every_n_steps));
  t.set("default_root_dir", Value::make_string(c.default_root_dir));
  t.set("enable_progress_bar", Value::make_bool(c.enable_progress_bar));
  t.set("enable_checkpointing", Value::make_bool(c.enable_checkpointing));
  t.set("deterministic", Value::make_bool(c.deterministic));
  t.set("accelerator", Value::make_string(c.accelerator));
  t.set("precision", Value::make_string(c.precision));
  return t;
}

}  // namespace ltrt
