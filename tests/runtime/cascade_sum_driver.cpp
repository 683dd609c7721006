// ltrt's side of cascade_sum_oracle.py: reads {"cases": [{"rows": n, "columns": c, "values": [...]}]}
// from stdin (row-major float32 values) and prints, per case, torch_column_sums' float32 bits.
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "ltrt/cascade_sum.hpp"
#include "ltrt/json.hpp"
#include "oracle_io.hpp"

int main() {
  using ltrt::json::Value;
  try {
    const Value in = ltrt_test::read_stdin_json();
    Value out = Value::make_array();
    for (const Value& c : in.find("cases")->items) {
      const std::int64_t rows = c.find("rows")->integer, columns = c.find("columns")->integer;
      std::vector<float> x;
      for (const Value& v : c.find("values")->items) x.push_back(static_cast<float>(v.num));
      std::vector<float> sums(static_cast<std::size_t>(columns));
      ltrt::torch_column_sums(x.data(), rows, columns, sums.data());
      Value row = Value::make_array();
      for (float s : sums) row.push(Value::make_integer(ltrt_test::float_bits(s)));
      out.push(std::move(row));
    }
    std::cout << ltrt::json::write(out) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "cascade_sum_driver: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
