/// \file
/// Upsample's linear modes (torch.nn.Upsample(mode='linear') on (N, C, L), 'bilinear' on
/// (N, C, H, W)), align_corners either way: output (oy, ox) of a plane interpolates the inputs
/// that ltrt::linear_source names along each dimension (runtime/include/ltrt/linear_interpolation.hpp),
///   top = x[r.i0][c.i0] c.l0 + x[r.i0][c.i1] c.l1,  bottom likewise on row r.i1,
///   out = top r.l0 + bottom r.l1   (each sum one fused multiply-add; 'linear' is `top` alone).
/// Its backward adds each output's gradient to its inputs, (r.l * c.l) * dout as one fused
/// multiply-add into the input's gradient, in the order of torch's CPU kernel (outputs row by row,
/// then the corners i00, i01, i10, i11): bit for bit torch's on the CPU. On CUDA a thread per input
/// gathers the same terms in the same order. 'linear' runs over a (N, C, 1, L) view, as the 1-d
/// poolings.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

bool rows(const Node& n) { return attr_bool(n, "bilinear"); }  // 'linear': one row, no row weights

// `r` (the output row's sources, 'bilinear') and `c` (the column's).
void write_sources(CodeWriter& w, const Node& n, const std::string& oy, const std::string& ox) {
  if (rows(n))
    w.line("const ltrt::LinearSource r = ltrt::linear_source(kRatioH, " + oy + ", kH, kOutH, kAlignCorners);");
  w.line("const ltrt::LinearSource c = ltrt::linear_source(kRatioW, " + ox + ", kW, kOutW, kAlignCorners);");
}

// The output's value from plane x, after write_sources.
std::string interpolated(const Node& n) {
  const std::string top = "fmaf(x[r.i0 * kW + c.i1], c.l1, x[r.i0 * kW + c.i0] * c.l0)";
  if (!rows(n)) return "fmaf(x[c.i1], c.l1, x[c.i0] * c.l0)";
  const std::string bottom = "fmaf(x[r.i1 * kW + c.i1], c.l1, x[r.i1 * kW + c.i0] * c.l0)";
  return "fmaf(" + bottom + ", r.l1, " + top + " * r.l0)";
}

// The output's terms into its inputs' gradients, in torch's order: `add(input index, weight)`.
std::vector<std::pair<std::string, std::string>> corners(const Node& n) {
  if (!rows(n)) return {{"c.i0", "c.l0"}, {"c.i1", "c.l1"}};
  return {{"r.i0 * kW + c.i0", "r.l0 * c.l0"},
          {"r.i0 * kW + c.i1", "r.l0 * c.l1"},
          {"r.i1 * kW + c.i0", "r.l1 * c.l0"},
          {"r.i1 * kW + c.i1", "r.l1 * c.l1"}};
}

}  // namespace

void register_upsample_linear(std::vector<OpDef>& ops) {
  auto [f, b] = upsample_op_pair("upsample_linear2d", "<ltrt/linear_interpolation.hpp>",
                                 [](const Node& n) { return rows(n) ? 6.0 : 2.0; },
                                 [](const Node& n) { return rows(n) ? 12.0 : 4.0; });
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, upsample_sizes(n, g.value(n.inputs[0])));
    write_interpolation_constants(w, n);
    w.open("for (int plane = 0; plane < n * kChannels; ++plane)");
    w.line("const float* x = inp + plane * kH * kW;");
    w.line("float* y = out + plane * kOutH * kOutW;");
    w.open("for (int oy = 0; oy < kOutH; ++oy)");
    if (rows(n)) w.line("const ltrt::LinearSource r = ltrt::linear_source(kRatioH, oy, kH, kOutH, kAlignCorners);");
    w.open("for (int ox = 0; ox < kOutW; ++ox)");
    w.line("const ltrt::LinearSource c = ltrt::linear_source(kRatioW, ox, kW, kOutW, kAlignCorners);");
    if (!rows(n)) w.line("(void)oy;  // one row");
    w.line("y[oy * kOutW + ox] = " + interpolated(n) + ";");
    w.close();
    w.close();
    w.close();
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const PoolSizes s = upsample_sizes(n, g.value(n.inputs[0]));
    CodeWriter& k = e.kernels;
    k.line();
    k.line("// A thread per output interpolates its inputs, as the CPU.");
    open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ out", "const float* __restrict__ inp"},
                        [&](CodeWriter& c) {
                          write_pool_sizes(c, s, false);
                          write_interpolation_constants(c, n);
                        });
    k.line("const int plane = i / (kOutH * kOutW), oy = i / kOutW % kOutH, ox = i % kOutW;");
    k.line("const float* x = inp + static_cast<std::int64_t>(plane) * kH * kW;");
    write_sources(k, n, "oy", "ox");
    if (!rows(n)) k.line("(void)oy;  // one row");
    k.line("out[i] = " + interpolated(n) + ";");
    k.close();
    e.body.line(constexpr_int("kOutputs", s.channels * s.out_h * s.out_w, "per sample"));
    emit_count_launch(e.body, e.fn + "_kernel", "n * kOutputs", {"out", "inp"});
  };
  ops.push_back(std::move(f));

  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, upsample_backward_sizes(n, g));
    write_interpolation_constants(w, n);
    w.line("std::fill(dinp, dinp + n * kChannels * kH * kW, 0.0f);");
    w.open("for (int plane = 0; plane < n * kChannels; ++plane)");
    w.line("const float* d = dout + plane * kOutH * kOutW;");
    w.line("float* dx = dinp + plane * kH * kW;");
    w.open("for (int oy = 0; oy < kOutH; ++oy)");
    if (rows(n)) w.line("const ltrt::LinearSource r = ltrt::linear_source(kRatioH, oy, kH, kOutH, kAlignCorners);");
    w.open("for (int ox = 0; ox < kOutW; ++ox)");
    w.line("const ltrt::LinearSource c = ltrt::linear_source(kRatioW, ox, kW, kOutW, kAlignCorners);");
    w.line("const float g = d[oy * kOutW + ox];");
    for (const auto& [at, weight] : corners(n)) w.line("dx[" + at + "] = fmaf(" + weight + ", g, dx[" + at + "]);");
    w.close();
    w.close();
    w.close();
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const PoolSizes s = upsample_backward_sizes(n, g);
    CodeWriter& k = e.kernels;
    k.line();
    k.line("// A thread per input gathers the outputs that read it, in the CPU's order (rows, columns, then");
    k.line("// the corners): the sources' first index grows with the output, so each walk starts a little");
    k.line("// before the first output that can reach this input and stops past the last.");
    open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ dinp", "const float* __restrict__ dout"},
                        [&](CodeWriter& c) {
                          write_pool_sizes(c, s, false);
                          write_interpolation_constants(c, n);
                        });
    k.line("const int plane = i / (kH * kW), iy = i / kW % kH, ix = i % kW;");
    k.line("const float* d = dout + static_cast<std::int64_t>(plane) * kOutH * kOutW;");
    k.line("float sum = 0.0f;");
    // An output whose first source is below input - 1 reaches neither it nor past it.
    const auto first = [](const std::string& ratio, const std::string& index) {
      return ratio + " > 0.0f ? std::max(0, static_cast<int>((" + index + " - 1) / " + ratio + ") - 2) : 0";
    };
    if (rows(n)) {
      k.open("for (int oy = " + first("kRatioH", "iy") + "; oy < kOutH; ++oy)");
      k.line("const ltrt::LinearSource r = ltrt::linear_source(kRatioH, oy, kH, kOutH, kAlignCorners);");
      k.line("if (r.i0 > iy) break;");
      k.line("if (r.i0 != iy && r.i1 != iy) continue;");
    } else {
      k.line("(void)iy;  // one row");
      k.line("constexpr int oy = 0;");
    }
    k.open("for (int ox = " + first("kRatioW", "ix") + "; ox < kOutW; ++ox)");
    k.line("const ltrt::LinearSource c = ltrt::linear_source(kRatioW, ox, kW, kOutW, kAlignCorners);");
    k.line("if (c.i0 > ix) break;");
    k.line("const float g = d[oy * kOutW + ox];");
    for (const auto& [at, weight] : corners(n)) {
      std::string row = at.substr(0, at.find(" * kW"));  // "r.i0" (bilinear) or the column alone
      const std::string col = at.substr(at.rfind(' ') + 1);
      const std::string cond = rows(n) ? row + " == iy && " + col + " == ix" : at + " == ix";
      k.line("if (" + cond + ") sum = fmaf(" + weight + ", g, sum);");
    }
    k.close();
    if (rows(n)) k.close();
    k.line("dinp[i] = sum;");
    k.close();
    e.body.line(constexpr_int("kInputs", s.channels * s.h * s.w, "per sample"));
    emit_count_launch(e.body, e.fn + "_kernel", "n * kInputs", {"dinp", "dout"});
  };
  ops.push_back(std::move(b));
}

}  // namespace ltgen
