/// \file
/// GroupNorm, as torch.nn.GroupNorm(num_groups, num_channels): the C channels of an (N, C, *)
/// input split into num_groups groups of C / num_groups adjacent channels; each sample's group,
/// D = (C / num_groups) * prod(*) contiguous elements, is normalised as LayerNorm's groups are
///   mean = sum(x) / D,  var = sum((x - mean)^2) / D  (biased),  rstd = 1 / sqrt(var + eps),
/// then scaled and shifted per channel: y = (x - mean) * rstd * weight[c] + bias[c]. Training and
/// evaluation alike (no running statistics). The forward keeps mean and rstd per (sample, group);
/// the backward is LayerNorm's with g = dy * weight[c] (torch's native_group_norm_backward):
///   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  means over the group,
///   dweight[c] = sum over samples and positions of dy * xhat,  dbias[c] = sum of dy,
/// every sum in double on the CPU (a group or a channel can hold tens of thousands of elements;
/// on the GPU the parameter gradients' sums are double, a group's are float lanes and a tree).
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

std::int64_t groups(const Node& n) { return attr_int(n, "num_groups"); }

// Elements of one sample's group: its channels' positions, contiguous in (N, C, *).
std::int64_t group_size(const Node& n, const Value& x) { return x.shape[1] / groups(n) * positions_per_channel(x); }

void write_sizes(CodeWriter& w, const Node& n, const Value& x) {
  w.line("constexpr int kGroups = " + std::to_string(groups(n)) + ";  // num_groups");
  w.line("constexpr int kChannels = " + std::to_string(x.shape[1] / groups(n)) + ";  // channels per group");
  w.line("constexpr int kL = " + std::to_string(positions_per_channel(x)) + ";  // positions per channel and sample");
  w.line("constexpr int kDim = kChannels * kL;  // elements per group and sample");
}

// The channel of element k of group row r (r = sample * kGroups + group), in the CUDA kernels.
const char* kChannelOf = "(r % kGroups * kChannels + k / kL)";

std::string affine_terms(bool affine) {
  return affine ? std::string(" * weight[") + kChannelOf + "] + bias[" + kChannelOf + "]" : "";
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "affine");
  write_sizes(w, n, g.value(n.inputs[0]));
  w.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
  w.open("for (int r = 0; r < n * kGroups; ++r)");
  w.line("const float* x = inp + r * kDim;");
  w.line("double sum = 0.0;  // in double: a group can hold many thousands of elements");
  w.line("for (int k = 0; k < kDim; ++k) sum += x[k];");
  w.line("const float m = static_cast<float>(sum / kDim);");
  w.line("double sum_sq = 0.0;  // two passes: no cancellation when |mean| >> std");
  w.open("for (int k = 0; k < kDim; ++k)");
  w.line("const float c = x[k] - m;");
  w.line("sum_sq += c * c;");
  w.close();
  w.line("const float s = static_cast<float>(1.0 / std::sqrt(sum_sq / kDim + kEps));  // biased variance, as torch");
  w.line("mean[r] = m;");
  w.line("rstd[r] = s;");
  w.line("float* y = out + r * kDim;");
  if (affine) {
    w.line("const int c0 = r % kGroups * kChannels;  // the group's first channel");
    w.open("for (int c = 0; c < kChannels; ++c)");
    w.line("const float a = weight[c0 + c], b = bias[c0 + c];");
    w.line("for (int l = c * kL; l < (c + 1) * kL; ++l) y[l] = (x[l] - m) * s * a + b;");
    w.close();
  } else {
    w.line("for (int k = 0; k < kDim; ++k) y[k] = (x[k] - m) * s;");
  }
  w.close();
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "affine");
  const bool need_dinp = attr_bool(n, "need_dinp");
  write_sizes(w, n, g.value(n.inputs[1]));
  if (affine) {
    w.line("double sum_dy_xhat[kGroups * kChannels] = {}, sum_dy[kGroups * kChannels] = {};  // per channel");
  } else {
    w.line("(void)accumulate;  // no parameters (affine=False)");
  }
  const std::string a = affine ? " * a" : "";
  w.open("for (int r = 0; r < n * kGroups; ++r)");
  w.line("const float* x = inp + r * kDim;");
  w.line("const float* dy = dout + r * kDim;");
  w.line("const float m = mean[r], s = rstd[r];");
  if (affine) w.line("const int c0 = r % kGroups * kChannels;  // the group's first channel");
  if (need_dinp) w.line("double sum_g = 0.0, sum_g_xhat = 0.0;  // g = dy * weight[c]: the gradient of xhat");
  w.open("for (int c = 0; c < kChannels; ++c)");
  if (affine) {
    if (need_dinp) w.line("const float a = weight[c0 + c];");
    w.line("double channel_dy = 0.0, channel_dy_xhat = 0.0;  // this sample's channel, added to the batch's");
  }
  w.open("for (int l = c * kL; l < (c + 1) * kL; ++l)");
  w.line("const float xhat = (x[l] - m) * s;");
  if (need_dinp) {
    w.line("const float gl = dy[l]" + a + ";");
    w.line("sum_g += gl;");
    w.line("sum_g_xhat += gl * xhat;");
  }
  if (affine) {
    w.line("channel_dy += dy[l];");
    w.line("channel_dy_xhat += dy[l] * xhat;");
  }
  w.close();
  if (affine) {
    w.line("sum_dy[c0 + c] += channel_dy;");
    w.line("sum_dy_xhat[c0 + c] += channel_dy_xhat;");
  }
  w.close();
  if (need_dinp) {
    w.line("const float mean_g = static_cast<float>(sum_g / kDim);");
    w.line("const float mean_g_xhat = static_cast<float>(sum_g_xhat / kDim);");
    w.line("float* dx = dinp + r * kDim;");
    w.open("for (int c = 0; c < kChannels; ++c)");
    if (affine) w.line("const float a = weight[c0 + c];");
    w.open("for (int l = c * kL; l < (c + 1) * kL; ++l)");
    w.line("const float xhat = (x[l] - m) * s;");
    w.line("dx[l] = s * (dy[l]" + a + " - mean_g - xhat * mean_g_xhat);");
    w.close();
    w.close();
  }
  w.close();
  if (affine) {
    w.open("for (int c = 0; c < kGroups * kChannels; ++c)");
    w.line("dweight[c] = (accumulate ? dweight[c] : 0.0f) + static_cast<float>(sum_dy_xhat[c]);");
    w.line("dbias[c] = (accumulate ? dbias[c] : 0.0f) + static_cast<float>(sum_dy[c]);");
    w.close();
  }
}

// CUDA forward: LayerNorm's row kernel over the (sample, group) rows, a warp (a block, for long
// groups) a row; the CPU's formulas, only the order of the sums differs.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "affine");
  const Value& x = g.value(n.inputs[0]);
  const RowSplit split = split_rows(group_size(n, x));
  CodeWriter& k = e.kernels;
  k.line();
  std::string sig = "__global__ void " + e.fn + "_kernel(float* __restrict__ out, float* __restrict__ mean, "
                    "float* __restrict__ rstd, const float* __restrict__ inp";
  if (affine) sig += ", const float* __restrict__ weight, const float* __restrict__ bias";
  k.open(sig + ", int rows)");
  write_sizes(k, n, x);
  k.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
  open_row(k, split, "r", "rows");
  write_row_moments(k, split);
  k.line("float* y = out + static_cast<std::int64_t>(r) * kDim;");
  k.line("for (int k = t; k < kDim; k += kRowThreads) y[k] = (x[k] - m) * s" + affine_terms(affine) + ";");
  k.close();
  e.body.line("const int rows = n * " + std::to_string(groups(n)) + ";  // a row per sample and group");
  std::vector<std::string> args = {"out", "mean", "rstd", "inp"};
  if (affine) args.insert(args.end(), {"weight", "bias"});
  args.push_back("rows");
  emit_row_launch(e.body, e.fn + "_kernel", split, "rows", args);
}

// CUDA backward. dinp: a row kernel as the forward's. dweight and dbias: a block per channel
// over its n * kL elements, the sums in double as on the CPU, no atomics.
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "affine");
  const bool need_dinp = attr_bool(n, "need_dinp");
  const Value& x = g.value(n.inputs[1]);
  const RowSplit split = split_rows(group_size(n, x));
  CodeWriter& k = e.kernels;
  if (need_dinp) {
    k.line();
    k.open("__global__ void " + e.fn + "_dinp_kernel(float* __restrict__ dinp, const float* __restrict__ dout, "
           "const float* __restrict__ inp, const float* __restrict__ mean, const float* __restrict__ rstd" +
           (affine ? ", const float* __restrict__ weight" : "") + ", int rows)");
    write_sizes(k, n, x);
    open_row(k, split, "r", "rows");
    write_row_norm_backward(k, split, affine ? std::string("weight[") + kChannelOf + "]" : "");
    k.close();
  }
  if (affine) {
    k.line();
    k.line("// Block c: channel c's sums over the batch's samples and positions, in double.");
    k.open("__global__ void " + e.fn + "_dparams_kernel(float* __restrict__ dweight, float* __restrict__ dbias, "
           "const float* __restrict__ dout, const float* __restrict__ inp, const float* __restrict__ mean, "
           "const float* __restrict__ rstd, int n, bool accumulate)");
    k.line("constexpr int kGroups = " + std::to_string(groups(n)) + ";  // num_groups");
    k.line("constexpr int kChannels = " + std::to_string(x.shape[1] / groups(n)) + ";  // channels per group");
    k.line("constexpr int kL = " + std::to_string(positions_per_channel(x)) + ";  // positions per channel and sample");
    k.line("__shared__ double partial[2][kReduceThreads];");
    k.line("const int c = blockIdx.x;");
    k.line("double sum_dy = 0.0, sum_dy_xhat = 0.0;");
    k.open("for (int j = threadIdx.x; j < n * kL; j += blockDim.x)");
    k.line("const int sample = j / kL;");
    k.line("const int at = (sample * kGroups * kChannels + c) * kL + j % kL;");
    k.line("const int r = sample * kGroups + c / kChannels;  // its (sample, group) row");
    k.line("sum_dy += dout[at];");
    k.line("sum_dy_xhat += static_cast<double>(dout[at] * ((inp[at] - mean[r]) * rstd[r]));");
    k.close();
    write_block_sums(k, {"sum_dy", "sum_dy_xhat"});
    k.open("if (threadIdx.x == 0)");
    k.line("dweight[c] = (accumulate ? dweight[c] : 0.0f) + static_cast<float>(sum_dy_xhat);");
    k.line("dbias[c] = (accumulate ? dbias[c] : 0.0f) + static_cast<float>(sum_dy);");
    k.close();
    k.close();
  }
  if (need_dinp) {
    e.body.line("const int rows = n * " + std::to_string(groups(n)) + ";  // a row per sample and group");
    std::vector<std::string> args = {"dinp", "dout", "inp", "mean", "rstd"};
    if (affine) args.push_back("weight");
    args.push_back("rows");
    emit_row_launch(e.body, e.fn + "_dinp_kernel", split, "rows", args);
  }
  if (affine) {
    emit_launch(e.body, e.fn + "_dparams_kernel", std::to_string(x.shape[1]), "kReduceThreads",
                {"dweight", "dbias", "dout", "inp", "mean", "rstd", "n", "accumulate"});
  } else {
    e.body.line("(void)accumulate;  // no parameters (affine=False)");
  }
}

}  // namespace

void register_group_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "group_norm";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const Shape stats = {x.shape[0], groups(n)};
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}, {DType::f32, stats, x.batched},
                                   {DType::f32, stats, x.batched}};
  };
  f.slots = [](const Node& n) {
    Slots s{{"out", "mean", "rstd"}, {"inp"}};
    if (attr_bool(n, "affine")) s.inputs.insert(s.inputs.end(), {"weight", "bias"});
    return s;
  };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const double e = static_cast<double>(numel(x.shape));
    return Cost{8 * e, 4 * (2 * e + 2 * static_cast<double>(x.shape[1]) + 2 * e / group_size(n, x))};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    const bool affine = attr_bool(n, "affine");
    const bool need_dinp = ad.needs_grad(x);
    std::vector<int> grads(n.inputs.size(), -1);  // parameter gradients live in the grad region
    if (dout[0] < 0 || (!need_dinp && !affine)) return grads;
    Node b;
    b.op = "group_norm_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dinp"] = need_dinp;
    b.inputs = {dout[0], x, n.outputs[1], n.outputs[2]};  // dout, inp, mean, rstd
    if (affine) b.inputs.push_back(n.inputs[1]);
    if (need_dinp) b.outputs.push_back(-1);
    if (affine) {
      b.outputs.push_back(ad.param_grad(n.inputs[1]));
      b.outputs.push_back(ad.param_grad(n.inputs[2]));
    }
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    if (need_dinp) grads[0] = ad.graph.nodes[id].outputs[0];
    return grads;
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "group_norm_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    std::vector<OutputType> t;
    if (attr_bool(n, "need_dinp")) t.push_back({x.dtype, x.shape, x.batched});
    if (attr_bool(n, "affine")) {
      t.push_back({DType::f32, Shape{x.shape[1]}, false});
      t.push_back({DType::f32, Shape{x.shape[1]}, false});
    }
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dout", "inp", "mean", "rstd"}};
    if (attr_bool(n, "need_dinp")) s.outputs.push_back("dinp");
    if (attr_bool(n, "affine")) {
      s.inputs.push_back("weight");
      s.outputs.insert(s.outputs.end(), {"dweight", "dbias"});
    }
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[1]);
    const double e = static_cast<double>(numel(x.shape));
    return Cost{12 * e, 4 * (3 * e + 4 * static_cast<double>(x.shape[1]))};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "GroupNorm";
  ArgDef num_groups{"num_groups", ArgType::integer, std::nullopt};
  num_groups.min = 1;
  ArgDef channels{"num_channels", ArgType::integer, std::nullopt, true};
  channels.min = 1;
  ArgDef eps{"eps", ArgType::number, Attr{1e-5}};
  eps.min = 0.0;
  l.args = {num_groups, channels, eps, {"affine", ArgType::boolean, Attr{true}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() < 2)
      throw ShapeError("expects an (N, C, *) input, got " + shape_str(x.shape));
    const std::int64_t c = x.shape[1];
    auto given = b.args.find("num_channels");
    if (given != b.args.end() && std::get<std::int64_t>(given->second) != c)
      throw ShapeError("num_channels " + std::to_string(std::get<std::int64_t>(given->second)) +
                       " does not match the input " + shape_str(x.shape) + ", which has " + std::to_string(c) +
                       " channels in dim 1; remove num_channels to infer it");
    const std::int64_t g = std::get<std::int64_t>(b.args.at("num_groups"));
    if (c % g != 0) {
      std::string divisors;
      for (std::int64_t d = 1; d <= c; ++d)
        if (c % d == 0) divisors += (divisors.empty() ? "" : ", ") + std::to_string(d);
      throw ShapeError("num_groups " + std::to_string(g) + " must divide the " + std::to_string(c) +
                       " channels of the input " + shape_str(x.shape) + " (as torch requires); use one of " + divisors);
    }
    const bool affine = std::get<bool>(b.args.at("affine"));
    Node n;
    n.op = "group_norm";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["num_groups"] = g;
    n.attrs["num_channels"] = c;  // inferred: --emit lightning writes it
    n.attrs["eps"] = b.args.at("eps");
    n.attrs["affine"] = affine;
    n.inputs = {in.at(0)};
    // torch.nn.GroupNorm.reset_parameters: weight ones, bias zeros.
    if (affine) {
      n.inputs.push_back(add_param(b.graph, b.layer + ".weight", Shape{c}));
      b.graph.value(n.inputs.back()).init = Init::ones;
      n.inputs.push_back(add_param(b.graph, b.layer + ".bias", Shape{c}));
      b.graph.value(n.inputs.back()).init = Init::zeros;
    }
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
