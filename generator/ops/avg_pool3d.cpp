/// \file
/// AvgPool3d and AdaptiveAvgPool3d (torch.nn) on (batch, C, D, H, W): the mean of each box window
/// of a (C) volume, as torch's CPU kernels compute it: the window's inputs added in float in (d, h,
/// w) order, then divided; the gradient adds dout / divisor to each input of the window, windows
/// in output order. AvgPool3d's windows and divisor are AvgPool2d's (avg_pool2d.cpp) with a depth
/// (count_include_pad, divisor_override, ceil_mode's clipped last window); AdaptiveAvgPool3d's are
/// torch's start and end formulas per dimension, and it divides by each dimension's extent in turn,
/// as torch does. A mean of several dimensions is not separable in float, so these are ops of
/// their own, unlike MaxPool3d (pool3d.cpp).
#include <functional>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

struct VolumeSizes {
  std::int64_t channels, d, h, w, out_d, out_h, out_w;
};

// divisor_override (0: none).
std::int64_t divisor_override(const Node& n) {
  return n.attrs.count("divisor_override") ? attr_int(n, "divisor_override") : 0;
}

bool adaptive(const Node& n) { return n.op.rfind("adaptive_", 0) == 0; }

VolumeSizes forward_sizes(const Node& n, const Value& x) {
  require_spatial_input(x, 3);
  VolumeSizes s{x.shape[1], x.shape[2], x.shape[3], x.shape[4], 0, 0, 0};
  if (adaptive(n)) {
    const auto& o = attr_ints(n, "output_size");
    s.out_d = o[0], s.out_h = o[1], s.out_w = o[2];
    return s;
  }
  const auto& k = attr_ints(n, "kernel_size");
  const auto& st = attr_ints(n, "stride");
  const auto& p = attr_ints(n, "padding");
  const bool ceil = n.attrs.count("ceil_mode") && attr_bool(n, "ceil_mode");
  s.out_d = window_count(s.d, p[0], p[0], k[0], st[0], 1, "depth", ceil);
  s.out_h = window_count(s.h, p[1], p[1], k[1], st[1], 1, "height", ceil);
  s.out_w = window_count(s.w, p[2], p[2], k[2], st[2], 1, "width", ceil);
  return s;
}

// A backward node's sizes: its dout's, and the input's from the attributes the forward saved.
VolumeSizes backward_sizes(const Node& n, const Graph& g) {
  const Shape in = pool_input_shape(n, 0);
  const Shape& out = g.value(n.inputs[0]).shape;
  return VolumeSizes{in[1], in[2], in[3], in[4], out[2], out[3], out[4]};
}

// The sizes, then a fixed window's constants (kernel, stride, padding, the divisor's rule).
void write_sizes(CodeWriter& w, const Node& n, const VolumeSizes& s, bool with_channels) {
  auto i = [](std::int64_t v) { return std::to_string(v); };
  if (with_channels) w.line("constexpr int kChannels = " + i(s.channels) + ";  // pooled one volume at a time");
  w.line("constexpr int kD = " + i(s.d) + ", kH = " + i(s.h) + ", kW = " + i(s.w) + ";  // input volume");
  w.line("constexpr int kOutD = " + i(s.out_d) + ", kOutH = " + i(s.out_h) + ", kOutW = " + i(s.out_w) +
         ";  // output volume");
  if (adaptive(n)) return;
  auto triple = [&](const char* name, const char* key) {
    const auto& v = attr_ints(n, key);
    w.line(std::string("constexpr int k") + name + "D = " + i(v[0]) + ", k" + name + "H = " + i(v[1]) + ", k" + name +
           "W = " + i(v[2]) + ";");
  };
  triple("Kernel", "kernel_size");
  triple("Stride", "stride");
  triple("Pad", "padding");
  if (divisor_override(n) > 0)
    w.line("constexpr int kDivisor = " + i(divisor_override(n)) + ";  // divisor_override: every window's");
  else
    w.line(std::string("constexpr bool kCountIncludePad = ") + (attr_bool(n, "count_include_pad") ? "true" : "false") +
           ";  // divide by the window's size with its padding");
}

// Output (oz, oy, ox)'s window inside the input, [front, back) x [top, bottom) x [left, right),
// and, for AvgPool3d, its divisor: torch's formulas.
void write_window(CodeWriter& w, const Node& n) {
  if (adaptive(n)) {
    w.line("const int front = oz * kD / kOutD, back = ((oz + 1) * kD + kOutD - 1) / kOutD;  // floor, ceil");
    w.line("const int top = oy * kH / kOutH, bottom = ((oy + 1) * kH + kOutH - 1) / kOutH;");
    w.line("const int left = ox * kW / kOutW, right = ((ox + 1) * kW + kOutW - 1) / kOutW;");
    return;
  }
  w.line("const int z0 = oz * kStrideD - kPadD, z1 = std::min(z0 + kKernelD, kD + kPadD);");
  w.line("const int y0 = oy * kStrideH - kPadH, y1 = std::min(y0 + kKernelH, kH + kPadH);");
  w.line("const int x0 = ox * kStrideW - kPadW, x1 = std::min(x0 + kKernelW, kW + kPadW);");
  if (divisor_override(n) == 0) w.line("const int padded_size = (z1 - z0) * (y1 - y0) * (x1 - x0);");
  w.line("const int front = std::max(z0, 0), back = std::min(z1, kD);  // the window inside the input");
  w.line("const int top = std::max(y0, 0), bottom = std::min(y1, kH);");
  w.line("const int left = std::max(x0, 0), right = std::min(x1, kW);");
  w.line(divisor_override(n) > 0
             ? "const int divisor = kDivisor;"
             : "const int divisor = kCountIncludePad ? padded_size : (back - front) * (bottom - top) * (right - left);");
}

// `value` divided as torch divides a window's sum (or its output's gradient).
std::string divided(const Node& n, const std::string& value) {
  return adaptive(n) ? value + " / (back - front) / (bottom - top) / (right - left)" : value + " / divisor";
}

const char* kOutIndex = "((volume * kOutD + oz) * kOutH + oy) * kOutW + ox";

// Opens the loops over output (volume, oz, oy, ox) and defines its window.
void open_windows(CodeWriter& w, const Node& n) {
  w.open("for (int volume = 0; volume < n * kChannels; ++volume)");
  w.open("for (int oz = 0; oz < kOutD; ++oz)");
  w.open("for (int oy = 0; oy < kOutH; ++oy)");
  w.open("for (int ox = 0; ox < kOutW; ++ox)");
  write_window(w, n);
}

void close_windows(CodeWriter& w) {
  for (int b = 0; b < 4; ++b) w.close();
}

// The loops over the window's inputs, around `body` (which reads index (iz * kH + iy) * kW + ix).
void write_window_loops(CodeWriter& w, const std::string& body) {
  w.open("for (int iz = front; iz < back; ++iz)");
  w.open("for (int iy = top; iy < bottom; ++iy)");
  w.line("for (int ix = left; ix < right; ++ix) " + body);
  w.close();
  w.close();
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, n, forward_sizes(n, g.value(n.inputs[0])), true);
  open_windows(w, n);
  w.line("const float* x = inp + volume * kD * kH * kW;");
  w.line("float sum = 0.0f;");
  write_window_loops(w, "sum += x[(iz * kH + iy) * kW + ix];");
  w.line(std::string("out[") + kOutIndex + "] = " + divided(n, "sum") + ";" + (adaptive(n) ? "  // as torch divides" : ""));
  close_windows(w);
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, n, backward_sizes(n, g), true);
  w.line("std::fill(dinp, dinp + n * kChannels * kD * kH * kW, 0.0f);");
  open_windows(w, n);
  w.line("float* dx = dinp + volume * kD * kH * kW;");
  w.line("const float d = " + divided(n, std::string("dout[") + kOutIndex + "]") + ";");
  write_window_loops(w, "dx[(iz * kH + iy) * kW + ix] += d;");
  close_windows(w);
}

// CUDA forward: a thread per output sums its window as the CPU does.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const VolumeSizes s = forward_sizes(n, g.value(n.inputs[0]));
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// A thread per output averages its window as the CPU does.");
  open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ out", "const float* __restrict__ inp"},
                      [&](CodeWriter& c) { write_sizes(c, n, s, false); });
  k.line("const int volume = i / (kOutD * kOutH * kOutW), oz = i / (kOutH * kOutW) % kOutD, oy = i / kOutW % kOutH,");
  k.line("          ox = i % kOutW;");
  write_window(k, n);
  k.line("const float* x = inp + volume * kD * kH * kW;");
  k.line("float sum = 0.0f;");
  write_window_loops(k, "sum += x[(iz * kH + iy) * kW + ix];");
  k.line("out[i] = " + divided(n, "sum") + ";");
  k.close();
  e.body.line(constexpr_int("kOutputs", s.channels * s.out_d * s.out_h * s.out_w, "per sample"));
  emit_count_launch(e.body, e.fn + "_kernel", "n * kOutputs", {"out", "inp"});
}

// CUDA backward: a thread per input element gathers from the windows that cover it, in the CPU's
// (oz, oy, ox) order: the same sums, and no float atomics where windows overlap.
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const VolumeSizes s = backward_sizes(n, g);
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// A thread per input element gathers from the windows that cover it, in the CPU's order: the");
  k.line("// same sums, and no float atomics where windows overlap.");
  open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ dinp", "const float* __restrict__ dout"},
                      [&](CodeWriter& c) { write_sizes(c, n, s, false); });
  k.line("const int volume = i / (kD * kH * kW), iz = i / (kH * kW) % kD, iy = i / kW % kH, ix = i % kW;");
  if (adaptive(n)) {
    k.line("// The windows that cover (iz, iy, ix): front <= iz < back holds for oz from floor(iz * kOutD / kD)");
    k.line("// to ceil((iz + 1) * kOutD / kD) - 1, the same for rows and columns.");
    k.line("const int oz0 = iz * kOutD / kD, oz1 = ((iz + 1) * kOutD + kD - 1) / kD - 1;");
    k.line("const int oy0 = iy * kOutH / kH, oy1 = ((iy + 1) * kOutH + kH - 1) / kH - 1;");
    k.line("const int ox0 = ix * kOutW / kW, ox1 = ((ix + 1) * kOutW + kW - 1) / kW - 1;");
  } else {
    k.line("// The windows that cover (iz, iy, ix): oz with oz * kStrideD - kPadD <= iz < that + kKernelD, ...");
    k.line("const int oz0 = std::max(0, (iz + kPadD - kKernelD + kStrideD) / kStrideD);");
    k.line("const int oz1 = std::min(kOutD - 1, (iz + kPadD) / kStrideD);");
    k.line("const int oy0 = std::max(0, (iy + kPadH - kKernelH + kStrideH) / kStrideH);");
    k.line("const int oy1 = std::min(kOutH - 1, (iy + kPadH) / kStrideH);");
    k.line("const int ox0 = std::max(0, (ix + kPadW - kKernelW + kStrideW) / kStrideW);");
    k.line("const int ox1 = std::min(kOutW - 1, (ix + kPadW) / kStrideW);");
  }
  k.line("float sum = 0.0f;");
  k.open("for (int oz = oz0; oz <= oz1; ++oz)");
  k.open("for (int oy = oy0; oy <= oy1; ++oy)");
  k.open("for (int ox = ox0; ox <= ox1; ++ox)");
  write_window(k, n);
  k.line("sum += " + divided(n, std::string("dout[") + kOutIndex + "]") + ";");
  k.close();
  k.close();
  k.close();
  k.line("dinp[i] = sum;");
  k.close();
  e.body.line(constexpr_int("kInputs", s.channels * s.d * s.h * s.w, "per sample"));
  emit_count_launch(e.body, e.fn + "_kernel", "n * kInputs", {"dinp", "dout"});
}

// The op `name` and its backward `name`_backward.
void register_pair(std::vector<OpDef>& ops, const std::string& name) {
  OpDef f;
  f.name = name;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const VolumeSizes s = forward_sizes(n, x);
    return std::vector<OutputType>{{x.dtype, {x.shape[0], s.channels, s.out_d, s.out_h, s.out_w}, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const VolumeSizes s = forward_sizes(n, x);
    const double outs = static_cast<double>(x.shape[0] * s.channels * s.out_d * s.out_h * s.out_w);
    const double ins = static_cast<double>(numel(x.shape));
    return Cost{ins + outs, 4 * (ins + outs)};  // (about: windows rarely overlap much)
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [name](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return pool_backward(ad, n, dout, name + "_backward");
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = name + "_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{d.dtype, pool_input_shape(n, d.shape[0]), true}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double outs = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    const double ins = static_cast<double>(numel(pool_input_shape(n, g.value(n.inputs[0]).shape[0])));
    return Cost{ins + outs, 4 * (ins * 2 + outs)};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));
}

// A layer building one `op` node over (batch, C, D, H, W) with the attributes `attrs` makes.
LayerDef volume_layer(const std::string& torch_type, const std::string& op, std::vector<ArgDef> args,
                      std::function<void(Node&, const Attrs&)> attrs) {
  LayerDef l;
  l.torch_type = torch_type;
  l.args = std::move(args);
  l.build = [op, attrs](LayerBuild& b, const std::vector<int>& in) {
    require_spatial_input(b.graph.value(in.at(0)), 3);
    Node n;
    n.op = op;
    n.layer = b.layer;
    n.source = b.source;
    attrs(n, b.args);
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  return l;
}

}  // namespace

void register_avg_pool3d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  register_pair(ops, "avg_pool3d");
  register_pair(ops, "adaptive_avg_pool3d");

  ArgDef stride = tuple_arg("stride", std::nullopt, 1, 3);
  stride.optional = true;  // None (or left out): the kernel size, as the script passes it on
  stride.nullable = true;
  ArgDef divisor{"divisor_override", ArgType::integer, std::nullopt, true};
  divisor.min = 1;
  layers.push_back(volume_layer(
      "AvgPool3d", "avg_pool3d",
      {tuple_arg("kernel_size", std::nullopt, 1, 3), stride, tuple_arg("padding", Attr{std::int64_t{0}}, 0, 3),
       {"ceil_mode", ArgType::boolean, Attr{false}}, {"count_include_pad", ArgType::boolean, Attr{true}}, divisor},
      [](Node& n, const Attrs& args) {
        const auto kernel = expand_tuple(args.at("kernel_size"), 3);
        const auto padding = expand_tuple(args.at("padding"), 3);
        for (int i = 0; i < 3; ++i)
          if (padding[i] > kernel[i] / 2)
            throw ShapeError("padding " + attr_repr(args.at("padding")) + " must be at most half the kernel " +
                             attr_repr(args.at("kernel_size")) + " (as torch)");
        n.attrs["kernel_size"] = kernel;
        n.attrs["stride"] = args.count("stride") ? expand_tuple(args.at("stride"), 3) : kernel;
        n.attrs["padding"] = padding;
        if (std::get<bool>(args.at("ceil_mode"))) n.attrs["ceil_mode"] = true;
        n.attrs["count_include_pad"] = args.at("count_include_pad");
        if (args.count("divisor_override")) n.attrs["divisor_override"] = args.at("divisor_override");
      }));
  layers.push_back(volume_layer("AdaptiveAvgPool3d", "adaptive_avg_pool3d", {tuple_arg("output_size", std::nullopt, 1, 3)},
                                [](Node& n, const Attrs& args) {
                                  n.attrs["output_size"] = expand_tuple(args.at("output_size"), 3);
                                }));
}

}  // namespace ltgen
