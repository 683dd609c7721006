/// \file
/// Mean and Sum over dimensions of each sample (dimension 0, the batch, stays whole): torch's
/// x.mean(dim, keepdim) and x.sum(dim, keepdim), e.g. the mean of a sequence's positions,
/// (batch, T, D) -> (batch, D) with dim 1, or of an image's, (batch, C, H, W) -> (batch, C) with
/// dim [2, 3] (several dims must be consecutive: they reduce as one of their product's size, D).
/// Both are the op sum_dim: each output adds its D inputs
/// in double (torch's float32 sums are cascaded; either way within a rounding) and rounds the sum
/// to float, which Mean then divides by D, as torch's mean (a sum, then div_). The gradient gives
/// each input its output's gradient (Mean: divided by D, as torch's mean_backward).
#include <algorithm>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

// The input around the reduced dims [dim, dim + count): the forward's input, the backward's output.
AroundDim around(const Node& n, const Graph& g) {
  const Shape& s = n.op == "sum_dim" ? g.value(n.inputs.at(0)).shape : g.value(n.outputs.at(0)).shape;
  const auto dim = static_cast<size_t>(attr_int(n, "dim")), count = static_cast<size_t>(attr_int(n, "count"));
  Shape merged(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(dim));
  merged.push_back(numel(Shape(s.begin() + static_cast<std::ptrdiff_t>(dim), s.begin() + static_cast<std::ptrdiff_t>(dim + count))));
  merged.insert(merged.end(), s.begin() + static_cast<std::ptrdiff_t>(dim + count), s.end());
  return around_dim(merged, static_cast<std::int64_t>(dim));
}

void write_sizes(CodeWriter& w, const Node& n, const Graph& g, bool outer) {
  const AroundDim a = around(n, g);
  w.line((outer ? "constexpr int kOuter = " + std::to_string(a.outer) + ", kD = " : std::string("constexpr int kD = ")) +
         std::to_string(a.size) + ", kInner = " + std::to_string(a.inner) + ";  // per sample: (" +
         (outer ? "outer" : std::to_string(a.outer)) + ", D, inner), D " + (attr_bool(n, "mean") ? "averaged" : "summed"));
}

// Output (o, c)'s value from x, its first input (the rest kInner apart).
std::vector<std::string> reduce_lines(const Node& n) {
  return {"double sum = 0.0;", "for (int d = 0; d < kD; ++d) sum += x[static_cast<std::int64_t>(d) * kInner];",
          attr_bool(n, "mean") ? "out[o * kInner + c] = static_cast<float>(sum) / static_cast<float>(kD);  // torch: sum, then div_"
                               : "out[o * kInner + c] = static_cast<float>(sum);"};
}

std::string grad_of(const Node& n, const std::string& g) {
  return attr_bool(n, "mean") ? g + " / static_cast<float>(kD)" : g;
}

}  // namespace

void register_reduce_dim(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "sum_dim";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    Shape s = x.shape;
    const auto at = s.begin() + attr_int(n, "dim");
    if (attr_bool(n, "keepdim")) std::fill(at, at + attr_int(n, "count"), 1);
    else s.erase(at, at + attr_int(n, "count"));
    return std::vector<OutputType>{{x.dtype, s, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs.at(0)).shape));
    return Cost{e, e * 4};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_sizes(w, n, g, true);
    w.open("for (int o = 0; o < n * kOuter; ++o)");
    w.open("for (int c = 0; c < kInner; ++c)");
    w.line("const float* x = inp + static_cast<std::int64_t>(o) * kD * kInner + c;");
    for (const std::string& l : reduce_lines(n)) w.line(l);
    w.close();
    w.close();
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const AroundDim a = around(n, g);
    e.body.line("constexpr int kOutputs = " + std::to_string(a.outer * a.inner) + ";  // per sample");
    std::vector<std::string> body = {"const int o = i / kInner, c = i % kInner;",
                                     "const float* x = inp + static_cast<std::int64_t>(o) * kD * kInner + c;"};
    for (const std::string& l : reduce_lines(n)) body.push_back(l);
    emit_elementwise_kernel(e, e.fn + "_kernel", {{"float* __restrict__ out", "out"}, {"const float* __restrict__ inp", "inp"}},
                            "n * kOutputs", body, [&](CodeWriter& k) { write_sizes(k, n, g, false); });
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;
    b.op = "sum_dim_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    const Shape& xs = ad.graph.value(x).shape;  // dinp's sizes along the reduced dims
    b.attrs["sizes"] = std::vector<std::int64_t>(xs.begin() + attr_int(n, "dim"), xs.begin() + attr_int(n, "dim") + attr_int(n, "count"));
    b.inputs = {dout[0]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "sum_dim_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    Shape s = d.shape;
    const auto at = s.begin() + attr_int(n, "dim");
    const std::vector<std::int64_t>& sizes = attr_ints(n, "sizes");
    if (attr_bool(n, "keepdim")) s.erase(at, at + static_cast<std::ptrdiff_t>(sizes.size()));
    s.insert(s.begin() + attr_int(n, "dim"), sizes.begin(), sizes.end());
    return std::vector<OutputType>{{d.dtype, s, d.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.outputs.at(0)).shape));
    return Cost{e, e * 4};
  };
  b.restrict_pointers = true;
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_sizes(w, n, g, true);
    w.open("for (int o = 0; o < n * kOuter; ++o)");
    w.open("for (int d = 0; d < kD; ++d)");
    w.line("float* row = dinp + (static_cast<std::int64_t>(o) * kD + d) * kInner;");
    w.line("for (int c = 0; c < kInner; ++c) row[c] = " + grad_of(n, "dout[o * kInner + c]") + ";");
    w.close();
    w.close();
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const AroundDim a = around(n, g);
    e.body.line("constexpr int kNumel = " + std::to_string(a.outer * a.size * a.inner) + ";  // per sample, dinp");
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ dinp", "dinp"}, {"const float* __restrict__ dout", "dout"}}, "n * kNumel",
                            {"const int c = i % kInner, o = i / (kInner * kD);",
                             "dinp[i] = " + grad_of(n, "dout[o * kInner + c]") + ";"},
                            [&](CodeWriter& k) { write_sizes(k, n, g, false); });
  };
  ops.push_back(std::move(b));

  for (const bool mean : {true, false}) {
    LayerDef l;
    l.torch_type = mean ? "Mean" : "Sum";
    l.args = {{"dim", ArgType::integer_tuple, std::nullopt}, {"keepdim", ArgType::boolean, Attr{false}}};  // any length
    l.build = [mean](LayerBuild& b, const std::vector<int>& in) {
      const Value& x = b.graph.value(in.at(0));
      const auto rank = static_cast<std::int64_t>(x.shape.size());
      std::vector<std::int64_t> dims;
      for (const std::int64_t given : expand_tuple(b.args.at("dim"), 1)) {
        const std::int64_t dim = given < 0 ? given + rank : given;
        if (dim < 0 || dim >= rank)
          throw ShapeError("dim " + std::to_string(given) + " is not a dimension of the input " + shape_str(x.shape) +
                           " (dimension 0 is the batch)");
        if (dim == 0) throw ShapeError("dim 0 is the batch: use a dimension from 1 on");
        dims.push_back(dim);
      }
      std::sort(dims.begin(), dims.end());
      for (size_t k = 1; k < dims.size(); ++k)
        if (dims[k] != dims[k - 1] + 1)
          throw ShapeError("dims " + std::to_string(dims[k - 1]) + " and " + std::to_string(dims[k]) +
                           (dims[k] == dims[k - 1] ? " repeat (torch refuses that)" : " are not consecutive: ltgen reduces "
                            "consecutive dims only yet (a Transpose can bring them together)"));
      if (x.dtype != DType::f32) throw ShapeError("needs a float32 input, not " + std::string(dtype_name(x.dtype)));
      const std::int64_t dim = dims.front();
      Node n;
      n.op = "sum_dim";
      n.layer = b.layer;
      n.source = b.source;
      n.attrs["dim"] = dim;  // the first of `count` consecutive dims
      n.attrs["count"] = static_cast<std::int64_t>(dims.size());
      n.attrs["keepdim"] = std::get<bool>(b.args.at("keepdim"));
      n.attrs["mean"] = mean;
      n.inputs = {in.at(0)};
      const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
      return b.graph.nodes[id].outputs[0];
    };
    layers.push_back(std::move(l));
  }
}

}  // namespace ltgen
