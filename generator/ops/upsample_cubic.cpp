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

PoolSizes forward_sizes(const Node& n, const Value& x) {
  require_spatial_input(x, 2);
  const auto& out = attr_ints(n, "out_size");
  return PoolSizes{x.shape[1], x.shape[2], x.shape[3], out[0], out[1]};
}

PoolSizes backward_sizes(const Node& n, const Graph& g) {
  const Shape in = pool_input_shape(n, 0);
  const Shape& out = g.value(n.inputs[0]).shape;
  return PoolSizes{in[1], in[2], in[3], out[2], out[3]};
}

const std::string kRowSource = "const ltrt::CubicSource r = ltrt::cubic_source(kRatioH, oy, kH, kAlignCorners);";
const std::string kColumnSource = "const ltrt::CubicSource c = ltrt::cubic_source(kRatioW, ox, kW, kAlignCorners);";

}  // namespace

void register_upsample_cubic(std::vector<OpDef>& ops) {
  OpDef f;
  f.name = "upsample_bicubic2d";
  f.cpu_runtime_includes = {"<ltrt/cubic_interpolation.hpp>"};
  f.cuda_runtime_includes = {"<ltrt/cubic_interpolation.hpp>"};
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const PoolSizes s = forward_sizes(n, x);
    return std::vector<OutputType>{{x.dtype, {x.shape[0], s.channels, s.out_h, s.out_w}, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const PoolSizes s = forward_sizes(n, x);
    const double outs = static_cast<double>(x.shape[0] * s.channels * s.out_h * s.out_w);
    return Cost{outs * 40, 4 * (static_cast<double>(numel(x.shape)) + outs)};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, forward_sizes(n, g.value(n.inputs[0])));
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
    const PoolSizes s = forward_sizes(n, g.value(n.inputs[0]));
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
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return pool_backward(ad, n, dout, "upsample_bicubic2d_backward");
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "upsample_bicubic2d_backward";
  b.cpu_runtime_includes = {"<ltrt/cubic_interpolation.hpp>"};
  b.cuda_runtime_includes = {"<ltrt/cubic_interpolation.hpp>"};
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{d.dtype, pool_input_shape(n, d.shape[0]), true}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double outs = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    const double ins = static_cast<double>(numel(pool_input_shape(n, g.value(n.inputs[0]).shape[0])));
    return Cost{outs * 48, 4 * (ins + outs)};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, backward_sizes(n, g));
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
    const PoolSizes s = backward_sizes(n, g);
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
