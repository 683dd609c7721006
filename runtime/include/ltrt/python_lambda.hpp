// A Python `lambda name: expression` of numbers, as LambdaLR's and MultiplicativeLR's lr_lambda
// (`lambda step: min(1.0, (step + 1) / 100)`), parsed once and evaluated as Python evaluates it:
// ints stay ints (64-bit here: a result past that is an error, where Python's ints grow), `/` is
// float division, `//` and `%` floor, `**` of ints is an int, mixing an int with a float converts
// the int, comparisons between ints and floats are exact, and the math functions are the C
// library's, as CPython's math module calls them. Errors where Python raises (a division by zero,
// math.sqrt of a negative number, ...) are ltrt::Error.
//
// The subset: int and float literals; the lambda's one parameter; + - * / // % ** and unary + -;
// < <= > >= == != (chained); and, or, not; `a if c else b`; parentheses; min, max (two or more
// arguments), abs, float, int, round (one argument), pow (two); math.cos, sin, tan, acos, asin,
// atan, cosh, sinh, tanh, exp, log (one or two arguments), log2, log10, sqrt, floor, ceil, fabs,
// pow, radians, degrees, and math.pi, e, tau, inf.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ltrt {

// A Python number: an int (bool is one) or a float.
struct PyNumber {
  bool is_int = true;
  std::int64_t i = 0;
  double f = 0;
  static PyNumber integer(std::int64_t v) { return {true, v, 0}; }
  static PyNumber real(double v) { return {false, 0, v}; }
  double as_float() const { return is_int ? static_cast<double>(i) : f; }
};

class PythonLambda {
 public:
  // Parses `text`; throws ltrt::Error naming the column and what is wrong.
  explicit PythonLambda(std::string text);
  // The lambda applied to `x` (an int); throws ltrt::Error where Python raises.
  PyNumber operator()(std::int64_t x) const;
  const std::string& text() const { return text_; }

  struct Node {
    enum class Kind { number, parameter, unary, binary, compare, logical, ternary, call } kind;
    PyNumber value;            // number
    std::string op;            // unary: "-", "+", "not"; binary: "+", ..., "**"; logical: "and", "or"; call: the function
    std::vector<std::string> comparisons;  // compare: the operators between the operands
    std::vector<int> operands;             // indices into nodes_ (ternary: condition, then, else)
  };

 private:
  PyNumber eval(int node, std::int64_t x) const;

  std::string text_;
  std::string parameter_;
  std::vector<Node> nodes_;
  int root_ = -1;
};

}  // namespace ltrt
