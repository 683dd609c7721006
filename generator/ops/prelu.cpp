/// \file
/// PReLU (torch.nn.PReLU(num_parameters, init)): x > 0 ? x : a x with a learned slope a, one for
/// every channel (dimension 1 of the input, torch's channel dimension) or one for all. Backward:
/// dx = x > 0 ? dy : a dy; da[c] = the sum of x dy over channel c's elements with x <= 0 (torch's
/// prelu backward), in double, a block per channel on the GPU (no atomics).
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// kChannels (dimension 1's size, 1 for a (N,) input) and kL (elements per channel and sample):
// element i of the batch has channel (i / kL) % kChannels; `slopes` adds kSlopes (1 or C).
void write_sizes(CodeWriter& w, const Node& n, const Value& x, bool slopes = false) {
  const std::int64_t channels = x.shape.size() > 1 ? x.shape[1] : 1;
  if (slopes) w.line("constexpr int kSlopes = " + std::to_string(attr_int(n, "num_parameters")) + ";  // learned slopes");
  w.line("constexpr int kChannels = " + std::to_string(channels) + ", kL = " +
         std::to_string(per_sample_numel(x) / channels) + ";  // per sample: channels, elements per channel");
}

// The slope of element i.
std::string slope(const Node& n) {
  return attr_int(n, "num_parameters") == 1 ? "weight[0]" : "weight[i / kL % kChannels]";
}

}  // namespace

void register_prelu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "prelu";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp", "weight"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * 2, e * 8};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_sizes(w, n, g.value(n.inputs[0]));
    w.open("for (int i = 0; i < n * kChannels * kL; ++i)");
    w.line("out[i] = inp[i] > 0.0f ? inp[i] : " + slope(n) + " * inp[i];");
    w.close();
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    write_sizes(e.body, n, x);  // the launch's count
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ out", "out"}, {"const float* __restrict__ inp", "inp"},
                             {"const float* __restrict__ weight", "weight"}},
                            "n * kChannels * kL", {"out[i] = inp[i] > 0.0f ? inp[i] : " + slope(n) + " * inp[i];"},
                            [&](CodeWriter& k) {
                              if (attr_int(n, "num_parameters") > 1) write_sizes(k, n, x);  // the channel of i
                            });
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    const bool need_dinp = ad.needs_grad(x), need_dweight = ad.needs_grad(n.inputs[1]);
    std::vector<int> grads(2, -1);  // the slope's gradient lives in the grad region
    if (dout[0] < 0 || (!need_dinp && !need_dweight)) return grads;
    Node b;
    b.op = "prelu_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dinp"] = need_dinp;
    b.inputs = {dout[0], x, n.inputs[1]};
    if (need_dinp) b.outputs.push_back(-1);
    b.outputs.push_back(ad.param_grad(n.inputs[1]));
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    if (need_dinp) grads[0] = ad.graph.nodes[id].outputs[0];
    return grads;
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "prelu_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    std::vector<OutputType> t;
    if (attr_bool(n, "need_dinp")) t.push_back({x.dtype, x.shape, x.batched});
    t.push_back({DType::f32, Shape{attr_int(n, "num_parameters")}, false});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dout", "inp", "weight"}};
    if (attr_bool(n, "need_dinp")) s.outputs.push_back("dinp");
    s.outputs.push_back("dweight");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * 4, e * 12};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const bool need_dinp = attr_bool(n, "need_dinp");
    write_sizes(w, n, g.value(n.inputs[1]), true);
    w.line("double sums[kSlopes] = {};  // each slope's x * dy over its elements with x <= 0");
    w.open("for (int i = 0; i < n * kChannels * kL; ++i)");
    if (need_dinp) w.line("dinp[i] = inp[i] > 0.0f ? dout[i] : " + slope(n) + " * dout[i];");
    w.line("if (inp[i] <= 0.0f) sums[" + std::string(attr_int(n, "num_parameters") == 1 ? "0" : "i / kL % kChannels") +
           "] += inp[i] * dout[i];");
    w.close();
    w.line("for (int c = 0; c < kSlopes; ++c) dweight[c] = (accumulate ? dweight[c] : 0.0f) + static_cast<float>(sums[c]);");
  };
  // CUDA: dinp a thread an element; dweight a block per slope, its threads striding over the
  // slope's elements (sample-major), then a tree sum in double.
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const bool need_dinp = attr_bool(n, "need_dinp");
    const Value& x = g.value(n.inputs[1]);
    const bool shared = attr_int(n, "num_parameters") == 1;
    if (need_dinp) write_sizes(e.body, n, x);  // the dinp launch's count
    if (need_dinp)
      emit_elementwise_kernel(e, e.fn + "_dinp_kernel",
                              {{"float* __restrict__ dinp", "dinp"}, {"const float* __restrict__ dout", "dout"},
                               {"const float* __restrict__ inp", "inp"}, {"const float* __restrict__ weight", "weight"}},
                              "n * kChannels * kL", {"dinp[i] = inp[i] > 0.0f ? dout[i] : " + slope(n) + " * dout[i];"},
                              [&](CodeWriter& k) {
                              if (attr_int(n, "num_parameters") > 1) write_sizes(k, n, x);  // the channel of i
                            });
    CodeWriter& k = e.kernels;
    k.line();
    k.line("// Block c: slope c's sum of x * dy over its elements with x <= 0, in double.");
    k.open("__global__ void " + e.fn + "_dweight_kernel(float* __restrict__ dweight, const float* __restrict__ dout, "
           "const float* __restrict__ inp, int n, bool accumulate)");
    write_sizes(k, n, x);
    k.line("__shared__ double partial[1][kReduceThreads];");
    k.line("const int c = blockIdx.x;");
    k.line("double sum = 0.0;");
    if (shared) {
      k.open("for (int i = threadIdx.x; i < n * kChannels * kL; i += blockDim.x)");
    } else {
      k.open("for (int j = threadIdx.x; j < n * kL; j += blockDim.x)");
      k.line("const int i = (j / kL * kChannels + c) * kL + j % kL;  // sample j / kL, position j % kL");
    }
    k.line("if (inp[i] <= 0.0f) sum += static_cast<double>(inp[i] * dout[i]);");
    k.close();
    write_block_sums(k, {"sum"});
    k.line("if (threadIdx.x == 0) dweight[c] = (accumulate ? dweight[c] : 0.0f) + static_cast<float>(sum);");
    k.close();
    emit_launch(e.body, e.fn + "_dweight_kernel", std::to_string(attr_int(n, "num_parameters")), "kReduceThreads",
                {"dweight", "dout", "inp", "n", "accumulate"});
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "PReLU";
  ArgDef count{"num_parameters", ArgType::integer, Attr{std::int64_t{1}}};
  count.min = 1;
  l.args = {count, {"init", ArgType::number, Attr{0.25}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const std::int64_t slopes = std::get<std::int64_t>(b.args.at("num_parameters"));
    const std::int64_t channels = x.shape.size() > 1 ? x.shape[1] : 1;
    if (slopes != 1 && slopes != channels)
      throw ShapeError("num_parameters is " + std::to_string(slopes) + " but the input " + shape_str(x.shape) +
                       " has " + std::to_string(channels) + " channels (its dimension 1): use 1 or " +
                       std::to_string(channels));
    Node n;
    n.op = "prelu";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["num_parameters"] = slopes;
    const int weight = add_param(b.graph, b.layer + ".weight", {slopes});
    b.graph.value(weight).init = Init::constant;
    b.graph.value(weight).init_bound = std::get<double>(b.args.at("init"));
    n.inputs = {in.at(0), weight};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    const int out = b.graph.nodes[id].outputs[0];
    keep_torch_layout(b.graph, out, {in.at(0)});  // torch's result keeps its input's memory order
    return out;
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
