// CSV reading: quoting, line ends, and errors that name the line and column.
#include "ltrt/csv.hpp"

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

namespace {

std::string dir() {
  static const std::string d = [] {
    const std::string p = std::string(LTRT_TEST_TMP) + "/csv_test";
    std::filesystem::remove_all(p);
    ltrt::make_dirs(p);
    return p;
  }();
  return d;
}

std::string write(const std::string& name, const std::string& text) {
  const std::string path = dir() + "/" + name + ".csv";
  ltrt::write_file_atomic(path, text);
  return path;
}

std::string read_error(const std::string& name, const std::string& text, bool header = true) {
  const std::string path = write(name, text);
  try {
    ltrt::read_csv(path, header);
  } catch (const ltrt::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ":", 0), 0u) << msg;
    return msg.substr(path.size());
  }
  return "(no error)";
}

using Rows = std::vector<std::vector<double>>;

TEST(Csv, HeaderAndRows) {
  const ltrt::CsvTable t = ltrt::read_csv(write("basic", "x1,x2,y\n1,2.5,-3\n4e-3,+5, 6 \n"), true);
  EXPECT_EQ(t.header, (std::vector<std::string>{"x1", "x2", "y"}));
  EXPECT_EQ(t.rows, (Rows{{1, 2.5, -3}, {0.004, 5, 6}}));
  EXPECT_EQ(t.num_columns(), 3u);
  EXPECT_EQ(t.column("y"), 2);
  EXPECT_EQ(t.column("z"), -1);
}

TEST(Csv, LineEndsBomBlankLines) {
  const Rows want{{1, 2}, {3, 4}};
  EXPECT_EQ(ltrt::read_csv(write("crlf", "a,b\r\n1,2\r\n3,4\r\n"), true).rows, want);
  EXPECT_EQ(ltrt::read_csv(write("no_final_newline", "a,b\n1,2\n3,4"), true).rows, want);
  EXPECT_EQ(ltrt::read_csv(write("blank_lines", "a,b\n\n1,2\n   \n3,4\n\n\n"), true).rows, want);
  const ltrt::CsvTable bom = ltrt::read_csv(write("bom", "\xEF\xBB\xBF" "a,b\n1,2\n3,4\n"), true);
  EXPECT_EQ(bom.header, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(bom.rows, want);
  EXPECT_EQ(ltrt::read_csv(write("cr_only", "a,b\r1,2\r3,4\r"), true).rows, want);
}

TEST(Csv, QuotedCells) {
  const ltrt::CsvTable t = ltrt::read_csv(
      write("quoted", "\"a,b\",\"say \"\"hi\"\"\",\"multi\nline\", plain \n\"1\",2,3,4\n"), true);
  EXPECT_EQ(t.header, (std::vector<std::string>{"a,b", "say \"hi\"", "multi\nline", " plain "}));
  EXPECT_EQ(t.rows, (Rows{{1, 2, 3, 4}}));
  EXPECT_EQ(ltrt::read_csv(write("empty_name", "\"\",b\n1,2\n"), true).header, (std::vector<std::string>{"", "b"}));
}

TEST(Csv, SpecialNumbers) {
  const ltrt::CsvTable t = ltrt::read_csv(write("special", "a,b,c,d\nnan,inf,-inf,1e400\n"), true);
  EXPECT_TRUE(std::isnan(t.rows[0][0]));
  EXPECT_EQ(t.rows[0][1], HUGE_VAL);
  EXPECT_EQ(t.rows[0][2], -HUGE_VAL);
  EXPECT_EQ(t.rows[0][3], HUGE_VAL);  // Python's float("1e400")
}

TEST(Csv, WithoutHeader) {
  const ltrt::CsvTable t = ltrt::read_csv(write("no_header", "1,2\n3,4\n"), false);
  EXPECT_TRUE(t.header.empty());
  EXPECT_EQ(t.rows, (Rows{{1, 2}, {3, 4}}));
  EXPECT_EQ(t.num_columns(), 2u);
  EXPECT_EQ(ltrt::read_csv(write("empty_no_header", ""), false).num_columns(), 0u);
  EXPECT_EQ(ltrt::read_csv(write("header_only", "a,b\n"), true).rows.size(), 0u);
}

TEST(Csv, Errors) {
  EXPECT_EQ(read_error("bad_cell", "a,b\n1,2\n3,abc\n"), ":3: column 'b': 'abc' is not a number");
  EXPECT_EQ(read_error("bad_cell_crlf", "a,b\r\n1,2\r\n\r\n3,1.2.3\r\n"), ":4: column 'b': '1.2.3' is not a number");
  EXPECT_EQ(read_error("no_header_cell", "1,2\n3,x\n", false), ":2: column 2: 'x' is not a number");
  EXPECT_EQ(read_error("empty_cell", "a,b\n1,\n"), ":2: column 'b': empty cell is not a number");
  EXPECT_EQ(read_error("plus_minus", "a\n+-1\n"), ":2: column 'a': '+-1' is not a number");
  EXPECT_EQ(read_error("hex", "a\n0x10\n"), ":2: column 'a': '0x10' is not a number");
  EXPECT_EQ(read_error("ragged_short", "a,b,c\n1,2,3\n4,5\n"), ":3: row has 2 cells but the header has 3 columns");
  EXPECT_EQ(read_error("ragged_long", "a,b\n1,2,3\n"), ":2: row has 3 cells but the header has 2 columns");
  EXPECT_EQ(read_error("ragged_no_header", "1,2\n\n3\n", false), ":3: row has 1 cells but line 1 has 2 columns");
  EXPECT_EQ(read_error("unterminated", "a,b\n1,\"2\n3,4\n"), ":2: unterminated quoted field");
  EXPECT_EQ(read_error("after_quote", "\"a\"x,b\n1,2\n"), ":1: unexpected text after a closing quote");
  EXPECT_EQ(read_error("empty", ""), ": empty file: expected a header line");
  EXPECT_EQ(read_error("blank", "\n\n"), ": empty file: expected a header line");
  // Line numbers count the lines inside quoted cells.
  EXPECT_EQ(read_error("multiline_header", "\"a\nb\",c\n1,2\n1,x\n"), ":4: column 'c': 'x' is not a number");
  EXPECT_THROW(ltrt::read_csv(dir() + "/missing.csv", true), ltrt::Error);
}

}  // namespace
