// torchvision's transforms of a sample's input, as a Lightning DataModule's Dataset applies a
// transforms.Compose in __getitem__ (torchvision.transforms, their tensor paths):
//  - RandomHorizontalFlip / RandomVerticalFlip: `torch.rand(1) < p` (a float32 uniform from torch's
//    global generator, compared with p rounded to float32), then the sample reversed along W or H;
//  - RandomCrop: the padding (constant `fill`, edge, reflect or symmetric), then pad_if_needed's
//    (v1: the width, then the height, each padded by the shortfall on both sides), then
//    `torch.randint(0, H' - h + 1)` for the top and `torch.randint(0, W' - w + 1)` for the left
//    (nothing drawn where the padded sample is already the crop's size), then the crop;
//  - CenterCrop: zeros around a sample smaller than the crop, then the crop at
//    `int(round((H - h) / 2.0))`, `int(round((W - w) / 2.0))` (Python's round: halves to even);
//  - Resize: torch's interpolate of each (C, H, W) image to the size (ltrt/resize_image.hpp), the
//    smaller edge's size keeping the aspect where it is one number, as torchvision's F.resize;
//  - ColorJitter: torch.randperm(4), a uniform draw per factor, then brightness, contrast,
//    saturation and hue adjusted in that permutation's order (images of 1 or 3 channels);
//  - RandomGrayscale: `torch.rand(1) < p`, then rgb_to_grayscale keeping the channels; Grayscale
//    the same without the draw;
//  - Pad: RandomCrop's padding alone; RandomInvert (1 - x), RandomSolarize (1 - x at or above the
//    threshold) and RandomAutocontrast (each plane stretched to [0, 1]), each after its draw of
//    `torch.rand(1) < p` (v1 compares in double, v2 in float32);
//  - Normalize: (x - mean[c]) / std[c] in float32, c the channel (dimension -3);
//  - v2's GaussianNoise: x + (mean + randn_like(x) * sigma), clamped to [0, 1] with clip;
//  - RandomResizedCrop: get_params' box (ltrt/random_box.hpp: up to 10 attempts of a random area
//    and aspect ratio, then `torch.randint` for its top and left; else the central crop of the
//    ratio's bound), cropped and resized to the size as Resize does;
//  - RandomErasing: `torch.rand(1) < p`, then get_params' box (up to 10 attempts; when one fits,
//    a standard normal [C, h, w] for value="random", then the top and left), set to the value;
//  - RandomRotation and RandomAffine: a float32 uniform angle (RandomAffine's then translation,
//    scale and shear, each drawn where given), then the image warped as F.rotate and F.affine do
//    (ltrt/affine_warp.hpp: nearest or bilinear, the fill outside);
//  - v2's RandomChoice: torch.multinomial(p, 1), the argmax of p over a float32 exponential_ per
//    child, then that child; v2's RandomOrder: torch.randperm(n), then the children in its order;
//  - v1's RandomChoice and RandomOrder draw from Python's `random` instead (ltrt/python_random.hpp):
//    random.choices(transforms, weights=p), then that child; random.shuffle of range(n), then the
//    children in its order;
//  - RandomApply: `torch.rand(1)` against p (v1 applies where it is at most p, v2 where it is below),
//    then its transforms (TransformConfig::group of them, after it) or none.
// The crops and Resize set the sample's H and W, so the source's samples (a file's, say) may be of
// another size than the model's input, which the transforms make them.
// torchvision.transforms.v2's are the same but for RandomCrop's draws and pad_if_needed, which v2 adds
// to the padding (TransformConfig::v2).
// The random ones draw from torch's global generator, one sample after another in the batch's order,
// as a DataLoader without workers fetches them: the program passes that generator (TorchGlobalDraws),
// and the process's Python random for v1's RandomChoice and RandomOrder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ltrt/model.hpp"
#include "ltrt/python_random.hpp"
#include "ltrt/random_box.hpp"
#include "ltrt/torch_generator.hpp"

namespace ltrt {

class SampleTransforms {
 public:
  SampleTransforms() = default;
  // `shape`: the source's per-sample shape, (..., H, W). Throws ltrt::Error for a list that does not
  // fit it (torchvision's own refusals: a crop larger than its padded sample, a reflection as wide as
  // the sample), naming the transform.
  SampleTransforms(std::vector<TransformConfig> transforms, std::vector<std::int64_t> shape);

  bool empty() const { return list_.empty(); }
  // Whether any transform draws random numbers (from torch's generator or Python's random).
  bool draws() const;
  // Whether any draws from Python's random (v1's RandomChoice and RandomOrder).
  bool draws_python() const;
  // The per-sample shape the transforms make of the source's, and the elements of each.
  const std::vector<std::int64_t>& output_shape() const { return output_shape_; }
  std::int64_t input_numel() const { return in_numel_; }
  std::int64_t output_numel() const { return out_numel_; }

  // Transforms one sample `in` (input_numel() floats) into `out` (output_numel()), drawing from
  // `gen` and `python` (each nullptr only when nothing draws from it). Does not allocate.
  void apply(const float* in, float* out, TorchGenerator* gen, PythonRandom* python = nullptr);

  // The threads torch runs the transforms on (1 in a DataLoader worker; torch_intra_op_threads in
  // the process that fits): its bilinear resize without antialias picks another kernel for 3-channel
  // images on one, and its sums of 32768 elements and more split among several.
  void set_torch_threads(int threads);

  // The RandomResizedCrop and RandomErasing attempts so far whose box torch's own rounding of
  // its float32 exp and log may have made another (ltrt/random_box.hpp); the first warns.
  std::int64_t uncertain_boxes() const;
  // The samples so far that a ColorJitter's contrast or GaussianNoise met as v2's rotation left them,
  // a transposed view whose memory order ltgen does not follow; the first warns.
  std::int64_t transposed_layouts() const;

 private:
  // The sample between transforms, and what torch's tensor of it would be.
  struct Sample {
    float* cur;    // the sample
    float* other;  // the other buffer (the crops write from one to the other)
    // whether it is the view a crop just made (a RandomApply may skip it)
    bool view = false;
    // Whether torch would hold it transposed: v2's rotate turned it by exactly 90 or 270 degrees
    // (torch.rot90's view; another such turn undoes it), which torch's elementwise ops, flips, clones
    // and crops keep, and pads, warps and resizes to another size make contiguous. A ColorJitter's
    // contrast then sums its mean and GaussianNoise places its normals in that memory order, which
    // ltgen does not follow (it warns).
    bool transposed = false;
  };
  // Transforms [begin, end) of the list, one after another (a container's draws, then its children).
  void run(std::size_t begin, std::size_t end, Sample& x, TorchGenerator* gen, PythonRandom* python);
  // The index past transform i (and a container's list).
  std::size_t after(std::size_t i) const;
  // A transform's input and output height and width (the planes before them stay); for the crops,
  // whether they pad (a new tensor) and whether the crop is smaller than the padded sample (a
  // strided view of it). torch resizes a one-pixel view with another kernel than a whole image.
  struct Step {
    std::int64_t h, w, out_h, out_w;
    bool padded, cropped_view;
  };
  void random_crop(const float* in, float* out, const TransformConfig& t, const Step& s, TorchGenerator* gen) const;
  void autocontrast(float* sample, const TransformConfig& t, const Step& s) const;
  void center_crop(const float* in, float* out, const Step& s) const;
  void resize(const float* in, float* out, const TransformConfig& t, const Step& s, bool view);
  void color_jitter(float* sample, const TransformConfig& t, const Step& s, TorchGenerator& gen);
  void grayscale(float* sample, const TransformConfig& t, const Step& s) const;
  bool flip(float* sample, const TransformConfig& t, const Step& s, TorchGenerator& gen) const;
  void normalize(float* sample, const Step& s, const float* mean, const float* std) const;
  void noise(float* sample, std::int64_t numel, const TransformConfig& t, TorchGenerator& gen);
  // (`view`: whether `in` is a crop's view; returns whether `out` is one; `transposed` cleared where
  // it resizes)
  bool random_resized_crop(const float* in, float* out, std::size_t i, const Step& s, TorchGenerator& gen, bool view,
                           bool& transposed);
  bool erase(float* sample, std::size_t i, const Step& s, TorchGenerator& gen);
  // The memory order torch holds a warp's output in: a new contiguous tensor (grid_sample's), the
  // input's (v2's clone and rot90 by 180, a flip), or the input's transposed (rot90 by 90 or 270).
  enum class Layout { contiguous, input, transposed_input };
  Layout warp(const float* in, float* out, std::size_t i, const Step& s, TorchGenerator& gen) const;

  std::vector<TransformConfig> list_;
  std::vector<Step> steps_;
  // Each normalize's means and stds per channel, copied (the configs' arrays need not outlive this),
  // from offset_[i] for transform i.
  // RandomErasing's values likewise (none for value="random").
  // RandomRotation's and RandomAffine's fills likewise, one per channel (none for v2's fill None).
  std::vector<float> mean_, std_, erase_values_, fill_values_;
  std::vector<std::size_t> offset_, erase_offset_, fill_offset_;
  std::vector<BoxDraws> boxes_;  // transform i's box draws (RandomResizedCrop, RandomErasing)
  // a container's children's first indices; a RandomOrder's permutation; v2's RandomChoice's
  // probabilities, from choice_offset_[i], and v1's cumulative weights (Python's accumulate; none
  // for p None), from weights_offset_[i]
  std::vector<std::vector<std::size_t>> children_;
  std::vector<std::vector<std::int64_t>> orders_;
  std::vector<float> choice_p_;
  std::vector<double> cum_weights_;
  std::vector<std::size_t> choice_offset_, weights_offset_;
  std::int64_t planes_ = 0, channels_ = 1, in_numel_ = 0, out_numel_ = 0;
  std::vector<std::int64_t> output_shape_;
  std::vector<float> a_, b_;  // a sample between the transforms (the crops write from one to the other)
  std::vector<float> resize_scratch_;
  std::vector<float> crop_;  // RandomResizedCrop's box, copied out to be resized
  std::vector<float> gray_;  // an image's grayscale plane (ColorJitter's contrast)
  int torch_threads_ = 1;
  std::int64_t transposed_layouts_ = 0;
  std::vector<float> partial_sums_;  // a split sum's, one a torch thread
};

// The per-sample shape `transforms` make of samples of `shape`; throws ltrt::Error as
// SampleTransforms does.
std::vector<std::int64_t> transformed_shape(const std::vector<TransformConfig>& transforms,
                                            std::vector<std::int64_t> shape);
// Why torchvision refuses transform `t` on samples of height `h` and width `w` ("" where it does
// not): a crop larger than its padded sample, a reflection as wide as the sample it pads.
std::string transform_refusal(const TransformConfig& t, std::int64_t h, std::int64_t w);
// torchvision's class name of a kind ("RandomHorizontalFlip"), and the kind of a name (false for
// one ltrt does not have).
const char* transform_name(TransformKind kind);
bool transform_kind(const std::string& name, TransformKind& kind);
// Whether any of `transforms` sets the sample's height and width (a crop, a resize).
bool transforms_set_size(const std::vector<TransformConfig>& transforms);

// The threads of torch's intra-op pool in a process of Lightning's fit: under DDP (`ddp`) the CPUs
// this process may run on over `local_processes` (Lightning's DDP sets torch.set_num_threads)
// unless OMP_NUM_THREADS is set; else MKL's count, which PyPI's torch takes: MKL_NUM_THREADS, else
// OMP_NUM_THREADS, capped at the machine's physical cores (MKL's dynamic mode; not with
// MKL_DYNAMIC=FALSE), else the physical cores among those CPUs.
int torch_intra_op_threads(bool ddp, int local_processes);

// DataLoader(persistent_workers=True) beside trainer.reload_dataloaders_every_n_epochs, which it is
// not supported with yet: "" or the message.
std::string persistent_workers_refusal(std::int64_t reload_dataloaders_every_n_epochs);

}  // namespace ltrt
