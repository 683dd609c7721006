/// \file
/// Shared shapes of CUDA lowerings: an elementwise kernel over the live elements of a
/// batch (one thread an element), a row kernel (a warp or a block a row, with tree
/// reductions over the row), and a launch that checks what it enqueued.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "op.hpp"

namespace ltgen {

/// One kernel parameter: its declaration in the kernel and the host expression passed for it.
struct KernelParam {
  std::string decl;  // "float* out"
  std::string arg;   // "out"
};

/// How a lowering writes its output `value`: as float32, or, where cuda_storage16 marks it (mixed
/// precision's values that only 16-bit GEMMs read), as 16-bit bits in the first half of its slot.
struct OutputStore {
  bool bits = false;
  std::string type() const { return bits ? "std::uint16_t" : "float"; }
  /// The kernel parameter of the output, named `name`.
  std::string param(const std::string& name) const { return type() + "* __restrict__ " + name; }
  /// What the kernel stores for the float `value` (a 16-bit value when bits).
  std::string store(const std::string& value) const;
};
/// The store of `value`, named `name` in the node's host function; when it is bits, a comment there says so.
OutputStore output_store(CudaEmit& e, int value, const std::string& name);

/// Writes `__global__ void <kernel>(params..., int count)` whose thread i < count runs `body`
/// (lines; `i` is the element), and its launch from the host body over `count` elements
/// (a host expression, e.g. "n * kNumel"). `constants` writes lines at the top of the kernel.
void emit_elementwise_kernel(CudaEmit& e, const std::string& kernel, const std::vector<KernelParam>& params,
                             const std::string& count, const std::vector<std::string>& body,
                             const std::function<void(CodeWriter&)>& constants = {});

/// The launch of `kernel` with `blocks` x `threads` (and `shared_bytes` of dynamic shared memory) on
/// ctx.stream, then the launch check.
void emit_launch(CodeWriter& w, const std::string& kernel, const std::string& blocks, const std::string& threads,
                 const std::vector<std::string>& args, const std::string& shared_bytes = "0");

/// `const int count = <count>;` (a host expression), then the launch of a kernel opened by
/// open_element_kernel over count elements with `args` and count.
void emit_count_launch(CodeWriter& w, const std::string& kernel, const std::string& count,
                       std::vector<std::string> args);

/// Opens `__global__ void <name>(<params>, int count)` and writes `constants` and `i`, the
/// thread's element (returning when i >= count); the caller writes the body and closes the block,
/// and the blank line and comment above it.
void open_element_kernel(CodeWriter& k, const std::string& name, const std::vector<std::string>& params,
                         const std::function<void(CodeWriter&)>& constants);

/// How a row kernel shares each row of `len` elements among threads, chosen at generation time
/// from the row length: a warp a row (kWarpRows rows a block) for rows of up to kWarpRowMax
/// elements, else a block of kRowBlockThreads a row. Either way thread t of a row reads elements
/// t, t + kRowThreads, ...: adjacent threads read adjacent floats of a contiguous row.
struct RowSplit {
  static constexpr std::int64_t kWarpRowMax = 1024;  // 32 elements a lane
  std::int64_t len = 0;
  bool block = false;  // a block a row; else a warp a row
};
RowSplit split_rows(std::int64_t len);

/// Writes the top of a row kernel's body: a TUNE comment naming the choice, `kRowThreads` (the
/// stride of the row's loops), `<row>` (this warp's or block's row; a warp returns as a whole
/// when it is past `rows`, an int parameter), `t` (the thread's first element) and, for a block
/// whose kernel `reduces`, the `__shared__ float partial[32]` its reductions use.
void open_row(CodeWriter& k, const RowSplit& s, const std::string& row, const std::string& rows, bool reduces = true);

/// The expression of a thread's float `var` combined over the threads of its row: the sum, or
/// the max. Every thread of the row gets the same value.
std::string row_sum(const RowSplit& s, const std::string& var);
std::string row_max(const RowSplit& s, const std::string& var);

/// One sum of a column-sum kernel: out[k] = (accumulate ? out[k] : 0) + the sum over rows r of
/// `term`, an expression of `at` (r * columns + k, the element) and `r`.
struct ColumnSum {
  std::string out;
  std::string term;
};

/// Writes `__global__ void <kernel>(<params>, float* partials, int rows, int rows_per_split, bool
/// accumulate)` for the sums over rows of a row-major [rows, columns] layout (`columns` names a
/// constant that `constants` declares), and `<kernel>_splits`. A block takes 32 adjacent columns
/// of one split of the rows and 32 lanes of rows: thread (x, y) sums column x of the split's rows
/// y, y + 32, ... (a warp reads 32 adjacent floats), then the block adds its 32 partial sums per
/// column in a tree in shared memory. With one split that is the sum; with more, each split's
/// sums go to `partials` and <kernel>_splits adds them in split order. Deterministic (no
/// atomics), in a fixed order for a given number of rows.
void emit_column_sum_kernel(CodeWriter& k, const std::string& kernel, const std::vector<std::string>& params,
                            const std::string& columns, const std::vector<ColumnSum>& sums,
                            const std::function<void(CodeWriter&)>& constants);

/// The launches of a column-sum kernel over `columns` columns and `rows` rows (host expressions):
/// `args` are its own parameters' (before partials), `outs` its sums' outputs in the order of its
/// ColumnSums. The splits come from ltrt::cuda::column_sum_splits; their partial sums live in
/// ctx.workspace, which nothing else uses between the two launches (one stream).
void emit_column_sum_launch(CodeWriter& w, const std::string& kernel, const std::string& columns,
                            const std::vector<std::string>& args, const std::string& rows,
                            const std::vector<std::string>& outs);

/// The statistics of a normalising row kernel (LayerNorm's, GroupNorm's), after open_row: row `r`
/// of kDim floats of `inp` (kDim and kEps in scope); two passes (the mean, then the biased
/// variance), every thread left with `x`, `m` and `s` = 1 / sqrt(var + eps), thread 0 storing
/// mean[r] and rstd[r].
void write_row_moments(CodeWriter& k, const RowSplit& split);

/// The input gradient of such a row, after open_row: dinp = s * (g - mean(g) - xhat * mean(g * xhat))
/// with g = dy * `weight` (the expression of element k's weight, or "" for none), the two means
/// tree sums over the row.
void write_row_norm_backward(CodeWriter& k, const RowSplit& split, const std::string& weight);

/// Folds each thread's `vars` into their sums over the block, in place, through the kernel's
/// `__shared__ <type> partial[vars.size()][kReduceThreads]` (a tree: blockDim.x is a power of
/// two); every thread gets the sums. Deterministic: a fixed order for a given block size.
void write_block_sums(CodeWriter& k, const std::vector<std::string>& vars);

/// Folds each thread's `double sum` into partial[0], the block's sum, through the kernel's
/// `__shared__ double partial[kReduceThreads]` (a tree: blockDim.x is a power of two): the
/// one-block reduction of the losses, deterministic for a given block size.
void write_block_double_sum(CodeWriter& k);
/// A loss's one-block sum kernel, `__global__ void <name>(<params>)`: `constants`, then each thread
/// adds its strided share of the terms to `double sum` (`loop` opens that loop, `body` writes its
/// lines), write_block_double_sum folds the threads' sums, and `result` is thread 0's line that
/// writes the loss. Deterministic for a given block size (kReduceThreads); the caller launches it.
void write_block_sum_kernel(CodeWriter& k, const std::string& name, const std::string& params,
                            const std::function<void(CodeWriter&)>& constants, const std::string& loop,
                            const std::function<void(CodeWriter&)>& body, const std::string& result);

/// The launch of a row kernel over `rows` rows (a host expression), then the launch check.
void emit_row_launch(CodeWriter& w, const std::string& kernel, const RowSplit& s, const std::string& rows,
                     const std::vector<std::string>& args);

}  // namespace ltgen
