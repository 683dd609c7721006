/// \file
/// CTCLoss(blank, reduction, zero_infinity): the connectionist temporal classification loss of
/// log-probabilities (batch, T, C) (the model's output, batch first; torch's ctc_loss takes them
/// time first, (T, batch, C)) against int64 label sequences (batch, S), each row the sample's labels
/// ended by the first -1 (or by the row's end): the target lengths. Every sample's input length is
/// T. As torch's CPU kernel (Graves et al. 2006), in float:
///   forward: log_alpha over the states s of the blank-extended labels (even s: blank, odd s: the
///            label s / 2), each step a log-sum-exp of up to three predecessors shifted by their
///            maximum; nll = -log(alpha of the last blank + alpha of the last label)
///   loss:    'mean' the mean over samples of nll / max(length, 1), 'sum' the sum; zero_infinity
///            counts an infinite nll (no path fits in T steps) as 0
///   backward: log_beta alike from the end; per step and class the log-sum of alpha + beta of the
///            states with that label (in descending s, as torch adds them), then
///            dinp = (exp(lp) - exp(collected + nll - lp)) * g.
/// That gradient is torch's: with a LogSoftmax before the loss it is the loss's derivative (the
/// exp(lp) term vanishes in LogSoftmax's backward); on other inputs it is not, as in torch.
/// CUDA runs the same lines, a thread per sample (TUNE: a block per sample over the states).
#include <algorithm>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "conv.hpp"
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

namespace {

void write_sizes(CodeWriter& w, const Node& n) {
  const std::int64_t labels = attr_int(n, "labels");
  w.line("constexpr int kSteps = " + std::to_string(attr_int(n, "steps")) + ";  // T: every sample's input length");
  w.line("constexpr int kClasses = " + std::to_string(attr_int(n, "classes")) + ";");
  w.line("constexpr int kLabels = " + std::to_string(labels) + ";  // S: a target row, -1 ending it early");
  w.line("constexpr int kStates = " + std::to_string(2 * labels + 1) + ";  // blank, label, blank, ..., blank");
  w.line("constexpr std::int64_t kBlank = " + std::to_string(attr_int(n, "blank")) + ";");
  w.line("constexpr float kNegInf = -std::numeric_limits<float>::infinity();");
}

// Sample b's log-probs `lp`, labels `y`, their count `len` and its log_alpha rows `la`.
std::vector<std::string> sample_lines(bool alpha_writable) {
  return {"const float* lp = inp + static_cast<std::int64_t>(b) * kSteps * kClasses;",
          "const std::int64_t* y = target + static_cast<std::int64_t>(b) * kLabels;",
          "int len = 0;",
          "while (len < kLabels && y[len] >= 0) ++len;  // the labels before the first -1",
          std::string(alpha_writable ? "float* la" : "const float* la") +
              " = log_alpha + static_cast<std::int64_t>(b) * kSteps * kStates;"};
}

// The three-way log-sum-exp of a recursion step into `dst`, as torch writes it: the terms shifted
// by their largest (0 when all are -inf), then the step's log-prob added.
std::vector<std::string> log_sum_lines(const std::string& a, const std::string& dst) {
  return {"float m = " + a + "1;",
          "if (" + a + "2 > m) m = " + a + "2;",
          "if (" + a + "3 > m) m = " + a + "3;",
          "if (m == kNegInf) m = 0.0f;  // no path yet: no -inf - -inf",
          dst + " = std::log(std::exp(" + a + "1 - m) + std::exp(" + a + "2 - m) + std::exp(" + a + "3 - m)) + m + lpt[label];"};
}

// Sample b's forward (after sample_lines): log_alpha and its nll into `nll_value`.
void write_alpha(CodeWriter& w) {
  w.line("for (int s = 0; s < kStates; ++s) la[s] = kNegInf;");
  w.line("la[0] = lp[kBlank];  // a path starts with a blank or the first label");
  w.line("if (len > 0) la[1] = lp[y[0]];");
  w.open("for (int t = 1; t < kSteps; ++t)");
  w.line("const float* prev = la + (t - 1) * kStates;");
  w.line("float* cur = la + t * kStates;");
  w.line("const float* lpt = lp + t * kClasses;");
  w.open("for (int s = 0; s <= 2 * len; ++s)");
  w.line("const std::int64_t label = s % 2 == 0 ? kBlank : y[s / 2];");
  w.line("const float a1 = prev[s];");
  w.line("const float a2 = s > 0 ? prev[s - 1] : kNegInf;");
  w.line("// from two states back: a label skips the blank between it and a different label");
  w.line("const float a3 = s % 2 == 1 && s > 1 && y[s / 2] != y[s / 2 - 1] ? prev[s - 2] : kNegInf;");
  for (const std::string& l : log_sum_lines("a", "cur[s]")) w.line(l);
  w.close();
  w.close();
  w.line("const float* last = la + (kSteps - 1) * kStates;");
  w.line("float nll_value = -last[0];  // no labels: the all-blank path");
  w.open("if (len > 0)");
  w.line("const float l1 = last[2 * len], l2 = last[2 * len - 1];");
  w.line("float m = std::max(l1, l2);");
  w.line("m = m == kNegInf ? 0.0f : m;");
  w.line("nll_value = -(std::log(std::exp(l1 - m) + std::exp(l2 - m)) + m);");
  w.close();
}

// Sample b's share of the loss, `term`, from its nll (and len in scope).
std::string term_line(const Node& n, const std::string& nll) {
  const std::string kept = attr_bool(n, "zero_infinity")
                               ? "(" + nll + " == std::numeric_limits<float>::infinity() ? 0.0f : " + nll + ")"
                               : nll;
  return attr_str(n, "reduction") == "mean"
             ? "const float term = " + kept + " / static_cast<float>(std::max(len, 1));  // reduction='mean'"
             : "const float term = " + kept + ";  // reduction='sum'";
}

std::string loss_line(const Node& n, const std::string& sum, const std::string& rows) {
  return attr_str(n, "reduction") == "mean" ? "out[0] = static_cast<float>(" + sum + " / " + rows + ");"
                                            : "out[0] = static_cast<float>(" + sum + ");";
}

// Sample b's backward (after sample_lines): log_beta, the collected alpha + beta per step and
// class in dx, then dx's gradient; a sample without gradient (zero_infinity) ends with `leave`.
void write_beta(CodeWriter& w, const Node& n, const std::string& rows, const std::string& leave) {
  w.line("float* dx = dinp + static_cast<std::int64_t>(b) * kSteps * kClasses;");
  w.line(attr_str(n, "reduction") == "mean"
             ? "const float g = dloss[0] / static_cast<float>(" + rows + ") / static_cast<float>(std::max(len, 1));"
             : "const float g = dloss[0];");
  if (attr_bool(n, "zero_infinity")) {
    w.line("// zero_infinity: no gradient from a sample whose labels no path fits");
    w.open("if (nll[b] == std::numeric_limits<float>::infinity())");
    w.line("for (int i = 0; i < kSteps * kClasses; ++i) dx[i] = 0.0f;");
    w.line(leave);
    w.close();
  }
  w.line("float* lb = log_beta + static_cast<std::int64_t>(b) * kSteps * kStates;");
  w.line("for (int i = 0; i < kSteps * kClasses; ++i) dx[i] = kNegInf;  // log of an empty sum");
  w.line("const int end = (kSteps - 1) * kStates, end_lp = (kSteps - 1) * kClasses;");
  w.line("for (int s = 0; s < kStates; ++s) lb[end + s] = kNegInf;");
  w.line("lb[end + 2 * len] = lp[end_lp + kBlank];  // a path ends with a blank or the last label");
  w.line("dx[end_lp + kBlank] = la[end + 2 * len] + lb[end + 2 * len];");
  w.open("if (len > 0)");
  w.line("lb[end + 2 * len - 1] = lp[end_lp + y[len - 1]];");
  w.line("dx[end_lp + y[len - 1]] = la[end + 2 * len - 1] + lb[end + 2 * len - 1];");
  w.close();
  w.open("for (int t = kSteps - 2; t >= 0; --t)");
  w.line("const float* next = lb + (t + 1) * kStates;");
  w.line("float* cur = lb + t * kStates;");
  w.line("const float* alpha = la + t * kStates;");
  w.line("const float* lpt = lp + t * kClasses;");
  w.line("float* collected = dx + t * kClasses;");
  w.open("for (int s = 2 * len; s >= 0; --s)");
  w.line("const std::int64_t label = s % 2 == 0 ? kBlank : y[s / 2];");
  w.line("const float b1 = next[s];");
  w.line("const float b2 = s < 2 * len ? next[s + 1] : kNegInf;");
  w.line("const float b3 = s % 2 == 1 && s < 2 * len - 1 && y[s / 2 + 1] != y[s / 2] ? next[s + 2] : kNegInf;");
  for (const std::string& l : log_sum_lines("b", "cur[s]")) w.line(l);
  w.line("// collected[label] log+= alpha + beta, in descending s as torch adds them");
  w.line("const float ab = alpha[s] + cur[s];");
  w.line("float& c = collected[label];");
  w.open("if (c == kNegInf)");
  w.line("c = ab;");
  w.close();
  w.open("else");
  w.line("const float mx = std::max(c, ab);");
  w.line("c = std::log(std::exp(c - mx) + std::exp(ab - mx)) + mx;");
  w.close();
  w.close();
  w.close();
  w.line("for (int i = 0; i < kSteps * kClasses; ++i) dx[i] = (std::exp(lp[i]) - std::exp(dx[i] + nll[b] - lp[i])) * g;");
}

OpDef forward_op() {
  OpDef f;
  f.name = "ctc_loss";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const std::int64_t batch = x.shape.at(0);
    return std::vector<OutputType>{{DType::f32, {}, false},
                                   {DType::f32, {batch, attr_int(n, "steps"), 2 * attr_int(n, "labels") + 1}, true},
                                   {DType::f32, {batch}, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out", "log_alpha", "nll"}, {"inp", "target"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double states = static_cast<double>(g.value(n.inputs[0]).shape[0] * attr_int(n, "steps")) *
                          static_cast<double>(2 * attr_int(n, "labels") + 1);
    return Cost{states * 30, states * 8};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    write_sizes(w, n);
    w.line("double sum = 0.0;");
    w.open("for (int b = 0; b < n; ++b)");
    for (const std::string& l : sample_lines(true)) w.line(l);
    write_alpha(w);
    w.line("nll[b] = nll_value;");
    w.line(term_line(n, "nll_value"));
    w.line("sum += term;");
    w.close();
    w.line(loss_line(n, "sum", "n"));
  };
  // CUDA: the CPU's lines, a thread per sample; then one block adds the samples' terms in double.
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    CodeWriter& k = e.kernels;
    k.line();
    k.line("// A thread per sample: its log_alpha recursion and nll, as the CPU program's loop.");
    open_element_kernel(k, e.fn + "_kernel",
                        {"float* __restrict__ log_alpha", "float* __restrict__ nll", "const float* __restrict__ inp",
                         "const std::int64_t* __restrict__ target"},
                        [&](CodeWriter& c) { write_sizes(c, n); });
    k.line("const int b = i;");
    for (const std::string& l : sample_lines(true)) k.line(l);
    write_alpha(k);
    k.line("nll[b] = nll_value;");
    k.close();
    write_block_sum_kernel(
        k, e.fn + "_sum_kernel",
        "float* __restrict__ out, const float* __restrict__ nll, const std::int64_t* __restrict__ target, int rows",
        [&](CodeWriter& c) { c.line("constexpr int kLabels = " + std::to_string(attr_int(n, "labels")) + ";"); },
        "for (int b = threadIdx.x; b < rows; b += blockDim.x)",
        [&](CodeWriter& c) {
          c.line("const std::int64_t* y = target + static_cast<std::int64_t>(b) * kLabels;");
          c.line("int len = 0;");
          c.line("while (len < kLabels && y[len] >= 0) ++len;");
          c.line(term_line(n, "nll[b]"));
          c.line("sum += term;");
        },
        "if (threadIdx.x == 0) " + loss_line(n, "partial[0]", "rows"));
    emit_count_launch(e.body, e.fn + "_kernel", "n", {"log_alpha", "nll", "inp", "target"});
    emit_launch(e.body, e.fn + "_sum_kernel", "1", "kReduceThreads", {"out", "nll", "target", "n"});
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1, -1};
    Node b;
    b.op = "ctc_loss_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], x, n.inputs[1], n.outputs[1], n.outputs[2]};  // dloss, inp, target, log_alpha, nll
    const Value& alpha = ad.graph.value(n.outputs[1]);
    b.outputs = {-1, add_scratch(ad.graph, "d_" + cpp_name(n.layer) + "_log_beta", alpha.shape, true)};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0], -1};
  };
  return f;
}

OpDef backward_op() {
  OpDef b;
  b.name = "ctc_loss_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    const Value& alpha = g.value(n.inputs.at(3));
    return std::vector<OutputType>{{DType::f32, x.shape, x.batched}, {DType::f32, alpha.shape, true}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp", "log_beta"}, {"dloss", "inp", "target", "log_alpha", "nll"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[1]);
    const double states = static_cast<double>(x.shape[0] * attr_int(n, "steps")) *
                          static_cast<double>(2 * attr_int(n, "labels") + 1);
    return Cost{states * 40 + static_cast<double>(numel(x.shape)) * 3, states * 12 + static_cast<double>(numel(x.shape)) * 12};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    write_sizes(w, n);
    w.open("for (int b = 0; b < n; ++b)");
    for (const std::string& l : sample_lines(false)) w.line(l);
    write_beta(w, n, "n", "continue;");
    w.close();
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    CodeWriter& k = e.kernels;
    k.line();
    k.line("// A thread per sample: its log_beta recursion and gradient, as the CPU program's loop.");
    open_element_kernel(k, e.fn + "_kernel",
                        {"float* __restrict__ dinp", "float* __restrict__ log_beta", "const float* __restrict__ dloss",
                         "const float* __restrict__ inp", "const std::int64_t* __restrict__ target",
                         "const float* __restrict__ log_alpha", "const float* __restrict__ nll", "int rows"},
                        [&](CodeWriter& c) { write_sizes(c, n); });
    k.line("const int b = i;");
    for (const std::string& l : sample_lines(false)) k.line(l);
    write_beta(k, n, "rows", "return;");
    k.close();
    emit_count_launch(e.body, e.fn + "_kernel", "n", {"dinp", "log_beta", "dloss", "inp", "target", "log_alpha", "nll", "n"});
  };
  return b;
}

}  // namespace

void register_ctc_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  ops.push_back(forward_op());
  ops.push_back(backward_op());

  LayerDef l;
  l.torch_type = "CTCLoss";
  l.is_loss = true;
  l.label_sequences = true;
  ArgDef blank{"blank", ArgType::integer, Attr{std::int64_t{0}}};
  blank.min = 0;
  l.args = {blank, reduction_arg(), ArgDef{"zero_infinity", ArgType::boolean, Attr{false}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const Value& y = b.graph.value(in.at(1));
    if (x.dtype != DType::f32 || x.shape.size() != 3)
      throw ShapeError("expects log-probabilities (batch, T, classes) (a LogSoftmax over the last dimension; torch's "
                       "ctc_loss takes them time first, which --emit lightning transposes), got " +
                       std::string(dtype_name(x.dtype)) + " " + shape_str(x.shape));
    const std::int64_t classes = x.shape[2];
    if (y.dtype != DType::i64 || y.shape.size() != 2)
      throw ShapeError("needs int64 label sequences (batch, S), each row the sample's labels ended by -1: "
                       "\"model.target\": {\"dtype\": \"int64\", \"num_classes\": " + std::to_string(classes) +
                       ", \"shape\": [S]}");
    const std::int64_t blank_index = std::get<std::int64_t>(b.args.at("blank"));
    if (blank_index >= classes)
      throw ShapeError("blank=" + std::to_string(blank_index) + " is not one of the output's " + std::to_string(classes) +
                       " classes: blank must lie in [0, " + std::to_string(classes) + ")");
    Node n;
    n.op = "ctc_loss";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs = b.args;
    n.attrs["steps"] = x.shape[1];
    n.attrs["classes"] = classes;
    n.attrs["labels"] = y.shape[1];
    n.inputs = {in[0], in[1]};
    const int id = add_op(b.graph, std::move(n), "loss");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
