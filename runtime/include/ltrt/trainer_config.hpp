// The arguments of lightning.pytorch.Trainer as a spec's `trainer` section
// gives them, with Lightning's defaults. ltgen checks the section with this
// reader when it generates a program; the program reads it again, with the
// command line's --trainer.NAME=VALUE overrides applied.
#pragma once

#include <cstdint>
#include <string>

#include "ltrt/json.hpp"

namespace ltrt {

struct TrainerConfig {
  std::int64_t seed = 0;               // the spec's seed_everything
  std::int64_t max_epochs = -1;        // -1: unset (1000 when max_steps is unset too)
  std::int64_t max_steps = -1;         // -1: no limit
  std::int64_t log_every_n_steps = 50;
  std::string default_root_dir = ".";
  bool enable_progress_bar = true;
  bool enable_checkpointing = true;
  bool deterministic = false;          // generated programs are deterministic either way
  std::string accelerator = "auto";    // fixed at generation time
  std::string precision = "32-true";   // fixed at generation time
};

// Reads spec["seed_everything"] and spec["trainer"] (absent: defaults).
// Throws ConfigError naming the key and what is wrong.
TrainerConfig read_trainer_config(const json::Value& spec);

// The resolved trainer section (defaults filled in), for --print_config.
json::Value trainer_config_json(const TrainerConfig& c);

// Trainer arguments that the generated code depends on: the command line
// cannot change them.
bool trainer_field_is_fixed(const std::string& name);

}  // namespace ltrt
