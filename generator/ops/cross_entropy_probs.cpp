/// \file
/// CrossEntropyLoss on logits (batch, [T,] C) against class probabilities of the same shape (float
/// targets: soft labels, mixup, distillation), as torch's cross_entropy_loss_prob_target:
///   p = target (1 - eps) + eps / C          (label_smoothing eps; p = target without it)
///   loss = -sum over rows i and classes k of log_softmax(x_i)[k] p_ik w[k]
/// divided by the rows ('mean': batch [x T], not the weights' sum as with class indices) or not
/// ('sum'). Its gradient, autograd's through those steps:
///   d_ik = -g p_ik w[k]  (g = dloss / rows, or dloss),   dx_ik = d_ik - softmax_i[k] sum_k d_ik
/// The forward saves each row's log-sum-exp for the backward. The CUDA kernels give a row to a warp
/// (a block for rows of over 1024 classes), as CrossEntropyLoss's with class indices.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "class_targets.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// Rows a sample has (its positions), from the logits: the forward's first input, the backward's second.
std::int64_t rows_per_sample(const Node& n, const Graph& g) {
  const int logits = n.op == "cross_entropy_probs" ? n.inputs.at(0) : n.inputs.at(1);
  return per_sample_numel(g.value(logits)) / attr_int(n, "num_classes");
}

bool smoothing(const Node& n) { return attr_float(n, "label_smoothing") != 0.0; }

// kClasses, kPositions (rows a sample has; the CPU's loops), label smoothing's float constants and
// the class weights (the CPU's: CUDA kernels read them from global memory).
void write_constants(CodeWriter& w, const Node& n, const Graph& g, bool cpu) {
  const bool with_rows = cpu;
  w.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
  if (with_rows && rows_per_sample(n, g) > 1)
    w.line("constexpr int kPositions = " + std::to_string(rows_per_sample(n, g)) + ";  // rows are (sample, position)");
  if (smoothing(n)) {
    const double eps = attr_float(n, "label_smoothing");
    w.line("constexpr float kKeep = " + float_literal(1.0 - eps) + ";  // target * (1 - label_smoothing) ...");
    w.line("constexpr float kSpread = " + float_literal(eps / static_cast<double>(attr_int(n, "num_classes"))) +
           ";  // ... + label_smoothing / C");
  }
  if (cpu) write_class_weights(w, n, false);
}

std::string rows(const Node& n, const Graph& g) { return rows_per_sample(n, g) > 1 ? "n * kPositions" : "n"; }

// Class k's p (times its weight): torch's target_ * weight_ factors, in its order.
std::string probability(const Node& n, const std::string& p, const std::string& k, const std::string& weight) {
  const std::string t = smoothing(n) ? "(" + p + "[" + k + "] * kKeep + kSpread)" : p + "[" + k + "]";
  return class_weighted(n) ? t + " * " + weight + "[" + k + "]" : t;
}

// Opens CUDA row kernel `name(params, int rows)` (the class weights in global memory before it,
// named <fn>_weight) with the constants, `i` the row of its warp or block, `t` the thread's first
// class, `row` and `p` the row's logits and probabilities.
void open_row_kernel(CudaEmit& e, const Node& n, const Graph& g, const RowSplit& split, const std::string& name,
                     const std::string& params, const std::string& comment) {
  CodeWriter& k = e.kernels;
  if (class_weighted(n)) write_device_class_weights(k, n, e.fn + "_weight");
  k.line();
  k.line(comment);
  k.open("__global__ void " + name + "(" + params + ", const float* __restrict__ inp, const float* __restrict__ target, int rows)");
  write_constants(k, n, g, false);
  open_row(k, split, "i", "rows");
  k.line("const float* row = inp + static_cast<std::int64_t>(i) * kClasses;");
  k.line("const float* p = target + static_cast<std::int64_t>(i) * kClasses;");
}

}  // namespace

int build_cross_entropy_probs(LayerBuild& b, const std::vector<int>& in) {
  const Value& x = b.graph.value(in.at(0));
  const Value& t = b.graph.value(in.at(1));
  if (x.shape.size() < 2 || t.shape != x.shape)
    throw ShapeError("with float targets (class probabilities) expects them of the logits' shape (batch, [T,] classes), "
                     "got logits " + shape_str(x.shape) + " and targets " + shape_str(t.shape) +
                     "; for class indices declare \"model.target\": {\"dtype\": \"int64\", \"num_classes\": " +
                     std::to_string(x.shape.back()) + "}");
  // torch reads (batch, C, d1, d2, ...) probabilities with the classes second; ltgen's rows read
  // the last dimension, as a Lightning user flattens a sequence's (batch, T, C): past that, refused.
  if (x.shape.size() > 3)
    throw ShapeError(
        "class probabilities of " + shape_str(x.shape) +
        " are not supported yet: torch reads the classes "
        "second there (batch, C, d1, d2, ...), and ltgen reads rows of classes, (batch, C) or (batch, T, "
        "C); for a label per position declare \"model.target\": {\"dtype\": \"int64\", \"num_classes\": C, "
        "\"shape\": [d1, d2, ...]}");
  if (std::get<std::int64_t>(b.args.at("ignore_index")) >= 0)
    throw ShapeError("ignore_index is not supported for class probabilities (torch refuses it for float targets): "
                     "remove it");
  Node n;
  n.op = "cross_entropy_probs";
  n.layer = b.layer;
  n.source = b.source;
  n.attrs = b.args;
  n.attrs.erase("weight");  // a number list: set_class_weight checks it first
  n.attrs.erase("ignore_index");
  n.attrs["num_classes"] = x.shape.back();
  set_class_weight(n, b.args, x.shape.back());
  n.inputs = {in.at(0), in.at(1)};
  const int id = add_op(b.graph, std::move(n), "loss");
  return b.graph.nodes[id].outputs[0];
}

void register_cross_entropy_probs(std::vector<OpDef>& ops) {
  OpDef f;
  f.name = "cross_entropy_probs";
  // Besides the loss, per row: its log-sum-exp (the backward's softmax) and its share of the sum.
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    Shape per_row(x.shape.begin(), x.shape.end() - 1);
    return std::vector<OutputType>{{DType::f32, {}, false}, {DType::f32, per_row, x.batched}, {DType::f32, per_row, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out", "lse", "term"}, {"inp", "target"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * 8, e * 8};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n, g, true);
    w.line("double sum = 0.0;");
    w.open("for (int i = 0; i < " + rows(n, g) + "; ++i)");
    w.line("const float* row = inp + static_cast<std::int64_t>(i) * kClasses;");
    w.line("const float* p = target + static_cast<std::int64_t>(i) * kClasses;");
    w.line("float max = row[0];");
    w.line("for (int k = 1; k < kClasses; ++k) max = std::max(max, row[k]);");
    w.line("float sum_exp = 0.0f;");
    w.line("for (int k = 0; k < kClasses; ++k) sum_exp += ltrt::exp_vec(row[k] - max);");
    w.line("const float log_sum = std::log(sum_exp);");
    w.line("lse[i] = max + log_sum;  // for the backward");
    w.line("float row_term = 0.0f;  // sum_k log_softmax[k] p[k] (w[k])");
    w.line("for (int k = 0; k < kClasses; ++k) row_term += (row[k] - max - log_sum) * " + probability(n, "p", "k", "kWeight") + ";");
    w.line("term[i] = row_term;");
    w.line("sum += row_term;");
    w.close();
    w.line(attr_str(n, "reduction") == "mean" ? "out[0] = static_cast<float>(-sum / (" + rows(n, g) + "));  // reduction='mean': over the rows"
                                              : "out[0] = static_cast<float>(-sum);  // reduction='sum'");
  };
  // CUDA: a row kernel writes each row's log-sum-exp and term (threads striding over the classes,
  // tree reductions), then one block sums the terms in double in a fixed order.
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const std::string weight = e.fn + "_weight";
    const RowSplit split = split_rows(attr_int(n, "num_classes"));
    open_row_kernel(e, n, g, split, e.fn + "_row_kernel", "float* __restrict__ lse, float* __restrict__ term",
                    "// Row i's log-sum-exp and its sum of log_softmax x p.");
    CodeWriter& k = e.kernels;
    k.line("float max = row[0];");
    k.line("for (int c = t; c < kClasses; c += kRowThreads) max = std::max(max, row[c]);");
    k.line("max = " + row_max(split, "max") + ";");
    k.line("float sum_exp = 0.0f;");
    k.line("for (int c = t; c < kClasses; c += kRowThreads) sum_exp += ltrt::exp_vec(row[c] - max);");
    k.line("sum_exp = " + row_sum(split, "sum_exp") + ";");
    k.line("const float log_sum = std::log(sum_exp);");
    k.line("float row_term = 0.0f;");
    k.line("for (int c = t; c < kClasses; c += kRowThreads) row_term += (row[c] - max - log_sum) * " +
           probability(n, "p", "c", weight) + ";");
    k.line("row_term = " + row_sum(split, "row_term") + ";");
    k.open("if (t == 0)");
    k.line("lse[i] = max + log_sum;  // for the backward");
    k.line("term[i] = row_term;");
    k.close();
    k.close();
    const bool mean = attr_str(n, "reduction") == "mean";
    write_block_sum_kernel(
        k, e.fn + "_sum_kernel", "float* __restrict__ out, const float* __restrict__ term, int rows", [](CodeWriter&) {},
        "for (int i = threadIdx.x; i < rows; i += blockDim.x)", [](CodeWriter& c) { c.line("sum += term[i];"); },
        mean ? "if (threadIdx.x == 0) out[0] = static_cast<float>(-partial[0] / rows);  // reduction='mean'"
             : "if (threadIdx.x == 0) out[0] = static_cast<float>(-partial[0]);  // reduction='sum'");
    CodeWriter& w = e.body;
    if (rows_per_sample(n, g) > 1) w.line("constexpr int kPositions = " + std::to_string(rows_per_sample(n, g)) + ";");
    w.line("const int rows = " + rows(n, g) + ";");
    emit_row_launch(w, e.fn + "_row_kernel", split, "rows", {"lse", "term", "inp", "target", "rows"});
    emit_launch(w, e.fn + "_sum_kernel", "1", "kReduceThreads", {"out", "term", "rows"});
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1, -1};
    Node b;
    b.op = "cross_entropy_probs_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], x, n.inputs[1], n.outputs[1]};  // dloss, inp, target, lse
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0], -1};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "cross_entropy_probs_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dloss", "inp", "target", "lse"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * 8, e * 12};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n, g, true);
    w.line(attr_str(n, "reduction") == "mean"
               ? "const float scale = -(dloss[0] / static_cast<float>(" + rows(n, g) + "));  // -g: reduction='mean'"
               : "const float scale = -dloss[0];  // -g: reduction='sum'");
    w.open("for (int i = 0; i < " + rows(n, g) + "; ++i)");
    w.line("const float* row = inp + static_cast<std::int64_t>(i) * kClasses;");
    w.line("const float* p = target + static_cast<std::int64_t>(i) * kClasses;");
    w.line("float* drow = dinp + static_cast<std::int64_t>(i) * kClasses;");
    w.line("float total = 0.0f;  // sum_k d[k], d[k] = -g p[k] (w[k]): log_softmax's gradient");
    w.line("for (int k = 0; k < kClasses; ++k) total += scale * " + probability(n, "p", "k", "kWeight") + ";");
    w.line("for (int k = 0; k < kClasses; ++k)");
    w.line("  drow[k] = scale * " + probability(n, "p", "k", "kWeight") + " - ltrt::exp_vec(row[k] - lse[i]) * total;");
    w.close();
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const std::string weight = e.fn + "_weight";
    const RowSplit split = split_rows(attr_int(n, "num_classes"));
    open_row_kernel(e, n, g, split, e.fn + "_kernel",
                    "float* __restrict__ dinp, const float* __restrict__ dloss, const float* __restrict__ lse",
                    "// Row i's gradient.");
    CodeWriter& k = e.kernels;
    k.line(attr_str(n, "reduction") == "mean" ? "const float scale = -(dloss[0] / static_cast<float>(rows));  // -g: reduction='mean'"
                                              : "const float scale = -dloss[0];  // -g: reduction='sum'");
    k.line("float* drow = dinp + static_cast<std::int64_t>(i) * kClasses;");
    k.line("float total = 0.0f;");
    k.line("for (int c = t; c < kClasses; c += kRowThreads) total += scale * " + probability(n, "p", "c", weight) + ";");
    k.line("total = " + row_sum(split, "total") + ";");
    k.line("const float row_lse = lse[i];");
    k.line("for (int c = t; c < kClasses; c += kRowThreads)");
    k.line("  drow[c] = scale * " + probability(n, "p", "c", weight) + " - ltrt::exp_vec(row[c] - row_lse) * total;");
    k.close();
    CodeWriter& w = e.body;
    if (rows_per_sample(n, g) > 1) w.line("constexpr int kPositions = " + std::to_string(rows_per_sample(n, g)) + ";");
    w.line("const int rows = " + rows(n, g) + ";");
    emit_row_launch(w, e.fn + "_kernel", split, "rows", {"dinp", "dloss", "lse", "inp", "target", "rows"});
  };
  ops.push_back(std::move(b));
}

}  // namespace ltgen
