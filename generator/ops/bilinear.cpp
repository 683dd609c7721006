/// \file
/// Bilinear (torch.nn.Bilinear) over two inputs: out[r, o] = sum_ij x1[r, i] W[o, i, j] x2[r, j] + b[o],
/// weight (out, in1, in2), on the last dimension of inputs whose other dimensions agree (samples,
/// or the steps of sequences: rows).
/// Lowering: one GEMM makes proj = x2 @ W^T with W taken as (out * in1, in2), so that
/// proj[r, o * in1 + i] = sum_j W[o, i, j] x2[r, j]; then out[r, o] = b[o] + sum_i x1[r, i] proj[r, o, i].
/// The forward keeps proj for the backward:
///   dx1[r, i] = sum_o dout[r, o] proj[r, o, i]
///   outer[r, o * in1 + i] = dout[r, o] x1[r, i]
///   dx2 = outer @ W,  dW = outer^T @ x2,  db = the column sums of dout.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "../init_program.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

void write_sizes(CodeWriter& w, const Node& n, const Value& x1) {
  w.line("constexpr int kIn1 = " + std::to_string(attr_int(n, "in1_features")) +
         ", kIn2 = " + std::to_string(attr_int(n, "in2_features")) +
         ", kOut = " + std::to_string(attr_int(n, "out_features")) + ";");
  w.line("constexpr int kRowsPerSample = " + std::to_string(rows_per_sample(x1)) + ";  // applied to the last dimension");
  w.line("const int rows = n * kRowsPerSample;");
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, n, g.value(n.inputs[0]));
  w.line("ltrt::sgemm(false, true, rows, kOut * kIn1, kIn2, x2, weight, 0.0f, proj);  // proj = x2 @ W^T, W (out * in1, in2)");
  open_split_loop(w, "r", "rows", attr_int(n, "out_features") * attr_int(n, "in1_features"), SplitIndex::rows);
  w.open("for (int o = 0; o < kOut; ++o)");
  w.line("const float* p = proj + (r * kOut + o) * kIn1;");
  w.line("float acc = 0.0f;");
  w.line("for (int i = 0; i < kIn1; ++i) acc += x1[r * kIn1 + i] * p[i];");
  w.line(std::string("out[r * kOut + o] = acc") + (attr_bool(n, "bias") ? " + bias[o];" : ";"));
  w.close();
  close_split_loop(w);
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, n, g.value(n.inputs[1]));
  const std::int64_t row_work = attr_int(n, "out_features") * attr_int(n, "in1_features");
  open_split_loop(w, "r", "rows", row_work, SplitIndex::rows);
  if (attr_bool(n, "need_dx1")) {
    w.line("for (int i = 0; i < kIn1; ++i) dx1[r * kIn1 + i] = 0.0f;");
    w.open("for (int o = 0; o < kOut; ++o)");
    w.line("const float d = dout[r * kOut + o];");
    w.line("const float* p = proj + (r * kOut + o) * kIn1;");
    w.line("for (int i = 0; i < kIn1; ++i) dx1[r * kIn1 + i] += d * p[i];");
    w.close();
  }
  w.open("for (int o = 0; o < kOut; ++o)");
  w.line("const float d = dout[r * kOut + o];");
  w.line("for (int i = 0; i < kIn1; ++i) outer[(r * kOut + o) * kIn1 + i] = d * x1[r * kIn1 + i];");
  w.close();
  close_split_loop(w);
  if (attr_bool(n, "need_dx2"))
    w.line("ltrt::sgemm(false, false, rows, kIn2, kOut * kIn1, outer, weight, 0.0f, dx2);  // outer @ W");
  w.line("ltrt::sgemm(true, false, kOut * kIn1, kIn2, rows, outer, x2, accumulate ? 1.0f : 0.0f, dweight);"
         "  // outer^T @ x2");
  if (attr_bool(n, "bias")) {
    w.line("if (!accumulate) std::fill(dbias, dbias + kOut, 0.0f);");
    w.open("for (int r = 0; r < rows; ++r)");
    w.line("for (int o = 0; o < kOut; ++o) dbias[o] += dout[r * kOut + o];");
    w.close();
  }
}

void cuda_constants(CodeWriter& k, const Node& n) {
  k.line("constexpr int kIn1 = " + std::to_string(attr_int(n, "in1_features")) +
         ", kOut = " + std::to_string(attr_int(n, "out_features")) + ";");
}

void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  write_sizes(e.body, n, g.value(n.inputs[0]));
  e.body.line("ltrt::cuda::sgemm(ctx, false, true, rows, kOut * kIn1, kIn2, x2, weight, 0.0f, proj);  // x2 @ W^T");
  const bool bias = attr_bool(n, "bias");
  std::vector<KernelParam> params = {{"float* __restrict__ out", "out"},
                                     {"const float* __restrict__ x1", "x1"},
                                     {"const float* __restrict__ proj", "proj"}};
  if (bias) params.push_back({"const float* __restrict__ bias", "bias"});
  emit_elementwise_kernel(e, e.fn + "_kernel", params, "rows * kOut",
                          {"const float* p = proj + std::int64_t{i} * kIn1;",
                           "const float* x = x1 + std::int64_t{i / kOut} * kIn1;", "float acc = 0.0f;",
                           "for (int k = 0; k < kIn1; ++k) acc += x[k] * p[k];",
                           std::string("out[i] = acc") + (bias ? " + bias[i % kOut];" : ";")},
                          [&](CodeWriter& k) { cuda_constants(k, n); });
}

void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  CodeWriter& w = e.body;
  write_sizes(w, n, g.value(n.inputs[1]));
  if (attr_bool(n, "need_dx1")) {
    w.open_block("dx1, a thread an element");
    emit_elementwise_kernel(e, e.fn + "_dx1_kernel",
                            {{"float* __restrict__ dx1", "dx1"}, {"const float* __restrict__ dout", "dout"},
                             {"const float* __restrict__ proj", "proj"}},
                            "rows * kIn1",
                            {"const int r = i / kIn1, k = i % kIn1;", "float acc = 0.0f;",
                             "for (int o = 0; o < kOut; ++o) acc += dout[r * kOut + o] * proj[(std::int64_t{r} * kOut + o) * kIn1 + k];",
                             "dx1[i] = acc;"},
                            [&](CodeWriter& k) { cuda_constants(k, n); });
    w.close();
  }
  emit_elementwise_kernel(e, e.fn + "_outer_kernel",
                          {{"float* __restrict__ outer", "outer"}, {"const float* __restrict__ dout", "dout"},
                           {"const float* __restrict__ x1", "x1"}},
                          "rows * kOut * kIn1",
                          {"outer[i] = dout[i / kIn1] * x1[(i / (kOut * kIn1)) * kIn1 + i % kIn1];"},
                          [&](CodeWriter& k) { cuda_constants(k, n); });
  if (attr_bool(n, "need_dx2"))
    w.line("ltrt::cuda::sgemm(ctx, false, false, rows, kIn2, kOut * kIn1, outer, weight, 0.0f, dx2);  // outer @ W");
  w.line("ltrt::cuda::sgemm(ctx, true, false, kOut * kIn1, kIn2, rows, outer, x2, accumulate ? 1.0f : 0.0f, dweight);"
         "  // outer^T @ x2");
  if (!attr_bool(n, "bias")) return;
  emit_column_sum_kernel(e.kernels, e.fn + "_dbias_kernel",
                         {"float* __restrict__ dbias", "const float* __restrict__ dout"}, "kOut",
                         {{"dbias", "dout[at]"}}, [&](CodeWriter& k) { cuda_constants(k, n); });
  emit_column_sum_launch(w, e.fn + "_dbias_kernel", "kOut", {"dbias", "dout"}, "rows", {"dbias"});
}

}  // namespace

void register_bilinear(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "bilinear";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x1 = g.value(n.inputs.at(0));
    const Value& x2 = g.value(n.inputs.at(1));
    const std::int64_t in1 = attr_int(n, "in1_features"), in2 = attr_int(n, "in2_features"),
                       out = attr_int(n, "out_features");
    if (x1.shape.size() < 2 || x1.shape.back() != in1 || x2.shape.size() != x1.shape.size() ||
        x2.shape.back() != in2 || !std::equal(x1.shape.begin(), x1.shape.end() - 1, x2.shape.begin()))
      throw ShapeError("expects inputs (batch, ..., " + std::to_string(in1) + ") and (batch, ..., " +
                       std::to_string(in2) + ") of the same batch dimensions, got " + shape_str(x1.shape) +
                       " and " + shape_str(x2.shape));
    Shape s = x1.shape;
    s.back() = out;
    Shape proj = x1.shape;
    proj.back() = out * in1;
    return std::vector<OutputType>{{x1.dtype, s, true}, {x1.dtype, proj, true}};
  };
  f.slots = [](const Node& n) {
    Slots s{{"out", "proj"}, {"x1", "x2", "weight"}};
    if (attr_bool(n, "bias")) s.inputs.push_back("bias");
    return s;
  };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const double rows = static_cast<double>(x.shape[0] * rows_per_sample(x));
    const double in1 = static_cast<double>(attr_int(n, "in1_features"));
    const double in2 = static_cast<double>(attr_int(n, "in2_features"));
    const double out = static_cast<double>(attr_int(n, "out_features"));
    return Cost{2 * rows * out * in1 * (in2 + 1), 4 * (rows * (in1 + in2 + out + 2 * out * in1) + out * in1 * in2)};
  };
  f.restrict_pointers = true;
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const bool bias = attr_bool(n, "bias");
    const bool need_dx1 = ad.needs_grad(n.inputs[0]), need_dx2 = ad.needs_grad(n.inputs[1]);
    if (dout[0] < 0) return std::vector<int>(n.inputs.size(), -1);
    Node b;
    b.op = "bilinear_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dx1"] = need_dx1;
    b.attrs["need_dx2"] = need_dx2;
    // proj serves dx1 alone, the weight dx2 alone.
    b.inputs = {dout[0], n.inputs[0], n.inputs[1]};
    if (need_dx1) b.inputs.push_back(n.outputs[1]);
    if (need_dx2) b.inputs.push_back(n.inputs[2]);
    if (need_dx1) b.outputs.push_back(-1);
    if (need_dx2) b.outputs.push_back(-1);
    b.outputs.push_back(-1);  // outer: the backward's own scratch
    b.outputs.push_back(ad.weight_grad(n.inputs[2]));
    if (bias) b.outputs.push_back(ad.weight_grad(n.inputs[3]));
    const int id = ad.add_backward(std::move(b), "d_" + cpp_name(n.layer));
    const std::vector<int> outs = ad.graph.nodes[id].outputs;
    std::vector<int> grads(n.inputs.size(), -1);
    size_t k = 0;
    if (need_dx1) grads[0] = outs[k++];
    if (need_dx2) grads[1] = outs[k++];
    ++k;  // outer
    if (bias) ad.cast_grads(n, {2, 3}, {outs[k], outs[k + 1]}, grads);
    else ad.cast_grads(n, {2}, {outs[k]}, grads);
    return grads;
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "bilinear_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x1 = g.value(n.inputs.at(1));
    const Value& x2 = g.value(n.inputs.at(2));
    const std::int64_t in1 = attr_int(n, "in1_features"), in2 = attr_int(n, "in2_features"),
                       out = attr_int(n, "out_features");
    std::vector<OutputType> t;
    if (attr_bool(n, "need_dx1")) t.push_back({x1.dtype, x1.shape, true});
    if (attr_bool(n, "need_dx2")) t.push_back({x2.dtype, x2.shape, true});
    Shape outer = x1.shape;
    outer.back() = out * in1;
    t.push_back({x1.dtype, outer, true});
    t.push_back({DType::f32, {out, in1, in2}, false});
    if (attr_bool(n, "bias")) t.push_back({DType::f32, {out}, false});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dout", "x1", "x2"}};
    if (attr_bool(n, "need_dx1")) s.inputs.push_back("proj");
    if (attr_bool(n, "need_dx2")) s.inputs.push_back("weight");
    if (attr_bool(n, "need_dx1")) s.outputs.push_back("dx1");
    if (attr_bool(n, "need_dx2")) s.outputs.push_back("dx2");
    s.outputs.push_back("outer");
    s.outputs.push_back("dweight");
    if (attr_bool(n, "bias")) s.outputs.push_back("dbias");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[1]);
    const double rows = static_cast<double>(x.shape[0] * rows_per_sample(x));
    const double in1 = static_cast<double>(attr_int(n, "in1_features"));
    const double in2 = static_cast<double>(attr_int(n, "in2_features"));
    const double out = static_cast<double>(attr_int(n, "out_features"));
    const double gemms = attr_bool(n, "need_dx2") ? 2 : 1;
    return Cost{gemms * 2 * rows * out * in1 * in2 + 3 * rows * out * in1,
                4 * (rows * (in1 + in2 + out + 3 * out * in1) + out * in1 * in2 * 3)};
  };
  b.restrict_pointers = true;
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "Bilinear";
  l.num_inputs = 2;
  ArgDef in1{"in1_features", ArgType::integer, std::nullopt, true};
  in1.min = 1;
  ArgDef in2{"in2_features", ArgType::integer, std::nullopt, true};
  in2.min = 1;
  ArgDef out{"out_features", ArgType::integer, std::nullopt};
  out.min = 1;
  l.args = {in1, in2, out, {"bias", ArgType::boolean, Attr{true}}};
  l.build = [](LayerBuild& b, const std::vector<int>& inputs) {
    // Copies: add_param below may move the graph's values.
    const Shape x1 = b.graph.value(inputs.at(0)).shape, x2 = b.graph.value(inputs.at(1)).shape;
    if (x1.size() < 2 || x1.size() != x2.size() || !std::equal(x1.begin(), x1.end() - 1, x2.begin()))
      throw ShapeError("its inputs must agree in every dimension but the last (torch: \"bilinear(): input "
                       "batch dimensions do not match\"), got " + shape_str(x1) + " and " + shape_str(x2));
    const std::int64_t in1_features = x1.back(), in2_features = x2.back();
    for (const auto& [name, features] : {std::pair<std::string, std::int64_t>{"in1_features", in1_features},
                                         {"in2_features", in2_features}}) {
      auto given = b.args.find(name);
      if (given != b.args.end() && std::get<std::int64_t>(given->second) != features)
        throw ShapeError(name + " is " + std::to_string(std::get<std::int64_t>(given->second)) + " but its input has " +
                         std::to_string(features) + " features; remove " + name + " to infer it");
    }
    const std::int64_t out_features = std::get<std::int64_t>(b.args.at("out_features"));
    const bool bias = std::get<bool>(b.args.at("bias"));
    const int weight = add_param(b.graph, b.layer + ".weight", {out_features, in1_features, in2_features});
    const int bias_param = bias ? add_param(b.graph, b.layer + ".bias", {out_features}) : -1;
    // torch's reset_parameters: both uniform(-1/sqrt(in1), 1/sqrt(in1)), the weight first.
    b.graph.value(weight).init_bound = fan_in_bound(in1_features);
    if (bias) b.graph.value(bias_param).init_bound = fan_in_bound(in1_features);
    Node n;
    n.op = "bilinear";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["in1_features"] = in1_features;
    n.attrs["in2_features"] = in2_features;
    n.attrs["out_features"] = out_features;
    n.attrs["bias"] = bias;
    n.inputs = {inputs.at(0), inputs.at(1), weight};
    if (bias) n.inputs.push_back(bias_param);
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer));
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
