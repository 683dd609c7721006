/// \file
/// Add and Mul of two values of different shapes, broadcast as torch broadcasts them: the shapes
/// have one rank (so that the batch dimensions meet; a Reshape adds 1s) and each dimension is equal
/// or 1 in one of them (an SE block's `x * scale` with scale (N, C, 1, 1), a per-position weight
/// (N, T, 1) times (N, T, E)). The batch dimension is never broadcast.
///
///   broadcast_add / broadcast_mul:  out = a + b (a * b), a thread (an iteration) per output element
///   broadcast_grad:                 dx = the sum of dout (times `factor`, the other operand of a
///                                   Mul) over the dimensions that x was broadcast along
///
/// torch's autograd reduces the same way (`grad.sum_to_size(x.shape)`); here each element's sum
/// runs in double over float products, one thread or iteration per element of x, so the CPU and
/// CUDA programs agree bit for bit and no atomics are needed.
///
/// Index arithmetic: the per-sample dimensions of out are collapsed into runs that every operand
/// either has or lacks (adjacent dimensions with the same pattern merge), so (C, H, W) * (C, 1, 1)
/// is (C, H*W) against (C); an operand's element is found from the output's by dividing out the
/// runs it lacks.
#include <string>
#include <vector>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// The per-sample dimensions of a broadcast, collapsed: run d has `sizes[d]` elements, and operand
// k has it when has[k][d] (else it is broadcast along it).
struct Runs {
  std::vector<std::int64_t> sizes;
  std::vector<std::vector<bool>> has;
};

Shape per_sample(const Value& v) { return Shape(v.shape.begin() + 1, v.shape.end()); }

// torch's broadcast of per-sample shapes a and b; throws ShapeError when they do not broadcast.
// torch aligns whole shapes at their last dimension, so values of different ranks would put one's
// batch dimension against another dimension of the other: refused.
Shape broadcast_shape(const Shape& a, const Shape& b, const std::string& verb) {
  if (a.size() != b.size()) {
    // The fix: the smaller per sample with 1s in front, as a Reshape's "shape".
    const Shape& small = a.size() < b.size() ? a : b;
    std::string fix = "[";
    for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      const size_t lead = std::max(a.size(), b.size()) - small.size();
      fix += (i ? ", " : "") + std::to_string(i < lead ? 1 : small[i - lead]);
    }
    throw ShapeError("cannot " + verb + " per-sample shapes " + shape_str(a) + " and " + shape_str(b) +
                     " of different ranks (torch would align one's batch dimension with another of the other); "
                     "a Reshape with \"shape\": " + fix + "] before it gives them one rank");
  }
  const size_t rank = a.size();
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const std::int64_t x = a[i], y = b[i];
    if (x != y && x != 1 && y != 1)
      throw ShapeError("cannot " + verb + " per-sample shapes " + shape_str(a) + " and " + shape_str(b) +
                       ": dimension " + std::to_string(i + 1) + " is " + std::to_string(x) + " and " + std::to_string(y) +
                       " (torch broadcasts only where they are equal or one is 1)");
    out[i] = std::max(x, y);
  }
  return out;
}

// The runs of `out` (per sample) for operands of per-sample shapes `operands` (of its rank) that
// broadcast to it.
Runs collapse(const Shape& out, const std::vector<Shape>& operands) {
  Runs r;
  r.has.resize(operands.size());
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 1) continue;  // nothing to index
    std::vector<bool> pattern;
    for (const Shape& s : operands) pattern.push_back(s.at(i) == out[i]);
    bool same = !r.sizes.empty();
    for (size_t k = 0; same && k < operands.size(); ++k) same = r.has[k].back() == pattern[k];
    if (same) {
      r.sizes.back() *= out[i];
      continue;
    }
    r.sizes.push_back(out[i]);
    for (size_t k = 0; k < operands.size(); ++k) r.has[k].push_back(pattern[k]);
  }
  return r;
}

// The offset, in the layout of the runs in `to` (row-major over them), of the element whose index
// `var` counts the runs in `from` row-major; the runs of `from` that `to` lacks drop out, and
// `to` must have no run that `from` lacks.
std::string remap(const Runs& r, const std::vector<bool>& from, const std::vector<bool>& to, const std::string& var) {
  if (from == to) return var;
  const std::string v = var.find(' ') == std::string::npos ? var : "(" + var + ")";
  std::string sum;
  bool outer = true;  // the first run of `from` needs no modulo
  for (size_t d = 0; d < r.sizes.size(); ++d) {
    if (!from[d]) continue;
    std::int64_t from_stride = 1, to_stride = 1;
    for (size_t e = d + 1; e < r.sizes.size(); ++e) {
      if (from[e]) from_stride *= r.sizes[e];
      if (to[e]) to_stride *= r.sizes[e];
    }
    const bool first = outer;
    outer = false;
    if (!to[d]) continue;
    std::string coord = v;
    if (from_stride != 1) coord += " / " + std::to_string(from_stride);
    if (!first) coord += " % " + std::to_string(r.sizes[d]);
    if (to_stride != 1) coord = (coord == v ? coord : "(" + coord + ")") + " * " + std::to_string(to_stride);
    sum += (sum.empty() ? "" : " + ") + coord;
  }
  return sum.empty() ? "0" : sum;
}

std::vector<bool> all_runs(const Runs& r) { return std::vector<bool>(r.sizes.size(), true); }
std::vector<bool> lacking(const std::vector<bool>& has) {
  std::vector<bool> out(has.size());
  for (size_t d = 0; d < has.size(); ++d) out[d] = !has[d];
  return out;
}
std::int64_t count(const Runs& r, const std::vector<bool>& has) {
  std::int64_t c = 1;
  for (size_t d = 0; d < r.sizes.size(); ++d)
    if (has[d]) c *= r.sizes[d];
  return c;
}

// `base + offset`, without an offset of 0.
std::string plus(const std::string& base, const std::string& offset) { return offset == "0" ? base : base + " + " + offset; }

// The forward's runs: out's, with a and b as operands.
Runs forward_runs(const Node& n, const Graph& g) {
  return collapse(per_sample(g.value(n.outputs[0])), {per_sample(g.value(n.inputs[0])), per_sample(g.value(n.inputs[1]))});
}

// The forward's per-sample sizes: out's, and those of the operands that are broadcast.
std::string forward_sizes(const Node& n, const Graph& g) {
  const Runs r = forward_runs(n, g);
  std::string line = "constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.outputs[0])));
  for (int k = 0; k < 2; ++k)
    if (r.has[k] != all_runs(r))
      line += std::string(", ") + (k ? "kB" : "kA") + " = " + std::to_string(per_sample_numel(g.value(n.inputs[k])));
  return line + ";  // elements per sample";
}

// The forward's body for the output's element i (CPU loop or CUDA thread over i < n * kNumel).
std::vector<std::string> forward_lines(const Node& n, const Graph& g, const std::string& op) {
  const Runs r = forward_runs(n, g);
  std::string at[2], read[2];
  for (int k = 0; k < 2; ++k) {
    const std::string name = k ? "b" : "a";
    at[k] = r.has[k] == all_runs(r) ? "" : remap(r, all_runs(r), r.has[k], "r");
    read[k] = at[k].empty() ? name + "[i]" : name + "[" + plus("s * " + std::string(k ? "kB" : "kA"), at[k]) + "]";
  }
  const bool within = (!at[0].empty() && at[0] != "0") || (!at[1].empty() && at[1] != "0");
  return {within ? "const int s = i / kNumel, r = i % kNumel;  // the sample, the element within it"
                 : "const int s = i / kNumel;  // the sample",
          "out[i] = " + read[0] + " " + op + " " + read[1] + ";"};
}

void register_forward(std::vector<OpDef>& ops, const std::string& name, const std::string& op, const std::string& verb) {
  OpDef f;
  f.name = name;
  f.infer = [verb](const Node& n, const Graph& g) {
    const Value& a = g.value(n.inputs.at(0));
    const Value& b = g.value(n.inputs.at(1));
    if (!a.batched || !b.batched || a.dtype != DType::f32 || b.dtype != DType::f32)
      throw ShapeError("broadcasts float32 values of the batch only (torch's bfloat16 broadcasting is not reproduced yet)");
    if (a.shape[0] != b.shape[0]) throw ShapeError("cannot " + verb + " values of different batch sizes");
    Shape out = broadcast_shape(per_sample(a), per_sample(b), verb);
    out.insert(out.begin(), a.shape[0]);
    return std::vector<OutputType>{{DType::f32, out, true}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"a", "b"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.outputs[0]).shape));
    return Cost{e, e * 12};
  };
  f.emit_cpu = [op](CodeWriter& w, const Node& n, const Graph& g) {
    w.line(forward_sizes(n, g));
    open_split_loop(w, "i", "n * kNumel", 1, SplitIndex::elements);
    for (const std::string& l : forward_lines(n, g, op)) w.line(l);
    close_split_loop(w);
  };
  f.emit_cuda = [op](CudaEmit& e, const Node& n, const Graph& g) {
    e.body.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.outputs[0]))) +
                ";  // elements per sample");
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ out", "out"}, {"const float* __restrict__ a", "a"},
                             {"const float* __restrict__ b", "b"}},
                            "n * kNumel", forward_lines(n, g, op), [&](CodeWriter& k) { k.line(forward_sizes(n, g)); });
  };
  const bool product = op == "*";
  f.backward = [product](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    std::vector<int> grads = {-1, -1};
    if (dout[0] < 0) return grads;
    const Graph& g = ad.graph;
    for (int k = 0; k < 2; ++k) {
      const int x = n.inputs[k];
      if (!ad.needs_grad(x)) continue;
      // A sum's operand of the output's shape takes dout as it is.
      if (!product && g.value(x).shape == g.value(n.outputs[0]).shape) {
        grads[k] = dout[0];
        continue;
      }
      Node b;
      b.op = "broadcast_grad";
      b.layer = n.layer;
      b.source = n.source;
      b.attrs["shape"] = per_sample(g.value(x));
      b.inputs = {dout[0]};
      if (product) b.inputs.push_back(n.inputs[1 - k]);
      const int id = ad.add_backward(std::move(b), ad.grad_name(x));
      grads[k] = ad.graph.nodes[id].outputs[0];
    }
    return grads;
  };
  ops.push_back(std::move(f));
}

// broadcast_grad's runs: dout's, with x (the gradient's shape) and the factor as operands.
Runs grad_runs(const Node& n, const Graph& g) {
  std::vector<Shape> operands = {attr_ints(n, "shape")};
  if (n.inputs.size() > 1) operands.push_back(per_sample(g.value(n.inputs[1])));
  return collapse(per_sample(g.value(n.inputs[0])), operands);
}

std::string grad_sizes(const Node& n, const Graph& g) {
  const Runs r = grad_runs(n, g);
  std::string line = "constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs[0]))) +
                     ", kX = " + std::to_string(count(r, r.has[0]));
  if (n.inputs.size() > 1) line += ", kF = " + std::to_string(per_sample_numel(g.value(n.inputs[1])));
  const std::int64_t summed = count(r, lacking(r.has[0]));
  if (summed > 1) line += ", kR = " + std::to_string(summed);
  return line + ";  // dout's and x's elements per sample" + (n.inputs.size() > 1 ? ", the factor's" : "") +
         (summed > 1 ? ", dout's elements summed into each of x's" : "");
}

// broadcast_grad's body for dx's element i (within its sample: r, sample s).
std::vector<std::string> grad_lines(const Node& n, const Graph& g) {
  const Runs r = grad_runs(n, g);
  const std::vector<bool> all = all_runs(r), x = r.has[0], rest = lacking(x);
  const bool factor = n.inputs.size() > 1;
  auto term = [&](const std::string& at) {  // dout's element `at` within the sample, times the factor's
    const std::string d = "dout[" + plus("s * kNumel", at) + "]";
    if (!factor) return d;
    return d + " * factor[" + plus("s * kF", r.has[1] == all ? at : remap(r, all, r.has[1], at)) + "]";
  };
  const bool one = count(r, x) == 1;  // x has one element a sample
  std::vector<std::string> lines = {one ? "const int s = i / kX;  // the sample (x has one element a sample)"
                                        : "const int s = i / kX, r = i % kX;  // the sample, x's element within it"};
  if (count(r, rest) == 1) {  // x has dout's shape: only the factor is broadcast
    lines.push_back("dx[i] = " + term(one ? "0" : "r") + ";");
    return lines;
  }
  const std::string first = one ? "0" : remap(r, x, all, "r");
  if (first != "0") lines.push_back("const int at = " + first + ";  // its first element in dout");
  lines.push_back("double sum = 0.0;");
  const std::string summed = remap(r, rest, all, "q");
  lines.push_back("for (int q = 0; q < kR; ++q) sum += " + term(first == "0" ? summed : "at + " + summed) + ";");
  lines.push_back("dx[i] = static_cast<float>(sum);");
  return lines;
}

void register_grad(std::vector<OpDef>& ops) {
  OpDef b;
  b.name = "broadcast_grad";
  b.infer = [](const Node& n, const Graph& g) {
    Shape s = attr_ints(n, "shape");
    s.insert(s.begin(), g.value(n.inputs.at(0)).shape[0]);
    return std::vector<OutputType>{{DType::f32, s, true}};
  };
  b.slots = [](const Node& n) {
    Slots s{{"dx"}, {"dout"}};
    if (n.inputs.size() > 1) s.inputs.push_back("factor");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{2 * e, e * (n.inputs.size() > 1 ? 8 : 4)};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    w.line(grad_sizes(n, g));
    const Runs r = grad_runs(n, g);
    open_split_loop(w, "i", "n * kX", count(r, lacking(r.has[0])), SplitIndex::rows);
    for (const std::string& l : grad_lines(n, g)) w.line(l);
    close_split_loop(w);
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    e.body.line("constexpr int kX = " + std::to_string(count(grad_runs(n, g), grad_runs(n, g).has[0])) +
                ";  // x's elements per sample");
    std::vector<KernelParam> params = {{"float* __restrict__ dx", "dx"}, {"const float* __restrict__ dout", "dout"}};
    if (n.inputs.size() > 1) params.push_back({"const float* __restrict__ factor", "factor"});
    emit_elementwise_kernel(e, e.fn + "_kernel", params, "n * kX", grad_lines(n, g),
                            [&](CodeWriter& k) { k.line(grad_sizes(n, g)); });
  };
  ops.push_back(std::move(b));
}

}  // namespace

int add_broadcast(Graph& g, const std::string& op, const std::string& layer, const std::string& source, int a, int b) {
  Node n;
  n.op = op;
  n.layer = layer;
  n.source = source;
  n.inputs = {a, b};
  const int id = add_op(g, std::move(n), cpp_name(layer) + "_out");
  const int out = g.nodes[id].outputs[0];
  keep_torch_layout(g, out, {a, b});  // the order of the operand of out's shape, as torch's
  return out;
}

void register_broadcast(std::vector<OpDef>& ops) {
  register_forward(ops, "broadcast_add", "+", "add");
  register_forward(ops, "broadcast_mul", "*", "multiply");
  register_grad(ops);
}

}  // namespace ltgen
