/// \file
/// Upsample's 'bicubic' mode (torch.nn.Upsample(mode='bicubic') on (N, C, H, W)), align_corners
/// either way: output (oy, ox) of a plane reads the 4 x 4 inputs that ltrt::cubic_source names along
/// each dimension (runtime/include/ltrt/cubic_interpolation.hpp), the border repeated:
///   row k = sum over j of x[r.i[k]][c.i[j]] c.w[j],   out = sum over k of row k * r.w[k]
/// each sum in order, a fused multiply-add after its first product, as torch's CPU forward.
/// Its backward adds each output's gradient to its 16 inputs, (g * r.w[k]) * c.w[j], outputs row by
/// row, then columns j, then rows k: the order of torch's CPU kernel. On CUDA a thread per input
/// gathers the same terms in the same order.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

const std::string kRowSource = "const ltrt::CubicSource r = ltrt::cubic_source(kRatioH, oy, kH, kAlignCorners);";
const std::string kColumnSource = "const ltrt::CubicSource c = ltrt::cubic_source(kRatioW, ox, kW, kAlignCorners);";

}  // namespace

void register_upsample_cubic(std::vector<OpDef>& ops) {
  auto [f, b] = upsample_op_pair("upsample_bicubic2d", "<ltrt/cubic_interpolation.hpp>",
                                 [](const Node&) { return 40.0; }, [](const Node&) { return 48.0; });
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, upsample_sizes(n, g.value(n.inputs[0])));
    write_interpolation_constants(w, n);
    w.open("for (int plane = 0; plane < n * kChannels; ++plane)");
    w.line("const float* x = inp + plane * kH * kW;");
    w.line("float* y = out + plane * kOutH * kOutW;");
    w.open("for (int oy = 0; oy < kOutH; ++oy)");
    w.line(kRowSource);
    w.open("for (int ox = 0; ox < kOutW; ++ox)");
    w.line(kColumnSource);
    w.line("y[oy * kOutW + ox] = ltrt::bicubic(x, kW, r, c);");
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
    k.line(kRowSource);
    k.line(kColumnSource);
    k.line("out[i] = ltrt::bicubic(inp + static_cast<std::int64_t>(plane) * kH * kW, kW, r, c);");
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
    w.line(kRowSource);
    w.open("for (int ox = 0; ox < kOutW; ++ox)");
    w.line(kColumnSource);
    w.line("const float g = d[oy * kOutW + ox];");
    w.line("for (int j = 0; j < 4; ++j)  // torch's order: the columns, then the rows");
    w.line("  for (int k = 0; k < 4; ++k) dx[r.i[k] * kW + c.i[j]] += g * r.w[k] * c.w[j];");
    w.close();
    w.close();
    w.close();
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const PoolSizes s = upsample_backward_sizes(n, g);
    CodeWriter& k = e.kernels;
    k.line();
    k.line("// A thread per input gathers the outputs that read it, in the CPU's order (rows, columns, then");
    k.line("// the taps): the sources grow with the output, so each walk starts a little before the first");
    k.line("// output that can reach this input (its last tap, base + 2) and stops past the last (its first).");
    open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ dinp", "const float* __restrict__ dout"},
                        [&](CodeWriter& c) {
                          write_pool_sizes(c, s, false);
                          write_interpolation_constants(c, n);
                        });
    k.line("const int plane = i / (kH * kW), iy = i / kW % kH, ix = i % kW;");
    k.line("const float* d = dout + static_cast<std::int64_t>(plane) * kOutH * kOutW;");
    k.line("float sum = 0.0f;");
    const auto first = [](const std::string& ratio, const std::string& index) {
      return ratio + " > 0.0f ? std::max(0, static_cast<int>((" + index + " - 2) / " + ratio + ") - 2) : 0";
    };
    k.open("for (int oy = " + first("kRatioH", "iy") + "; oy < kOutH; ++oy)");
    k.line(kRowSource);
    k.line("if (r.base - 1 > iy) break;");
    k.line("if (r.i[0] != iy && r.i[1] != iy && r.i[2] != iy && r.i[3] != iy) continue;");
    k.open("for (int ox = " + first("kRatioW", "ix") + "; ox < kOutW; ++ox)");
    k.line(kColumnSource);
    k.line("if (c.base - 1 > ix) break;");
    k.line("const float g = d[oy * kOutW + ox];");
    k.line("for (int j = 0; j < 4; ++j)");
    k.line("  for (int k = 0; k < 4; ++k)");
    k.line("    if (c.i[j] == ix && r.i[k] == iy) sum += g * r.w[k] * c.w[j];");
    k.close();
    k.close();
    k.line("dinp[i] = sum;");
    k.close();
    e.body.line(constexpr_int("kInputs", s.channels * s.h * s.w, "per sample"));
    emit_count_launch(e.body, e.fn + "_kernel", "n * kInputs", {"dinp", "dout"});
  };
  ops.push_back(std::move(b));
}

}  // namespace ltgen
