/// \file
/// PixelShuffle(upscale_factor r) and PixelUnshuffle(downscale_factor r), as torch's: shuffle moves
/// channel c * r^2 + i * r + j of an (N, C r^2, H, W) input to position (h r + i, w r + j) of
/// channel c of the (N, C, H r, W r) output; unshuffle is the inverse. Both only move elements,
/// so each one's backward is the other on the output gradient (one op, `unshuffle` telling which).
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// The shuffled side's sizes: kC channels of kH x kW planes (the (N, C, H r, W r) tensor's), kR.
void write_sizes(CodeWriter& w, const Node& n) {
  const auto& s = attr_ints(n, "shuffled");  // C, H r, W r
  w.line("constexpr int kR = " + std::to_string(attr_int(n, "factor")) + ";");
  w.line("constexpr int kC = " + std::to_string(s[0]) + ", kH = " + std::to_string(s[1]) + ", kW = " +
         std::to_string(s[2]) + ";  // the shuffled tensor's (N, C, H r, W r)");
}

// For element e of a sample of the shuffled tensor (kC x kH x kW), `packed`: the same element's
// index in the sample of the packed (C r^2, H, W) one.
void write_packed_index(CodeWriter& w) {
  w.line("const int c = e / (kH * kW), y = e / kW % kH, x = e % kW;");
  w.line("const int packed = ((c * kR + y % kR) * kR + x % kR) * (kH / kR) * (kW / kR) + (y / kR) * (kW / kR) + x / kR;");
}

// out from inp: shuffle reads packed into shuffled order, unshuffle the other way.
std::string copy_line(const Node& n) {
  return attr_bool(n, "unshuffle") ? "out[base + packed] = inp[base + e];" : "out[base + e] = inp[base + packed];";
}

void emit_cpu(CodeWriter& w, const Node& n, const Graph&) {
  write_sizes(w, n);
  w.line("constexpr int kSample = kC * kH * kW;");
  open_split_loop(w, "b", "n", attr_ints(n, "shuffled")[0] * attr_ints(n, "shuffled")[1] * attr_ints(n, "shuffled")[2],
                  SplitIndex::rows);
  w.line("const std::int64_t base = static_cast<std::int64_t>(b) * kSample;");
  w.open("for (int e = 0; e < kSample; ++e)");
  write_packed_index(w);
  w.line(copy_line(n));
  w.close();
  close_split_loop(w);
}

void emit_cuda(CudaEmit& e, const Node& n, const Graph&) {
  CodeWriter& k = e.kernels;
  k.line();
  open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ out", "const float* __restrict__ inp"},
                      [&](CodeWriter& c) { write_sizes(c, n); });
  k.line("const std::int64_t base = static_cast<std::int64_t>(i / (kC * kH * kW)) * (kC * kH * kW);");
  k.line("const int e = i % (kC * kH * kW);");
  write_packed_index(k);
  k.line(copy_line(n));
  k.close();
  const auto& s = attr_ints(n, "shuffled");
  e.body.line("constexpr int kSample = " + std::to_string(s[0] * s[1] * s[2]) + ";  // elements per sample");
  emit_count_launch(e.body, e.fn + "_kernel", "n * kSample", {"out", "inp"});
}

int add_shuffle(Graph& g, const std::string& layer, const std::string& source, int x, std::int64_t factor,
                const std::vector<std::int64_t>& shuffled, bool unshuffle) {
  Node n;
  n.op = "pixel_shuffle";
  n.layer = layer;
  n.source = source;
  n.attrs["factor"] = factor;
  n.attrs["shuffled"] = shuffled;
  n.attrs["unshuffle"] = unshuffle;
  n.inputs = {x};
  const int id = add_op(g, std::move(n), cpp_name(layer) + "_out");
  return g.nodes[id].outputs[0];
}

LayerDef shuffle_layer(const std::string& type, const std::string& factor_name, bool unshuffle) {
  LayerDef l;
  l.torch_type = type;
  ArgDef factor{factor_name, ArgType::integer, std::nullopt};
  factor.min = 1;
  l.args = {factor};
  l.build = [factor_name, unshuffle](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() != 4) throw ShapeError("expects an (N, C, H, W) input, got " + shape_str(x.shape));
    const std::int64_t r = std::get<std::int64_t>(b.args.at(factor_name));
    std::vector<std::int64_t> shuffled;
    if (unshuffle) {
      if (x.shape[2] % r != 0 || x.shape[3] % r != 0)
        throw ShapeError("the input's height and width " + shape_str(x.shape) + " must be multiples of " +
                         factor_name + " " + std::to_string(r));
      shuffled = {x.shape[1], x.shape[2], x.shape[3]};
    } else {
      if (x.shape[1] % (r * r) != 0)
        throw ShapeError("the input's channels (" + std::to_string(x.shape[1]) + ") must be a multiple of " +
                         factor_name + " squared (" + std::to_string(r * r) + ")");
      shuffled = {x.shape[1] / (r * r), x.shape[2] * r, x.shape[3] * r};
    }
    return add_shuffle(b.graph, b.layer, b.source, in.at(0), r, shuffled, unshuffle);
  };
  return l;
}

}  // namespace

void register_pixel_shuffle(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "pixel_shuffle";
  f.moves_values = true;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const auto& s = attr_ints(n, "shuffled");
    const std::int64_t r = attr_int(n, "factor");
    const Shape out = attr_bool(n, "unshuffle") ? Shape{x.shape[0], s[0] * r * r, s[1] / r, s[2] / r}
                                                : Shape{x.shape[0], s[0], s[1], s[2]};
    return std::vector<OutputType>{{x.dtype, out, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    return Cost{0, 8 * static_cast<double>(numel(g.value(n.inputs[0]).shape))};
  };
  f.emit_cpu = emit_cpu;
  f.emit_cuda = emit_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;  // the inverse move on the gradient
    b.op = "pixel_shuffle";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["unshuffle"] = !attr_bool(n, "unshuffle");
    b.inputs = {dout[0]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(f));
  layers.push_back(shuffle_layer("PixelShuffle", "upscale_factor", false));
  layers.push_back(shuffle_layer("PixelUnshuffle", "downscale_factor", true));
}

}  // namespace ltgen
