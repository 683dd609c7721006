/// \file
/// Flatten, Unflatten and their gradients are views: a new shape over the same storage,
/// so they emit no code; the memory plan gives the view its input's buffer.
#include "../autodiff.hpp"
#include "ops.hpp"

namespace ltgen {

void register_flatten(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef v;
  v.name = "view";
  v.view = true;
  v.moves_values = true;
  v.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    Shape s = {x.shape.at(0)};
    for (auto d : attr_ints(n, "shape")) s.push_back(d);
    if (numel(s) != numel(x.shape))
      throw ShapeError("cannot view " + shape_str(x.shape) + " as " + shape_str(s));
    return std::vector<OutputType>{{x.dtype, s, x.batched}};
  };
  v.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  v.cost = [](const Node&, const Graph&) { return Cost{}; };
  v.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    const Value& xv = ad.graph.value(x);
    Node b;
    b.op = "view";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs["shape"] = std::vector<std::int64_t>(xv.shape.begin() + 1, xv.shape.end());
    b.inputs = {dout[0]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(v));

  LayerDef l;
  l.torch_type = "Flatten";
  l.args = {{"start_dim", ArgType::integer, Attr{std::int64_t{1}}},
            {"end_dim", ArgType::integer, Attr{std::int64_t{-1}}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const auto rank = static_cast<std::int64_t>(x.shape.size());
    std::int64_t start = std::get<std::int64_t>(b.args.at("start_dim"));
    std::int64_t end = std::get<std::int64_t>(b.args.at("end_dim"));
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    if (start < 0 || start >= rank || end < 0 || end >= rank || start > end)
      throw ShapeError("start_dim and end_dim must name dimensions of the input " +
                       shape_str(x.shape) + " (dimension 0 is the batch) with start_dim <= end_dim");
    if (start == 0) throw ShapeError("flattening the batch dimension (start_dim=0) is not supported");
    if (start == end) return in.at(0);  // nothing to flatten
    std::vector<std::int64_t> shape;
    std::int64_t merged = 1;
    for (std::int64_t d = 1; d < rank; ++d) {
      if (d < start || d > end) shape.push_back(x.shape[d]);
      else {
        merged *= x.shape[d];
        if (d == end) shape.push_back(merged);
      }
    }
    return add_view(b, in.at(0), shape);
  };
  layers.push_back(std::move(l));

  // Unflatten(dim, unflattened_size): Flatten's inverse, dimension `dim` (not the batch's) as the
  // sizes given (one of them may be -1, inferred), a view too.
  LayerDef u;
  u.torch_type = "Unflatten";
  ArgDef sizes{"unflattened_size", ArgType::integer_tuple, std::nullopt};
  sizes.min = -1;
  u.args = {{"dim", ArgType::integer, std::nullopt}, sizes};
  u.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const auto rank = static_cast<std::int64_t>(x.shape.size());
    std::int64_t dim = std::get<std::int64_t>(b.args.at("dim"));
    if (dim < 0) dim += rank;
    if (dim < 0 || dim >= rank)
      throw ShapeError("dim must name a dimension of the input " + shape_str(x.shape) + " (dimension 0 is the batch)");
    if (dim == 0) throw ShapeError("unflattening the batch dimension (dim=0) is not supported");
    const Attr& given = b.args.at("unflattened_size");
    if (!std::holds_alternative<std::vector<std::int64_t>>(given))
      throw ShapeError("unflattened_size must be a list of sizes (torch takes a tuple), e.g. [2, 5]");
    std::vector<std::int64_t> sizes = std::get<std::vector<std::int64_t>>(given);
    std::int64_t known = 1, inferred = -1;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] == 0) throw ShapeError("unflattened_size entries must be positive or -1");
      if (sizes[i] == -1) {
        if (inferred >= 0) throw ShapeError("only one unflattened_size entry can be -1");
        inferred = static_cast<std::int64_t>(i);
      } else {
        known *= sizes[i];
      }
    }
    if (inferred >= 0 && known > 0 && x.shape[dim] % known == 0) sizes[inferred] = x.shape[dim] / known;
    if ((inferred >= 0 && sizes[inferred] == -1) || numel(Shape(sizes)) != x.shape[dim])
      throw ShapeError("unflattened_size " + attr_repr(given) + " must multiply to the size " +
                       std::to_string(x.shape[dim]) + " of dim " + std::to_string(dim) + " of the input " +
                       shape_str(x.shape));
    std::vector<std::int64_t> shape;
    for (std::int64_t d = 1; d < rank; ++d) {
      if (d != dim) shape.push_back(x.shape[d]);
      else shape.insert(shape.end(), sizes.begin(), sizes.end());
    }
    return add_view(b, in.at(0), shape);
  };
  layers.push_back(std::move(u));
}

}  // namespace ltgen
