// Every kernel launch of a generated CUDA program puts its blocks on the grid's x alone: CUDA
// allows 2^31 - 1 blocks there but only 65535 on y and z, fewer than a large batch (attention's
// samples) or a depthwise convolution's groups may need. The spec below has both kinds of layer at
// a batch of 70000 and most other ops; a launch whose grid is a dim3 fails here.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "lower.hpp"

namespace ltgen {
namespace {

// The grid argument (the first of <<<...>>>) of every launch in `source`.
std::vector<std::string> launch_grids(const std::string& source) {
  std::vector<std::string> grids;
  for (std::size_t at = source.find("<<<"); at != std::string::npos; at = source.find("<<<", at + 3)) {
    int depth = 0;
    std::size_t end = at + 3;
    for (; end < source.size(); ++end) {
      const char c = source[end];
      if (c == '(') ++depth;
      if (c == ')') --depth;
      if (depth == 0 && (c == ',' || source.compare(end, 3, ">>>") == 0)) break;
    }
    grids.push_back(source.substr(at + 3, end - at - 3));
  }
  return grids;
}

TEST(CudaLaunches, EveryGridIsOneDimensional) {
  const std::string path = testing::TempDir() + "/cuda_launches.json";
  std::ofstream(path) << R"({
    "name": "launches",
    "model": {
      "inputs": {"x": [6, 8]},
      "target": {"dtype": "int64", "num_classes": 5},
      "graph": [
        {"name": "ln", "type": "LayerNorm", "input": "x"},
        {"name": "attn", "type": "MultiheadAttention", "input": "ln", "num_heads": 2, "batch_first": true,
         "is_causal": true},
        {"name": "res", "type": "Add", "inputs": ["attn", "x"]},
        {"name": "depthwise", "type": "Conv1d", "input": "res", "out_channels": 6, "kernel_size": 3, "stride": 2,
         "dilation": 2, "padding": 2, "groups": 6},
        {"name": "act", "type": "GELU", "input": "depthwise"},
        {"name": "flat", "type": "Flatten", "input": "act"},
        {"name": "head", "type": "Linear", "input": "flat", "out_features": 5}
      ],
      "output": "head",
      "loss": {"type": "CrossEntropyLoss"},
      "metrics": ["accuracy"]
    },
    "data": {"batch_size": 70000, "train": {"source": "randn", "num_samples": 70000}},
    "optimizer": {"type": "AdamW"},
    "trainer": {"accelerator": "gpu", "gradient_clip_val": 1.0}
  })";
  const Lowered lowered = lower(path, LowerOptions{});
  std::string source;
  for (const GeneratedFile& f : lowered.files)
    if (f.name == "model_cuda.cu") source = f.text;
  ASSERT_FALSE(source.empty());
  const std::vector<std::string> grids = launch_grids(source);
  int attention = 0, gemms = 0;
  for (const std::string& grid : grids) {
    EXPECT_EQ(grid.find("dim3"), std::string::npos) << "a grid of more than one dimension: <<<" << grid << ", ...>>>";
    attention += grid.find("kHeads * n") != std::string::npos;
    gemms += grid.find("tiled_gemm_grid") != std::string::npos;
  }
  EXPECT_EQ(attention, 3);  // forward, dK/dV and dQ: a block per (tile, head, sample)
  EXPECT_EQ(gemms, 3);      // the convolution's forward, input and weight gradients
  EXPECT_GT(grids.size(), 10u);
}

}  // namespace
}  // namespace ltgen
