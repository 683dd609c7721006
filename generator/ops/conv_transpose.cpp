/// \file
/// ConvTranspose2d, ConvTranspose1d and ConvTranspose3d (torch.nn): the gradient of a convolution with respect to
/// its input, used forward. Its "mirror" is the Conv2d that maps this layer's output shape back to
/// its input shape with the same kernel, stride, padding, dilation and groups; torch's weight
/// (in, out / groups, kh, kw) is exactly that convolution's weight. So each product is one of the
/// convolution's (conv.hpp), with the tensors' roles swapped:
///   output            = the mirror's input gradient of this layer's input (col2im of weight^T @ x)
///   input gradient    = the mirror's forward on the output gradient (im2col, then weight @ columns)
///   weight gradient   = the mirror's weight gradient, the input in place of its output gradient
/// and the bias gradient sums the output gradient per channel. ConvTranspose1d is the same op over
/// height 1, ConvTranspose3d the op with a depth (Conv3d's mirror). output_padding (extra rows and columns at the end) is below the stride or the
/// dilation, as torch requires; the mirror's input rows that no tap reaches hold the bias alone.
#include <cmath>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "../init_program.hpp"
#include "conv.hpp"
#include "elementwise.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

// The mirror's geometry for node `n` on this layer's input `x`; throws ShapeError for bad sizes.
ConvGeometry mirror(const Node& n, const Value& x) {
  ConvGeometry g{};
  g.dims = static_cast<int>(attr_int(n, "dims"));
  require_spatial_input(x, g.dims);
  if (x.shape[1] != attr_int(n, "in_channels"))
    throw ShapeError("expects " + std::to_string(attr_int(n, "in_channels")) + " input channels, got input " +
                     shape_str(x.shape));
  const auto& k = attr_ints(n, "kernel_size");
  const auto& s = attr_ints(n, "stride");
  const auto& p = attr_ints(n, "padding");
  const auto& op = attr_ints(n, "output_padding");
  const auto& d = attr_ints(n, "dilation");
  g.in = attr_int(n, "out_channels");
  g.out = attr_int(n, "in_channels");
  g.groups = attr_int(n, "groups");
  // Index 0 is the height, 1 the width; ConvTranspose3d's depth comes first.
  const int a = g.deep() ? 1 : 0;
  g.out_h = g.dims == 1 ? 1 : x.shape[x.shape.size() - 2];
  g.out_w = x.shape.back();
  g.kernel_h = k[a], g.kernel_w = k[a + 1], g.stride_h = s[a], g.stride_w = s[a + 1];
  g.pad_h = p[a], g.pad_w = p[a + 1], g.dilation_h = d[a], g.dilation_w = d[a + 1];
  // torch's output size: (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1.
  auto size = [&](int i, std::int64_t in, const char* dim) {
    const std::int64_t out = (in - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1;
    if (out < 1)
      throw ShapeError("the output's " + std::string(dim) + " would be " + std::to_string(out) + " (input " +
                       std::to_string(in) + ", kernel " + std::to_string(k[i]) + ", stride " + std::to_string(s[i]) +
                       ", padding " + std::to_string(p[i]) + "): make padding smaller");
    return out;
  };
  if (g.deep()) {
    g.out_d = x.shape[2];
    g.kernel_d = k[0], g.stride_d = s[0], g.pad_d = p[0], g.dilation_d = d[0];
    g.d = size(0, g.out_d, "depth");
  }
  g.h = size(a, g.out_h, "height");
  g.w = size(a + 1, g.out_w, g.dims == 1 ? "length" : "width");
  return g;
}

Shape out_shape(const ConvGeometry& g, std::int64_t batch) {
  if (g.dims == 1) return {batch, g.in, g.w};
  if (g.deep()) return {batch, g.in, g.d, g.h, g.w};
  return {batch, g.in, g.h, g.w};
}

// The floats of one channel of the mirror's input (this layer's output): "kH * kW", or with a depth.
std::string plane(const ConvGeometry& g) { return g.deep() ? "kD * kH * kW" : "kH * kW"; }

// The sizes' names are the mirror convolution's: say so where the generated code reads them.
void write_sizes(CodeWriter& w, const ConvGeometry& g) {
  if (g.deep()) {
    w.line("// The sizes of the Conv3d this layer is the input gradient of: its input (kIn, kD, kH, kW) is this");
    w.line("// layer's output, its output (kOut, kOutD, kOutH, kOutW) this layer's input; weight (kOut, kPatch).");
  } else {
    w.line("// The sizes of the Conv2d this layer is the input gradient of: its input (kIn, kH, kW) is this");
    w.line("// layer's output, its output (kOut, kOutH, kOutW) this layer's input; weight (kOut, kPatch).");
  }
  write_conv_sizes(w, g);
}

// Per sample: columns_g = weight_g^T @ x_g, then added to the output's pixels (col2im) over the bias.
void emit_forward(CodeWriter& w, const Node& n, const Graph& gr) {
  const ConvGeometry g = mirror(n, gr.value(n.inputs[0]));
  const bool bias = attr_bool(n, "bias");
  write_sizes(w, g);
  epilogue_constants(w, n);
  w.open("for (int i = 0; i < n; ++i)");
  w.line("const float* x = inp + i * kOut * kPixels;");
  w.line("float* y = out + i * " + conv_input_size(g) + ";");
  w.open("for (int g = 0; g < kGroups; ++g)");
  w.line("ltrt::sgemm(true, false, kPatch, kPixels, kOutPerGroup, weight + g * kOutPerGroup * kPatch,");
  w.line("            x + g * kOutPerGroup * kPixels, 0.0f, columns + g * kPatch * kPixels);  // weight_g^T @ x_g");
  w.close();
  if (bias)
    w.line("for (int c = 0; c < kIn; ++c) std::fill(y + c * " + plane(g) + ", y + (c + 1) * " + plane(g) +
           ", bias[c]);");
  else
    w.line("std::fill(y, y + " + conv_input_size(g) + ", 0.0f);");
  write_col2im(w, g, "y");
  if (!n.epilogue.empty())
    w.line("for (int p = 0; p < " + conv_input_size(g) + "; ++p) y[p] = " + apply_epilogue(n, "y[p]") + ";");
  w.close();
}

// Per sample: columns = im2col(dy); dx_g = weight_g @ columns_g; dweight_g (+)= x_g @ columns_g^T.
void emit_backward(CodeWriter& w, const Node& n, const Graph& gr) {
  const ConvGeometry g = mirror(n, gr.value(n.inputs[1]));
  const bool bias = attr_bool(n, "bias");
  const bool need_dinp = attr_bool(n, "need_dinp");
  write_sizes(w, g);
  if (attr_int(n, "dweight_splits") > 1)
    w.line("static_cast<void>(partials);  // CUDA's partial sums of dweight: here the sums go straight to it");
  w.line("if (!accumulate) std::fill(dweight, dweight + kOut * kPatch, 0.0f);");
  w.open("for (int i = 0; i < n; ++i)");
  w.line("const float* dy = dout + i * " + conv_input_size(g) + ";");
  w.line("const float* x = inp + i * kOut * kPixels;");
  write_im2col(w, g, "dy");
  w.open("for (int g = 0; g < kGroups; ++g)");
  if (need_dinp) {
    w.line("ltrt::sgemm(false, false, kOutPerGroup, kPixels, kPatch, weight + g * kOutPerGroup * kPatch,");
    w.line("            columns + g * kPatch * kPixels, 0.0f, dinp + (i * kOut + g * kOutPerGroup) * kPixels);"
           "  // dx_g = weight_g @ columns_g");
  }
  w.line("ltrt::sgemm(false, true, kOutPerGroup, kPatch, kPixels, x + g * kOutPerGroup * kPixels,");
  w.line("            columns + g * kPatch * kPixels, 1.0f, dweight + g * kOutPerGroup * kPatch);"
         "  // dweight_g += x_g @ columns_g^T");
  w.close();
  w.close();
  if (bias) {
    w.line("if (!accumulate) std::fill(dbias, dbias + kIn, 0.0f);");
    w.open("for (int i = 0; i < n; ++i)");
    w.open("for (int c = 0; c < kIn; ++c)");
    w.line("for (int p = 0; p < " + plane(g) + "; ++p) dbias[c] += dout[(i * kIn + c) * " + plane(g) + " + p];");
    w.close();
    w.close();
  }
}

void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& gr) {
  const ConvGeometry g = mirror(n, gr.value(n.inputs[0]));
  const bool bias = attr_bool(n, "bias");
  const std::string type = e.fn + "_gemm";
  e.kernels.line();
  e.kernels.line(std::string("// ConvTranspose: out is the input gradient of the ") + (g.deep() ? "Conv3d" : "Conv2d") +
                 " whose sizes follow, taken of inp.");
  write_conv_dinp_gemm(e.kernels, type, g, "out", "inp", bias ? "bias" : "", &n);
  e.body.line("static_cast<void>(columns);  // the CPU's col2im scratch: the GEMM gathers from inp");
  write_conv_gemm_launch(e.body, type, "gemm", std::string("out, inp, weight, ") + (bias ? "bias, " : "") + "n");
}

void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& gr) {
  const Value& x = gr.value(n.inputs[1]);
  const ConvGeometry g = mirror(n, x);
  const bool bias = attr_bool(n, "bias");
  const std::int64_t splits = attr_int(n, "dweight_splits");
  CodeWriter& k = e.kernels;
  CodeWriter& w = e.body;
  const std::string dinp = e.fn + "_dinp_gemm", dweight = e.fn + "_dweight_gemm";
  k.line();
  k.line(std::string("// ConvTranspose's gradients, with the sizes of the ") + (g.deep() ? "Conv3d" : "Conv2d") +
         " it is the input gradient of: dinp is that");
  k.line("// convolution of dout, dweight its weight gradient with inp in place of its output gradient.");
  if (attr_bool(n, "need_dinp")) write_conv_forward_gemm(k, dinp, g, nullptr, "dinp", "dout", false);
  write_conv_dweight_gemm(k, dweight, e.fn + "_dweight_sum_kernel", g, splits, false, "inp", "dout");
  if (bias) {
    k.line();
    k.line("// dbias[c] (+)= the sum of dout over the batch's pixels of channel c, in order: a thread per");
    k.line("// channel. TUNE: a block per channel with a fixed-order tree.");
    open_element_kernel(k, e.fn + "_dbias_kernel",
                        {"float* __restrict__ dbias", "const float* __restrict__ dout", "int n", "bool accumulate"},
                        [&](CodeWriter& c) { c.line("using Gemm = " + dweight + ";"); });
    k.line(g.deep() ? "constexpr int kPlane = Gemm::kD * Gemm::kH * Gemm::kW;" : "constexpr int kPlane = Gemm::kH * Gemm::kW;");
    k.line("float sum = 0.0f;");
    k.line("for (int s = 0; s < n; ++s)");
    k.line("  for (int p = 0; p < kPlane; ++p) sum += dout[(s * Gemm::kIn + i) * kPlane + p];");
    k.line("dbias[i] = accumulate ? dbias[i] + sum : sum;");
    k.close();
  }

  w.line("static_cast<void>(columns);  // the CPU's im2col scratch: the GEMMs read the patches from dout");
  if (attr_bool(n, "need_dinp")) write_conv_gemm_launch(w, dinp, "dinp_gemm", "dinp, dout, weight, n");
  if (splits > 1) {
    write_conv_gemm_launch(w, dweight, "dweight_gemm", "partials, inp, dout, n");
    emit_count_launch(w, e.fn + "_dweight_sum_kernel", dweight + "::kOut * " + dweight + "::kCols",
                      {"dweight", "partials", "accumulate"});
  } else {
    write_conv_gemm_launch(w, dweight, "dweight_gemm", "dweight, inp, dout, accumulate, n");
  }
  if (bias)  // (a count of its own: the sum kernel above may have declared `count`)
    emit_launch(w, e.fn + "_dbias_kernel", "ltrt::cuda::blocks_for(" + dweight + "::kIn, kThreads)", "kThreads",
                {"dbias", "dout", "n", "accumulate", dweight + "::kIn"});
}

LayerDef conv_transpose_layer(int dims) {
  LayerDef l;
  l.torch_type = "ConvTranspose" + std::to_string(dims) + "d";
  ArgDef in{"in_channels", ArgType::integer, std::nullopt, true};
  in.min = 1;
  ArgDef out{"out_channels", ArgType::integer, std::nullopt};
  out.min = 1;
  ArgDef groups{"groups", ArgType::integer, Attr{std::int64_t{1}}};
  groups.min = 1;
  ArgDef mode{"padding_mode", ArgType::string, Attr{std::string("zeros")}};
  mode.choices = {"zeros"};  // torch's ConvTranspose refuses the others
  // torch's constructor order: the --emit lightning script passes them by name in this order.
  l.args = {in,
            out,
            tuple_arg("kernel_size", std::nullopt, 1, dims),
            tuple_arg("stride", Attr{std::int64_t{1}}, 1, dims),
            tuple_arg("padding", Attr{std::int64_t{0}}, 0, dims),
            tuple_arg("output_padding", Attr{std::int64_t{0}}, 0, dims),
            groups,
            {"bias", ArgType::boolean, Attr{true}},
            tuple_arg("dilation", Attr{std::int64_t{1}}, 1, dims),
            mode};
  l.build = [dims](LayerBuild& b, const std::vector<int>& inputs) {
    const Value& x = b.graph.value(inputs.at(0));
    require_spatial_input(x, dims);
    const std::int64_t channels = check_conv_channels(b.args, x);
    const std::int64_t out_channels = std::get<std::int64_t>(b.args.at("out_channels"));
    const std::int64_t groups = std::get<std::int64_t>(b.args.at("groups"));
    // ConvTranspose1d's sizes become the width of a height-1 ConvTranspose2d; ConvTranspose3d's keep
    // their depth first.
    auto pair = [dims](const Attr& a, std::int64_t height) {
      const std::vector<std::int64_t> v = expand_tuple(a, dims);
      return dims != 1 ? v : std::vector<std::int64_t>{height, v.at(0)};
    };
    const auto stride = pair(b.args.at("stride"), 1);
    const auto dilation = pair(b.args.at("dilation"), 1);
    const auto output_padding = pair(b.args.at("output_padding"), 0);
    for (std::size_t i = 0; i < output_padding.size(); ++i) {
      if (output_padding[i] >= std::max(stride[i], dilation[i]))
        throw ShapeError("output_padding must be smaller than either stride or dilation (torch's rule), got "
                         "output_padding " + std::to_string(output_padding[i]) + ", stride " +
                         std::to_string(stride[i]) + ", dilation " + std::to_string(dilation[i]));
    }
    Node n;
    n.op = "conv_transpose2d";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["dims"] = std::int64_t{dims};
    n.attrs["in_channels"] = channels;
    n.attrs["out_channels"] = out_channels;
    n.attrs["kernel_size"] = pair(b.args.at("kernel_size"), 1);
    n.attrs["stride"] = stride;
    n.attrs["padding"] = pair(b.args.at("padding"), 0);
    n.attrs["output_padding"] = output_padding;
    n.attrs["dilation"] = dilation;
    n.attrs["groups"] = groups;
    n.attrs["bias"] = std::get<bool>(b.args.at("bias"));
    const ConvGeometry g = mirror(n, x);
    n.inputs = {inputs.at(0), add_param(b.graph, b.layer + ".weight", conv_weight_shape(g))};
    if (std::get<bool>(b.args.at("bias"))) n.inputs.push_back(add_param(b.graph, b.layer + ".bias", {out_channels}));
    // PyTorch's default: kaiming_uniform_(a=sqrt(5)) for the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    // for the bias, where torch's fan_in of the (in, out / groups, kh, kw) weight is
    // out / groups * kh * kw (ConvTranspose3d's: * kd): the mirror's patch.
    b.graph.value(n.inputs[1]).init_bound = kaiming_uniform_bound(g.patch());
    if (n.inputs.size() > 2) b.graph.value(n.inputs[2]).init_bound = fan_in_bound(g.patch());
    n.outputs = {-1, add_scratch(b.graph, cpp_name(b.layer) + "_columns", conv_columns_shape(g))};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  return l;
}

}  // namespace

void register_conv_transpose(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "conv_transpose2d";
  // Activations after it (and bf16-mixed's rounding) are applied as each output is stored, as
  // Conv2d's; one that needs its input in backward is not fused.
  f.accepts_epilogue = true;
  f.infer = [](const Node& n, const Graph& gr) {
    const Value& x = gr.value(n.inputs.at(0));
    const ConvGeometry g = mirror(n, x);
    return std::vector<OutputType>{{x.dtype, out_shape(g, x.shape[0]), true},
                                   {DType::f32, conv_columns_shape(g), false}};
  };
  f.slots = [](const Node& n) {
    Slots s{{"out", "columns"}, {"inp", "weight"}};
    if (attr_bool(n, "bias")) s.inputs.push_back("bias");
    return s;
  };
  f.cost = [](const Node& n, const Graph& gr) {
    const Value& x = gr.value(n.inputs[0]);
    const ConvGeometry g = mirror(n, x);
    const double batch = static_cast<double>(x.shape[0]);
    const double outs = batch * static_cast<double>(g.in * g.d * g.h * g.w);
    const double weights = static_cast<double>(g.out * g.patch());
    return Cost{2 * batch * static_cast<double>(g.macs_per_sample()) + outs,
                4 * (static_cast<double>(numel(x.shape)) + weights + outs)};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  // The bias gradient is a kernel of its own, not a column of the weight gradient's GEMM: that GEMM
  // sums over this layer's input pixels, the bias over its output's.
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return add_conv_backward(ad, n, dout, "conv_transpose2d_backward", mirror(n, ad.graph.value(n.inputs[0])), false);
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "conv_transpose2d_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& gr) {
    const Value& x = gr.value(n.inputs.at(1));
    const ConvGeometry g = mirror(n, x);
    return conv_backward_outputs(n, x, g, g.in, false);
  };
  b.slots = conv_backward_slots;
  b.cost = [](const Node& n, const Graph& gr) {
    const Value& x = gr.value(n.inputs[1]);
    const ConvGeometry g = mirror(n, x);
    const double batch = static_cast<double>(x.shape[0]);
    const double outs = batch * static_cast<double>(g.in * g.d * g.h * g.w);
    const double weights = static_cast<double>(g.out * g.patch());
    const double passes = attr_bool(n, "need_dinp") ? 2 : 1;
    return Cost{passes * 2 * batch * static_cast<double>(g.macs_per_sample()) + outs,
                4 * (outs * passes + static_cast<double>(numel(x.shape)) + weights * 3)};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  layers.push_back(conv_transpose_layer(1));
  layers.push_back(conv_transpose_layer(2));
  layers.push_back(conv_transpose_layer(3));
}

}  // namespace ltgen
