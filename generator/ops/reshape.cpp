/// \file
/// Reshape and Transpose on each sample (the batch dimension stays where it is).
/// Reshape is a view, like Flatten: torch's x.reshape(x.size(0), *shape) on a
/// contiguous tensor, one -1 inferred from the others. Transpose is a real copy,
/// torch.transpose(x, dim0, dim1) made contiguous; its gradient is the same
/// transpose of dout.
#include <algorithm>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {
std::int64_t product(const Shape& s, size_t from, size_t to) {
  std::int64_t p = 1;
  for (size_t d = from; d < to; ++d) p *= s[d];
  return p;
}

// in (batch * A, D0, B, D1, C) -> out (batch * A, D1, B, D0, C), dims d0 < d1 of the input.
void emit_transpose(CodeWriter& w, const Node& n, const Graph& g) {
  const Shape& x = g.value(n.inputs.at(0)).shape;
  const auto d0 = static_cast<size_t>(attr_int(n, "dim0")), d1 = static_cast<size_t>(attr_int(n, "dim1"));
  w.line("constexpr int kA = " + std::to_string(product(x, 1, d0)) + ", kD0 = " + std::to_string(x[d0]) +
         ", kB = " + std::to_string(product(x, d0 + 1, d1)) + ", kD1 = " + std::to_string(x[d1]) +
         ", kC = " + std::to_string(product(x, d1 + 1, x.size())) + ";  // per sample: (A, D0, B, D1, C)");
  w.open("for (int s = 0; s < n * kA; ++s)");
  w.open("for (int i = 0; i < kD0; ++i)");
  w.open("for (int b = 0; b < kB; ++b)");
  w.open("for (int j = 0; j < kD1; ++j)");
  w.line("const auto* src = inp + (((static_cast<std::int64_t>(s) * kD0 + i) * kB + b) * kD1 + j) * kC;");
  w.line("std::copy(src, src + kC, out + (((static_cast<std::int64_t>(s) * kD1 + j) * kB + b) * kD0 + i) * kC);");
  w.close();
  w.close();
  w.close();
  w.close();
}

// CUDA: a thread per element of out reads its element of inp (the same copy, any order).
void emit_transpose_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const Shape& x = g.value(n.inputs.at(0)).shape;
  const auto d0 = static_cast<size_t>(attr_int(n, "dim0")), d1 = static_cast<size_t>(attr_int(n, "dim1"));
  const std::string sizes = "constexpr int kD0 = " + std::to_string(x[d0]) +
                            ", kB = " + std::to_string(product(x, d0 + 1, d1)) + ", kD1 = " + std::to_string(x[d1]) +
                            ", kC = " + std::to_string(product(x, d1 + 1, x.size())) + ";  // per sample: (A = " +
                            std::to_string(product(x, 1, d0)) + ", D0, B, D1, C)";
  e.body.line("constexpr int kNumel = " + std::to_string(product(x, 1, x.size())) + ";  // per sample");
  emit_elementwise_kernel(e, e.fn + "_kernel",
                          {{"float* __restrict__ out", "out"}, {"const float* __restrict__ inp", "inp"}},
                          "n * kNumel",
                          {"// out is (n * A, D1, B, D0, C): the coordinates of element i there",
                           "const int c = i % kC;", "const int d0 = i / kC % kD0;", "const int b = i / (kC * kD0) % kB;",
                           "const int d1 = i / (kC * kD0 * kB) % kD1;", "const int s = i / (kC * kD0 * kB * kD1);",
                           "out[i] = inp[(((static_cast<std::int64_t>(s) * kD0 + d0) * kB + b) * kD1 + d1) * kC + c];"},
                          [&](CodeWriter& k) { k.line(sizes); });
}

}  // namespace

void register_reshape(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef t;
  t.name = "transpose";
  t.moves_values = true;
  t.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    Shape s = x.shape;
    std::swap(s.at(static_cast<size_t>(attr_int(n, "dim0"))), s.at(static_cast<size_t>(attr_int(n, "dim1"))));
    return std::vector<OutputType>{{x.dtype, s, x.batched}};
  };
  t.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  t.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.outputs.at(0)).shape));
    return Cost{0, e * 8};
  };
  t.emit_cpu = emit_transpose;
  t.emit_cuda = emit_transpose_cuda;
  t.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;
    b.op = "transpose";  // swapping the same two dimensions back
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(t));

  LayerDef r;
  r.torch_type = "Reshape";
  r.args = {{"shape", ArgType::integer_tuple, std::nullopt}};  // tuple_size 0: any length
  r.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const Shape sample(x.shape.begin() + 1, x.shape.end());
    const Attr& given = b.args.at("shape");
    std::vector<std::int64_t> shape;
    if (auto* one = std::get_if<std::int64_t>(&given)) shape = {*one};
    else shape = std::get<std::vector<std::int64_t>>(given);
    int infer = -1;
    std::int64_t known = 1;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == -1) {
        if (infer >= 0) throw ShapeError("shape " + attr_repr(given) + ": only one dimension can be -1");
        infer = static_cast<int>(d);
      } else if (shape[d] <= 0) {
        throw ShapeError("shape " + attr_repr(given) + ": sizes must be positive (or one -1)");
      }
    }
    Shape known_dims;  // numel saturates where a product of the given sizes would wrap
    for (const std::int64_t d : shape)
      if (d != -1) known_dims.push_back(d);
    known = numel(known_dims);
    const std::int64_t total = numel(sample);
    if (infer >= 0) {
      if (total % known != 0)
        throw ShapeError("cannot reshape a sample of " + shape_str(sample) + " (" + std::to_string(total) +
                         " elements) to " + attr_repr(given) + " (the batch dimension stays)");
      shape[static_cast<size_t>(infer)] = total / known;
    }
    if (numel(Shape(shape)) != total)
      throw ShapeError("cannot reshape a sample of " + shape_str(sample) + " (" + std::to_string(total) +
                       " elements) to " + attr_repr(given) + " (the batch dimension stays)");
    return add_view(b, in.at(0), shape);
  };
  layers.push_back(std::move(r));

  LayerDef l;
  l.torch_type = "Transpose";
  l.args = {{"dim0", ArgType::integer, std::nullopt}, {"dim1", ArgType::integer, std::nullopt}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const auto rank = static_cast<std::int64_t>(x.shape.size());
    std::int64_t d0 = std::get<std::int64_t>(b.args.at("dim0"));
    std::int64_t d1 = std::get<std::int64_t>(b.args.at("dim1"));
    const std::int64_t given0 = d0, given1 = d1;
    if (d0 < 0) d0 += rank;
    if (d1 < 0) d1 += rank;
    if (d0 < 0 || d0 >= rank || d1 < 0 || d1 >= rank)
      throw ShapeError("dim0 " + std::to_string(given0) + " and dim1 " + std::to_string(given1) +
                       " must be dimensions of the input " + shape_str(x.shape) + " (dimension 0 is the batch)");
    if (d0 == 0 || d1 == 0) throw ShapeError("transposing the batch dimension (dim 0) is not supported");
    if (d0 == d1) return in.at(0);  // nothing to swap
    if (d0 > d1) std::swap(d0, d1);
    if (x.dtype != DType::f32) throw ShapeError(std::string("Transpose needs a float32 input, not ") + dtype_name(x.dtype));
    Node n;
    n.op = "transpose";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["dim0"] = d0;
    n.attrs["dim1"] = d1;
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
