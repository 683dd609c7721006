// torchvision's transforms of a sample's input, as a Lightning DataModule's Dataset applies a
// transforms.Compose in __getitem__ (torchvision.transforms, their tensor paths):
//  - RandomHorizontalFlip / RandomVerticalFlip: `torch.rand(1) < p` (a float32 uniform from torch's
//    global generator, compared with p rounded to float32), then the sample reversed along W or H;
//  - RandomCrop: the padding (constant `fill`, edge, reflect or symmetric), then
//    `torch.randint(0, H' - h + 1)` for the top and `torch.randint(0, W' - w + 1)` for the left
//    (nothing drawn where the padded sample is already the crop's size), then the crop;
//  - Normalize: (x - mean[c]) / std[c] in float32, c the channel (dimension -3);
//  - v2's GaussianNoise: x + (mean + randn_like(x) * sigma), clamped to [0, 1] with clip.
// torchvision.transforms.v2's are the same but for RandomCrop's draws (TransformConfig::v2).
// The random ones draw from torch's global generator, one sample after another in the batch's order,
// as a DataLoader without workers fetches them: the program passes that generator (TorchGlobalDraws).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ltrt/model.hpp"
#include "ltrt/torch_generator.hpp"

namespace ltrt {

class SampleTransforms {
 public:
  SampleTransforms() = default;
  // `shape`: the per-sample shape, (..., H, W); the transforms keep it (the spec reader checks them:
  // a crop's size is H x W). Throws ltrt::Error for a list that does not fit the shape.
  SampleTransforms(std::vector<TransformConfig> transforms, std::vector<std::int64_t> shape);

  bool empty() const { return list_.empty(); }
  // Whether any transform draws random numbers.
  bool draws() const;

  // Transforms one sample in place, drawing from `gen` (nullptr only when nothing draws). Does not
  // allocate.
  void apply(float* sample, TorchGenerator* gen);

 private:
  void crop(float* sample, const TransformConfig& t, TorchGenerator& gen);
  void normalize(float* sample, const float* mean, const float* std) const;
  void noise(float* sample, const TransformConfig& t, TorchGenerator& gen);

  std::vector<TransformConfig> list_;
  // Each normalize's means and stds per channel, copied (the configs' arrays need not outlive this),
  // from offset_[i] for transform i.
  std::vector<float> mean_, std_;
  std::vector<std::size_t> offset_;
  std::int64_t planes_ = 0, h_ = 0, w_ = 0, channels_ = 1, numel_ = 0;
  std::vector<float> scratch_;  // a crop's output
};

// What ltgen refuses under DataLoader workers ("" when nothing): a LearningRateFinder beside random
// transforms or a single process's shuffled loader (`shuffled_in_process`: its RandomSampler). The
// finder's restore makes the first epoch's iterator inside isolate_rng, and an iterator with workers
// seeds them and draws its sampler's seed as it is made. The generator and the program (whose
// callbacks may come from the command line) ask.
std::string worker_transforms_refusal(int num_workers, bool random_transforms, bool shuffled_in_process,
                                      bool learning_rate_finder);

}  // namespace ltrt
