// trainer.logger's CSVLogger and TensorBoardLogger entries (ltrt/logger_spec.hpp).
#include "ltrt/logger_spec.hpp"

#include <filesystem>

#include "ltrt/config_reader.hpp"

namespace ltrt {

namespace {

// Loggers Lightning has that ltgen does not write.
const char* const kNotYet[] = {"WandbLogger", "MLFlowLogger", "CometLogger", "NeptuneLogger", "LitLogger"};

// The class of a class_path: its last component, for lightning's and pytorch_lightning's loggers
// modules (lightning.pytorch.loggers.CSVLogger, ...loggers.csv_logs.CSVLogger) or a bare name.
// (Fabric's loggers take other arguments: not these.)
std::string class_of(const std::string& path) {
  for (const char* prefix : {"lightning.pytorch.loggers.", "pytorch_lightning.loggers."}) {
    const std::string p = prefix;
    if (path.compare(0, p.size(), p) == 0) return path.substr(path.find_last_of('.') + 1);
  }
  return path.find('.') == std::string::npos ? path : "";
}

// A path component or folder from the spec: no control characters (they reach file names).
std::string checked_path(ConfigObject& a, const std::string& key, const json::Value& v) {
  if (!v.is_string()) a.fail(key, "expected a string, got " + describe(v));
  for (unsigned char ch : v.str)
    if (ch < 0x20 || ch == 0x7f) a.fail(key, "contains a control character");
  return v.str;
}

LoggerSpec read_logger(const json::Value& entry, const std::string& path) {
  ConfigObject e(entry, path);
  const json::Value& cp = e.require("class_path");
  if (!cp.is_string()) e.fail("class_path", "expected a string, got " + describe(cp));
  const std::string name = class_of(cp.str);
  LoggerSpec s;
  if (name == "CSVLogger") {
    s.kind = LoggerSpec::Kind::csv;
  } else if (name == "TensorBoardLogger") {
    s.kind = LoggerSpec::Kind::tensorboard;
  } else {
    for (const char* n : kNotYet)
      if (name == n) e.fail("class_path", "the logger " + name + " is not supported yet (supported: CSVLogger, TensorBoardLogger)");
    e.fail("class_path", "unknown logger class '" + cp.str + "'" +
                             did_you_mean(name, {"CSVLogger", "TensorBoardLogger"}) +
                             " (supported: CSVLogger, TensorBoardLogger)");
  }
  const json::Value* args = e.get("init_args");
  e.finish();
  json::Value empty = json::Value::make_object();  // save_dir is then missing, at the entry's position
  empty.pos = entry.pos;
  ConfigObject a(args && !args->is_null() ? *args : empty, e.path_of("init_args"));
  // save_dir has no default in either class (a required argument).
  s.save_dir = checked_path(a, "save_dir", a.require("save_dir"));
  if (s.save_dir.empty()) a.fail("save_dir", "must not be empty (\".\" is the working directory)");
  // TensorBoardLogger expands them in its folder but not where checkpoints go: refused, not guessed.
  if (s.save_dir[0] == '~' || s.save_dir.find('$') != std::string::npos)
    a.fail("save_dir", "'~' and '$VAR' are not expanded: write the path out");
  if (const json::Value* n = a.get("name"); n && !n->is_null()) s.name = checked_path(a, "name", *n);
  else if (n) s.name = "";  // name=None
  if (const json::Value* v = a.get("version"); v && !v->is_null()) {
    if (v->is_number() && v->is_integer && v->integer >= 0) {
      s.version = "version_" + std::to_string(v->integer);
      s.version_number = v->integer;
    } else if (v->is_string()) {
      s.version = checked_path(a, "version", *v);
      if (s.version->empty()) a.fail("version", "must not be empty");
    } else {
      a.fail("version", "expected a non-negative integer or a string, got " + describe(*v));
    }
  }
  if (const json::Value* p = a.get("prefix"); p && !p->is_null()) s.prefix = checked_path(a, "prefix", *p);
  if (s.kind == LoggerSpec::Kind::csv) {
    s.flush_logs_every_n_steps = a.integer("flush_logs_every_n_steps", 100, 1);
  } else {
    s.default_hp_metric = a.boolean("default_hp_metric", true);
    if (a.boolean("log_graph", false))
      a.fail("log_graph", "TensorBoardLogger's log_graph is not supported yet (it traces the model in Python)");
    if (const json::Value* d = a.get("sub_dir"); d && !d->is_null()) {
      s.sub_dir = checked_path(a, "sub_dir", *d);
      if (s.sub_dir->empty()) a.fail("sub_dir", "must not be empty");
      if (s.sub_dir->front() == '~' || s.sub_dir->find('$') != std::string::npos)
        a.fail("sub_dir", "'~' and '$VAR' are not expanded: write the path out");
    }
  }
  a.finish();
  return s;
}

}  // namespace

std::string LoggerSpec::root_dir() const {
  return name.empty() ? save_dir : (std::filesystem::path(save_dir) / name).string();
}

json::Value LoggerSpec::to_json() const {
  json::Value init = json::Value::make_object();
  init.set("save_dir", json::Value::make_string(save_dir));
  init.set("name", name.empty() ? json::Value::make_null() : json::Value::make_string(name));
  init.set("version", version_number ? json::Value::make_integer(*version_number)
                     : version      ? json::Value::make_string(*version)
                                    : json::Value::make_null());
  init.set("prefix", json::Value::make_string(prefix));
  if (kind == Kind::csv) init.set("flush_logs_every_n_steps", json::Value::make_integer(flush_logs_every_n_steps));
  else init.set("default_hp_metric", json::Value::make_bool(default_hp_metric));
  if (kind == Kind::tensorboard) init.set("sub_dir", sub_dir ? json::Value::make_string(*sub_dir) : json::Value::make_null());
  json::Value v = json::Value::make_object();
  v.set("class_path", json::Value::make_string(std::string("lightning.pytorch.loggers.") + class_name()));
  v.set("init_args", std::move(init));
  return v;
}

std::vector<LoggerSpec> read_loggers(const json::Value& v, const std::string& path) {
  std::vector<LoggerSpec> out;
  if (v.is_object()) {
    out.push_back(read_logger(v, path));
  } else if (v.is_array()) {
    if (v.items.empty()) throw ConfigError(path, v.pos, "an empty list: write false for no logger");
    for (std::size_t i = 0; i < v.items.size(); ++i) {
      const std::string at = path + "[" + std::to_string(i) + "]";
      if (!v.items[i].is_object())
        throw ConfigError(at, v.items[i].pos, "expected a logger {\"class_path\": \"CSVLogger\" or \"TensorBoardLogger\", "
                                               "\"init_args\": {\"save_dir\": ...}}, got " + describe(v.items[i]));
      out.push_back(read_logger(v.items[i], at));
    }
  } else {
    throw ConfigError(path, v.pos,
                      "expected true (ltgen's CSV and TensorBoard logs), false (none), or a logger "
                      "{\"class_path\": \"CSVLogger\" or \"TensorBoardLogger\", \"init_args\": {\"save_dir\": ...}} "
                      "or a list of them; got " + describe(v));
  }
  return out;
}

}  // namespace ltrt
