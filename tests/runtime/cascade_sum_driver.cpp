// ltrt's side of cascade_sum_oracle.py: reads {"cases": [{"rows": n, "columns": c, "values": [...]}]}
// from stdin (row-major float32 values) and prints, per case, torch_column_sums' float32 bits.
#include <cstdint>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "ltrt/cascade_sum.hpp"
#include "ltrt/json.hpp"

int main() {
  using ltrt::json::Value;
  try {
    const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const Value in = ltrt::json::parse(text);
    Value out = Value::make_array();
    for (const Value& c : in.find("cases")->items) {
      const std::int64_t rows = c.find("rows")->integer, columns = c.find("columns")->integer;
      std::vector<float> x;
      for (const Value& v : c.find("values")->items) x.push_back(static_cast<float>(v.num));
      std::vector<float> sums(static_cast<std::size_t>(columns));
      ltrt::torch_column_sums(x.data(), rows, columns, sums.data());
      Value row = Value::make_array();
      for (float s : sums) {
        std::uint32_t u;
        std::memcpy(&u, &s, sizeof u);
        row.push(Value::make_integer(u));
      }
      out.push(std::move(row));
    }
    std::cout << ltrt::json::write(out) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "cascade_sum_driver: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
