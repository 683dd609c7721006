/// \file
/// The padding layers of torch.nn on the last dimension (the 1d ones: ZeroPad1d, ConstantPad1d,
/// ReflectionPad1d, ReplicationPad1d, CircularPad1d, `padding` an int or (left, right)) or the last
/// two (the 2d ones, (left, right, top, bottom)), and the padding of a convolution whose
/// padding_mode is not 'zeros' (add_pad). The 3d ones ((left, right, top, bottom, front, back)) pad
/// each (C, D) plane's rows and columns, then the depth of the (D, H' * W') view: every mode maps
/// each coordinate alone, so the two passes copy what torch's one does, and an input's gradient
/// adds the same outputs' (in another order where more than two read it: a rounding apart). Output element (oh, ow) of a plane reads input (ih, iw),
/// each coordinate mapped from its padded one o (pad lo before it, input size S) as torch does:
///   constant:  o - lo, and `value` (0 for ZeroPad) where that falls outside the input (a negative
///              padding crops, as torch's);
///   reflect:   i = o - lo, then -i below 0 and 2 (S - 1) - i past the end (the edge not repeated);
///   replicate: o - lo clamped to [0, S - 1];
///   circular:  o - lo wrapped once: + S below 0, - S past the end (torch wraps at most once).
/// The backward gathers: each input element adds the gradients of the outputs that read it (its
/// own position, then the padding positions that map to it, in a fixed order), so both devices
/// sum alike and without atomics.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

// The sizes: planes per sample, the input's H x W (H 1 for the 1d layers) and the padding.
void write_sizes(CodeWriter& w, const Node& n) {
  const auto& pads = attr_ints(n, "pads");  // left, right, top, bottom
  const std::int64_t h = attr_int(n, "in_h"), wd = attr_int(n, "in_w");
  w.line("constexpr int kPlanes = " + std::to_string(attr_int(n, "planes")) + ";  // per sample");
  w.line("constexpr int kH = " + std::to_string(h) + ", kW = " + std::to_string(wd) + ";  // the input's plane");
  w.line("constexpr int kLeft = " + std::to_string(pads[0]) + ", kRight = " + std::to_string(pads[1]) +
         ", kTop = " + std::to_string(pads[2]) + ", kBottom = " + std::to_string(pads[3]) + ";");
  w.line("constexpr int kOutH = kH + kTop + kBottom, kOutW = kW + kLeft + kRight;");
}

// `source(o, lo, size)`: the input coordinate that padded coordinate o reads (constant mode: -1
// where it reads `value`).
void write_source(CodeWriter& w, const Node& n) {
  const std::string& mode = attr_str(n, "mode");
  w.open("const auto source = [](int o, int lo, int size)");
  w.line("const int i = o - lo;");
  if (mode == "constant") w.line("return i >= 0 && i < size ? i : -1;  // outside: the padding value");
  else if (mode == "reflect") w.line("return i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i);  // mirrored at the edges");
  else if (mode == "circular") w.line("return i < 0 ? i + size : (i >= size ? i - size : i);  // wrapped around");
  else w.line("return i < 0 ? 0 : (i >= size ? size - 1 : i);  // the edge repeated");
  w.close(";");
}

// The value of output element (p, oh, ow) (p, oh, ow in scope).
void write_output_value(CodeWriter& w, const Node& n, const std::string& store) {
  w.line("const int ih = source(oh, kTop, kH), iw = source(ow, kLeft, kW);");
  if (attr_str(n, "mode") == "constant") {
    w.line("constexpr float kValue = " + float_literal(attr_float(n, "value")) + ";");
    w.line(store + " = ih < 0 || iw < 0 ? kValue : inp[(static_cast<std::int64_t>(p) * kH + ih) * kW + iw];");
  } else {
    w.line(store + " = inp[(static_cast<std::int64_t>(p) * kH + ih) * kW + iw];");
  }
}

// dinp of input element (p, ih, iw): its own output's gradient, then (reflect, replicate) those of
// the padding rows and columns that read it: candidate a = 0 is the position itself, 1 .. lo the
// padding before, then the padding after.
void write_input_gradient(CodeWriter& w, const Node& n, const std::string& store) {
  w.line("const float* plane = dout + static_cast<std::int64_t>(p) * kOutH * kOutW;");
  if (attr_str(n, "mode") == "constant") {  // (a negative padding crops: those inputs get no gradient)
    w.line("const int oh = ih + kTop, ow = iw + kLeft;");
    w.line(store + " = oh >= 0 && oh < kOutH && ow >= 0 && ow < kOutW ? plane[oh * kOutW + ow] : 0.0f;");
    return;
  }
  w.line("const auto candidate = [](int a, int i, int lo, int size) { return a == 0 ? i + lo : (a <= lo ? a - 1 : size + a - 1); };");
  w.line("float sum = 0.0f;");
  w.open("for (int a = 0; a <= kTop + kBottom; ++a)");
  w.line("const int oh = candidate(a, ih, kTop, kH);");
  w.line("if (a > 0 && source(oh, kTop, kH) != ih) continue;");
  w.open("for (int c = 0; c <= kLeft + kRight; ++c)");
  w.line("const int ow = candidate(c, iw, kLeft, kW);");
  w.line("if (c > 0 && source(ow, kLeft, kW) != iw) continue;");
  w.line("sum += plane[oh * kOutW + ow];");
  w.close();
  w.close();
  w.line(store + " = sum;");
}

void emit_forward(CodeWriter& w, const Node& n, const Graph&) {
  write_sizes(w, n);
  write_source(w, n);
  open_split_loop(w, "p", "n * kPlanes", attr_int(n, "in_h") * attr_int(n, "in_w"), SplitIndex::rows);
  w.open("for (int oh = 0; oh < kOutH; ++oh)");
  w.open("for (int ow = 0; ow < kOutW; ++ow)");
  write_output_value(w, n, "out[(static_cast<std::int64_t>(p) * kOutH + oh) * kOutW + ow]");
  w.close();
  w.close();
  close_split_loop(w);
}

void emit_backward(CodeWriter& w, const Node& n, const Graph&) {
  write_sizes(w, n);
  if (attr_str(n, "mode") != "constant") write_source(w, n);
  open_split_loop(w, "p", "n * kPlanes", attr_int(n, "in_h") * attr_int(n, "in_w"), SplitIndex::rows);
  w.open("for (int ih = 0; ih < kH; ++ih)");
  w.open("for (int iw = 0; iw < kW; ++iw)");
  write_input_gradient(w, n, "dinp[(static_cast<std::int64_t>(p) * kH + ih) * kW + iw]");
  w.close();
  w.close();
  close_split_loop(w);
}

// CUDA: a thread per output element (forward) or input element (backward), the same code.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph&) {
  CodeWriter& k = e.kernels;
  k.line();
  open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ out", "const float* __restrict__ inp"},
                      [&](CodeWriter& c) {
                        write_sizes(c, n);
                        write_source(c, n);
                      });
  k.line("const int p = i / (kOutH * kOutW), oh = i / kOutW % kOutH, ow = i % kOutW;");
  write_output_value(k, n, "out[i]");
  k.close();
  e.body.line("constexpr int kOutPlane = " +
              std::to_string(attr_int(n, "planes") * (attr_int(n, "in_h") + attr_ints(n, "pads")[2] + attr_ints(n, "pads")[3]) *
                             (attr_int(n, "in_w") + attr_ints(n, "pads")[0] + attr_ints(n, "pads")[1])) +
              ";  // output elements per sample");
  emit_count_launch(e.body, e.fn + "_kernel", "n * kOutPlane", {"out", "inp"});
}

void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph&) {
  CodeWriter& k = e.kernels;
  k.line();
  open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ dinp", "const float* __restrict__ dout"},
                      [&](CodeWriter& c) {
                        write_sizes(c, n);
                        if (attr_str(n, "mode") != "constant") write_source(c, n);
                      });
  k.line("const int p = i / (kH * kW), ih = i / kW % kH, iw = i % kW;");
  write_input_gradient(k, n, "dinp[i]");
  k.close();
  e.body.line("constexpr int kInPlane = " +
              std::to_string(attr_int(n, "planes") * attr_int(n, "in_h") * attr_int(n, "in_w")) +
              ";  // input elements per sample");
  emit_count_launch(e.body, e.fn + "_kernel", "n * kInPlane", {"dinp", "dout"});
}

// A padding layer: `dims` padded dimensions (1, 2 or 3), `mode`, and for the constant ones a value
// argument (ConstantPad) or 0 (ZeroPad).
LayerDef pad_layer(const std::string& type, int dims, const std::string& mode, bool value_arg) {
  LayerDef l;
  l.torch_type = type;
  ArgDef padding{"padding", ArgType::integer_tuple, std::nullopt};
  padding.tuple_size = 2 * dims;
  if (mode != "constant") padding.min = 0;  // the constant pads crop with negative padding, as torch's
  l.args = {padding};
  if (value_arg) l.args.push_back({"value", ArgType::number, std::nullopt});
  l.build = [dims, mode](LayerBuild& b, const std::vector<int>& in) {
    std::vector<std::int64_t> pads = expand_tuple(b.args.at("padding"), 2 * dims);  // left, right[, top, bottom[, front, back]]
    const double value = mode == "constant" && b.args.count("value") ? std::get<double>(b.args.at("value")) : 0.0;
    return add_pad(b.graph, b.layer, b.source, in.at(0), dims, mode, pads, value);
  };
  return l;
}

// Throws where torch refuses `pads` (the last dimension's pair first, `dims` pairs) on `shape` in
// `mode`: an output dimension cropped to nothing; a reflection not less than the size; a circular
// padding past it (it wraps once).
void check_pads(const Shape& shape, int dims, const std::string& mode, const std::vector<std::int64_t>& pads) {
  const std::size_t rank = shape.size();
  auto size = [&](int pad) { return shape[rank - 1 - static_cast<std::size_t>(pad / 2)]; };  // the padded dimension's
  for (int d = 0; d < 2 * dims; d += 2) {
    if (size(d) + pads[d] + pads[d + 1] >= 1) continue;
    std::string given = "[";  // as the spec writes it
    for (int i = 0; i < 2 * dims; ++i) given += (i ? ", " : "") + std::to_string(pads[i]);
    throw ShapeError("the padding " + given + "] crops the input " + shape_str(shape) +
                     " to nothing: the output's size must stay positive");
  }
  for (int d = 0; d < 2 * dims; ++d) {
    if (mode == "reflect" && pads[d] >= size(d))
      throw ShapeError("padding " + std::to_string(pads[d]) + " must be less than the input's size " +
                       std::to_string(size(d)) + " in that dimension (torch: \"Padding size should be less than the "
                       "corresponding input dimension\")");
    if (mode == "circular" && pads[d] > size(d))
      throw ShapeError("padding " + std::to_string(pads[d]) + " must be at most the input's size " +
                       std::to_string(size(d)) + " in that dimension (torch: \"Padding value causes wrapping around more "
                       "than once\")");
  }
}

}  // namespace

int add_pad(Graph& g, const std::string& layer, const std::string& source, int input, int dims, const std::string& mode,
            std::vector<std::int64_t> pads, double value) {
  const Value& x = g.value(input);
  const std::size_t rank = x.shape.size();
  if (mode != "constant" && rank != static_cast<std::size_t>(dims) + 2)
    throw ShapeError("expects an (N, C, " + std::string(dims == 1 ? "W" : dims == 2 ? "H, W" : "D, H, W") +
                     ") input, got " + shape_str(x.shape));
  if (rank < static_cast<std::size_t>(dims) + 1)
    throw ShapeError("pads the last " + std::to_string(dims) + " dimension(s) of a sample, but the input is " +
                     shape_str(x.shape));
  check_pads(x.shape, dims, mode, pads);
  if (dims == 3) {  // two 2d pads (checked above): rows and columns of each slice, then the depth
    const Shape s = x.shape;  // (N, ..., D, H, W)
    const std::int64_t d = s[rank - 3], h = s[rank - 2], w = s[rank - 1];
    const std::int64_t lead = per_sample_numel(x) / (d * h * w);
    const int planes = add_view(g, layer, source, input, {lead * d, h, w});
    const int rows_columns = add_pad(g, layer, source, planes, 2, mode,
                                     {pads[0], pads[1], pads[2], pads[3]}, value);
    const std::int64_t oh = h + pads[2] + pads[3], ow = w + pads[0] + pads[1];
    const int slices = add_view(g, layer, source, rows_columns, {lead, d, oh * ow});
    const int depth = add_pad(g, layer, source, slices, 2, mode, {0, 0, pads[4], pads[5]}, value);
    Shape out(s.begin() + 1, s.end());
    out[out.size() - 3] = d + pads[4] + pads[5], out[out.size() - 2] = oh, out[out.size() - 1] = ow;
    return add_view(g, layer, source, depth, out);
  }
  if (dims == 1) pads.insert(pads.end(), {0, 0});
  const std::int64_t w = x.shape[rank - 1], h = dims == 2 ? x.shape[rank - 2] : 1;
  Node n;
  n.op = "pad";
  n.layer = layer;
  n.source = source;
  n.attrs["mode"] = mode;
  n.attrs["value"] = value;
  n.attrs["pads"] = pads;
  n.attrs["in_h"] = h;
  n.attrs["in_w"] = w;
  n.attrs["planes"] = per_sample_numel(x) / (h * w);
  n.inputs = {input};
  const int id = add_op(g, std::move(n), cpp_name(layer) + "_out");
  return g.nodes[id].outputs[0];
}

void register_pad(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "pad";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const auto& pads = attr_ints(n, "pads");
    Shape s = x.shape;
    s.back() += pads[0] + pads[1];
    s[s.size() - 2] += pads[2] + pads[3];  // (0 for the 1d layers)
    return std::vector<OutputType>{{x.dtype, s, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{0, 8 * e};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;
    b.op = "pad_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "pad_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    const auto& pads = attr_ints(n, "pads");
    Shape s = d.shape;
    s.back() -= pads[0] + pads[1];
    s[s.size() - 2] -= pads[2] + pads[3];  // (0 for the 1d layers)
    return std::vector<OutputType>{{d.dtype, s, d.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e, 8 * e};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  for (int dims : {1, 2, 3}) {
    const std::string d = std::to_string(dims) + "d";
    layers.push_back(pad_layer("ZeroPad" + d, dims, "constant", false));
    layers.push_back(pad_layer("ConstantPad" + d, dims, "constant", true));
    layers.push_back(pad_layer("ReflectionPad" + d, dims, "reflect", false));
    layers.push_back(pad_layer("ReplicationPad" + d, dims, "replicate", false));
    layers.push_back(pad_layer("CircularPad" + d, dims, "circular", false));
  }
}

}  // namespace ltgen
