/// \file
/// What Conv1d/Conv2d (conv.cpp) share with ConvTranspose1d/2d (conv_transpose.cpp): a transposed
/// convolution is the gradient of a convolution with respect to its input, so each of its three
/// products (output, input gradient, weight gradient) is one of the convolution's, with the roles of
/// the tensors swapped. The pieces below write those products for a convolution's geometry and
/// take the names of the tensors they read and write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../autodiff.hpp"
#include "../code_writer.hpp"
#include "../ir.hpp"
#include "../op.hpp"

namespace ltgen {

/// Sizes of one convolution, Conv1d as height 1; the depth's are Conv3d's only (1, or 0 for the
/// padding, below three dimensions, where the generated code has no depth at all).
struct ConvGeometry {
  int dims;  // 1 (Conv1d), 2 (Conv2d) or 3 (Conv3d)
  std::int64_t in, h, w, out, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h,
      dilation_w, groups;
  std::int64_t d = 1, out_d = 1, kernel_d = 1, stride_d = 1, pad_d = 0, dilation_d = 1;
  bool deep() const { return dims == 3; }
  std::int64_t in_per_group() const { return in / groups; }
  std::int64_t out_per_group() const { return out / groups; }
  std::int64_t taps() const { return kernel_d * kernel_h * kernel_w; }
  std::int64_t patch() const { return in_per_group() * taps(); }  // weights per output channel
  std::int64_t pixels() const { return out_d * out_h * out_w; }    // outputs per channel
  std::int64_t macs_per_sample() const { return out * patch() * pixels(); }
};

/// The geometry of a convolution node (attributes dims, in_channels, out_channels, kernel_size,
/// stride, padding, padding_end, dilation, groups) on input `x`; throws ShapeError when they do not fit.
ConvGeometry conv_geometry(const Node& n, const Value& x);
/// (out, in / groups, kh, kw) as torch; Conv1d's (out, in / groups, k), Conv3d's (out, in / groups, kd, kh, kw).
Shape conv_weight_shape(const ConvGeometry& g);
/// im2col's scratch of one sample: a row per (channel, tap), a column per output pixel.
Shape conv_columns_shape(const ConvGeometry& g);
/// Whether a convolution's CPU code splits its samples among the step's threads: where one
/// sample's GEMM is too small for ltrt::sgemm_ld to split well and a slot per sample stays small. Its
/// im2col scratch then holds a slot per sample (a part uses its first sample's): (batch, rows,
/// pixels), batched.
bool conv_split_samples(const ConvGeometry& g, std::int64_t batch);
/// The im2col scratch's type on a batch of `batch`: one sample's, or a slot per sample when
/// `split` (the forward's, or a backward's that computes the input's gradient).
OutputType conv_columns_type(const ConvGeometry& g, std::int64_t batch, bool split);
/// Columns of the weight gradient's GEMM: a weight per (c, ky, kx), then the bias's when `bias`.
std::int64_t conv_dweight_cols(const ConvGeometry& g, bool bias);
/// CUDA: the chunks the weight gradient's sum over a batch of `batch` samples is cut into.
std::int64_t conv_dweight_splits(const ConvGeometry& g, std::int64_t batch, bool bias);
/// The input's channels (Conv's and ConvTranspose's in_channels, checked against the spec's when it
/// gives one); throws ShapeError unless groups divides them and out_channels.
std::int64_t check_conv_channels(const Attrs& args, const Value& x);
/// A scratch buffer (im2col's of one sample, dweight's partial sums): an activation that only its
/// node uses, so the memory plan frees it after that node.
int add_scratch(Graph& gr, const std::string& name, const Shape& shape, bool batched = false);

/// The backward node of convolution-like node `n` (inputs x, weight[, bias], geometry `g`): op
/// `backward_op` reads (dout, x[, weight]) and writes dinp (when x needs a gradient), dweight,
/// dbias, the im2col scratch and, when CUDA splits the weight gradient's sum, its partial sums
/// (with a bias column when `bias_column`). Returns the forward inputs' gradients.
std::vector<int> add_conv_backward(Autodiff& ad, const Node& n, const std::vector<int>& dout,
                                   const std::string& backward_op, const ConvGeometry& g, bool bias_column);
/// That node's outputs (dbias of `bias_channels`) and slots.
std::vector<OutputType> conv_backward_outputs(const Node& n, const Value& x, const ConvGeometry& g,
                                              std::int64_t bias_channels, bool bias_column);
Slots conv_backward_slots(const Node& n);

// The CPU's code, inside a function whose `columns` (or the name passed) is the im2col scratch.
/// The sizes as constexprs (kIn, [kD,] kH, kW, kOut, [kOutD,] kOutH, kOutW, kernel, stride, padding,
/// dilation, groups, kPatch, kPixels).
void write_conv_sizes(CodeWriter& w, const ConvGeometry& g);
/// "kIn * kH * kW" (Conv3d's "kIn * kD * kH * kW"): the floats of one sample's input.
std::string conv_input_size(const ConvGeometry& g);
/// columns[(c, [kz,] ky, kx), ([oz,] oy, ox)] = x[c, [iz,] oy * stride - pad + ky * dilation, ...] of one
/// sample `x`, 0 outside.
void write_im2col(CodeWriter& w, const ConvGeometry& g, const std::string& x, const std::string& columns = "columns");
/// The inverse scatter: adds each columns entry to the pixel of one sample's `dx` it came from.
void write_col2im(CodeWriter& w, const ConvGeometry& g, const std::string& dx, const std::string& columns = "columns");

// CUDA: implicit GEMMs over the whole batch (ltrt/cuda/tiled_gemm.cuh), as structs named `type`.
/// result[s, o, p] = (bias[o] +) weight[o, :] @ patches of `source` (the convolution), then
/// `epilogue`'s fused activations unless it is null.
void write_conv_forward_gemm(CodeWriter& k, const std::string& type, const ConvGeometry& g, const Node* epilogue,
                             const std::string& result, const std::string& source, bool bias);
/// result[s, c, y, x] = sum of weight[o, c, tap] * source[s, o, outputs whose tap reads (y, x)]
/// (the input gradient), plus `bias`[c] unless it is empty, then `epilogue`'s fused activations
/// unless it is null.
void write_conv_dinp_gemm(CodeWriter& k, const std::string& type, const ConvGeometry& g, const std::string& result,
                          const std::string& source, const std::string& bias, const Node* epilogue);
/// dweight[o, (c, tap)] (and dbias[o] when `bias`) (+)= sum over the batch of grad[s, o, p] *
/// patches of `source`; in `splits` chunks summed in order by `sum_kernel` when splits > 1.
void write_conv_dweight_gemm(CodeWriter& k, const std::string& type, const std::string& sum_kernel,
                             const ConvGeometry& g, std::int64_t splits, bool bias, const std::string& grad,
                             const std::string& source);
/// `const type var{fields};` and the launch of tiled_gemm over it.
void write_conv_gemm_launch(CodeWriter& w, const std::string& type, const std::string& var, const std::string& fields);

}  // namespace ltgen
