/// \file
/// torch.nn's distances between two inputs of one shape, each a reduction over one dimension:
///   CosineSimilarity(dim, eps): sum_k (x1_k / c1) (x2_k / c2), c = max(||x||, eps), as torch 2.x's
///     cosine_similarity (each input divided by its clamped norm, then the product summed). torch
///     clamps a copy of the norm without autograd, so its gradient takes the clamped value where
///     it divides and the norm's own derivative x / ||x|| (zero for a zero vector) behind it.
///   PairwiseDistance(p, eps, keepdim): ||x1 - x2 + eps||_p over the last dimension, as torch's
///     pairwise_distance (norm's derivatives: d / ||d|| for p = 2, sign(d) for p = 1,
///     sign(d) |d|^(p-1) / ||d||^(p-1) otherwise; zero where the norm is zero).
/// Both see a sample as (outer, len, inner) around the reduced dimension; an output element
/// reduces the len elements of its (outer, inner) position, and its gradient writes them back.
/// The scalar code is the same on both devices: a loop over the outputs on the CPU, a thread an
/// output on the GPU. The backward recomputes the norms (one more pass over len elements).
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// The reduced dimension's size and the elements after it, per sample.
struct Around {
  std::int64_t outer = 1, len = 1, inner = 1;
};

Around around(const Value& x, std::int64_t dim) {
  Around a;
  for (std::int64_t d = 1; d < static_cast<std::int64_t>(x.shape.size()); ++d) {
    const std::int64_t s = x.shape[static_cast<size_t>(d)];
    if (d < dim) a.outer *= s;
    else if (d == dim) a.len = s;
    else a.inner *= s;
  }
  return a;
}

void check_same_shape(const Value& x1, const Value& x2) {
  if (x1.shape != x2.shape)
    throw ShapeError("needs two inputs of one shape, got " + shape_str(x1.shape) + " and " + shape_str(x2.shape) +
                     " (torch broadcasts shapes that differ where one is 1; ltgen does not yet)");
}

bool cosine(const Node& n) { return n.op == "cosine_similarity" || n.op == "cosine_similarity_backward"; }

void write_constants(CodeWriter& w, const Node& n, const Value& x) {
  const Around a = around(x, attr_int(n, "dim"));
  w.line("constexpr int kOuter = " + std::to_string(a.outer) + ", kLen = " + std::to_string(a.len) +
         ", kInner = " + std::to_string(a.inner) + ";  // a sample around the reduced dimension");
  w.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
  if (!cosine(n) && attr_float(n, "p") != 1 && attr_float(n, "p") != 2)  // (1 and 2 have code of their own)
    w.line("constexpr float kP = " + float_literal(attr_float(n, "p")) + ";");
}

// Output i's reduction: its elements are x[base + k * kInner], k < kLen.
const char* kBase = "const std::int64_t base = (std::int64_t{i} / kInner) * kLen * kInner + i % kInner;";

// PairwiseDistance's difference of element k of output i, as torch's x1 - x2 + eps rounds it.
const char* kDiff = "(x1[base + k * kInner] - x2[base + k * kInner]) + kEps";

// The norm of output i's differences d (kDiff) as torch's norm reduction sums it.
std::vector<std::string> pairwise_norm(double p) {
  std::vector<std::string> b = {"float acc = 0.0f;", "for (int k = 0; k < kLen; ++k) {",
                                std::string("  const float d = ") + kDiff + ";"};
  if (p == 2) b.push_back("  acc += d * d;");
  else if (p == 1) b.push_back("  acc += std::fabs(d);");
  else b.push_back("  acc += std::pow(std::fabs(d), kP);");
  b.push_back("}");
  if (p == 2) b.push_back("const float norm = std::sqrt(acc);");
  else if (p == 1) b.push_back("const float norm = acc;");
  else b.push_back("const float norm = std::pow(acc, 1.0f / kP);");
  return b;
}

// The clamped norms c1, c2 (and the norms n1, n2) of output i's elements.
std::vector<std::string> cosine_norms() {
  return {"float ss1 = 0.0f, ss2 = 0.0f;",
          "for (int k = 0; k < kLen; ++k) {",
          "  const float a = x1[base + k * kInner], b = x2[base + k * kInner];",
          "  ss1 += a * a;",
          "  ss2 += b * b;",
          "}",
          "const float n1 = std::sqrt(ss1), n2 = std::sqrt(ss2);",
          "const float c1 = std::max(n1, kEps), c2 = std::max(n2, kEps);  // torch clamps the norms, not their product"};
}

std::vector<std::string> forward_body(const Node& n) {
  std::vector<std::string> b = {kBase};
  if (cosine(n)) {
    for (const std::string& l : cosine_norms()) b.push_back(l);
    b.push_back("float acc = 0.0f;");
    b.push_back("for (int k = 0; k < kLen; ++k) acc += (x1[base + k * kInner] / c1) * (x2[base + k * kInner] / c2);");
    b.push_back("out[i] = acc;");
    return b;
  }
  for (const std::string& l : pairwise_norm(attr_float(n, "p"))) b.push_back(l);
  b.push_back("out[i] = norm;");
  return b;
}

// Writes dx1 and dx2 (each where its attribute asks) for output i's elements.
std::vector<std::string> backward_body(const Node& n) {
  const bool dx1 = attr_bool(n, "need_dx1"), dx2 = attr_bool(n, "need_dx2");
  std::vector<std::string> b = {kBase, "const float g = dout[i];"};
  if (cosine(n)) {
    // u = x1 / c1, v = x2 / c2, y = sum u v. torch: du = g v, so dx1 = g v / c1 + x1 s1 / n1 with
    // s1 = -sum (g v) x1 / c1^2 (the division's gradient for its denominator, then the norm's).
    for (const std::string& l : cosine_norms()) b.push_back(l);
    if (dx1) b.push_back("float s1 = 0.0f;");
    if (dx2) b.push_back("float s2 = 0.0f;");
    b.push_back("for (int k = 0; k < kLen; ++k) {");
    b.push_back("  const float a = x1[base + k * kInner], b = x2[base + k * kInner];");
    if (dx1) b.push_back("  s1 -= g * (b / c2) * a / (c1 * c1);");
    if (dx2) b.push_back("  s2 -= g * (a / c1) * b / (c2 * c2);");
    b.push_back("}");
    if (dx1) b.push_back("const float back1 = n1 > 0.0f ? s1 / n1 : 0.0f;");
    if (dx2) b.push_back("const float back2 = n2 > 0.0f ? s2 / n2 : 0.0f;");
    b.push_back("for (int k = 0; k < kLen; ++k) {");
    b.push_back("  const float a = x1[base + k * kInner], b = x2[base + k * kInner];");
    if (dx1) b.push_back("  dx1[base + k * kInner] = g * (b / c2) / c1 + a * back1;");
    if (dx2) b.push_back("  dx2[base + k * kInner] = g * (a / c1) / c2 + b * back2;");
    b.push_back("}");
    return b;
  }
  const double p = attr_float(n, "p");
  if (p != 1)  // p = 1's gradient g sign(d) needs no norm
    for (const std::string& l : pairwise_norm(p)) b.push_back(l);
  if (p != 1) b.push_back(std::string("const float scale = norm > 0.0f ? g / ") + (p == 2 ? "norm" : "std::pow(norm, kP - 1.0f)") +
                          " : 0.0f;  // torch's norm backward: zero where the norm is");
  b.push_back("for (int k = 0; k < kLen; ++k) {");
  b.push_back(std::string("  const float d = ") + kDiff + ";");
  if (p == 2) b.push_back("  const float grad = d * scale;");
  else if (p == 1) b.push_back("  const float grad = g * static_cast<float>((d > 0.0f) - (d < 0.0f));  // g sign(d)");
  else b.push_back("  const float grad = static_cast<float>((d > 0.0f) - (d < 0.0f)) * std::pow(std::fabs(d), kP - 1.0f) * scale;");
  if (dx1) b.push_back("  dx1[base + k * kInner] = grad;");
  if (dx2) b.push_back("  dx2[base + k * kInner] = -grad;");
  b.push_back("}");
  return b;
}

std::string outputs_count(const Node& n, const Value& x) {
  const Around a = around(x, attr_int(n, "dim"));
  return "n * " + std::to_string(a.outer * a.inner);
}

void emit_cpu_loop(CodeWriter& w, const Node& n, const Graph& g, const std::vector<std::string>& body, int x) {
  write_constants(w, n, g.value(x));
  open_split_loop(w, "i", "n * kOuter * kInner", around(g.value(x), attr_int(n, "dim")).len * 4, SplitIndex::rows);
  for (const std::string& l : body) w.line(l);
  close_split_loop(w);
}

void emit_cuda_kernel(CudaEmit& e, const Node& n, const Graph& g, std::vector<KernelParam> params,
                      const std::vector<std::string>& body, int x) {
  const Value& v = g.value(x);
  emit_elementwise_kernel(e, e.fn + "_kernel", params, outputs_count(n, v), body,
                          [&](CodeWriter& k) { write_constants(k, n, v); });
}

OpDef forward_op(const std::string& name) {
  OpDef f;
  f.name = name;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x1 = g.value(n.inputs.at(0));
    const Value& x2 = g.value(n.inputs.at(1));
    check_same_shape(x1, x2);
    Shape s = x1.shape;
    const auto dim = static_cast<size_t>(attr_int(n, "dim"));
    if (n.attrs.count("keepdim") && attr_bool(n, "keepdim")) s[dim] = 1;
    else s.erase(s.begin() + static_cast<std::ptrdiff_t>(dim));
    return std::vector<OutputType>{{x1.dtype, s, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"x1", "x2"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * 6, e * 8};
  };
  f.restrict_pointers = true;
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) { emit_cpu_loop(w, n, g, forward_body(n), n.inputs[0]); };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    emit_cuda_kernel(e, n, g,
                     {{"float* __restrict__ out", "out"}, {"const float* __restrict__ x1", "x1"},
                      {"const float* __restrict__ x2", "x2"}},
                     forward_body(n), n.inputs[0]);
  };
  f.backward = [name](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const bool dx1 = ad.needs_grad(n.inputs[0]), dx2 = ad.needs_grad(n.inputs[1]);
    if (dout[0] < 0 || (!dx1 && !dx2)) return std::vector<int>{-1, -1};
    Node b;
    b.op = name + "_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dx1"] = dx1;
    b.attrs["need_dx2"] = dx2;
    b.inputs = {dout[0], n.inputs[0], n.inputs[1]};
    const int id = ad.add_backward(std::move(b), "d_" + cpp_name(n.layer));
    const std::vector<int>& outs = ad.graph.nodes[id].outputs;
    return std::vector<int>{dx1 ? outs.at(0) : -1, dx2 ? outs.back() : -1};
  };
  return f;
}

OpDef backward_op(const std::string& name) {
  OpDef b;
  b.name = name + "_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    std::vector<OutputType> t;
    if (attr_bool(n, "need_dx1")) t.push_back({x.dtype, x.shape, true});
    if (attr_bool(n, "need_dx2")) t.push_back({x.dtype, x.shape, true});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dout", "x1", "x2"}};
    if (attr_bool(n, "need_dx1")) s.outputs.push_back("dx1");
    if (attr_bool(n, "need_dx2")) s.outputs.push_back("dx2");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * 12, e * 16};
  };
  b.restrict_pointers = true;
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) { emit_cpu_loop(w, n, g, backward_body(n), n.inputs[1]); };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    std::vector<KernelParam> params;
    if (attr_bool(n, "need_dx1")) params.push_back({"float* __restrict__ dx1", "dx1"});
    if (attr_bool(n, "need_dx2")) params.push_back({"float* __restrict__ dx2", "dx2"});
    for (const char* in : {"dout", "x1", "x2"}) params.push_back({std::string("const float* __restrict__ ") + in, in});
    emit_cuda_kernel(e, n, g, params, backward_body(n), n.inputs[1]);
  };
  return b;
}

// The reduced dimension (counting the batch) of both inputs, checked.
std::int64_t reduced_dim(const Value& x1, const Value& x2, std::int64_t given) {
  check_same_shape(x1, x2);
  if (x1.dtype != DType::f32 || x2.dtype != DType::f32) throw ShapeError("needs float32 inputs");
  const auto rank = static_cast<std::int64_t>(x1.shape.size());
  const std::int64_t dim = given < 0 ? given + rank : given;
  if (dim < 0 || dim >= rank)
    throw ShapeError("dim " + std::to_string(given) + " is not a dimension of the inputs " + shape_str(x1.shape) +
                     " (dimension 0 is the batch)");
  if (dim == 0) throw ShapeError("dim 0 is the batch: use a dimension from 1 on");
  return dim;
}

// (batch, D) reduced over D, without keepdim, is torch's (batch,): one number per sample.
int add_distance(LayerBuild& b, const std::string& op, const std::vector<int>& in, std::int64_t dim) {
  Node n;
  n.op = op;
  n.layer = b.layer;
  n.source = b.source;
  n.attrs = b.args;
  n.attrs["dim"] = dim;
  n.inputs = {in.at(0), in.at(1)};
  const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
  return b.graph.nodes[id].outputs[0];
}

}  // namespace

void register_distances(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  for (const std::string name : {"cosine_similarity", "pairwise_distance"}) {
    ops.push_back(forward_op(name));
    ops.push_back(backward_op(name));
  }

  LayerDef c;
  c.torch_type = "CosineSimilarity";
  c.num_inputs = 2;
  ArgDef eps{"eps", ArgType::number, Attr{1e-8}};
  eps.min = 0;
  c.args = {{"dim", ArgType::integer, Attr{std::int64_t{1}}}, eps};
  c.build = [](LayerBuild& b, const std::vector<int>& in) {
    const std::int64_t dim = reduced_dim(b.graph.value(in.at(0)), b.graph.value(in.at(1)), std::get<std::int64_t>(b.args.at("dim")));
    return add_distance(b, "cosine_similarity", in, dim);
  };
  layers.push_back(std::move(c));

  LayerDef p;
  p.torch_type = "PairwiseDistance";
  p.num_inputs = 2;
  ArgDef norm{"p", ArgType::number, Attr{2.0}};
  norm.min = 0;
  ArgDef small{"eps", ArgType::number, Attr{1e-6}};
  small.min = 0;
  p.args = {norm, small, {"keepdim", ArgType::boolean, Attr{false}}};
  p.build = [](LayerBuild& b, const std::vector<int>& in) {
    if (std::get<double>(b.args.at("p")) < 1)
      throw ShapeError("p below 1 is not supported yet (torch's norm and its gradient there are not reproduced); "
                       "use a p of at least 1");
    const Value& x = b.graph.value(in.at(0));
    const std::int64_t dim = reduced_dim(x, b.graph.value(in.at(1)), -1);  // torch's: the last dimension
    return add_distance(b, "pairwise_distance", in, dim);
  };
  layers.push_back(std::move(p));
}

}  // namespace ltgen
