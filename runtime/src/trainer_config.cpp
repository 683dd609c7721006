// Reading and checking the spec's trainer and lr_scheduler sections.
#include "ltrt/trainer_config.hpp"

#include <algorithm>
#include <cmath>

#include "ltrt/config_reader.hpp"

namespace ltrt {

namespace {

// Lightning Trainer arguments ltgen knows but does not implement: naming
// them gives "not supported yet" rather than "unknown key".
const char* const kNotYet[] = {"barebones", "plugins"};

const char* const kFixed[] = {"accelerator", "devices", "precision", "strategy", "num_nodes", "detect_anomaly",
                               "sync_batchnorm"};

// An int counts batches, a float in [0, 1] is a fraction (Lightning's _determine_batch_limits).
BatchCount read_batch_count(ConfigObject& t, const std::string& key, BatchCount def) {
  const json::Value* v = t.get(key);
  if (!v || v->kind == json::Kind::null) return def;
  if (v->kind != json::Kind::number) t.fail(key, "expected an int (batches) or a float (a fraction), got " + describe(*v));
  BatchCount c;
  if (v->is_integer) {
    if (v->integer < 0) t.fail(key, "must not be negative, got " + std::to_string(v->integer));
    c.is_fraction = false;
    c.count = v->integer;
  } else {
    if (!(v->num >= 0.0 && v->num <= 1.0))
      t.fail(key, "a float must be a fraction in [0.0, 1.0], got " + json::write(*v) + "; use an int for a number of batches");
    c.fraction = v->num;
  }
  return c;
}

// trainer.profiler: null, "simple", or LightningCLI's {"class_path": "SimpleProfiler", "init_args":
// {...}}; Lightning's other profilers are not supported yet.
ProfilerConfig read_profiler(const json::Value& v, const std::string& path) {
  ProfilerConfig p;
  if (v.kind == json::Kind::null) return p;
  const std::string others = " is not supported yet: use \"simple\" (Lightning's SimpleProfiler)";
  if (v.kind == json::Kind::string) {
    if (v.str != "simple") {
      if (v.str == "advanced" || v.str == "pytorch" || v.str == "xla") throw ConfigError(path, v.pos, "\"" + v.str + "\"" + others);
      throw ConfigError(path, v.pos, "expected \"simple\", null or {\"class_path\": \"SimpleProfiler\", \"init_args\": {...}}, got \"" +
                        v.str + "\"");
    }
    p.enabled = true;
    return p;
  }
  if (v.kind != json::Kind::object)
    throw ConfigError(path, v.pos, "expected \"simple\", null or {\"class_path\": \"SimpleProfiler\", \"init_args\": {...}}, got " +
                      describe(v));
  ConfigObject o(v, path);
  const std::string cls = o.string("class_path", "");
  const std::string name = cls.substr(cls.find_last_of('.') + 1);
  if (name == "AdvancedProfiler" || name == "PyTorchProfiler" || name == "XLAProfiler" || name == "PassThroughProfiler")
    o.fail("class_path", "\"" + cls + "\"" + others);
  if (name != "SimpleProfiler" || (cls != name && cls != "lightning.pytorch.profilers.SimpleProfiler" &&
                                   cls != "pytorch_lightning.profilers.SimpleProfiler"))
    o.fail("class_path", "expected \"SimpleProfiler\" (lightning.pytorch.profilers'), got \"" + cls + "\"");
  p.enabled = true;
  if (const json::Value* args = o.get("init_args")) {
    ConfigObject a(*args, o.path_of("init_args"));
    p.dirpath = a.string("dirpath", "");
    p.filename = a.string("filename", "");
    for (const std::string* s : {&p.dirpath, &p.filename})
      for (unsigned char ch : *s)
        if (ch < 0x20 || ch == 0x7f) a.fail(s == &p.dirpath ? "dirpath" : "filename", "contains a control character");
    if (p.filename.find('/') != std::string::npos) a.fail("filename", "is a file name in dirpath: no '/'");
    p.extended = a.boolean("extended", true);
    a.finish();
  }
  o.finish();
  return p;
}

void read_scheduler(const json::Value& spec, const std::vector<double>& group_lrs, const OptimizerMomentum& optimizer,
                    TrainerConfig& c) {
  const json::Value* section = spec.find("lr_scheduler");
  if (!section || section->kind == json::Kind::null) return;
  ConfigObject s(*section, "lr_scheduler");
  std::vector<std::string> types;
  for (const auto& [name, args] : scheduler_arguments()) types.push_back(name);
  const std::string type = s.string("type", "", types);
  if (type.empty()) s.fail_here("missing required key 'type' (a torch.optim.lr_scheduler class name)");
  // Lightning's scheduler-config keys beside the scheduler's own arguments.
  c.scheduler_interval = s.string("interval", "epoch", {"epoch", "step"}, false);
  c.scheduler_frequency = s.integer("frequency", 1, 1);
  c.scheduler_monitor = s.string("monitor", type == "ReduceLROnPlateau" ? "val_loss" : "");
  c.scheduler_strict = s.boolean("strict", true);
  if (const json::Value* name = s.get("name"); name && !name->is_null()) {  // LearningRateMonitor's key
    if (!name->is_string() || name->str.empty())
      s.fail("name", "expected a non-empty string (LearningRateMonitor's key instead of lr-<Optimizer>), or null");
    c.scheduler_name = name->str;
  }
  SchedulerSpec sched;
  sched.type = type;
  sched.args = json::Value::make_object();
  for (const auto& [name, args] : scheduler_arguments()) {
    if (name != type) continue;
    for (const auto& a : args)
      if (const json::Value* v = s.get(a.name)) sched.args.set(a.name, *v);
  }
  s.finish();
  try {
    // Checks the arguments as torch's constructor would, for every parameter group's scheduler.
    const int groups = static_cast<int>(group_lrs.size());
    for (int g = 0; g < groups; ++g)
      LrScheduler::create(group_scheduler_spec(sched, g, groups), group_lrs[static_cast<std::size_t>(g)], optimizer);
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    s.fail_here(e.what());
  }
  c.scheduler = sched;
}

}  // namespace

std::int64_t BatchCount::of(std::int64_t n) const {
  if (!is_fraction) return std::min(n, count);
  return static_cast<std::int64_t>(static_cast<double>(n) * fraction);
}

bool trainer_field_is_fixed(const std::string& name) {
  return std::find(std::begin(kFixed), std::end(kFixed), name) != std::end(kFixed);
}

TrainerConfig read_trainer_config(const json::Value& spec, const std::vector<double>& group_lrs,
                                  const OptimizerMomentum& optimizer) {
  TrainerConfig c;
  // seed_everything(seed) as the seed, seed_everything(seed, workers=True) as {"seed": N, "workers":
  // true}: then Lightning gives every DataLoader its pl_worker_init_function, which seeds the workers.
  if (const json::Value* seed = spec.find("seed_everything"); seed && seed->kind != json::Kind::null) {
    const json::Value* value = seed;
    std::string path = "seed_everything";
    if (seed->is_object()) {
      ConfigObject s(*seed, path);
      value = &s.require("seed");
      c.seed_workers = s.boolean("workers", false);
      s.finish();
      path += ".seed";
    }
    // (seed_everything(None, workers=True) seeds with 0, as a null seed_everything does)
    c.seed = value->is_null() ? 0 : read_integer(*value, path, 0);
    if (c.seed > 4294967295)  // Lightning's seed_everything raises ValueError there (numpy's uint32 seeds)
      throw ConfigError(path, value->pos,
                        std::to_string(c.seed) + " is out of bounds: seeds go from 0 to 4294967295, as numpy's do");
  }
  read_scheduler(spec, group_lrs, optimizer, c);
  const json::Value* section = spec.find("trainer");
  if (!section) return c;
  ConfigObject t(*section, "trainer");
  c.max_epochs = t.integer("max_epochs", -1, -1);
  c.min_epochs = t.integer("min_epochs", -1, -1);
  c.max_steps = t.integer("max_steps", -1, -1);
  c.min_steps = t.integer("min_steps", -1, -1);
  t.get("max_time");  // a Timer callback: read by Callbacks::read
  c.limit_train_batches = read_batch_count(t, "limit_train_batches", c.limit_train_batches);
  c.limit_val_batches = read_batch_count(t, "limit_val_batches", c.limit_val_batches);
  c.limit_test_batches = read_batch_count(t, "limit_test_batches", c.limit_test_batches);
  c.limit_predict_batches = read_batch_count(t, "limit_predict_batches", c.limit_predict_batches);
  c.val_check_interval = read_batch_count(t, "val_check_interval", c.val_check_interval);
  if (c.val_check_interval.is_fraction ? c.val_check_interval.fraction == 0 : c.val_check_interval.count == 0)
    t.fail("val_check_interval", "must be positive; to turn validation off set limit_val_batches to 0");
  if (const json::Value* v = t.get("check_val_every_n_epoch"))
    c.check_val_every_n_epoch = v->kind == json::Kind::null ? -1 : read_integer(*v, "trainer.check_val_every_n_epoch", 1);
  c.num_sanity_val_steps = t.integer("num_sanity_val_steps", 2, -1);
  c.reload_dataloaders_every_n_epochs = t.integer("reload_dataloaders_every_n_epochs", 0, 0);
  c.accumulate_grad_batches = t.integer("accumulate_grad_batches", 1, 1);
  c.gradient_clip_val = t.number("gradient_clip_val", 0.0, 0.0, HUGE_VAL);
  c.gradient_clip_algorithm = t.string("gradient_clip_algorithm", "norm", {"norm", "value"});
  if (const json::Value* v = t.get("fast_dev_run"); v && v->kind != json::Kind::null) {
    if (v->kind == json::Kind::boolean) c.fast_dev_run = v->b ? 1 : 0;
    else c.fast_dev_run = read_integer(*v, "trainer.fast_dev_run", 0);
  }
  c.overfit_batches = read_batch_count(t, "overfit_batches", c.overfit_batches);
  c.log_every_n_steps = t.integer("log_every_n_steps", 50, 1);
  c.default_root_dir = t.string("default_root_dir", ".");
  if (c.default_root_dir.empty()) t.fail("default_root_dir", "must not be empty");
  for (unsigned char ch : c.default_root_dir)
    if (ch < 0x20 || ch == 0x7f) t.fail("default_root_dir", "path contains a control character");
  c.enable_progress_bar = t.boolean("enable_progress_bar", true);
  c.enable_checkpointing = t.boolean("enable_checkpointing", true);
  c.enable_model_summary = t.boolean("enable_model_summary", true);
  if (const json::Value* v = t.get("logger"); v && v->kind != json::Kind::null) {
    if (v->kind == json::Kind::boolean) c.logger = v->b;
    else c.loggers = read_loggers(*v, t.path_of("logger"));
  }
  t.get("callbacks");  // read by Callbacks::read
  if (const json::Value* v = t.get("profiler")) c.profiler = read_profiler(*v, t.path_of("profiler"));
  c.deterministic = t.boolean("deterministic", false);
  c.detect_anomaly = t.boolean("detect_anomaly", false);
  c.sync_batchnorm = t.boolean("sync_batchnorm", false);
  c.use_distributed_sampler = t.boolean("use_distributed_sampler", true);
  c.inference_mode = t.boolean("inference_mode", true);
  if (const json::Value* v = t.get("benchmark"); v && v->kind != json::Kind::null) {
    if (v->kind != json::Kind::boolean) t.fail("benchmark", "expected true, false or null, got " + describe(*v));
    c.benchmark = v->b;
  }
  c.accelerator = t.string("accelerator", "auto", {"auto", "cpu", "gpu", "cuda"});
  if (c.accelerator == "cuda") c.accelerator = "gpu";  // Lightning's two names for one accelerator
  c.strategy = t.string("strategy", "auto", {"auto", "ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "fsdp", "deepspeed"});
  if (c.strategy != "auto" && c.strategy != "ddp")
    t.fail("strategy", "\"" + c.strategy + "\" is not supported yet: use \"ddp\" (processes launched with mpirun) or \"auto\"");
  c.num_nodes = static_cast<int>(std::min<std::int64_t>(t.integer("num_nodes", 1, 1), 4097));
  if (c.num_nodes > 4096) t.fail("num_nodes", "at most 4096 nodes");
  if (const json::Value* d = t.get("devices")) {
    // Lightning's devices=[k] (the GPU with index k) or [k, l, ...] (one process a GPU, DDP);
    // devices=N: N processes (DDP), on the CPU or on GPUs 0..N-1 of each node.
    const bool indices = d->kind == json::Kind::array && !d->items.empty() &&
                         std::all_of(d->items.begin(), d->items.end(), [](const json::Value& item) {
                           return item.kind == json::Kind::number && item.is_integer && item.integer >= 0 &&
                                  item.integer < 65536;
                         });
    // Lightning's CPU parsing takes "2" as 2 (processes).
    const bool digits = d->kind == json::Kind::string && !d->str.empty() && d->str.size() < 6 &&
                        d->str.find_first_not_of("0123456789") == std::string::npos;
    const std::int64_t n = digits ? std::stoll(d->str) : d->kind == json::Kind::number && d->is_integer ? d->integer : 0;
    const bool count = ((d->kind == json::Kind::number && d->is_integer) || digits) && (n >= 1 || n == -1);
    if (!indices && !count && !(d->kind == json::Kind::string && d->str == "auto"))
      t.fail("devices", "expected a number of devices (1, or N processes: DDP), \"auto\" or [INDEX, ...] (GPU indices), got " +
                            describe(*d));
    if (c.accelerator == "cpu" && (indices || n == -1))
      t.fail("devices", describe(*d) + " chooses GPUs; on the CPU devices is a number of processes (1, or N for DDP)");
    if (n == -1)  // Lightning's "every GPU": as many processes as the machine has GPUs, known only when it runs
      t.fail("devices", "-1 (every GPU) is settled when the program runs, and ltgen fixes the number of processes "
                        "when it generates the program: give the number of GPUs (devices N) or their indices ([0, 1, ...])");
    if (indices) {
      if (d->items.size() > 4096) t.fail("devices", "at most 4096 GPUs per node");
      for (const json::Value& item : d->items) {
        const int k = static_cast<int>(item.integer);
        if (std::find(c.device_indices.begin(), c.device_indices.end(), k) != c.device_indices.end())
          t.fail("devices", "GPU " + std::to_string(k) + " is listed twice: each process trains on a GPU of its own");
        c.device_indices.push_back(k);
      }
      c.devices = static_cast<int>(c.device_indices.size());
    }
    if (count && n > 1) {
      if (n > 4096) t.fail("devices", "at most 4096 processes per node, got " + std::to_string(n));
      c.devices = static_cast<int>(n);
    }
  }
  if (const json::Value* p = t.get("precision")) {
    // Lightning's names and its short aliases ("32", 32, "bf16", "16", 16).
    std::string name = p->kind == json::Kind::string ? p->str
                       : p->kind == json::Kind::number && p->is_integer ? std::to_string(p->integer)
                                                                         : "";
    c.precision_given = name;
    if (name == "32") name = "32-true";
    if (name == "bf16") name = "bf16-mixed";
    if (name == "16") name = "16-mixed";
    if (name == "64") name = "64-true";
    if (name == "32-true") {
      c.precision = name;
    } else if (name == "bf16-mixed") {
      c.precision = name;  // on either device, with the CPU autocast's roundings (README "Mixed precision")
    } else if (name == "16-mixed" && c.accelerator == "cpu") {
      c.precision = "bf16-mixed";  // as Lightning's _check_and_init_precision, with its warning (backend.cpp)
    } else if (name == "16-mixed") {
      c.precision = name;  // float16 and a GradScaler on the GPU; bf16-mixed where "auto" finds none (backend.cpp)
    } else if (name == "64-true" || name == "bf16-true" || name == "16-true" ||
               name == "transformer-engine" || name == "transformer-engine-float16") {
      t.fail("precision", describe(*p) + " is not supported yet (supported: \"32-true\", \"bf16-mixed\" and \"16-mixed\")");
    } else {
      t.fail("precision", describe(*p) + ": expected one of \"32-true\", \"bf16-mixed\", \"16-mixed\", "
                          "\"64-true\", \"bf16-true\", \"16-true\" (Lightning's precision names)");
    }
  }
  for (const char* k : kNotYet) t.not_yet(k, std::string("trainer.") + k);
  t.finish();
  if (c.max_steps != -1 && c.min_steps != -1 && c.min_steps > c.max_steps)
    t.fail("min_steps", "is larger than max_steps");
  return c;
}

namespace {
json::Value batch_count_json(const BatchCount& b) {
  return b.is_fraction ? json::Value::make_number(b.fraction) : json::Value::make_integer(b.count);
}
json::Value optional_int(std::int64_t v) { return v == -1 ? json::Value::make_null() : json::Value::make_integer(v); }
}  // namespace

json::Value trainer_config_json(const TrainerConfig& c) {
  using json::Value;
  Value t = Value::make_object();
  // Lightning's _parse_loop_limits: no limit at all means 1000 epochs.
  t.set("max_epochs", Value::make_integer(c.max_epochs == -1 && c.max_steps == -1 ? 1000 : c.max_epochs));
  t.set("min_epochs", optional_int(c.min_epochs));
  t.set("max_steps", Value::make_integer(c.max_steps));
  t.set("min_steps", optional_int(c.min_steps));
  t.set("limit_train_batches", batch_count_json(c.limit_train_batches));
  t.set("limit_val_batches", batch_count_json(c.limit_val_batches));
  t.set("limit_test_batches", batch_count_json(c.limit_test_batches));
  t.set("limit_predict_batches", batch_count_json(c.limit_predict_batches));
  t.set("val_check_interval", batch_count_json(c.val_check_interval));
  t.set("check_val_every_n_epoch", optional_int(c.check_val_every_n_epoch));
  t.set("num_sanity_val_steps", Value::make_integer(c.num_sanity_val_steps));
  t.set("reload_dataloaders_every_n_epochs", Value::make_integer(c.reload_dataloaders_every_n_epochs));
  t.set("accumulate_grad_batches", Value::make_integer(c.accumulate_grad_batches));
  t.set("gradient_clip_val", c.gradient_clip_val == 0 ? Value::make_null() : Value::make_number(c.gradient_clip_val));
  t.set("gradient_clip_algorithm", Value::make_string(c.gradient_clip_algorithm));
  t.set("fast_dev_run", Value::make_integer(c.fast_dev_run));
  t.set("overfit_batches", batch_count_json(c.overfit_batches));
  t.set("log_every_n_steps", Value::make_integer(c.log_every_n_steps));
  t.set("default_root_dir", Value::make_string(c.default_root_dir));
  t.set("enable_progress_bar", Value::make_bool(c.enable_progress_bar));
  t.set("enable_checkpointing", Value::make_bool(c.enable_checkpointing));
  t.set("enable_model_summary", Value::make_bool(c.enable_model_summary));
  if (c.logger && !c.loggers.empty()) {
    Value list = Value::make_array();
    for (const LoggerSpec& l : c.loggers) list.items.push_back(l.to_json());
    t.set("logger", std::move(list));
  } else {
    t.set("logger", Value::make_bool(c.logger));
  }
  t.set("deterministic", Value::make_bool(c.deterministic));
  t.set("inference_mode", Value::make_bool(c.inference_mode));
  t.set("detect_anomaly", Value::make_bool(c.detect_anomaly));
  t.set("sync_batchnorm", Value::make_bool(c.sync_batchnorm));
  t.set("use_distributed_sampler", Value::make_bool(c.use_distributed_sampler));
  t.set("benchmark", c.benchmark ? Value::make_bool(*c.benchmark) : Value::make_null());
  if (!c.profiler.enabled) {
    t.set("profiler", Value::make_null());
  } else {
    Value args = Value::make_object();
    args.set("dirpath", c.profiler.dirpath.empty() ? Value::make_null() : Value::make_string(c.profiler.dirpath));
    args.set("filename", c.profiler.filename.empty() ? Value::make_null() : Value::make_string(c.profiler.filename));
    args.set("extended", Value::make_bool(c.profiler.extended));
    Value p = Value::make_object();
    p.set("class_path", Value::make_string("lightning.pytorch.profilers.SimpleProfiler"));
    p.set("init_args", args);
    t.set("profiler", p);
  }
  t.set("accelerator", Value::make_string(c.accelerator));
  t.set("precision", Value::make_string(c.precision));
  t.set("strategy", Value::make_string(c.strategy));
  if (c.device_indices.empty()) {
    t.set("devices", Value::make_integer(c.devices));
  } else {
    Value list = Value::make_array();
    for (int k : c.device_indices) list.items.push_back(Value::make_integer(k));
    t.set("devices", std::move(list));
  }
  t.set("num_nodes", Value::make_integer(c.num_nodes));
  return t;
}

}  // namespace ltrt
