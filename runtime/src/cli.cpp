// Command line parsing for generated programs.
#include "ltrt/cli.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "ltrt/callbacks.hpp"
#include "ltrt/config_reader.hpp"
#include "ltrt/json.hpp"
#include "ltrt/trainer_config.hpp"
#include "ltrt/optimizer.hpp"

namespace ltrt {
namespace {

// Options that can be set when the program runs.
const char* const kRuntimeOptions[] = {
    "help",
    "print_config",
    "seed_everything",
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.log_every_n_steps",
    "trainer.default_root_dir",
    "trainer.enable_progress_bar",
    "trainer.enable_checkpointing",
    "data.train.x", "data.train.y", "data.train.path", "data.train.images", "data.train.labels",
    "data.val.x", "data.val.y", "data.val.path", "data.val.images", "data.val.labels",
    "data.test.x", "data.test.y", "data.test.path", "data.test.images", "data.test.labels",
    "data.predict.x", "data.predict.path", "data.predict.images", "data.predict.prompt",
    "init_weights",
    "ckpt_path",
    "predictions_path",
};

// data fields of the spec that are fixed (the batch size is compiled in).
const char* const kFixedDataFields[] = {
    "batch_size",          "shuffle",          "drop_last",
    "num_workers",         "pin_memory",       "persistent_workers",
    "prefetch_factor",     "train.source",     "train.num_samples",
    "train.target_column", "train.header",     "train.context_length",
    "train.scale",         "train.transforms", "train.shape",
};

// Top-level spec sections that are fixed as a whole.
const char* const kFixedSections[] = {"model", "optimizer", "lr_scheduler", "hooks", "name"};

// A command-line value as JSON: numbers, booleans (also Python's True/False)
// and null as such (also Python's None and YAML's ~, Null and NULL, as LightningCLI reads them),
// anything else as a string (hexadecimal numbers too: neither YAML nor Python's float() reads
// 0x1p-3); for the trainer's logger and callbacks an object or list in JSON
// (LightningCLI's --trainer.logger='{"class_path": ...}').
json::Value override_value(const std::string& key, const std::string& text) {
  if ((key == "trainer.logger" || key == "trainer.callbacks" || key == "seed_everything") && !text.empty() &&
      (text[0] == '{' || text[0] == '[')) {
    try {
      return json::parse(text);
    } catch (const Error& e) {
      throw UsageError("--" + key + ": a value that starts with '" + text.substr(0, 1) + "' is read as JSON (keys and "
                       "strings in double quotes): " + e.what());
    }
  }
  if (text == "True" || text == "true") return json::Value::make_bool(true);
  if (text == "False" || text == "false") return json::Value::make_bool(false);
  if (text == "None" || text == "null" || text == "Null" || text == "NULL" || text == "~")
    return json::Value::make_null();
  if (!text.empty() && text.find_first_of("xX") == std::string::npos) {
    char* end = nullptr;
    errno = 0;
    if (text.find_first_of(".eEnN") == std::string::npos) {
      const long long i = std::strtoll(text.c_str(), &end, 10);
      if (*end == '\0' && errno == 0) return json::Value::make_integer(i);
    } else {
      const double d = std::strtod(text.c_str(), &end);
      if (*end == '\0' && errno == 0) return json::Value::make_number(d);
    }
  }
  return json::Value::make_string(text);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool is_fixed(const std::string& key) {
  for (const char* section : kFixedSections) {
    if (key == section || starts_with(key, std::string(section) + ".")) return true;
  }
  if (starts_with(key, "data.")) {
    const std::string field = key.substr(5);
    for (const char* f : kFixedDataFields) {
      if (field == f) return true;
    }
    for (const char* split : {"val.", "test.", "predict."}) {
      if (starts_with(field, split)) return true;
    }
  }
  if (starts_with(key, "trainer.")) return trainer_field_is_fixed(key.substr(8));
  return false;
}

std::string nearest_option(const std::string& key) {
  // An abbreviation ("--seed") means the shortest option it starts.
  std::string best;
  for (const char* option : kRuntimeOptions) {
    if (starts_with(option, key) && (best.empty() || std::strlen(option) < best.size())) best = option;
  }
  if (!best.empty()) return best;
  // Only a near miss is worth suggesting.
  std::size_t best_distance = std::max<std::size_t>(3, key.size() / 3) + 1;
  for (const char* option : kRuntimeOptions) {
    const std::size_t d = edit_distance(key, option);
    if (d < best_distance) {
      best_distance = d;
      best = option;
    }
  }
  return best;
}



// --data.<split>.x.<input>: a model with several inputs names the one whose npy file it sets;
// the input's index in model.inputs, or -1 when `key` is not of that form.
int named_input(const std::string& key, const ModelDef& model) {
  for (const char* split : {"train", "val", "test", "predict"}) {
    const std::string prefix = std::string("data.") + split + ".x.";
    if (!starts_with(key, prefix)) continue;
    const std::string name = key.substr(prefix.size());
    if (name == model.input.name) return 0;
    for (int k = 0; k < model.num_other_inputs; ++k)
      if (name == model.other_inputs[k].name) return k + 1;
  }
  return -1;
}

// --data.<split>.<x|y|path|images|labels>: a path of the split's npy, csv or idx source
// (--data.<split>.x.<input>: of the npy file of that model input).
void set_data_path(const std::string& key, const std::string& value, FitConfig& fit, const ModelDef& model) {
  const std::string split = key.substr(5, key.find('.', 5) - 5);
  const int input = named_input(key, model);
  const std::string field = input >= 0 ? "x" : key.substr(key.rfind('.') + 1);
  if (input < 0 && field == "x" && model.num_other_inputs > 0) {
    std::string names = std::string("--data.") + split + ".x." + model.input.name;
    for (int k = 0; k < model.num_other_inputs; ++k) names += ", --data." + split + ".x." + model.other_inputs[k].name;
    throw UsageError("--" + key + ": the model has several inputs, each with its npy file: name the input (" + names +
                     ")");
  }
  DataSource& source = split == "train" ? fit.train : split == "val" ? fit.val : split == "test" ? fit.test : fit.predict;
  const DataSourceKind path_kind = source.kind == DataSourceKind::text ? DataSourceKind::text : DataSourceKind::csv;
  const DataSourceKind kind = field == "path"                        ? path_kind
                             : field == "images" || field == "labels" ? DataSourceKind::idx
                                                                      : DataSourceKind::npy;
  if (source.kind != kind) {
    throw UsageError(std::string("--") + key + " applies to " + data_source_kind_name(kind) +
                     " data sources, but the spec's data." + split + " source is " + data_source_kind_name(source.kind) +
                     "; change the spec and run ltgen again");
  }
  if (value.empty()) throw UsageError("--" + key + " needs a path");
  if (input > 0) {
    if (source.other_x_paths.size() < static_cast<std::size_t>(input)) source.other_x_paths.resize(input);
    source.other_x_paths[static_cast<std::size_t>(input - 1)] = value;
    return;
  }
  (field == "x"        ? source.x_path
   : field == "y"      ? source.y_path
   : field == "images" ? source.images_path
   : field == "labels" ? source.labels_path
   : kind == DataSourceKind::text ? source.text_path
                       : source.csv_path) = value;
}

bool parse_subcommand(const std::string& word, Subcommand& out) {
  for (Subcommand s : {Subcommand::fit, Subcommand::validate, Subcommand::test, Subcommand::predict}) {
    if (word == subcommand_name(s)) {
      out = s;
      return true;
    }
  }
  return false;
}

// LTGEN_DROPOUT_MASKS: "torch" (or unset) for torch's masks on the CPU, "counter" for the GPU's.
bool counter_dropout_masks() {
  const char* v = std::getenv("LTGEN_DROPOUT_MASKS");
  if (v == nullptr || std::string(v).empty() || std::string(v) == "torch") return false;
  if (std::string(v) == "counter") return true;
  throw UsageError(std::string("LTGEN_DROPOUT_MASKS=") + v +
                   ": expected \"torch\" (the CPU draws torch's dropout masks, the default) or \"counter\" (the "
                   "GPU's masks); unset it or set one of them");
}

// torch.optim's keyword arguments of `o` as JSON: lr first, maximize last.
json::Value optimizer_kwargs(const OptimizerConfig& o) {
  using json::Value;
  Value opt = Value::make_object();
  opt.set("lr", Value::make_number(o.lr));
  if (o.kind == OptimizerKind::sgd) {
    opt.set("momentum", Value::make_number(o.momentum));
    opt.set("dampening", Value::make_number(o.dampening));
    opt.set("nesterov", Value::make_bool(o.nesterov));
  } else if (o.kind == OptimizerKind::rmsprop) {
    opt.set("alpha", Value::make_number(o.alpha));
    opt.set("eps", Value::make_number(o.eps));
    opt.set("momentum", Value::make_number(o.momentum));
    opt.set("centered", Value::make_bool(o.centered));
  } else if (o.kind == OptimizerKind::rprop) {
    Value etas = Value::make_array();
    etas.push(Value::make_number(o.etaminus));
    etas.push(Value::make_number(o.etaplus));
    opt.set("etas", std::move(etas));
    Value sizes = Value::make_array();
    sizes.push(Value::make_number(o.step_size_min));
    sizes.push(Value::make_number(o.step_size_max));
    opt.set("step_sizes", std::move(sizes));
  } else if (o.kind == OptimizerKind::asgd) {
    opt.set("lambd", Value::make_number(o.lambd));
    opt.set("alpha", Value::make_number(o.alpha));
    opt.set("t0", Value::make_number(o.t0));
  } else if (o.kind == OptimizerKind::lbfgs) {
    opt.set("max_iter", Value::make_integer(o.max_iter));
    opt.set("max_eval", Value::make_integer(o.max_eval));
    opt.set("tolerance_grad", Value::make_number(o.tolerance_grad));
    opt.set("tolerance_change", Value::make_number(o.tolerance_change));
    opt.set("history_size", Value::make_integer(o.history_size));
    opt.set("line_search_fn", o.strong_wolfe ? Value::make_string("strong_wolfe") : Value());
  } else if (o.kind == OptimizerKind::adadelta) {
    opt.set("rho", Value::make_number(o.rho));
    opt.set("eps", Value::make_number(o.eps));
  } else if (o.kind == OptimizerKind::adagrad) {
    opt.set("lr_decay", Value::make_number(o.lr_decay));
    opt.set("initial_accumulator_value", Value::make_number(o.initial_accumulator_value));
    opt.set("eps", Value::make_number(o.eps));
  } else {
    Value betas = Value::make_array();
    betas.push(Value::make_number(o.beta1));
    betas.push(Value::make_number(o.beta2));
    opt.set("betas", std::move(betas));
    opt.set("eps", Value::make_number(o.eps));
    if (o.kind == OptimizerKind::adam || o.kind == OptimizerKind::adamw) opt.set("amsgrad", Value::make_bool(o.amsgrad));
    if (o.kind == OptimizerKind::nadam) opt.set("momentum_decay", Value::make_number(o.momentum_decay));
    if (o.kind == OptimizerKind::radam || o.kind == OptimizerKind::nadam)
      opt.set("decoupled_weight_decay", Value::make_bool(o.decoupled_weight_decay));
  }
  if (o.kind != OptimizerKind::rprop && o.kind != OptimizerKind::lbfgs)  // they have none
    opt.set("weight_decay", Value::make_number(o.weight_decay));
  opt.set("maximize", Value::make_bool(o.maximize));
  return opt;
}

}  // namespace

const char* subcommand_name(Subcommand s) {
  switch (s) {
    case Subcommand::fit: return "fit";
    case Subcommand::validate: return "validate";
    case Subcommand::test: return "test";
    case Subcommand::predict: return "predict";
  }
  return "?";
}

CliOptions parse_cli(int argc, const char* const* argv, const ModelDef& model) {
  CliOptions opts;
  opts.fit = FitConfig::from_model(model);
  // Trainer overrides patch the spec and go through the spec's own reader.
  json::Value spec = json::parse(model.spec_json ? model.spec_json : "{}");
  bool have_subcommand = false;

  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h") {
      opts.help = true;
      continue;
    }
    if (!starts_with(arg, "--")) {
      Subcommand s;
      if (!have_subcommand && parse_subcommand(arg, s)) {
        opts.subcommand = s;
        have_subcommand = true;
        continue;
      }
      if (have_subcommand) throw UsageError("unexpected argument '" + arg + "'");
      std::string best = "fit";
      for (const char* w : {"fit", "validate", "test", "predict"}) {
        if (edit_distance(arg, w) < edit_distance(arg, best)) best = w;
      }
      throw UsageError("unknown subcommand '" + arg + "'; did you mean '" + best +
                       "'? (subcommands: fit, validate, test, predict)");
    }

    std::string key = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (const std::size_t eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_value = true;
    }
    if (key == "help" || key == "print_config") {
      if (has_value && key == "help") throw UsageError("--help takes no value");
      (key == "help" ? opts.help : opts.print_config) = true;
      continue;
    }

    if (key == "seed_everything" || (starts_with(key, "trainer.") && !is_fixed(key))) {
      if (!has_value) {
        if (i + 1 >= argc) throw UsageError("--" + key + " needs a value (--" + key + "=VALUE)");
        value = argv[++i];
      }
      if (key == "seed_everything") {
        // A bare seed keeps the spec's workers ({"seed": N, "workers": true}).
        json::Value seed = override_value(key, value);
        const json::Value* now = spec.find("seed_everything");
        if (now && now->is_object() && !seed.is_object()) {
          json::Value kept = *now;
          kept.set("seed", std::move(seed));
          seed = std::move(kept);
        }
        spec.set("seed_everything", std::move(seed));
      } else {
        if (!spec.find("trainer")) spec.set("trainer", json::Value::make_object());
        json::Value& trainer = const_cast<json::Value&>(*spec.find("trainer"));
        trainer.set(key.substr(8), override_value(key, value));
      }
      continue;
    }

    const bool known = named_input(key, model) >= 0 ||
                       std::find_if(std::begin(kRuntimeOptions), std::end(kRuntimeOptions),
                                    [&](const char* o) { return key == o; }) != std::end(kRuntimeOptions);
    if (!known) {
      if (is_fixed(key)) {
        throw UsageError("--" + key + " is fixed when the program is generated; change the spec and run ltgen again");
      }
      const std::string near = nearest_option(key);
      throw UsageError("unknown option --" + key + (near.empty() ? "" : "; did you mean --" + near + "?") +
                       " (see --help)");
    }
    if (!has_value) {
      if (i + 1 >= argc) throw UsageError("--" + key + " needs a value (--" + key + "=VALUE)");
      value = argv[++i];
    }

    FitConfig& f = opts.fit;
    if (key == "data.predict.prompt") {
      if (f.predict.kind != DataSourceKind::prompt)
        throw UsageError(std::string("--data.predict.prompt applies to prompt sources, but the spec's data.predict "
                                     "source is ") + data_source_kind_name(f.predict.kind) +
                         "; change the spec and run ltgen again");
      if (value.empty()) throw UsageError("--data.predict.prompt needs at least one character");
      f.predict.prompt = value;
    } else if (starts_with(key, "data.")) {
      set_data_path(key, value, f, model);
    } else if (key == "predictions_path") {
      if (value.empty()) throw UsageError("--predictions_path needs a path");
      f.predictions_path = value;
    } else if (key == "init_weights") {
      if (value.empty()) throw UsageError("--init_weights needs a file");
      f.init_weights = value;
    } else if (key == "ckpt_path") {
      if (value.empty()) throw UsageError("--ckpt_path needs a path");
      f.ckpt_path = value;  // last/best are resolved once the trainer section is read
    }
  }
  try {
    opts.fit.trainer = read_trainer_config(spec, group_lrs(model), optimizer_momentum(model.optimizer));
    // checks overrides of max_time, enable_checkpointing and enable_progress_bar against the callbacks
    Callbacks::read(spec, opts.fit.trainer.enable_checkpointing, opts.fit.trainer.enable_progress_bar);
  } catch (const ConfigError& e) {
    throw UsageError("--" + e.path + ": " + e.message);
  }
  opts.fit.spec = spec;
  opts.fit.counter_dropout_masks = counter_dropout_masks();
  return opts;
}

std::string usage(const ModelDef& model) {
  const std::string name = model.name ? model.name : "program";
  std::string s;
  s += "usage: " + name + " [fit|validate|test|predict] [options]\n\n";
  s += "Trains, validates, tests or predicts with the model of spec '" + name + "', like LightningCLI's\n";
  s += "subcommands (fit is the default). Options take --key=value or --key value.\n\n";
  s += "options:\n";
  s += "  --help                               show this message and exit\n";
  s += "  --print_config                       print the resolved configuration as JSON and exit\n";
  s += "  --seed_everything=N                  seed of all random generators (spec: " +
       std::to_string(FitConfig::from_model(model).trainer.seed) + ")\n";
  s += "  --trainer.max_epochs=N               stop after N epochs (-1: unset)\n";
  s += "  --trainer.max_steps=N                stop after N optimizer steps (-1: no limit)\n";
  s += "  --trainer.log_every_n_steps=N        write train_loss to metrics.csv every N steps\n";
  s += "  --trainer.default_root_dir=PATH      where lightning_logs/ goes\n";
  s += "  --trainer.enable_progress_bar=BOOL   true or false\n";
  s += "  --trainer.enable_checkpointing=BOOL  true or false\n";
  s += "  --trainer.NAME=VALUE                 any other trainer argument the spec may set\n";
  if (model.data.train.kind == DataSourceKind::npy && model.num_other_inputs > 0) {
    s += "  --data.train.x.INPUT=PATH            training values of model input INPUT (.npy; the model has several)\n";
    s += "  --data.train.y=PATH                  training targets (.npy)\n";
  } else if (model.data.train.kind == DataSourceKind::npy) {
    s += "  --data.train.x=PATH                  training inputs (.npy)\n";
    s += "  --data.train.y=PATH                  training targets (.npy)\n";
  } else if (model.data.train.kind == DataSourceKind::csv) {
    s += "  --data.train.path=PATH               training data (.csv)\n";
  } else if (model.data.train.kind == DataSourceKind::idx) {
    s += "  --data.train.images=PATH             training images (IDX, e.g. train-images-idx3-ubyte[.gz])\n";
    s += "  --data.train.labels=PATH             training labels (IDX, e.g. train-labels-idx1-ubyte[.gz])\n";
  } else if (model.data.train.kind == DataSourceKind::text) {
    s += "  --data.train.path=PATH               training corpus (text, plain or .gz)\n";
  }
  s += "  --init_weights=FILE                  initial weights (.safetensors, names as in model.state_dict())\n";
  s += "  --ckpt_path=PATH|last|best           fit: resume from it; validate/test/predict: its weights\n";
  s += "  --data.<split>.x=PATH, .y=, .path=   data files of train/val/test/predict (npy, csv or text sources)\n";
  s += "  --data.<split>.images=PATH, .labels= data files of train/val/test/predict (idx sources)\n";
  if (model.data.predict.kind == DataSourceKind::prompt) {
    s += "  --data.predict.prompt=TEXT           predict: the text generation starts from\n";
    s += "  --predictions_path=PATH              predict: the text written (default <default_root_dir>/predictions.txt)\n\n";
  } else {
    s += "  --predictions_path=PATH              predict: the .npy written (default <default_root_dir>/predictions.npy)\n\n";
  }
  s += "Shapes, layers, batch size, precision, optimizer and the other spec fields are fixed when the\n";
  s += "program is generated; change the spec and run ltgen again.\n";
  return s;
}

std::string config_json(const CliOptions& options, const ModelDef& model) {
  using json::Value;
  const FitConfig& f = options.fit;
  Value root = Value::make_object();
  root.set("subcommand", Value::make_string(subcommand_name(options.subcommand)));
  root.set("name", Value::make_string(model.name ? model.name : ""));
  root.set("spec_hash", Value::make_string(model.spec_hash ? model.spec_hash : ""));
  if (f.trainer.seed_workers) {
    Value seed = Value::make_object();
    seed.set("seed", Value::make_integer(f.trainer.seed));
    seed.set("workers", Value::make_bool(true));
    root.set("seed_everything", std::move(seed));
  } else {
    root.set("seed_everything", Value::make_integer(f.trainer.seed));
  }
  root.set("trainer", trainer_config_json(f.trainer));
  // A group's parameters by name.
  const auto names_in = [&](const ParamGroupDef& pg) {
    Value names = Value::make_array();
    for (int k = 0; k < model.num_params; ++k) {
      const auto at = static_cast<std::int64_t>(model.params[k].flat_index);
      if (at >= pg.begin && at < pg.begin + pg.count) names.push(Value::make_string(model.params[k].value.name));
    }
    return names;
  };
  // The groups configure_optimizers makes; BackboneFinetuning adds the last one at its epoch.
  const int configured_groups = configured_param_groups(model);
  if (model.num_frozen_elements > 0 || model.backbone_group) {
    Value m = Value::make_object();
    if (model.num_frozen_elements > 0) {  // model.freeze: the parameters it froze, by name
      Value frozen = Value::make_array();
      for (int k = 0; k < model.num_params; ++k)
        if (is_frozen(model, model.params[k])) frozen.push(Value::make_string(model.params[k].value.name));
      m.set("frozen", std::move(frozen));
    }
    // model.backbone: the parameters of the group BackboneFinetuning adds (BatchNorm's under
    // train_bn are in the groups above)
    if (model.backbone_group) m.set("backbone", names_in(model.param_groups[configured_groups]));
    root.set("model", std::move(m));
  }

  Value data = Value::make_object();
  data.set("batch_size", Value::make_integer(model.data.batch_size));
  data.set("shuffle", Value::make_bool(model.data.shuffle));
  data.set("drop_last", Value::make_bool(model.data.drop_last));
  Value train = Value::make_object();
  train.set("source", Value::make_string(data_source_kind_name(f.train.kind)));
  switch (f.train.kind) {
    case DataSourceKind::randn:
      train.set("num_samples", Value::make_integer(f.train.num_samples));
      break;
    case DataSourceKind::npy:
      if (model.num_other_inputs == 0) {
        train.set("x", Value::make_string(f.train.x_path));
      } else {  // a file per model input, by name, as the spec gives them
        Value x = Value::make_object();
        x.set(model.input.name, Value::make_string(f.train.x_path));
        for (int k = 0; k < model.num_other_inputs; ++k)
          x.set(model.other_inputs[k].name,
                Value::make_string(static_cast<std::size_t>(k) < f.train.other_x_paths.size()
                                       ? f.train.other_x_paths[static_cast<std::size_t>(k)]
                                       : ""));
        train.set("x", std::move(x));
      }
      train.set("y", Value::make_string(f.train.y_path));
      break;
    case DataSourceKind::csv:
      train.set("path", Value::make_string(f.train.csv_path));
      train.set("target_column", Value::make_string(f.train.target_column));
      train.set("header", Value::make_bool(f.train.csv_header));
      break;
    case DataSourceKind::idx:
      train.set("images", Value::make_string(f.train.images_path));
      train.set("labels", Value::make_string(f.train.labels_path));
      train.set("scale", Value::make_number(f.train.idx_scale));
      break;
    case DataSourceKind::text:
      train.set("path", Value::make_string(f.train.text_path));
      break;
    case DataSourceKind::none:
    case DataSourceKind::prompt:  // a predict source only: the spec reader refuses it for training
      break;
  }
  data.set("train", std::move(train));
  root.set("data", std::move(data));

  const OptimizerConfig& o = model.optimizer;
  Value opt = Value::make_object();
  opt.set("type", Value::make_string(optimizer_name(o.kind)));
  const Value kwargs = optimizer_kwargs(o);
  for (const auto& [key, value] : kwargs.members) opt.set(key, value);
  if (model.num_param_groups > 0) {  // as torch.optim lists them: each group's parameters by name
    Value groups = Value::make_array();
    for (int g = 0; g < configured_groups; ++g) {
      const ParamGroupDef& pg = model.param_groups[g];
      Value group = Value::make_object();
      group.set("params", names_in(pg));
      group.set("lr", Value::make_number(pg.lr));
      group.set("weight_decay", Value::make_number(pg.weight_decay));
      for (const auto& [key, value] : optimizer_kwargs(group_config(model, pg)).members)  // its own betas, ...
        if (key != "lr" && key != "weight_decay" && json::write(value) != json::write(*kwargs.find(key)))
          group.set(key, value);
      if (pg.name) group.set("name", Value::make_string(pg.name));
      groups.push(std::move(group));
    }
    opt.set("param_groups", std::move(groups));
  }
  root.set("optimizer", std::move(opt));
  // The LR scheduler as the spec gives it (fixed at generation time, like the optimizer), null for none.
  {
    const json::Value spec = json::parse(model.spec_json ? model.spec_json : "{}");
    const json::Value* sched = spec.find("lr_scheduler");
    root.set("lr_scheduler", sched ? *sched : Value::make_null());
  }

  root.set("init_weights", f.init_weights.empty() ? Value::make_null() : Value::make_string(f.init_weights));
  root.set("ckpt_path", f.ckpt_path.empty() ? Value::make_null() : Value::make_string(f.ckpt_path));
  return json::write(root, 2) + "\n";
}

}  // namespace ltrt
