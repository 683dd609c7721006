/// \file
/// CrossEntropyLoss on logits (batch, C) and int64 class targets (batch,), with
/// label_smoothing and ignore_index as torch.nn.CrossEntropyLoss:
///   loss_i = lse_i - (1 - eps) x_i[t_i] - eps / C * sum_k x_i[k]
///   d loss_i / d x_i[k] = softmax_i[k] - (1 - eps) [k == t_i] - eps / C
/// Reduction 'mean' divides by the number of rows whose target is not ignored.
/// With class weights w (torch's `weight`), as torch's nll_loss and label-smoothing terms weigh them:
///   loss_i = (1 - eps) w[t_i] (lse_i - x_i[t_i]) + eps / C * sum_k w[k] (lse_i - x_i[k])
///   d loss_i / d x_i[k] = (1 - eps) w[t_i] (softmax_i[k] - [k == t_i]) + eps / C (W softmax_i[k] - w[k])
/// (W = sum_k w[k]), and 'mean' divides by the sum of w[t_i] over the rows not ignored.
/// Sequences: logits (batch, T, C) and targets (batch, T) are batch * T rows,
/// as a Lightning user writes F.cross_entropy(logits.view(-1, C), y.view(-1)):
/// the mean is over every position of the batch whose target is not ignored.
/// The forward also saves each row's log-sum-exp and the count of rows that are
/// not ignored, which the backward reads. The CUDA kernels give a row to a warp
/// or, for rows of over 1024 classes, to a block. Under mixed precision the backward
/// rounds the gradient of 16-bit logits in its own loop (a fused to_bf16).
#include <algorithm>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "class_targets.hpp"
#include "elementwise.hpp"
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

namespace {

// with_positions: the CPU loops count rows from it; CUDA kernels are given rows instead.
void write_constants(CodeWriter& w, const Node& n, const Value& target, bool with_positions = true) {
  w.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
  if (with_positions && label_positions(target) > 1)
    w.line("constexpr int kPositions = " + std::to_string(label_positions(target)) +
           ";  // labels per sample: rows are (sample, position)");
  w.line("constexpr float kLabelSmoothing = " + float_literal(attr_float(n, "label_smoothing")) + ";");
  w.line("constexpr std::int64_t kIgnoreIndex = " + std::to_string(attr_int(n, "ignore_index")) + ";");
  write_class_weights(w, n, true);
}

// Writes `max` and `sum_exp` of row `row` (the CPU's loops).
void write_max_sum_exp(CodeWriter& w) {
  w.line("float max = row[0];");
  w.line("for (int k = 1; k < kClasses; ++k) max = std::max(max, row[k]);");
  w.line("float sum_exp = 0.0f;");
  w.line("for (int k = 0; k < kClasses; ++k) sum_exp += ltrt::exp_vec(row[k] - max);");
}

bool smoothing(const Node& n) { return attr_float(n, "label_smoothing") != 0.0; }

}  // namespace

void register_cross_entropy_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "cross_entropy_loss";
  // Besides the loss, per row (sample, or (sample, position)): its log-sum-exp, which the
  // backward reads instead of recomputing it, and its loss term, which the CUDA lowering sums
  // in a fixed order after the rows are done; and the count of rows whose target is not
  // ignored. The backward reads the count the forward saved (a live range of a few bytes from
  // forward to backward) rather than counting the targets again in a kernel of its own.
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const Value& t = g.value(n.inputs.at(1));
    const std::int64_t classes = attr_int(n, "num_classes");
    check_class_shapes(x, t, classes);
    return std::vector<OutputType>{{DType::f32, {}, false},
                                   {DType::f32, t.shape, t.batched},
                                   {DType::f32, t.shape, t.batched},
                                   {class_weighted(n) ? DType::f32 : DType::i64, {}, false}};
  };
  // "out": the loss keeps the layer's name, `loss`; the others are loss_lse, loss_term and
  // loss_kept (or, with class weights, loss_total_weight).
  f.slots = [](const Node& n) { return Slots{{"out", "lse", "term", total_slot(n)}, {"inp", "target"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * 6, e * 4};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const bool weighted = class_weighted(n);
    write_constants(w, n, g.value(n.inputs[1]));
    w.line("double sum = 0.0;");
    w.line(weighted ? "double weights = 0.0;  // of the rows whose target is not ignored"
                    : "int rows_kept = 0;  // rows whose target is not ignored");
    w.open("for (int i = 0; i < " + label_rows(g.value(n.inputs[1])) + "; ++i)");
    w.line("const std::int64_t t = target[i];");
    w.open("if (t == kIgnoreIndex)");
    w.line("lse[i] = 0.0f;  // never read");
    w.line("term[i] = 0.0f;");
    w.line("continue;");
    w.close();
    w.line("const float* row = inp + i * kClasses;");
    write_max_sum_exp(w);
    w.line("lse[i] = max + std::log(sum_exp);  // for the backward");
    if (weighted) {
      w.line("float row_sum = 0.0f;  // sum_k w[k] x[k], label smoothing's");
      w.line("for (int k = 0; k < kClasses; ++k) row_sum += kWeight[k] * row[k];");
      w.line("term[i] = (1.0f - kLabelSmoothing) * kWeight[t] * (lse[i] - row[t]) +");
      w.line("          kLabelSmoothing / kClasses * (kWeightSum * lse[i] - row_sum);");
      w.line("sum += term[i];");
      w.line("weights += kWeight[t];");
      w.close();
      w.line("total_weight[0] = static_cast<float>(weights);  // for the backward");
    } else {
      w.line("float row_sum = 0.0f;");
      w.line("for (int k = 0; k < kClasses; ++k) row_sum += row[k];");
      w.line("term[i] = lse[i] - (1.0f - kLabelSmoothing) * row[t] - kLabelSmoothing / kClasses * row_sum;");
      w.line("sum += term[i];");
      w.line("++rows_kept;");
      w.close();
      w.line("kept[0] = rows_kept;  // for the backward");
    }
    if (attr_str(n, "reduction") == "mean")
      w.line("out[0] = static_cast<float>(sum / " + std::string(weighted ? "weights" : "rows_kept") +
             ");  // reduction='mean' (NaN when every target is ignored, as torch)");
    else
      w.line("out[0] = static_cast<float>(sum);  // reduction='sum'");
  };
  // CUDA forward: a row kernel (a warp a row, a block for rows of over 1024 classes: see
  // split_rows) writes each row's log-sum-exp and loss term, its threads striding over the
  // classes (coalesced loads) and meeting in tree reductions; then one block sums the terms in
  // double, in a fixed order, as the CPU does (no float atomics: the same loss every run).
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const bool smooth = smoothing(n);
    const bool weighted = class_weighted(n);
    const std::string weight = e.fn + "_weight";
    const RowSplit split = split_rows(attr_int(n, "num_classes"));
    CodeWriter& k = e.kernels;
    if (weighted) write_device_class_weights(k, n, weight);
    k.line();
    k.line("// Row i's log-sum-exp and loss term (0 where the target is ignored).");
    k.open("__global__ void " + e.fn + "_row_kernel(float* __restrict__ lse, float* __restrict__ term, "
           "const float* __restrict__ inp, const std::int64_t* __restrict__ target, int rows)");
    k.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
    if (smooth) k.line("constexpr float kLabelSmoothing = " + float_literal(attr_float(n, "label_smoothing")) + ";");
    if (smooth && weighted) k.line(weight_sum_line(n));
    k.line("constexpr std::int64_t kIgnoreIndex = " + std::to_string(attr_int(n, "ignore_index")) + ";");
    open_row(k, split, "i", "rows");
    k.line("const std::int64_t label = target[i];");
    k.open("if (label == kIgnoreIndex)");
    k.open("if (t == 0)");
    k.line("lse[i] = 0.0f;  // never read");
    k.line("term[i] = 0.0f;");
    k.close();
    k.line("return;  // the row's threads together");
    k.close();
    k.line("const float* row = inp + static_cast<std::int64_t>(i) * kClasses;");
    k.line("float max = row[0];");
    if (smooth) {
      k.line(weighted ? "float row_sum = 0.0f;  // label smoothing's sum of the weighted logits"
                      : "float row_sum = 0.0f;  // label smoothing's sum of the logits");
      k.open("for (int c = t; c < kClasses; c += kRowThreads)");
      k.line("max = std::max(max, row[c]);");
      k.line(weighted ? "row_sum += " + weight + "[c] * row[c];" : "row_sum += row[c];");
      k.close();
    } else {
      k.line("for (int c = t; c < kClasses; c += kRowThreads) max = std::max(max, row[c]);");
    }
    k.line("max = " + row_max(split, "max") + ";");
    k.line("float sum_exp = 0.0f;");
    k.line("for (int c = t; c < kClasses; c += kRowThreads) sum_exp += ltrt::exp_vec(row[c] - max);");
    k.line("sum_exp = " + row_sum(split, "sum_exp") + ";");
    if (smooth) k.line("row_sum = " + row_sum(split, "row_sum") + ";");
    k.open("if (t == 0)");
    k.line("lse[i] = max + std::log(sum_exp);  // for the backward");
    if (weighted && smooth) {
      k.line("term[i] = (1.0f - kLabelSmoothing) * " + weight + "[label] * (lse[i] - row[label]) +");
      k.line("          kLabelSmoothing / kClasses * (kWeightSum * lse[i] - row_sum);");
    } else if (weighted) {
      k.line("term[i] = " + weight + "[label] * (lse[i] - row[label]);  // label_smoothing=0");
    } else if (smooth) {
      k.line("term[i] = lse[i] - (1.0f - kLabelSmoothing) * row[label] - kLabelSmoothing / kClasses * row_sum;");
    } else {
      k.line("term[i] = lse[i] - row[label];  // label_smoothing=0: the CPU's expression less its zero terms");
    }
    k.close();
    k.close();

    write_label_sum_kernel(k, e.fn + "_sum_kernel", {"const float* __restrict__ term", "const std::int64_t* __restrict__ target"},
                           "terms", "term[i]", weighted ? "static_cast<double>(" + weight + "[target[i]])" : "",
                           attr_int(n, "ignore_index"), attr_str(n, "reduction") == "mean");

    const Value& target = g.value(n.inputs[1]);
    CodeWriter& w = e.body;
    if (label_positions(target) > 1) w.line("constexpr int kPositions = " + std::to_string(label_positions(target)) + ";");
    w.line("const int rows = " + label_rows(target) + ";");
    emit_row_launch(w, e.fn + "_row_kernel", split, "rows", {"lse", "term", "inp", "target", "rows"});
    emit_launch(w, e.fn + "_sum_kernel", "1", "kReduceThreads", {"out", total_slot(n), "term", "target", "rows"});
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1, -1};
    Node b;
    b.op = "cross_entropy_loss_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], x, n.inputs[1], n.outputs[1], n.outputs[3]};  // ..., lse, count
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0], -1};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "cross_entropy_loss_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  b.slots = [](const Node& n) { return Slots{{"dinp"}, {"dloss", "inp", "target", "lse", total_slot(n)}}; };
  // Mixed precision rounds the logits' gradient (autodiff's to_bf16) in this loop, and on the GPU
  // writes it as 16-bit bits when only 16-bit GEMMs read it (the head's: cuda_storage16.hpp).
  b.accepts_epilogue = true;
  b.cuda_writes16 = true;
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * 6, e * 8};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const std::string total = total_slot(n);
    write_constants(w, n, g.value(n.inputs[2]));
    epilogue_constants(w, n);
    if (attr_str(n, "reduction") == "mean") {
      w.line("const float scale = dloss[0] / static_cast<float>(" + total + "[0]);  // reduction='mean' over the forward's " + total);
    } else {
      w.line("const float scale = dloss[0];  // reduction='sum'");
      w.line("(void)" + total + ";");
    }
    open_split_loop(w, "i", label_rows(g.value(n.inputs[2])), attr_int(n, "num_classes"), SplitIndex::rows);
    w.line("const std::int64_t t = target[i];");
    w.line("const float* row = inp + i * kClasses;");
    w.line("float* drow = dinp + i * kClasses;");
    w.open("if (t == kIgnoreIndex)");
    w.line("std::fill(drow, drow + kClasses, 0.0f);");
    w.line("continue;");
    w.close();
    w.open("for (int k = 0; k < kClasses; ++k)");
    w.line("const float softmax = ltrt::exp_vec(row[k] - lse[i]);  // the forward's log-sum-exp");
    // The gradient into drow[k], through the fused epilogue (mixed precision's rounding) if any.
    const std::string d = n.epilogue.empty() ? "drow[k] = " : "const float d = ";
    const std::string pad(d.size(), ' ');
    if (class_weighted(n)) {
      w.line(d + "scale * ((1.0f - kLabelSmoothing) * kWeight[t] * (softmax - (k == t ? 1.0f : 0.0f)) +");
      w.line(pad + "         kLabelSmoothing / kClasses * (kWeightSum * softmax - kWeight[k]));");
    } else {
      w.line(d + "scale * (softmax - (k == t ? 1.0f - kLabelSmoothing : 0.0f) - kLabelSmoothing / kClasses);");
    }
    if (!n.epilogue.empty()) w.line("drow[k] = " + apply_epilogue(n, "d") + ";");
    w.close();
    close_split_loop(w);
  };
  // CUDA backward: a row kernel as the forward's (no reductions: the softmax from the forward's
  // log-sum-exp, the mean from its count of rows), its threads striding over the classes.
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const bool mean = attr_str(n, "reduction") == "mean";
    const bool weighted = class_weighted(n);
    const std::string total = total_slot(n), weight = e.fn + "_weight";
    const RowSplit split = split_rows(attr_int(n, "num_classes"));
    const OutputStore dinp = output_store(e, n.outputs[0], "dinp");
    CodeWriter& k = e.kernels;
    if (weighted) write_device_class_weights(k, n, weight);
    k.line();
    k.line("// Row i's gradient.");
    k.open("__global__ void " + e.fn + "_kernel(" + dinp.param("dinp") + ", const float* __restrict__ dloss, "
           "const float* __restrict__ inp, const std::int64_t* __restrict__ target, const float* __restrict__ lse, "
           "const " + std::string(weighted ? "float" : "std::int64_t") + "* __restrict__ " + total + ", int rows)");
    k.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
    k.line("constexpr float kLabelSmoothing = " + float_literal(attr_float(n, "label_smoothing")) + ";");
    k.line("constexpr std::int64_t kIgnoreIndex = " + std::to_string(attr_int(n, "ignore_index")) + ";");
    if (weighted) k.line(weight_sum_line(n));
    epilogue_constants(k, n);
    open_row(k, split, "i", "rows", false);
    k.line("const std::int64_t label = target[i];");
    k.line("const float* row = inp + static_cast<std::int64_t>(i) * kClasses;");
    k.line(dinp.type() + "* drow = dinp + static_cast<std::int64_t>(i) * kClasses;");
    k.open("if (label == kIgnoreIndex)");
    k.line("for (int c = t; c < kClasses; c += kRowThreads) drow[c] = " + dinp.store("0.0f") + ";");
    k.line("return;");
    k.close();
    if (mean) {
      k.line("const float scale = dloss[0] / static_cast<float>(" + total + "[0]);  // reduction='mean'");
    } else {
      k.line("const float scale = dloss[0];  // reduction='sum'");
      k.line("(void)" + total + ";");
    }
    k.line("const float row_lse = lse[i];");
    k.open("for (int c = t; c < kClasses; c += kRowThreads)");
    k.line("const float softmax = ltrt::exp_vec(row[c] - row_lse);");
    // The gradient into drow[c], through the fused epilogue (mixed precision's rounding) if any.
    const bool direct = n.epilogue.empty() && !dinp.bits;
    const std::string d = direct ? "drow[c] = " : "const float d = ";
    const std::string pad(d.size(), ' ');
    if (weighted) {
      k.line(d + "scale * ((1.0f - kLabelSmoothing) * " + weight + "[label] * (softmax - (c == label ? 1.0f : 0.0f)) +");
      k.line(pad + "         kLabelSmoothing / kClasses * (kWeightSum * softmax - " + weight + "[c]));");
    } else {
      k.line(d + "scale * (softmax - (c == label ? 1.0f - kLabelSmoothing : 0.0f) - kLabelSmoothing / kClasses);");
    }
    if (!direct) k.line("drow[c] = " + dinp.store(apply_epilogue(n, "d")) + ";");
    k.close();
    k.close();
    const Value& target = g.value(n.inputs[2]);
    CodeWriter& w = e.body;
    if (label_positions(target) > 1) w.line("constexpr int kPositions = " + std::to_string(label_positions(target)) + ";");
    w.line("const int rows = " + label_rows(target) + ";");
    emit_row_launch(w, e.fn + "_kernel", split, "rows", {"dinp", "dloss", "inp", "target", "lse", total, "rows"});
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "CrossEntropyLoss";
  l.is_loss = true;
  ArgDef smoothing{"label_smoothing", ArgType::number, Attr{0.0}};
  smoothing.min = 0.0;
  smoothing.max = 1.0;
  l.args = {class_weight_arg(), reduction_arg(), smoothing, {"ignore_index", ArgType::integer, Attr{std::int64_t{-100}}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    if (b.graph.value(in.at(1)).dtype == DType::f32) return build_cross_entropy_probs(b, in);  // class probabilities
    return build_class_loss(b, in, "cross_entropy_loss", "logits");
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
