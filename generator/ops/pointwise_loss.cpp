#include "pointwise_loss.hpp"

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"

namespace ltgen {

decltype(OpDef::backward) prediction_backward(const std::string& op) {
  return [op](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1, -1};
    Node b;
    b.op = op + "_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], x, n.inputs[1]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0], -1};
  };
}

ArgDef reduction_arg() {
  ArgDef r{"reduction", ArgType::string, Attr{std::string("mean")}};
  r.choices = {"mean", "sum"};
  return r;
}

namespace {

void write_constants(CodeWriter& w, const Node& n, const Graph& g, const PointwiseLoss& l) {
  w.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs.back()))) +
         ";  // per sample");
  if (l.constants) l.constants(w, n);
}

// What reduction='sum' divides by: nothing, or the last dimension's size (a float literal).
std::string sum_divisor(const Node& n, const Graph& g, const PointwiseLoss& l) {
  if (!l.mean_over_last_dim) return "";
  return " / " + std::to_string(g.value(n.inputs.back()).shape.back()) + ".0";
}

}  // namespace

void register_pointwise_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers,
                             const PointwiseLoss& l) {
  OpDef f;
  f.name = l.name;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const Value& y = g.value(n.inputs.at(1));
    if (x.shape != y.shape)
      throw ShapeError("prediction " + shape_str(x.shape) + " and target " + shape_str(y.shape) +
                       " must have the same shape");
    if (y.dtype != DType::f32) throw ShapeError("expects a float target");
    return std::vector<OutputType>{{DType::f32, {}, false}};
  };
  f.slots = [](const Node&) { return Slots{{"loss"}, {"inp", "target"}}; };
  f.cost = [l](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * l.flops_per_element, e * 8};
  };
  f.emit_cpu = [l](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n, g, l);
    w.line("double sum = 0.0;");
    w.open("for (int i = 0; i < n * kNumel; ++i)");
    w.line("const float x = inp[i], y = target[i];");
    w.line("sum += " + l.term(n) + ";");
    w.close();
    const std::string& reduction = attr_str(n, "reduction");
    if (reduction == "mean")
      w.line("loss[0] = static_cast<float>(sum / (n * kNumel));  // reduction='mean'");
    else if (reduction == "batchmean")
      w.line("loss[0] = static_cast<float>(sum / n);  // reduction='batchmean': the sum over the batch size");
    else if (l.mean_over_last_dim)
      w.line("loss[0] = static_cast<float>(sum" + sum_divisor(n, g, l) + ");  // reduction='sum': of each sample's mean over the last dimension");
    else
      w.line("loss[0] = static_cast<float>(sum);  // reduction='sum'");
  };
  // CUDA: one block sums the terms in double, each thread a strided share, then a tree
  // reduction: deterministic, and exact enough for any batch a step holds.
  f.emit_cuda = [l](CudaEmit& e, const Node& n, const Graph& g) {
    const std::string& reduction = attr_str(n, "reduction");
    const std::string result =
        reduction == "mean"        ? "if (threadIdx.x == 0) loss[0] = static_cast<float>(partial[0] / count);  // reduction='mean'"
        : reduction == "batchmean" ? "if (threadIdx.x == 0) loss[0] = static_cast<float>(partial[0] / (count / kNumel));  // "
                                     "reduction='batchmean'"
                                   : "if (threadIdx.x == 0) loss[0] = static_cast<float>(partial[0]" + sum_divisor(n, g, l) +
                                         ");  // reduction='sum'";
    write_block_sum_kernel(
        e.kernels, e.fn + "_kernel",
        "float* __restrict__ loss, const float* __restrict__ inp, const float* __restrict__ target, int count",
        [&](CodeWriter& k) {
          if (l.constants) l.constants(k, n);
          if (reduction == "batchmean")
            k.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs.back()))) + ";  // per sample");
        },
        "for (int i = threadIdx.x; i < count; i += blockDim.x)",
        [&](CodeWriter& k) {
          k.line("const float x = inp[i], y = target[i];");
          k.line("sum += " + l.term(n) + ";");
        },
        result);
    e.body.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs.back()))) + ";  // per sample");
    emit_launch(e.body, e.fn + "_kernel", "1", "kReduceThreads", {"loss", "inp", "target", "n * kNumel"});
  };
  f.backward = prediction_backward(l.name);
  ops.push_back(std::move(f));

  OpDef b;
  b.name = l.name + "_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dloss", "inp", "target"}}; };
  b.cost = [l](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * l.flops_per_element, e * 12};
  };
  b.emit_cpu = [l](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n, g, l);
    const std::string& reduction = attr_str(n, "reduction");
    if (reduction == "mean")
      w.line("const float scale = dloss[0] / static_cast<float>(n * kNumel);  // reduction='mean'");
    else if (reduction == "batchmean")
      w.line("const float scale = dloss[0] / static_cast<float>(n);  // reduction='batchmean'");
    else if (l.mean_over_last_dim)
      w.line("const float scale = dloss[0]" + sum_divisor(n, g, l) + "f;  // reduction='sum' of each sample's mean");
    else
      w.line("const float scale = dloss[0];  // reduction='sum'");
    w.open("for (int i = 0; i < n * kNumel; ++i)");
    w.line("const float x = inp[i], y = target[i];");
    w.line("dinp[i] = scale * (" + l.grad(n) + ");");
    w.close();
  };
  b.emit_cuda = [l](CudaEmit& e, const Node& n, const Graph& g) {
    e.body.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs.back()))) + ";  // per sample");
    const std::string& reduction = attr_str(n, "reduction");
    const std::string scale =
        reduction == "mean"        ? "const float scale = dloss[0] / static_cast<float>(count);  // reduction='mean'"
        : reduction == "batchmean" ? "const float scale = dloss[0] / static_cast<float>(count / kNumel);  // reduction='batchmean'"
                                   : "const float scale = dloss[0]" + sum_divisor(n, g, l) + (l.mean_over_last_dim ? "f" : "") +
                                         ";  // reduction='sum'";
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ dinp", "dinp"}, {"const float* __restrict__ dloss", "dloss"},
                             {"const float* __restrict__ inp", "inp"}, {"const float* __restrict__ target", "target"}},
                            "n * kNumel", {scale, "const float x = inp[i], y = target[i];", "dinp[i] = scale * (" + l.grad(n) + ");"},
                            [&](CodeWriter& k) {
                              if (l.constants) l.constants(k, n);
                              if (reduction == "batchmean")
                                k.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs.back()))) +
                                       ";  // per sample");
                            });
  };
  ops.push_back(std::move(b));

  LayerDef layer;
  layer.torch_type = l.torch_type;
  layer.is_loss = true;
  layer.args = {reduction_arg()};
  if (l.batchmean) layer.args[0].choices.push_back("batchmean");
  for (const auto& a : l.extra_args) layer.args.push_back(a);
  const std::string op = l.name;
  const auto check_input = l.check_input;
  layer.build = [op, check_input](LayerBuild& b, const std::vector<int>& in) {
    if (check_input) check_input(b.graph, in, b.args);
    Node n;
    n.op = op;
    n.layer = b.layer;
    n.source = b.source;
    n.attrs = b.args;
    n.inputs = {in.at(0), in.at(1)};
    const int id = add_op(b.graph, std::move(n), "loss");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(layer));
}

}  // namespace ltgen
