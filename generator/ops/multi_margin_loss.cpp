/// \file
/// MultiMarginLoss(p, margin, weight): the multi-class hinge loss on scores (batch, C) and int64
/// class targets (batch,), as torch's CPU kernel computes it: for row i with target y,
///   loss_i = sum over d != y of h(z_d) / C,  z_d = margin - x[y] + x[d],  h = z (p 1) or z^2 (p 2)
/// where z_d > 0 (0 elsewhere), times weight[y] when weighted; 'mean' averages the rows, 'sum' adds
/// them. Its gradient, torch's multi_margin_loss_backward: with g = 1 / C (over the rows too for
/// 'mean'), dx[d] = g (p 1) or 2 g z_d (p 2) where z_d > 0, times weight[y], and dx[y] = -sum of
/// the others.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "class_targets.hpp"
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

namespace {

void write_constants(CodeWriter& w, const Node& n) {
  w.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
  w.line("constexpr float kMargin = " + float_literal(attr_float(n, "margin")) + ";");
  write_class_weights(w, n, false);
}

// h(z) of a positive z, times the target's weight (t in scope).
std::string term(const Node& n, const std::string& weights) {
  std::string h = attr_int(n, "p") == 1 ? "z" : "z * z";
  return class_weighted(n) ? "(" + h + ") * " + weights + "[t]" : h;
}

// d h / d x[d] of a positive z, before the row scale g: 1 (p 1) or 2 z (p 2), times the weight.
std::string slope(const Node& n, const std::string& weights) {
  std::string d = attr_int(n, "p") == 1 ? "g" : "2.0f * g * z";
  return class_weighted(n) ? "(" + d + ") * " + weights + "[t]" : d;
}

// Row i's loss into `row_sum` (float, as torch sums a row), kClasses, kMargin and the weights in scope.
void write_row_sum(CodeWriter& w, const Node& n, const std::string& weights) {
  w.line("const float* x = inp + static_cast<std::int64_t>(i) * kClasses;");
  w.line("const std::int64_t t = target[i];");
  w.line("float row_sum = 0.0f;");
  w.open("for (int d = 0; d < kClasses; ++d)");
  w.line("if (d == t) continue;");
  w.line("const float z = kMargin - x[t] + x[d];");
  w.line("if (z > 0.0f) row_sum += " + term(n, weights) + ";");
  w.close();
  w.line("row_sum /= kClasses;");
}

}  // namespace

void register_multi_margin_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "multi_margin_loss";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    if (x.shape.size() != 2)
      throw ShapeError("expects scores (batch, classes), got " + shape_str(x.shape) + " (torch's MultiMarginLoss takes "
                       "no sequence of labels)");
    check_class_shapes(x, g.value(n.inputs.at(1)), attr_int(n, "num_classes"));
    return std::vector<OutputType>{{DType::f32, {}, false}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp", "target"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * 4, e * 4};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    write_constants(w, n);
    w.line("double sum = 0.0;");
    w.open("for (int i = 0; i < n; ++i)");
    write_row_sum(w, n, "kWeight");
    w.line("sum += row_sum;");
    w.close();
    w.line(attr_str(n, "reduction") == "mean" ? "out[0] = static_cast<float>(sum / n);  // reduction='mean'"
                                               : "out[0] = static_cast<float>(sum);  // reduction='sum'");
  };
  // CUDA: one block adds the rows in double, each thread a strided share, then a tree: a fixed order.
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    CodeWriter& k = e.kernels;
    const std::string weight = e.fn + "_weight";
    if (class_weighted(n)) write_device_class_weights(k, n, weight);
    write_block_sum_kernel(
        k, e.fn + "_kernel",
        "float* __restrict__ out, const float* __restrict__ inp, const std::int64_t* __restrict__ target, int rows",
        [&](CodeWriter& c) {
          c.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
          c.line("constexpr float kMargin = " + float_literal(attr_float(n, "margin")) + ";");
        },
        "for (int i = threadIdx.x; i < rows; i += blockDim.x)",
        [&](CodeWriter& c) {
          write_row_sum(c, n, weight);
          c.line("sum += row_sum;");
        },
        attr_str(n, "reduction") == "mean"
            ? "if (threadIdx.x == 0) out[0] = static_cast<float>(partial[0] / rows);  // reduction='mean'"
            : "if (threadIdx.x == 0) out[0] = static_cast<float>(partial[0]);  // reduction='sum'");
    emit_launch(e.body, e.fn + "_kernel", "1", "kReduceThreads", {"out", "inp", "target", "n"});
  };
  f.backward = prediction_backward("multi_margin_loss");
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "multi_margin_loss_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    return std::vector<OutputType>{{DType::f32, x.shape, x.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dloss", "inp", "target"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * 4, e * 12};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    write_constants(w, n);
    w.line(attr_str(n, "reduction") == "mean"
               ? "const float g = 1.0f / (static_cast<float>(n) * kClasses);  // reduction='mean': over rows and classes"
               : "const float g = 1.0f / kClasses;  // reduction='sum'");
    w.open("for (int i = 0; i < n; ++i)");
    w.line("const float* x = inp + static_cast<std::int64_t>(i) * kClasses;");
    w.line("float* dx = dinp + static_cast<std::int64_t>(i) * kClasses;");
    w.line("const std::int64_t t = target[i];");
    w.line("float d_target = 0.0f;");
    w.open("for (int d = 0; d < kClasses; ++d)");
    w.line("if (d == t) continue;");
    w.line("const float z = kMargin - x[t] + x[d];");
    w.line("const float h = z > 0.0f ? " + slope(n, "kWeight") + " : 0.0f;");
    w.line("d_target -= h;");
    w.line("dx[d] = h * dloss[0];");
    w.close();
    w.line("dx[t] = d_target * dloss[0];");
    w.close();
  };
  // CUDA: a thread an element; the target's element sums its row's others in the CPU's order.
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    CodeWriter& k = e.kernels;
    const std::string weight = e.fn + "_weight";
    if (class_weighted(n)) write_device_class_weights(k, n, weight);
    k.line();
    open_element_kernel(k, e.fn + "_kernel",
                        {"float* __restrict__ dinp", "const float* __restrict__ dloss", "const float* __restrict__ inp",
                         "const std::int64_t* __restrict__ target", "int rows"},
                        [&](CodeWriter& c) {
                          c.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
                          c.line("constexpr float kMargin = " + float_literal(attr_float(n, "margin")) + ";");
                        });
    k.line(attr_str(n, "reduction") == "mean" ? "const float g = 1.0f / (static_cast<float>(rows) * kClasses);  // reduction='mean'"
                                               : "const float g = 1.0f / kClasses;  // reduction='sum'");
    k.line("const int row = i / kClasses, col = i % kClasses;");
    k.line("const float* x = inp + static_cast<std::int64_t>(row) * kClasses;");
    k.line("const std::int64_t t = target[row];");
    k.open("if (col != t)");
    k.line("const float z = kMargin - x[t] + x[col];");
    k.line("dinp[i] = (z > 0.0f ? " + slope(n, weight) + " : 0.0f) * dloss[0];");
    k.line("return;");
    k.close();
    k.line("float d_target = 0.0f;");
    k.open("for (int d = 0; d < kClasses; ++d)");
    k.line("if (d == t) continue;");
    k.line("const float z = kMargin - x[t] + x[d];");
    k.line("d_target -= z > 0.0f ? " + slope(n, weight) + " : 0.0f;");
    k.close();
    k.line("dinp[i] = d_target * dloss[0];");
    k.close();
    e.body.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
    emit_count_launch(e.body, e.fn + "_kernel", "n * kClasses", {"dinp", "dloss", "inp", "target", "n"});
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "MultiMarginLoss";
  l.is_loss = true;
  ArgDef p{"p", ArgType::integer, Attr{std::int64_t{1}}};
  p.min = 1;
  p.max = 2;  // torch: "only p == 1 and p == 2 supported"
  l.args = {p, {"margin", ArgType::number, Attr{1.0}}, class_weight_arg(), reduction_arg()};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    return build_class_loss(b, in, "multi_margin_loss", "scores");
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
