/// \file
/// Concat: torch.cat of two or more tensors along `dim` (dim 0 is the batch,
/// which cannot be concatenated). Backward slices dout back into the inputs.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {
// The sizes of one sample as (outer, middle, inner) around `dim`.
std::int64_t inner_size(const Shape& s, std::int64_t dim) {
  std::int64_t n = 1;
  for (size_t d = static_cast<size_t>(dim) + 1; d < s.size(); ++d) n *= s[d];
  return n;
}
std::int64_t outer_size(const Shape& s, std::int64_t dim) {
  std::int64_t n = 1;
  for (std::int64_t d = 1; d < dim; ++d) n *= s[static_cast<size_t>(d)];
  return n;
}

// Emits the copy loop between the concatenated buffer and its pieces.
void emit_copies(CodeWriter& w, const Node& n, const Graph& g, const std::vector<int>& pieces, bool backward) {
  const std::int64_t dim = attr_int(n, "dim");
  const Shape& whole = g.value(backward ? n.inputs.at(0) : n.outputs.at(0)).shape;
  w.line("constexpr int kOuter = " + std::to_string(outer_size(whole, dim)) +
         ";  // elements before dim " + std::to_string(dim) + ", per sample");
  w.line("constexpr int kRow = " + std::to_string(whole[static_cast<size_t>(dim)] * inner_size(whole, dim)) +
         ";  // one row of the concatenated tensor");
  std::int64_t at = 0;
  for (size_t k = 0; k < pieces.size(); ++k) {
    const Shape& s = g.value(pieces[k]).shape;
    const std::int64_t row = s[static_cast<size_t>(dim)] * inner_size(s, dim);
    const std::string piece = (backward ? "d" : "in") + std::to_string(k);
    const std::string big = backward ? "dout" : "out";
    w.open("for (int r = 0; r < n * kOuter; ++r)");
    w.line("constexpr int kPieceRow = " + std::to_string(row) + ", kAt = " + std::to_string(at) + ";");
    if (backward)
      w.line("std::copy(" + big + " + r * kRow + kAt, " + big + " + r * kRow + kAt + kPieceRow, " + piece + " + r * kPieceRow);");
    else
      w.line("std::copy(" + piece + " + r * kPieceRow, " + piece + " + (r + 1) * kPieceRow, " + big + " + r * kRow + kAt);");
    w.close();
    at += row;
  }
}
// CUDA: one kernel, a thread per element of the concatenated tensor (rows of kRow), copying it
// from or to the piece its column falls in.
void emit_copies_cuda(CudaEmit& e, const Node& n, const Graph& g, const std::vector<int>& pieces, bool backward) {
  const std::int64_t dim = attr_int(n, "dim");
  const Shape& whole = g.value(backward ? n.inputs.at(0) : n.outputs.at(0)).shape;
  const std::int64_t row = whole[static_cast<size_t>(dim)] * inner_size(whole, dim);
  e.body.line("constexpr int kOuter = " + std::to_string(outer_size(whole, dim)) + ";  // elements before dim " +
              std::to_string(dim) + ", per sample");
  e.body.line("constexpr int kRow = " + std::to_string(row) + ";  // one row of the concatenated tensor");
  std::vector<KernelParam> params;
  if (backward) {
    for (size_t k = 0; k < pieces.size(); ++k) params.push_back({"float* __restrict__ d" + std::to_string(k), "d" + std::to_string(k)});
    params.push_back({"const float* __restrict__ dout", "dout"});
  } else {
    params.push_back({"float* __restrict__ out", "out"});
    for (size_t k = 0; k < pieces.size(); ++k)
      params.push_back({"const float* __restrict__ in" + std::to_string(k), "in" + std::to_string(k)});
  }
  std::vector<std::string> body = {"const int r = i / kRow, c = i % kRow;  // row, column of the whole"};
  std::int64_t at = 0;
  for (size_t k = 0; k < pieces.size(); ++k) {
    const Shape& s = g.value(pieces[k]).shape;
    const std::int64_t piece_row = s[static_cast<size_t>(dim)] * inner_size(s, dim);
    const std::string piece = (backward ? "d" : "in") + std::to_string(k);
    const std::string column = at == 0 ? "c" : "(c - " + std::to_string(at) + ")";
    const std::string element = piece + "[r * " + std::to_string(piece_row) + " + " + column + "]";
    const std::string copy = backward ? element + " = dout[i];" : "out[i] = " + element + ";";
    const bool last = k + 1 == pieces.size();
    const std::string cond = (k == 0 ? "if (c < " : "else if (c < ") + std::to_string(at + piece_row) + ") ";
    body.push_back((last ? (k == 0 ? "" : "else ") : cond) + copy + "  // columns [" + std::to_string(at) + ", " +
                   std::to_string(at + piece_row) + "): " + piece);
    at += piece_row;
  }
  emit_elementwise_kernel(e, e.fn + "_kernel", params, "n * kOuter * kRow", body,
                          [&](CodeWriter& k) { k.line("constexpr int kRow = " + std::to_string(row) + ";"); });
}
}  // namespace

void register_concat(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef c;
  c.name = "concat";
  c.moves_values = true;
  c.infer = [](const Node& n, const Graph& g) {
    const std::int64_t dim = attr_int(n, "dim");
    Shape out = g.value(n.inputs.at(0)).shape;
    if (dim < 1 || dim >= static_cast<std::int64_t>(out.size()))
      throw ShapeError("dim " + std::to_string(dim) + " is not a dimension of " + shape_str(out) +
                       " other than the batch (dim 0)");
    out[static_cast<size_t>(dim)] = 0;
    for (int in : n.inputs) {
      const Shape& s = g.value(in).shape;
      for (size_t d = 0; d < s.size(); ++d)
        if (s.size() != out.size() || (static_cast<std::int64_t>(d) != dim && s[d] != out[d]))
          throw ShapeError("cannot concatenate " + shape_str(g.value(n.inputs[0]).shape) + " and " + shape_str(s) +
                           " along dim " + std::to_string(dim));
      out[static_cast<size_t>(dim)] += s[static_cast<size_t>(dim)];
    }
    return std::vector<OutputType>{{DType::f32, out, true}};
  };
  c.slots = [](const Node& n) {
    Slots s{{"out"}, {}};
    for (size_t k = 0; k < n.inputs.size(); ++k) s.inputs.push_back("in" + std::to_string(k));
    return s;
  };
  c.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.outputs.at(0)).shape));
    return Cost{0, e * 8};
  };
  c.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) { emit_copies(w, n, g, n.inputs, false); };
  c.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) { emit_copies_cuda(e, n, g, n.inputs, false); };
  c.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    std::vector<int> grads(n.inputs.size(), -1);
    if (dout[0] < 0) return grads;
    Node b;
    b.op = "concat_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0]};
    for (int in : n.inputs) b.inputs.push_back(in);  // for their shapes
    const int id = ad.add_backward(std::move(b), "d_" + cpp_name(n.layer));
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (ad.needs_grad(n.inputs[k])) grads[k] = ad.graph.nodes[id].outputs.at(k);
    return grads;
  };
  ops.push_back(std::move(c));

  OpDef b;
  b.name = "concat_backward";
  b.moves_values = true;
  b.infer = [](const Node& n, const Graph& g) {
    std::vector<OutputType> t;
    for (size_t k = 1; k < n.inputs.size(); ++k) {
      const Value& v = g.value(n.inputs[k]);
      t.push_back({v.dtype, v.shape, v.batched});
    }
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dout"}};
    for (size_t k = 1; k < n.inputs.size(); ++k) {
      s.outputs.push_back("d" + std::to_string(k - 1));
      s.inputs.push_back("in" + std::to_string(k - 1));
    }
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs.at(0)).shape));
    return Cost{0, e * 8};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    std::vector<int> pieces(n.inputs.begin() + 1, n.inputs.end());
    for (size_t k = 0; k < pieces.size(); ++k) w.line("(void)in" + std::to_string(k) + ";  // read for its shape only");
    emit_copies(w, n, g, pieces, true);
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    std::vector<int> pieces(n.inputs.begin() + 1, n.inputs.end());
    for (size_t k = 0; k < pieces.size(); ++k) e.body.line("(void)in" + std::to_string(k) + ";  // read for its shape only");
    emit_copies_cuda(e, n, g, pieces, true);
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "Concat";
  l.num_inputs = -1;
  l.args = {{"dim", ArgType::integer, Attr{std::int64_t{1}}}};
  l.build = [](LayerBuild& bld, const std::vector<int>& in) {
    Node n;
    n.op = "concat";
    n.layer = bld.layer;
    n.source = bld.source;
    const std::int64_t given = std::get<std::int64_t>(bld.args.at("dim"));
    const Shape& first = bld.graph.value(in.at(0)).shape;
    const auto rank = static_cast<std::int64_t>(first.size());
    const std::int64_t dim = given < 0 ? given + rank : given;
    if (dim < 1 || dim >= rank)  // said with the spec's dim (the op's check sees the normalised one)
      throw ShapeError("dim " + std::to_string(given) + " is not a dimension of " + shape_str(first) +
                       " other than the batch (dim 0)");
    n.attrs["dim"] = dim;
    n.inputs = in;
    const int id = add_op(bld.graph, std::move(n), cpp_name(bld.layer) + "_out");
    return bld.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
