// lightning.pytorch.callbacks.OnExceptionCheckpoint (Lightning 2.6): when fit raises, a full
// checkpoint of the state it raised in at <dirpath>/<filename>.safetensors (Lightning's .ckpt),
// written over any earlier one; a fit that ends normally removes that file (its teardown).
//
//   {"class_path": "OnExceptionCheckpoint", "init_args": {"dirpath": "crash", "filename": "on_exception"}}
//
// It is one of Lightning's Checkpoint callbacks: ordered with the ModelCheckpoints at the end of the
// list, refused with enable_checkpointing=false, and one given means no default ModelCheckpoint.
#pragma once

#include <exception>
#include <memory>
#include <string>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

class OnExceptionCheckpoint : public Callback {
 public:
  OnExceptionCheckpoint(std::string dirpath, std::string filename);  // throws Error for an empty filename
  static std::unique_ptr<OnExceptionCheckpoint> read(ConfigObject& init_args);

  const char* class_name() const override { return "OnExceptionCheckpoint"; }
  // os.path.join(dirpath, filename + extension), relative paths to the working directory.
  std::string ckpt_path() const;

  void on_exception(const CallbackContext& ctx, const std::exception& exception) override;
  void teardown(const CallbackContext& ctx) override;

 private:
  std::string dirpath_, filename_;
};

}  // namespace ltrt
