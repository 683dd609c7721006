/// \file
/// ChannelShuffle(groups) as torch.nn.ChannelShuffle (ShuffleNet's): the channels of an (N, C, *)
/// input seen as (groups, C / groups) and transposed, so channel g * (C / groups) + k moves to
/// k * groups + g. Built from what it is: a view (N, groups, C / groups, *), a Transpose of those
/// two dimensions (a copy, contiguous as torch's native_channel_shuffle output) and a view back to
/// (N, C, *); the Transpose's backward moves the gradient back.
#include "ops.hpp"

namespace ltgen {

void register_channel_shuffle(std::vector<OpDef>&, std::vector<LayerDef>& layers) {
  LayerDef l;
  l.torch_type = "ChannelShuffle";
  ArgDef groups{"groups", ArgType::integer, std::nullopt};
  groups.min = 1;
  l.args = {groups};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() < 3)
      throw ShapeError("expects an (N, C, *) input with at least one dimension after the channels, got " +
                       shape_str(x.shape) + " (torch: \"channel_shuffle expects input to have at least 3 dimensions\")");
    if (x.dtype != DType::f32) throw ShapeError(std::string("needs a float32 input, not ") + dtype_name(x.dtype));
    const std::int64_t g = std::get<std::int64_t>(b.args.at("groups"));
    const Shape sample(x.shape.begin() + 1, x.shape.end());  // (x moves as nodes are added)
    if (sample[0] % g != 0)
      throw ShapeError("groups=" + std::to_string(g) + " does not divide the input's " + std::to_string(sample[0]) +
                       " channels (torch: \"Number of channels must be divisible by groups\")");
    if (g == 1) return in.at(0);
    std::vector<std::int64_t> split = {g, sample[0] / g};
    split.insert(split.end(), sample.begin() + 1, sample.end());
    const int grouped = add_view(b, in.at(0), split);
    Node t;
    t.op = "transpose";
    t.layer = b.layer;
    t.source = b.source;
    t.attrs["dim0"] = std::int64_t{1};
    t.attrs["dim1"] = std::int64_t{2};
    t.inputs = {grouped};
    const int id = add_op(b.graph, std::move(t), cpp_name(b.layer) + "_out");
    return add_view(b, b.graph.nodes[id].outputs[0], std::vector<std::int64_t>(sample.begin(), sample.end()));
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
