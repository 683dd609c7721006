/// \file
/// AdaptiveAvgPool2d (torch.nn): output (oy, ox) is the mean of input rows
/// [floor(oy * H / outH), ceil((oy + 1) * H / outH)) and the same columns,
/// torch's start and end index formulas (windows may overlap).
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

PoolSizes sizes(const Node& n, const Value& x) {
  require_spatial_input(x, 2);
  const auto& o = attr_ints(n, "output_size");
  return PoolSizes{x.shape[1], x.shape[2], x.shape[3], o[0], o[1]};
}

// Opens the loops over output (plane, oy, ox) and defines its window [y0, y1) x [x0, x1).
void open_windows(CodeWriter& w) {
  w.open("for (int plane = 0; plane < n * kChannels; ++plane)");
  w.open("for (int oy = 0; oy < kOutH; ++oy)");
  w.line("const int y0 = oy * kH / kOutH, y1 = ((oy + 1) * kH + kOutH - 1) / kOutH;  // floor, ceil");
  w.open("for (int ox = 0; ox < kOutW; ++ox)");
  w.line("const int x0 = ox * kW / kOutW, x1 = ((ox + 1) * kW + kOutW - 1) / kOutW;");
}

// In a kernel: the window [y0, y1) x [x0, x1) of output (oy, ox), torch's formulas.
void write_window(CodeWriter& k) {
  k.line("const int y0 = oy * kH / kOutH, y1 = ((oy + 1) * kH + kOutH - 1) / kOutH;  // floor, ceil");
  k.line("const int x0 = ox * kW / kOutW, x1 = ((ox + 1) * kW + kOutW - 1) / kOutW;");
}

// CUDA forward: a thread per output sums its window as the CPU does.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const PoolSizes s = sizes(n, g.value(n.inputs[0]));
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// A thread per output averages its window as the CPU does.");
  open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ out", "const float* __restrict__ inp"},
                      [&](CodeWriter& c) { write_pool_sizes(c, s, false); });
  k.line("const int plane = i / (kOutH * kOutW), oy = i / kOutW % kOutH, ox = i % kOutW;");
  write_window(k);
  k.line("const float* x = inp + plane * kH * kW;");
  k.line("float sum = 0.0f;");
  k.open("for (int iy = y0; iy < y1; ++iy)");
  k.line("for (int ix = x0; ix < x1; ++ix) sum += x[iy * kW + ix];");
  k.close();
  k.line("out[i] = sum / (y1 - y0) / (x1 - x0);  // as torch divides");
  k.close();
  e.body.line(constexpr_int("kOutputs", s.channels * s.out_h * s.out_w, "per sample"));
  emit_count_launch(e.body, e.fn + "_kernel", "n * kOutputs", {"out", "inp"});
}

// CUDA backward: a thread per input element gathers from the windows that cover it (they may
// overlap), in the CPU's (oy, ox) order: deterministic, and no float atomics.
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const Shape in = pool_input_shape(n, 0);
  const Shape& out = g.value(n.inputs[0]).shape;
  const PoolSizes s{in[1], in[2], in[3], out[2], out[3]};
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// A thread per input element gathers from the windows that cover it (they may overlap), in the");
  k.line("// CPU's order: deterministic, and no float atomics.");
  open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ dinp", "const float* __restrict__ dout"},
                      [&](CodeWriter& c) { write_pool_sizes(c, s, false); });
  k.line("const int plane = i / (kH * kW), iy = i / kW % kH, ix = i % kW;");
  k.line("// The windows that cover (iy, ix): y0 <= iy < y1 holds for oy from floor(iy * kOutH / kH)");
  k.line("// to ceil((iy + 1) * kOutH / kH) - 1, the same for columns.");
  k.line("const int oy0 = iy * kOutH / kH, oy1 = ((iy + 1) * kOutH + kH - 1) / kH - 1;");
  k.line("const int ox0 = ix * kOutW / kW, ox1 = ((ix + 1) * kOutW + kW - 1) / kW - 1;");
  k.line("float sum = 0.0f;");
  k.open("for (int oy = oy0; oy <= oy1; ++oy)");
  k.open("for (int ox = ox0; ox <= ox1; ++ox)");
  write_window(k);
  k.line("sum += dout[(plane * kOutH + oy) * kOutW + ox] / (y1 - y0) / (x1 - x0);");
  k.close();
  k.close();
  k.line("dinp[i] = sum;");
  k.close();
  e.body.line(constexpr_int("kInputs", s.channels * s.h * s.w, "per sample"));
  emit_count_launch(e.body, e.fn + "_kernel", "n * kInputs", {"dinp", "dout"});
}

}  // namespace

void register_adaptive_avg_pool2d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "adaptive_avg_pool2d";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const PoolSizes s = sizes(n, x);
    return std::vector<OutputType>{{x.dtype, {x.shape[0], s.channels, s.out_h, s.out_w}, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const PoolSizes s = sizes(n, x);
    const double outs = static_cast<double>(x.shape[0] * s.channels * s.out_h * s.out_w);
    // Each input is read about once per window that covers it (once when H divides by outH).
    return Cost{static_cast<double>(numel(x.shape)) + outs * 2, 4 * (static_cast<double>(numel(x.shape)) + outs)};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, sizes(n, g.value(n.inputs[0])));
    open_windows(w);
    w.line("const float* x = inp + plane * kH * kW;");
    w.line("float sum = 0.0f;");
    w.open("for (int iy = y0; iy < y1; ++iy)");
    w.line("for (int ix = x0; ix < x1; ++ix) sum += x[iy * kW + ix];");
    w.close();
    w.line("out[(plane * kOutH + oy) * kOutW + ox] = sum / (y1 - y0) / (x1 - x0);  // as torch divides");
    w.close();
    w.close();
    w.close();
  };
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return pool_backward(ad, n, dout, "adaptive_avg_pool2d_backward");
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "adaptive_avg_pool2d_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{d.dtype, pool_input_shape(n, d.shape[0]), true}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double outs = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    const double ins = static_cast<double>(numel(pool_input_shape(n, g.value(n.inputs[0]).shape[0])));
    return Cost{ins + outs * 2, 4 * (ins * 2 + outs)};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const Shape in = pool_input_shape(n, 0);
    const Shape& out = g.value(n.inputs[0]).shape;
    write_pool_sizes(w, PoolSizes{in[1], in[2], in[3], out[2], out[3]});
    w.line("std::fill(dinp, dinp + n * kChannels * kH * kW, 0.0f);");
    open_windows(w);
    w.line("float* dx = dinp + plane * kH * kW;");
    w.line("const float d = dout[(plane * kOutH + oy) * kOutW + ox] / (y1 - y0) / (x1 - x0);");
    w.open("for (int iy = y0; iy < y1; ++iy)");
    w.line("for (int ix = x0; ix < x1; ++ix) dx[iy * kW + ix] += d;");
    w.close();
    w.close();
    w.close();
    w.close();
  };
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "AdaptiveAvgPool2d";
  l.args = {tuple_arg("output_size", std::nullopt, 1)};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    require_spatial_input(b.graph.value(in.at(0)), 2);
    Node n;
    n.op = "adaptive_avg_pool2d";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["output_size"] = expand_tuple(b.args.at("output_size"));
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
