#include "spatial.hpp"

#include "../autodiff.hpp"

namespace ltgen {

ArgDef tuple_arg(const std::string& name, std::optional<Attr> default_value, double min, int size) {
  ArgDef a{name, ArgType::integer_tuple, std::move(default_value)};
  a.min = min;
  a.tuple_size = size;
  return a;
}

std::vector<std::int64_t> expand_tuple(const Attr& a, int size) {
  if (const auto* v = std::get_if<std::vector<std::int64_t>>(&a)) return *v;
  return std::vector<std::int64_t>(static_cast<size_t>(size), std::get<std::int64_t>(a));
}

void require_spatial_input(const Value& x, int spatial_dims) {
  if (static_cast<int>(x.shape.size()) == spatial_dims + 2) return;
  const std::string want = spatial_dims == 1 ? "(batch, C, L)" : spatial_dims == 2 ? "(batch, C, H, W)" : "(batch, C, D, H, W)";
  const std::string per_sample = spatial_dims == 1 ? "[C, L]" : spatial_dims == 2 ? "[C, H, W]" : "[C, D, H, W]";
  throw ShapeError("expects " + want + " input, got " + shape_str(x.shape) + " (model.inputs are per sample: " +
                   per_sample + ")");
}

std::int64_t window_count(std::int64_t in, std::int64_t pad_before, std::int64_t pad_after, std::int64_t kernel,
                          std::int64_t stride, std::int64_t dilation, const std::string& dim, bool ceil_mode) {
  const std::int64_t extent = dilation * (kernel - 1) + 1;
  const std::int64_t padded = in + pad_before + pad_after;
  if (extent > padded) {
    std::string what = "the kernel (" + std::to_string(kernel);
    if (dilation != 1) what += ", dilation " + std::to_string(dilation) + ": extent " + std::to_string(extent);
    what += ") is larger than the input's " + dim + " (" + std::to_string(in);
    if (padded != in) what += " + padding = " + std::to_string(padded);
    throw ShapeError(what + ")");
  }
  if (!ceil_mode) return (padded - extent) / stride + 1;
  const std::int64_t count = (padded - extent + stride - 1) / stride + 1;
  return (count - 1) * stride >= in + pad_before ? count - 1 : count;
}

std::string constexpr_int(const std::string& name, std::int64_t v, const std::string& comment) {
  return "constexpr int " + name + " = " + std::to_string(v) + ";" + (comment.empty() ? "" : "  // " + comment);
}

}  // namespace ltgen

namespace ltgen {

void set_window_attrs(Node& n, const Attrs& args, bool with_dilation) {
  const auto kernel = expand_tuple(args.at("kernel_size"));
  auto stride = args.count("stride") ? expand_tuple(args.at("stride")) : kernel;
  const auto padding = expand_tuple(args.at("padding"));
  for (int i = 0; i < 2; ++i)
    if (padding[i] > kernel[i] / 2)
      throw ShapeError("padding " + attr_repr(args.at("padding")) + " must be at most half the kernel " +
                       attr_repr(args.at("kernel_size")) + " (as torch)");
  n.attrs["kernel_size"] = kernel;
  n.attrs["stride"] = stride;
  n.attrs["padding"] = padding;
  if (with_dilation) n.attrs["dilation"] = expand_tuple(args.at("dilation"));
  if (std::get<bool>(args.at("ceil_mode"))) n.attrs["ceil_mode"] = true;
}

PoolSizes window_pool_sizes(const Node& n, const Value& x) {
  require_spatial_input(x, 2);
  const auto& k = attr_ints(n, "kernel_size");
  const auto& s = attr_ints(n, "stride");
  const auto& p = attr_ints(n, "padding");
  const std::vector<std::int64_t> d = n.attrs.count("dilation") ? attr_ints(n, "dilation") : std::vector<std::int64_t>{1, 1};
  PoolSizes z{x.shape[1], x.shape[2], x.shape[3], 0, 0};
  const bool ceil = n.attrs.count("ceil_mode") && attr_bool(n, "ceil_mode");
  z.out_h = window_count(z.h, p[0], p[0], k[0], s[0], d[0], "height", ceil);
  z.out_w = window_count(z.w, p[1], p[1], k[1], s[1], d[1], "width", ceil);
  return z;
}

void write_pool_sizes(CodeWriter& w, const PoolSizes& s, bool with_channels) {
  if (with_channels) w.line("constexpr int kChannels = " + std::to_string(s.channels) + ";  // pooled one plane at a time");
  w.line("constexpr int kH = " + std::to_string(s.h) + ", kW = " + std::to_string(s.w) + ";  // input plane");
  w.line("constexpr int kOutH = " + std::to_string(s.out_h) + ", kOutW = " + std::to_string(s.out_w) +
         ";  // output plane");
}

void write_window_sizes(CodeWriter& w, const Node& n) {
  auto pair = [&](const char* name, const char* key) {
    const auto& v = attr_ints(n, key);
    w.line(std::string("constexpr int k") + name + "H = " + std::to_string(v[0]) + ", k" + name +
           "W = " + std::to_string(v[1]) + ";");
  };
  pair("Kernel", "kernel_size");
  pair("Stride", "stride");
  pair("Pad", "padding");
  if (n.attrs.count("dilation")) pair("Dilation", "dilation");
}

std::vector<int> pool_backward(Autodiff& ad, const Node& n, const std::vector<int>& dout, const std::string& op,
                               std::vector<int> saved) {
  const int x = n.inputs[0];
  if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
  const Value& xv = ad.graph.value(x);
  Node b;
  b.op = op;
  b.layer = n.layer;
  b.source = n.source;
  b.attrs = n.attrs;
  b.attrs["input_size"] = std::vector<std::int64_t>(xv.shape.begin() + 1, xv.shape.end());
  b.inputs = {dout[0]};
  b.inputs.insert(b.inputs.end(), saved.begin(), saved.end());
  const int id = ad.add_backward(std::move(b), ad.grad_name(x));
  return std::vector<int>{ad.graph.nodes[id].outputs[0]};
}

PoolSizes upsample_sizes(const Node& n, const Value& x) {
  require_spatial_input(x, 2);
  const auto& out = attr_ints(n, "out_size");
  return PoolSizes{x.shape[1], x.shape[2], x.shape[3], out[0], out[1]};
}

PoolSizes upsample_backward_sizes(const Node& n, const Graph& g) {
  const Shape in = pool_input_shape(n, 0);
  const Shape& out = g.value(n.inputs[0]).shape;
  return PoolSizes{in[1], in[2], in[3], out[2], out[3]};
}

std::pair<OpDef, OpDef> upsample_op_pair(const std::string& name, const std::string& header,
                                         std::function<double(const Node&)> flops,
                                         std::function<double(const Node&)> backward_flops) {
  OpDef f;
  f.name = name;
  f.cpu_runtime_includes = {header};
  f.cuda_runtime_includes = {header};
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const PoolSizes s = upsample_sizes(n, x);
    return std::vector<OutputType>{{x.dtype, {x.shape[0], s.channels, s.out_h, s.out_w}, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [flops](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const PoolSizes s = upsample_sizes(n, x);
    const double outs = static_cast<double>(x.shape[0] * s.channels * s.out_h * s.out_w);
    return Cost{outs * flops(n), 4 * (static_cast<double>(numel(x.shape)) + outs)};
  };
  f.backward = [name](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return pool_backward(ad, n, dout, name + "_backward");
  };

  OpDef b;
  b.name = name + "_backward";
  b.cpu_runtime_includes = {header};
  b.cuda_runtime_includes = {header};
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{d.dtype, pool_input_shape(n, d.shape[0]), true}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout"}}; };
  b.cost = [backward_flops](const Node& n, const Graph& g) {
    const double outs = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    const double ins = static_cast<double>(numel(pool_input_shape(n, g.value(n.inputs[0]).shape[0])));
    return Cost{outs * backward_flops(n), 4 * (ins + outs)};
  };
  return {std::move(f), std::move(b)};
}

void write_interpolation_constants(CodeWriter& w, const Node& n) {
  w.line("constexpr float kRatioH = " + float_literal(static_cast<float>(attr_float(n, "ratio_h"))) +
         ", kRatioW = " + float_literal(static_cast<float>(attr_float(n, "ratio_w"))) +
         ";  // input steps per output step (torch's area_pixel_compute_scale)");
  w.line(std::string("constexpr bool kAlignCorners = ") + (attr_bool(n, "align_corners") ? "true" : "false") + ";");
}

Shape pool_input_shape(const Node& n, std::int64_t batch) {
  Shape s = {batch};
  for (auto d : attr_ints(n, "input_size")) s.push_back(d);
  return s;
}

}  // namespace ltgen
