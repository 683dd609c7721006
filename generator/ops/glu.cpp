/// \file
/// GLU (torch.nn.GLU(dim)): the input split in halves a, b along `dim`, out = a sigmoid(b);
/// backward da = dy s, db = dy a s (1 - s) with s = sigmoid(b). Per sample the input is
/// (outer, 2 half, inner) around the dimension; a thread (or loop step) per output element.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// kOuter (the host's count only), kHalf, kInner of the per-sample layout (outer, 2 kHalf, inner)
// around `axis` of `x`.
void write_sizes(CodeWriter& w, const Node& n, const Value& x, bool with_outer = true) {
  const auto axis = static_cast<size_t>(attr_int(n, "axis"));
  std::int64_t outer = 1, inner = 1;
  for (size_t d = 1; d < axis; ++d) outer *= x.shape[d];
  for (size_t d = axis + 1; d < x.shape.size(); ++d) inner *= x.shape[d];
  if (with_outer) w.line("constexpr int kOuter = " + std::to_string(outer) + ";  // per sample: (outer, 2 halves, inner)");
  w.line("constexpr int kHalf = " + std::to_string(x.shape[axis] / 2) + ", kInner = " + std::to_string(inner) + ";");
}

// Output element i's halves in the input: a at `a_at`, b kHalf * kInner further.
const char* const kIndex =
    "const int o = i / (kHalf * kInner), k = i / kInner % kHalf, j = i % kInner;  // (sample * outer, half, inner)";
const char* const kAt = "const int at = (o * 2 * kHalf + k) * kInner + j, bt = at + kHalf * kInner;";

}  // namespace

void register_glu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "glu";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    Shape s = x.shape;
    s[static_cast<size_t>(attr_int(n, "axis"))] /= 2;
    return std::vector<OutputType>{{x.dtype, s, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * 4, e * 6};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_sizes(w, n, g.value(n.inputs[0]));
    w.open("for (int i = 0; i < n * kOuter * kHalf * kInner; ++i)");
    w.line(kIndex);
    w.line(kAt);
    w.line("out[i] = inp[at] * ltrt::sigmoid(inp[bt]);");
    w.close();
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    write_sizes(e.body, n, x);
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ out", "out"}, {"const float* __restrict__ inp", "inp"}},
                            "n * kOuter * kHalf * kInner", {kIndex, kAt, "out[i] = inp[at] * ltrt::sigmoid(inp[bt]);"},
                            [&](CodeWriter& k) { write_sizes(k, n, x, false); });
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;
    b.op = "glu_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], x};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "glu_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout", "inp"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * 4, e * 10};
  };
  const std::vector<std::string> body = {kIndex, kAt, "const float s = ltrt::sigmoid(inp[bt]);",
                                         "dinp[at] = dout[i] * s;",
                                         "dinp[bt] = dout[i] * inp[at] * s * (1.0f - s);"};
  b.emit_cpu = [body](CodeWriter& w, const Node& n, const Graph& g) {
    write_sizes(w, n, g.value(n.inputs[1]));
    w.line("// Each output's two input elements.");
    w.open("for (int i = 0; i < n * kOuter * kHalf * kInner; ++i)");
    for (const std::string& line : body) w.line(line);
    w.close();
  };
  b.emit_cuda = [body](CudaEmit& e, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[1]);
    write_sizes(e.body, n, x);
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ dinp", "dinp"}, {"const float* __restrict__ dout", "dout"},
                             {"const float* __restrict__ inp", "inp"}},
                            "n * kOuter * kHalf * kInner", body, [&](CodeWriter& k) { write_sizes(k, n, x, false); });
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "GLU";
  l.args = {{"dim", ArgType::integer, Attr{std::int64_t{-1}}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const auto rank = static_cast<std::int64_t>(x.shape.size());
    const std::int64_t dim = std::get<std::int64_t>(b.args.at("dim"));
    const std::int64_t axis = dim < 0 ? dim + rank : dim;
    if (axis < 1 || axis >= rank)
      throw ShapeError("dim " + std::to_string(dim) + " is " + (axis == 0 ? "the batch dimension" : "out of range") +
                       " for the input " + shape_str(x.shape) + ": use a dim from 1 to " + std::to_string(rank - 1) +
                       " (or from " + std::to_string(1 - rank) + " to -1)");
    if (x.shape[static_cast<size_t>(axis)] % 2 != 0)
      throw ShapeError("halves the input along dim " + std::to_string(dim) + ", whose size " +
                       std::to_string(x.shape[static_cast<size_t>(axis)]) + " is odd (torch refuses it too)");
    Node n;
    n.op = "glu";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["dim"] = dim;
    n.attrs["axis"] = axis;
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    const int out = b.graph.nodes[id].outputs[0];
    // torch's halves keep the input's memory order (measured with (T, batch, ...) inputs)
    b.graph.value(out).torch_time_major = b.graph.value(in.at(0)).torch_time_major;
    return out;
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
