/// \file
/// NLLLoss on log-probabilities (batch, C) (a LogSoftmax's output) and int64 class targets
/// (batch,), as torch.nn.NLLLoss without class weights:
///   loss_i = -x_i[t_i],  d loss_i / d x_i[k] = -[k == t_i]
/// Reduction 'mean' divides by the number of rows whose target is not ignored (ignore_index).
/// Sequences (batch, T, C) with targets (batch, T) are batch * T rows, as CrossEntropyLoss's.
/// The forward saves the count of rows that are not ignored, which the backward reads.
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
    return std::vector<OutputType>{{DType::f32, {}, false}, {DType::i64, {}, false}};
  };
  // "out": the loss keeps the layer's name, `loss`; the count of rows not ignored is loss_kept.
  f.slots = [](const Node&) { return Slots{{"out", "kept"}, {"inp", "target"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double rows = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{rows, rows * 12};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n);
    write_positions(w, g.value(n.inputs[1]));
    w.line("double sum = 0.0;");
    w.line("int rows_kept = 0;  // rows whose target is not ignored");
    w.open("for (int i = 0; i < " + label_rows(g.value(n.inputs[1])) + "; ++i)");
    w.line("const std::int64_t t = target[i];");
    w.line("if (t == kIgnoreIndex) continue;");
    w.line("sum -= inp[i * kClasses + t];");
    w.line("++rows_kept;");
    w.close();
    w.line("kept[0] = rows_kept;  // for the backward");
    if (attr_str(n, "reduction") == "mean")
      w.line("out[0] = static_cast<float>(sum / rows_kept);  // reduction='mean' (NaN when every target is ignored, as torch)");
    else
      w.line("out[0] = static_cast<float>(sum);  // reduction='sum'");
  };
  // CUDA: one block sums the rows' terms in double in a fixed order, as the CPU does.
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    CodeWriter& k = e.kernels;
    write_label_sum_kernel(k, e.fn + "_kernel", {"const float* __restrict__ inp", "const std::int64_t* __restrict__ target"},
                           "-inp[i][target[i]]", "-static_cast<double>(inp[static_cast<std::int64_t>(i) * " +
                               std::to_string(attr_int(n, "num_classes")) + " + target[i]])",
                           attr_int(n, "ignore_index"), attr_str(n, "reduction") == "mean");
    const Value& target = g.value(n.inputs[1]);
    write_positions(e.body, target);
    e.body.line("const int rows = " + label_rows(target) + ";");
    emit_launch(e.body, e.fn + "_kernel", "1", "kReduceThreads", {"out", "kept", "inp", "target", "rows"});
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1, -1};
    Node b;
    b.op = "nll_loss_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], n.inputs[1], n.outputs[1]};  // dloss, target, kept
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
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dloss", "target", "kept"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape) * attr_int(n, "num_classes"));
    return Cost{0, e * 4};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n);
    write_positions(w, g.value(n.inputs[1]));
    if (attr_str(n, "reduction") == "mean") {
      w.line("const float scale = dloss[0] / static_cast<float>(kept[0]);  // reduction='mean' over the forward's count");
    } else {
      w.line("const float scale = dloss[0];  // reduction='sum'");
      w.line("(void)kept;");
    }
    w.open("for (int i = 0; i < " + label_rows(g.value(n.inputs[1])) + "; ++i)");
    w.line("float* drow = dinp + i * kClasses;");
    w.line("std::fill(drow, drow + kClasses, 0.0f);");
    w.line("if (target[i] != kIgnoreIndex) drow[target[i]] = -scale;");
    w.close();
  };
  // CUDA: a thread an element of the gradient.
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const std::string scale = attr_str(n, "reduction") == "mean"
                                  ? "const float scale = dloss[0] / static_cast<float>(kept[0]);  // reduction='mean'"
                                  : "const float scale = dloss[0];  // reduction='sum'";
    e.body.line("constexpr int kNumel = " + std::to_string(label_positions(g.value(n.inputs[1])) * attr_int(n, "num_classes")) +
                ";  // per sample");
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ dinp", "dinp"}, {"const float* __restrict__ dloss", "dloss"},
                             {"const std::int64_t* __restrict__ target", "target"},
                             {"const std::int64_t* __restrict__ kept", "kept"}},
                            "n * kNumel",
                            {scale, "const std::int64_t label = target[i / kClasses];",
                             "dinp[i] = label != kIgnoreIndex && i % kClasses == label ? -scale : 0.0f;"},
                            [&](CodeWriter& k) { write_constants(k, n); });
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "NLLLoss";
  l.is_loss = true;
  l.args = {reduction_arg(), {"ignore_index", ArgType::integer, Attr{std::int64_t{-100}}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() < 2)
      throw ShapeError("NLLLoss expects log-probabilities (batch, classes) or (batch, T, classes), got " +
                       shape_str(x.shape));
    Node n;
    n.op = "nll_loss";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs = b.args;
    n.attrs["num_classes"] = x.shape.back();
    n.inputs = {in.at(0), in.at(1)};
    const int id = add_op(b.graph, std::move(n), "loss");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
