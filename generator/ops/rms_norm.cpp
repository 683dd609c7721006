/// \file
/// RMSNorm over the trailing `normalized_shape` dimensions of each sample, as torch.nn.RMSNorm
/// (torch 2.4 and later): each group of D = prod(normalized_shape) elements is
///   rstd = 1 / sqrt(sum(x^2) / D + eps),  y = x * rstd * weight
/// with no centring and no bias; eps None (the default) is float32's machine epsilon, as torch
/// takes torch.finfo(x.dtype).eps. The forward keeps rstd per group; with xhat = x * rstd and
/// g = dy * weight the backward is
///   dx = rstd * (g - xhat * mean(g * xhat)),  dweight = sum over groups of dy * xhat.
#include <algorithm>
#include <cfloat>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

std::int64_t group_size(const Node& n) { return numel(attr_ints(n, "normalized_shape")); }

void write_constants(CodeWriter& w, const Node& n) {
  w.line("constexpr int kDim = " + std::to_string(group_size(n)) + ";  // elements per group: normalized_shape " +
         attr_repr(n.attrs.at("normalized_shape")));
  w.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
}

std::string groups_line(const Node& n, const Value& x) {
  return "constexpr int kGroups = " + std::to_string(per_sample_numel(x) / group_size(n)) +
         ";  // normalised groups per sample";
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "elementwise_affine");
  w.line(groups_line(n, g.value(n.inputs[0])));
  write_constants(w, n);
  open_split_loop(w, "r", "n * kGroups", group_size(n), SplitIndex::rows);
  w.line("const float* x = inp + r * kDim;");
  w.line("float sum_sq = 0.0f;");
  w.line("for (int k = 0; k < kDim; ++k) sum_sq += x[k] * x[k];");
  w.line("const float s = 1.0f / std::sqrt(sum_sq / kDim + kEps);  // the root of the mean square, inverted");
  w.line("rstd[r] = s;");
  w.line("float* y = out + r * kDim;");
  w.line(std::string("for (int k = 0; k < kDim; ++k) y[k] = x[k] * s") + (affine ? " * weight[k]" : "") + ";");
  close_split_loop(w);
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "elementwise_affine");
  const Value& x = g.value(n.inputs[1]);
  w.line(groups_line(n, x));
  write_constants(w, n);
  w.line("(void)kEps;");
  if (affine) {
    // dweight sums over the rows: each part takes a range of columns and adds its rows in order.
    w.line("if (!accumulate) std::fill(dweight, dweight + kDim, 0.0f);");
    open_split(w, "kDim", numel(x.shape) / group_size(n), SplitIndex::elements);
    w.open("for (int r = 0; r < n * kGroups; ++r)");
    w.line("const float* x = inp + r * kDim;");
    w.line("const float* dy = dout + r * kDim;");
    w.line("for (int k = begin; k < end; ++k) dweight[k] += dy[k] * (x[k] * rstd[r]);");
    w.close();
    close_split(w);
  } else {
    w.line("(void)accumulate;  // no parameters (elementwise_affine=False)");
  }
  if (!attr_bool(n, "need_dinp")) return;
  open_split_loop(w, "r", "n * kGroups", group_size(n), SplitIndex::rows);
  w.line("const float* x = inp + r * kDim;");
  w.line("const float* dy = dout + r * kDim;");
  w.line("const float s = rstd[r];");
  w.line("float sum_g_xhat = 0.0f;  // g = dy * weight: the gradient of xhat = x * s");
  w.line(std::string("for (int k = 0; k < kDim; ++k) sum_g_xhat += dy[k]") + (affine ? " * weight[k]" : "") +
         " * (x[k] * s);");
  w.line("float* dx = dinp + r * kDim;");
  w.line(std::string("for (int k = 0; k < kDim; ++k) dx[k] = s * (dy[k]") + (affine ? " * weight[k]" : "") +
         " - (x[k] * s) * (sum_g_xhat / kDim));");
  close_split_loop(w);
}

// CUDA forward: a row kernel (a warp, or a block for long groups, a group) whose sum of squares is
// a tree reduction; the CPU's formulas, only the order of the sum differs.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "elementwise_affine");
  const RowSplit split = split_rows(group_size(n));
  CodeWriter& k = e.kernels;
  k.line();
  k.open("__global__ void " + e.fn + "_kernel(float* __restrict__ out, float* __restrict__ rstd, "
         "const float* __restrict__ inp" + (affine ? std::string(", const float* __restrict__ weight") : "") +
         ", int groups)");
  write_constants(k, n);
  open_row(k, split, "r", "groups");
  k.line("const float* x = inp + static_cast<std::int64_t>(r) * kDim;");
  k.line("float sum_sq = 0.0f;");
  k.line("for (int k = t; k < kDim; k += kRowThreads) sum_sq += x[k] * x[k];");
  k.line("sum_sq = " + row_sum(split, "sum_sq") + ";");
  k.line("const float s = 1.0f / std::sqrt(sum_sq / kDim + kEps);");
  k.line("if (t == 0) rstd[r] = s;");
  k.line("float* y = out + static_cast<std::int64_t>(r) * kDim;");
  k.line(std::string("for (int k = t; k < kDim; k += kRowThreads) y[k] = x[k] * s") + (affine ? " * weight[k]" : "") +
         ";");
  k.close();
  e.body.line(groups_line(n, g.value(n.inputs[0])));
  e.body.line("const int groups = n * kGroups;");
  std::vector<std::string> args = {"out", "rstd", "inp"};
  if (affine) args.push_back("weight");
  args.push_back("groups");
  emit_row_launch(e.body, e.fn + "_kernel", split, "groups", args);
}

// CUDA backward: dinp a row kernel as the forward's; dweight a column-sum kernel over the groups.
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "elementwise_affine");
  const bool need_dinp = attr_bool(n, "need_dinp");
  const RowSplit split = split_rows(group_size(n));
  CodeWriter& k = e.kernels;
  const std::string dim = "constexpr int kDim = " + std::to_string(group_size(n)) + ";";
  const std::string g_k = affine ? "dy[k] * weight[k]" : "dy[k]";
  if (need_dinp) {
    k.line();
    k.open("__global__ void " + e.fn + "_dinp_kernel(float* __restrict__ dinp, const float* __restrict__ dout, "
           "const float* __restrict__ inp, const float* __restrict__ rstd" +
           (affine ? std::string(", const float* __restrict__ weight") : "") + ", int groups)");
    k.line(dim);
    open_row(k, split, "r", "groups");
    k.line("const float* x = inp + static_cast<std::int64_t>(r) * kDim;");
    k.line("const float* dy = dout + static_cast<std::int64_t>(r) * kDim;");
    k.line("const float s = rstd[r];");
    k.line("float sum_g_xhat = 0.0f;  // g = dy * weight: the gradient of xhat = x * s");
    k.line("for (int k = t; k < kDim; k += kRowThreads) sum_g_xhat += " + g_k + " * (x[k] * s);");
    k.line("sum_g_xhat = " + row_sum(split, "sum_g_xhat") + ";");
    k.line("float* dx = dinp + static_cast<std::int64_t>(r) * kDim;");
    k.line("for (int k = t; k < kDim; k += kRowThreads) dx[k] = s * (" + g_k + " - (x[k] * s) * (sum_g_xhat / kDim));");
    k.close();
  }
  if (affine)
    emit_column_sum_kernel(k, e.fn + "_dweight_kernel",
                           {"float* __restrict__ dweight", "const float* __restrict__ dout",
                            "const float* __restrict__ inp", "const float* __restrict__ rstd"},
                           "kDim", {{"dweight", "dout[at] * (inp[at] * rstd[r])"}}, [&](CodeWriter& c) { c.line(dim); });
  e.body.line(groups_line(n, g.value(n.inputs[1])));
  if (affine) e.body.line(dim);
  e.body.line("const int groups = n * kGroups;");
  if (!affine) e.body.line("(void)accumulate;  // no parameters (elementwise_affine=False)");
  if (need_dinp) {
    std::vector<std::string> args = {"dinp", "dout", "inp", "rstd"};
    if (affine) args.push_back("weight");
    args.push_back("groups");
    emit_row_launch(e.body, e.fn + "_dinp_kernel", split, "groups", args);
  }
  if (affine)
    emit_column_sum_launch(e.body, e.fn + "_dweight_kernel", "kDim", {"dweight", "dout", "inp", "rstd"}, "groups",
                           {"dweight"});
}

}  // namespace

void register_rms_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "rms_norm";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const std::size_t dims = attr_ints(n, "normalized_shape").size();
    const Shape stats(x.shape.begin(), x.shape.end() - static_cast<long>(dims));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}, {DType::f32, stats, x.batched}};
  };
  f.slots = [](const Node& n) {
    Slots s{{"out", "rstd"}, {"inp"}};
    if (attr_bool(n, "elementwise_affine")) s.inputs.push_back("weight");
    return s;
  };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{4 * e, 4 * (2 * e + static_cast<double>(group_size(n)) + e / static_cast<double>(group_size(n)))};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    const bool affine = attr_bool(n, "elementwise_affine");
    const bool need_dinp = ad.needs_grad(x);
    std::vector<int> grads(n.inputs.size(), -1);  // the weight's gradient lives in the grad region
    if (dout[0] < 0 || (!need_dinp && !affine)) return grads;
    Node b;
    b.op = "rms_norm_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dinp"] = need_dinp;
    b.inputs = {dout[0], x, n.outputs[1]};  // dout, inp, rstd
    if (affine) b.inputs.push_back(n.inputs[1]);
    if (need_dinp) b.outputs.push_back(-1);
    if (affine) b.outputs.push_back(ad.param_grad(n.inputs[1]));
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    if (need_dinp) grads[0] = ad.graph.nodes[id].outputs[0];
    return grads;
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "rms_norm_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    std::vector<OutputType> t;
    if (attr_bool(n, "need_dinp")) t.push_back({x.dtype, x.shape, x.batched});
    if (attr_bool(n, "elementwise_affine")) t.push_back({DType::f32, Shape(attr_ints(n, "normalized_shape")), false});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dout", "inp", "rstd"}};
    if (attr_bool(n, "need_dinp")) s.outputs.push_back("dinp");
    if (attr_bool(n, "elementwise_affine")) {
      s.inputs.push_back("weight");
      s.outputs.push_back("dweight");
    }
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{8 * e, 4 * (3 * e + 2 * static_cast<double>(group_size(n)))};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "RMSNorm";
  ArgDef shape{"normalized_shape", ArgType::integer_tuple, std::nullopt, true};  // tuple_size 0: any length
  shape.min = 1;
  ArgDef eps{"eps", ArgType::number, std::nullopt};  // None: torch.finfo(float32).eps
  eps.min = 0.0;
  eps.optional = true;
  eps.nullable = true;
  l.args = {shape, eps, {"elementwise_affine", ArgType::boolean, Attr{true}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const std::vector<std::int64_t> ns = normalized_shape_of(b, in.at(0));
    const bool affine = std::get<bool>(b.args.at("elementwise_affine"));
    Node n;
    n.op = "rms_norm";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["normalized_shape"] = ns;
    auto eps = b.args.find("eps");
    n.attrs["eps"] = eps != b.args.end() ? std::get<double>(eps->second) : static_cast<double>(FLT_EPSILON);
    n.attrs["elementwise_affine"] = affine;
    n.inputs = {in.at(0)};
    if (affine) {  // torch.nn.RMSNorm.reset_parameters: ones
      n.inputs.push_back(add_param(b.graph, b.layer + ".weight", Shape(ns)));
      b.graph.value(n.inputs.back()).init = Init::ones;
    }
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
