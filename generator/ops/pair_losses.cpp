/// \file
/// torch.nn's losses over several predictions, each the mean (or sum) of a term per element or per
/// sample; the first two with a target of 1 and -1 (whether the pair ranks or matches):
///   MarginRankingLoss(margin): max(0, -y (x1 - x2) + margin) per element, x1, x2 and y of one
///     shape, as torch's margin_ranking_loss.
///   CosineEmbeddingLoss(margin): per sample of x1, x2 (batch, D) and y (batch,), with
///     cos = sum(x1 x2) / sqrt((sum(x1^2) + 1e-12) (sum(x2^2) + 1e-12)): 1 - cos where y is 1,
///     max(0, cos - margin) where y is -1, 0 for other targets, as torch's cosine_embedding_loss.
///   TripletMarginLoss(margin, p, eps): per sample of anchors a, positives p and negatives n
///     (batch, D), no target: max(0, margin + d(a, p) - d(a, n)) with PairwiseDistance's d, as
///     torch's triplet_margin_loss; built as two pairwise_distance nodes and the hinge over them.
///     With swap, d(a, n) is min(d(a, n), d(p, n)) (a third distance node), whose gradient torch's
///     minimum splits in halves at a tie.
///   TripletMarginWithDistanceLoss(margin, swap) with its default distance_function,
///     PairwiseDistance(): the same as TripletMarginLoss with p 2 and eps 1e-6 (torch's Python
///     computes the same steps: pairwise_distance, minimum, clamp_min).
/// The gradients are autograd's through those steps; torch 2.x's clamp_min passes none where its
/// input is exactly the bound (1.13 passed it). Both predictions get one, each where it is needed.
/// A "row" is what one term reads: an element (MarginRankingLoss, the triplet's hinge) or a
/// sample's D features.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

namespace {

bool triplet(const Node& n) { return n.op.rfind("triplet_margin_loss", 0) == 0; }
bool swapped(const Node& n) { return triplet(n) && attr_bool(n, "swap"); }  // x3: d(p, n)
bool ranking(const Node& n) { return n.op.rfind("margin_ranking_loss", 0) == 0 || triplet(n); }  // elementwise rows

// Features per row of the predictions x (batch, ...): 1 for MarginRankingLoss, D for CosineEmbeddingLoss.
std::int64_t row_len(const Node& n, const Value& x) { return ranking(n) ? 1 : x.shape.back(); }
std::int64_t rows_per_sample(const Node& n, const Value& x) { return per_sample_numel(x) / row_len(n, x); }

void write_constants(CodeWriter& w, const Node& n, const Value& x) {
  if (ranking(n))
    w.line("constexpr int kRows = " + std::to_string(rows_per_sample(n, x)) + ";  // terms per sample");
  else
    w.line("constexpr int kRows = " + std::to_string(rows_per_sample(n, x)) + ", kLen = " +
           std::to_string(row_len(n, x)) + ";  // terms per sample, elements per term");
  w.line("constexpr float kMargin = " + float_literal(attr_float(n, "margin")) + ";");
}

// Lines computing row r's term `term` (and what the backward needs) from x1, x2 and y = target[r].
std::vector<std::string> term_lines(const Node& n) {
  if (swapped(n))  // x1, x2, x3: d(a, p), d(a, n), d(p, n)
    return {"const float dn = x2[r] != x2[r] || x2[r] <= x3[r] ? x2[r] : x3[r];  // torch.min(d(a, n), d(p, n)), NaN kept",
            "const float u = (kMargin + x1[r]) - dn;", "const float term = u < 0.0f ? 0.0f : u;  // clamp_min keeps a NaN"};
  if (triplet(n))  // x1, x2: the distances to the positive and to the negative
    return {"const float u = (kMargin + x1[r]) - x2[r];", "const float term = u < 0.0f ? 0.0f : u;  // clamp_min keeps a NaN"};
  if (ranking(n))
    return {"const float y = target[r];",
            "const float u = -y * (x1[r] - x2[r]) + kMargin;",
            "const float term = u < 0.0f ? 0.0f : u;  // clamp_min keeps a NaN"};
  return {"const float y = target[r];",
          "const float* a = x1 + std::int64_t{r} * kLen;",
          "const float* b = x2 + std::int64_t{r} * kLen;",
          "float prod = 0.0f, mag1 = 0.0f, mag2 = 0.0f;",
          "for (int k = 0; k < kLen; ++k) {",
          "  prod += a[k] * b[k];",
          "  mag1 += a[k] * a[k];",
          "  mag2 += b[k] * b[k];",
          "}",
          "mag1 += 1e-12f;  // torch's EPSILON, against a zero vector",
          "mag2 += 1e-12f;",
          "const float denom = std::sqrt(mag1 * mag2);",
          "const float cos = prod / denom;",
          "const float neg = cos - kMargin < 0.0f ? 0.0f : cos - kMargin;",
          "const float term = (y == 1.0f ? 1.0f - cos : 0.0f) + (y == -1.0f ? neg : 0.0f);"};
}

// Lines writing row r's gradients (dx1, dx2 where the node asks) from `scale`, d loss / d term.
std::vector<std::string> grad_lines(const Node& n) {
  const bool dx1 = attr_bool(n, "need_dx1"), dx2 = attr_bool(n, "need_dx2"), dx3 = swapped(n) && attr_bool(n, "need_dx3");
  std::vector<std::string> b = term_lines(n);
  b.pop_back();  // the term itself is not needed (nor CosineEmbeddingLoss's clamped part of it)
  if (!ranking(n)) b.pop_back();
  if (triplet(n)) {
    b.push_back("const float g = u > 0.0f ? scale : 0.0f;  // through clamp_min");
    if (dx1) b.push_back("dx1[r] = g;");
    if (!swapped(n)) {
      if (dx2) b.push_back("dx2[r] = -g;");
      return b;
    }
    // torch.minimum's backward: the gradient to the smaller, halves to both at a tie, to both at a NaN.
    if (dx2) b.push_back("dx2[r] = x2[r] > x3[r] ? 0.0f : x2[r] == x3[r] ? -g / 2.0f : -g;");
    if (dx3) b.push_back("dx3[r] = x3[r] > x2[r] ? 0.0f : x3[r] == x2[r] ? -g / 2.0f : -g;");
    return b;
  }
  if (ranking(n)) {
    b.push_back("const float g = u > 0.0f ? scale * -y : 0.0f;  // through clamp_min, then -y (x1 - x2)");
    if (dx1) b.push_back("dx1[r] = g;");
    if (dx2) b.push_back("dx2[r] = -g;");
    return b;
  }
  // cos = prod / denom, denom = sqrt(mag1 mag2): autograd's steps, each rounded as torch's.
  b.push_back("const float gcos = (y == 1.0f ? -scale : 0.0f) + (y == -1.0f && cos - kMargin > 0.0f ? scale : 0.0f);");
  b.push_back("const float gprod = gcos / denom;");
  b.push_back("const float gdenom = -gcos * (cos / denom);");
  b.push_back("const float gsq = gdenom / (2.0f * denom);  // sqrt's backward");
  b.push_back("for (int k = 0; k < kLen; ++k) {");
  if (dx1) b.push_back("  dx1[std::int64_t{r} * kLen + k] = gprod * b[k] + 2.0f * (gsq * mag2 * a[k]);");
  if (dx2) b.push_back("  dx2[std::int64_t{r} * kLen + k] = gprod * a[k] + 2.0f * (gsq * mag1 * b[k]);");
  b.push_back("}");
  return b;
}

std::string divisor(const Node& n) {
  return attr_str(n, "reduction") == "mean" ? " / (n * kRows)" : "";
}

OpDef forward_op(const std::string& name) {
  OpDef f;
  f.name = name;
  f.infer = [](const Node&, const Graph&) { return std::vector<OutputType>{{DType::f32, {}, false}}; };
  f.slots = [](const Node& n) {
    if (swapped(n)) return Slots{{"loss"}, {"x1", "x2", "x3"}};
    return triplet(n) ? Slots{{"loss"}, {"x1", "x2"}} : Slots{{"loss"}, {"x1", "x2", "target"}};
  };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * (ranking(n) ? 4 : 6), e * 8};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n, g.value(n.inputs[0]));
    w.line("double sum = 0.0;");
    w.open("for (int r = 0; r < n * kRows; ++r)");
    for (const std::string& l : term_lines(n)) w.line(l);
    w.line("sum += term;");
    w.close();
    w.line("loss[0] = static_cast<float>(sum" + divisor(n) + ");  // reduction='" + attr_str(n, "reduction") + "'");
  };
  // CUDA: one block sums the terms in double, a thread a strided share of the rows, then a tree
  // reduction (deterministic), as the pointwise losses.
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    write_block_sum_kernel(
        e.kernels, e.fn + "_kernel",
        "float* __restrict__ loss, const float* __restrict__ x1, const float* __restrict__ x2, " +
            std::string(swapped(n) ? "const float* __restrict__ x3, " : triplet(n) ? "" : "const float* __restrict__ target, ") +
            "int n",
        [&](CodeWriter& k) { write_constants(k, n, g.value(n.inputs[0])); },
        "for (int r = threadIdx.x; r < n * kRows; r += blockDim.x)",
        [&](CodeWriter& k) {
          for (const std::string& l : term_lines(n)) k.line(l);
          k.line("sum += term;");
        },
        "if (threadIdx.x == 0) loss[0] = static_cast<float>(partial[0]" + divisor(n) + ");  // reduction='" +
            attr_str(n, "reduction") + "'");
    emit_launch(e.body, e.fn + "_kernel", "1", "kReduceThreads",
                swapped(n)  ? std::vector<std::string>{"loss", "x1", "x2", "x3", "n"}
                : triplet(n) ? std::vector<std::string>{"loss", "x1", "x2", "n"}
                             : std::vector<std::string>{"loss", "x1", "x2", "target", "n"});
  };
  f.backward = [name](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const bool dx1 = ad.needs_grad(n.inputs[0]), dx2 = ad.needs_grad(n.inputs[1]);
    const bool dx3 = swapped(n) && ad.needs_grad(n.inputs[2]);
    if (dout[0] < 0 || (!dx1 && !dx2 && !dx3)) return std::vector<int>{-1, -1, -1};
    Node b;
    b.op = name + "_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dx1"] = dx1;
    b.attrs["need_dx2"] = dx2;
    if (swapped(n)) b.attrs["need_dx3"] = dx3;
    b.inputs = {dout[0], n.inputs[0], n.inputs[1]};
    if (!triplet(n) || swapped(n)) b.inputs.push_back(n.inputs[2]);  // the target, or d(p, n)
    const int id = ad.add_backward(std::move(b), "d_loss");
    const std::vector<int>& outs = ad.graph.nodes[id].outputs;
    int k = 0;  // the outputs are the needed ones of dx1, dx2, dx3 in order
    const int g1 = dx1 ? outs.at(k++) : -1;
    const int g2 = dx2 ? outs.at(k++) : -1;
    const int g3 = dx3 ? outs.at(k++) : -1;
    return std::vector<int>{g1, g2, g3};
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
    if (swapped(n) && attr_bool(n, "need_dx3")) t.push_back({x.dtype, x.shape, true});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dloss", "x1", "x2"}};
    if (!triplet(n)) s.inputs.push_back("target");
    if (swapped(n)) s.inputs.push_back("x3");
    if (attr_bool(n, "need_dx1")) s.outputs.push_back("dx1");
    if (attr_bool(n, "need_dx2")) s.outputs.push_back("dx2");
    if (swapped(n) && attr_bool(n, "need_dx3")) s.outputs.push_back("dx3");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * (ranking(n) ? 4 : 10), e * 16};
  };
  b.restrict_pointers = true;
  const auto scale = [](const Node& n) {
    return attr_str(n, "reduction") == "mean"
               ? "const float scale = dloss[0] / static_cast<float>(n * kRows);  // reduction='mean'"
               : "const float scale = dloss[0];  // reduction='sum'";
  };
  b.emit_cpu = [scale](CodeWriter& w, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[1]);
    write_constants(w, n, x);
    w.line(scale(n));
    open_split_loop(w, "r", "n * kRows", row_len(n, x) * 4, SplitIndex::rows);
    for (const std::string& l : grad_lines(n)) w.line(l);
    close_split_loop(w);
  };
  b.emit_cuda = [scale](CudaEmit& e, const Node& n, const Graph& g) {
    std::vector<KernelParam> params;
    if (attr_bool(n, "need_dx1")) params.push_back({"float* __restrict__ dx1", "dx1"});
    if (attr_bool(n, "need_dx2")) params.push_back({"float* __restrict__ dx2", "dx2"});
    if (swapped(n) && attr_bool(n, "need_dx3")) params.push_back({"float* __restrict__ dx3", "dx3"});
    for (const char* in : {"dloss", "x1", "x2", triplet(n) ? (swapped(n) ? "x3" : nullptr) : "target"})
      if (in) params.push_back({std::string("const float* __restrict__ ") + in, in});
    params.push_back({"int n", "n"});
    const Value& x = g.value(n.inputs[1]);
    std::vector<std::string> body = {"const int r = i;", scale(n)};
    for (const std::string& l : grad_lines(n)) body.push_back(l);
    emit_elementwise_kernel(e, e.fn + "_kernel", params, "n * " + std::to_string(rows_per_sample(n, x)), body,
                            [&](CodeWriter& k) { write_constants(k, n, x); });
  };
  return b;
}

// The predictions and target of a pair loss, checked: float32, the predictions of one shape.
void check_pair(const Graph& g, const std::vector<int>& in) {
  const Value& x1 = g.value(in.at(0));
  const Value& x2 = g.value(in.at(1));
  const Value& y = g.value(in.at(2));
  if (x1.shape != x2.shape)
    throw ShapeError("the two predictions must have one shape, got " + shape_str(x1.shape) + " and " + shape_str(x2.shape) +
                     " (torch broadcasts shapes that differ where one is 1; ltgen does not yet)");
  if (x1.dtype != DType::f32 || x2.dtype != DType::f32) throw ShapeError("needs float32 predictions");
  if (y.dtype != DType::f32)
    throw ShapeError("needs float targets of 1 and -1: \"model.target\": {\"shape\": [...]}, not class labels");
}

int add_pair_loss(LayerBuild& b, const std::string& op, const std::vector<int>& in) {
  Node n;
  n.op = op;
  n.layer = b.layer;
  n.source = b.source;
  n.attrs = b.args;
  n.inputs = {in.at(0), in.at(1), in.at(2)};
  const int id = add_op(b.graph, std::move(n), "loss");
  return b.graph.nodes[id].outputs[0];
}

// TripletMarginLoss: the distances from the anchors, d(a, x) = ||a - x + eps||_p per sample (torch's
// pairwise_distance, the PairwiseDistance layer's op), then the hinge over them; with swap also the
// distance from the positives to the negatives, d(p, n), which the hinge takes where it is smaller.
int add_triplet_loss(LayerBuild& b, const std::vector<int>& in) {
  const auto distance = [&](int from, int x, const std::string& name) {
    Node d;
    d.op = "pairwise_distance";
    d.layer = b.layer;
    d.source = b.source;
    d.attrs = {{"p", b.args.at("p")}, {"eps", b.args.at("eps")}, {"keepdim", Attr{false}}, {"dim", Attr{std::int64_t{1}}}};
    d.inputs = {from, x};
    const int id = add_op(b.graph, std::move(d), name);
    return b.graph.nodes[id].outputs[0];
  };
  const bool swap = std::get<bool>(b.args.at("swap"));
  const int positive = distance(in.at(0), in.at(1), "loss_positive_distance");
  const int negative = distance(in.at(0), in.at(2), "loss_negative_distance");
  Node n;
  n.op = "triplet_margin_loss";
  n.layer = b.layer;
  n.source = b.source;
  n.attrs = {{"margin", b.args.at("margin")}, {"reduction", b.args.at("reduction")}, {"swap", Attr{swap}}};
  n.inputs = {positive, negative};
  if (swap) n.inputs.push_back(distance(in.at(1), in.at(2), "loss_swap_distance"));
  const int id = add_op(b.graph, std::move(n), "loss");
  return b.graph.nodes[id].outputs[0];
}

}  // namespace

void register_pair_losses(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  for (const std::string name : {"margin_ranking_loss", "cosine_embedding_loss", "triplet_margin_loss"}) {
    ops.push_back(forward_op(name));
    ops.push_back(backward_op(name));
  }
  const ArgDef margin{"margin", ArgType::number, Attr{0.0}};

  LayerDef r;
  r.torch_type = "MarginRankingLoss";
  r.is_loss = true;
  r.num_inputs = 2;
  r.args = {margin, reduction_arg()};
  r.build = [](LayerBuild& b, const std::vector<int>& in) {
    check_pair(b.graph, in);
    const Value& x = b.graph.value(in[0]);
    const Value& y = b.graph.value(in[2]);
    if (y.shape != x.shape) {
      std::string want;  // the predictions' per-sample shape, as JSON
      for (size_t d = 1; d < x.shape.size(); ++d) want += (d > 1 ? ", " : "") + std::to_string(x.shape[d]);
      throw ShapeError("the target " + shape_str(y.shape) + " must have the predictions' shape " + shape_str(x.shape) +
                       " (torch would broadcast them to another): \"model.target\": {\"shape\": [" + want + "]}");
    }
    return add_pair_loss(b, "margin_ranking_loss", in);
  };
  layers.push_back(std::move(r));

  LayerDef c;
  c.torch_type = "CosineEmbeddingLoss";
  c.is_loss = true;
  c.num_inputs = 2;
  c.args = {margin, reduction_arg()};
  c.build = [](LayerBuild& b, const std::vector<int>& in) {
    check_pair(b.graph, in);
    const Value& x = b.graph.value(in[0]);
    if (x.shape.size() != 2)
      throw ShapeError("the predictions must be (batch, features), as torch's for one target per sample, got " +
                       shape_str(x.shape) + ": Flatten them first");
    if (b.graph.value(in[2]).shape.size() != 1)
      throw ShapeError("the target must be one number per sample (torch's (batch,)): \"model.target\": {\"shape\": []}");
    return add_pair_loss(b, "cosine_embedding_loss", in);
  };
  layers.push_back(std::move(c));

  LayerDef t;
  t.torch_type = "TripletMarginLoss";
  t.is_loss = true;
  t.takes_target = false;
  t.num_inputs = 3;
  ArgDef norm{"p", ArgType::number, Attr{2.0}};
  norm.min = 1;  // (PairwiseDistance's p below 1 is not reproduced yet)
  ArgDef eps{"eps", ArgType::number, Attr{1e-6}};
  eps.min = 0;
  t.args = {{"margin", ArgType::number, Attr{1.0}}, norm, eps, {"swap", ArgType::boolean, Attr{false}}, reduction_arg()};
  t.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Graph& g = b.graph;
    for (int k : {1, 2})
      if (g.value(in.at(k)).shape != g.value(in.at(0)).shape)
        throw ShapeError("the anchors, positives and negatives must have one shape, got " + shape_str(g.value(in[0]).shape) +
                         ", " + shape_str(g.value(in[1]).shape) + " and " + shape_str(g.value(in[2]).shape));
    for (int k : {0, 1, 2})
      if (g.value(in[k]).dtype != DType::f32) throw ShapeError("needs float32 predictions");
    if (g.value(in[0]).shape.size() != 2)
      throw ShapeError("the predictions must be (batch, features), as torch's, got " + shape_str(g.value(in[0]).shape) +
                       ": Flatten them first");
    return add_triplet_loss(b, in);
  };
  LayerDef d = t;
  d.torch_type = "TripletMarginWithDistanceLoss";
  ArgDef distance{"distance_function", ArgType::string, std::nullopt};
  distance.optional = true;
  distance.unsupported = "TripletMarginWithDistanceLoss's distance_function (a Python callable; left out, it is "
                         "PairwiseDistance(), which ltgen computes)";
  d.args = {distance, {"margin", ArgType::number, Attr{1.0}}, {"swap", ArgType::boolean, Attr{false}}, reduction_arg()};
  const auto triplet_build = t.build;
  d.build = [triplet_build](LayerBuild& b, const std::vector<int>& in) {
    b.args["p"] = 2.0;  // PairwiseDistance()'s defaults
    b.args["eps"] = 1e-6;
    return triplet_build(b, in);
  };
  layers.push_back(std::move(t));
  layers.push_back(std::move(d));
}

}  // namespace ltgen
