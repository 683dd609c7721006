/// \file
/// Conv2d, Conv1d and Conv3d (torch.nn): out[o] = bias[o] + sum over the input channels
/// of o's group and the kernel taps of weight[o, c, ky, kx] * inp[c, y, x],
/// zero padding. weight (out, in / groups, kh, kw) as torch (Conv1d: (out, in /
/// groups, k)); Conv1d is lowered as a Conv2d of height 1, and Conv3d adds a depth
/// (kd, z) before the height to every loop and index, where the others have none. On the CPU, large layers
/// copy each sample's patches into a scratch buffer (im2col) and call sgemm; small
/// ones run direct loops. The scratch buffer is an output of the op, so the memory
/// plan places it like any activation. On CUDA, forward, input gradient and weight
/// gradient are each one implicit GEMM over the whole batch (ltrt/cuda/tiled_gemm.cuh)
/// that reads the patches from the input as it goes, and the weight gradient's sum over
/// the batch may be split into chunks whose partial sums have a scratch output of their
/// own on the backward node (unused on the CPU).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "conv.hpp"

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "../init_program.hpp"
#include "elementwise.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

// Below this many multiply-adds per sample, direct loops beat im2col + sgemm.
constexpr std::int64_t kIm2colMinMacs = 8192;

}  // namespace

ConvGeometry conv_geometry(const Node& n, const Value& x) {
  ConvGeometry g{};
  g.dims = static_cast<int>(attr_int(n, "dims"));
  require_spatial_input(x, g.dims);
  g.in = attr_int(n, "in_channels");
  g.out = attr_int(n, "out_channels");
  g.groups = attr_int(n, "groups");
  if (x.shape[1] != g.in)
    throw ShapeError("expects " + std::to_string(g.in) + " input channels, got input " + shape_str(x.shape));
  const auto& k = attr_ints(n, "kernel_size");
  const auto& s = attr_ints(n, "stride");
  const auto& p = attr_ints(n, "padding");
  const auto& pe = attr_ints(n, "padding_end");
  const auto& d = attr_ints(n, "dilation");
  // Index 0 is the height, 1 the width (the length of a Conv1d); Conv3d's depth comes first.
  const size_t a = g.deep() ? 1 : 0;
  if (g.deep()) {
    g.d = x.shape[2];
    g.kernel_d = k[0], g.stride_d = s[0], g.pad_d = p[0], g.dilation_d = d[0];
    g.out_d = window_count(g.d, p[0], pe[0], k[0], s[0], d[0], "depth");
  }
  g.h = g.dims == 1 ? 1 : x.shape[x.shape.size() - 2];
  g.w = x.shape.back();
  g.kernel_h = k[a], g.kernel_w = k[a + 1], g.stride_h = s[a], g.stride_w = s[a + 1];
  g.pad_h = p[a], g.pad_w = p[a + 1], g.dilation_h = d[a], g.dilation_w = d[a + 1];
  g.out_h = window_count(g.h, p[a], pe[a], k[a], s[a], d[a], "height");
  g.out_w = window_count(g.w, p[a + 1], pe[a + 1], k[a + 1], s[a + 1], d[a + 1], g.dims == 1 ? "length" : "width");
  return g;
}

namespace {

Shape out_shape(const ConvGeometry& g, std::int64_t batch) {
  if (g.dims == 1) return {batch, g.out, g.out_w};
  if (g.deep()) return {batch, g.out, g.out_d, g.out_h, g.out_w};
  return {batch, g.out, g.out_h, g.out_w};
}

// A block's tile, chosen by the rows of each group's result: 16 x 256, 32 x 128 or 64 x 64 (all
// kGemmThreads threads of 4 x 4 sums), the smallest that holds the rows.
struct GemmTile {
  int rows, cols;
};
GemmTile gemm_tile(std::int64_t rows) {
  if (rows <= 16) return {16, 256};
  if (rows <= 32) return {32, 128};
  return {64, 64};
}

// dweight's depth (the batch's output pixels) is cut into chunks summed by separate blocks when
// its tiles alone would leave an H100's 132 SMs idle: enough chunks for kSplitBlocks blocks, each
// at least kMinSplitDepth deep. The chunks' partial sums go to the backward node's own `partials`
// scratch, (splits, out, cols); a second kernel adds them in order. The block count bounds its
// size: splits > 1 only when tiles < kSplitBlocks, and then splits * tiles < 2 * kSplitBlocks
// tiles of at most kGemmThreads x 16 floats, so under 528 x 16 KiB = 8.25 MiB; the memory plan
// frees it after the node.
constexpr std::int64_t kSplitBlocks = 264;  // two blocks an SM
constexpr std::int64_t kMinSplitDepth = 64;  // four of the skeleton's depth steps: a block still reads
                                             // (rows + cols) x 64 >= twice the rows x cols it writes
std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace

std::int64_t conv_dweight_splits(const ConvGeometry& g, std::int64_t batch, bool bias) {
  const GemmTile t = gemm_tile(g.out_per_group());
  const std::int64_t tiles = ceil_div(g.out_per_group(), t.rows) * ceil_div(conv_dweight_cols(g, bias), t.cols) * g.groups;
  const std::int64_t splits = std::min(ceil_div(kSplitBlocks, tiles), batch * g.pixels() / kMinSplitDepth);
  return std::max<std::int64_t>(1, splits);
}

Shape conv_weight_shape(const ConvGeometry& g) {
  if (g.dims == 1) return {g.out, g.in_per_group(), g.kernel_w};
  if (g.deep()) return {g.out, g.in_per_group(), g.kernel_d, g.kernel_h, g.kernel_w};
  return {g.out, g.in_per_group(), g.kernel_h, g.kernel_w};
}

std::int64_t conv_dweight_cols(const ConvGeometry& g, bool bias) { return g.patch() + (bias ? 1 : 0); }

Shape conv_columns_shape(const ConvGeometry& g) { return {g.in * g.taps(), g.pixels()}; }

// Below this many multiply-adds a GEMM splits into few parts, if any (ltrt::sgemm_ld: a part
// has at least 2^20), so that splitting the samples does better.
constexpr std::int64_t kSplitGemmMacs = std::int64_t{1} << 24;
// The most bytes the per-sample im2col slots may take.
constexpr std::int64_t kSlotBytes = std::int64_t{64} << 20;

bool conv_split_samples(const ConvGeometry& g, std::int64_t batch) {
  return g.macs_per_sample() < kSplitGemmMacs && batch * numel(conv_columns_shape(g)) * 4 <= kSlotBytes;
}

OutputType conv_columns_type(const ConvGeometry& g, std::int64_t batch, bool split) {
  const Shape one = conv_columns_shape(g);
  if (!split || !conv_split_samples(g, batch)) return {DType::f32, one, false};
  return {DType::f32, {batch, one[0], one[1]}, true};
}

namespace {

// The layer's sizes as `decl` ("constexpr int ", or a struct's static ones): channels, then per
// dimension (the depth for Conv3d only, the height, the width) sizes, kernel (`taps` after it),
// stride, padding and dilation.
void write_geometry(CodeWriter& w, const ConvGeometry& g, const std::string& decl, const std::string& taps) {
  auto i = [](std::int64_t v) { return std::to_string(v); };
  auto dims = [&](const std::string& name, std::int64_t d, std::int64_t h, std::int64_t wide) {
    return (g.deep() ? name + "D = " + i(d) + ", " : std::string()) + name + "H = " + i(h) + ", " + name + "W = " + i(wide);
  };
  const std::string extent = g.deep() ? "depth, height, width" : "height, width";
  w.line(decl + "kIn = " + i(g.in) + ", " + dims("k", g.d, g.h, g.w) + ";  // input channels, " + extent);
  w.line(decl + "kOut = " + i(g.out) + ", " + dims("kOut", g.out_d, g.out_h, g.out_w) + ";  // output channels, " + extent);
  w.line(decl + dims("kKernel", g.kernel_d, g.kernel_h, g.kernel_w) + taps + ";");
  w.line(decl + dims("kStride", g.stride_d, g.stride_h, g.stride_w) + ";");
  w.line(decl + dims("kPad", g.pad_d, g.pad_h, g.pad_w) + ";  // zeros before the first " +
         (g.deep() ? "slice, row" : "row") + " and column");
  w.line(decl + dims("kDilation", g.dilation_d, g.dilation_h, g.dilation_w) + ";");
  w.line(decl + "kGroups = " + i(g.groups) + ", kInPerGroup = kIn / kGroups, kOutPerGroup = kOut / kGroups;");
}

}  // namespace

void write_conv_sizes(CodeWriter& w, const ConvGeometry& g) {
  if (g.dims == 1) w.line("// Conv1d as a Conv2d of height 1: kH = kKernelH = 1.");
  write_geometry(w, g, "constexpr int ", "");
  w.line(std::string("constexpr int kPatch = kInPerGroup * ") + (g.deep() ? "kKernelD * " : "") +
         "kKernelH * kKernelW;  // weights per output channel");
  w.line(std::string("constexpr int kPixels = ") + (g.deep() ? "kOutD * " : "") + "kOutH * kOutW;  // outputs per channel");
}

std::string conv_input_size(const ConvGeometry& g) { return g.deep() ? "kIn * kD * kH * kW" : "kIn * kH * kW"; }

namespace {

// The sizes, then which of the two ways the CPU code takes.
void write_sizes(CodeWriter& w, const ConvGeometry& g, bool im2col) {
  write_conv_sizes(w, g);
  w.line(std::string("constexpr bool kUseIm2col = ") + (im2col ? "true" : "false") +
         ";  // TUNE: im2col + sgemm (true) or direct loops (false)");
}

// Inside tap kx's loops: output columns ox in [lo, hi) read input column
// ix = ox * kStrideW + shift inside [0, kW); the others read padding. Splitting the row so
// leaves the copy loops without a test per element, so that they vectorise.
void write_column_range(CodeWriter& w) {
  w.line("const int shift = kx * kDilationW - kPadW;  // input column of output column 0");
  w.line("const int lo = shift >= 0 ? 0 : std::min(kOutW, (-shift + kStrideW - 1) / kStrideW);");
  w.line("const int limit = kW - shift;  // ix < kW  <=>  ox * kStrideW < limit");
  w.line("const int hi = std::max(lo, limit <= 0 ? 0 : std::min(kOutW, (limit + kStrideW - 1) / kStrideW));");
}

}  // namespace

void write_im2col(CodeWriter& w, const ConvGeometry& g, const std::string& x, const std::string& columns) {
  const bool deep = g.deep();
  w.line("// " + columns + (deep ? "[(c, kz, ky, kx)][(oz, oy, ox)]: the input under tap (kz, ky, kx) of output (oz, oy, ox)"
                                 : "[(c, ky, kx)][(oy, ox)]: the input under tap (ky, kx) of output (oy, ox)") +
         ", 0 in the padding");
  w.open("for (int c = 0; c < kIn; ++c)");
  if (deep) w.open("for (int kz = 0; kz < kKernelD; ++kz)");
  w.open("for (int ky = 0; ky < kKernelH; ++ky)");
  w.open("for (int kx = 0; kx < kKernelW; ++kx)");
  w.line(deep ? "float* row = " + columns + " + (((c * kKernelD + kz) * kKernelH + ky) * kKernelW + kx) * kPixels;"
              : "float* row = " + columns + " + ((c * kKernelH + ky) * kKernelW + kx) * kPixels;");
  write_column_range(w);
  if (deep) {
    w.open("for (int oz = 0; oz < kOutD; ++oz)");
    w.line("float* slice = row + oz * kOutH * kOutW;");
    w.line("const int iz = oz * kStrideD - kPadD + kz * kDilationD;");
    w.open("if (iz < 0 || iz >= kD)");
    w.line("std::fill(slice, slice + kOutH * kOutW, 0.0f);");
    w.line("continue;");
    w.close();
  }
  w.open("for (int oy = 0; oy < kOutH; ++oy)");
  w.line(deep ? "float* dst = slice + oy * kOutW;" : "float* dst = row + oy * kOutW;");
  w.line("const int iy = oy * kStrideH - kPadH + ky * kDilationH;");
  w.open("if (iy < 0 || iy >= kH)");
  w.line("std::fill(dst, dst + kOutW, 0.0f);");
  w.line("continue;");
  w.close();
  w.line(deep ? "const float* src = " + x + " + ((c * kD + iz) * kH + iy) * kW;"
              : "const float* src = " + x + " + (c * kH + iy) * kW;");
  w.line("std::fill(dst, dst + lo, 0.0f);");
  w.line("for (int ox = lo; ox < hi; ++ox) dst[ox] = src[ox * kStrideW + shift];");
  w.line("std::fill(dst + hi, dst + kOutW, 0.0f);");
  w.close();
  if (deep) w.close();
  w.close();
  w.close();
  if (deep) w.close();
  w.close();
}

void write_col2im(CodeWriter& w, const ConvGeometry& g, const std::string& dx, const std::string& columns) {
  const bool deep = g.deep();
  w.open("for (int c = 0; c < kIn; ++c)");
  if (deep) w.open("for (int kz = 0; kz < kKernelD; ++kz)");
  w.open("for (int ky = 0; ky < kKernelH; ++ky)");
  w.open("for (int kx = 0; kx < kKernelW; ++kx)");
  w.line(deep ? "const float* row = " + columns + " + (((c * kKernelD + kz) * kKernelH + ky) * kKernelW + kx) * kPixels;"
              : "const float* row = " + columns + " + ((c * kKernelH + ky) * kKernelW + kx) * kPixels;");
  write_column_range(w);
  if (deep) {
    w.open("for (int oz = 0; oz < kOutD; ++oz)");
    w.line("const int iz = oz * kStrideD - kPadD + kz * kDilationD;");
    w.line("if (iz < 0 || iz >= kD) continue;");
  }
  w.open("for (int oy = 0; oy < kOutH; ++oy)");
  w.line("const int iy = oy * kStrideH - kPadH + ky * kDilationH;");
  w.line("if (iy < 0 || iy >= kH) continue;");
  w.line(deep ? "float* drow = " + dx + " + ((c * kD + iz) * kH + iy) * kW;" : "float* drow = " + dx + " + (c * kH + iy) * kW;");
  w.line(deep ? "const float* src = row + (oz * kOutH + oy) * kOutW;" : "const float* src = row + oy * kOutW;");
  w.line("for (int ox = lo; ox < hi; ++ox) drow[ox * kStrideW + shift] += src[ox];");
  w.close();
  if (deep) w.close();
  w.close();
  w.close();
  if (deep) w.close();
  w.close();
}

namespace {

// The direct loops' walk over the taps of output (o, [oz,] oy, ox) that fall inside the input:
// opens a block per loop (c, [kz,] ky, kx) and defines `at` (input index) and `tap` (weight index).
// Returns the blocks opened.
int open_taps(CodeWriter& w, const ConvGeometry& g) {
  w.open("for (int c = 0; c < kInPerGroup; ++c)");
  if (g.deep()) {
    w.open("for (int kz = 0; kz < kKernelD; ++kz)");
    w.line("const int iz = oz * kStrideD - kPadD + kz * kDilationD;");
    w.line("if (iz < 0 || iz >= kD) continue;  // zero padding");
  }
  w.open("for (int ky = 0; ky < kKernelH; ++ky)");
  w.line("const int iy = oy * kStrideH - kPadH + ky * kDilationH;");
  w.line("if (iy < 0 || iy >= kH) continue;  // zero padding");
  w.open("for (int kx = 0; kx < kKernelW; ++kx)");
  w.line("const int ix = ox * kStrideW - kPadW + kx * kDilationW;");
  w.line("if (ix < 0 || ix >= kW) continue;");
  if (g.deep()) {
    w.line("const int at = (((i * kIn + g * kInPerGroup + c) * kD + iz) * kH + iy) * kW + ix;");
    w.line("const int tap = (((o * kInPerGroup + c) * kKernelD + kz) * kKernelH + ky) * kKernelW + kx;");
    return 4;
  }
  w.line("const int at = ((i * kIn + g * kInPerGroup + c) * kH + iy) * kW + ix;");
  w.line("const int tap = ((o * kInPerGroup + c) * kKernelH + ky) * kKernelW + kx;");
  return 3;
}

// The loops over every output (i, o, [oz,] oy, ox); returns the blocks opened.
int open_outputs(CodeWriter& w, const ConvGeometry& g) {
  w.open("for (int i = 0; i < n; ++i)");
  w.open("for (int o = 0; o < kOut; ++o)");
  w.line("const int g = o / kOutPerGroup;  // reads input channels g * kInPerGroup ...");
  if (g.deep()) w.open("for (int oz = 0; oz < kOutD; ++oz)");
  w.open("for (int oy = 0; oy < kOutH; ++oy)");
  w.open("for (int ox = 0; ox < kOutW; ++ox)");
  return g.deep() ? 5 : 4;
}

// The index of output (i, o, [oz,] oy, ox).
std::string output_index(const ConvGeometry& g) {
  return g.deep() ? "(((i * kOut + o) * kOutD + oz) * kOutH + oy) * kOutW + ox" : "((i * kOut + o) * kOutH + oy) * kOutW + ox";
}

void close_blocks(CodeWriter& w, int blocks) {
  for (int b = 0; b < blocks; ++b) w.close();
}

// The floats of one sample's im2col slot.
std::string columns_size(const ConvGeometry& g) {
  return g.deep() ? "kIn * kKernelD * kKernelH * kKernelW * kPixels" : "kIn * kKernelH * kKernelW * kPixels";
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& gr) {
  const ConvGeometry g = conv_geometry(n, gr.value(n.inputs[0]));
  const bool bias = attr_bool(n, "bias");
  write_sizes(w, g, attr_bool(n, "im2col"));
  epilogue_constants(w, n);
  w.open("if constexpr (kUseIm2col)");
  const bool split = conv_split_samples(g, gr.value(n.inputs[0]).shape[0]);
  const std::string cols = split ? "part_columns" : "columns";
  if (split) {
    w.line("// The samples split among the step's threads; a part's im2col uses its first sample's slot.");
    open_split(w, "n", g.macs_per_sample(), SplitIndex::rows);
    w.line("float* const part_columns = columns + begin * " + columns_size(g) + ";");
    w.open("for (int i = begin; i < end; ++i)");
  } else {
    w.open("for (int i = 0; i < n; ++i)");
  }
  w.line("const float* x = inp + i * " + conv_input_size(g) + ";");
  w.line("float* y = out + i * kOut * kPixels;");
  write_im2col(w, g, "x", cols);
  if (bias) w.line("for (int o = 0; o < kOut; ++o) std::fill(y + o * kPixels, y + (o + 1) * kPixels, bias[o]);");
  w.open("for (int g = 0; g < kGroups; ++g)");
  w.line("ltrt::sgemm(false, false, kOutPerGroup, kPixels, kPatch, weight + g * kOutPerGroup * kPatch,");
  w.line("            " + cols + " + g * kPatch * kPixels, " + (bias ? "1.0f" : "0.0f") +
         ", y + g * kOutPerGroup * kPixels);  // " + (bias ? "y_g += " : "y_g = ") + "weight_g @ columns_g");
  w.close();
  if (!n.epilogue.empty())
    w.line("for (int p = 0; p < kOut * kPixels; ++p) y[p] = " + apply_epilogue(n, "y[p]") + ";");
  w.close();
  if (split) close_split(w);
  w.reopen("else");
  const int outputs = open_outputs(w, g);
  w.line(bias ? "float acc = bias[o];" : "float acc = 0.0f;");
  const int taps = open_taps(w, g);
  w.line("acc += inp[at] * weight[tap];");
  close_blocks(w, taps);
  w.line("out[" + output_index(g) + "] = " + apply_epilogue(n, "acc") + ";");
  close_blocks(w, outputs);
  w.close();
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& gr) {
  const ConvGeometry g = conv_geometry(n, gr.value(n.inputs[1]));
  const bool bias = attr_bool(n, "bias");
  const bool need_dinp = attr_bool(n, "need_dinp");
  write_sizes(w, g, attr_bool(n, "im2col"));
  if (attr_int(n, "dweight_splits") > 1)
    w.line("static_cast<void>(partials);  // CUDA's partial sums of dweight: here the sums go straight to it");
  w.line("if (!accumulate) std::fill(dweight, dweight + kOut * kPatch, 0.0f);");
  w.open("if constexpr (kUseIm2col)");
  // Where the samples split among the threads, dweight's sum over them stays one loop in sample
  // order, and the input's gradient (each sample's own) is split after it.
  const bool split = conv_split_samples(g, gr.value(n.inputs[1]).shape[0]) && need_dinp;
  w.open("for (int i = 0; i < n; ++i)");
  w.line("const float* x = inp + i * " + conv_input_size(g) + ";");
  w.line("const float* dy = dout + i * kOut * kPixels;");
  write_im2col(w, g, "x");
  w.open("for (int g = 0; g < kGroups; ++g)");
  w.line("ltrt::sgemm(false, true, kOutPerGroup, kPatch, kPixels, dy + g * kOutPerGroup * kPixels,");
  w.line("            columns + g * kPatch * kPixels, 1.0f, dweight + g * kOutPerGroup * kPatch);"
         "  // dweight_g += dy_g @ columns_g^T");
  w.close();
  auto write_dinp = [&](const std::string& cols) {
    w.line("// The patches' gradients, reusing " + cols + ", then added back to the pixels they came from (col2im).");
    w.open("for (int g = 0; g < kGroups; ++g)");
    w.line("ltrt::sgemm(true, false, kPatch, kPixels, kOutPerGroup, weight + g * kOutPerGroup * kPatch,");
    w.line("            dy + g * kOutPerGroup * kPixels, 0.0f, " + cols + " + g * kPatch * kPixels);"
           "  // weight_g^T @ dy_g");
    w.close();
    w.line("float* dx = dinp + i * " + conv_input_size(g) + ";");
    w.line("std::fill(dx, dx + " + conv_input_size(g) + ", 0.0f);");
    write_col2im(w, g, "dx", cols);
  };
  if (need_dinp && !split) write_dinp("columns");
  w.close();
  if (split) {
    w.line("// The samples split among the step's threads; a part's patches use its first sample's slot.");
    open_split(w, "n", g.macs_per_sample(), SplitIndex::rows);
    w.line("float* const part_columns = columns + begin * " + columns_size(g) + ";");
    w.open("for (int i = begin; i < end; ++i)");
    w.line("const float* dy = dout + i * kOut * kPixels;");
    write_dinp("part_columns");
    w.close();
    close_split(w);
  }
  w.reopen("else");
  if (need_dinp) w.line("std::fill(dinp, dinp + n * " + conv_input_size(g) + ", 0.0f);");
  const int outputs = open_outputs(w, g);
  w.line("const float d = dout[" + output_index(g) + "];");
  const int taps = open_taps(w, g);
  w.line("dweight[tap] += d * inp[at];");
  if (need_dinp) w.line("dinp[at] += d * weight[tap];");
  close_blocks(w, taps + outputs);
  w.close();
  if (bias) {
    w.line("if (!accumulate) std::fill(dbias, dbias + kOut, 0.0f);");
    w.line("// Each part sums its own channels over the samples and pixels, in order.");
    open_split(w, "kOut", gr.value(n.inputs[0]).shape[0] * g.pixels(), SplitIndex::rows);
    w.open("for (int i = 0; i < n; ++i)");
    w.open("for (int o = begin; o < end; ++o)");
    w.line("for (int p = 0; p < kPixels; ++p) dbias[o] += dout[(i * kOut + o) * kPixels + p];");
    w.close();
    w.close();
    close_split(w);
  }
}

// CUDA: each direction is one launch of ltrt::cuda::tiled_gemm (ltrt/cuda/tiled_gemm.cuh) over
// the whole batch and every group (a block per tile of each group's result), instantiated with a
// struct that holds the layer's sizes and says how to read A and B and where each sum goes (an
// implicit GEMM: the patches are read straight from the input with im2col's index arithmetic,
// never stored):
//   forward   out[s, o, p]   = weight[o, k] @ patch(s, p, k)          rows o, columns (s, p), depth k
//   dinp      dx[s, c, y, x] = weight[o, c, tap] @ dy at the outputs that read (y, x)
//                                                                     rows c, columns (s, y, x), depth (o, tap)
//   dweight   dw[o, k]       = dy[s, o, p] @ patch(s, p, k), dbias[o] as a column of ones
//                                                                     rows o, columns k, depth (s, p)
// The memory plan's `columns` scratch (the CPU's im2col) is unused; dweight's sum over the batch
// may be split into chunks held in the backward node's `partials` until a second kernel adds them
// in order (see dweight_splits).
// The skeleton is a runtime template, not emitted per layer: the generated code then shows only
// what differs between convolutions (sizes and index arithmetic), and the tiling is written once.

// The layer's sizes as static members of a GEMM struct.
void write_struct_sizes(CodeWriter& w, const ConvGeometry& g) {
  if (g.dims == 1) w.line("// Conv1d as a Conv2d of height 1: kH = kKernelH = 1.");
  write_geometry(w, g, "static constexpr int ",
                 std::string(", kTaps = ") + (g.deep() ? "kKernelD * " : "") + "kKernelH * kKernelW");
  w.line(std::string("static constexpr int kPixels = ") + (g.deep() ? "kOutD * " : "") +
         "kOutH * kOutW;        // outputs per channel");
  w.line("static constexpr int kPatch = kInPerGroup * kTaps;  // weights per output channel");
}

// The skeleton's constants: rows of a GEMM's result, the independent GEMMs, depth splits, and the tile.
void write_struct_shape(CodeWriter& w, const std::string& rows, const std::string& gemms, std::int64_t splits,
                        const GemmTile& t, const std::string& why_splits) {
  w.line("static constexpr int kGemms = " + gemms + ";  // independent GEMMs");
  if (!why_splits.empty()) w.line("// " + why_splits);
  w.line("static constexpr int kRows = " + rows + ", kSplits = " + std::to_string(splits) + ";");
  w.line("static constexpr int kTileRows = " + std::to_string(t.rows) + ", kTileCols = " + std::to_string(t.cols) +
         ";  // TUNE: 16 x 256, 32 x 128 or 64 x 64");
}

// patch(g, k, q): im2col's element, the input under tap k = (c, [kz,] ky, kx) of output pixel
// q = (s, [oz,] oy, ox) in group g, 0 in the padding.
void write_patch(CodeWriter& w, const ConvGeometry& g, const std::string& source) {
  if (g.deep()) {
    w.line("// im2col's element: the input under tap k = (c, kz, ky, kx) of output pixel q = (s, oz, oy, ox), 0 in the");
    w.line("// padding.");
    w.open("__device__ float patch(int g, int k, int q) const");
    w.line("const int c = k / kTaps, kz = k / (kKernelH * kKernelW) % kKernelD, ky = k / kKernelW % kKernelH,");
    w.line("          kx = k % kKernelW;");
    w.line("const int s = q / kPixels, oz = q / (kOutH * kOutW) % kOutD, oy = q / kOutW % kOutH, ox = q % kOutW;");
    w.line("const int iz = oz * kStrideD - kPadD + kz * kDilationD, iy = oy * kStrideH - kPadH + ky * kDilationH,");
    w.line("          ix = ox * kStrideW - kPadW + kx * kDilationW;");
    w.line("if (iz < 0 || iz >= kD || iy < 0 || iy >= kH || ix < 0 || ix >= kW) return 0.0f;");
    w.line("return " + source + "[(((s * kIn + g * kInPerGroup + c) * kD + iz) * kH + iy) * kW + ix];");
    w.close();
    return;
  }
  w.line("// im2col's element: the input under tap k = (c, ky, kx) of output pixel q = (s, oy, ox), 0 in the padding.");
  w.open("__device__ float patch(int g, int k, int q) const");
  w.line("const int c = k / kTaps, ky = k / kKernelW % kKernelH, kx = k % kKernelW;");
  w.line("const int s = q / kPixels, oy = q / kOutW % kOutH, ox = q % kOutW;");
  w.line("const int iy = oy * kStrideH - kPadH + ky * kDilationH, ix = ox * kStrideW - kPadW + kx * kDilationW;");
  w.line("if (iy < 0 || iy >= kH || ix < 0 || ix >= kW) return 0.0f;");
  w.line("return " + source + "[((s * kIn + g * kInPerGroup + c) * kH + iy) * kW + ix];");
  w.close();
}

// The batch's sample count, and the GEMM's columns and depth in terms of it (every group's GEMM as
// deep; an empty `depth`: the caller writes depth(int gemm)).
void write_extent(CodeWriter& w, const std::string& cols, const std::string& depth) {
  w.line("int n;  // samples in this batch");
  w.line();
  w.line("__host__ __device__ int cols() const { return " + cols + "; }");
  if (!depth.empty()) w.line("__device__ int depth(int /*gemm*/) const { return " + depth + "; }");
}

// Opens `struct type`: the layer's sizes, the GEMM's own `constants` (a line each, which `gemms`
// may use), the skeleton's constants (rows of a group's result, depth splits and why, the tile for
// those rows), `members` (a line each), then the batch's sample count and the GEMM's columns and
// depth in terms of it.
void open_gemm_struct(CodeWriter& w, const std::string& type, const ConvGeometry& g,
                      const std::vector<std::string>& constants, const std::string& rows, std::int64_t rows_value,
                      const std::string& gemms, std::int64_t splits, const std::string& why_splits,
                      const std::vector<std::string>& members, const std::string& cols, const std::string& depth) {
  w.open("struct " + type);
  write_struct_sizes(w, g);
  for (const std::string& c : constants) w.line(c);
  write_struct_shape(w, rows, gemms, splits, gemm_tile(rows_value), why_splits);
  for (const std::string& m : members) w.line(m);
  write_extent(w, cols, depth);
}

}  // namespace

void write_conv_gemm_launch(CodeWriter& w, const std::string& type, const std::string& var, const std::string& fields) {
  w.line("const " + type + " " + var + "{" + fields + "};");
  emit_launch(w, "ltrt::cuda::tiled_gemm<" + type + ">", "ltrt::cuda::tiled_gemm_grid(" + var + ")",
              "ltrt::cuda::kGemmThreads", {var});
}

void write_conv_forward_gemm(CodeWriter& k, const std::string& type, const ConvGeometry& g, const Node* epilogue,
                             const std::string& result, const std::string& source, bool bias) {
  static const Node none;  // no fused activations
  const Node& n = epilogue ? *epilogue : none;
  k.line();
  const std::string pixel = g.deep() ? "oz, oy, ox" : "oy, ox", tap = g.deep() ? "c, kz, ky, kx" : "c, ky, kx";
  k.line("// " + result + "[s, o, " + pixel + "] = " + std::string(bias ? "bias[o] + " : "") + "weight[o, :] @ patches of (s, " +
         pixel + ")" + (n.epilogue.empty() ? "" : ", then the fused activations") + ":");
  k.line("// per group, rows o, columns (s, " + pixel + ") of the whole batch, depth (" + tap + ").");
  std::vector<std::string> members = {"float* __restrict__ " + result + ";", "const float* __restrict__ " + source + ";",
                                      "const float* __restrict__ weight;"};
  if (bias) members.push_back("const float* __restrict__ bias;");
  open_gemm_struct(k, type, g, {}, "kOutPerGroup", g.out_per_group(), "kGroups", 1, "", members, "n * kPixels",
                   "kPatch");
  k.line("__device__ float a(int g, int o, int k) const { return weight[(g * kOutPerGroup + o) * kPatch + k]; }");
  k.line("__device__ float b(int g, int k, int q) const { return patch(g, k, q); }");
  write_patch(k, g, source);
  k.open("__device__ void store(int g, int /*split*/, int o, int q, float sum) const");
  epilogue_constants(k, n);
  k.line("const int s = q / kPixels, p = q % kPixels;");
  if (bias) k.line("sum += bias[g * kOutPerGroup + o];");
  k.line(result + "[(s * kOut + g * kOutPerGroup + o) * kPixels + p] = " + apply_epilogue(n, "sum") + ";");
  k.close();
  k.close(";");
}

namespace {

void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& gr) {
  const ConvGeometry g = conv_geometry(n, gr.value(n.inputs[0]));
  const bool bias = attr_bool(n, "bias");
  const std::string type = e.fn + "_gemm";
  write_conv_forward_gemm(e.kernels, type, g, &n, "out", "inp", bias);
  CodeWriter& w = e.body;
  w.line("static_cast<void>(columns);  // the CPU's im2col scratch: the GEMM reads the patches from inp");
  write_conv_gemm_launch(w, type, "gemm", std::string("out, inp, weight, ") + (bias ? "bias, " : "") + "n");
}

// Stores `sum` into the gradient of output channel `o`'s column `k` of dweight's GEMM: weight
// k's, or the bias's in the column after the kPatch weights; added to it when accumulating.
void write_gradient_store(CodeWriter& w, bool bias, const std::string& o, const std::string& k,
                          const std::string& patch) {
  const std::string weight = "dweight[" + o + " * " + patch + " + " + k + "]";
  w.line("float& to = " + (bias ? k + " < " + patch + " ? " + weight + " : dbias[" + o + "]" : weight) + ";");
  w.line("to = accumulate ? to + sum : sum;");
}

}  // namespace

namespace {

// The input gradient's gathers (2-d and 3-d): phase_tap(phase, j, kernel, stride, dilation, step).
void write_phase_tap(CodeWriter& k) {
  k.line();
  k.line("// Tap j of those with tap * dilation = phase (mod stride) below kernel, or -1.");
  k.open("__device__ static int phase_tap(int phase, int j, int kernel, int stride, int dilation, int step)");
  k.line("for (int first = 0; first < step; ++first)");
  k.line("  if (first * dilation % stride == phase) return first + j * step < kernel ? first + j * step : -1;");
  k.line("return -1;  // no tap reaches this phase");
  k.close();
}

// Conv3d's input gradient: write_conv_dinp_gemm's gather with a depth cut into phases as the rows and
// columns are.
void write_conv3d_dinp_gemm(CodeWriter& k, const std::string& type, const ConvGeometry& g, const std::string& result,
                            const std::string& source, const std::string& bias, const Node* epilogue) {
  auto i = [](std::int64_t v) { return std::to_string(v); };
  auto step = [&](std::int64_t stride, std::int64_t dilation) { return i(stride / std::gcd(stride, dilation)); };
  k.line();
  k.line("// " + result + "[s, c, iz, iy, ix] = " + (bias.empty() ? "" : bias + "[c] + ") +
         "sum over the outputs (o, oz, oy, ox) whose tap (kz, ky, kx) reads");
  k.line("// (iz, iy, ix) of weight[o, c, kz, ky, kx] * " + source + "[s, o, oz, oy, ox]: a gather, each element written");
  k.line("// once. As Conv2d's, each dimension is cut into kStride phases by (i + kPad) % kStride, which only");
  k.line("// every kTapStep-th tap reaches, and each (phase, group) that holds pixels is a GEMM over those taps:");
  k.line("// rows c, columns (s, iz, iy, ix) of the phase, depth (o, kz, ky, kx).");
  const std::vector<std::string> constants = {
      "// kStride / gcd(kStride, kDilation): taps k and k + kTapStep reach the same slices (rows, columns).",
      "static constexpr int kTapStepD = " + step(g.stride_d, g.dilation_d) + ", kTapStepH = " +
          step(g.stride_h, g.dilation_h) + ", kTapStepW = " + step(g.stride_w, g.dilation_w) + ";",
      "static constexpr int kPhaseTapsD = (kKernelD + kTapStepD - 1) / kTapStepD;  // taps that reach a slice, at most",
      "static constexpr int kPhaseTapsH = (kKernelH + kTapStepH - 1) / kTapStepH;",
      "static constexpr int kPhaseTapsW = (kKernelW + kTapStepW - 1) / kTapStepW;",
      "static constexpr int kPhaseTaps = kPhaseTapsD * kPhaseTapsH * kPhaseTapsW;",
      "// A phase's slice j is iz = phase + (kSliceBase + j) * kStrideD - kPadD; kPhaseD slices cover 0 <= iz < kD.",
      "static constexpr int kSliceBase = kPadD / kStrideD, kPhaseD = (kD + kPadD + kStrideD - 1) / kStrideD - kSliceBase;",
      "static constexpr int kRowBase = kPadH / kStrideH, kPhaseH = (kH + kPadH + kStrideH - 1) / kStrideH - kRowBase;",
      "static constexpr int kColBase = kPadW / kStrideW, kPhaseW = (kW + kPadW + kStrideW - 1) / kStrideW - kColBase;",
      "static constexpr int kPhasePixels = kPhaseD * kPhaseH * kPhaseW;",
      "// Phases that hold pixels: a stride past the input's size leaves all but that many without any.",
      "static constexpr int kPhasesD = kStrideD < kD ? kStrideD : kD, kPhasesH = kStrideH < kH ? kStrideH : kH,",
      "                     kPhasesW = kStrideW < kW ? kStrideW : kW;"};
  std::vector<std::string> members = {"float* __restrict__ " + result + ";", "const float* __restrict__ " + source + ";",
                                      "const float* __restrict__ weight;"};
  if (!bias.empty()) members.push_back("const float* __restrict__ " + bias + ";");
  open_gemm_struct(k, type, g, constants, "kInPerGroup", g.in_per_group(), "kGroups * kPhasesD * kPhasesH * kPhasesW",
                   1, "", members, "n * kPhasePixels", "");
  k.line("// GEMM gg's group and phase.");
  k.open("__device__ static void split_phase(int gg, int& g, int& pz, int& py, int& px)");
  k.line("g = gg % kGroups;");
  k.line("const int phase = gg / kGroups;");
  k.line("pz = (kPadD + phase / (kPhasesH * kPhasesW)) % kStrideD;");
  k.line("py = (kPadH + phase / kPhasesW % kPhasesH) % kStrideH;");
  k.line("px = (kPadW + phase % kPhasesW) % kStrideW;");
  k.close();
  k.line("// A phase that no tap reaches has depth 0: its blocks store zeros.");
  k.open("__device__ int depth(int gg) const");
  k.line("int g, pz, py, px;");
  k.line("split_phase(gg, g, pz, py, px);");
  k.line("const bool reached = phase_tap(pz, 0, kKernelD, kStrideD, kDilationD, kTapStepD) >= 0 &&");
  k.line("                     phase_tap(py, 0, kKernelH, kStrideH, kDilationH, kTapStepH) >= 0 &&");
  k.line("                     phase_tap(px, 0, kKernelW, kStrideW, kDilationW, kTapStepW) >= 0;");
  k.line("return reached ? kOutPerGroup * kPhaseTaps : 0;");
  k.close();
  write_phase_tap(k);
  k.line("// GEMM gg's group and phase, and depth k's output channel and taps (-1: none).");
  k.open("__device__ void split_gemm(int gg, int k, int& g, int& pz, int& py, int& px, int& o, int& kz, int& ky, int& kx) const");
  k.line("split_phase(gg, g, pz, py, px);");
  k.line("o = k / kPhaseTaps;");
  k.line("kz = phase_tap(pz, k / (kPhaseTapsH * kPhaseTapsW) % kPhaseTapsD, kKernelD, kStrideD, kDilationD, kTapStepD);");
  k.line("ky = phase_tap(py, k / kPhaseTapsW % kPhaseTapsH, kKernelH, kStrideH, kDilationH, kTapStepH);");
  k.line("kx = phase_tap(px, k % kPhaseTapsW, kKernelW, kStrideW, kDilationW, kTapStepW);");
  k.close();
  k.open("__device__ float a(int gg, int c, int k) const");
  k.line("int g, pz, py, px, o, kz, ky, kx;");
  k.line("split_gemm(gg, k, g, pz, py, px, o, kz, ky, kx);");
  k.line("if (kz < 0 || ky < 0 || kx < 0) return 0.0f;");
  k.line("return weight[((g * kOutPerGroup + o) * kInPerGroup + c) * kTaps + (kz * kKernelH + ky) * kKernelW + kx];");
  k.close();
  k.open("__device__ float b(int gg, int k, int q) const");
  k.line("int g, pz, py, px, o, kz, ky, kx;");
  k.line("split_gemm(gg, k, g, pz, py, px, o, kz, ky, kx);");
  k.line("if (kz < 0 || ky < 0 || kx < 0) return 0.0f;");
  k.line("const int s = q / kPhasePixels, jz = q / (kPhaseH * kPhaseW) % kPhaseD, j = q / kPhaseW % kPhaseH,");
  k.line("          jx = q % kPhaseW;");
  k.line("const int oz = (pz + (kSliceBase + jz) * kStrideD - kz * kDilationD) / kStrideD;  // exact: same phase");
  k.line("const int oy = (py + (kRowBase + j) * kStrideH - ky * kDilationH) / kStrideH;");
  k.line("const int ox = (px + (kColBase + jx) * kStrideW - kx * kDilationW) / kStrideW;");
  k.line("if (oz < 0 || oz >= kOutD || oy < 0 || oy >= kOutH || ox < 0 || ox >= kOutW) return 0.0f;");
  k.line("return " + source + "[(((s * kOut + g * kOutPerGroup + o) * kOutD + oz) * kOutH + oy) * kOutW + ox];");
  k.close();
  k.open("__device__ void store(int gg, int /*split*/, int c, int q, float sum) const");
  k.line("int g, pz, py, px;");
  k.line("split_phase(gg, g, pz, py, px);");
  k.line("const int s = q / kPhasePixels, jz = q / (kPhaseH * kPhaseW) % kPhaseD, j = q / kPhaseW % kPhaseH,");
  k.line("          jx = q % kPhaseW;");
  k.line("const int iz = pz + (kSliceBase + jz) * kStrideD - kPadD, iy = py + (kRowBase + j) * kStrideH - kPadH,");
  k.line("          ix = px + (kColBase + jx) * kStrideW - kPadW;");
  k.line("if (iz < 0 || iz >= kD || iy < 0 || iy >= kH || ix < 0 || ix >= kW) return;  // past the input's edge");
  if (!bias.empty()) k.line("sum += " + bias + "[g * kInPerGroup + c];");
  if (epilogue) epilogue_constants(k, *epilogue);
  k.line(result + "[(((s * kIn + g * kInPerGroup + c) * kD + iz) * kH + iy) * kW + ix] = " +
         (epilogue ? apply_epilogue(*epilogue, "sum") : std::string("sum")) + ";");
  k.close();
  k.close(";");
}

}  // namespace

void write_conv_dinp_gemm(CodeWriter& k, const std::string& type, const ConvGeometry& g, const std::string& result,
                          const std::string& source, const std::string& bias, const Node* epilogue) {
  if (g.deep()) {
    write_conv3d_dinp_gemm(k, type, g, result, source, bias, epilogue);
    return;
  }
  auto i = [](std::int64_t v) { return std::to_string(v); };
  k.line();
  k.line("// " + result + "[s, c, iy, ix] = " + (bias.empty() ? "" : bias + "[c] + ") +
         "sum over the outputs (o, oy, ox) whose tap (ky, kx) reads (iy, ix) of");
  k.line("// weight[o, c, ky, kx] * " + source + "[s, o, oy, ox]. A gather (col2im fused with weight^T @ " + source +
         "): each");
  k.line("// element is written once, no atomics. Tap ky of output row oy reads row iy when iy + kPadH =");
  k.line("// oy * kStrideH + ky * kDilationH, so only the taps with ky * kDilationH = iy + kPadH (mod kStrideH)");
  k.line("// reach row iy: every kTapStepH-th tap from the first. The rows are therefore cut into kStrideH");
  k.line("// phases by (iy + kPadH) % kStrideH (columns likewise), and each (phase, group) that holds pixels");
  k.line("// is a GEMM over the taps that reach its pixels only: rows c, columns (s, iy, ix) of the phase,");
  k.line("// depth (o, ky, kx).");
  const std::vector<std::string> constants = {
      "// kStrideH / gcd(kStrideH, kDilationH): taps ky and ky + kTapStepH reach the same rows.",
      "static constexpr int kTapStepH = " + i(g.stride_h / std::gcd(g.stride_h, g.dilation_h)) +
          ", kTapStepW = " + i(g.stride_w / std::gcd(g.stride_w, g.dilation_w)) + ";",
      "static constexpr int kPhaseTapsH = (kKernelH + kTapStepH - 1) / kTapStepH;  // taps that reach a row, at most",
      "static constexpr int kPhaseTapsW = (kKernelW + kTapStepW - 1) / kTapStepW;",
      "// A phase's row j is iy = phase + (kRowBase + j) * kStrideH - kPadH; kPhaseH rows cover 0 <= iy < kH.",
      "static constexpr int kRowBase = kPadH / kStrideH, kPhaseH = (kH + kPadH + kStrideH - 1) / kStrideH - kRowBase;",
      "static constexpr int kColBase = kPadW / kStrideW, kPhaseW = (kW + kPadW + kStrideW - 1) / kStrideW - kColBase;",
      "// Phases that hold pixels: rows 0, 1, ... are in phases kPadH % kStrideH, (kPadH + 1) % kStrideH, ..., so",
      "// a stride past the input's height leaves all but kH phases without rows (and columns likewise).",
      "static constexpr int kPhasesH = kStrideH < kH ? kStrideH : kH, kPhasesW = kStrideW < kW ? kStrideW : kW;"};
  std::vector<std::string> members = {"float* __restrict__ " + result + ";", "const float* __restrict__ " + source + ";",
                                      "const float* __restrict__ weight;"};
  if (!bias.empty()) members.push_back("const float* __restrict__ " + bias + ";");
  open_gemm_struct(k, type, g, constants, "kInPerGroup", g.in_per_group(), "kGroups * kPhasesH * kPhasesW", 1, "",
                   members, "n * kPhaseH * kPhaseW", "");
  k.line("// GEMM gg's group and phase.");
  k.open("__device__ static void split_phase(int gg, int& g, int& py, int& px)");
  k.line("g = gg % kGroups;");
  k.line("py = (kPadH + gg / kGroups / kPhasesW) % kStrideH;");
  k.line("px = (kPadW + gg / kGroups % kPhasesW) % kStrideW;");
  k.close();
  k.line("// A phase that no tap reaches (stride and dilation share a factor, or the kernel is narrower than");
  k.line("// the tap step) has depth 0: its blocks skip the sums and store zeros, a fill of its pixels.");
  k.open("__device__ int depth(int gg) const");
  k.line("int g, py, px;");
  k.line("split_phase(gg, g, py, px);");
  k.line("const bool reached = phase_tap(py, 0, kKernelH, kStrideH, kDilationH, kTapStepH) >= 0 &&");
  k.line("                     phase_tap(px, 0, kKernelW, kStrideW, kDilationW, kTapStepW) >= 0;");
  k.line("return reached ? kOutPerGroup * kPhaseTapsH * kPhaseTapsW : 0;");
  k.close();
  write_phase_tap(k);
  k.line("// GEMM gg's group and phase, and depth k's output channel and taps (-1: none).");
  k.open("__device__ void split_gemm(int gg, int k, int& g, int& py, int& px, int& o, int& ky, int& kx) const");
  k.line("split_phase(gg, g, py, px);");
  k.line("o = k / (kPhaseTapsH * kPhaseTapsW);");
  k.line("ky = phase_tap(py, k / kPhaseTapsW % kPhaseTapsH, kKernelH, kStrideH, kDilationH, kTapStepH);");
  k.line("kx = phase_tap(px, k % kPhaseTapsW, kKernelW, kStrideW, kDilationW, kTapStepW);");
  k.close();
  k.open("__device__ float a(int gg, int c, int k) const");
  k.line("int g, py, px, o, ky, kx;");
  k.line("split_gemm(gg, k, g, py, px, o, ky, kx);");
  k.line("if (ky < 0 || kx < 0) return 0.0f;");
  k.line("return weight[((g * kOutPerGroup + o) * kInPerGroup + c) * kTaps + ky * kKernelW + kx];");
  k.close();
  k.open("__device__ float b(int gg, int k, int q) const");
  k.line("int g, py, px, o, ky, kx;");
  k.line("split_gemm(gg, k, g, py, px, o, ky, kx);");
  k.line("if (ky < 0 || kx < 0) return 0.0f;");
  k.line("const int s = q / (kPhaseH * kPhaseW), j = q / kPhaseW % kPhaseH, jx = q % kPhaseW;");
  k.line("const int oy = (py + (kRowBase + j) * kStrideH - ky * kDilationH) / kStrideH;  // exact: same phase");
  k.line("const int ox = (px + (kColBase + jx) * kStrideW - kx * kDilationW) / kStrideW;");
  k.line("if (oy < 0 || oy >= kOutH || ox < 0 || ox >= kOutW) return 0.0f;");
  k.line("return " + source + "[((s * kOut + g * kOutPerGroup + o) * kOutH + oy) * kOutW + ox];");
  k.close();
  k.open("__device__ void store(int gg, int /*split*/, int c, int q, float sum) const");
  k.line("int g, py, px;");
  k.line("split_phase(gg, g, py, px);");
  k.line("const int s = q / (kPhaseH * kPhaseW), j = q / kPhaseW % kPhaseH, jx = q % kPhaseW;");
  k.line("const int iy = py + (kRowBase + j) * kStrideH - kPadH, ix = px + (kColBase + jx) * kStrideW - kPadW;");
  k.line("if (iy < 0 || iy >= kH || ix < 0 || ix >= kW) return;  // past the input's edge: no such pixel");
  if (!bias.empty()) k.line("sum += " + bias + "[g * kInPerGroup + c];");
  if (epilogue) epilogue_constants(k, *epilogue);
  k.line(result + "[((s * kIn + g * kInPerGroup + c) * kH + iy) * kW + ix] = " +
         (epilogue ? apply_epilogue(*epilogue, "sum") : std::string("sum")) + ";");
  k.close();
  k.close(";");
}

void write_conv_dweight_gemm(CodeWriter& k, const std::string& type, const std::string& sum_kernel,
                             const ConvGeometry& g, std::int64_t splits, bool bias, const std::string& grad,
                             const std::string& source) {
  k.line();
  const std::string pixel = g.deep() ? "oz, oy, ox" : "oy, ox", tap = g.deep() ? "c, kz, ky, kx" : "c, ky, kx";
  k.line("// dweight[o, (" + tap + ")] " + (bias ? "and dbias[o] " : "") + "(+)= sum over the batch's (s, " + pixel + ") of " +
         grad + "[s, o, " + pixel + "] * patch" + (bias ? " (dbias: * 1)" : "") + ":");
  k.line("// per group, rows o, columns (" + tap + ")" + std::string(bias ? " and a column of ones" : "") + ", depth (s, " +
         pixel + ") of the whole batch.");
  std::vector<std::string> members = {"static constexpr int kCols = kPatch" +
                                      std::string(bias ? " + 1;  // the weights, then the bias" : ";")};
  if (splits > 1) {
    members.push_back("float* __restrict__ partial;  // (kSplits, kOut, kCols): each chunk's sums");
  } else {
    members.push_back("float* __restrict__ dweight;");
    if (bias) members.push_back("float* __restrict__ dbias;");
  }
  members.insert(members.end(), {"const float* __restrict__ " + grad + ";", "const float* __restrict__ " + source + ";"});
  if (splits == 1) members.push_back("bool accumulate;  // add to the gradients (accumulate_grad_batches) or overwrite them");
  open_gemm_struct(k, type, g, {}, "kOutPerGroup", g.out_per_group(), "kGroups", splits,
                   splits > 1 ? "TUNE: kSplits chunks of the batch's pixels, summed in order by a second kernel"
                              : "TUNE: kSplits chunks of the batch's pixels (1: enough tiles, or too little depth)",
                   members, "kCols", "n * kPixels");
  k.open("__device__ float a(int g, int o, int d) const");
  k.line("const int s = d / kPixels, p = d % kPixels;");
  k.line("return " + grad + "[(s * kOut + g * kOutPerGroup + o) * kPixels + p];");
  k.close();
  if (bias)
    k.line("__device__ float b(int g, int d, int k) const { return k == kPatch ? 1.0f : patch(g, k, d); }");
  else
    k.line("__device__ float b(int g, int d, int k) const { return patch(g, k, d); }");
  write_patch(k, g, source);
  if (splits > 1) {
    k.open("__device__ void store(int g, int split, int o, int k, float sum) const");
    k.line("partial[((split * kGroups + g) * kOutPerGroup + o) * kCols + k] = sum;");
  } else {
    k.open("__device__ void store(int g, int /*split*/, int o, int k, float sum) const");
    k.line("const int channel = g * kOutPerGroup + o;");
    write_gradient_store(k, bias, "channel", "k", "kPatch");
  }
  k.close();
  k.close(";");
  if (splits > 1) {
    k.line();
    k.line("// The chunks' partial sums of each weight" + std::string(bias ? " and bias" : "") +
           " added in chunk order: the same result on every run.");
    std::vector<std::string> params = {"float* __restrict__ dweight"};
    if (bias) params.push_back("float* __restrict__ dbias");
    params.insert(params.end(), {"const float* __restrict__ partial", "bool accumulate"});
    open_element_kernel(k, sum_kernel, params, [&](CodeWriter& c) {
      c.line("using Gemm = " + type + ";");
    });
    k.line("const int o = i / Gemm::kCols, w = i % Gemm::kCols;");
    k.line("float sum = 0.0f;");
    k.line("for (int split = 0; split < Gemm::kSplits; ++split) sum += partial[split * Gemm::kOut * Gemm::kCols + i];");
    write_gradient_store(k, bias, "o", "w", "Gemm::kPatch");
    k.close();
  }

}

namespace {

void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& gr) {
  const Value& x = gr.value(n.inputs[1]);
  const ConvGeometry g = conv_geometry(n, x);
  const bool bias = attr_bool(n, "bias");
  const bool need_dinp = attr_bool(n, "need_dinp");
  const std::int64_t splits = attr_int(n, "dweight_splits");
  CodeWriter& w = e.body;
  const std::string dinp = e.fn + "_dinp_gemm", dweight = e.fn + "_dweight_gemm";
  if (need_dinp) write_conv_dinp_gemm(e.kernels, dinp, g, "dinp", "dout", "", nullptr);
  write_conv_dweight_gemm(e.kernels, dweight, e.fn + "_dweight_sum_kernel", g, splits, bias, "dout", "inp");

  w.line("static_cast<void>(columns);  // the CPU's im2col scratch: the GEMMs read the patches from inp");
  if (need_dinp) write_conv_gemm_launch(w, dinp, "dinp_gemm", "dinp, dout, weight, n");
  if (splits > 1) {
    write_conv_gemm_launch(w, dweight, "dweight_gemm", "partials, dout, inp, n");
    std::vector<std::string> args = {"dweight"};
    if (bias) args.push_back("dbias");
    args.insert(args.end(), {"partials", "accumulate"});
    emit_count_launch(w, e.fn + "_dweight_sum_kernel", dweight + "::kOut * " + dweight + "::kCols", args);
  } else {
    write_conv_gemm_launch(w, dweight, "dweight_gemm",
                      "dweight, " + std::string(bias ? "dbias, " : "") + "dout, inp, accumulate, n");
  }
}

}  // namespace

int add_scratch(Graph& gr, const std::string& name, const Shape& shape, bool batched) {
  Value v;
  v.name = name;
  v.shape = shape;
  v.batched = batched;
  v.kind = ValueKind::activation;
  return gr.add_value(std::move(v));
}

std::vector<int> add_conv_backward(Autodiff& ad, const Node& n, const std::vector<int>& dout,
                                   const std::string& backward_op, const ConvGeometry& g, bool bias_column) {
  const int x = n.inputs[0];
  if (dout[0] < 0) return std::vector<int>(n.inputs.size(), -1);
  const bool need_dinp = ad.needs_grad(x);
  const bool bias = attr_bool(n, "bias");
  Node b;
  b.op = backward_op;
  b.layer = n.layer;
  b.source = n.source;
  b.attrs = n.attrs;
  b.attrs["need_dinp"] = need_dinp;
  b.inputs = {dout[0], x};
  if (need_dinp) b.inputs.push_back(n.inputs[1]);  // the weight
  if (need_dinp) b.outputs.push_back(-1);
  b.outputs.push_back(ad.weight_grad(n.inputs[1]));  // bf16-mixed: the casts' gradients
  if (bias) b.outputs.push_back(ad.weight_grad(n.inputs[2]));
  const OutputType columns =
      conv_columns_type(g, ad.graph.value(x).shape[0], backward_op == "conv2d_backward" && need_dinp);
  b.outputs.push_back(add_scratch(ad.graph, "d_" + cpp_name(n.layer) + "_columns", columns.shape, columns.batched));
  // CUDA's chunks of dweight's sum over the batch, each in its own slice of `partials`.
  const std::int64_t splits = conv_dweight_splits(g, ad.graph.value(x).shape[0], bias && bias_column);
  b.attrs["dweight_splits"] = splits;
  if (splits > 1)
    b.outputs.push_back(add_scratch(ad.graph, "d_" + cpp_name(n.layer) + "_partials",
                                    {splits, g.out, conv_dweight_cols(g, bias && bias_column)}));
  const int id = ad.add_backward(std::move(b), ad.grad_name(x));
  std::vector<int> grads(n.inputs.size(), -1);  // parameter gradients live in the grad region
  const std::vector<int> outs = ad.graph.nodes[id].outputs;
  if (need_dinp) grads[0] = outs[0];
  const size_t w = need_dinp ? 1 : 0;
  if (bias) ad.cast_grads(n, {1, 2}, {outs[w], outs[w + 1]}, grads);
  else ad.cast_grads(n, {1}, {outs[w]}, grads);
  return grads;
}

std::vector<OutputType> conv_backward_outputs(const Node& n, const Value& x, const ConvGeometry& g,
                                              std::int64_t bias_channels, bool bias_column) {
  const bool bias = attr_bool(n, "bias");
  std::vector<OutputType> t;
  if (attr_bool(n, "need_dinp")) t.push_back({x.dtype, x.shape, true});
  t.push_back({DType::f32, conv_weight_shape(g), false});
  if (bias) t.push_back({DType::f32, {bias_channels}, false});
  t.push_back(conv_columns_type(g, x.shape[0], n.op == "conv2d_backward" && attr_bool(n, "need_dinp")));
  // dweight's partial sums per chunk of the batch on CUDA (unused on the CPU, which sums in
  // place); the memory plan frees them after the node.
  const std::int64_t splits = attr_int(n, "dweight_splits");
  if (splits > 1) t.push_back({DType::f32, {splits, g.out, conv_dweight_cols(g, bias && bias_column)}, false});
  return t;
}

Slots conv_backward_slots(const Node& n) {
  Slots s{{}, {"dout", "inp"}};
  if (attr_bool(n, "need_dinp")) {
    s.outputs.push_back("dinp");
    s.inputs.push_back("weight");
  }
  s.outputs.push_back("dweight");
  if (attr_bool(n, "bias")) s.outputs.push_back("dbias");
  s.outputs.push_back("columns");
  if (attr_int(n, "dweight_splits") > 1) s.outputs.push_back("partials");
  return s;
}

std::int64_t check_conv_channels(const Attrs& args, const Value& x) {
  const std::int64_t channels = x.shape[1];
  auto given = args.find("in_channels");
  if (given != args.end() && std::get<std::int64_t>(given->second) != channels)
    throw ShapeError("in_channels is " + std::to_string(std::get<std::int64_t>(given->second)) + " but the input " +
                     shape_str(x.shape) + " has " + std::to_string(channels) + " channels; remove in_channels to infer it");
  const std::int64_t out_channels = std::get<std::int64_t>(args.at("out_channels"));
  const std::int64_t groups = std::get<std::int64_t>(args.at("groups"));
  if (channels % groups != 0)
    throw ShapeError("groups=" + std::to_string(groups) + " does not divide in_channels=" + std::to_string(channels));
  if (out_channels % groups != 0)
    throw ShapeError("groups=" + std::to_string(groups) + " does not divide out_channels=" +
                     std::to_string(out_channels));
  return channels;
}

namespace {

LayerDef conv_layer(int dims) {
  LayerDef l;
  l.torch_type = "Conv" + std::to_string(dims) + "d";
  ArgDef in{"in_channels", ArgType::integer, std::nullopt, true};
  in.min = 1;
  ArgDef out{"out_channels", ArgType::integer, std::nullopt};
  out.min = 1;
  ArgDef padding = tuple_arg("padding", Attr{std::int64_t{0}}, 0, dims);
  padding.choices = {"valid", "same"};
  ArgDef groups{"groups", ArgType::integer, Attr{std::int64_t{1}}};
  groups.min = 1;
  ArgDef mode{"padding_mode", ArgType::string, Attr{std::string("zeros")}};
  mode.choices = {"zeros", "reflect", "replicate", "circular"};
  l.args = {in,
            out,
            tuple_arg("kernel_size", std::nullopt, 1, dims),
            tuple_arg("stride", Attr{std::int64_t{1}}, 1, dims),
            padding,
            tuple_arg("dilation", Attr{std::int64_t{1}}, 1, dims),
            groups,
            {"bias", ArgType::boolean, Attr{true}},
            mode};
  l.build = [dims](LayerBuild& b, const std::vector<int>& inputs) {
    const Value& x = b.graph.value(inputs.at(0));
    require_spatial_input(x, dims);
    const std::int64_t channels = check_conv_channels(b.args, x);
    const std::int64_t out_channels = std::get<std::int64_t>(b.args.at("out_channels"));
    const std::int64_t groups = std::get<std::int64_t>(b.args.at("groups"));
    // Conv1d's sizes become the width of a height-1 Conv2d; Conv3d's keep their depth first.
    auto pair = [dims](const std::vector<std::int64_t>& v, std::int64_t height) {
      return dims != 1 ? v : std::vector<std::int64_t>{height, v.at(0)};
    };
    const std::size_t sizes = dims == 3 ? 3 : 2;
    const std::vector<std::int64_t> zeros(sizes, 0);
    const auto kernel = pair(expand_tuple(b.args.at("kernel_size"), dims), 1);
    const auto stride = pair(expand_tuple(b.args.at("stride"), dims), 1);
    const auto dilation = pair(expand_tuple(b.args.at("dilation"), dims), 1);
    std::vector<std::int64_t> pad_before, pad_after;
    const Attr& padding = b.args.at("padding");
    if (const auto* mode = std::get_if<std::string>(&padding)) {
      if (*mode == "valid") {
        pad_before = pad_after = zeros;
      } else {  // 'same': torch pads d * (k - 1) in total, the odd one at the end
        if (stride != std::vector<std::int64_t>(sizes, 1))
          throw ShapeError("padding='same' needs stride 1 (torch refuses strided 'same' convolutions)");
        for (std::size_t i = 0; i < sizes; ++i) {
          const std::int64_t total = dilation[i] * (kernel[i] - 1);
          pad_before.push_back(total / 2);
          pad_after.push_back(total - total / 2);
        }
      }
    } else {
      pad_before = pad_after = pair(expand_tuple(padding, dims), 0);
    }
    // padding_mode other than 'zeros': torch pads with F.pad in that mode first and convolves
    // without padding (Conv2d._conv_forward); here a pad node (pad.cpp) before the convolution.
    int input = inputs.at(0);
    const std::string& padding_mode = std::get<std::string>(b.args.at("padding_mode"));
    if (padding_mode != "zeros" && (pad_before != zeros || pad_after != pad_before)) {
      std::vector<std::int64_t> pads;  // F.pad's order: the last dimension first
      for (std::size_t i = sizes; i-- > (dims == 1 ? 1 : 0);) pads.insert(pads.end(), {pad_before[i], pad_after[i]});
      input = add_pad(b.graph, b.layer + ".pad", b.source, input, dims, padding_mode, pads);
      pad_before = pad_after = zeros;
    }
    const Value& padded = b.graph.value(input);
    Node n;
    n.op = "conv2d";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["dims"] = std::int64_t{dims};
    n.attrs["in_channels"] = channels;
    n.attrs["out_channels"] = out_channels;
    n.attrs["kernel_size"] = kernel;
    n.attrs["stride"] = stride;
    n.attrs["padding"] = pad_before;
    n.attrs["padding_end"] = pad_after;
    n.attrs["dilation"] = dilation;
    n.attrs["groups"] = groups;
    n.attrs["bias"] = std::get<bool>(b.args.at("bias"));
    const ConvGeometry g = conv_geometry(n, padded);
    const std::int64_t batch = padded.shape[0];  // (values move as add_param adds some)
    n.attrs["im2col"] = g.macs_per_sample() >= kIm2colMinMacs;
    n.inputs = {input, add_param(b.graph, b.layer + ".weight", conv_weight_shape(g))};
    if (std::get<bool>(b.args.at("bias"))) n.inputs.push_back(add_param(b.graph, b.layer + ".bias", {out_channels}));
    // PyTorch's default: kaiming_uniform_(a=sqrt(5)) for the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    // for the bias, fan_in = in / groups * kh * kw (Conv3d: * kd).
    b.graph.value(n.inputs[1]).init_bound = kaiming_uniform_bound(g.patch());
    if (n.inputs.size() > 2) b.graph.value(n.inputs[2]).init_bound = fan_in_bound(g.patch());
    const OutputType columns = conv_columns_type(g, batch, true);
    n.outputs = {-1, add_scratch(b.graph, cpp_name(b.layer) + "_columns", columns.shape, columns.batched)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  return l;
}

}  // namespace

void register_conv(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "conv2d";
  // Activations after it are applied as each output is stored. One that needs its input in
  // backward (GELU) is not fused: conv's second output is the im2col scratch, not a kept preact.
  f.accepts_epilogue = true;
  f.infer = [](const Node& n, const Graph& gr) {
    const Value& x = gr.value(n.inputs.at(0));
    const ConvGeometry g = conv_geometry(n, x);
    return std::vector<OutputType>{{x.dtype, out_shape(g, x.shape[0]), true}, conv_columns_type(g, x.shape[0], true)};
  };
  f.slots = [](const Node& n) {
    Slots s{{"out", "columns"}, {"inp", "weight"}};
    if (attr_bool(n, "bias")) s.inputs.push_back("bias");
    return s;
  };
  f.cost = [](const Node& n, const Graph& gr) {
    const Value& x = gr.value(n.inputs[0]);
    const ConvGeometry g = conv_geometry(n, x);
    const double batch = static_cast<double>(x.shape[0]);
    const double outs = batch * static_cast<double>(g.out * g.pixels());
    const double weights = static_cast<double>(g.out * g.patch());
    return Cost{2 * batch * static_cast<double>(g.macs_per_sample()) + (attr_bool(n, "bias") ? outs : 0),
                4 * (static_cast<double>(numel(x.shape)) + weights + outs)};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return add_conv_backward(ad, n, dout, "conv2d_backward", conv_geometry(n, ad.graph.value(n.inputs[0])), true);
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "conv2d_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& gr) {
    const Value& x = gr.value(n.inputs.at(1));
    const ConvGeometry g = conv_geometry(n, x);
    return conv_backward_outputs(n, x, g, g.out, true);
  };
  b.slots = conv_backward_slots;
  b.cost = [](const Node& n, const Graph& gr) {
    const Value& x = gr.value(n.inputs[1]);
    const ConvGeometry g = conv_geometry(n, x);
    const double batch = static_cast<double>(x.shape[0]);
    const double outs = batch * static_cast<double>(g.out * g.pixels());
    const double weights = static_cast<double>(g.out * g.patch());
    const double passes = attr_bool(n, "need_dinp") ? 2 : 1;
    return Cost{passes * 2 * batch * static_cast<double>(g.macs_per_sample()) + (attr_bool(n, "bias") ? outs : 0),
                4 * (outs + static_cast<double>(numel(x.shape)) * passes + weights * 3)};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  layers.push_back(conv_layer(1));
  layers.push_back(conv_layer(2));
  layers.push_back(conv_layer(3));
}

}  // namespace ltgen
