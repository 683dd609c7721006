// Lightning's CSVLogger metrics.csv writer.
#include "ltrt/csv_logger.hpp"

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

namespace ltrt {

namespace {

// Python's csv module (QUOTE_MINIMAL) quotes a field holding the delimiter,
// the quote character or a line break, doubling inner quotes.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_line(const std::vector<std::string>& cells) {
  std::string line;
  for (std::size_t k = 0; k < cells.size(); ++k) {
    if (k > 0) line += ',';
    line += csv_field(cells[k]);
  }
  return line + "\r\n";
}

std::string format_value(const CsvLogger::MetricValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  return python_repr(std::get<double>(v));
}

}  // namespace

CsvLogger::CsvLogger(std::string path, std::int64_t flush_logs_every_n_steps)
    : path_(std::move(path)), flush_every_(flush_logs_every_n_steps) {
  if (flush_every_ <= 0) throw Error("CsvLogger: flush_logs_every_n_steps must be positive");
}

CsvLogger::~CsvLogger() {
  try {
    save();
  } catch (...) {  // a destructor must not throw; the caller can save() to see errors
  }
}

void CsvLogger::log(const std::vector<std::pair<std::string, double>>& metrics, std::int64_t step) {
  std::map<std::string, std::string> row;
  for (const auto& [key, value] : metrics) {
    const bool as_int = key == "epoch" && std::isfinite(value) && value == std::trunc(value) &&
                        std::fabs(value) < 9007199254740992.0;
    row[key] = as_int ? std::to_string(static_cast<std::int64_t>(value)) : python_repr(value);
  }
  add_row(std::move(row), step);
}

void CsvLogger::log_values(const std::vector<std::pair<std::string, MetricValue>>& metrics, std::int64_t step) {
  std::map<std::string, std::string> row;
  for (const auto& [key, value] : metrics) row[key] = format_value(value);
  add_row(std::move(row), step);
}

void CsvLogger::add_row(std::map<std::string, std::string> row, std::int64_t step) {
  row["step"] = std::to_string(step);  // Lightning: metrics["step"] = step
  pending_.push_back(std::move(row));
  if ((step + 1) % flush_every_ == 0) save();
}

void CsvLogger::save() {
  if (pending_.empty()) return;

  // Work on a copy so that a failed save leaves the logger as it was.
  const std::vector<std::string>& old_columns = columns_;
  std::vector<std::string> columns = columns_;
  bool new_keys = false;
  for (const auto& row : pending_) {
    for (const auto& cell : row) {
      if (std::find(columns.begin(), columns.end(), cell.first) == columns.end()) {
        columns.push_back(cell.first);
        new_keys = true;
      }
    }
  }
  std::sort(columns.begin(), columns.end());  // Python's sorted(): code point order

  std::string rows;
  for (const auto& row : pending_) {
    std::vector<std::string> cells;
    for (const auto& c : columns) {
      const auto it = row.find(c);
      cells.push_back(it == row.end() ? std::string() : it->second);
    }
    rows += csv_line(cells);
  }

  const std::string parent = std::filesystem::path(path_).parent_path().string();
  if (!parent.empty()) make_dirs(parent);

  if (file_written_ && !new_keys) {
    std::FILE* f = std::fopen(path_.c_str(), "ab");
    if (f == nullptr) throw Error(path_ + ": cannot open for appending");
    const bool ok = std::fwrite(rows.data(), 1, rows.size(), f) == rows.size();
    if (std::fclose(f) != 0 || !ok) throw Error(path_ + ": write failed");
    pending_.clear();
    return;
  }

  const std::string header = csv_line(columns);
  std::string content = header;
  if (file_written_) {
    // New columns: rewrite the rows already in the file under the new header.
    // They hold only numbers we wrote, so splitting on ',' is exact.
    const std::string old = read_file(path_);
    if (old.compare(0, written_header_.size(), written_header_) != 0)
      throw Error(path_ + ": changed by someone else since the last save; cannot add columns");
    std::vector<std::size_t> where(old_columns.size());
    for (std::size_t k = 0; k < old_columns.size(); ++k)
      where[k] = static_cast<std::size_t>(std::find(columns.begin(), columns.end(), old_columns[k]) -
                                          columns.begin());
    std::size_t pos = written_header_.size();
    while (pos < old.size()) {
      std::size_t end = old.find("\r\n", pos);
      if (end == std::string::npos) end = old.size();
      std::vector<std::string> cells(columns.size());
      std::size_t k = 0;
      std::size_t cell_begin = pos;
      for (;;) {
        const std::size_t comma = old.find(',', cell_begin);
        const std::size_t cell_end = comma < end ? comma : end;
        if (k >= where.size())
          throw Error(path_ + ": a row has more cells than the header; cannot add columns");
        cells[where[k++]] = old.substr(cell_begin, cell_end - cell_begin);
        if (cell_end == end) break;
        cell_begin = cell_end + 1;
      }
      if (k != where.size()) throw Error(path_ + ": a row has fewer cells than the header; cannot add columns");
      content += csv_line(cells);
      pos = end + 2;
    }
  }
  content += rows;
  write_file_atomic(path_, content);
  columns_ = std::move(columns);
  written_header_ = header;
  file_written_ = true;
  pending_.clear();
}

}  // namespace ltrt
