/// \file
/// LayerNorm over the trailing `normalized_shape` dimensions of each sample, as
/// torch.nn.LayerNorm: each group of D = prod(normalized_shape) elements is
///   mean = sum(x) / D,  var = sum((x - mean)^2) / D  (biased, as torch),
///   rstd = 1 / sqrt(var + eps),  y = (x - mean) * rstd * weight + bias.
/// The forward keeps mean and rstd per group for the backward (torch's saved
/// tensors); its rule is torch's layer_norm_backward: with xhat = (x - mean) *
/// rstd and g = dy * weight,
///   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
///   dweight = sum over groups of dy * xhat,  dbias = sum over groups of dy.
#include <algorithm>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// Elements per normalised group: prod(normalized_shape).
std::int64_t group_size(const Node& n) { return numel(attr_ints(n, "normalized_shape")); }

void write_sizes(CodeWriter& w, const Node& n, const Value& x) {
  const std::int64_t dim = group_size(n);
  w.line("constexpr int kGroups = " + std::to_string(per_sample_numel(x) / dim) +
         ";  // normalised groups per sample");
  w.line("constexpr int kDim = " + std::to_string(dim) + ";  // elements per group: normalized_shape " +
         attr_repr(n.attrs.at("normalized_shape")));
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "elementwise_affine");
  const bool bias = affine && attr_bool(n, "bias");
  write_sizes(w, n, g.value(n.inputs[0]));
  w.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
  open_split_loop(w, "r", "n * kGroups", group_size(n), SplitIndex::rows);
  w.line("const float* x = inp + r * kDim;");
  w.line("float sum = 0.0f;");
  w.line("for (int k = 0; k < kDim; ++k) sum += x[k];");
  w.line("const float m = sum / kDim;");
  w.line("float sum_sq = 0.0f;  // two passes: no cancellation when |mean| >> std");
  w.open("for (int k = 0; k < kDim; ++k)");
  w.line("const float c = x[k] - m;");
  w.line("sum_sq += c * c;");
  w.close();
  w.line("const float s = 1.0f / std::sqrt(sum_sq / kDim + kEps);  // biased variance, as torch");
  w.line("mean[r] = m;");
  w.line("rstd[r] = s;");
  w.line("float* y = out + r * kDim;");
  std::string value = "(x[k] - m) * s";
  if (affine) value += " * weight[k]";
  if (bias) value += " + bias[k]";
  w.line("for (int k = 0; k < kDim; ++k) y[k] = " + value + ";");
  close_split_loop(w);
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "elementwise_affine");
  const bool bias = affine && attr_bool(n, "bias");
  const bool need_dinp = attr_bool(n, "need_dinp");
  const Value& x = g.value(n.inputs[1]);
  write_sizes(w, n, x);
  if (affine) {
    // The parameters' gradients: sums over the rows, so each part takes a range of columns and
    // adds its rows in order; then dinp, row by row.
    w.line("if (!accumulate) std::fill(dweight, dweight + kDim, 0.0f);");
    if (bias) w.line("if (!accumulate) std::fill(dbias, dbias + kDim, 0.0f);");
    open_split(w, "kDim", numel(x.shape) / group_size(n), SplitIndex::elements);
    w.open("for (int r = 0; r < n * kGroups; ++r)");
    w.line("const float* x = inp + r * kDim;");
    w.line("const float* dy = dout + r * kDim;");
    w.line("const float m = mean[r], s = rstd[r];");
    w.open("for (int k = begin; k < end; ++k)");
    w.line("const float xhat = (x[k] - m) * s;");
    w.line("dweight[k] += dy[k] * xhat;");
    if (bias) w.line("dbias[k] += dy[k];");
    w.close();
    w.close();
    close_split(w);
  } else {
    w.line("(void)accumulate;  // no parameters (elementwise_affine=False)");
  }
  if (!need_dinp) return;
  open_split_loop(w, "r", "n * kGroups", group_size(n), SplitIndex::rows);
  w.line("const float* x = inp + r * kDim;");
  w.line("const float* dy = dout + r * kDim;");
  w.line("const float m = mean[r], s = rstd[r];");
  w.line("float sum_g = 0.0f, sum_g_xhat = 0.0f;  // g = dy * weight: the gradient of xhat");
  w.open("for (int k = 0; k < kDim; ++k)");
  w.line("const float xhat = (x[k] - m) * s;");
  w.line(std::string("const float gk = dy[k]") + (affine ? " * weight[k]" : "") + ";");
  w.line("sum_g += gk;");
  w.line("sum_g_xhat += gk * xhat;");
  w.close();
  w.line("float* dx = dinp + r * kDim;");
  w.open("for (int k = 0; k < kDim; ++k)");
  w.line("const float xhat = (x[k] - m) * s;");
  w.line(std::string("const float gk = dy[k]") + (affine ? " * weight[k]" : "") + ";");
  w.line("dx[k] = s * (gk - sum_g / kDim - xhat * (sum_g_xhat / kDim));");
  w.close();
  close_split_loop(w);
}

// CUDA forward: one fused row kernel; a warp (a block, for long groups) shares a group, with
// coalesced loads and tree reductions for its two sums. The CPU's formulas (two passes, biased
// variance, eps inside the root); only the order of the sums differs.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "elementwise_affine");
  const bool bias = affine && attr_bool(n, "bias");
  const RowSplit split = split_rows(group_size(n));
  CodeWriter& k = e.kernels;
  k.line();
  std::string sig = "__global__ void " + e.fn + "_kernel(float* __restrict__ out, float* __restrict__ mean, "
                    "float* __restrict__ rstd, const float* __restrict__ inp";
  if (affine) sig += ", const float* __restrict__ weight";
  if (bias) sig += ", const float* __restrict__ bias";
  k.open(sig + ", int groups)");
  k.line("constexpr int kDim = " + std::to_string(group_size(n)) + ";");
  k.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
  open_row(k, split, "r", "groups");
  write_row_moments(k, split);
  k.line("float* y = out + static_cast<std::int64_t>(r) * kDim;");
  std::string value = "(x[k] - m) * s";
  if (affine) value += " * weight[k]";
  if (bias) value += " + bias[k]";
  k.line("for (int k = t; k < kDim; k += kRowThreads) y[k] = " + value + ";");
  k.close();
  const Value& x = g.value(n.inputs[0]);
  e.body.line("constexpr int kGroups = " + std::to_string(per_sample_numel(x) / group_size(n)) +
              ";  // normalised groups per sample");
  e.body.line("const int groups = n * kGroups;");
  std::vector<std::string> args = {"out", "mean", "rstd", "inp"};
  if (affine) args.push_back("weight");
  if (bias) args.push_back("bias");
  args.push_back("groups");
  emit_row_launch(e.body, e.fn + "_kernel", split, "groups", args);
}

// CUDA backward. dinp: a row kernel as the forward's, its two sums tree reductions. dweight and
// dbias sum over the groups, per element of the group: a column-sum kernel (32 lanes of groups a
// column, then a tree), where a thread per column left most of the GPU idle (768 threads for
// GPT-2's 8192 groups).
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "elementwise_affine");
  const bool bias = affine && attr_bool(n, "bias");
  const bool need_dinp = attr_bool(n, "need_dinp");
  const RowSplit split = split_rows(group_size(n));
  CodeWriter& k = e.kernels;
  const std::string dim = "constexpr int kDim = " + std::to_string(group_size(n)) + ";";
  if (need_dinp) {
    k.line();
    k.open("__global__ void " + e.fn + "_dinp_kernel(float* __restrict__ dinp, const float* __restrict__ dout, "
           "const float* __restrict__ inp, const float* __restrict__ mean, const float* __restrict__ rstd" +
           (affine ? ", const float* __restrict__ weight" : "") + ", int groups)");
    k.line(dim);
    open_row(k, split, "r", "groups");
    write_row_norm_backward(k, split, affine ? "weight[k]" : "");
    k.close();
  }
  if (affine) {
    std::vector<std::string> params = {"float* __restrict__ dweight"};
    if (bias) params.push_back("float* __restrict__ dbias");
    for (const char* p : {"const float* __restrict__ dout", "const float* __restrict__ inp",
                          "const float* __restrict__ mean", "const float* __restrict__ rstd"})
      params.push_back(p);
    std::vector<ColumnSum> sums = {{"dweight", "dout[at] * ((inp[at] - mean[r]) * rstd[r])"}};
    if (bias) sums.push_back({"dbias", "dout[at]"});
    emit_column_sum_kernel(k, e.fn + "_dparams_kernel", params, "kDim", sums, [&](CodeWriter& c) { c.line(dim); });
  }
  const Value& x = g.value(n.inputs[1]);
  e.body.line("constexpr int kGroups = " + std::to_string(per_sample_numel(x) / group_size(n)) +
              ";  // normalised groups per sample");
  if (affine) e.body.line("constexpr int kDim = " + std::to_string(group_size(n)) + ";");
  e.body.line("const int groups = n * kGroups;");
  if (!affine) e.body.line("(void)accumulate;  // no parameters (elementwise_affine=False)");
  if (need_dinp) {
    std::vector<std::string> args = {"dinp", "dout", "inp", "mean", "rstd"};
    if (affine) args.push_back("weight");
    args.push_back("groups");
    emit_row_launch(e.body, e.fn + "_dinp_kernel", split, "groups", args);
  }
  if (affine) {
    std::vector<std::string> outs = {"dweight"};
    if (bias) outs.push_back("dbias");
    std::vector<std::string> args = outs;
    for (const char* a : {"dout", "inp", "mean", "rstd"}) args.push_back(a);
    emit_column_sum_launch(e.body, e.fn + "_dparams_kernel", "kDim", args, "groups", outs);
  }
}

// The per-group statistics' shape: the batch and the dimensions before normalized_shape.
Shape stats_shape(const Value& x, size_t normalized_dims) {
  return Shape(x.shape.begin(), x.shape.end() - static_cast<long>(normalized_dims));
}

}  // namespace

std::vector<std::int64_t> normalized_shape_of(const LayerBuild& b, int input) {
  const Value& x = b.graph.value(input);
  const Shape sample(x.shape.begin() + 1, x.shape.end());
  std::vector<std::int64_t> ns;
  auto given = b.args.find("normalized_shape");
  if (given == b.args.end()) {
    ns = {sample.back()};  // left out: the last dimension, as nn.LayerNorm(d_model) in a transformer
  } else if (auto* one = std::get_if<std::int64_t>(&given->second)) {
    ns = {*one};
  } else {
    ns = std::get<std::vector<std::int64_t>>(given->second);
  }
  const Shape trailing(sample.end() - static_cast<long>(std::min(ns.size(), sample.size())), sample.end());
  if (ns.size() > sample.size() || !std::equal(ns.begin(), ns.end(), trailing.begin())) {
    std::string want = "[";
    for (size_t i = 0; i < trailing.size(); ++i) want += (i ? ", " : "") + std::to_string(trailing[i]);
    throw ShapeError("normalized_shape " + attr_repr(ns) + " does not match the input " + shape_str(x.shape) +
                     ": it must equal the input's last dimensions (" +
                     (ns.size() > sample.size() ? "the sample has only " + std::to_string(sample.size())
                                                : "here " + want + "]") +
                     "); remove normalized_shape to normalise over the last dimension");
  }
  return ns;
}

void register_layer_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "layer_norm";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const auto& ns = attr_ints(n, "normalized_shape");
    const bool fits = x.shape.size() > ns.size() &&
                      std::equal(ns.begin(), ns.end(), x.shape.end() - static_cast<long>(ns.size()));
    if (!fits)
      throw ShapeError("normalized_shape " + attr_repr(n.attrs.at("normalized_shape")) +
                       " must equal the trailing dimensions of the input " + shape_str(x.shape));
    const Shape stats = stats_shape(x, ns.size());
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}, {DType::f32, stats, x.batched},
                                   {DType::f32, stats, x.batched}};
  };
  f.slots = [](const Node& n) {
    Slots s{{"out", "mean", "rstd"}, {"inp"}};
    if (attr_bool(n, "elementwise_affine")) s.inputs.push_back("weight");
    if (attr_bool(n, "elementwise_affine") && attr_bool(n, "bias")) s.inputs.push_back("bias");
    return s;
  };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    const double groups = e / static_cast<double>(group_size(n));
    return Cost{8 * e, 4 * (2 * e + 2 * static_cast<double>(group_size(n)) + 2 * groups)};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    const bool affine = attr_bool(n, "elementwise_affine");
    const bool bias = affine && attr_bool(n, "bias");
    const bool need_dinp = ad.needs_grad(x);
    std::vector<int> grads(n.inputs.size(), -1);  // parameter gradients live in the grad region
    if (dout[0] < 0 || (!need_dinp && !affine)) return grads;
    Node b;
    b.op = "layer_norm_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dinp"] = need_dinp;
    b.inputs = {dout[0], x, n.outputs[1], n.outputs[2]};  // dout, inp, mean, rstd
    if (affine) b.inputs.push_back(n.inputs[1]);
    if (need_dinp) b.outputs.push_back(-1);
    if (affine) b.outputs.push_back(ad.param_grad(n.inputs[1]));
    if (bias) b.outputs.push_back(ad.param_grad(n.inputs[2]));
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    if (need_dinp) grads[0] = ad.graph.nodes[id].outputs[0];
    return grads;
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "layer_norm_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    const Shape ns(attr_ints(n, "normalized_shape"));
    std::vector<OutputType> t;
    if (attr_bool(n, "need_dinp")) t.push_back({x.dtype, x.shape, x.batched});
    if (attr_bool(n, "elementwise_affine")) {
      t.push_back({DType::f32, ns, false});
      if (attr_bool(n, "bias")) t.push_back({DType::f32, ns, false});
    }
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dout", "inp", "mean", "rstd"}};
    if (attr_bool(n, "need_dinp")) s.outputs.push_back("dinp");
    if (attr_bool(n, "elementwise_affine")) {
      s.inputs.push_back("weight");
      s.outputs.push_back("dweight");
      if (attr_bool(n, "bias")) s.outputs.push_back("dbias");
    }
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{12 * e, 4 * (3 * e + 4 * static_cast<double>(group_size(n)))};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "LayerNorm";
  ArgDef shape{"normalized_shape", ArgType::integer_tuple, std::nullopt, true};  // tuple_size 0: any length
  shape.min = 1;
  ArgDef eps{"eps", ArgType::number, Attr{1e-5}};
  eps.min = 0.0;
  l.args = {shape, eps, {"elementwise_affine", ArgType::boolean, Attr{true}}, {"bias", ArgType::boolean, Attr{true}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const std::vector<std::int64_t> ns = normalized_shape_of(b, in.at(0));
    const bool affine = std::get<bool>(b.args.at("elementwise_affine"));
    const bool bias = affine && std::get<bool>(b.args.at("bias"));
    Node n;
    n.op = "layer_norm";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["normalized_shape"] = ns;
    n.attrs["eps"] = b.args.at("eps");
    n.attrs["elementwise_affine"] = affine;
    n.attrs["bias"] = std::get<bool>(b.args.at("bias"));
    n.inputs = {in.at(0)};
    // torch.nn.LayerNorm.reset_parameters: weight ones, bias zeros.
    if (affine) {
      n.inputs.push_back(add_param(b.graph, b.layer + ".weight", Shape(ns)));
      b.graph.value(n.inputs.back()).init = Init::ones;
    }
    if (bias) {
      n.inputs.push_back(add_param(b.graph, b.layer + ".bias", Shape(ns)));
      b.graph.value(n.inputs.back()).init = Init::zeros;
    }
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
