// The command line of a generated program, like LightningCLI:
//   <name> [fit|validate|test|predict] [--key=value | --key value]...
#pragma once

#include <string>
#include <vector>

#include "ltrt/error.hpp"
#include "ltrt/model.hpp"
#include "ltrt/trainer.hpp"

namespace ltrt {

enum class Subcommand { fit, validate, test, predict };
const char* subcommand_name(Subcommand s);

// A mistake on the command line: main prints it and exits with status 2.
struct UsageError : Error {
  using Error::Error;
};

struct CliOptions {
  Subcommand subcommand = Subcommand::fit;
  bool help = false;
  bool print_config = false;
  FitConfig fit;  // the spec's values with the command line's overrides
};

// Parses argv (argv[0] is the program). Options:
//   --help, --print_config, --seed_everything=N, --trainer.max_epochs=N,
//   --trainer.max_steps=N, --trainer.log_every_n_steps=N,
//   --trainer.default_root_dir=PATH, --trainer.enable_progress_bar=BOOL,
//   --trainer.enable_checkpointing=BOOL, --data.train.x=PATH,
//   --data.train.y=PATH (npy sources), --data.train.path=PATH (csv sources),
//   --init_weights=FILE, --ckpt_path=PATH
// Throws UsageError for an unknown option (naming the nearest valid one), a
// field fixed at generation time, a bad value or a missing value.
CliOptions parse_cli(int argc, const char* const* argv, const ModelDef& model);

// The --help text.
std::string usage(const ModelDef& model);

// The resolved configuration as JSON (--print_config), LightningCLI's layout.
std::string config_json(const CliOptions& options, const ModelDef& model);


}  // namespace ltrt
