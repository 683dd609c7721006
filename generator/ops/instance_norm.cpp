/// \file
/// InstanceNorm1d and InstanceNorm2d, as torch.nn's (num_features, eps, momentum, affine,
/// track_running_stats): each sample's channel of an (N, C, L) or (N, C, H, W) input normalised
/// over its own positions with its own statistics, in training and evaluation alike (torch's
/// default, track_running_stats=False). That is GroupNorm with a group per channel, so the layer
/// builds a group_norm node (ops/group_norm.cpp); affine (torch's default False) adds its weight
/// (ones) and bias (zeros) per channel.
#include "ops.hpp"

namespace ltgen {

namespace {

LayerDef instance_norm(const std::string& type, std::size_t rank) {
  LayerDef l;
  l.torch_type = type;
  ArgDef features{"num_features", ArgType::integer, std::nullopt, true};
  features.min = 1;
  ArgDef eps{"eps", ArgType::number, Attr{1e-5}};
  eps.min = 0.0;
  ArgDef momentum{"momentum", ArgType::number, Attr{0.1}};  // of running statistics, which it keeps none of
  momentum.min = 0.0;
  ArgDef track{"track_running_stats", ArgType::boolean, Attr{false}};
  track.unsupported = type + "'s track_running_stats (running statistics used in evaluation)";
  l.args = {features, eps, momentum, {"affine", ArgType::boolean, Attr{false}}, track};
  l.build = [type, rank](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() != rank)
      throw ShapeError("expects an (N, C, " + std::string(rank == 3 ? "L" : "H, W") + ") input, got " +
                       shape_str(x.shape) + (rank == 3 ? "; use InstanceNorm2d for images" : ""));
    const std::int64_t c = x.shape[1];
    auto given = b.args.find("num_features");
    if (given != b.args.end() && std::get<std::int64_t>(given->second) != c)
      throw ShapeError("num_features " + std::to_string(std::get<std::int64_t>(given->second)) +
                       " does not match the input " + shape_str(x.shape) + ", which has " + std::to_string(c) +
                       " channels in dim 1; remove num_features to infer it");
    const bool affine = std::get<bool>(b.args.at("affine"));
    Node n;
    n.op = "group_norm";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["num_groups"] = c;  // a group per channel
    n.attrs["num_channels"] = c;
    n.attrs["num_features"] = c;  // inferred: --emit lightning writes it
    n.attrs["eps"] = b.args.at("eps");
    n.attrs["affine"] = affine;
    n.inputs = {in.at(0)};
    if (affine) {  // torch's _NormBase.reset_parameters: weight ones, bias zeros
      n.inputs.push_back(add_param(b.graph, b.layer + ".weight", Shape{c}));
      b.graph.value(n.inputs.back()).init = Init::ones;
      n.inputs.push_back(add_param(b.graph, b.layer + ".bias", Shape{c}));
      b.graph.value(n.inputs.back()).init = Init::zeros;
    }
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  return l;
}

}  // namespace

void register_instance_norm(std::vector<LayerDef>& layers) {
  layers.push_back(instance_norm("InstanceNorm1d", 3));
  layers.push_back(instance_norm("InstanceNorm2d", 4));
}

}  // namespace ltgen
