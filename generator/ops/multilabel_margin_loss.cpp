/// \file
/// MultiLabelMarginLoss: the multi-label hinge loss on scores (batch, C) against int64 targets of
/// the same shape, each row a list of the sample's classes ended by the first -1 (or by the row's
/// end), as torch's CPU kernel computes it: with is_target[d] whether class d is listed,
///   loss_i = sum over listed j, unlisted d of max(0, 1 - x[y_j] + x[d]) / C
/// each term in float, the sums in double over every row (then / C, and / batch for 'mean').
/// Its gradient, torch's backward: g = 1 / C (over the rows too for 'mean'); for each listed j in
/// order and each unlisted d with a positive term, dx[y_j] -= g and dx[d] += g, one float add at a
/// time; then times the loss's gradient. A class listed twice counts twice, as torch's.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

namespace {

std::string classes_line(const Node& n) {
  return "constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";";
}

// is_target for row i (x, t in scope: its scores and targets); `listed` = the targets before the -1.
std::vector<std::string> listed_lines() {
  return {"bool is_target[kClasses] = {};",
          "int listed = 0;",
          "while (listed < kClasses && t[listed] >= 0) is_target[t[listed++]] = true;"};
}

// Row i's sum of terms into `sum` (double).
std::vector<std::string> row_sum_lines() {
  std::vector<std::string> l = {"const float* x = inp + static_cast<std::int64_t>(i) * kClasses;",
                                "const std::int64_t* t = target + static_cast<std::int64_t>(i) * kClasses;"};
  for (const std::string& s : listed_lines()) l.push_back(s);
  for (const char* s : {"for (int j = 0; j < listed; ++j) {",
                        "  const float xt = x[t[j]];",
                        "  for (int d = 0; d < kClasses; ++d) {",
                        "    if (is_target[d]) continue;",
                        "    const float z = 1.0f - xt + x[d];",
                        "    if (z > 0.0f) sum += z;",
                        "  }",
                        "}"})
    l.push_back(s);
  return l;
}

std::string g_line(const Node& n, const std::string& rows) {
  return attr_str(n, "reduction") == "mean"
             ? "const float g = static_cast<float>(1.0 / (static_cast<double>(" + rows + ") * kClasses));  // reduction='mean'"
             : "const float g = static_cast<float>(1.0 / kClasses);  // reduction='sum'";
}

std::string result(const Node& n, const std::string& sum, const std::string& rows) {
  return attr_str(n, "reduction") == "mean" ? "static_cast<float>(" + sum + " / kClasses / " + rows + ");  // reduction='mean'"
                                            : "static_cast<float>(" + sum + " / kClasses);  // reduction='sum'";
}

}  // namespace

void register_multilabel_margin_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "multilabel_margin_loss";
  f.infer = [](const Node&, const Graph&) { return std::vector<OutputType>{{DType::f32, {}, false}}; };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp", "target"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * static_cast<double>(attr_int(n, "num_classes")) * 3, e * 12};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    w.line(classes_line(n));
    w.line("double sum = 0.0;  // over every row, as torch's");
    w.open("for (int i = 0; i < n; ++i)");
    for (const std::string& l : row_sum_lines()) w.line(l);
    w.close();
    w.line("out[0] = " + result(n, "sum", "n"));
  };
  // CUDA: one block adds the rows in double, each thread a strided share, then a tree: a fixed order.
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    write_block_sum_kernel(
        e.kernels, e.fn + "_kernel",
        "float* __restrict__ out, const float* __restrict__ inp, const std::int64_t* __restrict__ target, int rows",
        [&](CodeWriter& k) { k.line(classes_line(n)); }, "for (int i = threadIdx.x; i < rows; i += blockDim.x)",
        [&](CodeWriter& k) {
          for (const std::string& l : row_sum_lines()) k.line(l);
        },
        "if (threadIdx.x == 0) out[0] = " + result(n, "partial[0]", "rows"));
    emit_launch(e.body, e.fn + "_kernel", "1", "kReduceThreads", {"out", "inp", "target", "n"});
  };
  f.backward = prediction_backward("multilabel_margin_loss");
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "multilabel_margin_loss_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    return std::vector<OutputType>{{DType::f32, x.shape, x.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dloss", "inp", "target"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * static_cast<double>(attr_int(n, "num_classes")) * 3, e * 16};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    w.line(classes_line(n));
    w.line(g_line(n, "n"));
    w.open("for (int i = 0; i < n; ++i)");
    w.line("const float* x = inp + static_cast<std::int64_t>(i) * kClasses;");
    w.line("const std::int64_t* t = target + static_cast<std::int64_t>(i) * kClasses;");
    w.line("float* dx = dinp + static_cast<std::int64_t>(i) * kClasses;");
    for (const std::string& l : listed_lines()) w.line(l);
    w.line("std::fill(dx, dx + kClasses, 0.0f);");
    w.open("for (int j = 0; j < listed; ++j)");
    w.line("const float xt = x[t[j]];");
    w.open("for (int d = 0; d < kClasses; ++d)");
    w.line("if (is_target[d] || !(1.0f - xt + x[d] > 0.0f)) continue;");
    w.line("dx[t[j]] -= g;  // one add at a time, as torch's");
    w.line("dx[d] += g;");
    w.close();
    w.close();
    w.line("for (int d = 0; d < kClasses; ++d) dx[d] *= dloss[0];");
    w.close();
  };
  // CUDA: a thread an element, adding its own g's in the CPU's order: an unlisted class one per
  // listed class whose term with it is positive, a listed one -g per positive term of its listings.
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    CodeWriter& k = e.kernels;
    k.line();
    open_element_kernel(k, e.fn + "_kernel",
                        {"float* __restrict__ dinp", "const float* __restrict__ dloss", "const float* __restrict__ inp",
                         "const std::int64_t* __restrict__ target", "int rows"},
                        [&](CodeWriter& c) { c.line(classes_line(n)); });
    k.line(g_line(n, "rows"));
    k.line("const int row = i / kClasses, col = i % kClasses;");
    k.line("const float* x = inp + static_cast<std::int64_t>(row) * kClasses;");
    k.line("const std::int64_t* t = target + static_cast<std::int64_t>(row) * kClasses;");
    for (const std::string& l : listed_lines()) k.line(l);
    k.line("float acc = 0.0f;");
    k.open("if (!is_target[col])");
    k.line("for (int j = 0; j < listed; ++j)");
    k.line("  if (1.0f - x[t[j]] + x[col] > 0.0f) acc += g;");
    k.close();
    k.open("else");
    k.open("for (int j = 0; j < listed; ++j)");
    k.line("if (t[j] != col) continue;");
    k.line("for (int d = 0; d < kClasses; ++d)");
    k.line("  if (!is_target[d] && 1.0f - x[col] + x[d] > 0.0f) acc -= g;");
    k.close();
    k.close();
    k.line("dinp[i] = acc * dloss[0];");
    k.close();
    e.body.line(classes_line(n));
    emit_count_launch(e.body, e.fn + "_kernel", "n * kClasses", {"dinp", "dloss", "inp", "target", "n"});
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "MultiLabelMarginLoss";
  l.is_loss = true;
  l.class_lists = true;
  l.args = {reduction_arg()};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const Value& y = b.graph.value(in.at(1));
    if (x.dtype != DType::f32 || x.shape.size() != 2)
      throw ShapeError("expects float scores (batch, classes), got " + std::string(dtype_name(x.dtype)) + " " +
                       shape_str(x.shape));
    if (y.dtype != DType::i64 || y.shape != x.shape)
      throw ShapeError("needs int64 targets of the scores' shape, each row the sample's classes ended by -1: "
                       "\"model.target\": {\"dtype\": \"int64\", \"num_classes\": " + std::to_string(x.shape[1]) +
                       ", \"shape\": [" + std::to_string(x.shape[1]) + "]}");
    Node n;
    n.op = "multilabel_margin_loss";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs = b.args;
    n.attrs["num_classes"] = x.shape[1];
    n.inputs = {in[0], in[1]};
    const int id = add_op(b.graph, std::move(n), "loss");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
