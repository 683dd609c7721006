// CSV reader: splits records (quotes may hold commas and line breaks), then
// turns every data cell into a double.
#include "ltrt/csv.hpp"

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"

#include <charconv>
#include <cstdlib>

namespace ltrt {

namespace {

struct Record {
  int line = 0;  // where the record starts, 1-based
  std::vector<std::string> cells;
};

class Splitter {
 public:
  Splitter(const std::string& path, std::string_view text) : path_(path), s_(text) {
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") i_ = 3;
  }

  // The next non-blank record; false at the end of the text.
  bool next(Record& r) {
    for (;;) {
      if (i_ >= s_.size()) return false;
      r.line = line_;
      r.cells.clear();
      bool any_quoted = false;
      std::string cell;
      for (;;) {
        if (i_ >= s_.size()) break;
        const char c = s_[i_];
        if (c == '"' && cell.find_first_not_of(" \t") == std::string::npos) {
          any_quoted = true;
          cell.clear();
          read_quoted(cell, r.line);
          continue;
        }
        if (c == ',') {
          r.cells.push_back(std::move(cell));
          cell.clear();
          ++i_;
          continue;
        }
        if (c == '\n' || c == '\r') {
          end_line();
          break;
        }
        cell += c;
        ++i_;
      }
      r.cells.push_back(std::move(cell));
      const bool blank = !any_quoted && r.cells.size() == 1 &&
                         r.cells[0].find_first_not_of(" \t") == std::string::npos;
      if (!blank) return true;
    }
  }

 private:
  const std::string& path_;
  std::string_view s_;
  std::size_t i_ = 0;
  int line_ = 1;

  void end_line() {
    if (s_[i_] == '\r' && i_ + 1 < s_.size() && s_[i_ + 1] == '\n') ++i_;
    ++i_;
    ++line_;
  }

  // At an opening quote: reads up to the closing one ("" is a quote).
  void read_quoted(std::string& cell, int record_line) {
    const int start_line = line_;
    ++i_;
    for (;;) {
      if (i_ >= s_.size())
        throw Error(path_ + ":" + std::to_string(start_line) + ": unterminated quoted field");
      const char c = s_[i_];
      if (c == '"') {
        if (i_ + 1 < s_.size() && s_[i_ + 1] == '"') {
          cell += '"';
          i_ += 2;
          continue;
        }
        ++i_;
        break;
      }
      if (c == '\n' || (c == '\r' && !(i_ + 1 < s_.size() && s_[i_ + 1] == '\n'))) ++line_;
      cell += c;
      ++i_;
    }
    // Only spaces may sit between the closing quote and the next comma or line end.
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
    if (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '\n' && s_[i_] != '\r')
      throw Error(path_ + ":" + std::to_string(record_line) + ": unexpected text after a closing quote");
  }
};

bool parse_number(std::string_view cell, double& out) {
  std::size_t b = cell.find_first_not_of(" \t");
  if (b == std::string_view::npos) return false;
  const std::size_t e = cell.find_last_not_of(" \t");
  std::string_view t = cell.substr(b, e - b + 1);
  if (t[0] == '+') {
    t.remove_prefix(1);
    if (t.empty() || t[0] == '-' || t[0] == '+') return false;
  }
  const auto r = std::from_chars(t.data(), t.data() + t.size(), out);
  if (r.ptr != t.data() + t.size()) return false;
  if (r.ec == std::errc::result_out_of_range) {
    // Python's float() gives +-inf on overflow and 0 on underflow; do the same.
    out = std::strtod(std::string(t).c_str(), nullptr);
    return true;
  }
  return r.ec == std::errc();
}

}  // namespace

std::size_t CsvTable::num_columns() const {
  if (!header.empty()) return header.size();
  return rows.empty() ? 0 : rows[0].size();
}

int CsvTable::column(std::string_view name) const {
  for (std::size_t k = 0; k < header.size(); ++k)
    if (header[k] == name) return static_cast<int>(k);
  return -1;
}

CsvTable read_csv(const std::string& path, bool has_header) {
  const std::string text = read_file(path);
  Splitter split(path, text);
  CsvTable table;
  Record r;
  std::size_t width = 0;
  std::string width_from;
  if (has_header) {
    if (!split.next(r)) throw Error(path + ": empty file: expected a header line");
    table.header = std::move(r.cells);  // names as written, spaces kept (as pandas does)
    width = table.header.size();
    width_from = "the header has";
  }
  while (split.next(r)) {
    if (width == 0) {
      width = r.cells.size();
      width_from = "line " + std::to_string(r.line) + " has";
    }
    if (r.cells.size() != width)
      throw Error(path + ":" + std::to_string(r.line) + ": row has " + std::to_string(r.cells.size()) +
                  " cells but " + width_from + " " + std::to_string(width) + " columns");
    std::vector<double> row(width);
    for (std::size_t k = 0; k < width; ++k) {
      if (parse_number(r.cells[k], row[k])) continue;
      const std::string col = has_header ? "column '" + table.header[k] + "'" : "column " + std::to_string(k + 1);
      const bool empty = r.cells[k].find_first_not_of(" \t") == std::string::npos;
      throw Error(path + ":" + std::to_string(r.line) + ": " + col + ": " +
                  (empty ? std::string("empty cell is not a number") : "'" + r.cells[k] + "' is not a number"));
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace ltrt
