/// \file
/// AdaptiveMaxPool2d (torch.nn): output (oy, ox) is the largest input in rows
/// [floor(oy * H / outH), ceil((oy + 1) * H / outH)) and the same columns (AdaptiveAvgPool2d's
/// windows, which may overlap), scanned as torch's kernel does: the first maximum wins and a NaN
/// propagates. The forward saves where each maximum came from (its flat index in the plane) and
/// the backward adds each output's gradient there; AdaptiveMaxPool1d is the same op over a
/// (batch, C, 1, L) view (pool1d.cpp).
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

PoolSizes sizes(const Node& n, const Value& x) {
  require_spatial_input(x, 2);
  const auto& o = attr_ints(n, "output_size");
  return PoolSizes{x.shape[1], x.shape[2], x.shape[3], o[0], o[1]};
}

// The window [y0, y1) x [x0, x1) of output (oy, ox), torch's start and end index formulas.
void write_window(CodeWriter& k) {
  k.line("const int y0 = oy * kH / kOutH, y1 = ((oy + 1) * kH + kOutH - 1) / kOutH;  // floor, ceil");
  k.line("const int x0 = ox * kW / kOutW, x1 = ((ox + 1) * kW + kOutW - 1) / kOutW;");
}

// The scan of output (plane, oy, ox)'s window into out[o] and indices[o] (x: the plane's input).
void write_scan(CodeWriter& k, const std::string& o) {
  write_window(k);
  k.line("// torch's scan: the first maximum wins and NaN propagates");
  k.line("float best = -INFINITY;");
  k.line("int best_at = y0 * kW + x0;");
  k.open("for (int iy = y0; iy < y1; ++iy)");
  k.open("for (int ix = x0; ix < x1; ++ix)");
  k.line("const float v = x[iy * kW + ix];");
  k.open("if (v > best || std::isnan(v))");
  k.line("best = v;");
  k.line("best_at = iy * kW + ix;");
  k.close();
  k.close();
  k.close();
  k.line("out[" + o + "] = best;");
  k.line("indices[" + o + "] = best_at;");
}

void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const PoolSizes s = sizes(n, g.value(n.inputs[0]));
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// A thread per output scans its window as the CPU does.");
  open_element_kernel(k, e.fn + "_kernel",
                      {"float* __restrict__ out", "std::int64_t* __restrict__ indices", "const float* __restrict__ inp"},
                      [&](CodeWriter& c) { write_pool_sizes(c, s, false); });
  k.line("const int plane = i / (kOutH * kOutW), oy = i / kOutW % kOutH, ox = i % kOutW;");
  k.line("const float* x = inp + static_cast<std::int64_t>(plane) * kH * kW;");
  write_scan(k, "i");
  k.close();
  e.body.line(constexpr_int("kOutputs", s.channels * s.out_h * s.out_w, "per sample"));
  emit_count_launch(e.body, e.fn + "_kernel", "n * kOutputs", {"out", "indices", "inp"});
}

// CUDA backward: a thread per input element gathers the gradients of the windows that cover it
// and whose maximum it is, in the CPU's (oy, ox) order: deterministic, without float atomics.
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const Shape in = pool_input_shape(n, 0);
  const Shape& out = g.value(n.inputs[0]).shape;
  const PoolSizes s{in[1], in[2], in[3], out[2], out[3]};
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// A thread per input element gathers the gradients of the windows whose maximum it is, in the");
  k.line("// CPU's order: deterministic, and no float atomics.");
  open_element_kernel(k, e.fn + "_kernel",
                      {"float* __restrict__ dinp", "const float* __restrict__ dout",
                       "const std::int64_t* __restrict__ indices"},
                      [&](CodeWriter& c) { write_pool_sizes(c, s, false); });
  k.line("const int plane = i / (kH * kW), at = i % (kH * kW), iy = at / kW, ix = at % kW;");
  k.line("// The windows that cover (iy, ix): rows oy from floor(iy * kOutH / kH) to ceil((iy + 1) * kOutH / kH) - 1.");
  k.line("const int oy0 = iy * kOutH / kH, oy1 = ((iy + 1) * kOutH + kH - 1) / kH - 1;");
  k.line("const int ox0 = ix * kOutW / kW, ox1 = ((ix + 1) * kOutW + kW - 1) / kW - 1;");
  k.line("const std::int64_t first = static_cast<std::int64_t>(plane) * kOutH * kOutW;  // the plane's first output");
  k.line("float sum = 0.0f;");
  k.open("for (int oy = oy0; oy <= oy1; ++oy)");
  k.open("for (int ox = ox0; ox <= ox1; ++ox)");
  k.line("if (indices[first + oy * kOutW + ox] == at) sum += dout[first + oy * kOutW + ox];");
  k.close();
  k.close();
  k.line("dinp[i] = sum;");
  k.close();
  e.body.line(constexpr_int("kInputs", s.channels * s.h * s.w, "per sample"));
  emit_count_launch(e.body, e.fn + "_kernel", "n * kInputs", {"dinp", "dout", "indices"});
}

}  // namespace

void register_adaptive_max_pool2d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "adaptive_max_pool2d";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const PoolSizes s = sizes(n, x);
    const Shape out = {x.shape[0], s.channels, s.out_h, s.out_w};
    return std::vector<OutputType>{{x.dtype, out, true}, {DType::i64, out, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out", "indices"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const PoolSizes s = sizes(n, x);
    const double outs = static_cast<double>(x.shape[0] * s.channels * s.out_h * s.out_w);
    return Cost{static_cast<double>(numel(x.shape)) + outs, 4 * static_cast<double>(numel(x.shape)) + outs * 12};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    write_pool_sizes(w, sizes(n, x));
    open_split_loop(w, "plane", "n * kChannels", numel(x.shape) / (x.shape[0] * x.shape[1]), SplitIndex::rows);
    w.line("const float* x = inp + plane * kH * kW;");
    w.open("for (int oy = 0; oy < kOutH; ++oy)");
    w.open("for (int ox = 0; ox < kOutW; ++ox)");
    write_scan(w, "(plane * kOutH + oy) * kOutW + ox");
    w.close();
    w.close();
    close_split_loop(w);
  };
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return pool_backward(ad, n, dout, "adaptive_max_pool2d_backward", {n.outputs[1]});
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "adaptive_max_pool2d_backward";
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
    w.line("// Each plane's gradient gathers from its own outputs: the planes split among the step's threads.");
    open_split_loop(w, "plane", "n * kChannels", in[2] * in[3], SplitIndex::rows);
    w.line("std::fill(dinp + plane * kH * kW, dinp + (plane + 1) * kH * kW, 0.0f);");
    w.open("for (int o = 0; o < kOutH * kOutW; ++o)");
    w.line("dinp[plane * kH * kW + indices[plane * kOutH * kOutW + o]] += dout[plane * kOutH * kOutW + o];");
    w.close();
    close_split_loop(w);
  };
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "AdaptiveMaxPool2d";
  ArgDef return_indices{"return_indices", ArgType::boolean, Attr{false}};
  return_indices.unsupported = "return_indices=True";
  l.args = {tuple_arg("output_size", std::nullopt, 1), return_indices};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    require_spatial_input(b.graph.value(in.at(0)), 2);
    Node n;
    n.op = "adaptive_max_pool2d";
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
