/// \file
/// Unfold and Fold (torch.nn): a convolution's im2col as a layer, and its inverse.
///   Unfold: (N, C, H, W) -> (N, C kh kw, L): row (c, ky, kx), column (oy, ox) of the L sliding
///           blocks, the input under that tap of that block, 0 in the padding.
///   Fold:   (N, C kh kw, L) -> (N, C, H, W) of output_size: each entry added to the pixel it
///           came from, overlapping blocks summed.
/// Each is the other's gradient, so the backward of one is a node of the other on the gradient.
/// The CPU code is the convolution's own im2col and col2im (conv.cpp). CUDA gives Unfold a thread
/// per output entry and Fold a thread per pixel, which adds its taps in the CPU's order (ky, kx):
/// the same sums bit for bit, without atomics.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "conv.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

// The geometry of the image side: (C, H, W) with the node's window (attributes channels, height,
// width, kernel_size, stride, padding, dilation); throws ShapeError when the window does not fit.
ConvGeometry fold_geometry(const Node& n) {
  ConvGeometry g{};
  g.dims = 2;
  g.in = attr_int(n, "channels");
  g.out = 1;
  g.groups = 1;
  g.h = attr_int(n, "height");
  g.w = attr_int(n, "width");
  const auto& k = attr_ints(n, "kernel_size");
  const auto& s = attr_ints(n, "stride");
  const auto& p = attr_ints(n, "padding");
  const auto& d = attr_ints(n, "dilation");
  g.kernel_h = k[0], g.kernel_w = k[1], g.stride_h = s[0], g.stride_w = s[1];
  g.pad_h = p[0], g.pad_w = p[1], g.dilation_h = d[0], g.dilation_w = d[1];
  g.out_h = window_count(g.h, p[0], p[0], k[0], s[0], d[0], "height");
  g.out_w = window_count(g.w, p[1], p[1], k[1], s[1], d[1], "width");
  return g;
}

Shape image_shape(const ConvGeometry& g, std::int64_t batch) { return {batch, g.in, g.h, g.w}; }
Shape blocks_shape(const ConvGeometry& g, std::int64_t batch) {
  return {batch, g.in * g.kernel_h * g.kernel_w, g.out_h * g.out_w};
}

// The sizes as the convolution's im2col and col2im name them.
void write_sizes(CodeWriter& w, const ConvGeometry& g) {
  w.line("constexpr int kIn = " + std::to_string(g.in) + ", kH = " + std::to_string(g.h) + ", kW = " + std::to_string(g.w) +
         ";  // the image: channels, height, width");
  w.line("constexpr int kKernelH = " + std::to_string(g.kernel_h) + ", kKernelW = " + std::to_string(g.kernel_w) + ";");
  w.line("constexpr int kStrideH = " + std::to_string(g.stride_h) + ", kStrideW = " + std::to_string(g.stride_w) + ";");
  w.line("constexpr int kPadH = " + std::to_string(g.pad_h) + ", kPadW = " + std::to_string(g.pad_w) +
         ";  // zeros around the image");
  w.line("constexpr int kDilationH = " + std::to_string(g.dilation_h) + ", kDilationW = " + std::to_string(g.dilation_w) + ";");
  w.line("constexpr int kOutH = " + std::to_string(g.out_h) + ", kOutW = " + std::to_string(g.out_w) +
         ", kPixels = kOutH * kOutW;  // the blocks: L = kPixels");
}

// The other op on the gradient: Unfold's backward is a Fold, Fold's an Unfold.
decltype(OpDef::backward) mirrored(const std::string& other) {
  return [other](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;
    b.op = other;
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
}

OpDef unfold_op() {
  OpDef f;
  f.name = "unfold";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const ConvGeometry geo = fold_geometry(n);
    if (x.shape != image_shape(geo, x.shape.at(0)))
      throw ShapeError("expects " + shape_str(image_shape(geo, x.shape[0])) + ", got " + shape_str(x.shape));
    return std::vector<OutputType>{{DType::f32, blocks_shape(geo, x.shape[0]), true}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    const ConvGeometry geo = fold_geometry(n);
    return Cost{0, e * 4 + 4 * e * static_cast<double>(geo.kernel_h * geo.kernel_w)};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    write_sizes(w, fold_geometry(n));
    w.open("for (int i = 0; i < n; ++i)");
    w.line("const float* x = inp + static_cast<std::int64_t>(i) * kIn * kH * kW;");
    w.line("float* blocks = out + static_cast<std::int64_t>(i) * kIn * kKernelH * kKernelW * kPixels;");
    write_im2col(w, fold_geometry(n), "x", "blocks");
    w.close();
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    const ConvGeometry geo = fold_geometry(n);
    e.body.line("constexpr int kNumel = " + std::to_string(numel(blocks_shape(geo, 1))) + ";  // per sample, out");
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ out", "out"}, {"const float* __restrict__ inp", "inp"}},
                            "n * kNumel",
                            {"const int p = i % kPixels, oy = p / kOutW, ox = p % kOutW;",
                             "const int row = i / kPixels % (kIn * kKernelH * kKernelW), sample = i / (kPixels * kIn * kKernelH * kKernelW);",
                             "const int c = row / (kKernelH * kKernelW), ky = row / kKernelW % kKernelH, kx = row % kKernelW;",
                             "const int iy = oy * kStrideH - kPadH + ky * kDilationH, ix = ox * kStrideW - kPadW + kx * kDilationW;",
                             "out[i] = iy < 0 || iy >= kH || ix < 0 || ix >= kW ? 0.0f",
                             "         : inp[((static_cast<std::int64_t>(sample) * kIn + c) * kH + iy) * kW + ix];"},
                            [&](CodeWriter& k) { write_sizes(k, geo); });
  };
  f.backward = mirrored("fold");
  return f;
}

OpDef fold_op() {
  OpDef f;
  f.name = "fold";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const ConvGeometry geo = fold_geometry(n);
    if (x.shape != blocks_shape(geo, x.shape.at(0)))
      throw ShapeError("expects " + shape_str(blocks_shape(geo, x.shape[0])) + ", got " + shape_str(x.shape));
    return std::vector<OutputType>{{DType::f32, image_shape(geo, x.shape[0]), true}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e, e * 8};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    write_sizes(w, fold_geometry(n));
    w.open("for (int i = 0; i < n; ++i)");
    w.line("const float* blocks = inp + static_cast<std::int64_t>(i) * kIn * kKernelH * kKernelW * kPixels;");
    w.line("float* y = out + static_cast<std::int64_t>(i) * kIn * kH * kW;");
    w.line("std::fill(y, y + kIn * kH * kW, 0.0f);");
    write_col2im(w, fold_geometry(n), "y", "blocks");
    w.close();
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    const ConvGeometry geo = fold_geometry(n);
    e.body.line("constexpr int kNumel = " + std::to_string(numel(image_shape(geo, 1))) + ";  // per sample, out");
    emit_elementwise_kernel(
        e, e.fn + "_kernel", {{"float* __restrict__ out", "out"}, {"const float* __restrict__ inp", "inp"}}, "n * kNumel",
        {"const int x = i % kW, y = i / kW % kH, c = i / (kW * kH) % kIn, sample = i / (kW * kH * kIn);",
         "const float* blocks = inp + static_cast<std::int64_t>(sample) * kIn * kKernelH * kKernelW * kPixels;",
         "float sum = 0.0f;  // the taps that read (y, x), in the CPU's order",
         "for (int ky = 0; ky < kKernelH; ++ky) {",
         "  const int ty = y + kPadH - ky * kDilationH;  // oy * kStrideH",
         "  if (ty < 0 || ty % kStrideH != 0 || ty / kStrideH >= kOutH) continue;",
         "  for (int kx = 0; kx < kKernelW; ++kx) {",
         "    const int tx = x + kPadW - kx * kDilationW;",
         "    if (tx < 0 || tx % kStrideW != 0 || tx / kStrideW >= kOutW) continue;",
         "    sum += blocks[((c * kKernelH + ky) * kKernelW + kx) * kPixels + ty / kStrideH * kOutW + tx / kStrideW];",
         "  }",
         "}",
         "out[i] = sum;"},
        [&](CodeWriter& k) { write_sizes(k, geo); });
  };
  f.backward = mirrored("unfold");
  return f;
}

// The window arguments both layers take.
std::vector<ArgDef> window_args() {
  return {tuple_arg("kernel_size", std::nullopt, 1, 2), tuple_arg("dilation", Attr{std::int64_t{1}}, 1, 2),
          tuple_arg("padding", Attr{std::int64_t{0}}, 0, 2), tuple_arg("stride", Attr{std::int64_t{1}}, 1, 2)};
}

void set_window(Node& n, const Attrs& args) {
  for (const char* key : {"kernel_size", "dilation", "padding", "stride"}) n.attrs[key] = expand_tuple(args.at(key), 2);
}

}  // namespace

void register_fold(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  ops.push_back(unfold_op());
  ops.push_back(fold_op());

  LayerDef unfold;
  unfold.torch_type = "Unfold";
  unfold.args = window_args();
  unfold.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() != 4)
      throw ShapeError("expects (batch, C, H, W) input, got " + shape_str(x.shape) + " (torch's Unfold takes 4-d input)");
    Node n;
    n.op = "unfold";
    n.layer = b.layer;
    n.source = b.source;
    set_window(n, b.args);
    n.attrs["channels"] = x.shape[1];
    n.attrs["height"] = x.shape[2];
    n.attrs["width"] = x.shape[3];
    n.inputs = {in[0]};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(unfold));

  LayerDef fold;
  fold.torch_type = "Fold";
  fold.args = window_args();
  fold.args.insert(fold.args.begin(), tuple_arg("output_size", std::nullopt, 1, 2));
  fold.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const auto kernel = expand_tuple(b.args.at("kernel_size"), 2);
    if (x.shape.size() != 3 || x.shape[1] % (kernel[0] * kernel[1]) != 0)
      throw ShapeError("expects (batch, C * " + std::to_string(kernel[0] * kernel[1]) +
                       ", L) input (a multiple of the kernel's taps in its second dimension), got " + shape_str(x.shape));
    const auto size = expand_tuple(b.args.at("output_size"), 2);
    Node n;
    n.op = "fold";
    n.layer = b.layer;
    n.source = b.source;
    set_window(n, b.args);
    n.attrs["channels"] = x.shape[1] / (kernel[0] * kernel[1]);
    n.attrs["height"] = size[0];
    n.attrs["width"] = size[1];
    const ConvGeometry geo = fold_geometry(n);
    if (x.shape[2] != geo.out_h * geo.out_w)
      throw ShapeError("has " + std::to_string(x.shape[2]) + " blocks, but output_size " + shape_str(size) +
                       " with this window gives " + std::to_string(geo.out_h) + " x " + std::to_string(geo.out_w) +
                       " = " + std::to_string(geo.out_h * geo.out_w) + " (torch refuses that too)");
    n.inputs = {in[0]};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(fold));
}

}  // namespace ltgen
