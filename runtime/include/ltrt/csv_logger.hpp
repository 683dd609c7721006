// Lightning's CSVLogger: metrics.csv exactly as Lightning writes it.
//
// What Lightning does (lightning/fabric/loggers/csv_logs.py, 2.x):
// - log_metrics(metrics, step) adds "step": step to the row and buffers it;
//   the buffer is written by save(), and also when (step + 1) % 100 == 0;
// - the columns are the sorted union of every key seen so far; when a save
//   brings new keys, the file is rewritten under the new header;
// - csv.DictWriter writes the rows: missing cells empty, "\r\n" line ends,
//   values as Python's str(): ints as "1", floats as repr ("0.1", "1e-05").
// Lightning's trainer logs "epoch" as an int and every self.log() value as a
// float32 tensor's .item(), so pass a float metric as double(float_value) to
// get its exact text ("0.9700000286102295").
#pragma once

#include "ltrt/python_repr.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ltrt {

class CsvLogger {
 public:
  using MetricValue = std::variant<std::int64_t, double>;  // written as Python int / float

  // path: the metrics.csv to write (its folder is created on the first save).
  // A file already there is replaced on the first save, as Lightning does.
  explicit CsvLogger(std::string path, std::int64_t flush_logs_every_n_steps = 100);
  // Saves what is buffered, ignoring errors (Lightning's finalize on teardown).
  ~CsvLogger();
  CsvLogger(const CsvLogger&) = delete;
  CsvLogger& operator=(const CsvLogger&) = delete;

  // One row: metrics plus "step". "epoch" is written as an integer (Lightning
  // logs it as an int); every other value as a Python float.
  void log(const std::vector<std::pair<std::string, double>>& metrics, std::int64_t step);
  // The same with the int/float choice made by the caller.
  void log_values(const std::vector<std::pair<std::string, MetricValue>>& metrics, std::int64_t step);

  // Writes the buffered rows (appends, or rewrites the file when new columns appeared).
  void save();

  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }  // as written so far

 private:
  std::string path_;
  std::int64_t flush_every_;
  std::vector<std::string> columns_;                  // sorted; the header in the file
  std::string written_header_;                        // its exact bytes, to skip on a rewrite
  bool file_written_ = false;
  std::vector<std::map<std::string, std::string>> pending_;  // formatted cells

  void add_row(std::map<std::string, std::string> row, std::int64_t step);
};

}  // namespace ltrt
