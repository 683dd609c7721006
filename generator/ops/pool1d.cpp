/// \file
/// MaxPool1d, AvgPool1d, AdaptiveAvgPool1d and AdaptiveMaxPool1d on (batch, C, L): the 2-d poolings over a view
/// (batch, C, 1, L) with windows of height 1, then a view back to (batch, C, L'). Views copy
/// nothing, so the 1-d layers run the 2-d ops' kernels (CPU and CUDA) and backward as they are.
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

// The 2-d node `op` over the view of `in` with attributes `attrs`, viewed back as (batch, C, L').
int pool_as_2d(LayerBuild& b, int in, const std::string& op, Attrs attrs) {
  require_spatial_input(b.graph.value(in), 1);
  const Shape x = b.graph.value(in).shape;
  const int plane = add_view(b, in, {x[1], 1, x[2]});
  Node n;
  n.op = op;
  n.layer = b.layer;
  n.source = b.source;
  n.attrs = std::move(attrs);
  n.inputs = {plane};
  const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
  const Shape y = b.graph.value(b.graph.nodes[id].outputs[0]).shape;
  return add_view(b, b.graph.nodes[id].outputs[0], {y[1], y[3]});
}

// A 1-d window argument (an int or [int], torch's _single) as the 2-d one: {first, v}.
std::vector<std::int64_t> as_2d(const Attr& a, std::int64_t first) { return {first, expand_tuple(a, 1)[0]}; }

// kernel_size, stride (default: the kernel) and padding of a 1-d pooling layer, as 2-d attributes.
Attrs window_attrs(const Attrs& args) {
  Attrs a;
  a["kernel_size"] = as_2d(args.at("kernel_size"), 1);
  a["stride"] = as_2d(args.count("stride") ? args.at("stride") : args.at("kernel_size"), 1);
  a["padding"] = as_2d(args.at("padding"), 0);
  if (std::get<bool>(args.at("ceil_mode"))) a["ceil_mode"] = true;
  const std::int64_t k = std::get<std::vector<std::int64_t>>(a["kernel_size"])[1];
  const std::int64_t p = std::get<std::vector<std::int64_t>>(a["padding"])[1];
  if (p > k / 2)
    throw ShapeError("padding " + std::to_string(p) + " must be at most half the kernel " + std::to_string(k) +
                     " (as torch)");
  return a;
}

// None (or left out): the kernel size. The script passes None on, as the 2-d node's stride is a pair.
ArgDef stride_arg() {
  ArgDef stride = tuple_arg("stride", std::nullopt, 1, 1);
  stride.optional = true;
  stride.nullable = true;
  return stride;
}

ArgDef unsupported_flag(const std::string& name) {
  ArgDef a{name, ArgType::boolean, Attr{false}};
  a.unsupported = name + "=True";
  return a;
}

}  // namespace

void register_pool1d(std::vector<OpDef>&, std::vector<LayerDef>& layers) {
  LayerDef max;
  max.torch_type = "MaxPool1d";
  max.args = {tuple_arg("kernel_size", std::nullopt, 1, 1), stride_arg(),
              tuple_arg("padding", Attr{std::int64_t{0}}, 0, 1), tuple_arg("dilation", Attr{std::int64_t{1}}, 1, 1),
              unsupported_flag("return_indices"), {"ceil_mode", ArgType::boolean, Attr{false}}};
  max.build = [](LayerBuild& b, const std::vector<int>& in) {
    Attrs a = window_attrs(b.args);
    a["dilation"] = as_2d(b.args.at("dilation"), 1);
    return pool_as_2d(b, in.at(0), "max_pool2d", std::move(a));
  };
  layers.push_back(std::move(max));

  LayerDef avg;
  avg.torch_type = "AvgPool1d";
  avg.args = {tuple_arg("kernel_size", std::nullopt, 1, 1), stride_arg(),
              tuple_arg("padding", Attr{std::int64_t{0}}, 0, 1), {"ceil_mode", ArgType::boolean, Attr{false}},
              {"count_include_pad", ArgType::boolean, Attr{true}}};
  avg.build = [](LayerBuild& b, const std::vector<int>& in) {
    Attrs a = window_attrs(b.args);
    a["count_include_pad"] = b.args.at("count_include_pad");
    return pool_as_2d(b, in.at(0), "avg_pool2d", std::move(a));
  };
  layers.push_back(std::move(avg));

  LayerDef adaptive;
  adaptive.torch_type = "AdaptiveAvgPool1d";
  adaptive.args = {tuple_arg("output_size", std::nullopt, 1, 1)};
  adaptive.build = [](LayerBuild& b, const std::vector<int>& in) {
    Attrs a;
    a["output_size"] = as_2d(b.args.at("output_size"), 1);
    return pool_as_2d(b, in.at(0), "adaptive_avg_pool2d", std::move(a));
  };
  layers.push_back(std::move(adaptive));

  LayerDef adaptive_max;
  adaptive_max.torch_type = "AdaptiveMaxPool1d";
  adaptive_max.args = {tuple_arg("output_size", std::nullopt, 1, 1), unsupported_flag("return_indices")};
  adaptive_max.build = [](LayerBuild& b, const std::vector<int>& in) {
    Attrs a;
    a["output_size"] = as_2d(b.args.at("output_size"), 1);
    return pool_as_2d(b, in.at(0), "adaptive_max_pool2d", std::move(a));
  };
  layers.push_back(std::move(adaptive_max));
}

}  // namespace ltgen
