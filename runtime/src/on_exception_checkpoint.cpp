// OnExceptionCheckpoint with Lightning 2.6's rules (lightning/pytorch/callbacks/on_exception_checkpoint.py).
#include "ltrt/on_exception_checkpoint.hpp"

#include <filesystem>
#include <system_error>
#include <utility>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"

namespace ltrt {

OnExceptionCheckpoint::OnExceptionCheckpoint(std::string dirpath, std::string filename)
    : dirpath_(std::move(dirpath)), filename_(std::move(filename)) {
  if (filename_.empty()) throw Error("The filename cannot be empty");
}

std::unique_ptr<OnExceptionCheckpoint> OnExceptionCheckpoint::read(ConfigObject& a) {
  const json::Value& dirpath = a.require("dirpath");
  if (!dirpath.is_string())  // "" is the working directory, as os.path.join makes it
    a.fail("dirpath", "expected the folder to save the checkpoint in (a string), got " + describe(dirpath));
  const std::string filename = a.string("filename", "on_exception");
  if (filename.empty()) a.fail("filename", "The filename cannot be empty");
  a.finish();
  return std::make_unique<OnExceptionCheckpoint>(dirpath.str, filename);
}

std::string OnExceptionCheckpoint::ckpt_path() const {
  return (std::filesystem::path(dirpath_) / (filename_ + ".safetensors")).string();
}

void OnExceptionCheckpoint::on_exception(const CallbackContext& ctx, const std::exception&) {
  // "overwrite if necessary": trainer.save_checkpoint, a full checkpoint
  if (!ctx.save_checkpoint) throw Error("OnExceptionCheckpoint: the trainer gave the callback no way to save");
  ctx.save_checkpoint(ckpt_path(), false);
}

void OnExceptionCheckpoint::teardown(const CallbackContext& ctx) {
  // trainer.strategy.remove_checkpoint: rank 0 removes the file if it is there.
  if (ctx.remove_checkpoint) {
    ctx.remove_checkpoint(ckpt_path());
    return;
  }
  std::error_code ec;  // no file there (the usual case) is no error
  std::filesystem::remove(ckpt_path(), ec);
  if (ec) ctx.emit_warning("OnExceptionCheckpoint could not remove " + ckpt_path() + ": " + ec.message());
}

}  // namespace ltrt
