// torch.optim.LBFGS's step and _strong_wolfe line search (torch/optim/lbfgs.py), line by line.
#include "ltrt/lbfgs.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "ltrt/callbacks.hpp"
#include "ltrt/cascade_sum.hpp"
#include "ltrt/error.hpp"
#include "ltrt/python_repr.hpp"
#include "ltrt/trainer_config.hpp"

namespace ltrt {

namespace {

// A scalar of torch's LBFGS: a Python float (double arithmetic) or a 0-dim float32 tensor (a
// gradient's dot product, and whatever is computed from one). An operation with a tensor casts the
// Python operand to float32 and rounds once to float32; two Python floats stay in double.
struct Num {
  double v;
  bool tensor;
};
Num py(double v) { return {v, false}; }
Num f32(float v) { return {static_cast<double>(v), true}; }
float as_float(Num a) { return static_cast<float>(a.v); }
bool either(Num a, Num b) { return a.tensor || b.tensor; }

Num operator+(Num a, Num b) { return either(a, b) ? f32(as_float(a) + as_float(b)) : py(a.v + b.v); }
Num operator-(Num a, Num b) { return either(a, b) ? f32(as_float(a) - as_float(b)) : py(a.v - b.v); }
Num operator*(Num a, Num b) { return either(a, b) ? f32(as_float(a) * as_float(b)) : py(a.v * b.v); }
// A Python float over a tensor is Tensor.__rdiv__: the tensor's reciprocal times the float.
Num operator/(Num a, Num b) {
  if (!either(a, b)) return py(a.v / b.v);
  if (!a.tensor) return f32((1.0f / as_float(b)) * as_float(a));
  return f32(as_float(a) / as_float(b));
}
bool operator<(Num a, Num b) { return either(a, b) ? as_float(a) < as_float(b) : a.v < b.v; }
bool operator<=(Num a, Num b) { return either(a, b) ? as_float(a) <= as_float(b) : a.v <= b.v; }
bool operator>(Num a, Num b) { return b < a; }
bool operator>=(Num a, Num b) { return b <= a; }
Num abs(Num a) { return {std::fabs(a.v), a.tensor}; }
// Python's max and min of two: the first, unless the second is greater (smaller).
Num py_max(Num a, Num b) { return b > a ? b : a; }
Num py_min(Num a, Num b) { return b < a ? b : a; }

// A float32 dot product (torch's dot: a BLAS sdot), summed in double and rounded once.
float dot(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(sum);
}

// max(|a * scale|) (a.abs().max(), d.mul(t).abs().max()); NaN where one is, as torch's max.
float max_abs(const std::vector<float>& a, float scale = 1.0f) {
  float m = 0.0f;
  for (float v : a) {
    const float x = std::fabs(v * scale);
    if (std::isnan(x)) return x;
    m = std::max(m, x);
  }
  return m;
}

// param.add_(d, alpha=t): a fused multiply-add, t rounded to float32 (torch converts the Scalar with
// an overflow check: a finite Python float beyond float32's range raises).
void add_step(float* param, Num t, const std::vector<float>& d) {
  if (!t.tensor && std::isfinite(t.v) && std::fabs(t.v) > static_cast<double>(FLT_MAX))
    throw Error("LBFGS: the step length " + python_repr(t.v) +
                " overflows float32 (torch's p.add_(d, alpha=t) "
                "raises 'value cannot be converted to type float without overflow')");
  const float alpha = as_float(t);
  for (std::size_t i = 0; i < d.size(); ++i) param[i] = std::fma(alpha, d[i], param[i]);
}

// _cubic_interpolate: the minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2,
// within the bounds (the two points when none are given).
Num cubic_interpolate(Num x1, Num f1, Num g1, Num x2, Num f2, Num g2, const Num* bounds) {
  Num lo = x2, hi = x1;
  if (bounds) {
    lo = bounds[0];
    hi = bounds[1];
  } else if (x1 <= x2) {
    lo = x1;
    hi = x2;
  }
  const Num d1 = g1 + g2 - py(3) * (f1 - f2) / (x1 - x2);
  const Num d2_square = d1 * d1 - g1 * g2;  // d1**2: a tensor's pow(2) is its square
  if (d2_square >= py(0)) {
    const Num d2 = d2_square.tensor ? f32(std::sqrt(as_float(d2_square))) : py(std::sqrt(d2_square.v));
    const Num min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + py(2) * d2))
                                 : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + py(2) * d2));
    return py_min(py_max(min_pos, lo), hi);
  }
  return (lo + hi) / py(2.0);
}

// A point of the line search: the loss and gradient at x + t d.
struct Probe {
  Num t;
  double f;
  std::vector<float> g;
  Num gtd;
};

// _strong_wolfe with torch's defaults c1 = 1e-4, c2 = 0.9, tolerance_change = 1e-9. `evaluate(t)` gives the
// loss and flat gradient at x + t d and leaves the parameters at x. Returns the point it settles on and
// the evaluations it made.
template <class Evaluate>
Probe strong_wolfe(const Evaluate& evaluate, const std::vector<float>& d, Num t, double f, const std::vector<float>& g,
                   Num gtd, std::int64_t max_ls, std::int64_t& evals) {
  const Num c1 = py(1e-4), c2 = py(0.9), tolerance_change = py(1e-9);
  const Num d_norm = f32(max_abs(d));
  auto probe = [&](Num at) {
    Probe p{at, 0, {}, py(0)};
    p.f = evaluate(at, p.g);
    p.gtd = f32(dot(p.g, d));
    ++evals;
    return p;
  };
  auto sufficient_decrease_fails = [&](const Probe& p) { return py(p.f) > py(f) + c1 * p.t * gtd; };
  auto curvature_holds = [&](const Probe& p) { return abs(p.gtd) <= py(-c2.v) * gtd; };
  Probe prev{py(0), f, g, gtd};
  Probe next = probe(t);
  std::vector<Probe> bracket;
  bool done = false;
  std::int64_t ls_iter = 0;
  while (ls_iter < max_ls) {
    if (sufficient_decrease_fails(next) || (ls_iter > 1 && py(next.f) >= py(prev.f))) {
      bracket = {prev, next};
      break;
    }
    if (curvature_holds(next)) {
      bracket = {next};
      done = true;
      break;
    }
    if (next.gtd >= py(0)) {
      bracket = {prev, next};
      break;
    }
    // interpolate
    const Num bounds[2] = {next.t + py(0.01) * (next.t - prev.t), next.t * py(10)};
    const Num t_new = cubic_interpolate(prev.t, py(prev.f), prev.gtd, next.t, py(next.f), next.gtd, bounds);
    prev = std::move(next);
    next = probe(t_new);
    ++ls_iter;
  }
  if (ls_iter == max_ls) bracket = {Probe{py(0), f, g, gtd}, next};  // (its slopes are not read again)

  // zoom
  bool insuf_progress = false;
  int low = bracket.front().f <= bracket.back().f ? 0 : 1;
  while (!done && ls_iter < max_ls) {
    Probe& b0 = bracket[0];
    Probe& b1 = bracket[1];
    if (abs(b1.t - b0.t) * d_norm < tolerance_change) break;
    Num t_new = cubic_interpolate(b0.t, py(b0.f), b0.gtd, b1.t, py(b1.f), b1.gtd, nullptr);
    const Num top = py_max(b0.t, b1.t), bottom = py_min(b0.t, b1.t);
    const Num eps = py(0.1) * (top - bottom);
    if (py_min(top - t_new, t_new - bottom) < eps) {
      if (insuf_progress || t_new >= top || t_new <= bottom) {
        t_new = abs(t_new - top) < abs(t_new - bottom) ? top - eps : bottom + eps;
        insuf_progress = false;
      } else {
        insuf_progress = true;
      }
    } else {
      insuf_progress = false;
    }
    Probe p = probe(t_new);
    ++ls_iter;
    const int high = 1 - low;
    if (sufficient_decrease_fails(p) || py(p.f) >= py(bracket[low].f)) {
      bracket[high] = std::move(p);
      low = bracket[0].f <= bracket[1].f ? 0 : 1;
    } else {
      if (curvature_holds(p))
        done = true;
      else if (p.gtd * (bracket[high].t - bracket[low].t) >= py(0))
        bracket[high] = bracket[low];
      bracket[low] = std::move(p);
    }
  }
  return std::move(bracket[static_cast<std::size_t>(low)]);
}

}  // namespace

float lbfgs_step(const LbfgsArgs& a, LbfgsState& s, float* param, const float* grad, std::int64_t n,
                 const LbfgsClosure& closure) {
  const std::size_t size = static_cast<std::size_t>(n);
  auto signed_loss = [&](float l) { return a.maximize ? -static_cast<double>(l) : static_cast<double>(l); };
  // _gather_flat_grad: the gradients, negated for maximize.
  auto gather = [&](std::vector<float>& flat) {
    flat.assign(grad, grad + n);
    if (a.maximize)
      for (float& v : flat) v = -v;
  };
  const float tolerance_grad = static_cast<float>(a.tolerance_grad);

  // evaluate initial f(x) and df/dx
  const float orig_loss = closure();
  double loss = signed_loss(orig_loss);
  std::int64_t current_evals = 1;
  s.func_evals += 1;
  std::vector<float> flat_grad;
  gather(flat_grad);
  bool opt_cond = max_abs(flat_grad) <= tolerance_grad;
  if (opt_cond) return orig_loss;

  if (s.n_iter > 0 && (!s.has_direction || s.d.size() != size || s.prev_flat_grad.size() != size))
    throw Error("internal: LBFGS's state has " + std::to_string(s.n_iter) + " iterations but no direction of " +
                std::to_string(n) + " values");
  // d, t, H_diag and prev_loss are torch's locals until the step ends (a checkpoint saved inside the
  // step keeps the last step's); the history, prev_flat_grad and the counts change in place.
  std::vector<float> d = s.d;
  Num t = py(s.t);
  float h_diag = s.h_diag;
  double prev_loss = s.prev_loss;
  std::vector<float> y(size), step(size), q(size);
  std::vector<float> al;
  std::int64_t n_iter = 0;
  while (n_iter < a.max_iter) {
    ++n_iter;
    ++s.n_iter;
    // compute gradient descent direction
    if (s.n_iter == 1) {
      d.resize(size);
      for (std::size_t i = 0; i < size; ++i) d[i] = -flat_grad[i];
      s.old_dirs.clear();
      s.old_stps.clear();
      s.ro.clear();
      h_diag = 1.0f;
    } else {
      // do lbfgs update (update memory)
      const float tf = as_float(t);
      for (std::size_t i = 0; i < size; ++i) {
        y[i] = flat_grad[i] - s.prev_flat_grad[i];
        step[i] = d[i] * tf;
      }
      const float ys = dot(y, step);
      if (ys > 1e-10f) {
        // The buffers of the update a full history drops take the next update's y and s, so that a full
        // history allocates nothing.
        std::vector<float> spare_y, spare_s;
        if (static_cast<std::int64_t>(s.old_dirs.size()) == a.history_size) {
          spare_y = std::move(s.old_dirs.front());
          spare_s = std::move(s.old_stps.front());
          s.old_dirs.pop_front();
          s.old_stps.pop_front();
          s.ro.pop_front();
        } else {
          spare_y.resize(size);
          spare_s.resize(size);
        }
        s.old_dirs.push_back(std::move(y));
        s.old_stps.push_back(std::move(step));
        s.ro.push_back(1.0f / ys);
        h_diag = ys / dot(s.old_dirs.back(), s.old_dirs.back());
        y = std::move(spare_y);
        step = std::move(spare_s);
      }
      // the approximate inverse Hessian times the gradient, in one buffer
      const std::size_t num_old = s.old_dirs.size();
      al.assign(num_old, 0.0f);
      for (std::size_t i = 0; i < size; ++i) q[i] = -flat_grad[i];
      for (std::size_t k = num_old; k-- > 0;) {
        al[k] = dot(s.old_stps[k], q) * s.ro[k];
        const float alpha = -al[k];
        const std::vector<float>& dir = s.old_dirs[k];
        for (std::size_t i = 0; i < size; ++i) q[i] = std::fma(alpha, dir[i], q[i]);
      }
      d.resize(size);
      for (std::size_t i = 0; i < size; ++i) d[i] = q[i] * h_diag;  // torch.mul(q, H_diag)
      for (std::size_t k = 0; k < num_old; ++k) {
        const float be = dot(s.old_dirs[k], d) * s.ro[k];
        const float alpha = al[k] - be;
        const std::vector<float>& stp = s.old_stps[k];
        for (std::size_t i = 0; i < size; ++i) d[i] = std::fma(alpha, stp[i], d[i]);
      }
    }
    s.prev_flat_grad = flat_grad;
    prev_loss = loss;

    // compute step length: the first iteration ever min(1, 1 / |g|_1) * lr (a float32 tensor where the
    // reciprocal is below 1), then lr
    if (s.n_iter == 1) {
      const float l1 = torch_sum([&](std::int64_t i) { return std::fabs(flat_grad[static_cast<std::size_t>(i)]); }, n);
      const Num inverse = py(1.0) / f32(l1);
      t = py_min(py(1.0), inverse) * py(a.lr);
    } else {
      t = py(a.lr);
    }
    // directional derivative
    const float gtd = dot(flat_grad, d);
    if (gtd > static_cast<float>(-a.tolerance_change)) break;

    std::int64_t ls_func_evals = 0;
    if (a.strong_wolfe) {
      const std::vector<float> x(param, param + n);
      auto evaluate = [&](Num at, std::vector<float>& g) {  // _directional_evaluate
        add_step(param, at, d);
        const double f = signed_loss(closure());
        gather(g);
        std::memcpy(param, x.data(), size * sizeof(float));
        return f;
      };
      Probe found = strong_wolfe(evaluate, d, t, loss, flat_grad, f32(gtd), a.max_eval - current_evals, ls_func_evals);
      loss = found.f;
      flat_grad = std::move(found.g);
      t = found.t;
      add_step(param, t, d);
      opt_cond = max_abs(flat_grad) <= tolerance_grad;
    } else {
      // no line search, simply move with fixed-step
      add_step(param, t, d);
      if (n_iter != a.max_iter) {
        // re-evaluate the function only if not in the last iteration
        loss = signed_loss(closure());
        gather(flat_grad);
        opt_cond = max_abs(flat_grad) <= tolerance_grad;
        ls_func_evals = 1;
      }
    }
    current_evals += ls_func_evals;
    s.func_evals += ls_func_evals;

    // check conditions
    if (n_iter == a.max_iter) break;
    if (current_evals >= a.max_eval) break;
    if (opt_cond) break;
    if (max_abs(d, as_float(t)) <= static_cast<float>(a.tolerance_change)) break;  // lack of progress
    if (std::fabs(loss - prev_loss) < a.tolerance_change) break;
  }
  s.d = std::move(d);
  s.t = t.v;
  s.h_diag = h_diag;
  s.prev_loss = prev_loss;
  s.has_direction = true;
  return orig_loss;
}

LbfgsRefusal lbfgs_refusal(const TrainerConfig& trainer, const Callbacks& callbacks, bool on_gpu) {
  const std::string prefix = "the optimizer LBFGS ";
  if (on_gpu && trainer.precision == "16-mixed")  // (on the CPU Lightning runs bf16-mixed, without a scaler)
    return {"precision",
            "AMP and the LBFGS optimizer are not compatible (Lightning's MixedPrecision plugin refuses "
            "its GradScaler with LBFGS): set trainer.precision \"bf16-mixed\" or \"32-true\""};
  if (trainer.accumulate_grad_batches > 1)
    return {"accumulate_grad_batches",
            prefix + "with accumulate_grad_batches " + std::to_string(trainer.accumulate_grad_batches) +
                " is not supported (Lightning's closure then skips zero_grad, so each of the step's evaluations adds "
                "to the gradients of the last): set trainer.accumulate_grad_batches to 1"};
  if (trainer.processes() > 1)
    return {"devices", prefix +
                           "under DDP is not supported yet (each rank's line search and stopping tests read its "
                           "own loss, so the ranks could evaluate the closure a different number of times and "
                           "wait on each other's gradients): train on one device"};
  for (const auto& cb : callbacks.list()) {
    const std::string name = cb->class_name();
    if (name == "GradientAccumulationScheduler")
      return {"callbacks", prefix +
                               "with a GradientAccumulationScheduler is not supported (accumulated batches: see "
                               "accumulate_grad_batches): leave it out"};
    if (name == "StochasticWeightAveraging" || name == "LearningRateFinder" || name == "BackboneFinetuning")
      return {"callbacks", prefix + "with " + name + " is not supported yet: leave the callback out"};
  }
  return {};
}

}  // namespace ltrt
