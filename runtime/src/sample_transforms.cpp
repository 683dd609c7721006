// torchvision's flips, RandomCrop, Normalize and v2's GaussianNoise on a sample's float32 values.
#include "ltrt/sample_transforms.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "ltrt/error.hpp"

namespace ltrt {
namespace {

bool is_random(const TransformConfig& t) { return t.kind != TransformKind::normalize; }

// The source index that padded index `k` (k - before: the index in the sample) reads under `mode`,
// or -1 for the constant padding. torchvision pads once on each side, so one reflection is enough:
// reflect's padding is below the size (torch's reflection_pad), symmetric's at most the size.
std::int64_t padded_source(std::int64_t k, std::int64_t size, PadMode mode) {
  if (k >= 0 && k < size) return k;
  switch (mode) {
    case PadMode::constant:
      return -1;
    case PadMode::edge:
      return k < 0 ? 0 : size - 1;
    case PadMode::reflect:
      return k < 0 ? -k : 2 * (size - 1) - k;
    case PadMode::symmetric:
      return k < 0 ? -k - 1 : 2 * size - 1 - k;
  }
  return -1;
}

}  // namespace

SampleTransforms::SampleTransforms(std::vector<TransformConfig> transforms, std::vector<std::int64_t> shape)
    : list_(std::move(transforms)) {
  if (list_.empty()) return;
  numel_ = 1;
  for (std::int64_t d : shape) numel_ *= d;
  bool images = false;  // all but GaussianNoise take (..., H, W)
  for (const TransformConfig& t : list_) images = images || t.kind != TransformKind::gaussian_noise;
  if (images && shape.size() < 2)
    throw Error("transforms need samples of shape (..., H, W), not of rank " + std::to_string(shape.size()));
  h_ = shape.size() >= 2 ? shape[shape.size() - 2] : 1;
  w_ = shape.empty() ? 1 : shape.back();
  planes_ = 1;
  for (std::size_t d = 0; d + 2 < shape.size(); ++d) planes_ *= shape[d];
  if (shape.size() >= 3) channels_ = shape[shape.size() - 3];
  for (const TransformConfig& t : list_) {
    offset_.push_back(mean_.size());
    if (t.kind == TransformKind::random_crop) {
      const std::int64_t ph = h_ + t.pad_top + t.pad_bottom, pw = w_ + t.pad_left + t.pad_right;
      if (t.size_h != h_ || t.size_w != w_ || ph < t.size_h || pw < t.size_w || t.pad_left < 0 || t.pad_right < 0 ||
          t.pad_top < 0 || t.pad_bottom < 0)
        throw Error("RandomCrop: the crop must keep the sample's " + std::to_string(h_) + " x " + std::to_string(w_));
      const bool reflect = t.padding_mode == PadMode::reflect, symmetric = t.padding_mode == PadMode::symmetric;
      const std::int64_t most_h = std::max(t.pad_top, t.pad_bottom), most_w = std::max(t.pad_left, t.pad_right);
      if ((reflect && (most_h >= h_ || most_w >= w_)) || (symmetric && (most_h > h_ || most_w > w_)))
        throw Error("RandomCrop: padding too wide for the sample's " + std::to_string(h_) + " x " + std::to_string(w_));
    }
    if (t.kind == TransformKind::normalize) {
      if (shape.size() < 3 || (t.num_values != 1 && t.num_values != channels_))
        throw Error("Normalize: " + std::to_string(t.num_values) + " means and stds for samples of " +
                    std::to_string(shape.size() >= 3 ? channels_ : 0) + " channels");
      for (std::int64_t c = 0; c < channels_; ++c) {
        mean_.push_back(t.mean[t.num_values == 1 ? 0 : c]);
        std_.push_back(t.std[t.num_values == 1 ? 0 : c]);
      }
    }
  }
  scratch_.resize(static_cast<std::size_t>(numel_));
}

bool SampleTransforms::draws() const {
  for (const TransformConfig& t : list_)
    if (is_random(t)) return true;
  return false;
}

void SampleTransforms::apply(float* sample, TorchGenerator* gen) {
  for (std::size_t i = 0; i < list_.size(); ++i) {
    const TransformConfig& t = list_[i];
    if (is_random(t) && !gen) throw Error("internal: a random transform without torch's generator");
    switch (t.kind) {
      case TransformKind::random_horizontal_flip:
      case TransformKind::random_vertical_flip: {
        float u;
        gen->uniform(&u, 1, 0.0, 1.0);              // torch.rand(1)
        if (!(u < static_cast<float>(t.p))) break;  // a float32 tensor against p: compared in float32
        const bool horizontal = t.kind == TransformKind::random_horizontal_flip;
        for (std::int64_t c = 0; c < planes_; ++c) {
          float* plane = sample + c * h_ * w_;
          if (horizontal) {
            for (std::int64_t y = 0; y < h_; ++y)
              for (std::int64_t a = 0, b = w_ - 1; a < b; ++a, --b) std::swap(plane[y * w_ + a], plane[y * w_ + b]);
          } else {
            for (std::int64_t a = 0, b = h_ - 1; a < b; ++a, --b)
              for (std::int64_t x = 0; x < w_; ++x) std::swap(plane[a * w_ + x], plane[b * w_ + x]);
          }
        }
        break;
      }
      case TransformKind::random_crop:
        crop(sample, t, *gen);
        break;
      case TransformKind::gaussian_noise:
        noise(sample, t, *gen);
        break;
      case TransformKind::normalize:
        normalize(sample, mean_.data() + offset_[i], std_.data() + offset_[i]);
        break;
    }
  }
}

// RandomCrop.forward with the crop's size equal to the sample's: pad, draw the corner, crop.
void SampleTransforms::crop(float* sample, const TransformConfig& t, TorchGenerator& gen) {
  const std::int64_t ph = h_ + t.pad_top + t.pad_bottom, pw = w_ + t.pad_left + t.pad_right;
  std::int64_t top = 0, left = 0;
  if (t.v2) {  // v2's make_params: a coordinate along a dimension the crop is smaller in
    if (ph > t.size_h) gen.randint(&top, 1, ph - t.size_h + 1);
    if (pw > t.size_w) gen.randint(&left, 1, pw - t.size_w + 1);
  } else if (ph != t.size_h || pw != t.size_w) {  // RandomCrop.get_params: nothing drawn for a crop of the whole
    gen.randint(&top, 1, ph - t.size_h + 1);
    gen.randint(&left, 1, pw - t.size_w + 1);
  }
  if (top == t.pad_top && left == t.pad_left) return;  // the sample itself
  const auto fill = static_cast<float>(t.fill);        // torch_pad's value=float(fill) on a float32 tensor
  for (std::int64_t c = 0; c < planes_; ++c) {
    const float* in = sample + c * h_ * w_;
    float* out = scratch_.data() + c * h_ * w_;
    for (std::int64_t y = 0; y < h_; ++y) {
      const std::int64_t sy = padded_source(top + y - t.pad_top, h_, t.padding_mode);
      for (std::int64_t x = 0; x < w_; ++x) {
        const std::int64_t sx = padded_source(left + x - t.pad_left, w_, t.padding_mode);
        out[y * w_ + x] = sy < 0 || sx < 0 ? fill : in[sy * w_ + sx];
      }
    }
  }
  std::memcpy(sample, scratch_.data(), scratch_.size() * sizeof(float));
}

// v2's gaussian_noise: noise = mean + torch.randn_like(x) * sigma, x + noise, clamped to [0, 1] with
// clip (NaN stays NaN), each a float32 operation.
void SampleTransforms::noise(float* sample, const TransformConfig& t, TorchGenerator& gen) {
  gen.normal(scratch_.data(), numel_, 0.0, 1.0);
  const auto mean = static_cast<float>(t.noise_mean), sigma = static_cast<float>(t.sigma);
  for (std::int64_t k = 0; k < numel_; ++k) {
    const float scaled = scratch_[static_cast<std::size_t>(k)] * sigma;
    const float noise = mean + scaled;
    float v = sample[k] + noise;
    if (t.clip) {
      if (v < 0.0f) v = 0.0f;
      if (v > 1.0f) v = 1.0f;
    }
    sample[k] = v;
  }
}

// F.normalize: tensor.sub_(mean).div_(std), each a float32 operation.
void SampleTransforms::normalize(float* sample, const float* mean, const float* std) const {
  const std::int64_t plane = h_ * w_;
  for (std::int64_t c = 0; c < planes_; ++c) {
    const float m = mean[c % channels_], s = std[c % channels_];
    float* v = sample + c * plane;
    for (std::int64_t k = 0; k < plane; ++k) {
      const float shifted = v[k] - m;
      v[k] = shifted / s;
    }
  }
}

std::string worker_transforms_refusal(int num_workers, bool random_transforms, bool shuffled_in_process,
                                      bool learning_rate_finder) {
  if (num_workers > 0 && learning_rate_finder && (random_transforms || shuffled_in_process))
    return std::string("LearningRateFinder with ") +
           (random_transforms ? "random data.train.transforms" : "a shuffled training loader") +
           " under data.num_workers " + std::to_string(num_workers) +
           " is not supported yet (the finder makes the first epoch's iterator, which seeds its workers and draws "
           "its sampler's seed, inside its isolated generator): set data.num_workers to 0 or leave the finder out";
  return "";
}

}  // namespace ltrt
