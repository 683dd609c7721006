/// \file
/// AvgPool2d (torch.nn): the mean of each window. With count_include_pad the
/// divisor is the window's size including its padding (torch's default),
/// without it only the input pixels it covers; divisor_override replaces both.
/// Under ceil_mode the last window may hang past the padded input: torch counts
/// only its part inside the padding, and so does write_window.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

// divisor_override (0: none).
std::int64_t divisor_override(const Node& n) { return n.attrs.count("divisor_override") ? attr_int(n, "divisor_override") : 0; }

void write_count_include_pad(CodeWriter& w, const Node& n) {
  if (divisor_override(n) > 0) {
    w.line("constexpr int kDivisor = " + std::to_string(divisor_override(n)) + ";  // divisor_override: every window's");
    return;
  }
  w.line(std::string("constexpr bool kCountIncludePad = ") + (attr_bool(n, "count_include_pad") ? "true" : "false") +
         ";  // divide by the window's size with its padding");
}

// Defines the window [y0, y1) x [x0, x1) of output (oy, ox) clipped to the input, [top, bottom)
// x [left, right), and its divisor: torch's formulas.
void write_window(CodeWriter& w, const Node& n) {
  w.line("const int y0 = oy * kStrideH - kPadH, y1 = std::min(y0 + kKernelH, kH + kPadH);");
  w.line("const int x0 = ox * kStrideW - kPadW, x1 = std::min(x0 + kKernelW, kW + kPadW);");
  if (divisor_override(n) == 0) w.line("const int padded_size = (y1 - y0) * (x1 - x0);");
  w.line("const int top = std::max(y0, 0), bottom = std::min(y1, kH);  // the window inside the input");
  w.line("const int left = std::max(x0, 0), right = std::min(x1, kW);");
  w.line(divisor_override(n) > 0 ? "const int divisor = kDivisor;"
                                 : "const int divisor = kCountIncludePad ? padded_size : (bottom - top) * (right - left);");
}

// Opens the loops over output (plane, oy, ox) and defines its window (write_window).
void open_windows(CodeWriter& w, const Node& n) {
  write_count_include_pad(w, n);
  w.open("for (int plane = 0; plane < n * kChannels; ++plane)");
  w.open("for (int oy = 0; oy < kOutH; ++oy)");
  w.open("for (int ox = 0; ox < kOutW; ++ox)");
  write_window(w, n);
}

// A CUDA kernel's sizes: the planes, the window and the divisor's rule.
void write_kernel_constants(CodeWriter& k, const Node& n, const PoolSizes& s) {
  write_pool_sizes(k, s, false);
  write_window_sizes(k, n);
  write_count_include_pad(k, n);
}

// CUDA forward: a thread per output sums its window as the CPU does.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const PoolSizes s = window_pool_sizes(n, g.value(n.inputs[0]));
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// A thread per output averages its window as the CPU does.");
  open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ out", "const float* __restrict__ inp"},
                      [&](CodeWriter& c) { write_kernel_constants(c, n, s); });
  k.line("const int plane = i / (kOutH * kOutW), oy = i / kOutW % kOutH, ox = i % kOutW;");
  write_window(k, n);
  k.line("const float* x = inp + plane * kH * kW;");
  k.line("float sum = 0.0f;");
  k.open("for (int iy = top; iy < bottom; ++iy)");
  k.line("for (int ix = left; ix < right; ++ix) sum += x[iy * kW + ix];");
  k.close();
  k.line("out[i] = sum / divisor;");
  k.close();
  e.body.line(constexpr_int("kOutputs", s.channels * s.out_h * s.out_w, "per sample"));
  emit_count_launch(e.body, e.fn + "_kernel", "n * kOutputs", {"out", "inp"});
}

// CUDA backward: a thread per input element gathers dout / divisor from the windows that cover
// it, in the CPU's (oy, ox) order: deterministic, and no float atomics where windows overlap.
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const Shape in = pool_input_shape(n, 0);
  const Shape& out = g.value(n.inputs[0]).shape;
  const PoolSizes s{in[1], in[2], in[3], out[2], out[3]};
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// A thread per input element gathers dout / divisor from the windows that cover it, in the");
  k.line("// CPU's order: deterministic, and no float atomics where windows overlap.");
  open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ dinp", "const float* __restrict__ dout"},
                      [&](CodeWriter& c) { write_kernel_constants(c, n, s); });
  k.line("const int plane = i / (kH * kW), iy = i / kW % kH, ix = i % kW;");
  k.line("// The windows that cover (iy, ix): rows oy with oy * kStrideH - kPadH <= iy < that + kKernelH.");
  k.line("const int oy0 = std::max(0, (iy + kPadH - kKernelH + kStrideH) / kStrideH);");
  k.line("const int oy1 = std::min(kOutH - 1, (iy + kPadH) / kStrideH);");
  k.line("const int ox0 = std::max(0, (ix + kPadW - kKernelW + kStrideW) / kStrideW);");
  k.line("const int ox1 = std::min(kOutW - 1, (ix + kPadW) / kStrideW);");
  k.line("float sum = 0.0f;");
  k.open("for (int oy = oy0; oy <= oy1; ++oy)");
  k.open("for (int ox = ox0; ox <= ox1; ++ox)");
  write_window(k, n);
  k.line("sum += dout[(plane * kOutH + oy) * kOutW + ox] / divisor;");
  k.close();
  k.close();
  k.line("dinp[i] = sum;");
  k.close();
  e.body.line(constexpr_int("kInputs", s.channels * s.h * s.w, "per sample"));
  emit_count_launch(e.body, e.fn + "_kernel", "n * kInputs", {"dinp", "dout"});
}

}  // namespace

void register_avg_pool2d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "avg_pool2d";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const PoolSizes s = window_pool_sizes(n, x);
    return std::vector<OutputType>{{x.dtype, {x.shape[0], s.channels, s.out_h, s.out_w}, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const PoolSizes s = window_pool_sizes(n, x);
    const auto& k = attr_ints(n, "kernel_size");
    const double outs = static_cast<double>(x.shape[0] * s.channels * s.out_h * s.out_w);
    return Cost{outs * static_cast<double>(k[0] * k[1] + 1), 4 * (static_cast<double>(numel(x.shape)) + outs)};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, window_pool_sizes(n, g.value(n.inputs[0])));
    write_window_sizes(w, n);
    open_windows(w, n);
    w.line("const float* x = inp + plane * kH * kW;");
    w.line("float sum = 0.0f;");
    w.open("for (int iy = top; iy < bottom; ++iy)");
    w.line("for (int ix = left; ix < right; ++ix) sum += x[iy * kW + ix];");
    w.close();
    w.line("out[(plane * kOutH + oy) * kOutW + ox] = sum / divisor;");
    w.close();
    w.close();
    w.close();
  };
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return pool_backward(ad, n, dout, "avg_pool2d_backward");
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "avg_pool2d_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{d.dtype, pool_input_shape(n, d.shape[0]), true}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const auto& k = attr_ints(n, "kernel_size");
    const double outs = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    const double ins = static_cast<double>(numel(pool_input_shape(n, g.value(n.inputs[0]).shape[0])));
    return Cost{outs * static_cast<double>(k[0] * k[1] + 1), 4 * (ins * 2 + outs)};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const Shape in = pool_input_shape(n, 0);
    const Shape& out = g.value(n.inputs[0]).shape;
    write_pool_sizes(w, PoolSizes{in[1], in[2], in[3], out[2], out[3]});
    write_window_sizes(w, n);
    w.line("std::fill(dinp, dinp + n * kChannels * kH * kW, 0.0f);");
    open_windows(w, n);
    w.line("float* dx = dinp + plane * kH * kW;");
    w.line("const float d = dout[(plane * kOutH + oy) * kOutW + ox] / divisor;");
    w.open("for (int iy = top; iy < bottom; ++iy)");
    w.line("for (int ix = left; ix < right; ++ix) dx[iy * kW + ix] += d;");
    w.close();
    w.close();
    w.close();
    w.close();
  };
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "AvgPool2d";
  ArgDef stride = tuple_arg("stride", std::nullopt, 1);
  stride.inferred = true;  // None: the kernel size
  ArgDef ceil_mode{"ceil_mode", ArgType::boolean, Attr{false}};
  ArgDef divisor{"divisor_override", ArgType::integer, std::nullopt, true};
  divisor.min = 1;
  l.args = {tuple_arg("kernel_size", std::nullopt, 1),
            stride,
            tuple_arg("padding", Attr{std::int64_t{0}}, 0),
            ceil_mode,
            {"count_include_pad", ArgType::boolean, Attr{true}},
            divisor};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    require_spatial_input(b.graph.value(in.at(0)), 2);
    Node n;
    n.op = "avg_pool2d";
    n.layer = b.layer;
    n.source = b.source;
    set_window_attrs(n, b.args, false);
    n.attrs["count_include_pad"] = b.args.at("count_include_pad");
    if (b.args.count("divisor_override")) n.attrs["divisor_override"] = b.args.at("divisor_override");
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
