#include "elementwise.hpp"

#include <algorithm>
#include <set>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"

namespace ltgen {

AroundDim around_dim(const Shape& s, std::int64_t dim) {
  AroundDim a;
  for (std::int64_t d = 1; d < dim; ++d) a.outer *= s[static_cast<size_t>(d)];
  a.size = s[static_cast<size_t>(dim)];
  for (size_t d = static_cast<size_t>(dim) + 1; d < s.size(); ++d) a.inner *= s[d];
  return a;
}

std::int64_t per_sample_numel(const Value& v) {
  std::int64_t n = 1;
  for (size_t i = v.batched ? 1 : 0; i < v.shape.size(); ++i) n *= v.shape[i];
  return n;
}

std::int64_t rows_per_sample(const Value& x) {
  std::int64_t r = 1;
  for (size_t d = 1; d + 1 < x.shape.size(); ++d) r *= x.shape[d];
  return r;
}

std::int64_t positions_per_channel(const Value& x) {
  std::int64_t l = 1;
  for (size_t d = 2; d < x.shape.size(); ++d) l *= x.shape[d];
  return l;
}

std::string numel_constant(const Value& v) {
  return "constexpr int kNumel = " + std::to_string(per_sample_numel(v)) + (v.batched ? ";  // per sample" : ";");
}

std::string element_count(const Value& v) { return v.batched ? "n * kNumel" : "kNumel"; }

void open_split(CodeWriter& w, const std::string& count, std::int64_t work, SplitIndex index) {
  // A part below about 16K elements' work would take less than waking a helper thread costs.
  constexpr std::int64_t kPartElements = 16384;
  const std::int64_t grain = std::max<std::int64_t>(1, (kPartElements + work - 1) / std::max<std::int64_t>(work, 1));
  const std::string fn = index == SplitIndex::elements ? "ltrt::parallel_for_aligned(" : "ltrt::parallel_for(";
  w.open(fn + count + ", " + std::to_string(grain) + ", [=](int begin, int end)");
}

void close_split(CodeWriter& w) { w.close(");"); }

void open_split_loop(CodeWriter& w, const std::string& var, const std::string& count, std::int64_t work,
                     SplitIndex index) {
  open_split(w, count, work, index);
  w.open("for (int " + var + " = begin; " + var + " < end; ++" + var + ")");
}

void close_split_loop(CodeWriter& w) {
  w.close();
  close_split(w);
}

std::string apply_epilogue(const Node& n, std::string expr) {
  for (const Node& e : n.epilogue) expr = op_def(e.op).scalar(e, expr);
  return expr;
}

void epilogue_constants(CodeWriter& w, const Node& n) {
  std::set<std::string> written;  // two fused LeakyReLUs share one constant
  for (const Node& e : n.epilogue) {
    const auto& constants = op_def(e.op).constants;
    if (!constants) continue;
    CodeWriter block;
    constants(block, e);
    const std::string& text = block.str();
    for (size_t start = 0; start < text.size();) {
      const size_t end = text.find('\n', start);
      const std::string line = text.substr(start, end - start);
      if (written.insert(line).second) w.line(line);
      start = end + 1;
    }
  }
}

void register_unary(std::vector<OpDef>& ops, const UnaryOp& u) {
  OpDef f;
  f.name = u.name;
  f.constants = u.constants;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  f.slots = [](const Node& n) {
    Slots s{{"out"}, {"inp"}};
    if (n.outputs.size() == 2) s.outputs.push_back("preact");
    return s;
  };
  f.scalar = u.forward;
  f.cost = [u](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * u.flops_per_element, e * 8};
  };
  f.emit_cpu = [u](CodeWriter& w, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    w.line("constexpr int kNumel = " + std::to_string(per_sample_numel(x)) + ";  // per sample");
    if (u.constants) u.constants(w, n);
    epilogue_constants(w, n);
    open_split_loop(w, "i", "n * kNumel", 1, SplitIndex::elements);
    w.line("const float v = " + u.forward(n, "inp[i]") + ";");
    w.line("out[i] = " + apply_epilogue(n, "v") + ";");
    close_split_loop(w);
  };
  // The same scalar expressions run on the device (ltrt/activations.hpp is __host__ __device__).
  // Under mixed precision an output that only 16-bit GEMMs read is written as 16-bit bits
  // (cuda_storage16.hpp): GELU's before a Linear, say.
  f.cuda_writes16 = true;
  f.emit_cuda = [u](CudaEmit& e, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    e.body.line("constexpr int kNumel = " + std::to_string(per_sample_numel(x)) + ";  // per sample");
    const OutputStore out = n.outputs.size() == 1 ? output_store(e, n.outputs[0], "out") : OutputStore{};
    const std::vector<std::string> body = {"const float v = " + u.forward(n, "inp[i]") + ";",
                                           "out[i] = " + out.store(apply_epilogue(n, "v")) + ";"};
    emit_elementwise_kernel(e, e.fn + "_kernel", {{out.param("out"), "out"}, {"const float* __restrict__ inp", "inp"}},
                            "n * kNumel", body, [&](CodeWriter& w) {
      if (u.constants) u.constants(w, n);
      epilogue_constants(w, n);
    });
  };
  f.backward = [u](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;
    b.op = u.name + "_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], u.saved == Saved::input ? x : n.outputs[0]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = u.name + "_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  const std::string saved_name = u.saved == Saved::input ? "inp" : "out";
  b.slots = [saved_name](const Node&) { return Slots{{"dinp"}, {"dout", saved_name}}; };
  b.cost = [u](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * u.flops_per_element, e * 12};
  };
  b.emit_cpu = [u, saved_name](CodeWriter& w, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[1]);
    w.line("constexpr int kNumel = " + std::to_string(per_sample_numel(x)) + ";  // per sample");
    if (u.constants) u.constants(w, n);
    open_split_loop(w, "i", "n * kNumel", 1, SplitIndex::elements);
    w.line("dinp[i] = " + u.backward(n, "dout[i]", saved_name + "[i]") + ";");
    close_split_loop(w);
  };
  b.emit_cuda = [u, saved_name](CudaEmit& e, const Node& n, const Graph& g) {
    e.body.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs[1]))) + ";  // per sample");
    emit_elementwise_kernel(
        e, e.fn + "_kernel",
        {{"float* __restrict__ dinp", "dinp"}, {"const float* __restrict__ dout", "dout"},
         {"const float* __restrict__ " + saved_name, saved_name}},
        "n * kNumel", {"dinp[i] = " + u.backward(n, "dout[i]", saved_name + "[i]") + ";"}, [&](CodeWriter& w) {
          if (u.constants) u.constants(w, n);
        });
  };
  ops.push_back(std::move(b));
}

LayerDef unary_layer(const std::string& torch_type, std::vector<ArgDef> args,
                     const std::string& op) {
  LayerDef l;
  l.torch_type = torch_type;
  l.args = std::move(args);
  l.build = [op](LayerBuild& b, const std::vector<int>& in) {
    Node n;
    n.op = op;
    n.layer = b.layer;
    n.source = b.source;
    for (const auto& [k, v] : b.args)
      if (k != "inplace") n.attrs[k] = v;  // inplace only saves memory in eager PyTorch
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    const int out = b.graph.nodes[id].outputs[0];
    // torch's elementwise kernels keep their input's memory order, but for LogSigmoid's, whose
    // result is contiguous.
    if (op != "log_sigmoid") keep_torch_layout(b.graph, out, {in.at(0)});
    return out;
  };
  return l;
}

}  // namespace ltgen
