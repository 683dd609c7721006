// Python lambdas of numbers (ltrt/python_lambda.hpp): a recursive-descent parser of Python's
// grammar for this subset (its precedence: ternary, or, and, not, comparisons, + -, * / // %,
// unary + -, **), and an evaluator that follows CPython's int and float semantics. The file
// relies on ltrt's -ffp-contract=off (no fused multiply-adds), as Python has none.
#include "ltrt/python_lambda.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

#include "ltrt/error.hpp"

namespace ltrt {

namespace {

using Node = PythonLambda::Node;

[[noreturn]] void raise(const std::string& what) { throw Error(what); }

// ---------------------------------------------------------------------------
// Numbers.

constexpr std::int64_t kExact = std::int64_t{1} << 53;  // ints a float holds exactly

bool truthy(const PyNumber& v) { return v.is_int ? v.i != 0 : v.f != 0.0; }

// Python's comparison of an int and a float, exactly: -1, 0, 1, or 2 when unordered (NaN).
int compare_int_float(std::int64_t i, double f) {
  if (std::isnan(f)) return 2;
  if (i >= -kExact && i <= kExact) {
    const double d = static_cast<double>(i);
    return d < f ? -1 : d > f ? 1 : 0;
  }
  if (f >= 9223372036854775808.0) return -1;  // 2^63: above every int64
  if (f < -9223372036854775808.0) return 1;
  const double whole = std::trunc(f);
  const auto t = static_cast<std::int64_t>(whole);
  if (i != t) return i < t ? -1 : 1;
  const double fraction = f - whole;
  return fraction > 0 ? -1 : fraction < 0 ? 1 : 0;
}

// -1, 0, 1, or 2 when unordered.
int compare(const PyNumber& a, const PyNumber& b) {
  if (a.is_int && b.is_int) return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
  if (a.is_int) return compare_int_float(a.i, b.f);
  if (b.is_int) {
    const int c = compare_int_float(b.i, a.f);
    return c == 2 ? 2 : -c;
  }
  if (std::isnan(a.f) || std::isnan(b.f)) return 2;
  return a.f < b.f ? -1 : a.f > b.f ? 1 : 0;
}

bool compare_op(const std::string& op, const PyNumber& a, const PyNumber& b) {
  const int c = compare(a, b);
  if (op == "==") return c == 0;
  if (op == "!=") return c != 0;
  if (c == 2) return false;
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  return c >= 0;  // ">="
}

void check_overflow(bool overflow, const char* op) {
  if (overflow) raise(std::string("an int result of ") + op + " is past 64 bits (Python's ints grow; ltgen's do not)");
}

// Python's float // and % (float_divmod): the floor quotient and a remainder with the divisor's sign.
std::pair<double, double> float_divmod(double vx, double wx) {
  if (wx == 0.0) raise("ZeroDivisionError: float divmod()");
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0.0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  double floordiv;
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, vx / wx);
  }
  return {floordiv, mod};
}

// Python's float ** (float_pow): C's pow, with Python's errors.
double float_pow(double iv, double iw) {
  if (iw == 0.0) return 1.0;
  if (std::isnan(iv)) return iv;
  if (std::isnan(iw)) return iv == 1.0 ? 1.0 : iw;
  if (iv == 0.0 && iw < 0.0) raise("ZeroDivisionError: 0.0 cannot be raised to a negative power");
  if (iv < 0.0 && iw != std::floor(iw) && std::isfinite(iw))
    raise("a negative number to a fractional power is complex in Python: not supported");
  const double r = std::pow(iv, iw);
  if (std::isinf(r) && std::isfinite(iv) && std::isfinite(iw)) raise("OverflowError: (34, 'Numerical result out of range')");
  return r;
}

std::int64_t py_floordiv(std::int64_t a, std::int64_t b) {
  if (b == 0) raise("ZeroDivisionError: integer division or modulo by zero");
  if (a == std::numeric_limits<std::int64_t>::min() && b == -1) raise("an int result of // is past 64 bits");
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
  return q;
}

std::int64_t py_mod(std::int64_t a, std::int64_t b) {
  if (b == 0) raise("ZeroDivisionError: integer division or modulo by zero");
  if (b == -1) return 0;
  std::int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

PyNumber int_pow(std::int64_t base, std::int64_t exponent) {
  if (exponent < 0) {  // Python: both as floats
    if (base == 0) raise("ZeroDivisionError: 0.0 cannot be raised to a negative power");
    return PyNumber::real(float_pow(static_cast<double>(base), static_cast<double>(exponent)));
  }
  std::int64_t result = 1, b = base;
  for (std::int64_t e = exponent; e > 0; e >>= 1) {
    if (e & 1) check_overflow(__builtin_mul_overflow(result, b, &result), "**");
    if (e > 1) check_overflow(__builtin_mul_overflow(b, b, &b), "**");
  }
  return PyNumber::integer(result);
}

PyNumber binary(const std::string& op, const PyNumber& a, const PyNumber& b) {
  if (a.is_int && b.is_int) {
    std::int64_t r = 0;
    if (op == "+") check_overflow(__builtin_add_overflow(a.i, b.i, &r), "+");
    if (op == "-") check_overflow(__builtin_sub_overflow(a.i, b.i, &r), "-");
    if (op == "*") check_overflow(__builtin_mul_overflow(a.i, b.i, &r), "*");
    if (op == "+" || op == "-" || op == "*") return PyNumber::integer(r);
    if (op == "//") return PyNumber::integer(py_floordiv(a.i, b.i));
    if (op == "%") return PyNumber::integer(py_mod(a.i, b.i));
    if (op == "**") return int_pow(a.i, b.i);
    // "/": Python's true division of ints is the exact quotient rounded once, as a float
    // division of exactly held operands is.
    if (b.i == 0) raise("ZeroDivisionError: division by zero");
    if (a.i < -kExact || a.i > kExact || b.i < -kExact || b.i > kExact)
      raise("an int past 2^53 divided with / is not supported");
    return PyNumber::real(static_cast<double>(a.i) / static_cast<double>(b.i));
  }
  const double x = a.as_float(), y = b.as_float();
  if (op == "+") return PyNumber::real(x + y);
  if (op == "-") return PyNumber::real(x - y);
  if (op == "*") return PyNumber::real(x * y);
  if (op == "/") {
    if (y == 0.0) raise("ZeroDivisionError: float division by zero");
    return PyNumber::real(x / y);
  }
  if (op == "//") {
    if (y == 0.0) raise("ZeroDivisionError: float floor division by zero");
    return PyNumber::real(float_divmod(x, y).first);
  }
  if (op == "%") {
    if (y == 0.0) raise("ZeroDivisionError: float modulo");
    return PyNumber::real(float_divmod(x, y).second);
  }
  return PyNumber::real(float_pow(x, y));  // "**"
}

std::int64_t float_to_int(double f, const char* what) {
  if (std::isnan(f)) raise(std::string("ValueError: cannot convert float NaN to integer (") + what + ")");
  if (std::isinf(f)) raise(std::string("OverflowError: cannot convert float infinity to integer (") + what + ")");
  if (f >= 9223372036854775808.0 || f < -9223372036854775808.0)
    raise(std::string("an int result of ") + what + " is past 64 bits");
  return static_cast<std::int64_t>(f);
}

// A math function of one float, with CPython's math_1 checks: a NaN from a number that is not
// NaN is "math domain error" (ValueError), an infinity from a finite number "math range error"
// (OverflowError), unless the function can reach it (can_overflow false: log(0) is a domain error).
double math_1(double x, double (*fn)(double), bool can_overflow) {
  const double r = fn(x);
  if (std::isnan(r) && !std::isnan(x)) raise("ValueError: math domain error");
  if (std::isinf(r) && std::isfinite(x)) {
    if (can_overflow) raise("OverflowError: math range error");
    raise("ValueError: math domain error");
  }
  return r;
}

// math.log(x) as CPython's loghelper for floats: x <= 0 is a domain error.
double math_log(const PyNumber& x, double (*fn)(double)) {
  const double v = x.as_float();
  if (std::isnan(v)) return v;
  if (v <= 0.0) raise("ValueError: math domain error");
  return fn(v);
}

PyNumber call(const std::string& f, const std::vector<PyNumber>& a) {
  const auto want = [&](std::size_t n) {
    if (a.size() != n)
      raise(f + "() takes " + std::to_string(n) + " argument" + (n == 1 ? "" : "s") + ", got " + std::to_string(a.size()));
  };
  if (f == "min" || f == "max") {
    if (a.size() < 2) raise(f + "() needs two or more numbers here (not an iterable)");
    PyNumber best = a[0];
    for (std::size_t k = 1; k < a.size(); ++k)  // Python keeps the first of equal ones
      if (compare_op(f == "min" ? "<" : ">", a[k], best)) best = a[k];
    return best;
  }
  if (f == "abs") {
    want(1);
    if (a[0].is_int) {
      if (a[0].i == std::numeric_limits<std::int64_t>::min()) raise("an int result of abs is past 64 bits");
      return PyNumber::integer(a[0].i < 0 ? -a[0].i : a[0].i);
    }
    return PyNumber::real(std::fabs(a[0].f));
  }
  if (f == "float") {
    want(1);
    return PyNumber::real(a[0].as_float());
  }
  if (f == "int") {
    want(1);
    return a[0].is_int ? a[0] : PyNumber::integer(float_to_int(std::trunc(a[0].f), "int()"));
  }
  if (f == "round") {
    want(1);
    if (a[0].is_int) return a[0];
    return PyNumber::integer(float_to_int(std::nearbyint(a[0].f), "round()"));  // halves to even, as Python's
  }
  if (f == "pow") {
    want(2);
    return binary("**", a[0], a[1]);
  }
  // math.
  if (f == "math.floor" || f == "math.ceil") {
    want(1);
    if (a[0].is_int) return a[0];
    return PyNumber::integer(float_to_int(f == "math.floor" ? std::floor(a[0].f) : std::ceil(a[0].f), f.c_str()));
  }
  if (f == "math.log") {
    if (a.size() == 2) {  // log(x) / log(base), as CPython's math_log
      const double num = math_log(a[0], std::log), den = math_log(a[1], std::log);
      if (den == 0.0) raise("ZeroDivisionError: float division by zero");
      return PyNumber::real(num / den);
    }
    want(1);
    return PyNumber::real(math_log(a[0], std::log));
  }
  if (f == "math.log2") {
    want(1);
    return PyNumber::real(math_log(a[0], std::log2));
  }
  if (f == "math.log10") {
    want(1);
    return PyNumber::real(math_log(a[0], std::log10));
  }
  if (f == "math.pow") {  // floats always, with math_2's checks
    want(2);
    const double x = a[0].as_float(), y = a[1].as_float();
    if (x == 0.0 && y < 0.0) raise("ValueError: math domain error");
    const double r = std::pow(x, y);
    if (std::isnan(r) && !std::isnan(x) && !std::isnan(y)) raise("ValueError: math domain error");
    if (std::isinf(r) && std::isfinite(x) && std::isfinite(y)) raise("OverflowError: math range error");
    return PyNumber::real(r);
  }
  if (f == "math.radians" || f == "math.degrees") {  // CPython: x * degToRad, x * radToDeg
    want(1);
    constexpr double kPi = 3.141592653589793;
    return PyNumber::real(f == "math.radians" ? a[0].as_float() * (kPi / 180.0) : a[0].as_float() * (180.0 / kPi));
  }
  struct Unary {
    double (*fn)(double);
    bool can_overflow;
  };
  static const std::map<std::string, Unary> unary = {
      {"math.cos", {std::cos, false}},   {"math.sin", {std::sin, false}},   {"math.tan", {std::tan, false}},
      {"math.acos", {std::acos, false}}, {"math.asin", {std::asin, false}}, {"math.atan", {std::atan, false}},
      {"math.cosh", {std::cosh, true}},  {"math.sinh", {std::sinh, true}},  {"math.tanh", {std::tanh, false}},
      {"math.exp", {std::exp, true}},    {"math.sqrt", {std::sqrt, false}}, {"math.fabs", {std::fabs, false}}};
  auto it = unary.find(f);
  if (it == unary.end()) raise("unknown function " + f + "()");
  want(1);
  return PyNumber::real(math_1(a[0].as_float(), it->second.fn, it->second.can_overflow));
}

// ---------------------------------------------------------------------------
// Parsing.

class Parser {
 public:
  Parser(const std::string& text, std::vector<Node>& nodes) : s_(text), nodes_(nodes) {}

  int lambda(std::string& parameter) {
    if (!keyword("lambda")) fail("expected `lambda <name>: <expression>`");
    parameter = name();
    if (parameter.empty()) fail("expected the lambda's parameter name");
    skip();
    if (peek() == ',') fail("the lambda takes one parameter (the scheduler's step or epoch count)");
    if (!take(":")) fail("expected ':' after the parameter");
    parameter_ = parameter;
    const int root = test();
    skip();
    if (pos_ != s_.size()) fail("unexpected '" + s_.substr(pos_, 1) + "'");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    raise("column " + std::to_string(pos_ + 1) + ": " + what + " in `" + s_ + "`");
  }
  void skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  char peek() {
    skip();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  bool take(const std::string& token) {
    skip();
    if (s_.compare(pos_, token.size(), token) != 0) return false;
    pos_ += token.size();
    return true;
  }
  static bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
  bool keyword(const std::string& word) {
    skip();
    if (s_.compare(pos_, word.size(), word) != 0) return false;
    if (pos_ + word.size() < s_.size() && word_char(s_[pos_ + word.size()])) return false;
    pos_ += word.size();
    return true;
  }
  std::string name() {
    skip();
    const std::size_t start = pos_;
    if (pos_ < s_.size() && (std::isalpha(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
      while (pos_ < s_.size() && word_char(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  int add(Node n) {
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size()) - 1;
  }
  int make(Node::Kind kind, const std::string& op, std::vector<int> operands) {
    Node n{kind, {}, op, {}, std::move(operands)};
    return add(std::move(n));
  }

  // test: or_test ['if' or_test 'else' test]
  int test() {
    const int then = or_test();
    const std::size_t save = pos_;
    if (keyword("if")) {
      const int condition = or_test();
      if (!keyword("else")) fail("expected 'else' in `a if condition else b`");
      const int otherwise = test();
      return make(Node::Kind::ternary, "", {condition, then, otherwise});
    }
    pos_ = save;
    return then;
  }
  int or_test() {
    int left = and_test();
    while (keyword("or")) left = make(Node::Kind::logical, "or", {left, and_test()});
    return left;
  }
  int and_test() {
    int left = not_test();
    while (keyword("and")) left = make(Node::Kind::logical, "and", {left, not_test()});
    return left;
  }
  int not_test() {
    if (keyword("not")) return make(Node::Kind::unary, "not", {not_test()});
    return comparison();
  }
  int comparison() {
    const int first = arith();
    Node n{Node::Kind::compare, {}, "", {}, {first}};
    for (;;) {
      skip();
      std::string op;
      for (const char* candidate : {"<=", ">=", "==", "!=", "<", ">"})
        if (s_.compare(pos_, std::string(candidate).size(), candidate) == 0) {
          op = candidate;
          break;
        }
      if (op.empty()) break;
      pos_ += op.size();
      n.comparisons.push_back(op);
      n.operands.push_back(arith());
    }
    if (n.comparisons.empty()) return first;
    return add(std::move(n));
  }
  int arith() {
    int left = term();
    for (;;) {
      skip();
      if (peek() == '+' || peek() == '-') {
        const std::string op(1, s_[pos_++]);
        left = make(Node::Kind::binary, op, {left, term()});
      } else {
        return left;
      }
    }
  }
  int term() {
    int left = factor();
    for (;;) {
      std::string op;
      if (take("//")) op = "//";
      else if (peek() == '*' && s_.compare(pos_, 2, "**") != 0) op = "*", ++pos_;
      else if (peek() == '/') op = "/", ++pos_;
      else if (peek() == '%') op = "%", ++pos_;
      else return left;
      left = make(Node::Kind::binary, op, {left, factor()});
    }
  }
  int factor() {
    if (peek() == '-' || peek() == '+') {
      const std::string op(1, s_[pos_++]);
      return make(Node::Kind::unary, op, {factor()});
    }
    return power();
  }
  int power() {
    const int base = atom();
    if (take("**")) return make(Node::Kind::binary, "**", {base, factor()});
    return base;
  }
  int atom() {
    const char c = peek();
    if (c == '(') {
      ++pos_;
      const int inner = test();
      if (!take(")")) fail("expected ')'");
      return inner;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return number();
    const std::size_t start = pos_;
    std::string id = name();
    if (id.empty()) fail(c == '\0' ? "the expression ends early" : "unexpected '" + std::string(1, c) + "'");
    for (const char* word : {"if", "else", "and", "or", "not", "lambda"})
      if (id == word) {
        pos_ = start;
        fail("unexpected '" + id + "'");
      }
    if (id == "math") {
      if (!take(".")) fail("expected math.<name>");
      const std::string member = name();
      if (member.empty()) fail("expected math.<name>");
      id = "math." + member;
      constexpr double kPi = 3.141592653589793;
      if (id == "math.pi") return constant(kPi);
      if (id == "math.e") return constant(2.718281828459045);
      if (id == "math.tau") return constant(6.283185307179586);
      if (id == "math.inf") return constant(std::numeric_limits<double>::infinity());
    }
    if (peek() == '(') {
      ++pos_;
      static const char* const functions[] = {
          "min", "max", "abs", "float", "int", "round", "pow", "math.cos", "math.sin", "math.tan", "math.acos",
          "math.asin", "math.atan", "math.cosh", "math.sinh", "math.tanh", "math.exp", "math.log", "math.log2",
          "math.log10", "math.sqrt", "math.floor", "math.ceil", "math.fabs", "math.pow", "math.radians", "math.degrees"};
      bool known = false;
      for (const char* f : functions) known = known || id == f;
      if (!known) {
        pos_ = start;
        fail("unknown function " + id + "()");
      }
      std::vector<int> args;
      if (!take(")")) {
        do args.push_back(test());
        while (take(","));
        if (!take(")")) fail("expected ')' or ',' in " + id + "()");
      }
      return make(Node::Kind::call, id, std::move(args));
    }
    if (id == parameter_) return make(Node::Kind::parameter, "", {});
    pos_ = start;
    fail("unknown name '" + id + "' (the lambda's parameter is '" + parameter_ + "')");
  }
  int constant(double v) {
    Node n{Node::Kind::number, PyNumber::real(v), "", {}, {}};
    return add(std::move(n));
  }
  // An int (decimal, underscores between digits) or a float literal, read as Python reads it
  // (strtod rounds correctly, as CPython's float parser does).
  int number() {
    skip();
    const std::size_t start = pos_;
    std::string digits;
    bool is_float = false;
    const auto run = [&]() {
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
        if (s_[pos_] != '_') digits += s_[pos_];
        ++pos_;
      }
    };
    run();
    if (pos_ < s_.size() && s_[pos_] == '.') {
      is_float = true;
      digits += s_[pos_++];
      run();
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      is_float = true;
      digits += s_[pos_++];
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) digits += s_[pos_++];
      const std::size_t before = digits.size();
      run();
      if (digits.size() == before) fail("a float's exponent needs digits");
    }
    if (pos_ < s_.size() && word_char(s_[pos_])) fail("invalid number literal");
    const std::string literal = s_.substr(start, pos_ - start);
    if (literal.find("__") != std::string::npos || literal.back() == '_' || literal.find("_.") != std::string::npos ||
        literal.find("._") != std::string::npos)
      fail("invalid underscores in the number " + literal);
    if (digits == ".") fail("invalid number literal");
    if (is_float) {
      Node n{Node::Kind::number, PyNumber::real(std::strtod(digits.c_str(), nullptr)), "", {}, {}};
      return add(std::move(n));
    }
    if (digits.size() > 1 && digits[0] == '0' && digits.find_first_not_of('0') != std::string::npos)
      fail("leading zeros in a decimal int are not Python (" + literal + ")");
    errno = 0;
    const long long v = std::strtoll(digits.c_str(), nullptr, 10);
    if (errno == ERANGE) fail("the int " + literal + " is past 64 bits");
    Node n{Node::Kind::number, PyNumber::integer(v), "", {}, {}};
    return add(std::move(n));
  }

  const std::string& s_;
  std::vector<Node>& nodes_;
  std::size_t pos_ = 0;
  std::string parameter_;
};

}  // namespace

PythonLambda::PythonLambda(std::string text) : text_(std::move(text)) {
  Parser p(text_, nodes_);
  root_ = p.lambda(parameter_);
}

PyNumber PythonLambda::operator()(std::int64_t x) const { return eval(root_, x); }

PyNumber PythonLambda::eval(int index, std::int64_t x) const {
  const Node& n = nodes_[static_cast<std::size_t>(index)];
  switch (n.kind) {
    case Node::Kind::number: return n.value;
    case Node::Kind::parameter: return PyNumber::integer(x);
    case Node::Kind::unary: {
      const PyNumber v = eval(n.operands[0], x);
      if (n.op == "not") return PyNumber::integer(truthy(v) ? 0 : 1);
      if (n.op == "+") return v;
      if (!v.is_int) return PyNumber::real(-v.f);
      if (v.i == std::numeric_limits<std::int64_t>::min()) raise("an int result of - is past 64 bits");
      return PyNumber::integer(-v.i);
    }
    case Node::Kind::binary: return binary(n.op, eval(n.operands[0], x), eval(n.operands[1], x));
    case Node::Kind::compare: {
      PyNumber left = eval(n.operands[0], x);
      for (std::size_t k = 0; k < n.comparisons.size(); ++k) {  // a < b < c: a < b and b < c, b once
        const PyNumber right = eval(n.operands[k + 1], x);
        if (!compare_op(n.comparisons[k], left, right)) return PyNumber::integer(0);
        left = right;
      }
      return PyNumber::integer(1);
    }
    case Node::Kind::logical: {  // Python's and/or give an operand, not a bool
      const PyNumber left = eval(n.operands[0], x);
      if (n.op == "and") return truthy(left) ? eval(n.operands[1], x) : left;
      return truthy(left) ? left : eval(n.operands[1], x);
    }
    case Node::Kind::ternary:
      return truthy(eval(n.operands[0], x)) ? eval(n.operands[1], x) : eval(n.operands[2], x);
    case Node::Kind::call: {
      std::vector<PyNumber> args;
      for (int a : n.operands) args.push_back(eval(a, x));
      return call(n.op, args);
    }
  }
  raise("internal: unknown node");
}

}  // namespace ltrt
