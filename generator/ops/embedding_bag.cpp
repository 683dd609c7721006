/// \file
/// EmbeddingBag (torch.nn) on bags of a fixed length, int64 indices (batch, B) (torch's 2-d input,
/// no offsets): each bag's embedding rows summed, or their mean. torch's embedding_bag is, for
/// these modes, an Embedding followed by a Sum or Mean over the bag's positions, so the layer is
/// built as those two nodes (embedding.cpp, reduce_dim.cpp) under the layer's own name: one
/// parameter `<layer>.weight` (num_embeddings, embedding_dim), initialised as torch's (normal, the
/// padding row zeroed). A padding_idx's positions look up zeros (whatever the row holds: torch leaves
/// them out of the bag) and give the row no gradient, so the sum leaves them out as torch's does; the
/// mean would count them, where torch leaves them out of the count too, so that mode with a
/// padding_idx is refused, as is mode 'max'.
#include "ops.hpp"

namespace ltgen {

void register_embedding_bag(std::vector<LayerDef>& layers) {
  LayerDef l;
  l.torch_type = "EmbeddingBag";
  ArgDef num{"num_embeddings", ArgType::integer, std::nullopt};
  num.min = 1;
  ArgDef dim{"embedding_dim", ArgType::integer, std::nullopt};
  dim.min = 1;
  ArgDef max_norm{"max_norm", ArgType::number, std::nullopt};
  max_norm.optional = true;
  max_norm.unsupported = "EmbeddingBag's max_norm (renormalising the rows it looks up)";
  ArgDef scale{"scale_grad_by_freq", ArgType::boolean, Attr{false}};
  scale.unsupported = "EmbeddingBag's scale_grad_by_freq";
  ArgDef mode{"mode", ArgType::string, Attr{std::string("mean")}};
  mode.choices = {"mean", "sum", "max"};
  ArgDef sparse{"sparse", ArgType::boolean, Attr{false}};
  sparse.unsupported = "EmbeddingBag's sparse gradients";
  ArgDef last_offset{"include_last_offset", ArgType::boolean, Attr{false}};
  last_offset.unsupported = "EmbeddingBag's include_last_offset (offsets: bags here are the rows of a 2-d input)";
  ArgDef padding{"padding_idx", ArgType::integer, std::nullopt};
  padding.optional = true;
  l.args = {num, dim, max_norm, {"norm_type", ArgType::number, Attr{2.0}}, scale, mode, sparse, last_offset, padding};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& idx = b.graph.value(in.at(0));
    if (idx.dtype != DType::i64 || idx.shape.size() != 2)
      throw ShapeError("takes bags of a fixed length, int64 indices (batch, B) (torch's 2-d input), got " +
                       std::string(dtype_name(idx.dtype)) + " " + shape_str(idx.shape) +
                       ": declare the model input as {\"shape\": [B], \"dtype\": \"int64\"}");
    const std::string& how = std::get<std::string>(b.args.at("mode"));
    if (how == "max") throw ShapeError("mode 'max' is not supported yet ('sum' and 'mean' are)");
    if (how == "mean" && b.args.count("padding_idx"))
      throw ShapeError("mode 'mean' with a padding_idx is not supported yet (torch leaves padding out of each bag's "
                       "count); mode 'sum' takes one");
    LayerBuild lookup = b;
    lookup.args = {{"num_embeddings", b.args.at("num_embeddings")},
                   {"embedding_dim", b.args.at("embedding_dim")},
                   {"scale_grad_by_freq", false}};
    if (auto p = b.args.find("padding_idx"); p != b.args.end()) lookup.args["padding_idx"] = p->second;
    const int rows = find_layer("Embedding")->build(lookup, in);
    // The padding positions look up zeros, whatever the row holds (a loaded one may hold numbers).
    if (b.args.count("padding_idx")) b.graph.nodes[b.graph.value(rows).producer].attrs["zero_padding"] = true;
    LayerBuild reduce = b;
    reduce.args = {{"dim", std::int64_t{1}}, {"keepdim", false}};  // over the bag's positions
    return find_layer(how == "mean" ? "Mean" : "Sum")->build(reduce, {rows});
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
