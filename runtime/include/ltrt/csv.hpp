// Numeric CSV files, the data format of csv data sources (df.to_csv(index=False)).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ltrt {

struct CsvTable {
  std::vector<std::string> header;       // column names; empty when read without a header
  std::vector<std::vector<double>> rows;  // every row has the same number of cells

  std::size_t num_columns() const;          // header size, else the first row's size, else 0
  int column(std::string_view name) const;  // index in header, -1 if absent
};

// Comma-separated, RFC 4180 quoting ("a,b" and "say ""hi"""), LF or CRLF line
// ends, a UTF-8 byte order mark and blank lines ignored. Every data cell must
// be a number (as Python's float() reads it, surrounding spaces allowed:
// "1.5", "-2e-3", "+4", "nan", "inf"). Errors name the line:
//   data.csv:7: column 'x2': 'abc' is not a number
//   data.csv:9: row has 3 cells but the header has 4 columns
CsvTable read_csv(const std::string& path, bool has_header);

}  // namespace ltrt
