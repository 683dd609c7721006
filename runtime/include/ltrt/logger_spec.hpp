// trainer.logger: which of Lightning's loggers a program writes, and where. true is ltgen's
// default pair (CSVLogger and TensorBoardLogger in one lightning_logs/version_N), false none; an
// object {"class_path": ..., "init_args": {...}}, or a list of them, names CSVLogger and
// TensorBoardLogger with their arguments, as LightningCLI reads Trainer(logger=...).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ltrt/json.hpp"

namespace ltrt {

struct LoggerSpec {
  enum class Kind { csv, tensorboard };
  Kind kind = Kind::csv;
  std::string save_dir;
  std::string name = "lightning_logs";  // "" (Lightning's None too): the versions go straight into save_dir
  std::optional<std::string> version;   // the folder: "version_N" for an int, a string as given; else the next N
  std::optional<std::int64_t> version_number;  // N, when the spec gave an int
  std::string prefix;                   // joined to every metric's name with "-"
  std::int64_t flush_logs_every_n_steps = 100;  // CSVLogger
  bool default_hp_metric = true;                // TensorBoardLogger
  // TensorBoardLogger: its events and hparams.yaml go to version/sub_dir (its log_dir); checkpoints
  // still to version/checkpoints, as ModelCheckpoint builds that path from save_dir, name and version.
  std::optional<std::string> sub_dir;

  const char* class_name() const { return kind == Kind::csv ? "CSVLogger" : "TensorBoardLogger"; }
  // Where its versions live: save_dir/name, or save_dir without a name.
  std::string root_dir() const;
  // {"class_path": ..., "init_args": {...}} with every argument, for --print_config.
  json::Value to_json() const;
};

// trainer.logger when it is an object or a list (true, false and null are the caller's). Throws
// ConfigError naming the entry and the argument.
std::vector<LoggerSpec> read_loggers(const json::Value& v, const std::string& path);

}  // namespace ltrt
