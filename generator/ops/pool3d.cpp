/// \file
/// MaxPool3d and AdaptiveMaxPool3d on (batch, C, D, H, W), as two of the 2-d poolings: a maximum
/// over a box is the maximum over its depth of the maxima over its rows and columns, and each
/// dimension's windows (their count, padding, ceil_mode, adaptive bounds) are torch's for that
/// dimension alone. So the first node pools every (C, D) plane over (H, W), on the view (batch, C * D,
/// H, W); the second pools that over the depth, on the view (batch, C, D, H' * W') with windows one
/// column wide; a last view gives (batch, C, D', H', W'). Both scan their windows in order and keep
/// the first maximum, so the element chosen is torch's, the first in (d, h, w) order, and the
/// gradient goes where torch's goes. Where windows overlap in depth and also in height or width,
/// an input's gradient adds the same terms as torch's in another order (a rounding apart). Under
/// bf16-mixed both nodes are float32 ops, as torch's CPU autocast runs max_pool3d and
/// adaptive_max_pool3d (autocast.cpp tells them by their layer).
#include "ops.hpp"
#include "spatial.hpp"

namespace ltgen {

namespace {

// The 2-d node `op` with attributes `attrs` over `in`, which is already the view it pools.
int add_pool(LayerBuild& b, int in, const std::string& op, const std::string& suffix, Attrs attrs) {
  Node n;
  n.op = op;
  n.layer = b.layer;
  n.source = b.source;
  n.attrs = std::move(attrs);
  n.inputs = {in};
  const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + suffix);
  return b.graph.nodes[id].outputs[0];
}

// Pools (batch, C, D, H, W) with `rows_columns` over (H, W), then with `depth` over D (both 2-d
// attributes: the depth's second entries are a window of one column); returns (batch, C, D', H', W').
int pool_separably(LayerBuild& b, int in, const std::string& op, Attrs rows_columns, Attrs depth) {
  require_spatial_input(b.graph.value(in), 3);
  const Shape x = b.graph.value(in).shape;
  const int planes = add_view(b, in, {x[1] * x[2], x[3], x[4]});
  const int pooled = add_pool(b, planes, op, "_rows_columns", std::move(rows_columns));
  const Shape p = b.graph.value(pooled).shape;  // (batch, C * D, H', W')
  const int slices = add_view(b, pooled, {x[1], x[2], p[2] * p[3]});
  const int out = add_pool(b, slices, op, "_depth", std::move(depth));
  return add_view(b, out, {x[1], b.graph.value(out).shape[2], p[2], p[3]});
}

}  // namespace

void register_pool3d(std::vector<OpDef>&, std::vector<LayerDef>& layers) {
  LayerDef max;
  max.torch_type = "MaxPool3d";
  ArgDef stride = tuple_arg("stride", std::nullopt, 1, 3);
  stride.optional = true;  // None (or left out): the kernel size, as the script passes it on
  stride.nullable = true;
  ArgDef return_indices{"return_indices", ArgType::boolean, Attr{false}};
  return_indices.unsupported = "return_indices=True";
  max.args = {tuple_arg("kernel_size", std::nullopt, 1, 3),
              stride,
              tuple_arg("padding", Attr{std::int64_t{0}}, 0, 3),
              tuple_arg("dilation", Attr{std::int64_t{1}}, 1, 3),
              return_indices,
              {"ceil_mode", ArgType::boolean, Attr{false}}};
  max.build = [](LayerBuild& b, const std::vector<int>& in) {
    require_spatial_input(b.graph.value(in.at(0)), 3);
    auto kernel = expand_tuple(b.args.at("kernel_size"), 3);
    auto stride = b.args.count("stride") ? expand_tuple(b.args.at("stride"), 3) : kernel;
    auto padding = expand_tuple(b.args.at("padding"), 3);
    auto dilation = expand_tuple(b.args.at("dilation"), 3);
    for (int i = 0; i < 3; ++i)
      if (padding[i] > kernel[i] / 2)
        throw ShapeError("padding " + attr_repr(b.args.at("padding")) + " must be at most half the kernel " +
                         attr_repr(b.args.at("kernel_size")) + " (as torch)");
    // The depth's windows checked here, where the error can name the depth (the second pass sees it as
    // the height of its view).
    window_count(b.graph.value(in.at(0)).shape.at(2), padding[0], padding[0], kernel[0], stride[0], dilation[0], "depth",
                 std::get<bool>(b.args.at("ceil_mode")));
    // Window attributes over (first, second) of those sizes.
    auto window = [&](std::size_t first, std::size_t second) {
      Attrs a;
      a["kernel_size"] = std::vector<std::int64_t>{kernel[first], kernel[second]};
      a["stride"] = std::vector<std::int64_t>{stride[first], stride[second]};
      a["padding"] = std::vector<std::int64_t>{padding[first], padding[second]};
      a["dilation"] = std::vector<std::int64_t>{dilation[first], dilation[second]};
      if (std::get<bool>(b.args.at("ceil_mode"))) a["ceil_mode"] = true;
      return a;
    };
    // The depth's pass pools (D, H' * W') with windows (kd, 1): entry 3 is a column's, size 1 without padding.
    kernel.push_back(1), stride.push_back(1), padding.push_back(0), dilation.push_back(1);
    return pool_separably(b, in.at(0), "max_pool2d", window(1, 2), window(0, 3));
  };
  layers.push_back(std::move(max));

  LayerDef adaptive;
  adaptive.torch_type = "AdaptiveMaxPool3d";
  ArgDef adaptive_indices{"return_indices", ArgType::boolean, Attr{false}};
  adaptive_indices.unsupported = "return_indices=True";
  adaptive.args = {tuple_arg("output_size", std::nullopt, 1, 3), adaptive_indices};
  adaptive.build = [](LayerBuild& b, const std::vector<int>& in) {
    require_spatial_input(b.graph.value(in.at(0)), 3);
    const auto size = expand_tuple(b.args.at("output_size"), 3);
    Attrs rows_columns, depth;
    rows_columns["output_size"] = std::vector<std::int64_t>{size[1], size[2]};
    // The depth's pass keeps each column: (H' * W') windows one column wide.
    depth["output_size"] = std::vector<std::int64_t>{size[0], size[1] * size[2]};
    return pool_separably(b, in.at(0), "adaptive_max_pool2d", std::move(rows_columns), std::move(depth));
  };
  layers.push_back(std::move(adaptive));
}

}  // namespace ltgen
