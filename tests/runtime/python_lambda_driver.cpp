// ltrt's side of python_lambda_oracle.py: reads {"lambdas": [text, ...], "xs": [int, ...]} from
// stdin and prints, per lambda, its value at each x: {"int": v}, {"float": v} (JSON numbers in
// shortest round-trip form; "inf", "-inf", "nan" as strings) or {"error": message}; a lambda that
// does not parse is {"parse_error": message} instead of the list.
#include <cmath>
#include <iostream>
#include <iterator>
#include <string>

#include "ltrt/error.hpp"
#include "ltrt/json.hpp"
#include "ltrt/python_lambda.hpp"

int main() {
  using ltrt::json::Value;
  try {
    const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const Value in = ltrt::json::parse(text);
    Value out = Value::make_array();
    for (const Value& l : in.find("lambdas")->items) {
      Value row = Value::make_object();
      try {
        const ltrt::PythonLambda lambda(l.str);
        Value values = Value::make_array();
        for (const Value& x : in.find("xs")->items) {
          Value v = Value::make_object();
          try {
            const ltrt::PyNumber r = lambda(x.integer);
            if (r.is_int) v.set("int", Value::make_integer(r.i));
            else if (std::isfinite(r.f)) v.set("float", Value::make_number(r.f));
            else v.set("float", Value::make_string(std::isnan(r.f) ? "nan" : r.f > 0 ? "inf" : "-inf"));
          } catch (const ltrt::Error& e) {
            v.set("error", Value::make_string(e.what()));
          }
          values.push(std::move(v));
        }
        row.set("values", std::move(values));
      } catch (const ltrt::Error& e) {
        row.set("parse_error", Value::make_string(e.what()));
      }
      out.push(std::move(row));
    }
    std::cout << ltrt::json::write(out) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "python_lambda_driver: " << e.what() << "\n";
    return 1;
  }
}
