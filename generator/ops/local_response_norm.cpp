/// \file
/// LocalResponseNorm(size, alpha, beta, k) on (N, C, *): each element divided by
/// (k + alpha * avg_c)^beta, avg_c the mean of the squares of the `size` channels around it
/// (size / 2 before, (size - 1) / 2 after, zeros past the ends, always divided by size), as torch's
/// composite local_response_norm computes it: the squares zero-padded and average-pooled over the
/// channels, times alpha, plus k, to the power beta, the input divided by that.
/// The forward keeps base = alpha * avg + k for the backward, which follows torch's autograd through
/// those steps: dx_j = g_j / div_j + 2 x_j sum_c t_c / size over the channels c whose window holds
/// j, with t_c = -g_c x_c / div_c^2 * beta base_c^(beta - 1) * alpha (the division's, the power's and
/// the scaling's derivatives), kept in a scratch value between the two passes; the first pass also
/// writes dx's division term, the second adds the squares' term.
/// A thread an element on the GPU, the CPU's scalar code.
#include "../cuda_lowering.hpp"
#include "../autodiff.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

void write_constants(CodeWriter& w, const Node& n, const Value& x, bool forward) {
  const std::int64_t size = attr_int(n, "size");
  w.line("constexpr int kChannels = " + std::to_string(x.shape.at(1)) + ", kPositions = " +
         std::to_string(positions_per_channel(x)) + ";  // (C, positions) per sample");
  w.line("constexpr int kBefore = " + std::to_string(size / 2) + ", kAfter = " + std::to_string((size - 1) / 2) +
         ";  // the window's channels around its own");
  w.line("constexpr float kSize = " + float_literal(static_cast<double>(size)) + ", kAlpha = " +
         float_literal(attr_float(n, "alpha")) + ", kBeta = " + float_literal(attr_float(n, "beta")) + ";");
  if (forward) w.line("constexpr float kK = " + float_literal(attr_float(n, "k")) + ";  // (the backward reads base)");
}

// Element i's channel and the index of channel 0 at its position.
const char* kWhere = "const int c = (i / kPositions) % kChannels;";
const char* kFirst = "const std::int64_t first = std::int64_t{i} - std::int64_t{c} * kPositions;  // channel 0, same position";

std::vector<std::string> forward_body() {
  return {kWhere, kFirst,
          "const int lo = c - kBefore < 0 ? 0 : c - kBefore, hi = c + kAfter >= kChannels ? kChannels - 1 : c + kAfter;",
          "float sum = 0.0f;",
          "for (int j = lo; j <= hi; ++j) sum += inp[first + std::int64_t{j} * kPositions] * inp[first + std::int64_t{j} * kPositions];",
          "const float b = sum / kSize * kAlpha + kK;  // avg_pool's mean, times alpha, plus k",
          "base[i] = b;",
          "out[i] = inp[i] / std::pow(b, kBeta);"};
}

// First pass: each element's scaled gradient of its base, and the division's own term of dinp.
std::vector<std::string> scaled_body() {
  return {"const float div = std::pow(base[i], kBeta);",
          "scaled[i] = -dout[i] * inp[i] / (div * div) * (kBeta * std::pow(base[i], kBeta - 1.0f)) * kAlpha;",
          "dinp[i] = dout[i] / div;"};
}

// Second pass: the squares' term, from the scaled gradients of the channels whose window holds i.
std::vector<std::string> input_grad_body() {
  return {kWhere, kFirst,
          "const int lo = c - kAfter < 0 ? 0 : c - kAfter, hi = c + kBefore >= kChannels ? kChannels - 1 : c + kBefore;",
          "float sum = 0.0f;",
          "for (int j = lo; j <= hi; ++j) sum += scaled[first + std::int64_t{j} * kPositions] / kSize;",
          "const float d = sum * inp[i];",
          "dinp[i] += d + d;  // x * x's two factors"};
}

std::string count(const Value& x) { return "n * " + std::to_string(per_sample_numel(x)); }

}  // namespace

void register_local_response_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "local_response_norm";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{x.dtype, x.shape, true}, {x.dtype, x.shape, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out", "base"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * (2.0 * static_cast<double>(attr_int(n, "size")) + 20), e * 12};
  };
  f.restrict_pointers = true;
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    write_constants(w, n, x, true);
    open_split_loop(w, "i", count(x), attr_int(n, "size") * 2 + 20, SplitIndex::rows);
    for (const std::string& l : forward_body()) w.line(l);
    close_split_loop(w);
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ out", "out"}, {"float* __restrict__ base", "base"},
                             {"const float* __restrict__ inp", "inp"}},
                            count(x), forward_body(), [&](CodeWriter& k) { write_constants(k, n, x, true); });
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    if (dout[0] < 0 || !ad.needs_grad(n.inputs[0])) return std::vector<int>{-1};
    Node b;
    b.op = "local_response_norm_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], n.inputs[0], n.outputs[1]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(n.inputs[0]));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "local_response_norm_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    return std::vector<OutputType>{{x.dtype, x.shape, true}, {x.dtype, x.shape, true}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp", "scaled"}, {"dout", "inp", "base"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * (static_cast<double>(attr_int(n, "size")) + 40), e * 24};
  };
  b.restrict_pointers = true;
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[1]);
    write_constants(w, n, x, false);
    w.line("// The scaled gradients of every channel's base first: each element's gradient reads its neighbours'.");
    open_split_loop(w, "i", count(x), 40, SplitIndex::rows);
    for (const std::string& l : scaled_body()) w.line(l);
    close_split_loop(w);
    open_split_loop(w, "i", count(x), attr_int(n, "size") + 20, SplitIndex::rows);
    for (const std::string& l : input_grad_body()) w.line(l);
    close_split_loop(w);
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[1]);
    const auto constants = [&](CodeWriter& k) { write_constants(k, n, x, false); };
    e.body.open_block("the scaled gradients of every channel's base, which the second kernel reads");
    emit_elementwise_kernel(e, e.fn + "_scaled_kernel",
                            {{"float* __restrict__ scaled", "scaled"}, {"float* __restrict__ dinp", "dinp"},
                             {"const float* __restrict__ dout", "dout"}, {"const float* __restrict__ inp", "inp"},
                             {"const float* __restrict__ base", "base"}},
                            count(x), scaled_body(), constants);
    e.body.close();
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ dinp", "dinp"}, {"const float* __restrict__ inp", "inp"},
                             {"const float* __restrict__ scaled", "scaled"}},
                            count(x), input_grad_body(), constants);
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "LocalResponseNorm";
  ArgDef size{"size", ArgType::integer, std::nullopt};
  size.min = 1;
  l.args = {size, {"alpha", ArgType::number, Attr{1e-4}}, {"beta", ArgType::number, Attr{0.75}},
            {"k", ArgType::number, Attr{1.0}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() < 3)
      throw ShapeError("expects an input (batch, channels, ...) of at least 3 dimensions, as torch's, got " +
                       shape_str(x.shape));
    if (x.dtype != DType::f32) throw ShapeError("needs a float32 input");
    Node n;
    n.op = "local_response_norm";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs = b.args;
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
