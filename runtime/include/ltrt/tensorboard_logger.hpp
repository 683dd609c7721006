// Lightning's TensorBoardLogger: a TensorBoard event file as
// torch.utils.tensorboard's SummaryWriter writes it, encoded by hand (no
// protobuf library).
//
// The file (tensorboard/summary/writer/event_file_writer.py):
// - named events.out.tfevents.<%010d unix seconds>.<hostname>.<pid>.<n>, n
//   counting the files this process opened, from 0;
// - a sequence of TFRecords: uint64 length (little endian), uint32 masked
//   CRC-32C of those 8 bytes, the data, uint32 masked CRC-32C of the data;
// - each record one serialized tensorboard.Event; the first holds wall_time,
//   file_version "brain.Event:2" and source_metadata (writer "ltrt").
//
// What Lightning writes into it (lightning/fabric/loggers/tensorboard.py):
// - log_metrics: one Event per metric (SummaryWriter.add_scalar): wall_time,
//   step, Summary{Value{tag, simple_value (float32)}};
// - log_hyperparams(params, metrics): params flattened ("a/b" for nested
//   objects) and sanitized (lists, None and other types become their Python
//   str()); metrics default to {"hp_metric": -1} (default_hp_metric=True),
//   logged as scalars at step 0; then torch.utils.tensorboard.summary.hparams'
//   three summaries, _hparams_/experiment, _hparams_/session_start_info and
//   _hparams_/session_end_info (plugin "hparams", HParamsPluginData content),
//   which TensorBoard's HPARAMS tab reads. hparams.yaml (Lightning's save())
//   is written beside the event file unless one is there already.
//
// Writes are buffered in a reserved string and go to the file (unbuffered
// stdio, one fwrite) on flush(), when the buffer is full, and on destruction;
// log_scalars does not allocate while the buffer has room (64 KiB).
#pragma once

#include "ltrt/json.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ltrt {

class TensorBoardLogger {
 public:
  // Creates log_dir (and parents) and a new event file in it, holding the
  // file_version event (written at once). default_hp_metric: Lightning's
  // option of that name (log_hparams without metrics logs hp_metric = -1).
  // prefix: the logger's, which Lightning's log_metrics puts before hp_metric's
  // scalar ("<prefix>-hp_metric"); the caller prefixes what it logs itself.
  explicit TensorBoardLogger(const std::string& log_dir, bool default_hp_metric = true, std::string prefix = "");
  // Flushes, ignoring errors, and closes the file.
  ~TensorBoardLogger();
  TensorBoardLogger(const TensorBoardLogger&) = delete;
  TensorBoardLogger& operator=(const TensorBoardLogger&) = delete;

  // One scalar event per metric, at step, with the current wall time. The
  // value is stored as float32, as add_scalar does.
  void log_scalars(const std::vector<std::pair<std::string, double>>& metrics, std::int64_t step);

  // Lightning's log_hyperparams: hparams must be a JSON object. Flushes.
  void log_hparams(const json::Value& hparams,
                   const std::vector<std::pair<std::string, double>>& metrics = {});

  // Writes what is buffered to the file. Error: "<path>: write error: ...".
  void flush();

  const std::string& path() const { return path_; }  // the event file
  const std::string& log_dir() const { return log_dir_; }

 private:
  std::string log_dir_;
  std::string path_;
  bool default_hp_metric_;
  std::string prefix_;
  std::FILE* file_ = nullptr;
  std::string buf_;  // whole records not yet written; reserved once
};

// The encoding, exposed for tests.
namespace tfevents {

// Appends one TFRecord holding data.
void append_record(std::string& out, std::string_view data);

// Serialized Events (no record framing).
std::string file_version_event(double wall_time);
std::string scalar_event(double wall_time, std::int64_t step, std::string_view tag, float value);
// Event{wall_time, step, summary} (step 0 is omitted, as protobuf does).
std::string summary_event(double wall_time, std::int64_t step, std::string_view summary);

// Appends the record of scalar_event(...). Allocates only when out lacks capacity.
void append_scalar_record(std::string& out, double wall_time, std::int64_t step, std::string_view tag,
                          float value);

// Lightning's _flatten_dict + _sanitize_params of a JSON object, as the
// hparams summaries see it: nested objects flattened to "a/b" keys (an empty
// one disappears), numbers and booleans kept, strings kept, everything else
// (null, arrays) replaced by its Python str(): "None", "[64, 32]", "['a']".
std::vector<std::pair<std::string, json::Value>> flatten_hparams(const json::Value& hparams);

// Python's repr() of a JSON value read by json.load (str() for non-strings).
std::string python_str(const json::Value& v);

// The serialized Summary messages of torch.utils.tensorboard.summary.hparams(
// flatten_hparams(hparams), {metric: ...}). Python's bool is an int, so true /
// false become number_value 1 / 0 (DATA_TYPE_FLOAT64), as torch writes them.
struct HParamsSummaries {
  std::string experiment;
  std::string session_start_info;
  std::string session_end_info;
};
HParamsSummaries hparams_summaries(const json::Value& hparams, const std::vector<std::string>& metric_names);

}  // namespace tfevents

}  // namespace ltrt
