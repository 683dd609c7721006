/// \file
/// GaussianNLLLoss(full, eps, reduction) over two predictions, the mean x and the variance var,
/// and the target y, as torch's gaussian_nll_loss(input, target, var) computes it:
///   v = var clamped below at eps (torch clamps a copy under no_grad: the gradient passes to var
///       as if there were no clamp)
///   term = 0.5 (log(v) + (x - y)^2 / v)   [+ 0.5 log(2 pi) when full]
/// and the mean (or sum) of the terms. var has x's shape, or one variance per row of x's last
/// dimension: x's shape with the last dimension 1, or without it (torch unsqueezes it), which the
/// row's terms share. The gradients are autograd's through those steps:
///   dx = (g / 2) / v * (2 (x - y)),   dvar = (g / 2) / v - (g / 2) ((x - y)^2 / v / v)
/// summed over a row where var is shared. torch refuses a negative var when it runs; ltgen takes
/// var only from a layer whose output cannot be negative (Softplus, Sigmoid, ReLU), as BCELoss
/// takes only a Sigmoid's output.
#include <cmath>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

namespace {

// The node's x is its input `first` (the forward's 0; the backward's 1, after dloss), var the next.
// Whether each row of x's last dimension shares one variance.
bool shared_var(const Node& n, const Graph& g, int first) {
  return numel(g.value(n.inputs.at(first + 1)).shape) != numel(g.value(n.inputs.at(first)).shape);
}

// The sizes and constants the forward (first 0) or the backward (1) reads.
void write_constants(CodeWriter& w, const Node& n, const Graph& g, int first) {
  const Value& x = g.value(n.inputs[first]);
  if (first == 0 || attr_str(n, "reduction") == "mean")
    w.line("constexpr int kTerms = " + std::to_string(per_sample_numel(x)) + ";  // per sample");
  if (shared_var(n, g, first)) w.line("constexpr int kRow = " + std::to_string(x.shape.back()) + ";  // terms sharing a variance");
  w.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";  // var's lower clamp");
  if (first == 0 && attr_bool(n, "full"))
    w.line("constexpr float kHalfLog2Pi = " + float_literal(0.5 * std::log(2.0 * std::acos(-1.0))) + ";  // full: 0.5 log(2 pi)");
}

std::string var_index(const Node& n, const Graph& g) { return shared_var(n, g, 0) ? "i / kRow" : "i"; }

// Term i of the batch, `term`.
std::vector<std::string> term_lines(const Node& n, const Graph& g) {
  std::vector<std::string> l = {"const float v = std::max(var[" + var_index(n, g) + "], kEps);  // clamp_(min=eps), NaN kept",
                                "const float d = x[i] - target[i];",
                                "const float term = 0.5f * (std::log(v) + d * d / v)" +
                                    std::string(attr_bool(n, "full") ? " + kHalfLog2Pi;" : ";")};
  return l;
}

std::string divisor(const Node& n) { return attr_str(n, "reduction") == "mean" ? " / (n * kTerms)" : ""; }

OpDef forward_op() {
  OpDef f;
  f.name = "gaussian_nll_loss";
  f.infer = [](const Node&, const Graph&) { return std::vector<OutputType>{{DType::f32, {}, false}}; };
  f.slots = [](const Node&) { return Slots{{"loss"}, {"x", "var", "target"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * 20, e * 12};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n, g, 0);
    w.line("double sum = 0.0;");
    w.open("for (int i = 0; i < n * kTerms; ++i)");
    for (const std::string& l : term_lines(n, g)) w.line(l);
    w.line("sum += term;");
    w.close();
    w.line("loss[0] = static_cast<float>(sum" + divisor(n) + ");  // reduction='" + attr_str(n, "reduction") + "'");
  };
  // CUDA: one block sums the terms in double, a thread a strided share, then a tree reduction
  // (deterministic), as the pointwise losses.
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    write_block_sum_kernel(
        e.kernels, e.fn + "_kernel",
        "float* __restrict__ loss, const float* __restrict__ x, const float* __restrict__ var, "
        "const float* __restrict__ target, int n",
        [&](CodeWriter& k) { write_constants(k, n, g, 0); }, "for (int i = threadIdx.x; i < n * kTerms; i += blockDim.x)",
        [&](CodeWriter& k) {
          for (const std::string& l : term_lines(n, g)) k.line(l);
          k.line("sum += term;");
        },
        "if (threadIdx.x == 0) loss[0] = static_cast<float>(partial[0]" + divisor(n) + ");  // reduction='" +
            attr_str(n, "reduction") + "'");
    emit_launch(e.body, e.fn + "_kernel", "1", "kReduceThreads", {"loss", "x", "var", "target", "n"});
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const bool dx = ad.needs_grad(n.inputs[0]), dvar = ad.needs_grad(n.inputs[1]);
    if (dout[0] < 0 || (!dx && !dvar)) return std::vector<int>{-1, -1, -1};
    Node b;
    b.op = "gaussian_nll_loss_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dx"] = dx;
    b.attrs["need_dvar"] = dvar;
    b.inputs = {dout[0], n.inputs[0], n.inputs[1], n.inputs[2]};
    const int id = ad.add_backward(std::move(b), "d_loss");
    const std::vector<int>& outs = ad.graph.nodes[id].outputs;
    return std::vector<int>{dx ? outs.at(0) : -1, dvar ? outs.back() : -1, -1};
  };
  return f;
}

// The backward: a thread (iteration) per variance, which computes the terms that share it.
OpDef backward_op() {
  OpDef b;
  b.name = "gaussian_nll_loss_backward";
  b.infer = [](const Node& n, const Graph& g) {
    std::vector<OutputType> t;
    if (attr_bool(n, "need_dx")) t.push_back({DType::f32, g.value(n.inputs.at(1)).shape, true});
    if (attr_bool(n, "need_dvar")) t.push_back({DType::f32, g.value(n.inputs.at(2)).shape, true});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dloss", "x", "var", "target"}};
    if (attr_bool(n, "need_dx")) s.outputs.push_back("dx");
    if (attr_bool(n, "need_dvar")) s.outputs.push_back("dvar");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * 12, e * 16};
  };
  b.restrict_pointers = true;
  // Element e's gradients (the variance's share of it in dv), as autograd's steps round them.
  const auto element = [](const Node& n, const std::string& e) {
    std::vector<std::string> l = {"const float d = x[" + e + "] - target[" + e + "];"};
    if (attr_bool(n, "need_dx")) l.push_back("dx[" + e + "] = half / v * (2.0f * d);");
    if (attr_bool(n, "need_dvar")) l.push_back("const float dv = half / v + -half * (d * d / v / v);");
    return l;
  };
  // The body for variance j (= i where x's shape is var's).
  const auto body = [element](const Node& n, const Graph& g) {
    std::vector<std::string> l = {
        attr_str(n, "reduction") == "mean"
            ? "const float half = dloss[0] / static_cast<float>(n * kTerms) * 0.5f;  // mean's, then the 0.5's"
            : "const float half = dloss[0] * 0.5f;  // reduction='sum'",
        "const float v = std::max(var[j], kEps);"};
    if (!shared_var(n, g, 1)) {  // element j
      for (const std::string& e : element(n, "j")) l.push_back(e);
      if (attr_bool(n, "need_dvar")) l.push_back("dvar[j] = dv;");
      return l;
    }
    if (attr_bool(n, "need_dvar")) l.push_back("double shared = 0.0;  // the row's terms' shares, in order");
    l.push_back("for (int i = j * kRow; i < (j + 1) * kRow; ++i) {");
    for (const std::string& e : element(n, "i")) l.push_back("  " + e);
    if (attr_bool(n, "need_dvar")) l.push_back("  shared += dv;");
    l.push_back("}");
    if (attr_bool(n, "need_dvar")) l.push_back("dvar[j] = static_cast<float>(shared);");
    return l;
  };
  const auto count = [](const Node& n, const Graph& g) {
    return "n * " + std::to_string(per_sample_numel(g.value(n.inputs[2])));  // the variances
  };
  b.emit_cpu = [body, count](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n, g, 1);
    open_split_loop(w, "j", count(n, g), 16, SplitIndex::rows);
    for (const std::string& l : body(n, g)) w.line(l);
    close_split_loop(w);
  };
  b.emit_cuda = [body, count](CudaEmit& e, const Node& n, const Graph& g) {
    std::vector<KernelParam> params;
    if (attr_bool(n, "need_dx")) params.push_back({"float* __restrict__ dx", "dx"});
    if (attr_bool(n, "need_dvar")) params.push_back({"float* __restrict__ dvar", "dvar"});
    for (const char* in : {"dloss", "x", "var", "target"})
      params.push_back({std::string("const float* __restrict__ ") + in, in});
    params.push_back({"int n", "n"});
    std::vector<std::string> lines = {"const int j = i;  // the variance"};
    for (const std::string& l : body(n, g)) lines.push_back(l);
    emit_elementwise_kernel(e, e.fn + "_kernel", params, count(n, g), lines,
                            [&](CodeWriter& k) { write_constants(k, n, g, 1); });
  };
  return b;
}

}  // namespace

void register_gaussian_nll_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  ops.push_back(forward_op());
  ops.push_back(backward_op());

  LayerDef l;
  l.torch_type = "GaussianNLLLoss";
  l.is_loss = true;
  l.num_inputs = 2;  // model.output: [mean, var]
  ArgDef eps{"eps", ArgType::number, Attr{1e-6}};
  eps.min = 0;
  l.args = {{"full", ArgType::boolean, Attr{false}}, eps, reduction_arg()};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Graph& g = b.graph;
    const Value& x = g.value(in.at(0));
    const Value& var = g.value(in.at(1));
    const Value& y = g.value(in.at(2));
    if (x.dtype != DType::f32 || var.dtype != DType::f32) throw ShapeError("needs float32 predictions");
    if (y.dtype != DType::f32 || y.shape != x.shape) {
      std::string want;  // the mean's per-sample shape, as JSON
      for (size_t d = 1; d < x.shape.size(); ++d) want += (d > 1 ? ", " : "") + std::to_string(x.shape[d]);
      throw ShapeError("the target must be float32 of the mean's shape " + shape_str(x.shape) +
                       ": \"model.target\": {\"shape\": [" + want + "]}");
    }
    Shape row = x.shape;  // one variance per row of the last dimension: (..., 1) or (...)
    row.back() = 1;
    const Shape without(x.shape.begin(), x.shape.end() - 1);
    if (var.shape != x.shape && var.shape != row && var.shape != without)
      throw ShapeError("var " + shape_str(var.shape) + " must have the mean's shape " + shape_str(x.shape) + ", or " +
                       shape_str(row) + " or " + shape_str(without) + " (one variance per row), as torch requires");
    const int root = g.root(in[1]);
    const int producer = g.value(root).producer;
    const std::string op = producer < 0 ? "" : g.nodes[static_cast<size_t>(producer)].op;
    if (op != "softplus" && op != "sigmoid" && op != "relu")
      throw ShapeError("needs a variance that cannot be negative: put a Softplus (or Sigmoid, ReLU) layer before "
                       "model.output's second prediction (torch refuses negative variances when it runs)");
    Node n;
    n.op = "gaussian_nll_loss";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs = b.args;
    n.inputs = {in[0], in[1], in[2]};
    const int id = add_op(b.graph, std::move(n), "loss");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
