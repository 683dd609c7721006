/// \file
/// Narrow and Select on each sample (dimension 0, the batch, stays whole): torch's
/// x.narrow(dim, start, length), `length` consecutive entries of `dim` from `start`, and
/// x.select(dim, index), one entry with `dim` removed (output[:, -1] of a recurrent layer: its
/// last step). Both are one op, narrow, a copy; Select views its result without the dimension.
/// The gradient puts dout back in place and zeros elsewhere. A negative start or index counts
/// from the end, as torch's.
#include <algorithm>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// The constants of the copies: on the CPU with kOuter (the loop's), in a CUDA kernel without.
void write_sizes(CodeWriter& w, const Node& n, const Shape& x, bool outer) {
  const AroundDim a = around_dim(x, attr_int(n, "dim"));
  w.line((outer ? "constexpr int kOuter = " + std::to_string(a.outer) + ", kD = " : std::string("constexpr int kD = ")) +
         std::to_string(a.size) + ", kInner = " + std::to_string(a.inner) + ";  // per sample: (" +
         (outer ? "outer" : std::to_string(a.outer)) + ", D, inner)");
  w.line("constexpr int kStart = " + std::to_string(attr_int(n, "start")) + ", kLength = " +
         std::to_string(attr_int(n, "length")) + ";  // D's rows [kStart, kStart + kLength)");
}

void emit_narrow(CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, n, g.value(n.inputs.at(0)).shape, true);
  w.open("for (int o = 0; o < n * kOuter; ++o)");
  w.line("const auto* src = inp + (static_cast<std::int64_t>(o) * kD + kStart) * kInner;");
  w.line("std::copy(src, src + kLength * kInner, out + static_cast<std::int64_t>(o) * kLength * kInner);");
  w.close();
}

void emit_narrow_backward(CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, n, g.value(n.outputs.at(0)).shape, true);
  w.open("for (int o = 0; o < n * kOuter; ++o)");
  w.line("auto* row = dinp + static_cast<std::int64_t>(o) * kD * kInner;");
  w.line("const auto* src = dout + static_cast<std::int64_t>(o) * kLength * kInner;");
  w.line("std::fill(row, row + kStart * kInner, 0);");
  w.line("std::copy(src, src + kLength * kInner, row + kStart * kInner);");
  w.line("std::fill(row + (kStart + kLength) * kInner, row + kD * kInner, 0);");
  w.close();
}

// CUDA: a thread per element of the smaller tensor's side (out forward, dinp backward).
void emit_narrow_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const Shape& x = g.value(n.inputs.at(0)).shape;
  const AroundDim a = around_dim(x, attr_int(n, "dim"));
  e.body.line("constexpr int kNumel = " + std::to_string(a.outer * attr_int(n, "length") * a.inner) +
              ";  // per sample, out");
  emit_elementwise_kernel(e, e.fn + "_kernel", {{"float* __restrict__ out", "out"}, {"const float* __restrict__ inp", "inp"}},
                          "n * kNumel",
                          {"const int c = i % kInner, r = i / kInner % kLength, o = i / (kInner * kLength);",
                           "out[i] = inp[(static_cast<std::int64_t>(o) * kD + kStart + r) * kInner + c];"},
                          [&](CodeWriter& k) { write_sizes(k, n, x, false); });
}

void emit_narrow_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const Shape& x = g.value(n.outputs.at(0)).shape;
  const AroundDim a = around_dim(x, attr_int(n, "dim"));
  e.body.line("constexpr int kNumel = " + std::to_string(a.outer * a.size * a.inner) + ";  // per sample, dinp");
  emit_elementwise_kernel(e, e.fn + "_kernel",
                          {{"float* __restrict__ dinp", "dinp"}, {"const float* __restrict__ dout", "dout"}}, "n * kNumel",
                          {"const int c = i % kInner, d = i / kInner % kD, o = i / (kInner * kD);",
                           "const int r = d - kStart;  // the row of dout, if d is one of the narrowed rows",
                           "dinp[i] = r >= 0 && r < kLength ? dout[(static_cast<std::int64_t>(o) * kLength + r) * kInner + c] "
                           ": 0.0f;"},
                          [&](CodeWriter& k) { write_sizes(k, n, x, false); });
}

// The checked dimension (not the batch's; negative from the end) of an input of `rank` dimensions.
std::int64_t checked_dim(const LayerBuild& b, const Value& x) {
  const auto rank = static_cast<std::int64_t>(x.shape.size());
  const std::int64_t given = std::get<std::int64_t>(b.args.at("dim"));
  const std::int64_t dim = given < 0 ? given + rank : given;
  if (dim < 0 || dim >= rank)
    throw ShapeError("dim " + std::to_string(given) + " is not a dimension of the input " + shape_str(x.shape) +
                     " (dimension 0 is the batch)");
  if (dim == 0) throw ShapeError("dim 0 is the batch: use a dimension from 1 on");
  if (x.dtype != DType::f32) throw ShapeError("needs a float32 input, not " + std::string(dtype_name(x.dtype)));
  return dim;
}

int add_narrow(LayerBuild& b, int x, std::int64_t dim, std::int64_t start, std::int64_t length) {
  return add_narrow(b.graph, b.layer, b.source, x, dim, start, length,
                    cpp_name(b.layer) + (b.args.count("index") ? "_row" : "_out"));
}

}  // namespace

int add_narrow(Graph& g, const std::string& layer, const std::string& source, int x, std::int64_t dim,
               std::int64_t start, std::int64_t length, const std::string& name) {
  Node n;
  n.op = "narrow";
  n.layer = layer;
  n.source = source;
  n.attrs["dim"] = dim;
  n.attrs["start"] = start;
  n.attrs["length"] = length;
  n.inputs = {x};
  const int id = add_op(g, std::move(n), name);
  return g.nodes[id].outputs[0];
}

void register_narrow(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "narrow";
  f.moves_values = true;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    Shape s = x.shape;
    s.at(static_cast<size_t>(attr_int(n, "dim"))) = attr_int(n, "length");
    return std::vector<OutputType>{{x.dtype, s, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.outputs.at(0)).shape));
    return Cost{0, e * 8};
  };
  f.emit_cpu = emit_narrow;
  f.emit_cuda = emit_narrow_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;
    b.op = "narrow_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["size"] = ad.graph.value(x).shape.at(static_cast<size_t>(attr_int(n, "dim")));  // dinp's size along dim
    b.inputs = {dout[0]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "narrow_backward";
  b.moves_values = true;
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    Shape s = d.shape;
    s.at(static_cast<size_t>(attr_int(n, "dim"))) = attr_int(n, "size");
    return std::vector<OutputType>{{d.dtype, s, d.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.outputs.at(0)).shape));
    return Cost{0, e * 8};
  };
  b.emit_cpu = emit_narrow_backward;
  b.emit_cuda = emit_narrow_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "Narrow";
  ArgDef length{"length", ArgType::integer, std::nullopt};
  length.min = 1;
  l.args = {{"dim", ArgType::integer, std::nullopt}, {"start", ArgType::integer, std::nullopt}, length};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const std::int64_t dim = checked_dim(b, x);
    const std::int64_t size = x.shape[static_cast<size_t>(dim)];
    const std::int64_t given = std::get<std::int64_t>(b.args.at("start"));
    const std::int64_t start = given < 0 ? given + size : given;
    const std::int64_t length = std::get<std::int64_t>(b.args.at("length"));
    if (start < 0 || start + length > size)
      throw ShapeError("start " + std::to_string(given) + " and length " + std::to_string(length) +
                       " go beyond dim " + std::to_string(dim) + " of " + shape_str(x.shape) + " (size " +
                       std::to_string(size) + ")");
    return add_narrow(b, in.at(0), dim, start, length);
  };
  layers.push_back(std::move(l));

  LayerDef s;
  s.torch_type = "Select";
  s.args = {{"dim", ArgType::integer, std::nullopt}, {"index", ArgType::integer, std::nullopt}};
  s.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const std::int64_t dim = checked_dim(b, x);
    const std::int64_t size = x.shape[static_cast<size_t>(dim)];
    const std::int64_t given = std::get<std::int64_t>(b.args.at("index"));
    const std::int64_t index = given < 0 ? given + size : given;
    if (index < 0 || index >= size)
      throw ShapeError("index " + std::to_string(given) + " is out of range for dim " + std::to_string(dim) + " of " +
                       shape_str(x.shape) + " (size " + std::to_string(size) + ")");
    std::vector<std::int64_t> sample(x.shape.begin() + 1, x.shape.end());
    sample.erase(sample.begin() + (dim - 1));
    if (sample.empty())
      throw ShapeError("selecting from " + shape_str(x.shape) + " leaves a sample no dimension (torch's (batch,)): " +
                       "use Narrow with length 1, which keeps (batch, 1)");
    return add_view(b, add_narrow(b, in.at(0), dim, index, 1), sample);
  };
  layers.push_back(std::move(s));
}

}  // namespace ltgen
