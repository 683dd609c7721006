/// \file
/// NLLLoss on log-probabilities (batch, C) (a LogSoftmax's output) and int64 class targets
/// (batch,), as torch.nn.NLLLoss, with optional class weights w:
///   loss_i = -w[t_i] x_i[t_i],  d loss_i / d x_i[k] = -w[t_i] [k == t_i]
/// Reduction 'mean' divides by the sum of w[t_i] over the rows whose target is not ignored (their
/// count without weights), as torch's total_weight. Sequences (batch, T, C) with targets (batch, T)
/// are batch * T rows, as CrossEntropyLoss's. The forward saves that divisor for the backward.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "class_targets.hpp"
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

namespace {

void write_constants(CodeWriter& w, const Node& n) {
  w.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
  w.line("constexpr std::int64_t kIgnoreIndex = " + std::to_string(attr_int(n, "ignore_index")) + ";");
  write_class_weights(w, n, false);
}

void write_positions(CodeWriter& w, const Value& target) {
  if (label_positions(target) > 1)
    w.line("constexpr int kPositions = " + std::to_string(label_positions(target)) +
           ";  // labels per sample: rows are (sample, position)");
}

}  // namespace

void register_nll_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "nll_loss";
  f.infer = [](const Node& n, const Graph& g) {
    check_class_shapes(g.value(n.inputs.at(0)), g.value(n.inputs.at(1)), attr_int(n, "num_classes"));
    return std::vector<OutputType>{{DType::f32, {}, false},
                                   {class_weighted(n) ? DType::f32 : DType::i64, {}, false}};
  };
  // "out": the loss keeps the layer's name, `loss`; the divisor is loss_kept or loss_total_weight.
  f.slots = [](const Node& n) { return Slots{{"out", total_slot(n)}, {"inp", "target"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double rows = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{rows * 2, rows * 12};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const bool weighted = class_weighted(n);
    write_constants(w, n);
    write_positions(w, g.value(n.inputs[1]));
    w.line("double sum = 0.0;");
    w.line(weighted ? "double weights = 0.0;  // of the rows whose target is not ignored"
                    : "int rows_kept = 0;  // rows whose target is not ignored");
    w.open("for (int i = 0; i < " + label_rows(g.value(n.inputs[1])) + "; ++i)");
    w.line("const std::int64_t t = target[i];");
    w.line("if (t == kIgnoreIndex) continue;");
    if (weighted) {
      w.line("sum -= kWeight[t] * inp[i * kClasses + t];");
      w.line("weights += kWeight[t];");
    } else {
      w.line("sum -= inp[i * kClasses + t];");
      w.line("++rows_kept;");
    }
    w.close();
    const std::string divisor = weighted ? "weights" : "rows_kept";
    w.line(total_slot(n) + "[0] = " + (weighted ? "static_cast<float>(weights)" : "rows_kept") + ";  // for the backward");
    if (attr_str(n, "reduction") == "mean")
      w.line("out[0] = static_cast<float>(sum / " + divisor + ");  // reduction='mean' (NaN when every target is ignored, as torch)");
    else
      w.line("out[0] = static_cast<float>(sum);  // reduction='sum'");
  };
  // CUDA: one block sums the rows' terms in double in a fixed order, as the CPU does.
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const bool weighted = class_weighted(n);
    const std::string classes = std::to_string(attr_int(n, "num_classes"));
    const std::string at = "inp[static_cast<std::int64_t>(i) * " + classes + " + target[i]]";
    const std::string weight = e.fn + "_weight";
    if (weighted) write_device_class_weights(e.kernels, n, weight);
    write_label_sum_kernel(e.kernels, e.fn + "_kernel", {"const float* __restrict__ inp", "const std::int64_t* __restrict__ target"},
                           weighted ? "-weight[t] inp[i][t]" : "-inp[i][t]",
                           weighted ? "-static_cast<double>(" + weight + "[target[i]] * " + at + ")"  // the CPU's float product
                                    : "-static_cast<double>(" + at + ")",
                           weighted ? "static_cast<double>(" + weight + "[target[i]])" : "", attr_int(n, "ignore_index"),
                           attr_str(n, "reduction") == "mean");
    const Value& target = g.value(n.inputs[1]);
    write_positions(e.body, target);
    e.body.line("const int rows = " + label_rows(target) + ";");
    emit_launch(e.body, e.fn + "_kernel", "1", "kReduceThreads", {"out", total_slot(n), "inp", "target", "rows"});
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1, -1};
    Node b;
    b.op = "nll_loss_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], n.inputs[1], n.outputs[1]};  // dloss, target, the divisor
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0], -1};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "nll_loss_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& t = g.value(n.inputs.at(1));
    Shape s = t.shape;
    s.push_back(attr_int(n, "num_classes"));
    return std::vector<OutputType>{{DType::f32, s, t.batched}};
  };
  b.slots = [](const Node& n) { return Slots{{"dinp"}, {"dloss", "target", total_slot(n)}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape) * attr_int(n, "num_classes"));
    return Cost{0, e * 4};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const std::string divisor = total_slot(n);
    write_constants(w, n);
    write_positions(w, g.value(n.inputs[1]));
    if (attr_str(n, "reduction") == "mean") {
      w.line("const float scale = dloss[0] / static_cast<float>(" + divisor + "[0]);  // reduction='mean' over the forward's divisor");
    } else {
      w.line("const float scale = dloss[0];  // reduction='sum'");
      w.line("(void)" + divisor + ";");
    }
    w.open("for (int i = 0; i < " + label_rows(g.value(n.inputs[1])) + "; ++i)");
    w.line("float* drow = dinp + i * kClasses;");
    w.line("std::fill(drow, drow + kClasses, 0.0f);");
    w.line(class_weighted(n) ? "if (target[i] != kIgnoreIndex) drow[target[i]] = -scale * kWeight[target[i]];"
                             : "if (target[i] != kIgnoreIndex) drow[target[i]] = -scale;");
    w.close();
  };
  // CUDA: a thread an element of the gradient.
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const std::string divisor = total_slot(n);
    const bool weighted = class_weighted(n);
    const std::string scale = attr_str(n, "reduction") == "mean"
                                  ? "const float scale = dloss[0] / static_cast<float>(" + divisor + "[0]);  // reduction='mean'"
                                  : "const float scale = dloss[0];  // reduction='sum'";
    e.body.line("constexpr int kNumel = " + std::to_string(label_positions(g.value(n.inputs[1])) * attr_int(n, "num_classes")) +
                ";  // per sample");
    const std::string weight = e.fn + "_weight";
    if (weighted) write_device_class_weights(e.kernels, n, weight);
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ dinp", "dinp"}, {"const float* __restrict__ dloss", "dloss"},
                             {"const std::int64_t* __restrict__ target", "target"},
                             {std::string("const ") + (weighted ? "float" : "std::int64_t") + "* __restrict__ " + divisor, divisor}},
                            "n * kNumel",
                            {scale, "const std::int64_t label = target[i / kClasses];",
                             std::string("dinp[i] = label != kIgnoreIndex && i % kClasses == label ? -scale") +
                                 (weighted ? " * " + weight + "[label]" : "") + " : 0.0f;"},
                            [&](CodeWriter& k) {
                              k.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
                              k.line("constexpr std::int64_t kIgnoreIndex = " + std::to_string(attr_int(n, "ignore_index")) + ";");
                            });
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "NLLLoss";
  l.is_loss = true;
  l.args = {class_weight_arg(), reduction_arg(), {"ignore_index", ArgType::integer, Attr{std::int64_t{-100}}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    return build_class_loss(b, in, "nll_loss", "log-probabilities");
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
