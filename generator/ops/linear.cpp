/// \file
/// Linear: out = inp @ weight^T + bias, weight (out_features, in_features) as
/// torch.nn.Linear. Lowered to inline loops for small layers and to BLAS sgemm
/// for large ones; unary activations after it are fused into its bias loop.
/// As torch, it applies to the last dimension: an input (batch, T, in) is
/// batch * T rows (sequences), the output (batch, T, out).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "../autodiff.hpp"
#include "../autocast.hpp"
#include "../cuda_lowering.hpp"
#include "../cuda_storage16.hpp"
#include "../init_program.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// Below this many multiply-adds per step a call into BLAS costs more than it saves.
constexpr std::int64_t kBlasMinMacs = 32768;
// Inline backward loops sum dW in a local array up to this many weights (4 KiB of stack).
constexpr std::int64_t kLocalAccMax = 1024;

// Writes the sizes; returns the C++ expression of the number of rows.
std::string write_sizes(CodeWriter& w, const Node& n, const Value& x) {
  w.line("constexpr int kIn = " + std::to_string(attr_int(n, "in_features")) +
         ", kOut = " + std::to_string(attr_int(n, "out_features")) + ";");
  const std::int64_t r = rows_per_sample(x);
  if (r > 1) w.line("constexpr int kRowsPerSample = " + std::to_string(r) + ";  // applied to the last dimension");
  w.line(std::string("constexpr bool kUseBlas = ") + (attr_bool(n, "blas") ? "true" : "false") +
         ";  // TUNE: sgemm (true) or inline loops (false)");
  if (r > 1) {
    w.line("const int rows = n * kRowsPerSample;");
    return "rows";
  }
  return "n";
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool bias = attr_bool(n, "bias");
  const bool keep_preact = n.outputs.size() == 2;
  const std::string N = write_sizes(w, n, g.value(n.inputs[0]));
  epilogue_constants(w, n);
  // The GEMM writes the pre-activation; one pass over the rows then applies the fused activations
  // (and the bias, where it does not go first).
  const std::string z = keep_preact ? "preact" : "out";
  const std::string bias_term = bias ? " + bias[o]" : "";
  // bf16-mixed's MultiheadAttention in_proj (autocast.cpp): torch rounds the product before the bias
  // when MHA's transposed (T, n, E) view is strided, that is when the step has more than one sample.
  const bool round_first = n.attrs.count("bf16_round_before_bias") > 0;
  auto product = [&](const std::string& z) {
    return round_first ? "(n > 1 ? " + autocast_round() + "(" + z + ") : " + z + ")" : z;
  };
  w.open("if constexpr (kUseBlas)");
  // Fewer than 16 outputs: the compiler may vectorise along the rows, so their bounds are aligned.
  const std::int64_t outs = attr_int(n, "out_features");
  const SplitIndex split = outs < 16 ? SplitIndex::elements : SplitIndex::rows;
  // As torch's addmm, a bias goes first: the rows start as the bias and the GEMM adds the product
  // to them (beta 1), which also spares the BLAS its pass that zeroes them for beta 0.
  const bool bias_first = bias && !round_first;
  if (bias_first) {
    open_split_loop(w, "i", N, outs, split);
    w.line("std::copy(bias, bias + kOut, " + z + " + i * kOut);");
    close_split_loop(w);
    w.line("ltrt::sgemm(false, true, " + N + ", kOut, kIn, inp, weight, 1.0f, " + z + ");  // bias + inp @ weight^T");
  } else {
    w.line("ltrt::sgemm(false, true, " + N + ", kOut, kIn, inp, weight, 0.0f, " + z + ");  // inp @ weight^T");
  }
  // Then one pass over the rows, unless the product is the output already.
  if (keep_preact || !n.epilogue.empty() || (!bias_first && (bias || round_first))) {
    open_split_loop(w, "i", N, outs, split);
    w.open("for (int o = 0; o < kOut; ++o)");
    w.line("const float v = " + (bias_first ? z + "[i * kOut + o]" : product(z + "[i * kOut + o]") + bias_term) + ";");
    if (keep_preact && !bias_first) w.line("preact[i * kOut + o] = v;");
    w.line("out[i * kOut + o] = " + apply_epilogue(n, "v") + ";");
    w.close();
    close_split_loop(w);
  }
  w.reopen("else");
  w.open("for (int i = 0; i < " + N + "; ++i)");
  w.open("for (int o = 0; o < kOut; ++o)");
  w.line("float acc = 0.0f;");
  w.line("for (int k = 0; k < kIn; ++k) acc += inp[i * kIn + k] * weight[o * kIn + k];");
  w.line("const float v = " + product("acc") + bias_term + ";");
  if (keep_preact) w.line("preact[i * kOut + o] = v;");
  w.line("out[i * kOut + o] = " + apply_epilogue(n, "v") + ";");
  w.close();
  w.close();
  w.close();
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool bias = attr_bool(n, "bias");
  const bool need_dinp = attr_bool(n, "need_dinp");
  const std::string N = write_sizes(w, n, g.value(n.inputs[1]));
  w.open("if constexpr (kUseBlas)");
  w.line("ltrt::sgemm(true, false, kOut, kIn, " + N + ", dout, inp, accumulate ? 1.0f : 0.0f, dweight);"
         "  // dout^T @ inp");
  if (need_dinp)
    w.line("ltrt::sgemm(false, false, " + N + ", kIn, kOut, dout, weight, 0.0f, dinp);  // dout @ weight");
  w.reopen("else");
  // Small weights are summed in a local array: through dweight, which may alias inp and dout
  // for all the compiler knows, every += is a store and a reload (a store-forwarding chain
  // per element across the rows). Same order of additions either way.
  const bool local_acc = attr_int(n, "in_features") * attr_int(n, "out_features") <= kLocalAccMax;
  const std::string dw = local_acc ? "dw" : "dweight";
  if (local_acc) {
    w.line("float dw[kOut * kIn];  // dW in registers: dweight may alias inp and dout");
    w.line("for (int j = 0; j < kOut * kIn; ++j) dw[j] = accumulate ? dweight[j] : 0.0f;");
  } else {
    w.line("if (!accumulate) std::fill(dweight, dweight + kOut * kIn, 0.0f);");
  }
  w.open("for (int i = 0; i < " + N + "; ++i)");
  w.open("for (int o = 0; o < kOut; ++o)");
  w.line("const float d = dout[i * kOut + o];");
  w.line("for (int k = 0; k < kIn; ++k) " + dw + "[o * kIn + k] += d * inp[i * kIn + k];");
  w.close();
  w.close();
  if (local_acc) w.line("std::copy(dw, dw + kOut * kIn, dweight);");
  if (need_dinp) {
    w.open("for (int i = 0; i < " + N + "; ++i)");
    w.open("for (int k = 0; k < kIn; ++k)");
    w.line("float acc = 0.0f;");
    w.line("for (int o = 0; o < kOut; ++o) acc += dout[i * kOut + o] * weight[o * kIn + k];");
    w.line("dinp[i * kIn + k] = acc;");
    w.close();
    w.close();
  }
  w.close();
  if (bias) {
    w.line("if (!accumulate) std::fill(dbias, dbias + kOut, 0.0f);");
    w.line("// Each part sums its own columns over the rows, in order.");
    const Value& dout = g.value(n.inputs[0]);
    open_split(w, "kOut", numel(dout.shape) / attr_int(n, "out_features"), SplitIndex::elements);
    w.open("for (int i = 0; i < " + N + "; ++i)");
    w.line("for (int o = begin; o < end; ++o) dbias[o] += dout[i * kOut + o];");
    w.close();
    close_split(w);
  }
}

// How the node's GEMMs are called. Under mixed precision every operand of a Linear's GEMMs holds
// 16-bit values (autocast's casts, and the rounded gradient of its 16-bit output), so their
// products are exact in float32 whatever float32_matmul_precision says. Where every target GPU
// has tensor cores of that dtype (gemms_16bit), gemm_16bit multiplies them there: an operand that its
// writer stores as 16-bit bits (cuda_storage16.hpp) as it is, the others as 16-bit copies. Elsewhere sgemm takes
// them on TF32 tensor cores, which hold them exactly too ("exact_tf32", a copy of ctx that allows
// them). Float32 operands: sgemm with ctx.
struct GemmCall {
  bool sixteen = false;
  std::string context = "ctx";

  // `operands`: the GEMM operands' values, with their names in the function.
  GemmCall(CudaEmit& e, const Node& n, const Graph& g, const std::vector<std::pair<int, std::string>>& operands) {
    CodeWriter& w = e.body;
    if (linear_gemms_16bit(n, g, e.gemms16)) {
      sixteen = true;
      std::vector<std::string> stored, copied;
      for (const auto& [v, name] : operands) (e.is_stored16(v) ? stored : copied).push_back(name);
      const std::string dtype = autocast_dtype_name();
      w.line("// " + dtype + " operands on " + dtype + " tensor cores, their products exact and summed in float32:");
      if (!stored.empty()) w.line("// " + join(stored) + (stored.size() > 1 ? " hold " : " holds ") + dtype + " bits already");
      if (!copied.empty()) w.line("// " + join(copied) + " copied to " + dtype + " first");
      return;
    }
    for (const auto& operand : operands)
      if (!g.value(operand.first).bf16) return;
    w.line(std::string("// ") + autocast_dtype_name() + " operands: TF32 holds them exactly, so tensor cores give float32 "
           "products and sums");
    w.line("ltrt::cuda::Context exact_tf32 = ctx;");
    w.line("exact_tf32.tf32 = true;");
    context = "exact_tf32";
  }

  static std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i)
      out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
    return out;
  }

  // The call's opening, up to its transposes: "ltrt::cuda::sgemm(ctx, " or the gemm_16bit one.
  std::string open() const {
    if (!sixteen) return "ltrt::cuda::sgemm(" + context + ", ";
    return std::string("ltrt::cuda::gemm_16bit(ctx, ") + autocast_format16() + ", ";
  }

  // Records the copies' bytes of a gemm_16bit of [m, k] by [k, n] (at the largest batch) whose A
  // and B are values a and b (ltrt::cuda::operands16_bytes).
  void need(CudaEmit& e, std::int64_t m, std::int64_t n, std::int64_t k, int a, int b) const {
    if (!sixteen) return;
    const std::int64_t a_bytes = e.is_stored16(a) ? 0 : (m * k * 2 + 255) / 256 * 256;
    const std::int64_t b_bytes = e.is_stored16(b) ? 0 : k * n * 2;
    e.operands16_bytes = std::max(e.operands16_bytes, a_bytes + b_bytes);
  }
};

// CUDA: cuBLASLt computes inp @ weight^T with the bias (and a lone ReLU) in its epilogue;
// other fused activations follow in one elementwise kernel over the GEMM's output.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  CodeWriter& w = e.body;
  const bool bias = attr_bool(n, "bias");
  const bool keep_preact = n.outputs.size() == 2;
  const Value& x = g.value(n.inputs[0]);
  w.line("constexpr int kIn = " + std::to_string(attr_int(n, "in_features")) +
         ", kOut = " + std::to_string(attr_int(n, "out_features")) + ";");
  const std::int64_t r = rows_per_sample(x);
  if (r > 1) w.line("constexpr int kRowsPerSample = " + std::to_string(r) + ";  // applied to the last dimension");
  w.line(std::string("const int rows = n") + (r > 1 ? " * kRowsPerSample;" : ";"));
  const GemmCall gemm(e, n, g, {{n.inputs[0], "inp"}, {n.inputs[1], "weight"}});
  const std::int64_t in = attr_int(n, "in_features"), out = attr_int(n, "out_features");
  gemm.need(e, x.shape.at(0) * r, out, in, n.inputs[0], n.inputs[1]);
  // bf16-mixed's MultiheadAttention in_proj rounds the product before the bias when n > 1, as the
  // CPU's (emit_forward): the GEMM without its bias, then one kernel rounds, adds it and rounds.
  const bool round_first = n.attrs.count("bf16_round_before_bias") > 0;
  if (round_first && (keep_preact || !bias))
    throw std::logic_error("internal: bf16_round_before_bias on a Linear without a bias or with a pre-activation");
  if (round_first) {
    w.line(gemm.open() + "false, true, rows, kOut, kIn, inp, weight, 0.0f, out, "
           "ltrt::cuda::Epilogue::none, nullptr);  // inp @ weight^T");
    emit_elementwise_kernel(e, e.fn + "_bias_kernel",
                            {{"float* out", "out"}, {"const float* __restrict__ bias", "bias"}, {"int n", "n"}},
                            "rows * kOut",
                            {"const float product = n > 1 ? " + autocast_round() + "(out[i]) : out[i];",
                             "out[i] = " + apply_epilogue(n, "product + bias[i % kOut]") + ";"},
                            [&](CodeWriter& k) {
                              k.line("constexpr int kOut = " + std::to_string(attr_int(n, "out_features")) + ";");
                              epilogue_constants(k, n);
                            });
    return;
  }
  const bool lone_relu = !keep_preact && n.epilogue.size() == 1 && n.epilogue[0].op == "relu";
  std::string epilogue = bias ? "ltrt::cuda::Epilogue::bias" : "ltrt::cuda::Epilogue::none";
  if (lone_relu) epilogue = bias ? "ltrt::cuda::Epilogue::relu_bias" : "ltrt::cuda::Epilogue::relu";
  const std::string z = keep_preact ? "preact" : "out";
  w.line(gemm.open() + "false, true, rows, kOut, kIn, inp, weight, 0.0f, " + z + ", " + epilogue + ", " +
         (bias ? "bias" : "nullptr") + ");  // inp @ weight^T" + (bias ? " + bias" : "") + (lone_relu ? ", ReLU" : ""));
  if (n.epilogue.empty() || lone_relu) return;
  const std::vector<std::string> body = {"out[i] = " + apply_epilogue(n, z + "[i]") + ";"};
  std::vector<KernelParam> params = {{"float* out", "out"}};  // in place when no pre-activation is kept
  if (keep_preact) params.push_back({"const float* __restrict__ preact", "preact"});
  emit_elementwise_kernel(e, e.fn + "_activation_kernel", params, "rows * kOut", body,
                          [&](CodeWriter& k) { epilogue_constants(k, n); });
}

void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  CodeWriter& w = e.body;
  const bool bias = attr_bool(n, "bias");
  const Value& x = g.value(n.inputs[1]);
  w.line("constexpr int kIn = " + std::to_string(attr_int(n, "in_features")) +
         ", kOut = " + std::to_string(attr_int(n, "out_features")) + ";");
  const std::int64_t r = rows_per_sample(x);
  if (r > 1) w.line("constexpr int kRowsPerSample = " + std::to_string(r) + ";  // applied to the last dimension");
  w.line(std::string("const int rows = n") + (r > 1 ? " * kRowsPerSample;" : ";"));
  const bool need_dinp = attr_bool(n, "need_dinp");
  const int dout = n.inputs[0], inp = n.inputs[1], weight = need_dinp ? n.inputs[2] : -1;
  std::vector<std::pair<int, std::string>> operands = {{dout, "dout"}, {inp, "inp"}};
  if (need_dinp) operands.push_back({weight, "weight"});
  const GemmCall gemm(e, n, g, operands);
  const std::int64_t in = attr_int(n, "in_features"), out = attr_int(n, "out_features"), max_rows = x.shape.at(0) * r;
  w.line(gemm.open() + "true, false, kOut, kIn, rows, dout, inp, accumulate ? 1.0f : 0.0f, dweight);  // dout^T @ inp");
  gemm.need(e, out, in, max_rows, dout, inp);
  if (need_dinp) {
    if (gemm.sixteen && !e.is_stored16(dout))
      w.line(gemm.open() + "false, false, rows, kIn, kOut, dout, weight, 0.0f, dinp, ltrt::cuda::Epilogue::none, "
             "nullptr, /*a_copied=*/true);  // dout @ weight, dout's copy from the call above");
    else
      w.line(gemm.open() + "false, false, rows, kIn, kOut, dout, weight, 0.0f, dinp);  // dout @ weight");
    gemm.need(e, max_rows, in, out, dout, weight);
  }
  if (!bias) return;
  // dbias: the column sums of dout, spread over 32 lanes of rows a column (a thread per column
  // over every row left most of the GPU idle: GPT-2's 768 columns of 8192 rows).
  const bool dout16 = e.is_stored16(dout);
  emit_column_sum_kernel(e.kernels, e.fn + "_dbias_kernel",
                         {"float* __restrict__ dbias",
                          dout16 ? "const std::uint16_t* __restrict__ dout" : "const float* __restrict__ dout"},
                         "kOut", {{"dbias", dout16 ? std::string(autocast_value16()) + "(dout[at])" : "dout[at]"}},
                         [&](CodeWriter& k) {
                           k.line("constexpr int kOut = " + std::to_string(attr_int(n, "out_features")) + ";");
                         });
  emit_column_sum_launch(w, e.fn + "_dbias_kernel", "kOut", {"dbias", "dout"}, "rows", {"dbias"});
}

}  // namespace

int add_linear(Graph& g, const std::string& layer, const std::string& source, int x, int weight, int bias) {
  const Shape w = g.value(weight).shape;  // (out_features, in_features)
  const Value& xv = g.value(x);
  Node n;
  n.op = "linear";
  n.layer = layer;
  n.source = source;
  n.attrs["in_features"] = w.at(1);
  n.attrs["out_features"] = w.at(0);
  n.attrs["bias"] = bias >= 0;
  n.attrs["blas"] = xv.shape.at(0) * rows_per_sample(xv) * w[1] * w[0] >= kBlasMinMacs;
  n.inputs = {x, weight};
  if (bias >= 0) n.inputs.push_back(bias);
  const int id = add_op(g, std::move(n), cpp_name(layer) + "_out");
  return g.nodes[id].outputs[0];
}

void register_linear(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "linear";
  f.accepts_epilogue = true;
  f.keeps_preact = true;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const std::int64_t in = attr_int(n, "in_features"), out = attr_int(n, "out_features");
    if (x.shape.size() < 2 || x.shape.back() != in)
      throw ShapeError("expects input of shape (batch, [T,] " + std::to_string(in) + "), got " +
                       shape_str(x.shape));
    Shape s = x.shape;
    s.back() = out;
    OutputType t{x.dtype, s, true};
    if (n.outputs.size() == 2) return std::vector<OutputType>{t, t};  // out, preact
    return std::vector<OutputType>{t};
  };
  f.slots = [](const Node& n) {
    Slots s{{"out"}, {"inp", "weight"}};
    if (n.outputs.size() == 2) s.outputs.push_back("preact");
    if (attr_bool(n, "bias")) s.inputs.push_back("bias");
    return s;
  };
  f.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    const double rows = static_cast<double>(x.shape[0] * rows_per_sample(x));
    const double in = static_cast<double>(attr_int(n, "in_features"));
    const double out = static_cast<double>(attr_int(n, "out_features"));
    return Cost{2 * rows * in * out, 4 * (rows * in + in * out + rows * out * 2)};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    const bool bias = attr_bool(n, "bias");
    const bool need_dinp = ad.needs_grad(x);
    if (dout[0] < 0) return std::vector<int>(n.inputs.size(), -1);
    Node b;
    b.op = "linear_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dinp"] = need_dinp;
    b.inputs = {dout[0], x};
    if (need_dinp) {  // the weight only serves the input's gradient
      b.inputs.push_back(n.inputs[1]);
      b.outputs.push_back(-1);
    }
    // A parameter's gradient is written in the grad region; under bf16-mixed the weight and bias
    // are their bfloat16 casts, whose gradients are new values (Autodiff::weight_grad).
    b.outputs.push_back(ad.weight_grad(n.inputs[1]));
    if (bias) b.outputs.push_back(ad.weight_grad(n.inputs[2]));
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    std::vector<int> grads(n.inputs.size(), -1);  // parameter gradients live in the grad region
    const std::vector<int> outs = ad.graph.nodes[id].outputs;
    if (need_dinp) grads[0] = outs[0];
    const size_t w = need_dinp ? 1 : 0;
    if (bias) ad.cast_grads(n, {1, 2}, {outs[w], outs[w + 1]}, grads);
    else ad.cast_grads(n, {1}, {outs[w]}, grads);
    return grads;
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "linear_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    const std::int64_t in = attr_int(n, "in_features"), out = attr_int(n, "out_features");
    std::vector<OutputType> t;
    if (attr_bool(n, "need_dinp")) t.push_back({x.dtype, x.shape, true});
    t.push_back({DType::f32, {out, in}, false});
    if (attr_bool(n, "bias")) t.push_back({DType::f32, {out}, false});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dout", "inp"}};
    if (attr_bool(n, "need_dinp")) {
      s.inputs.push_back("weight");
      s.outputs.push_back("dinp");
    }
    s.outputs.push_back("dweight");
    if (attr_bool(n, "bias")) s.outputs.push_back("dbias");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[1]);
    const double rows = static_cast<double>(x.shape[0] * rows_per_sample(x));
    const double in = static_cast<double>(attr_int(n, "in_features"));
    const double out = static_cast<double>(attr_int(n, "out_features"));
    const double gemms = attr_bool(n, "need_dinp") ? 2 : 1;
    return Cost{gemms * 2 * rows * in * out + rows * out,
                4 * (rows * out + rows * in * gemms + in * out * 3)};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "Linear";
  ArgDef in{"in_features", ArgType::integer, std::nullopt, true};
  in.min = 1;
  ArgDef out{"out_features", ArgType::integer, std::nullopt};
  out.min = 1;
  // ltgen's weight tying (GPT's `self.head.weight = self.wte.weight`): the module whose weight
  // this Linear shares, e.g. an Embedding (num_embeddings, embedding_dim) = (out_features, in_features).
  ArgDef tie{"tie_weight", ArgType::string, std::nullopt};
  tie.optional = true;
  l.args = {in, out, {"bias", ArgType::boolean, Attr{true}}, tie};
  l.build = [](LayerBuild& b, const std::vector<int>& inputs) {
    const Value& x = b.graph.value(inputs.at(0));
    // As torch.nn.Linear, on the last dimension: (batch, features) or a sequence (batch, T, features).
    if (x.shape.size() != 2 && x.shape.size() != 3)
      throw ShapeError("Linear expects an input (batch, features) or (batch, T, features), got " +
                       shape_str(x.shape) + "; add a Flatten layer before it");
    const std::int64_t features = x.shape.back();
    auto given = b.args.find("in_features");
    if (given != b.args.end() && std::get<std::int64_t>(given->second) != features)
      throw ShapeError("in_features is " + std::to_string(std::get<std::int64_t>(given->second)) +
                       " but the input has " + std::to_string(features) +
                       " features; remove in_features to infer it");
    const std::int64_t out_features = std::get<std::int64_t>(b.args.at("out_features"));
    const bool bias = std::get<bool>(b.args.at("bias"));
    auto tie = b.args.find("tie_weight");
    int weight = -1;
    if (tie != b.args.end()) {
      // One parameter, two users: it keeps its owner's name and initialisation; autodiff sums the
      // gradients of both (the second writer adds to the first's).
      const std::string owner = std::get<std::string>(tie->second) + ".weight";
      for (int p : b.graph.params)
        if (b.graph.value(p).torch_name == owner) weight = p;
      if (weight < 0)
        throw ShapeError("tie_weight '" + std::get<std::string>(tie->second) +
                         "' names no earlier module with a weight (it needs '" + owner + "')");
      const Shape want = {out_features, features};
      if (b.graph.value(weight).shape != want)
        throw ShapeError("tie_weight: " + owner + " is " + shape_str(b.graph.value(weight).shape) +
                         " but this Linear's weight is (out_features, in_features) = " + shape_str(want));
    } else {
      weight = add_param(b.graph, b.layer + ".weight", {out_features, features});
    }
    const int bias_param = bias ? add_param(b.graph, b.layer + ".bias", {out_features}) : -1;
    // PyTorch's default: kaiming_uniform_(a=sqrt(5)) for the weight and
    // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias.
    if (tie == b.args.end()) {
      b.graph.value(weight).init_bound = kaiming_uniform_bound(features);
    } else {  // torch's Linear draws a weight of its own before the module's tying replaces it
      InitStep own;
      own.kind = Init::discard;
      own.draws = out_features * features;
      b.graph.init_steps.push_back(own);
    }
    if (bias) b.graph.value(bias_param).init_bound = fan_in_bound(features);
    return add_linear(b.graph, b.layer, b.source, inputs.at(0), weight, bias_param);
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
