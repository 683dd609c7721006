/// \file
/// Upsample (torch.nn.Upsample): the layer, and the modes 'nearest' and 'nearest-exact' (the linear
/// modes are upsample_linear.cpp's op, 'bicubic' upsample_cubic.cpp's). Output (y, x) of a plane
/// copies the input that ltrt::nearest_source names along each dimension (torch's nearest_idx and
/// nearest_exact_idx in float32). By whole factors sh, sw of at most 16, 'nearest' copies input
/// (y / sh, x / sw), the same index (checked against torch for factors 2 to 16), and the backward
/// sums each input's sh x sw block; otherwise the backward sums the rows and columns of outputs that
/// ltrt::nearest_readers names. Either way row by row, the order torch's CPU kernel adds them in.
/// On (N, C, L) it is the same op over a (N, C, 1, L) view, as the 1-d poolings. On (N, C, D, H, W)
/// the nearest modes are an op of their own, upsample_nearest3d, in torch's arithmetic: each output
/// copies its source along each dimension, and an input's gradient is the sum of its readers'
/// gradients in output order (outputs (d, h, w) row by row), as torch's CPU kernel adds them.
#include <cmath>

#include <ltrt/python_repr.hpp>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

// The whole factors of 'nearest' (none: empty), where each input's outputs are a block.
std::vector<std::int64_t> whole_factors(const Node& n) {
  return n.attrs.count("whole_factors") ? attr_ints(n, "whole_factors") : std::vector<std::int64_t>{};
}

void write_scales(CodeWriter& w, const Node& n) {
  if (const auto f = whole_factors(n); !f.empty()) {
    w.line("constexpr int kScaleH = " + std::to_string(f[0]) + ", kScaleW = " + std::to_string(f[1]) +
           ";  // output rows and columns per input's");
    return;
  }
  w.line("constexpr float kScaleH = " + float_literal(static_cast<float>(attr_float(n, "scale_h"))) +
         ", kScaleW = " + float_literal(static_cast<float>(attr_float(n, "scale_w"))) +
         ";  // input steps per output step (torch's compute_scales_value)");
  w.line(std::string("constexpr bool kExact = ") + (attr_bool(n, "exact") ? "true" : "false") +
         ";  // 'nearest-exact': the source of o is (o + 0.5) * scale");
}

// The input element that output (oy, ox) copies, an index into its plane.
std::string source(const Node& n) {
  if (!whole_factors(n).empty()) return "oy / kScaleH * kW + ox / kScaleW";
  return "ltrt::nearest_source(kScaleH, oy, kH, kExact) * kW + ltrt::nearest_source(kScaleW, ox, kW, kExact)";
}

// One spatial dimension of an Upsample: its output size, torch's (ATen's compute_output_size: the
// input size times scale_factor, truncated), and the float32 scale its kernels step the input by
// (1 / scale_factor, or in / out for a size); `whole` when each input has `factor` outputs.
struct UpsampleDim {
  std::int64_t in, out;
  float scale;
  bool whole;
  std::int64_t factor;
};
UpsampleDim upsample_dim(const LayerBuild& b, const Value& x, size_t d, size_t dims) {
  UpsampleDim u{x.shape[d + 2], 0, 0.0f, false, 0};
  if (auto it = b.args.find("scale_factor"); it != b.args.end()) {
    const auto* list = std::get_if<std::vector<double>>(&it->second);
    const double f = list ? list->at(d) : std::get<double>(it->second);
    const double product = static_cast<double>(u.in) * f;
    if (!(product >= 1.0) || product >= 2147483648.0)
      throw ShapeError("scale_factor " + ltrt::python_repr(f) + " makes " + std::to_string(u.in) + " inputs " +
                       (product >= 1.0 ? "too many outputs" : "no output") + ", which torch refuses");
    u.out = static_cast<std::int64_t>(product);
    u.scale = static_cast<float>(1.0 / f);
    u.whole = f == std::floor(f);
    // recompute_scale_factor: F.interpolate's floor(in * f) as a size, the kernels stepping by in / out.
    if (auto r = b.args.find("recompute_scale_factor"); r != b.args.end() && std::get<bool>(r->second)) {
      u.out = static_cast<std::int64_t>(std::floor(static_cast<double>(u.in) * f));
      u.scale = static_cast<float>(u.in) / static_cast<float>(u.out);
      u.whole = u.out % u.in == 0;
    }
  } else {
    u.out = expand_tuple(b.args.at("size"), static_cast<int>(dims))[d];
    u.scale = static_cast<float>(u.in) / static_cast<float>(u.out);
    u.whole = u.out % u.in == 0;
  }
  u.factor = u.out / u.in;
  return u;
}

// The nearest modes' node: the output size and torch's float32 scales; 'nearest' by whole factors
// of at most 16 takes the block form.
int add_upsample_nearest(LayerBuild& b, int input, size_t dims, bool exact) {
  const Value& x = b.graph.value(input);
  std::vector<std::int64_t> out_size(2, 1), factors(2, 1);
  std::vector<double> scale(2, 1.0);
  bool whole = !exact;
  for (size_t d = 0; d < dims; ++d) {
    const size_t at = d + 2 - dims;  // (N, C, L) runs as (N, C, 1, L)
    const UpsampleDim u = upsample_dim(b, x, d, dims);
    out_size[at] = u.out;
    scale[at] = u.scale;
    factors[at] = u.factor;
    whole = whole && u.whole && u.factor <= 16;
  }
  Node n;
  n.op = "upsample_nearest2d";
  n.layer = b.layer;
  n.source = b.source;
  n.attrs["out_size"] = out_size;
  if (whole) {
    n.attrs["whole_factors"] = factors;
  } else {
    n.attrs["scale_h"] = scale[0];
    n.attrs["scale_w"] = scale[1];
    n.attrs["exact"] = exact;
  }
  const Shape shape = x.shape;  // (x moves as values are added)
  n.inputs = {dims == 1 ? add_view(b, input, {shape[1], 1, shape[2]}) : input};
  const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
  const int y = b.graph.nodes[id].outputs[0];
  if (dims == 2) return y;
  return add_view(b, y, {shape[1], out_size[1]});
}

// The nearest modes on (N, C, D, H, W): upsample_nearest3d with torch's float32 scales.
int add_upsample_nearest3d(LayerBuild& b, int input, bool exact) {
  const Value& x = b.graph.value(input);
  std::vector<std::int64_t> out_size(3);
  Node n;
  n.op = "upsample_nearest3d";
  n.layer = b.layer;
  n.source = b.source;
  const char* names[] = {"scale_d", "scale_h", "scale_w"};
  for (size_t d = 0; d < 3; ++d) {
    const UpsampleDim u = upsample_dim(b, x, d, 3);
    out_size[d] = u.out;
    n.attrs[names[d]] = static_cast<double>(u.scale);
  }
  n.attrs["out_size"] = out_size;
  n.attrs["exact"] = exact;
  n.inputs = {input};
  const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
  return b.graph.nodes[id].outputs[0];
}

// The interpolating modes' node (upsample_linear.cpp, upsample_cubic.cpp): any output size; the
// ratios as torch's area_pixel_compute_scale computes them in float32: (in - 1) / (out - 1) with
// align_corners, else upsample_dim's scale.
int add_upsample_interpolating(LayerBuild& b, int input, size_t dims, bool cubic) {
  const Value& x = b.graph.value(input);
  const bool align = b.args.count("align_corners") && std::get<bool>(b.args.at("align_corners"));
  std::vector<std::int64_t> in_size(x.shape.begin() + 2, x.shape.end()), out_size = in_size;
  std::vector<float> ratio(dims);
  for (size_t d = 0; d < dims; ++d) {
    const UpsampleDim u = upsample_dim(b, x, d, dims);
    out_size[d] = u.out;
    ratio[d] = u.scale;
    if (align)
      ratio[d] = out_size[d] > 1 ? static_cast<float>(in_size[d] - 1) / static_cast<float>(out_size[d] - 1) : 0.0f;
  }
  Node n;
  n.op = cubic ? "upsample_bicubic2d" : "upsample_linear2d";
  n.layer = b.layer;
  n.source = b.source;
  if (!cubic) n.attrs["bilinear"] = dims == 2;
  n.attrs["align_corners"] = align;
  n.attrs["out_size"] = dims == 2 ? out_size : std::vector<std::int64_t>{1, out_size[0]};
  n.attrs["ratio_h"] = dims == 2 ? static_cast<double>(ratio[0]) : 0.0;
  n.attrs["ratio_w"] = static_cast<double>(ratio[dims - 1]);
  const Shape shape = x.shape;  // (x moves as values are added)
  n.inputs = {dims == 1 ? add_view(b, input, {shape[1], 1, shape[2]}) : input};  // (N, C, L) as (N, C, 1, L)
  const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
  const int y = b.graph.nodes[id].outputs[0];
  if (dims == 2) return y;
  return add_view(b, y, {shape[1], out_size[0]});
}

// Upsample's build (and its aliases', with their mode set): checks the arguments against the input.
int build_upsample(LayerBuild& b, const std::vector<int>& in) {
  const std::string mode = std::get<std::string>(b.args.at("mode"));
  const bool linear = mode == "linear" || mode == "bilinear", cubic = mode == "bicubic";
  const bool nearest = mode == "nearest" || mode == "nearest-exact";
  if (!nearest && !linear && !cubic)
    throw ShapeError("mode '" + mode + "' is not supported yet ('nearest', 'nearest-exact', 'linear', 'bilinear' and "
                     "'bicubic' are)");
  if (nearest && b.args.count("align_corners"))
    throw ShapeError("align_corners can only be set with the interpolating modes (linear, bilinear, ...), as torch "
                     "says; mode is '" + mode + "'");
  if (b.args.count("size") == b.args.count("scale_factor"))
    throw ShapeError("give exactly one of size and scale_factor, as torch asks");
  if (auto r = b.args.find("recompute_scale_factor"); r != b.args.end() && std::get<bool>(r->second) && b.args.count("size"))
    throw ShapeError("recompute_scale_factor needs scale_factor, not size, as torch says");
  const Value& x = b.graph.value(in.at(0));
  if (x.shape.size() == 5 && !nearest)
    throw ShapeError("mode '" + mode + "' on (batch, C, D, H, W) is not supported yet ('nearest' and 'nearest-exact' "
                     "are)");
  if (x.shape.size() != 3 && x.shape.size() != 4 && x.shape.size() != 5)
    throw ShapeError("expects (batch, C, L), (batch, C, H, W) or (batch, C, D, H, W) input, got " + shape_str(x.shape) +
                     " (model.inputs are per sample)");
  const size_t dims = x.shape.size() - 2;
  if (linear && (mode == "linear") != (dims == 1))
    throw ShapeError("mode '" + mode + "' needs a " + (mode == "linear" ? "(batch, C, L)" : "(batch, C, H, W)") +
                     " input, got " + shape_str(x.shape) + " (torch: " + (dims == 1 ? "'linear'" : "'bilinear'") +
                     " for this one)");
  if (cubic && dims != 2)
    throw ShapeError("mode 'bicubic' needs a (batch, C, H, W) input, got " + shape_str(x.shape) + ", as torch's");
  require_spatial_input(x, static_cast<int>(dims));
  for (const char* key : {"size", "scale_factor"})
    if (auto it = b.args.find(key); it != b.args.end()) {
      const auto* ints = std::get_if<std::vector<std::int64_t>>(&it->second);
      const auto* numbers = std::get_if<std::vector<double>>(&it->second);
      const size_t given = ints ? ints->size() : numbers ? numbers->size() : dims;
      if (given != dims)
        throw ShapeError(std::string(key) + " has " + std::to_string(given) + " entries for " +
                         std::to_string(dims) + " spatial dimension" + (dims == 1 ? "" : "s"));
    }
  if (linear || cubic) return add_upsample_interpolating(b, in.at(0), dims, cubic);
  if (dims == 3) return add_upsample_nearest3d(b, in.at(0), mode == "nearest-exact");
  return add_upsample_nearest(b, in.at(0), dims, mode == "nearest-exact");
}

// upsample_nearest3d's sizes: a volume per (sample, channel), the input's and output's extents, and
// torch's float32 scales; `input` the forward's input shape (batch, C, D, H, W).
void write_volume_sizes(CodeWriter& w, const Node& n, const Shape& input, bool with_channels) {
  auto i = [](std::int64_t v) { return std::to_string(v); };
  const auto& o = attr_ints(n, "out_size");
  if (with_channels) w.line("constexpr int kChannels = " + i(input[1]) + ";  // upsampled one volume at a time");
  w.line("constexpr int kD = " + i(input[2]) + ", kH = " + i(input[3]) + ", kW = " + i(input[4]) + ";  // input volume");
  w.line("constexpr int kOutD = " + i(o[0]) + ", kOutH = " + i(o[1]) + ", kOutW = " + i(o[2]) + ";  // output volume");
  auto scale = [&](const char* key) { return float_literal(static_cast<float>(attr_float(n, key))); };
  w.line("constexpr float kScaleD = " + scale("scale_d") + ", kScaleH = " + scale("scale_h") + ", kScaleW = " +
         scale("scale_w") + ";  // input steps per output step (torch's compute_scales_value)");
  w.line(std::string("constexpr bool kExact = ") + (attr_bool(n, "exact") ? "true" : "false") +
         ";  // 'nearest-exact': the source of o is (o + 0.5) * scale");
}

// The value of output (od, oh, ow) of volume x.
const char* kNearest3dSource =
    "x[(ltrt::nearest_source(kScaleD, od, kD, kExact) * kH + ltrt::nearest_source(kScaleH, oh, kH, kExact)) * kW +\n"
    "  ltrt::nearest_source(kScaleW, ow, kW, kExact)]";

// Input (id, ih, iw)'s gradient: its readers' output gradients (of volume d), added in output order.
void write_readers_sum(CodeWriter& w) {
  w.line("const ltrt::NearestReaders slices = ltrt::nearest_readers(kScaleD, id, kD, kOutD, kExact);");
  w.line("const ltrt::NearestReaders rows = ltrt::nearest_readers(kScaleH, ih, kH, kOutH, kExact);");
  w.line("const ltrt::NearestReaders cols = ltrt::nearest_readers(kScaleW, iw, kW, kOutW, kExact);");
  w.line("float sum = 0.0f;");
  w.open("for (int od = slices.first; od < slices.end; ++od)");
  w.open("for (int oh = rows.first; oh < rows.end; ++oh)");
  w.line("for (int ow = cols.first; ow < cols.end; ++ow) sum += d[(od * kOutH + oh) * kOutW + ow];");
  w.close();
  w.close();
}

// upsample_nearest3d and its backward.
void register_upsample_nearest3d(std::vector<OpDef>& ops) {
  OpDef f;
  f.name = "upsample_nearest3d";
  f.moves_values = true;
  f.cpu_runtime_includes = f.cuda_runtime_includes = {"<ltrt/nearest_source.hpp>"};
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const auto& o = attr_ints(n, "out_size");
    return std::vector<OutputType>{{x.dtype, {x.shape[0], x.shape[1], o[0], o[1], o[2]}, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const Shape& x = g.value(n.inputs[0]).shape;
    const auto& o = attr_ints(n, "out_size");
    const double outs = static_cast<double>(x[0] * x[1] * o[0] * o[1] * o[2]);
    return Cost{0, 8 * outs};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_volume_sizes(w, n, g.value(n.inputs[0]).shape, true);
    w.open("for (int volume = 0; volume < n * kChannels; ++volume)");
    w.line("const float* x = inp + static_cast<std::int64_t>(volume) * kD * kH * kW;");
    w.line("float* y = out + static_cast<std::int64_t>(volume) * kOutD * kOutH * kOutW;");
    w.open("for (int od = 0; od < kOutD; ++od)");
    w.open("for (int oh = 0; oh < kOutH; ++oh)");
    w.line(std::string("for (int ow = 0; ow < kOutW; ++ow) y[(od * kOutH + oh) * kOutW + ow] = ") + kNearest3dSource + ";");
    w.close();
    w.close();
    w.close();
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const Shape x = g.value(n.inputs[0]).shape;
    const auto& o = attr_ints(n, "out_size");
    CodeWriter& k = e.kernels;
    k.line();
    k.line("// A thread per output copies its input element.");
    open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ out", "const float* __restrict__ inp"},
                        [&](CodeWriter& c) { write_volume_sizes(c, n, x, false); });
    k.line("const int volume = i / (kOutD * kOutH * kOutW), od = i / (kOutH * kOutW) % kOutD, oh = i / kOutW % kOutH,");
    k.line("          ow = i % kOutW;");
    k.line("const float* x = inp + static_cast<std::int64_t>(volume) * kD * kH * kW;");
    k.line(std::string("out[i] = ") + kNearest3dSource + ";");
    k.close();
    e.body.line(constexpr_int("kOutputs", x[1] * o[0] * o[1] * o[2], "per sample"));
    emit_count_launch(e.body, e.fn + "_kernel", "n * kOutputs", {"out", "inp"});
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return pool_backward(ad, n, dout, "upsample_nearest3d_backward");
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "upsample_nearest3d_backward";
  b.cpu_runtime_includes = b.cuda_runtime_includes = {"<ltrt/nearest_source.hpp>"};
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{d.dtype, pool_input_shape(n, d.shape[0]), true}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double outs = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{outs, 8 * outs};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    write_volume_sizes(w, n, pool_input_shape(n, 0), true);
    w.open("for (int volume = 0; volume < n * kChannels; ++volume)");
    w.line("const float* d = dout + static_cast<std::int64_t>(volume) * kOutD * kOutH * kOutW;");
    w.line("float* dx = dinp + static_cast<std::int64_t>(volume) * kD * kH * kW;");
    w.open("for (int id = 0; id < kD; ++id)");
    w.open("for (int ih = 0; ih < kH; ++ih)");
    w.open("for (int iw = 0; iw < kW; ++iw)");
    write_readers_sum(w);
    w.line("dx[(id * kH + ih) * kW + iw] = sum;");
    w.close();
    w.close();
    w.close();
    w.close();
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    const Shape x = pool_input_shape(n, 0);
    CodeWriter& k = e.kernels;
    k.line();
    k.line("// A thread per input element adds its readers' gradients in the CPU's order.");
    open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ dinp", "const float* __restrict__ dout"},
                        [&](CodeWriter& c) { write_volume_sizes(c, n, x, false); });
    k.line("const int volume = i / (kD * kH * kW), id = i / (kH * kW) % kD, ih = i / kW % kH, iw = i % kW;");
    k.line("const float* d = dout + static_cast<std::int64_t>(volume) * kOutD * kOutH * kOutW;");
    write_readers_sum(k);
    k.line("dinp[i] = sum;");
    k.close();
    e.body.line(constexpr_int("kInputs", x[1] * x[2] * x[3] * x[4], "per sample"));
    emit_count_launch(e.body, e.fn + "_kernel", "n * kInputs", {"dinp", "dout"});
  };
  ops.push_back(std::move(b));
}

}  // namespace

void register_upsample(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  register_upsample_nearest3d(ops);
  auto [f, b] = upsample_op_pair("upsample_nearest2d", "<ltrt/nearest_source.hpp>", [](const Node&) { return 0.0; },
                                 [](const Node&) { return 1.0; });
  f.moves_values = true;  // copies its input's values: bfloat16 in, bfloat16 out
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, upsample_sizes(n, g.value(n.inputs[0])));
    write_scales(w, n);
    w.open("for (int plane = 0; plane < n * kChannels; ++plane)");
    w.line("const float* x = inp + plane * kH * kW;");
    w.line("float* y = out + plane * kOutH * kOutW;");
    w.open("for (int oy = 0; oy < kOutH; ++oy)");
    w.line("for (int ox = 0; ox < kOutW; ++ox) y[oy * kOutW + ox] = x[" + source(n) + "];");
    w.close();
    w.close();
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const PoolSizes s = upsample_sizes(n, g.value(n.inputs[0]));
    CodeWriter& k = e.kernels;
    k.line();
    k.line("// A thread per output copies its input element.");
    open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ out", "const float* __restrict__ inp"},
                        [&](CodeWriter& c) {
                          write_pool_sizes(c, s, false);
                          write_scales(c, n);
                        });
    k.line("const int plane = i / (kOutH * kOutW), oy = i / kOutW % kOutH, ox = i % kOutW;");
    k.line("out[i] = inp[static_cast<std::int64_t>(plane) * kH * kW + " + source(n) + "];");
    k.close();
    e.body.line(constexpr_int("kOutputs", s.channels * s.out_h * s.out_w, "per sample"));
    emit_count_launch(e.body, e.fn + "_kernel", "n * kOutputs", {"out", "inp"});
  };
  ops.push_back(std::move(f));

  // Each input element's block (or rows and columns) of output gradients, rows then columns (CPU
  // and CUDA alike).
  const auto block_sum = [](CodeWriter& w, const Node& n) {
    w.line("float sum = 0.0f;");
    if (!whole_factors(n).empty()) {
      w.open("for (int a = 0; a < kScaleH; ++a)");
      w.line("for (int c = 0; c < kScaleW; ++c) sum += d[(iy * kScaleH + a) * kOutW + ix * kScaleW + c];");
      w.close();
      return;
    }
    w.line("const ltrt::NearestReaders rows = ltrt::nearest_readers(kScaleH, iy, kH, kOutH, kExact);");
    w.line("const ltrt::NearestReaders cols = ltrt::nearest_readers(kScaleW, ix, kW, kOutW, kExact);");
    w.open("for (int oy = rows.first; oy < rows.end; ++oy)");
    w.line("for (int ox = cols.first; ox < cols.end; ++ox) sum += d[oy * kOutW + ox];");
    w.close();
  };
  b.emit_cpu = [block_sum](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, upsample_backward_sizes(n, g));
    write_scales(w, n);
    w.open("for (int plane = 0; plane < n * kChannels; ++plane)");
    w.line("const float* d = dout + plane * kOutH * kOutW;");
    w.open("for (int iy = 0; iy < kH; ++iy)");
    w.open("for (int ix = 0; ix < kW; ++ix)");
    block_sum(w, n);
    w.line("dinp[(plane * kH + iy) * kW + ix] = sum;");
    w.close();
    w.close();
    w.close();
  };
  b.emit_cuda = [block_sum](CudaEmit& e, const Node& n, const Graph& g) {
    const PoolSizes s = upsample_backward_sizes(n, g);
    CodeWriter& k = e.kernels;
    k.line();
    k.line("// A thread per input element sums its block of output gradients in the CPU's order.");
    open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ dinp", "const float* __restrict__ dout"},
                        [&](CodeWriter& c) {
                          write_pool_sizes(c, s, false);
                          write_scales(c, n);
                        });
    k.line("const int plane = i / (kH * kW), iy = i / kW % kH, ix = i % kW;");
    k.line("const float* d = dout + static_cast<std::int64_t>(plane) * kOutH * kOutW;");
    block_sum(k, n);
    k.line("dinp[i] = sum;");
    k.close();
    e.body.line(constexpr_int("kInputs", s.channels * s.h * s.w, "per sample"));
    emit_count_launch(e.body, e.fn + "_kernel", "n * kInputs", {"dinp", "dout"});
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "Upsample";
  ArgDef size = tuple_arg("size", std::nullopt, 1, 0);
  size.optional = true;
  ArgDef scale{"scale_factor", ArgType::number_tuple, std::nullopt};  // tuple_size 0: the layer checks it
  scale.optional = true;
  scale.positive = "must be positive (a factor of the input's size)";
  ArgDef mode{"mode", ArgType::string, Attr{std::string("nearest")}};
  mode.choices = {"nearest", "linear", "bilinear", "bicubic", "trilinear", "nearest-exact"};
  ArgDef align{"align_corners", ArgType::boolean, std::nullopt};
  align.optional = true;
  ArgDef recompute{"recompute_scale_factor", ArgType::boolean, std::nullopt};
  recompute.optional = true;
  l.args = {size, scale, mode, align, recompute};
  l.build = build_upsample;
  layers.push_back(std::move(l));

  // torch's aliases: F.interpolate with their size or scale_factor, mode 'nearest', or 'bilinear'
  // with align_corners=True, on (batch, C, H, W).
  for (const bool bilinear : {false, true}) {
    LayerDef alias;
    alias.torch_type = bilinear ? "UpsamplingBilinear2d" : "UpsamplingNearest2d";
    alias.args = {size, scale};
    alias.build = [bilinear](LayerBuild& b, const std::vector<int>& in) {
      const Value& x = b.graph.value(in.at(0));
      if (x.shape.size() != 4)
        throw ShapeError("expects (batch, C, H, W) input, got " + shape_str(x.shape) + " (model.inputs are per sample)");
      b.args["mode"] = std::string(bilinear ? "bilinear" : "nearest");
      if (bilinear) b.args["align_corners"] = true;
      return build_upsample(b, in);
    };
    layers.push_back(std::move(alias));
  }
}

}  // namespace ltgen
