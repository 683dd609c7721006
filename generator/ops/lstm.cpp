/// \file
/// LSTM as torch.nn.LSTM(input_size, hidden_size, num_layers, bias, batch_first=True) on a
/// sequence (batch, T, input_size), from zero initial states; the layer's value is the output
/// sequence (batch, T, hidden_size), torch's `output` (h_n and c_n are not returned). Each of the
/// num_layers layers k is two nodes:
///   xg = x @ weight_ih_lk^T + bias_ih_lk        (a Linear over every step at once: (batch, T, 4H))
///   h, c, gates = lstm(xg, weight_hh_lk, bias_hh_lk)
/// where step t computes, as torch's LSTMCell, with the gates in torch's order i, f, g, o:
///   pre = (h_{t-1} @ weight_hh^T + bias_hh) + xg_t     (h_{-1} = c_{-1} = 0)
///   i = sigmoid(pre_i)  f = sigmoid(pre_f)  g = tanh(pre_g)  o = sigmoid(pre_o)
///   c_t = f c_{t-1} + i g      h_t = o tanh(c_t)
/// and `gates` keeps i, f, g, o for the backward. Backward through time, t = T-1 down to 0:
///   dh = dout_t + dgates_{t+1} @ weight_hh         dc = dh o (1 - tanh(c_t)^2) + dc_{t+1} f_{t+1}
///   dgates_t = [dc g i(1-i), dc c_{t-1} f(1-f), dc i (1-g^2), dh tanh(c_t) o(1-o)]
/// dgates is xg's gradient (the Linear's backward takes it from there) and bias_hh's rows;
/// weight_hh's gradient is one GEMM, dgates^T @ h shifted a step (zero at t = 0). Per step the
/// recurrence is a GEMM over the batch's rows (kT * width floats apart) and a loop (CPU) or a
/// kernel of a thread per (sample, unit) (CUDA); the CPU and CUDA cells are the same lines.
#include <cmath>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

void write_sizes(CodeWriter& w, const Node& n, const Value& seq) {
  w.line("constexpr int kT = " + std::to_string(seq.shape.at(1)) + ", kH = " +
         std::to_string(attr_int(n, "hidden_size")) + ", kG = 4 * kH;  // steps, hidden size, the gates' width");
}

// Step t's cell for sample b's unit j (row = b * kT + t, t, j in scope): reads xg, the GEMM's
// h_{t-1} W_hh^T in `gates` (when t > 0), bias_hh; writes the gates, cell and out.
std::vector<std::string> cell_forward(bool bias) {
  auto pre = [&](const std::string& q) {
    std::string s = "(t > 0 ? g[" + q + "] : 0.0f)";  // h_{t-1} W_hh^T, zero for h_{-1} = 0
    if (bias) s = "(" + s + " + bias_hh[" + q + "])";
    return s + " + x[" + q + "]";
  };
  return {
      "float* g = gates + row * kG;",
      "const float* x = xg + row * kG;",
      "const float i_gate = ltrt::sigmoid(" + pre("j") + ");",
      "const float f_gate = ltrt::sigmoid(" + pre("kH + j") + ");",
      "const float g_gate = std::tanh(" + pre("2 * kH + j") + ");",
      "const float o_gate = ltrt::sigmoid(" + pre("3 * kH + j") + ");",
      "const float c = f_gate * (t > 0 ? cell[(row - 1) * kH + j] : 0.0f) + i_gate * g_gate;",
      "g[j] = i_gate;",
      "g[kH + j] = f_gate;",
      "g[2 * kH + j] = g_gate;",
      "g[3 * kH + j] = o_gate;",
      "cell[row * kH + j] = c;",
      "out[row * kH + j] = o_gate * std::tanh(c);",
  };
}

// Step t's gradients for sample b's unit j (row, b, t, j in scope): dh and dc hold what step t + 1
// passed back (read when t < kT - 1); dc gets this step's share for step t - 1.
std::vector<std::string> cell_backward() {
  return {
      "const float* g = gates + row * kG;",
      "float* dg = dgates + row * kG;",
      "const float i_gate = g[j], f_gate = g[kH + j], g_gate = g[2 * kH + j], o_gate = g[3 * kH + j];",
      "const float tanh_c = std::tanh(cell[row * kH + j]);",
      "const float dh_t = dout[row * kH + j] + (t < kT - 1 ? dh[b * kH + j] : 0.0f);",
      "const float dc_t = dh_t * o_gate * (1.0f - tanh_c * tanh_c) + (t < kT - 1 ? dc[b * kH + j] : 0.0f);",
      "const float c_prev = t > 0 ? cell[(row - 1) * kH + j] : 0.0f;",
      "dg[j] = dc_t * g_gate * (i_gate * (1.0f - i_gate));",
      "dg[kH + j] = dc_t * c_prev * (f_gate * (1.0f - f_gate));",
      "dg[2 * kH + j] = dc_t * i_gate * (1.0f - g_gate * g_gate);",
      "dg[3 * kH + j] = dh_t * tanh_c * (o_gate * (1.0f - o_gate));",
      "dc[b * kH + j] = dc_t * f_gate;",
  };
}

// h shifted a step for weight_hh's gradient: element i of (n, kT, kH) is h_{t-1}, 0 at t = 0.
const char* kShiftedH = "hprev[i] = i / kH % kT > 0 ? out[i - kH] : 0.0f;";

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool bias = attr_bool(n, "bias");
  write_sizes(w, n, g.value(n.inputs[0]));
  w.open("for (int t = 0; t < kT; ++t)");
  w.line("// h_{t-1} W_hh^T for every sample, into step t's gates (rows kT steps apart)");
  w.line("if (t > 0) ltrt::sgemm_ld(false, true, n, kG, kH, 1.0f, out + (t - 1) * kH, kT * kH, weight_hh, kH, 0.0f, "
         "gates + t * kG, kT * kG);");
  w.open("for (int b = 0; b < n; ++b)");
  w.line("const int row = b * kT + t;");
  w.open("for (int j = 0; j < kH; ++j)");
  for (const std::string& l : cell_forward(bias)) w.line(l);
  w.close();
  w.close();
  w.close();
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool bias = attr_bool(n, "bias");
  write_sizes(w, n, g.value(n.inputs[1]));
  w.line("float* dh = carry;           // dL/dh_t through step t + 1 (n x kH)");
  w.line("float* dc = carry + n * kH;  // dL/dc_t through step t + 1");
  w.open("for (int t = kT - 1; t >= 0; --t)");
  w.open("for (int b = 0; b < n; ++b)");
  w.line("const int row = b * kT + t;");
  w.open("for (int j = 0; j < kH; ++j)");
  for (const std::string& l : cell_backward()) w.line(l);
  w.close();
  w.close();
  w.line("// dh_{t-1} = dgates_t W_hh");
  w.line("if (t > 0) ltrt::sgemm_ld(false, false, n, kH, kG, 1.0f, dgates + t * kG, kT * kG, weight_hh, kH, 0.0f, dh, kH);");
  w.close();
  w.line("// dW_hh = the sum over steps of dgates_t^T h_{t-1}: one GEMM over every (sample, step) row");
  w.line(std::string("for (int i = 0; i < n * kT * kH; ++i) ") + kShiftedH);
  w.line("ltrt::sgemm(true, false, kG, kH, n * kT, dgates, hprev, accumulate ? 1.0f : 0.0f, dweight_hh);");
  if (!bias) return;
  w.line("if (!accumulate) std::fill(dbias_hh, dbias_hh + kG, 0.0f);");
  w.open("for (int r = 0; r < n * kT; ++r)");
  w.line("for (int k = 0; k < kG; ++k) dbias_hh[k] += dgates[r * kG + k];");
  w.close();
}

void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool bias = attr_bool(n, "bias");
  const Value& xg = g.value(n.inputs[0]);
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// Step t's cell: a thread per (sample, hidden unit).");
  std::vector<std::string> params = {"float* __restrict__ gates", "float* __restrict__ cell", "float* __restrict__ out",
                                     "const float* __restrict__ xg"};
  std::vector<std::string> args = {"gates", "cell", "out", "xg"};
  if (bias) {
    params.push_back("const float* __restrict__ bias_hh");
    args.push_back("bias_hh");
  }
  params.push_back("int t");
  args.push_back("t");
  open_element_kernel(k, e.fn + "_cell_kernel", params, [&](CodeWriter& c) { write_sizes(c, n, xg); });
  k.line("const int b = i / kH, j = i % kH, row = b * kT + t;");
  for (const std::string& l : cell_forward(bias)) k.line(l);
  k.close();

  CodeWriter& w = e.body;
  write_sizes(w, n, xg);
  w.line("const int count = n * kH;  // the cell kernel's threads");
  w.open("for (int t = 0; t < kT; ++t)");
  w.line("// h_{t-1} W_hh^T for every sample, into step t's gates (rows kT steps apart)");
  w.line("if (t > 0) ltrt::cuda::sgemm_ld(ctx, false, true, n, kG, kH, out + (t - 1) * kH, kT * kH, weight_hh, kH, "
         "0.0f, gates + t * kG, kT * kG);");
  args.push_back("count");
  emit_launch(w, e.fn + "_cell_kernel", "ltrt::cuda::blocks_for(count, kThreads)", "kThreads", args);
  w.close();
}

void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool bias = attr_bool(n, "bias");
  const Value& seq = g.value(n.inputs[1]);
  CodeWriter& k = e.kernels;
  auto sizes = [&](CodeWriter& c) { write_sizes(c, n, seq); };
  k.line();
  k.line("// Step t's gradients: a thread per (sample, hidden unit); carry holds dh, then dc (count floats each).");
  open_element_kernel(k, e.fn + "_cell_kernel",
                      {"float* __restrict__ dgates", "float* __restrict__ carry", "const float* __restrict__ dout",
                       "const float* __restrict__ gates", "const float* __restrict__ cell", "int t"},
                      sizes);
  k.line("const int b = i / kH, j = i % kH, row = b * kT + t;");
  k.line("const float* dh = carry;");
  k.line("float* dc = carry + count;");
  for (const std::string& l : cell_backward()) k.line(l);
  k.close();
  k.line();
  k.line("// h shifted a step, for weight_hh's gradient.");
  open_element_kernel(k, e.fn + "_shift_kernel", {"float* __restrict__ hprev", "const float* __restrict__ out"}, sizes);
  k.line(kShiftedH);
  k.close();

  CodeWriter& w = e.body;
  write_sizes(w, n, seq);
  w.line("const int count = n * kH;  // the cell kernel's threads");
  w.open("for (int t = kT - 1; t >= 0; --t)");
  emit_launch(w, e.fn + "_cell_kernel", "ltrt::cuda::blocks_for(count, kThreads)", "kThreads",
              {"dgates", "carry", "dout", "gates", "cell", "t", "count"});
  w.line("// dh_{t-1} = dgates_t W_hh, into carry's first half");
  w.line("if (t > 0) ltrt::cuda::sgemm_ld(ctx, false, false, n, kH, kG, dgates + t * kG, kT * kG, weight_hh, kH, 0.0f, "
         "carry, kH);");
  w.close();
  w.line("const int shifted = n * kT * kH;");
  emit_launch(w, e.fn + "_shift_kernel", "ltrt::cuda::blocks_for(shifted, kThreads)", "kThreads",
              {"hprev", "out", "shifted"});
  w.line("// dW_hh = the sum over steps of dgates_t^T h_{t-1}: one GEMM over every (sample, step) row");
  w.line("ltrt::cuda::sgemm(ctx, true, false, kG, kH, n * kT, dgates, hprev, accumulate ? 1.0f : 0.0f, dweight_hh);");
  if (!bias) return;
  emit_column_sum_kernel(k, e.fn + "_dbias_kernel", {"float* __restrict__ dbias_hh", "const float* __restrict__ dgates"},
                         "kG", {{"dbias_hh", "dgates[at]"}}, sizes);
  emit_column_sum_launch(w, e.fn + "_dbias_kernel", "kG", {"dbias_hh", "dgates"}, "n * kT", {"dbias_hh"});
}

}  // namespace

void register_lstm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "lstm";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& xg = g.value(n.inputs.at(0));
    const std::int64_t h = attr_int(n, "hidden_size");
    if (xg.shape.size() != 3 || xg.shape[2] != 4 * h)
      throw ShapeError("expects the input's projection (batch, T, " + std::to_string(4 * h) + "), got " +
                       shape_str(xg.shape));
    const Shape s = {xg.shape[0], xg.shape[1], h};
    return std::vector<OutputType>{{DType::f32, s, true}, {DType::f32, s, true}, {DType::f32, xg.shape, true}};
  };
  f.slots = [](const Node& n) {
    Slots s{{"out", "cell", "gates"}, {"xg", "weight_hh"}};
    if (attr_bool(n, "bias")) s.inputs.push_back("bias_hh");
    return s;
  };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& xg = g.value(n.inputs[0]);
    const double rows = static_cast<double>(xg.shape[0] * xg.shape[1]), h = static_cast<double>(attr_int(n, "hidden_size"));
    // The recurrent GEMMs and about 30 flops a unit for the cell; xg and W_hh read (W_hh once a
    // step), the gates, cell and out written.
    return Cost{rows * (8 * h * h + 30 * h), 4 * (rows * 4 * h * 2 + rows * 2 * h + xg.shape[1] * 4 * h * h)};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const bool bias = attr_bool(n, "bias");
    std::vector<int> grads(n.inputs.size(), -1);  // parameter gradients live in the grad region
    if (dout[0] < 0) return grads;
    Node b;
    b.op = "lstm_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], n.outputs[2], n.outputs[1], n.outputs[0], n.inputs[1]};  // dout, gates, cell, out, W_hh
    b.outputs = {-1, ad.param_grad(n.inputs[1])};
    if (bias) b.outputs.push_back(ad.param_grad(n.inputs[2]));
    b.outputs.push_back(-1);  // hprev
    b.outputs.push_back(-1);  // carry
    const int id = ad.add_backward(std::move(b), ad.grad_name(n.inputs[0]));
    // Names: d_<xg> for dgates (xg's gradient), <layer>_l<k>_hprev and _carry for the scratch.
    Graph& g = ad.graph;
    const std::vector<int> outs = g.nodes[id].outputs;
    g.value(outs[0]).name = unused_name(g, ad.grad_name(n.inputs[0]));
    g.value(outs[outs.size() - 2]).name = unused_name(g, g.value(n.outputs[0]).name + "_hprev");
    g.value(outs.back()).name = unused_name(g, g.value(n.outputs[0]).name + "_carry");
    grads[0] = outs[0];
    return grads;
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "lstm_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& g) {
    const Value& gates = g.value(n.inputs.at(1));
    const std::int64_t batch = gates.shape[0], t = gates.shape[1], h = attr_int(n, "hidden_size");
    // dgates; dW_hh, db_hh; scratch: h shifted a step (batch, T, H), and dh, dc between steps (batch, 2, H).
    std::vector<OutputType> out = {{DType::f32, gates.shape, true}, {DType::f32, {4 * h, h}, false}};
    if (attr_bool(n, "bias")) out.push_back({DType::f32, {4 * h}, false});
    out.push_back({DType::f32, {batch, t, h}, true});
    out.push_back({DType::f32, {batch, 2, h}, true});
    return out;
  };
  b.slots = [](const Node& n) {
    Slots s{{"dgates", "dweight_hh"}, {"dout", "gates", "cell", "out", "weight_hh"}};
    if (attr_bool(n, "bias")) s.outputs.push_back("dbias_hh");
    s.outputs.push_back("hprev");
    s.outputs.push_back("carry");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const Value& gates = g.value(n.inputs[1]);
    const double rows = static_cast<double>(gates.shape[0] * gates.shape[1]), h = static_cast<double>(attr_int(n, "hidden_size"));
    // dh's GEMMs and dW_hh's, about 30 flops a unit; dout, gates, cell, out read, dgates and hprev written.
    return Cost{rows * (16 * h * h + 30 * h), 4 * (rows * 4 * h * 3 + rows * 4 * h + gates.shape[1] * 4 * h * h)};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "LSTM";
  ArgDef input{"input_size", ArgType::integer, std::nullopt, true};
  input.min = 1;
  ArgDef hidden{"hidden_size", ArgType::integer, std::nullopt};
  hidden.min = 1;
  ArgDef layers_arg{"num_layers", ArgType::integer, Attr{std::int64_t{1}}};
  layers_arg.min = 1;
  ArgDef dropout{"dropout", ArgType::number, Attr{0.0}};
  dropout.unsupported = "LSTM's dropout between layers";
  ArgDef bidirectional{"bidirectional", ArgType::boolean, Attr{false}};
  bidirectional.unsupported = "a bidirectional LSTM";
  ArgDef proj{"proj_size", ArgType::integer, Attr{std::int64_t{0}}};
  proj.unsupported = "LSTM's proj_size";
  // torch's default is batch_first=False, (T, batch, features); ltgen's sequences are (batch, T, features).
  l.args = {input, hidden, layers_arg, {"bias", ArgType::boolean, Attr{true}}, {"batch_first", ArgType::boolean, Attr{false}},
            dropout, bidirectional, proj};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    Graph& g = b.graph;
    const Value& x = g.value(in.at(0));
    if (!std::get<bool>(b.args.at("batch_first")))
      throw ShapeError("needs \"batch_first\": true (ltgen's sequences are (batch, T, features))");
    const bool floats = x.dtype == DType::f32;
    if (x.shape.size() != 3 || !floats)
      throw ShapeError("expects a float sequence (batch, T, input_size), got " + shape_str(x.shape) +
                       (floats ? "" : " of int64 (an Embedding first turns indices into vectors)"));
    const std::int64_t features = x.shape[2];
    auto given = b.args.find("input_size");
    if (given != b.args.end() && std::get<std::int64_t>(given->second) != features)
      throw ShapeError("input_size is " + std::to_string(std::get<std::int64_t>(given->second)) +
                       " but the input has " + std::to_string(features) + " features; remove input_size to infer it");
    const std::int64_t h = std::get<std::int64_t>(b.args.at("hidden_size"));
    const std::int64_t num_layers = std::get<std::int64_t>(b.args.at("num_layers"));
    const bool bias = std::get<bool>(b.args.at("bias"));
    // torch's state_dict order per layer (weight_ih, weight_hh, bias_ih, bias_hh) and init
    // (LSTM.reset_parameters): every parameter uniform(-1/sqrt(H), 1/sqrt(H)), drawn in that order.
    const double bound = 1.0 / std::sqrt(static_cast<double>(h));
    int seq = in.at(0);
    for (std::int64_t k = 0; k < num_layers; ++k) {
      const std::string suffix = "_l" + std::to_string(k);
      const std::int64_t width = k == 0 ? features : h;
      const int w_ih = add_param(g, b.layer + ".weight_ih" + suffix, {4 * h, width});
      const int w_hh = add_param(g, b.layer + ".weight_hh" + suffix, {4 * h, h});
      const int b_ih = bias ? add_param(g, b.layer + ".bias_ih" + suffix, {4 * h}) : -1;
      const int b_hh = bias ? add_param(g, b.layer + ".bias_hh" + suffix, {4 * h}) : -1;
      for (int p : {w_ih, w_hh, b_ih, b_hh})
        if (p >= 0) g.value(p).init_bound = bound;
      const int xg = add_linear(g, b.layer + ".ih" + suffix, b.source, seq, w_ih, b_ih);
      Node n;
      n.op = "lstm";
      n.layer = b.layer + ".l" + std::to_string(k);  // its functions: layers_0_l0_forward, ...
      n.source = b.source;
      n.attrs["hidden_size"] = h;
      n.attrs["bias"] = bias;
      if (k == 0) n.attrs["input_size"] = features;  // --emit lightning's inferred argument
      n.inputs = {xg, w_hh};
      if (bias) n.inputs.push_back(b_hh);
      const int id = add_op(g, std::move(n), cpp_name(b.layer) + suffix);  // layers_0_l0, _cell, _gates
      seq = g.nodes[id].outputs[0];
    }
    return seq;
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
