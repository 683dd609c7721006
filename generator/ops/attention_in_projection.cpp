/// \file
/// Cross-attention's input projection: torch's _in_projection_packed when the key is the value and
/// the query is another tensor. in_proj_weight (3E, E) splits into W_q (its first E rows) and W_kv
/// (the other 2E), in_proj_bias likewise, and
///   query = inp @ W_q^T + b_q          (batch, Tq, E)
///   key_value = memory @ W_kv^T + b_kv (batch, Tk, 2E: k | v)
/// two GEMMs on row blocks of the one parameter. The backward writes the parameter's gradient
/// whole: dW_q = dquery^T inp and dW_kv = dkey_value^T memory into its row blocks, the bias's as
/// column sums, and dinp = dquery W_q, dmemory = dkey_value W_kv where they are needed.
/// (Self-attention's projection is one Linear, E -> 3E: multihead_attention.cpp.)
#include <stdexcept>
#include <tuple>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// Rows per sample of a (batch, T, E) value.
std::int64_t rows(const Value& v) { return v.shape.at(1); }

void write_sizes(CodeWriter& w, const Node& n, const Value& inp, const Value& memory) {
  w.line("constexpr int kE = " + std::to_string(attr_int(n, "embed_dim")) +
         ";  // embed_dim: W_q is E x E, W_kv 2E x E");
  w.line("const int query_rows = n * " + std::to_string(rows(inp)) + ", memory_rows = n * " +
         std::to_string(rows(memory)) + ";  // the batch's rows of inp and memory");
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, n, g.value(n.inputs[0]), g.value(n.inputs[1]));
  if (attr_bool(n, "bias")) {
    w.line("// As torch's addmm: the rows start as the bias, and each GEMM adds its product.");
    w.line("for (int i = 0; i < query_rows; ++i) std::copy(bias, bias + kE, query + i * kE);");
    w.line("for (int i = 0; i < memory_rows; ++i) std::copy(bias + kE, bias + 3 * kE, key_value + i * 2 * kE);");
  }
  const std::string beta = attr_bool(n, "bias") ? "1.0f" : "0.0f";
  w.line("ltrt::sgemm(false, true, query_rows, kE, kE, inp, weight, " + beta + ", query);  // inp @ W_q^T");
  w.line("ltrt::sgemm(false, true, memory_rows, 2 * kE, kE, memory, weight + kE * kE, " + beta +
         ", key_value);  // memory @ W_kv^T");
}

// The backward's GEMMs, each `gemm` (the call's opening: "ltrt::sgemm(" or the CUDA one's) of
// its operands: the weight's row blocks' gradients, then the inputs' where they are needed.
void write_backward_gemms(CodeWriter& w, const Node& n, const std::string& gemm) {
  w.line(gemm + "true, false, kE, kE, query_rows, dquery, inp, accumulate ? 1.0f : 0.0f, dweight);  // dW_q");
  w.line(gemm +
         "true, false, 2 * kE, kE, memory_rows, dkey_value, memory, accumulate ? 1.0f : 0.0f, "
         "dweight + kE * kE);  // dW_kv");
  if (attr_bool(n, "need_dinp"))
    w.line(gemm + "false, false, query_rows, kE, kE, dquery, weight, 0.0f, dinp);  // dquery @ W_q");
  if (attr_bool(n, "need_dmemory"))
    w.line(gemm +
           "false, false, memory_rows, kE, 2 * kE, dkey_value, weight + kE * kE, 0.0f, dmemory);"
           "  // dkey_value @ W_kv");
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, n, g.value(n.inputs[2]), g.value(n.inputs[3]));
  write_backward_gemms(w, n, "ltrt::sgemm(");
  if (!attr_bool(n, "bias")) return;
  w.line("if (!accumulate) std::fill(dbias, dbias + 3 * kE, 0.0f);");
  w.line("// The column sums of dquery and dkey_value, row after row.");
  w.open("for (int i = 0; i < query_rows; ++i)");
  w.line("for (int o = 0; o < kE; ++o) dbias[o] += dquery[i * kE + o];");
  w.close();
  w.open("for (int i = 0; i < memory_rows; ++i)");
  w.line("for (int o = 0; o < 2 * kE; ++o) dbias[kE + o] += dkey_value[i * 2 * kE + o];");
  w.close();
}

// CUDA: cuBLASLt's GEMMs with the bias in their epilogue; the bias's gradient as two column sums.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  CodeWriter& w = e.body;
  write_sizes(w, n, g.value(n.inputs[0]), g.value(n.inputs[1]));
  const bool bias = attr_bool(n, "bias");
  const std::string epilogue = bias ? "ltrt::cuda::Epilogue::bias" : "ltrt::cuda::Epilogue::none";
  w.line("ltrt::cuda::sgemm(ctx, false, true, query_rows, kE, kE, inp, weight, 0.0f, query, " + epilogue + ", " +
         (bias ? "bias" : "nullptr") + ");  // inp @ W_q^T" + (bias ? " + b_q" : ""));
  w.line("ltrt::cuda::sgemm(ctx, false, true, memory_rows, 2 * kE, kE, memory, weight + kE * kE, 0.0f, key_value, " +
         epilogue + ", " + (bias ? "bias + kE" : "nullptr") + ");  // memory @ W_kv^T" + (bias ? " + b_kv" : ""));
}

void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  CodeWriter& w = e.body;
  write_sizes(w, n, g.value(n.inputs[2]), g.value(n.inputs[3]));
  write_backward_gemms(w, n, "ltrt::cuda::sgemm(ctx, ");
  if (!attr_bool(n, "bias")) return;
  const std::string embed = std::to_string(attr_int(n, "embed_dim"));
  for (const auto& [part, columns, rows_name, source] :
       {std::tuple<std::string, std::string, std::string, std::string>{"q", embed, "query_rows", "dquery"},
        {"kv", std::to_string(2 * attr_int(n, "embed_dim")), "memory_rows", "dkey_value"}}) {
    const std::string kernel = e.fn + "_dbias_" + part + "_kernel";
    emit_column_sum_kernel(e.kernels, kernel, {"float* __restrict__ dbias", "const float* __restrict__ dout"},
                           "kColumns", {{"dbias", "dout[at]"}},
                           [&](CodeWriter& k) { k.line("constexpr int kColumns = " + columns + ";"); });
    const std::string out = "dbias_" + part;
    w.open_block("b_" + part + "'s gradient: the column sums of " + source);
    w.line("float* " + out + " = dbias" + (part == "q" ? "" : " + kE") + ";");
    emit_column_sum_launch(w, kernel, columns, {out, source}, rows_name, {out});
    w.close();
  }
}

}  // namespace

std::vector<int> add_attention_in_projection(Graph& g, const std::string& layer, const std::string& source, int inp,
                                             int memory, int weight, int bias) {
  Node n;
  n.op = "attention_in_projection";
  n.layer = layer;
  n.source = source;
  n.attrs["embed_dim"] = g.value(weight).shape.at(1);
  n.attrs["bias"] = bias >= 0;
  n.inputs = {inp, memory, weight};
  if (bias >= 0) n.inputs.push_back(bias);
  const int id = add_op(g, std::move(n), cpp_name(layer) + "_in_proj");
  return g.nodes[id].outputs;
}

void register_attention_in_projection(std::vector<OpDef>& ops) {
  OpDef f;
  f.name = "attention_in_projection";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& inp = g.value(n.inputs.at(0));
    const Value& memory = g.value(n.inputs.at(1));
    const std::int64_t e = attr_int(n, "embed_dim");
    for (const Value* v : {&inp, &memory})
      if (v->shape.size() != 3 || v->shape[2] != e)
        throw ShapeError("expects a sequence (batch, T, " + std::to_string(e) + "), got " + shape_str(v->shape));
    return std::vector<OutputType>{{DType::f32, {inp.shape[0], inp.shape[1], e}, true},
                                   {DType::f32, {memory.shape[0], memory.shape[1], 2 * e}, true}};
  };
  f.slots = [](const Node& n) {
    Slots s{{"query", "key_value"}, {"inp", "memory", "weight"}};
    if (attr_bool(n, "bias")) s.inputs.push_back("bias");
    return s;
  };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(attr_int(n, "embed_dim"));
    const double q = static_cast<double>(numel(g.value(n.inputs[0]).shape)) / e;  // rows
    const double m = static_cast<double>(numel(g.value(n.inputs[1]).shape)) / e;
    return Cost{2 * q * e * e + 4 * m * e * e, 4 * (q * e * 2 + m * e * 3 + 3 * e * e)};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    std::vector<int> grads(n.inputs.size(), -1);
    if (dout[0] < 0 && dout[1] < 0) return grads;
    if (dout[0] < 0 || dout[1] < 0)
      throw std::logic_error("internal: cross-attention's projection has a gradient for only one of its outputs");
    const int inp = n.inputs[0], memory = n.inputs[1];
    Node b;
    b.op = "attention_in_projection_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dinp"] = ad.needs_grad(inp);
    b.attrs["need_dmemory"] = ad.needs_grad(memory);
    b.inputs = {dout[0], dout[1], inp, memory, n.inputs[2]};
    if (ad.needs_grad(inp)) b.outputs.push_back(-1);
    if (ad.needs_grad(memory)) b.outputs.push_back(-1);
    b.outputs.push_back(ad.weight_grad(n.inputs[2]));
    if (attr_bool(n, "bias")) b.outputs.push_back(ad.weight_grad(n.inputs[3]));
    const int id = ad.add_backward(std::move(b), cpp_name(n.layer) + "_in_proj_grad");
    const std::vector<int>& outs = ad.graph.nodes[id].outputs;
    size_t next = 0;
    if (ad.needs_grad(inp)) grads[0] = outs[next++];
    if (ad.needs_grad(memory)) grads[1] = outs[next++];
    return grads;  // the parameters' gradients live in the grad region
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "attention_in_projection_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& g) {
    const std::int64_t e = attr_int(n, "embed_dim");
    std::vector<OutputType> t;
    if (attr_bool(n, "need_dinp")) t.push_back({DType::f32, g.value(n.inputs.at(2)).shape, true});
    if (attr_bool(n, "need_dmemory")) t.push_back({DType::f32, g.value(n.inputs.at(3)).shape, true});
    t.push_back({DType::f32, {3 * e, e}, false});
    if (attr_bool(n, "bias")) t.push_back({DType::f32, {3 * e}, false});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dquery", "dkey_value", "inp", "memory", "weight"}};
    if (attr_bool(n, "need_dinp")) s.outputs.push_back("dinp");
    if (attr_bool(n, "need_dmemory")) s.outputs.push_back("dmemory");
    s.outputs.push_back("dweight");
    if (attr_bool(n, "bias")) s.outputs.push_back("dbias");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(attr_int(n, "embed_dim"));
    const double q = static_cast<double>(numel(g.value(n.inputs[2]).shape)) / e;
    const double m = static_cast<double>(numel(g.value(n.inputs[3]).shape)) / e;
    return Cost{4 * q * e * e + 8 * m * e * e, 4 * (q * e * 3 + m * e * 5 + 6 * e * e)};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));
}

}  // namespace ltgen
