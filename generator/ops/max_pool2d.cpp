/// \file
/// MaxPool2d (torch.nn): the largest input under each window, padding counts
/// as -inf. The forward saves where each maximum came from (torch's
/// return_indices: the flat index in its plane) as a second output, and the
/// backward adds each output's gradient there.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

// CUDA forward: a thread per output runs the CPU's scan of its window.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const PoolSizes s = window_pool_sizes(n, g.value(n.inputs[0]));
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// A thread per output scans its window as the CPU does.");
  open_element_kernel(k, e.fn + "_kernel",
                      {"float* __restrict__ out", "std::int64_t* __restrict__ indices", "const float* __restrict__ inp"},
                      [&](CodeWriter& c) {
                        write_pool_sizes(c, s, false);
                        write_window_sizes(c, n);
                      });
  k.line("const int plane = i / (kOutH * kOutW), oy = i / kOutW % kOutH, ox = i % kOutW;");
  k.line("const float* x = inp + plane * kH * kW;");
  k.line("// torch's scan: the first maximum wins and NaN propagates");
  k.line("float best = -INFINITY;");
  k.line("int best_at = -1;");
  k.open("for (int ky = 0; ky < kKernelH; ++ky)");
  k.line("const int iy = oy * kStrideH - kPadH + ky * kDilationH;");
  k.line("if (iy < 0 || iy >= kH) continue;  // padding");
  k.open("for (int kx = 0; kx < kKernelW; ++kx)");
  k.line("const int ix = ox * kStrideW - kPadW + kx * kDilationW;");
  k.line("if (ix < 0 || ix >= kW) continue;");
  k.line("const float v = x[iy * kW + ix];");
  k.open("if (best_at < 0 || v > best || std::isnan(v))");
  k.line("best = v;");
  k.line("best_at = iy * kW + ix;");
  k.close();
  k.close();
  k.close();
  k.line("out[i] = best;");
  k.line("indices[i] = best_at;");
  k.close();
  e.body.line(constexpr_int("kOutputs", s.channels * s.out_h * s.out_w, "per sample"));
  emit_count_launch(e.body, e.fn + "_kernel", "n * kOutputs", {"out", "indices", "inp"});
}

// CUDA backward: a thread per input element gathers the gradients of the windows whose maximum
// it is, in the CPU's (oy, ox) order. Scattering from each output instead needs float atomics
// where windows overlap (stride < kernel), and their order, hence the sums, would vary from run
// to run; the gather is deterministic and adds in the CPU's order.
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const Shape in = pool_input_shape(n, 0);
  const Shape& out = g.value(n.inputs[0]).shape;
  const PoolSizes s{in[1], in[2], in[3], out[2], out[3]};
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// A thread per input element gathers the gradients of the windows whose maximum it is, in the");
  k.line("// CPU's order: deterministic, where scattering from the outputs would need float atomics");
  k.line("// (windows overlap when stride < kernel) whose order, hence sums, varies from run to run.");
  open_element_kernel(k, e.fn + "_kernel",
                      {"float* __restrict__ dinp", "const float* __restrict__ dout",
                       "const std::int64_t* __restrict__ indices"},
                      [&](CodeWriter& c) {
                        write_pool_sizes(c, s, false);
                        write_window_sizes(c, n);
                      });
  k.line("const int plane = i / (kH * kW), at = i % (kH * kW), iy = at / kW, ix = at % kW;");
  k.line("// The windows that can cover (iy, ix): rows oy with oy * kStrideH - kPadH <= iy and");
  k.line("// iy <= oy * kStrideH - kPadH + (kKernelH - 1) * kDilationH, the same for columns.");
  k.line("const int oy0 = std::max(0, (iy + kPadH - (kKernelH - 1) * kDilationH + kStrideH - 1) / kStrideH);");
  k.line("const int oy1 = std::min(kOutH - 1, (iy + kPadH) / kStrideH);");
  k.line("const int ox0 = std::max(0, (ix + kPadW - (kKernelW - 1) * kDilationW + kStrideW - 1) / kStrideW);");
  k.line("const int ox1 = std::min(kOutW - 1, (ix + kPadW) / kStrideW);");
  k.line("const int first = plane * kOutH * kOutW;  // the plane's first output");
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

void register_max_pool2d(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "max_pool2d";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const PoolSizes s = window_pool_sizes(n, x);
    const Shape out = {x.shape[0], s.channels, s.out_h, s.out_w};
    return std::vector<OutputType>{{x.dtype, out, true}, {DType::i64, out, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out", "indices"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const PoolSizes s = window_pool_sizes(n, x);
    const auto& k = attr_ints(n, "kernel_size");
    const double outs = static_cast<double>(x.shape[0] * s.channels * s.out_h * s.out_w);
    return Cost{outs * static_cast<double>(k[0] * k[1]), 4 * static_cast<double>(numel(x.shape)) + outs * 12};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_pool_sizes(w, window_pool_sizes(n, g.value(n.inputs[0])));
    write_window_sizes(w, n);
    const Value& x = g.value(n.inputs[0]);
    open_split_loop(w, "plane", "n * kChannels", numel(x.shape) / (x.shape[0] * x.shape[1]), SplitIndex::rows);
    w.line("const float* x = inp + plane * kH * kW;");
    w.open("for (int oy = 0; oy < kOutH; ++oy)");
    w.open("for (int ox = 0; ox < kOutW; ++ox)");
    w.line("// torch's scan: the first maximum wins and NaN propagates");
    w.line("float best = -INFINITY;");
    w.line("int best_at = -1;");
    w.open("for (int ky = 0; ky < kKernelH; ++ky)");
    w.line("const int iy = oy * kStrideH - kPadH + ky * kDilationH;");
    w.line("if (iy < 0 || iy >= kH) continue;  // padding");
    w.open("for (int kx = 0; kx < kKernelW; ++kx)");
    w.line("const int ix = ox * kStrideW - kPadW + kx * kDilationW;");
    w.line("if (ix < 0 || ix >= kW) continue;");
    w.line("const float v = x[iy * kW + ix];");
    w.open("if (best_at < 0 || v > best || std::isnan(v))");
    w.line("best = v;");
    w.line("best_at = iy * kW + ix;");
    w.close();
    w.close();
    w.close();
    w.line("out[(plane * kOutH + oy) * kOutW + ox] = best;");
    w.line("indices[(plane * kOutH + oy) * kOutW + ox] = best_at;");
    w.close();
    w.close();
    close_split_loop(w);
  };
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return pool_backward(ad, n, dout, "max_pool2d_backward", {n.outputs[1]});
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "max_pool2d_backward";
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
  l.torch_type = "MaxPool2d";
  ArgDef stride = tuple_arg("stride", std::nullopt, 1);
  stride.inferred = true;  // None: the kernel size
  ArgDef return_indices{"return_indices", ArgType::boolean, Attr{false}};
  return_indices.unsupported = "return_indices=True";
  ArgDef ceil_mode{"ceil_mode", ArgType::boolean, Attr{false}};
  l.args = {tuple_arg("kernel_size", std::nullopt, 1),
            stride,
            tuple_arg("padding", Attr{std::int64_t{0}}, 0),
            tuple_arg("dilation", Attr{std::int64_t{1}}, 1),
            return_indices,
            ceil_mode};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    require_spatial_input(b.graph.value(in.at(0)), 2);
    Node n;
    n.op = "max_pool2d";
    n.layer = b.layer;
    n.source = b.source;
    set_window_attrs(n, b.args, true);
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
