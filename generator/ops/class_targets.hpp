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

/// A one-block CUDA kernel `<kernel>(float* out, std::int64_t* count, <params>, int rows)` that sums
/// `term` (an expression of row i, whose label is not ignored; `what` names it in the comment) over
/// the rows in double, in a fixed order (no float atomics: the same loss every run), counts those
/// rows into count[0] and writes the loss: the sum, or the mean over the counted rows (`mean`; NaN
/// when every label is ignored, as torch).
void write_label_sum_kernel(CodeWriter& k, const std::string& kernel, const std::vector<std::string>& params,
                            const std::string& what, const std::string& term, std::int64_t ignore_index, bool mean);

}  // namespace ltgen
