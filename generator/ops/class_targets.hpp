/// \file
/// Losses over int64 class targets (CrossEntropyLoss, NLLLoss): logits or log-probabilities
/// (batch, [T,] C) against labels (batch, [T]), a row per label, rows whose label is
/// ignore_index left out of the loss and of the mean's count.
#pragma once

#include <string>

#include "../op.hpp"

namespace ltgen {

/// Labels per sample: 1, or T for a sequence of labels (batch, T).
std::int64_t label_positions(const Value& target);
/// The CPU's loop bound over label rows: "n", or "n * kPositions" (kPositions declared by the caller).
std::string label_rows(const Value& target);
/// Checks that x is (batch, [T,] classes) and target int64 (batch, [T]); throws ShapeError with the fix.
void check_class_shapes(const Value& x, const Value& target, std::int64_t classes);

/// The layer build of such a loss: node `op` on (prediction, target) with the layer's arguments,
/// num_classes from the prediction's last dimension and the class weights checked; `what` names the
/// prediction in the error for a rank below 2 ("logits", "log-probabilities"). Returns the loss value.
int build_class_loss(LayerBuild& b, const std::vector<int>& in, const std::string& op, const std::string& what);

/// The loss's class weights (torch's `weight`, one per class): an optional argument, whether the
/// node has them, and setting them on the node after checking there is one per class.
ArgDef class_weight_arg();
bool class_weighted(const Node& n);
void set_class_weight(Node& n, const Attrs& args, std::int64_t classes);
/// `kWeight[kClasses]` (and `kWeightSum`, `with_sum`) when the node is weighted (kClasses in scope),
/// else nothing.
void write_class_weights(CodeWriter& w, const Node& n, bool with_sum);
/// `constexpr float kWeightSum = ...;` of a weighted node (what a CUDA kernel needs besides the array).
std::string weight_sum_line(const Node& n);
/// The weights in the GPU's global memory, at namespace scope: `__device__ const float <name>[C]`.
void write_device_class_weights(CodeWriter& k, const Node& n, const std::string& name);
/// The slot of what the mean divides by, which the backward reads: "kept" (the count of rows whose
/// target is not ignored, int64; not "count", the CUDA element kernels' own parameter) or, weighted,
/// "total_weight" (the sum of their targets' weights, float: torch's).
std::string total_slot(const Node& n);

/// A one-block CUDA kernel `<kernel>(float* out, <total>, <params>, int rows)` that sums `term` (an
/// expression of row i, whose label is not ignored; `what` names it in the comment) over the rows in
/// double, in a fixed order (no float atomics: the same loss every run), with the rows' count
/// (`row_weight` empty: `std::int64_t* count`) or the sum of `row_weight` (`float* total_weight`),
/// and writes the loss: the sum, or the mean over the count or total weight (`mean`; NaN when every
/// label is ignored, as torch).
void write_label_sum_kernel(CodeWriter& k, const std::string& kernel, const std::vector<std::string>& params,
                            const std::string& what, const std::string& term, const std::string& row_weight,
                            std::int64_t ignore_index, bool mean);

}  // namespace ltgen
