// torch.optim.SGD / Adam / AdamW / Adamax / RAdam / NAdam / RMSprop / Adagrad / Adadelta / Rprop / ASGD as fused kernels over the flat parameter
// region, a launch per parameter group (each reads its lr, momentum and weight decay): one thread an element, the same
// float arithmetic as runtime/src/sgd.cpp, adam.cpp, adamax.cpp, radam.cpp, nadam.cpp, rmsprop.cpp, adagrad.cpp, adadelta.cpp, rprop.cpp and asgd.cpp (fmaf
// where they call std::fma; the
// runtime's CUDA code is compiled with --fmad=false so nothing else fuses).
#include <cmath>

#include "ltrt/cuda/kernels.cuh"
#include "ltrt/asgd.hpp"
#include "ltrt/error.hpp"
#include "ltrt/lerp.hpp"
#include "ltrt/nadam.hpp"
#include "ltrt/optimizer.hpp"
#include "ltrt/radam.hpp"
#include "ltrt/rprop.hpp"

namespace ltrt::cuda {

namespace {

constexpr int kThreads = 256;  // TUNE: threads per block of the optimizer kernels

struct SgdFlags {
  float weight_decay, one_minus_dampening;
  bool decay, has_buffer, nesterov, maximize;
};

__global__ void sgd_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ momentum_buffer,
                           std::int64_t n, SgdFlags f, int group, const StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (s->found_inf) return;  // GradScaler skips the step (16-mixed)
  float g = f.maximize ? -grad[i] : grad[i];
  if (f.decay) g = fmaf(f.weight_decay, param[i], g);  // grad.add(param, alpha=weight_decay)
  const float momentum = s->momentum[group];
  if (f.has_buffer && momentum != 0.0f) {
    float buf;
    if (s->first_step[group]) {
      buf = g;  // torch.clone(grad).detach()
    } else {
      buf = momentum_buffer[i] * momentum;            // buf.mul_(momentum)
      buf = fmaf(f.one_minus_dampening, g, buf);      // .add_(grad, alpha=1 - dampening)
    }
    momentum_buffer[i] = buf;
    g = f.nesterov ? fmaf(momentum, buf, g) : buf;    // grad.add(buf, alpha=momentum)
  }
  param[i] = fmaf(s->neg_lr[group], g, param[i]);  // param.add_(grad, alpha=-lr)
}

struct AdamFlags {
  float weight_decay, beta2, one_minus_beta2, eps;
  bool decay, decoupled, amsgrad, maximize;
};

// What Adam, AdamW, RAdam and NAdam do first for element i: the weight decay (coupled into the
// gradient, or decoupled onto the parameter), then both moments, stored. Leaves g (the gradient the
// moments used), p (decayed), m and v.
__device__ inline void adam_moments(std::int64_t i, const float* __restrict__ param, const float* __restrict__ grad,
                                    float* __restrict__ exp_avg, float* __restrict__ exp_avg_sq, const AdamFlags& f,
                                    int group, const StepScalars* __restrict__ s, float& g, float& p, float& m,
                                    float& v) {
  g = f.maximize ? -grad[i] : grad[i];
  p = param[i];
  if (f.decay) {
    if (f.decoupled) p = p * s->decoupled_scale[group];  // param.mul_(1 - lr * weight_decay)
    else g = fmaf(f.weight_decay, p, g);                 // grad.add(param, alpha=weight_decay)
  }
  m = lerp(exp_avg[i], g, s->lerp_weight[group]);  // exp_avg.lerp_(grad, 1 - beta1)
  v = exp_avg_sq[i] * f.beta2;                     // exp_avg_sq.mul_(beta2)
  v = v + f.one_minus_beta2 * g * g;               // .addcmul_(grad, grad, value=1 - beta2)
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
}

__global__ void adam_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ exp_avg,
                            float* __restrict__ exp_avg_sq, float* __restrict__ max_exp_avg_sq, std::int64_t n,
                            AdamFlags f, int group, const StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (s->found_inf) return;  // GradScaler skips the step (16-mixed)
  float g, p, m, v;
  adam_moments(i, param, grad, exp_avg, exp_avg_sq, f, group, s, g, p, m, v);
  if (f.amsgrad) {
    v = fmaxf(max_exp_avg_sq[i], v);
    max_exp_avg_sq[i] = v;
  }
  const float denom = sqrtf(v) / s->bias_correction2_sqrt[group] + f.eps;  // (v.sqrt() / bc2_sqrt).add_(eps)
  param[i] = p + s->neg_step_size[group] * m / denom;                // param.addcdiv_(exp_avg, denom, value=-step_size)
}

struct AdamaxFlags {
  float weight_decay, beta2, eps;
  bool decay, maximize;
};

// The step's -lr / (1 - beta1^step) is the group's neg_step_size, as Adam's.
__global__ void adamax_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ exp_avg,
                              float* __restrict__ exp_inf, std::int64_t n, AdamaxFlags f, int group,
                              const StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (s->found_inf) return;  // GradScaler skips the step (16-mixed)
  float g = f.maximize ? -grad[i] : grad[i];
  if (f.decay) g = fmaf(f.weight_decay, param[i], g);         // grad.add(param, alpha=weight_decay)
  const float m = lerp(exp_avg[i], g, s->lerp_weight[group]);  // exp_avg.lerp_(grad, 1 - beta1)
  exp_avg[i] = m;
  const float a = exp_inf[i] * f.beta2, b = fabsf(g) + f.eps;  // max(exp_inf * beta2, |grad| + eps)
  const float u = a != a || b != b ? a + b : fmaxf(a, b);  // torch.maximum keeps a NaN (x != x: NaN)
  exp_inf[i] = u;
  param[i] = param[i] + s->neg_step_size[group] * m / u;  // param.addcdiv_(exp_avg, exp_inf, value=-clr)
}

// RAdam: Adam's moments (AdamFlags without amsgrad), then the rectified update.
__global__ void radam_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ exp_avg,
                             float* __restrict__ exp_avg_sq, std::int64_t n, AdamFlags f, int group,
                             const StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (s->found_inf) return;  // GradScaler skips the step (16-mixed)
  float g, p, m, v;
  adam_moments(i, param, grad, exp_avg, exp_avg_sq, f, group, s, g, p, m, v);
  float update = m / s->bias_correction1[group] * -s->neg_lr[group];  // bias_corrected_exp_avg * lr
  if (s->radam_rectified[group]) {
    update = update * (1.0f / (sqrtf(v) + f.eps) * s->bias_correction2_sqrt[group]);  // * adaptive lr
    update = update * s->radam_rect[group];                                          // * rect
  }
  param[i] = p - update;  // param.add_(update, alpha=-1.0)
}

// NAdam: Adam's moments (AdamFlags without amsgrad), then its two addcdivs over one denominator.
__global__ void nadam_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ exp_avg,
                             float* __restrict__ exp_avg_sq, std::int64_t n, AdamFlags f, int group,
                             const StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (s->found_inf) return;  // GradScaler skips the step (16-mixed)
  float g, p, m, v;
  adam_moments(i, param, grad, exp_avg, exp_avg_sq, f, group, s, g, p, m, v);
  const float denom = sqrtf(v / s->bias_correction2[group]) + f.eps;  // exp_avg_sq.div(bias_correction2).sqrt().add_(eps)
  p = p + s->nadam_grad_value[group] * g / denom;              // param.addcdiv_(grad, denom, value=...)
  param[i] = p + s->nadam_exp_avg_value[group] * m / denom;    // param.addcdiv_(exp_avg, denom, value=...)
}

struct RmspropFlags {
  float weight_decay, alpha, one_minus_alpha, eps;
  bool decay, has_buffer, centered, maximize;
};

// momentum_buffer and grad_avg: null without a momentum, or when not centered.
__global__ void rmsprop_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ square_avg,
                               float* __restrict__ momentum_buffer, float* __restrict__ grad_avg, std::int64_t n,
                               RmspropFlags f, int group, const StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (s->found_inf) return;  // GradScaler skips the step (16-mixed)
  float g = f.maximize ? -grad[i] : grad[i];
  if (f.decay) g = fmaf(f.weight_decay, param[i], g);  // grad.add(param, alpha=weight_decay)
  float v = square_avg[i] * f.alpha;                     // square_avg.mul_(alpha)
  v = v + f.one_minus_alpha * g * g;                     // .addcmul_(grad, grad, value=1 - alpha)
  square_avg[i] = v;
  float avg;
  if (f.centered) {
    const float m = lerp(grad_avg[i], g, f.one_minus_alpha);  // grad_avg.lerp_(grad, 1 - alpha)
    grad_avg[i] = m;
    avg = sqrtf(v + -1.0f * m * m);  // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
  } else {
    avg = sqrtf(v);
  }
  avg = avg + f.eps;
  const float momentum = s->momentum[group];
  if (f.has_buffer && momentum > 0.0f) {
    const float buf = momentum_buffer[i] * momentum + g / avg;  // buf.mul_(momentum).addcdiv_(grad, avg)
    momentum_buffer[i] = buf;
    param[i] = fmaf(s->neg_lr[group], buf, param[i]);  // param.add_(buf, alpha=-lr)
  } else {
    param[i] = param[i] + s->neg_lr[group] * g / avg;  // param.addcdiv_(grad, avg, value=-lr)
  }
}

struct AdagradFlags {
  float weight_decay, initial, eps;
  bool decay, maximize;
};

// The step's -clr is the group's neg_step_size; on the first step state_sum is the initial value.
__global__ void adagrad_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ state_sum,
                               std::int64_t n, AdagradFlags f, int group, const StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (s->found_inf) return;  // GradScaler skips the step (16-mixed)
  float g = f.maximize ? -grad[i] : grad[i];
  if (f.decay) g = fmaf(f.weight_decay, param[i], g);                  // grad.add(param, alpha=weight_decay)
  const float sum = (s->first_step[group] ? f.initial : state_sum[i]) + 1.0f * g * g;  // state_sum.addcmul_(grad, grad, value=1)
  state_sum[i] = sum;
  const float std_dev = sqrtf(sum) + f.eps;                             // state_sum.sqrt().add_(eps)
  param[i] = param[i] + s->neg_step_size[group] * g / std_dev;           // param.addcdiv_(grad, std, value=-clr)
}

struct AdadeltaFlags {
  float weight_decay, rho, one_minus_rho, eps;
  bool decay, maximize;
};

// The step's -lr is the group's neg_lr.
__global__ void adadelta_kernel(float* __restrict__ param, const float* __restrict__ grad,
                                float* __restrict__ square_avg, float* __restrict__ acc_delta, std::int64_t n,
                                AdadeltaFlags f, int group, const StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (s->found_inf) return;  // GradScaler skips the step (16-mixed)
  float g = f.maximize ? -grad[i] : grad[i];
  if (f.decay) g = fmaf(f.weight_decay, param[i], g);  // grad.add(param, alpha=weight_decay)
  float v = square_avg[i] * f.rho;                      // square_avg.mul_(rho)
  v = v + f.one_minus_rho * g * g;                      // .addcmul_(grad, grad, value=1 - rho)
  square_avg[i] = v;
  const float std_dev = sqrtf(v + f.eps);                       // square_avg.add(eps).sqrt_()
  const float delta = sqrtf(acc_delta[i] + f.eps) / std_dev * g;  // acc_delta.add(eps).sqrt_().div_(std).mul_(grad)
  float u = acc_delta[i] * f.rho;                               // acc_delta.mul_(rho)
  u = u + f.one_minus_rho * delta * delta;                      // .addcmul_(delta, delta, value=1 - rho)
  acc_delta[i] = u;
  param[i] = fmaf(s->neg_lr[group], delta, param[i]);  // param.add_(delta, alpha=-lr)
}

struct RpropFlags {
  float etaminus, etaplus, step_size_min, step_size_max;
  bool maximize;
};

// On the first step step_size starts at the group's lr (-neg_lr) and prev at 0.
__global__ void rprop_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ prev,
                             float* __restrict__ step_size, std::int64_t n, RpropFlags f, int group,
                             const StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (s->found_inf) return;  // GradScaler skips the step (16-mixed)
  float g = f.maximize ? -grad[i] : grad[i];
  const float before = s->first_step[group] ? 0.0f : prev[i];
  float sign = torch_sign(g * before);        // grad.mul(prev).sign()
  sign = sign > 0.0f ? f.etaplus : sign;      // sign[sign.gt(0)] = etaplus
  sign = sign < 0.0f ? f.etaminus : sign;     // sign[sign.lt(0)] = etaminus
  sign = sign == 0.0f ? 1.0f : sign;          // sign[sign.eq(0)] = 1
  float step = (s->first_step[group] ? -s->neg_lr[group] : step_size[i]) * sign;  // step_size.mul_(sign)
  step = step != step ? step : fminf(fmaxf(step, f.step_size_min), f.step_size_max);  // .clamp_(); NaN stays
  step_size[i] = step;
  if (sign == f.etaminus) g = 0.0f;                        // grad[sign.eq(etaminus)] = 0
  param[i] = param[i] + -1.0f * torch_sign(g) * step;      // param.addcmul_(grad.sign(), step_size, value=-1)
  prev[i] = g;                                             // prev.copy_(grad)
}

struct AsgdFlags {
  float weight_decay;
  bool decay, maximize;
};

__global__ void asgd_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ ax,
                            std::int64_t n, AsgdFlags f, int group, const StepScalars* __restrict__ s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (s->found_inf) return;  // GradScaler skips the step (16-mixed)
  float g = f.maximize ? -grad[i] : grad[i];
  if (f.decay) g = fmaf(f.weight_decay, param[i], g);  // grad.add(param, alpha=weight_decay)
  float p = param[i] * s->asgd_decay[group];           // param.mul_(1 - lambd * eta)
  p = fmaf(s->asgd_neg_eta[group], g, p);              // param.add_(grad, alpha=-eta)
  param[i] = p;
  ax[i] = s->asgd_average[group] ? ax[i] + (p - ax[i]) * s->asgd_mu[group] : p;  // ax.add_(param.sub(ax).mul_(mu)), or a copy
}

}  // namespace

void set_optimizer_scalars(StepScalars& s, const OptimizerConfig& optimizer, const std::vector<ParamGroupDef>& groups,
                           const std::vector<double>& lrs, const std::vector<double>& momentums,
                           const std::vector<float>& group_states, const std::array<std::int64_t, kMaxParamGroups>& steps) {
  for (std::size_t g = 0; g < groups.size() && g < kMaxParamGroups; ++g) {
    const std::int64_t step = steps[g];
    s.first_step[g] = step == 1;
    const double t = static_cast<double>(step);
    const OptimizerConfig c = group_config(optimizer, groups[g]);  // the group's betas, eps, ...
    const double lr = lrs[g], momentum = momentums[g];  // Adam: momentum is beta1
    const double bias_correction1 = 1.0 - std::pow(momentum, t);
    const double bias_correction2 = 1.0 - std::pow(c.beta2, t);
    s.bias_correction2_sqrt[g] = static_cast<float>(std::sqrt(bias_correction2));
    s.bias_correction2[g] = static_cast<float>(bias_correction2);
    if (c.kind == OptimizerKind::radam) {  // rect depends on beta2 and the step only
      const RadamScalars r = radam_scalars(c.beta1, c.beta2, step);
      s.radam_rectified[g] = r.rectified ? 1 : 0;
      s.bias_correction2_sqrt[g] = static_cast<float>(r.bias_correction2_sqrt);  // torch's bc2**0.5, as the CPU's
      s.radam_rect[g] = static_cast<float>(r.rect);
    }
    s.neg_lr[g] = static_cast<float>(-lr);
    s.momentum[g] = static_cast<float>(momentum);
    s.lerp_weight[g] = static_cast<float>(1.0 - momentum);
    // Adam's -lr / bias_correction1; Adagrad's -clr, its decayed lr (Python floats)
    s.neg_step_size[g] = static_cast<float>(c.kind == OptimizerKind::adagrad ? -(lr / (1.0 + (t - 1.0) * c.lr_decay))
                                                                             : -(lr / bias_correction1));
    s.decoupled_scale[g] = static_cast<float>(1.0 - lr * c.weight_decay);
    s.bias_correction1[g] = static_cast<float>(bias_correction1);
    if (c.kind == OptimizerKind::nadam) {  // as nadam_step's
      if (g >= group_states.size()) throw Error("internal error: NAdam's step scalars without its mu_product");
      const NadamScalars n = nadam_scalars(lr, momentum, c.beta2, c.momentum_decay, step, group_states[g]);
      s.nadam_grad_value[g] = static_cast<float>(n.grad_value);
      s.nadam_exp_avg_value[g] = static_cast<float>(n.exp_avg_value);
    } else if (c.kind == OptimizerKind::asgd) {  // as asgd_step's
      if (g >= group_states.size()) throw Error("internal error: ASGD's step scalars without its eta");
      const AsgdScalars a = asgd_scalars(lr, c.lambd, c.alpha, c.t0, step, group_states[g]);
      s.asgd_decay[g] = a.decay;
      s.asgd_neg_eta[g] = a.neg_eta;
      s.asgd_mu[g] = a.mu;
      s.asgd_average[g] = a.average ? 1 : 0;
    }
  }
}

void optimizer_step(const Context& ctx, const OptimizerConfig& optimizer, const std::vector<ParamGroupDef>& groups,
                    float* param, const float* grad, float* slots, std::int64_t n) {
  for (std::size_t gi = 0; gi < groups.size(); ++gi) {
    const ParamGroupDef& g = groups[gi];
    if (g.count == 0) continue;
    const OptimizerConfig c = group_config(optimizer, g);  // the group's betas, eps, ...
    const std::int64_t b = g.begin;
    const unsigned blocks = blocks_for(g.count, kThreads);
    switch (c.kind) {
      case OptimizerKind::sgd: {
        const SgdFlags f{static_cast<float>(g.weight_decay), static_cast<float>(1.0 - c.dampening),
                         g.weight_decay != 0.0, c.momentum != 0.0, c.nesterov, c.maximize};
        sgd_kernel<<<blocks, kThreads, 0, ctx.stream>>>(param + b, grad + b, f.has_buffer ? slots + b : nullptr,
                                                        g.count, f, static_cast<int>(gi), ctx.scalars);
        LTRT_CUDA_CHECK_LAUNCH("sgd_kernel");
        break;
      }
      case OptimizerKind::adam:
      case OptimizerKind::adamw: {
        const AdamFlags f{static_cast<float>(g.weight_decay), static_cast<float>(c.beta2),
                          static_cast<float>(1.0 - c.beta2), static_cast<float>(c.eps),
                          g.weight_decay != 0.0, c.kind == OptimizerKind::adamw, c.amsgrad, c.maximize};
        adam_kernel<<<blocks, kThreads, 0, ctx.stream>>>(param + b, grad + b, slots + b, slots + n + b,
                                                         c.amsgrad ? slots + 2 * n + b : nullptr, g.count, f,
                                                         static_cast<int>(gi), ctx.scalars);
        LTRT_CUDA_CHECK_LAUNCH("adam_kernel");
        break;
      }
      case OptimizerKind::adamax: {
        const AdamaxFlags f{static_cast<float>(g.weight_decay), static_cast<float>(c.beta2), static_cast<float>(c.eps),
                            g.weight_decay != 0.0, c.maximize};
        adamax_kernel<<<blocks, kThreads, 0, ctx.stream>>>(param + b, grad + b, slots + b, slots + n + b, g.count, f,
                                                           static_cast<int>(gi), ctx.scalars);
        LTRT_CUDA_CHECK_LAUNCH("adamax_kernel");
        break;
      }
      case OptimizerKind::radam: {
        const AdamFlags f{static_cast<float>(g.weight_decay), static_cast<float>(c.beta2),
                          static_cast<float>(1.0 - c.beta2), static_cast<float>(c.eps), g.weight_decay != 0.0,
                          c.decoupled_weight_decay, false, c.maximize};
        radam_kernel<<<blocks, kThreads, 0, ctx.stream>>>(param + b, grad + b, slots + b, slots + n + b, g.count, f,
                                                          static_cast<int>(gi), ctx.scalars);
        LTRT_CUDA_CHECK_LAUNCH("radam_kernel");
        break;
      }
      case OptimizerKind::nadam: {
        const AdamFlags f{static_cast<float>(g.weight_decay), static_cast<float>(c.beta2),
                          static_cast<float>(1.0 - c.beta2), static_cast<float>(c.eps), g.weight_decay != 0.0,
                          c.decoupled_weight_decay, false, c.maximize};
        nadam_kernel<<<blocks, kThreads, 0, ctx.stream>>>(param + b, grad + b, slots + b, slots + n + b, g.count, f,
                                                          static_cast<int>(gi), ctx.scalars);
        LTRT_CUDA_CHECK_LAUNCH("nadam_kernel");
        break;
      }
      case OptimizerKind::rmsprop: {
        // Slots: square_avg, then momentum_buffer (with a momentum), then grad_avg (centered).
        const bool buffer = c.momentum > 0.0;
        const RmspropFlags f{static_cast<float>(g.weight_decay), static_cast<float>(c.alpha),
                             static_cast<float>(1.0 - c.alpha), static_cast<float>(c.eps),
                             g.weight_decay != 0.0, buffer, c.centered, c.maximize};
        rmsprop_kernel<<<blocks, kThreads, 0, ctx.stream>>>(param + b, grad + b, slots + b,
                                                            buffer ? slots + n + b : nullptr,
                                                            c.centered ? slots + (buffer ? 2 : 1) * n + b : nullptr,
                                                            g.count, f, static_cast<int>(gi), ctx.scalars);
        LTRT_CUDA_CHECK_LAUNCH("rmsprop_kernel");
        break;
      }
      case OptimizerKind::adagrad: {
        const AdagradFlags f{static_cast<float>(g.weight_decay), static_cast<float>(c.initial_accumulator_value),
                             static_cast<float>(c.eps), g.weight_decay != 0.0, c.maximize};
        adagrad_kernel<<<blocks, kThreads, 0, ctx.stream>>>(param + b, grad + b, slots + b, g.count, f,
                                                            static_cast<int>(gi), ctx.scalars);
        LTRT_CUDA_CHECK_LAUNCH("adagrad_kernel");
        break;
      }
      case OptimizerKind::adadelta: {
        const AdadeltaFlags f{static_cast<float>(g.weight_decay), static_cast<float>(c.rho),
                              static_cast<float>(1.0 - c.rho), static_cast<float>(c.eps), g.weight_decay != 0.0,
                              c.maximize};
        adadelta_kernel<<<blocks, kThreads, 0, ctx.stream>>>(param + b, grad + b, slots + b, slots + n + b, g.count, f,
                                                             static_cast<int>(gi), ctx.scalars);
        LTRT_CUDA_CHECK_LAUNCH("adadelta_kernel");
        break;
      }
      case OptimizerKind::rprop: {
        const RpropFlags f{static_cast<float>(c.etaminus), static_cast<float>(c.etaplus),
                           static_cast<float>(c.step_size_min), static_cast<float>(c.step_size_max), c.maximize};
        rprop_kernel<<<blocks, kThreads, 0, ctx.stream>>>(param + b, grad + b, slots + b, slots + n + b, g.count, f,
                                                          static_cast<int>(gi), ctx.scalars);
        LTRT_CUDA_CHECK_LAUNCH("rprop_kernel");
        break;
      }
      case OptimizerKind::asgd: {
        const AsgdFlags f{static_cast<float>(g.weight_decay), g.weight_decay != 0.0, c.maximize};
        asgd_kernel<<<blocks, kThreads, 0, ctx.stream>>>(param + b, grad + b, slots + b, g.count, f,
                                                         static_cast<int>(gi), ctx.scalars);
        LTRT_CUDA_CHECK_LAUNCH("asgd_kernel");
        break;
      }
      case OptimizerKind::lbfgs:  // steps on the host with a closure (Optimizer::step_lbfgs), never here
        throw Error("internal: LBFGS has no device step");
    }
  }
}

}  // namespace ltrt::cuda
