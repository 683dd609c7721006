/// \file
/// What the convolution and pooling ops share: torch's int-or-tuple arguments,
/// the (batch, C, H, W) input check and the output-size formula.
#pragma once

#include <string>
#include <vector>

#include "../op.hpp"

namespace ltgen {

/// An int-or-tuple argument of `size` entries (torch's `_pair`): `kernel_size`, `stride`, ...
ArgDef tuple_arg(const std::string& name, std::optional<Attr> default_value, double min, int size = 2);

/// The argument as `size` ints: 3 -> {3, 3}, [2, 3] -> {2, 3}.
std::vector<std::int64_t> expand_tuple(const Attr& a, int size = 2);

/// Throws unless `x` is (batch, C, H, W) (rank 4) or, for 1-d layers, (batch, C, L), for 3-d ones
/// (batch, C, D, H, W).
void require_spatial_input(const Value& x, int spatial_dims);

/// Output length of a sliding window: floor((in + pads - dilation * (k - 1) - 1) / stride) + 1,
/// with a clear error when the window does not fit the padded input. A pooling's ceil_mode rounds
/// up instead, as torch's pooling_output_shape, but drops a last window that would start past the
/// input and its leading padding.
std::int64_t window_count(std::int64_t in, std::int64_t pad_before, std::int64_t pad_after, std::int64_t kernel,
                          std::int64_t stride, std::int64_t dilation, const std::string& dim, bool ceil_mode = false);

/// "constexpr int kName = v;" with a trailing comment when one is given.
std::string constexpr_int(const std::string& name, std::int64_t v, const std::string& comment = "");

}  // namespace ltgen

namespace ltgen {

/// Sizes of a pooling op over (batch, C, H, W): each (sample, channel) plane is pooled alone.
struct PoolSizes {
  std::int64_t channels, h, w, out_h, out_w;
};

/// Pooling window arguments as node attributes: kernel_size, stride (default: the kernel),
/// padding (at most half the kernel, as torch) and, when `with_dilation`, dilation.
void set_window_attrs(Node& n, const Attrs& args, bool with_dilation);
/// The sizes of a pooling node with window attributes on input `x`; throws ShapeError.
PoolSizes window_pool_sizes(const Node& n, const Value& x);

/// The first lines of a pooling function: planes (unless `with_channels` is false: a CUDA kernel
/// over one element needs none), input and output sizes.
void write_pool_sizes(CodeWriter& w, const PoolSizes& s, bool with_channels = true);
/// kKernelH/W, kStrideH/W, kPadH/W (and kDilationH/W) from the node's window attributes.
void write_window_sizes(CodeWriter& w, const Node& n);

/// The upsampling ops (upsample.cpp, upsample_linear.cpp, upsample_cubic.cpp) over (batch, C, H, W):
/// the forward's sizes, to the node's out_size, and the backward's, from the input size it saved.
PoolSizes upsample_sizes(const Node& n, const Value& x);
PoolSizes upsample_backward_sizes(const Node& n, const Graph& g);
/// Such an op's forward `name` and backward `name`_backward, without emitters: infer, slots, a cost
/// of `flops` (`backward_flops`) per output element, the backward rule (pool_backward) and
/// `header` of the runtime included on both devices.
std::pair<OpDef, OpDef> upsample_op_pair(const std::string& name, const std::string& header,
                                         std::function<double(const Node&)> flops,
                                         std::function<double(const Node&)> backward_flops);

/// An interpolating Upsample's kRatioH/W (torch's area_pixel_compute_scale, from the node's
/// ratio_h and ratio_w) and kAlignCorners.
void write_interpolation_constants(CodeWriter& w, const Node& n);
/// A pooling backward's input shape: (batch, C, H, W) from the attrs the forward saved.
Shape pool_input_shape(const Node& n, std::int64_t batch);

/// The backward rule every pooling op shares: one `op` node reading dout (and `saved`, such
/// as MaxPool2d's argmax), with the forward's attributes plus the input size; returns the
/// input's gradient (-1 when none is needed).
std::vector<int> pool_backward(Autodiff& ad, const Node& n, const std::vector<int>& dout, const std::string& op,
                               std::vector<int> saved = {});

}  // namespace ltgen
