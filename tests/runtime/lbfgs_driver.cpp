// ltrt's side of lbfgs_oracle.py: reads {"cases": [...]} from stdin, each a smooth float32 objective
// (lbfgs_oracle.py's, computed here in the same float32 operations) with a start and LBFGS's
// arguments, runs `steps` optimizer steps and prints, per case, every closure evaluation's loss, the
// final parameters (float32 bits) and the state's counters.
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "ltrt/json.hpp"
#include "ltrt/lbfgs.hpp"
#include "oracle_io.hpp"

namespace {

using ltrt::json::Value;

std::vector<float> floats(const Value& list) {
  std::vector<float> v;
  for (const Value& x : list.items) v.push_back(static_cast<float>(x.num));
  return v;
}

// sum(a (x - c)^2) + sum(k (x[i+1] - x[i])^2) + sum(e x^4), each term in float32, summed in order
// in double and rounded once; the gradient in float32, term by term (the oracle's order).
struct Objective {
  std::vector<float> a, c;
  float k, e, e4;
  bool negate;  // for maximize: the objective's negative and its gradient

  float operator()(const float* x, float* g) const {
    const std::size_t n = a.size();
    std::vector<float> q(n), w(n - 1), quart(n), gd(n - 1);
    for (std::size_t i = 0; i < n; ++i) {
      const float au = a[i] * (x[i] - c[i]);
      const float x2 = x[i] * x[i];
      q[i] = au * (x[i] - c[i]);
      quart[i] = (x2 * e) * x2;
      g[i] = au * 2.0f;
      g[i] = g[i] + (x2 * e4) * x[i];
    }
    for (std::size_t i = 0; i + 1 < n; ++i) {
      const float diff = x[i + 1] - x[i];
      const float dk = diff * k;
      w[i] = dk * diff;
      gd[i] = dk * 2.0f;
    }
    for (std::size_t i = 0; i + 1 < n; ++i) g[i + 1] = g[i + 1] + gd[i];
    for (std::size_t i = 0; i + 1 < n; ++i) g[i] = g[i] - gd[i];
    double sum = 0;
    for (float v : q) sum += v;
    for (float v : w) sum += v;
    for (float v : quart) sum += v;
    float loss = static_cast<float>(sum);
    if (negate) {
      loss = -loss;
      for (std::size_t i = 0; i < n; ++i) g[i] = -g[i];
    }
    return loss;
  }
};

}  // namespace

int main() {
  try {
    const Value in = ltrt_test::read_stdin_json();
    Value out = Value::make_array();
    for (const Value& c : in.find("cases")->items) {
      Objective f{floats(*c.find("a")),
                  floats(*c.find("c")),
                  static_cast<float>(c.find("k")->num),
                  static_cast<float>(c.find("e")->num),
                  static_cast<float>(4.0 * c.find("e")->num),
                  c.find("maximize")->b};
      const Value& o = *c.find("args");
      const ltrt::LbfgsArgs args{o.find("lr")->num,
                                 o.find("max_iter")->integer,
                                 o.find("max_eval")->integer,
                                 o.find("tolerance_grad")->num,
                                 o.find("tolerance_change")->num,
                                 o.find("history_size")->integer,
                                 o.find("strong_wolfe")->b,
                                 f.negate};
      std::vector<float> x = floats(*c.find("x0")), g(x.size());
      Value losses = Value::make_array();
      ltrt::LbfgsState state;
      for (std::int64_t s = 0; s < c.find("steps")->integer; ++s)
        ltrt::lbfgs_step(args, state, x.data(), g.data(), static_cast<std::int64_t>(x.size()), [&] {
          const float loss = f(x.data(), g.data());
          losses.push(Value::make_integer(ltrt_test::float_bits(loss)));
          return loss;
        });
      Value params = Value::make_array();
      for (float v : x) params.push(Value::make_integer(ltrt_test::float_bits(v)));
      Value r = Value::make_object();
      r.set("losses", std::move(losses));
      r.set("params", std::move(params));
      r.set("func_evals", Value::make_integer(state.func_evals));
      r.set("n_iter", Value::make_integer(state.n_iter));
      out.push(std::move(r));
    }
    std::cout << ltrt::json::write(out) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "lbfgs_driver: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
