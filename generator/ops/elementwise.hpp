/// \file
/// Shared shape of unary elementwise ops (activations): one loop over the
/// batch's elements, a scalar expression, and a backward op that reads either
/// the op's input or its output.
#pragma once

#include <functional>
#include <string>

#include "../op.hpp"

namespace ltgen {

/// What the backward of a unary op reads besides the incoming gradient.
enum class Saved { input, output };

struct UnaryOp {
  std::string name;       // "relu"; its backward is "relu_backward"
  double flops_per_element;
  Saved saved;
  /// Forward: the value for element `x`.
  std::function<std::string(const Node&, const std::string& x)> forward;
  /// Backward: the input gradient from `dout` and the saved element `s`.
  std::function<std::string(const Node&, const std::string& dout, const std::string& s)> backward;
  /// Extra lines at the top of the forward and backward function bodies (constants).
  std::function<void(CodeWriter&, const Node&)> constants;
};

/// Registers `name` and `name_backward`.
void register_unary(std::vector<OpDef>& ops, const UnaryOp& op);

/// A torch.nn layer that adds one unary op node; `args` become the node's attrs.
LayerDef unary_layer(const std::string& torch_type, std::vector<ArgDef> args,
                     const std::string& op);

/// The fused epilogue of `n` applied to scalar expression `expr`.
std::string apply_epilogue(const Node& n, std::string expr);
/// Constants of the fused epilogue ops (written at the top of the producer's body).
void epilogue_constants(CodeWriter& w, const Node& n);

/// How a split loop's index runs: over rows (samples, channels; each iteration's inner loops are
/// its own), or along the vectorised dimension itself (elements, columns), whose part bounds must
/// fall on whole 16-float vectors (ltrt::parallel_for_aligned) for the results not to depend on them.
enum class SplitIndex { rows, elements };

/// Opens `for (int var = begin; var < end; ++var)` over [0, count) split into contiguous parts
/// among the step's threads (ltrt::parallel_for): the iterations must be independent, each
/// writing only its own elements (a sum across them stays a plain loop), so the results do not
/// depend on the number of parts. `work` is an iteration's elements, which sizes the fewest
/// iterations worth a part. close_split_loop closes both blocks.
void open_split_loop(CodeWriter& w, const std::string& var, const std::string& count, std::int64_t work,
                     SplitIndex index);
void close_split_loop(CodeWriter& w);
/// The same split without the loop: opens `ltrt::parallel_for(count, grain, [=](int begin, int end)`
/// for a body that writes its own loops over [begin, end) (a column range summed over every row in
/// order, say); close_split closes it.
void open_split(CodeWriter& w, const std::string& count, std::int64_t work, SplitIndex index);
void close_split(CodeWriter& w);

/// `constexpr int kName = v;`-style helper for per-sample sizes.
std::int64_t per_sample_numel(const Value& v);
/// Rows per sample of a layer on the last dimension (Linear, Bilinear): 1 for (batch, features),
/// T for (batch, T, features), the product of the dimensions between the batch and the last.
std::int64_t rows_per_sample(const Value& x);
/// Positions per channel and sample of an (N, C, *) value: the product of the dims after C (1 for
/// (N, C)); BatchNorm's and GroupNorm's kL.
std::int64_t positions_per_channel(const Value& x);
/// A sample of shape `s` (batch first) as (outer, size, inner) around dimension `dim` (>= 1): the
/// rows that Narrow, Select, Mean and Sum work along are `size`, `inner` elements apart.
struct AroundDim {
  std::int64_t outer = 1, size = 0, inner = 1;
};
AroundDim around_dim(const Shape& s, std::int64_t dim);
/// `constexpr int kNumel = ...;`: v's elements per sample when batched, else all of them (the
/// gradient of a weight's bf16 cast); element_count is a step's: "n * kNumel" or "kNumel".
std::string numel_constant(const Value& v);
std::string element_count(const Value& v);

}  // namespace ltgen
