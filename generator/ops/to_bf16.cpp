/// \file
/// Mixed precision ("bf16-mixed"): `to_bf16` rounds float32 values to bfloat16 ones, torch's
/// `x.to(torch.bfloat16)` where autocast casts an operand (a Linear's input, weight and bias). As
/// an op's fused epilogue it is the rounding of that op's bfloat16 result. Its gradient passes
/// through unchanged, as a cast's does (autodiff rounds the gradient of every bfloat16 value);
/// into a parameter it goes through `param_grad_add`, which adds it to the parameter's float32
/// gradient as autograd's AccumulateGrad does.
#include "../autodiff.hpp"
#include "../autocast.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_to_bf16(std::vector<OpDef>& ops, std::vector<LayerDef>&) {
  OpDef f;
  f.name = "to_bf16";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cuda_writes16 = true;
  f.scalar = [](const Node&, const std::string& x) { return autocast_round() + "(" + x + ")"; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e, e * 8};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    w.line(numel_constant(x));
    epilogue_constants(w, n);
    w.open("for (int i = 0; i < " + element_count(x) + "; ++i)");
    w.line("out[i] = " + apply_epilogue(n, autocast_round() + "(inp[i])") + ";");
    w.close();
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    e.body.line(numel_constant(x));
    const OutputStore out = output_store(e, n.outputs[0], "out");
    emit_elementwise_kernel(e, e.fn + "_kernel", {{out.param("out"), "out"}, {"const float* __restrict__ inp", "inp"}},
                            element_count(x),
                            {"out[i] = " + out.store(apply_epilogue(n, autocast_round() + "(inp[i])")) + ";"},
                            [&](CodeWriter& k) { epilogue_constants(k, n); });
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    if (ad.graph.value(x).kind != ValueKind::param) return std::vector<int>{dout[0]};
    Node b;
    b.op = "param_grad_add";
    b.layer = n.layer;
    b.source = n.source;
    b.inputs = {dout[0]};
    b.outputs = {ad.param_grad(x)};
    ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{-1};  // the parameter's gradient lives in the grad region
  };
  ops.push_back(std::move(f));

  OpDef a;
  a.name = "param_grad_add";
  a.writes_param_grad = true;
  a.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{DType::f32, d.shape, false}};
  };
  a.slots = [](const Node&) { return Slots{{"dparam"}, {"grad"}}; };
  a.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e, e * 12};
  };
  a.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    w.line("constexpr int kNumel = " + std::to_string(numel(g.value(n.inputs[0]).shape)) + ";");
    w.line("for (int i = 0; i < kNumel; ++i) dparam[i] = accumulate ? dparam[i] + grad[i] : grad[i];");
  };
  a.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    e.body.line("constexpr int kNumel = " + std::to_string(numel(g.value(n.inputs[0]).shape)) + ";");
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ dparam", "dparam"}, {"const float* __restrict__ grad", "grad"},
                             {"bool accumulate", "accumulate"}},
                            "kNumel", {"dparam[i] = accumulate ? dparam[i] + grad[i] : grad[i];"}, [](CodeWriter&) {});
  };
  ops.push_back(std::move(a));
}

}  // namespace ltgen
