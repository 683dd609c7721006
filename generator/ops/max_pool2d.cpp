/// \file
/// MaxPool2d (torch.nn): the largest input under each window, padding counts
/// as -inf. The forward saves where each maximum came from (torch's
/// return_indices: the flat index in its plane) as a second output, and the
/// backward adds each output's gradient there.
#include "../autodiff.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

void register_max_pool2d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "max_pool2d";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const PoolSizes s = window_pool_sizes(n, x);
    const Shape out = {x.shape[0], s.channels, s.out_h, s.out_w};
    return std::vector<OutputType>{{x.dtype, out, true}, {DType::i64, out, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out", "indices"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const PoolSizes s = window_pool_sizes(n, x);
    const auto& k = attr_ints(n, "kernel_size");
    const double outs = static_cast<double>(x.shape[0] * s.channels * s.out_h * s.out_w);
    return Cost{outs * static_cast<double>(k[0] * k[1]), 4 * static_cast<double>(numel(x.shape)) + outs * 12};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, window_pool_sizes(n, g.value(n.inputs[0])));
    write_window_sizes(w, n);
    w.open("for (int plane = 0; plane < n * kChannels; ++plane)");
    w.line("const float* x = inp + plane * kH * kW;");
    w.open("for (int oy = 0; oy < kOutH; ++oy)");
    w.open("for (int ox = 0; ox < kOutW; ++ox)");
    w.line("// torch's scan: the first maximum wins and NaN propagates");
    w.line("float best = -INFINITY;");
    w.line("int best_at = -1;");
    w.open("for (int ky = 0; ky < kKernelH; ++ky)");
    w.line("const int iy = oy * kStrideH - kPadH + ky * kDilationH;");
    w.line("if (iy < 0 || iy >= kH) continue;  // padding");
    w.open("for (int kx = 0; kx < kKernelW; ++kx)");
    w.line("const int ix = ox * kStrideW - kPadW + kx * kDilationW;");
    w.line("if (ix < 0 || ix >= kW) continue;");
    w.line("const float v = x[iy * kW + ix];");
    w.open("if (best_at < 0 || v > best || std::isnan(v))");
    w.line("best = v;");
    w.line("best_at = iy * kW + ix;");
    w.close();
    w.close();
    w.close();
    w.line("out[(plane * kOutH + oy) * kOutW + ox] = best;");
    w.line("indices[(plane * kOutH + oy) * kOutW + ox] = best_at;");
    w.close();
    w.close();
    w.close();
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return pool_backward(ad, n, dout, "max_pool2d_backward", {n.outputs[1]});
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "max_pool2d_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{d.dtype, pool_input_shape(n, d.shape[0]), true}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout", "indices"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double outs = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    const double ins = static_cast<double>(numel(pool_input_shape(n, g.value(n.inputs[0]).shape[0])));
    return Cost{outs, ins * 4 + outs * 16};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const Shape in = pool_input_shape(n, 0);
    const Shape& out = g.value(n.inputs[0]).shape;
    write_pool_sizes(w, PoolSizes{in[1], in[2], in[3], out[2], out[3]});
    w.line("std::fill(dinp, dinp + n * kChannels * kH * kW, 0.0f);");
    w.open("for (int plane = 0; plane < n * kChannels; ++plane)");
    w.open("for (int o = 0; o < kOutH * kOutW; ++o)");
    w.line("dinp[plane * kH * kW + indices[plane * kOutH * kOutW + o]] += dout[plane * kOutH * kOutW + o];");
    w.close();
    w.close();
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "MaxPool2d";
  ArgDef stride = tuple_arg("stride", std::nullopt, 1);
  stride.inferred = true;  // None: the kernel size
  ArgDef return_indices{"return_indices", ArgType::boolean, Attr{false}};
  return_indices.unsupported = "return_indices=True";
  ArgDef ceil_mode{"ceil_mode", ArgType::boolean, Attr{false}};
  ceil_mode.unsupported = "ceil_mode=True";
  l.args = {tuple_arg("kernel_size", std::nullopt, 1),
            stride,
            tuple_arg("padding", Attr{std::int64_t{0}}, 0),
            tuple_arg("dilation", Attr{std::int64_t{1}}, 1),
            return_indices,
            ceil_mode};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    require_spatial_input(b.graph.value(in.at(0)), 2);
    Node n;
    n.op = "max_pool2d";
    n.layer = b.layer;
    n.source = b.source;
    set_window_attrs(n, b.args, true);
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
