// A tiled float32 GEMM whose operands need not be matrices in memory: sum[row, col] = sum over k
// of a(row, k) * b(k, col), for each group, where a generated `Gemm` description says how to read
// one element of A and of B and what to do with each sum. A convolution lowers to it as an
// implicit GEMM: its B reads the input with im2col's index arithmetic (zero in the padding), so
// the patches are never stored, and one launch covers the whole batch and every group.
//
// The skeleton is written once; generated code instantiates it with a Gemm that holds the layer's
// sizes as constants and its three index mappings:
//
//   struct Gemm {
//     static constexpr int kRows;      // rows of each group's result
//     static constexpr int kGemms;     // independent GEMMs (a convolution's groups, times the input
//                                      // gradient's stride phases)
//     static constexpr int kSplits;    // the depth cut into this many chunks, each summed by its own
//                                      // blocks and handed to store() separately (1: not split)
//     static constexpr int kTileRows;  // rows x columns of a block's tile: 16 x 256, 32 x 128 or
//     static constexpr int kTileCols;  // 64 x 64 (kGemmThreads threads of 4 x 4 results)
//     __host__ __device__ int cols() const;  // columns (they may depend on the size of the batch)
//     __device__ int depth(int group) const;   // and depth of a group's GEMM; 0: its result is 0
//     __device__ float a(int group, int row, int k) const;
//     __device__ float b(int group, int k, int col) const;
//     __device__ void store(int group, int split, int row, int col, float sum) const;
//   };
//
// Each thread adds its sums over the depth in one fixed order, so results are the same on every
// run (no atomics); the order differs from the CPU program's loops, so they agree to rounding.
// The products are added with fmaf, a fused multiply-add whatever --fmad says (generated programs
// build with --fmad=false so that elementwise arithmetic rounds as on the CPU).
#pragma once

#include <cuda_runtime.h>

namespace ltrt::cuda {

constexpr int kGemmThreads = 256;   // threads of a block
constexpr int kGemmPerThread = 4;   // each thread holds 4 x 4 sums in registers
constexpr int kGemmDepthTile = 16;  // TUNE: depth of the A and B tiles staged in shared memory per step

// The grid of a Gemm, one dimension: a block per (column tile, row tile, group x split), column
// tiles fastest. Grid y and z allow only 65535 blocks, fewer than a depthwise convolution's
// groups may need; x allows 2^31 - 1, more than a result of under 2^31 elements has tiles.
template <class Gemm>
unsigned tiled_gemm_grid(const Gemm& gemm) {
  const unsigned col_tiles = (gemm.cols() + Gemm::kTileCols - 1) / Gemm::kTileCols;
  constexpr unsigned kRowTiles = (Gemm::kRows + Gemm::kTileRows - 1) / Gemm::kTileRows;
  return col_tiles * kRowTiles * Gemm::kGemms * Gemm::kSplits;
}

// One block computes a kTileRows x kTileCols tile of one group's result over one split of the
// depth, kGemmThreads threads a block (launch with tiled_gemm_grid(gemm) and kGemmThreads).
template <class Gemm>
__global__ void __launch_bounds__(kGemmThreads) tiled_gemm(const Gemm gemm) {
  constexpr int kTileRows = Gemm::kTileRows, kTileCols = Gemm::kTileCols;
  constexpr int kThreadCols = kTileCols / kGemmPerThread;  // threads across a tile's columns
  constexpr int kThreadRows = kTileRows / kGemmPerThread;  // and down its rows
  static_assert(kThreadRows * kThreadCols == kGemmThreads, "a tile is kGemmThreads threads of 4 x 4 sums");
  static_assert(kGemmThreads % kTileCols == 0 && kGemmThreads % kGemmDepthTile == 0,
                "each thread stages the same column of B and the same depth of A at every step");
  // A's tile is stored depth-major, so that the 4 rows a thread needs at one depth are 4 adjacent
  // floats, read (like its 4 columns of B) as one 16-byte load. A row of kTileRows + 4 floats keeps
  // that alignment; a warp's stores of 16 depths x 2 rows then meet 2 to a bank.
  alignas(16) __shared__ float a_tile[kGemmDepthTile][kTileRows + 4];
  alignas(16) __shared__ float b_tile[kGemmDepthTile][kTileCols];

  // The block's column tile, row tile, group and split (tiled_gemm_grid's order).
  const int cols = gemm.cols(), col_tiles = (cols + kTileCols - 1) / kTileCols;
  constexpr int kRowTiles = (Gemm::kRows + kTileRows - 1) / kTileRows;
  const int col0 = blockIdx.x % col_tiles * kTileCols, row0 = blockIdx.x / col_tiles % kRowTiles * kTileRows;
  const int group = blockIdx.x / col_tiles / kRowTiles % Gemm::kGemms;
  const int split = blockIdx.x / col_tiles / kRowTiles / Gemm::kGemms;
  // This split's share of the depth, [begin, end).
  const int depth = gemm.depth(group);  // 0: the sums stay 0, and the tile stores zeros
  const int chunk = (depth + Gemm::kSplits - 1) / Gemm::kSplits;
  const int begin = split * chunk < depth ? split * chunk : depth;
  const int end = begin + chunk < depth ? begin + chunk : depth;

  // Staging: adjacent threads read adjacent depths of A and adjacent columns of B, the directions
  // in which a convolution's operands are contiguous in memory (weights along their taps, input
  // and gradient rows along a row of pixels), so that the loads coalesce.
  const int a_k = threadIdx.x % kGemmDepthTile, a_row = threadIdx.x / kGemmDepthTile;
  const int b_col = threadIdx.x % kTileCols, b_k = threadIdx.x / kTileCols;
  constexpr int kARowStep = kGemmThreads / kGemmDepthTile, kBDepthStep = kGemmThreads / kTileCols;
  // Results: thread (ty, tx) holds rows 4 ty ... 4 ty + 3 and columns 4 tx ... 4 tx + 3. A warp's
  // 16-byte loads of b_tile are consecutive (no bank conflicts), those of a_tile are broadcasts.
  const int tx = threadIdx.x % kThreadCols, ty = threadIdx.x / kThreadCols;

  float sum[kGemmPerThread][kGemmPerThread] = {};
  for (int k0 = begin; k0 < end; k0 += kGemmDepthTile) {
    for (int r = a_row; r < kTileRows; r += kARowStep) {
      const int row = row0 + r, k = k0 + a_k;
      a_tile[a_k][r] = row < Gemm::kRows && k < end ? gemm.a(group, row, k) : 0.0f;
    }
    for (int d = b_k; d < kGemmDepthTile; d += kBDepthStep) {
      const int col = col0 + b_col, k = k0 + d;
      b_tile[d][b_col] = col < cols && k < end ? gemm.b(group, k, col) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int d = 0; d < kGemmDepthTile; ++d) {
      float a[kGemmPerThread], b[kGemmPerThread];
#pragma unroll
      for (int i = 0; i < kGemmPerThread; ++i) a[i] = a_tile[d][ty * kGemmPerThread + i];
#pragma unroll
      for (int j = 0; j < kGemmPerThread; ++j) b[j] = b_tile[d][tx * kGemmPerThread + j];
#pragma unroll
      for (int i = 0; i < kGemmPerThread; ++i)
#pragma unroll
        for (int j = 0; j < kGemmPerThread; ++j) sum[i][j] = fmaf(a[i], b[j], sum[i][j]);
    }
    __syncthreads();  // every thread has read the tiles before the next step overwrites them
  }
#pragma unroll
  for (int i = 0; i < kGemmPerThread; ++i) {
    const int row = row0 + ty * kGemmPerThread + i;
    if (row >= Gemm::kRows) break;
#pragma unroll
    for (int j = 0; j < kGemmPerThread; ++j) {
      const int col = col0 + tx * kGemmPerThread + j;
      if (col < cols) gemm.store(group, split, row, col, sum[i][j]);
    }
  }
}

}  // namespace ltrt::cuda
