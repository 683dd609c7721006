// torchvision's transforms of a sample's float32 values (the list is sample_transforms.hpp's), each
// in torch's own float32 steps.
#include "ltrt/sample_transforms.hpp"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "ltrt/affine_warp.hpp"
#include "ltrt/cascade_sum.hpp"
#include "ltrt/error.hpp"

namespace ltrt {
namespace {

bool is_container(TransformKind k) {
  return k == TransformKind::random_apply || k == TransformKind::random_choice || k == TransformKind::random_order;
}

bool is_random(const TransformConfig& t) {
  return t.kind != TransformKind::normalize && t.kind != TransformKind::center_crop &&
         t.kind != TransformKind::resize && t.kind != TransformKind::grayscale && t.kind != TransformKind::pad;
}

// The draw of torchvision's random-apply transforms: v1's `torch.rand(1).item() < p` compares in
// double (RandomInvert, RandomSolarize, RandomAutocontrast), v2's `torch.rand(1) >= p` in float32.
bool applies(const TransformConfig& t, TorchGenerator& gen) {
  float u;
  gen.uniform(&u, 1, 0.0, 1.0);
  return t.v2 ? u < static_cast<float>(t.p) : static_cast<double>(u) < t.p;
}

std::string size_text(std::int64_t h, std::int64_t w) { return std::to_string(h) + " x " + std::to_string(w); }

// One padding of a dimension: `before` indices ahead of a size-`size` one (and `after` behind it).
struct PadStage {
  std::int64_t before, after, size;
};

// A RandomCrop's paddings of each dimension, in torchvision's order. v1 pads its `padding`, then
// with pad_if_needed the width and then the height by their shortfall on both sides, each a torch
// pad of the padded sample (which reflect and symmetric read back from); v2 adds the shortfall to
// the padding and pads once.
struct CropPadding {
  PadStage h[2], w[2];
  int h_stages = 0, w_stages = 0;
  std::int64_t padded_h = 0, padded_w = 0;
};

CropPadding crop_padding(const TransformConfig& t, std::int64_t h, std::int64_t w) {
  CropPadding c;
  std::int64_t top = t.pad_top, bottom = t.pad_bottom, left = t.pad_left, right = t.pad_right;
  std::int64_t ph = h + top + bottom, pw = w + left + right;
  if (t.v2 && t.pad_if_needed) {
    if (ph < t.size_h) top += t.size_h - ph, bottom += t.size_h - ph, ph += 2 * (t.size_h - ph);
    if (pw < t.size_w) left += t.size_w - pw, right += t.size_w - pw, pw += 2 * (t.size_w - pw);
  }
  c.h[c.h_stages++] = {top, bottom, h};
  c.w[c.w_stages++] = {left, right, w};
  if (!t.v2 && t.pad_if_needed) {
    if (pw < t.size_w) c.w[c.w_stages++] = {t.size_w - pw, t.size_w - pw, pw}, pw += 2 * (t.size_w - pw);
    if (ph < t.size_h) c.h[c.h_stages++] = {t.size_h - ph, t.size_h - ph, ph}, ph += 2 * (t.size_h - ph);
  }
  c.padded_h = ph;
  c.padded_w = pw;
  return c;
}

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

// Index `k` of the last stage's output back through the stages to the sample's, -1 for fill.
std::int64_t staged_source(std::int64_t k, const PadStage* stages, int count, PadMode mode) {
  for (int s = count - 1; s >= 0 && k >= 0; --s) k = padded_source(k - stages[s].before, stages[s].size, mode);
  return k;
}

// Python's int(round(x / 2.0)) of an int: halves go to the even neighbour.
std::int64_t half_to_even(std::int64_t x) {
  return static_cast<std::int64_t>(std::nearbyint(static_cast<double>(x) / 2.0));
}

// torchvision's _compute_resized_output_size: a pair as it is; one size for the smaller edge, the
// longer int(size * long / short) (a float division, truncated), both scaled down where the longer
// passes max_size.
void resized_size(const TransformConfig& t, std::int64_t h, std::int64_t w, std::int64_t& out_h, std::int64_t& out_w) {
  if (t.size_w > 0) {
    out_h = t.size_h;
    out_w = t.size_w;
    return;
  }
  const std::int64_t small = std::min(h, w), large = std::max(h, w);
  std::int64_t new_short = t.size_h;
  auto new_long = static_cast<std::int64_t>(static_cast<double>(t.size_h * large) / static_cast<double>(small));
  if (t.max_size > 0 && new_long > t.max_size) {
    new_short = static_cast<std::int64_t>(static_cast<double>(std::int64_t{t.max_size} * new_short) /
                                          static_cast<double>(new_long));
    new_long = t.max_size;
  }
  out_h = w <= h ? new_long : new_short;
  out_w = w <= h ? new_short : new_long;
}

// A transform's output height and width from its input's, or throws torchvision's refusal.
void check_step(const TransformConfig& t, std::int64_t h, std::int64_t w, std::int64_t& out_h, std::int64_t& out_w) {
  out_h = h;
  out_w = w;
  if (t.kind == TransformKind::resize) {
    resized_size(t, h, w, out_h, out_w);
    if (out_h < 1 || out_w < 1 || out_h > 2147483647 || out_w > 2147483647)
      throw Error("makes an image of " + size_text(out_h, out_w) + " (torch cannot resize to it)");
    return;
  }
  if (t.kind == TransformKind::color_jitter || t.kind == TransformKind::random_grayscale ||
      t.kind == TransformKind::grayscale || t.kind == TransformKind::random_invert ||
      t.kind == TransformKind::random_solarize || t.kind == TransformKind::random_autocontrast)
    return;  // (the channel count, 1 or 3, is checked with the sample's shape)
  if (t.kind == TransformKind::pad) {  // RandomCrop's padding, the crop the whole padded sample
    TransformConfig crop = t;
    crop.kind = TransformKind::random_crop;
    crop.size_h = static_cast<int>(h + t.pad_top + t.pad_bottom);
    crop.size_w = static_cast<int>(w + t.pad_left + t.pad_right);
    crop.pad_if_needed = false;
    check_step(crop, h, w, out_h, out_w);
    return;
  }
  if (t.kind == TransformKind::center_crop || t.kind == TransformKind::random_resized_crop) {
    out_h = t.size_h;
    out_w = t.size_w;
    return;
  }
  if (t.kind != TransformKind::random_crop) return;
  if (t.pad_left < 0 || t.pad_right < 0 || t.pad_top < 0 || t.pad_bottom < 0 || t.size_h < 1 || t.size_w < 1)
    throw Error("a negative padding or an empty crop");
  const CropPadding c = crop_padding(t, h, w);
  const bool reflect = t.padding_mode == PadMode::reflect, symmetric = t.padding_mode == PadMode::symmetric;
  for (int d = 0; d < 2; ++d)
    for (int s = 0; s < (d ? c.w_stages : c.h_stages); ++s) {
      const PadStage& p = d ? c.w[s] : c.h[s];
      const std::int64_t most = std::max(p.before, p.after);
      if ((reflect && most >= p.size) || (symmetric && most > p.size))
        throw Error(std::string(reflect ? "reflect" : "symmetric") + " padding of " + std::to_string(most) +
                    " on a side of " + std::to_string(p.size) + (d ? " columns" : " rows") +
                    (reflect ? ": it must be less than the size (torch refuses it)" : ": it can be at most the size"));
    }
  if (c.padded_h < t.size_h || c.padded_w < t.size_w)
    throw Error("the crop's " + size_text(t.size_h, t.size_w) + " is larger than the padded sample's " +
                size_text(c.padded_h, c.padded_w) +
                " (torchvision raises there): pad it more, set pad_if_needed, or crop less");
  out_h = t.size_h;
  out_w = t.size_w;
}

// The most scratch resize_image takes for a RandomResizedCrop's box of any size up to the
// image's: each dimension's filter table at its largest, and the intermediate of the whole height.
std::size_t box_resize_scratch(std::int64_t channels, std::int64_t image_h, std::int64_t image_w,
                               const TransformConfig& t) {
  const int out_h = t.size_h, out_w = t.size_w;
  std::size_t table_h = 0, table_w = 0;
  for (int w = 1; w <= image_w; ++w)
    table_w = std::max(table_w, resize_scratch_size(1, out_h, w, out_h, out_w, t.interpolation, t.antialias));
  for (int h = 1; h <= image_h; ++h)
    table_h = std::max(table_h, resize_scratch_size(1, h, out_w, out_h, out_w, t.interpolation, t.antialias));
  if (table_h == 0 && table_w == 0) return 0;  // (no antialias: nothing)
  return table_h + table_w + static_cast<std::size_t>(channels * image_h) * static_cast<std::size_t>(out_w);
}

}  // namespace

const char* transform_name(TransformKind k) {
  switch (k) {
    case TransformKind::random_horizontal_flip:
      return "RandomHorizontalFlip";
    case TransformKind::random_vertical_flip:
      return "RandomVerticalFlip";
    case TransformKind::random_crop:
      return "RandomCrop";
    case TransformKind::normalize:
      return "Normalize";
    case TransformKind::gaussian_noise:
      return "GaussianNoise";
    case TransformKind::center_crop:
      return "CenterCrop";
    case TransformKind::resize:
      return "Resize";
    case TransformKind::color_jitter:
      return "ColorJitter";
    case TransformKind::random_grayscale:
      return "RandomGrayscale";
    case TransformKind::grayscale:
      return "Grayscale";
    case TransformKind::pad:
      return "Pad";
    case TransformKind::random_invert:
      return "RandomInvert";
    case TransformKind::random_solarize:
      return "RandomSolarize";
    case TransformKind::random_autocontrast:
      return "RandomAutocontrast";
    case TransformKind::random_resized_crop:
      return "RandomResizedCrop";
    case TransformKind::random_erasing:
      return "RandomErasing";
    case TransformKind::random_rotation:
      return "RandomRotation";
    case TransformKind::random_affine:
      return "RandomAffine";
    case TransformKind::random_choice:
      return "RandomChoice";
    case TransformKind::random_order:
      return "RandomOrder";
    case TransformKind::random_apply:
      return "RandomApply";
  }
  return "?";
}

bool transform_kind(const std::string& name, TransformKind& kind) {
  for (int k = 0; k <= static_cast<int>(TransformKind::random_apply); ++k)
    if (name == transform_name(static_cast<TransformKind>(k))) {
      kind = static_cast<TransformKind>(k);
      return true;
    }
  return false;
}

std::vector<std::int64_t> transformed_shape(const std::vector<TransformConfig>& transforms,
                                            std::vector<std::int64_t> shape) {
  // The containers open at transform i: where each ends, and the shape it began with; and where
  // each child of a RandomChoice or RandomOrder ends, with that shape (each must keep it: any may run
  // alone, or first).
  std::vector<std::pair<std::size_t, std::vector<std::int64_t>>> groups, children;
  for (std::size_t i = 0; i <= transforms.size(); ++i) {
    for (std::size_t c = 0; c < children.size();) {
      if (children[c].first != i) {
        ++c;
        continue;
      }
      if (children[c].second != shape)
        throw Error(
            "a transform of a RandomChoice or RandomOrder makes samples of another shape than it takes (torch's "
            "batch would mix them): keep each one's crops and resizes to the sample's size");
      children.erase(children.begin() + static_cast<std::ptrdiff_t>(c));
    }
    while (!groups.empty() && groups.back().first == i) {
      if (groups.back().second != shape)
        throw Error(
            "the transforms of a RandomApply, RandomChoice or RandomOrder make samples of another shape than "
            "they take (torch's batch would mix them): keep its crops and resizes to the sample's size");
      groups.pop_back();
    }
    if (i == transforms.size()) break;
    const TransformConfig& t = transforms[i];
    if (is_container(t.kind)) {
      const std::size_t end = i + 1 + static_cast<std::size_t>(std::max(t.group, 0));
      if (t.group < 0 || end > transforms.size() || (!groups.empty() && end > groups.back().first))
        throw Error(std::string("internal: a ") + transform_name(t.kind) + "'s group of " + std::to_string(t.group) +
                    " runs past its list");
      groups.push_back({end, shape});
      if (t.kind != TransformKind::random_apply)
        for (std::size_t k = i + 1; k < end;) {
          const TransformConfig& c = transforms[k];
          k = std::min(end, k + 1 + (is_container(c.kind) ? static_cast<std::size_t>(std::max(c.group, 0)) : 0));
          children.push_back({k, shape});
        }
      continue;
    }
    if (t.kind == TransformKind::gaussian_noise) continue;  // any shape
    const bool color = t.kind == TransformKind::color_jitter || t.kind == TransformKind::random_grayscale ||
                       t.kind == TransformKind::grayscale || t.kind == TransformKind::random_autocontrast ||
                       (!t.v2 && (t.kind == TransformKind::random_invert || t.kind == TransformKind::random_solarize));
    if (color && (shape.size() < 3 || (shape[shape.size() - 3] != 1 && shape[shape.size() - 3] != 3)))
      throw Error("transforms[" + std::to_string(i) + "] (" + transform_name(t.kind) +
                  ") takes images of 1 or 3 channels, (..., C, H, W)");
    if (shape.size() < 2)
      throw Error("transforms[" + std::to_string(i) + "] (" + transform_name(t.kind) +
                  ") takes samples of shape (..., H, W), not of rank " + std::to_string(shape.size()));
    std::int64_t& h = shape[shape.size() - 2];
    std::int64_t& w = shape.back();
    if (h < 1 || w < 1)
      throw Error("transforms[" + std::to_string(i) + "] (" + transform_name(t.kind) + ") on samples of " +
                  size_text(h, w) + ": an empty image (torch raises there)");
    if (const std::string why = transform_refusal(t, h, w); !why.empty())
      throw Error("transforms[" + std::to_string(i) + "] (" + transform_name(t.kind) + ") on samples of " +
                  size_text(h, w) + ": " + why);
    check_step(t, h, w, h, w);
  }
  return shape;
}

std::string transform_refusal(const TransformConfig& t, std::int64_t h, std::int64_t w) {
  try {
    std::int64_t out_h, out_w;
    check_step(t, h, w, out_h, out_w);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool transforms_set_size(const std::vector<TransformConfig>& transforms) {
  for (const TransformConfig& t : transforms)
    if (t.kind == TransformKind::random_crop || t.kind == TransformKind::center_crop ||
        t.kind == TransformKind::resize || t.kind == TransformKind::pad || t.kind == TransformKind::random_resized_crop)
      return true;
  return false;
}

namespace {
// The physical cores (package, core) among the CPUs for which `in` holds (all: the machine's);
// 0 where /sys does not say.
int physical_cores(const cpu_set_t* in) {
  std::set<std::pair<std::string, std::string>> cores;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (in && !CPU_ISSET(c, in)) continue;
    const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/topology/";
    std::ifstream package(dir + "physical_package_id"), core(dir + "core_id");
    std::string p, k;
    if (!(package >> p) || !(core >> k)) {
      if (in) return 0;  // a CPU of the mask without topology
      continue;          // past the machine's CPUs
    }
    cores.insert({p, k});
  }
  return static_cast<int>(cores.size());
}
}  // namespace

int torch_intra_op_threads(bool ddp, int local_processes) {
  const auto count = [](const char* name) {
    const char* v = std::getenv(name);
    return v ? std::atoi(v) : 0;
  };
  cpu_set_t set;
  CPU_ZERO(&set);
  const bool masked = sched_getaffinity(0, sizeof set, &set) == 0;
  int cpus = masked ? CPU_COUNT(&set) : static_cast<int>(std::thread::hardware_concurrency());
  if (cpus < 1) cpus = 1;
  // Lightning's DDP: torch.set_num_threads(CPUs // local processes) where OMP_NUM_THREADS is unset.
  if (ddp && count("OMP_NUM_THREADS") <= 0) return std::max(1, cpus / std::max(1, local_processes));
  // PyPI's torch (built with MKL) takes MKL's count: MKL_NUM_THREADS, else OMP_NUM_THREADS, which
  // MKL's dynamic mode caps at the machine's physical cores; else the physical cores it may run on.
  const int asked = count("MKL_NUM_THREADS") > 0 ? count("MKL_NUM_THREADS") : count("OMP_NUM_THREADS");
  if (asked > 0) {
    const char* dynamic = std::getenv("MKL_DYNAMIC");
    const bool capped = !(dynamic && (std::string(dynamic) == "FALSE" || std::string(dynamic) == "false"));
    const int machine = physical_cores(nullptr);
    return capped && machine > 0 ? std::min(asked, machine) : asked;
  }
  const int cores = masked ? physical_cores(&set) : 0;
  return cores > 0 ? cores : cpus;
}

void SampleTransforms::set_torch_threads(int threads) {
  torch_threads_ = std::max(1, threads);
  partial_sums_.assign(static_cast<std::size_t>(torch_threads_), 0.0f);
}

SampleTransforms::SampleTransforms(std::vector<TransformConfig> transforms, std::vector<std::int64_t> shape)
    : list_(std::move(transforms)) {
  if (list_.empty()) return;
  output_shape_ = transformed_shape(list_, shape);
  in_numel_ = out_numel_ = 1;
  for (std::int64_t d : shape) in_numel_ *= d;
  for (std::int64_t d : output_shape_) out_numel_ *= d;
  planes_ = 1;
  for (std::size_t d = 0; d + 2 < shape.size(); ++d) planes_ *= shape[d];
  if (shape.size() >= 3) channels_ = shape[shape.size() - 3];
  std::int64_t h = shape.size() >= 2 ? shape[shape.size() - 2] : 1, w = shape.empty() ? 1 : shape.back();
  if (shape.size() < 2) w = in_numel_, h = 1;  // GaussianNoise alone: one row
  std::int64_t largest = in_numel_;
  std::size_t resize_scratch = 0;
  children_.resize(list_.size());
  orders_.resize(list_.size());
  for (std::size_t i = 0; i < list_.size(); ++i) {  // (transformed_shape has checked the groups)
    choice_offset_.push_back(choice_p_.size());
    weights_offset_.push_back(cum_weights_.size());
    if (!is_container(list_[i].kind)) continue;
    for (std::size_t k = i + 1; k < i + 1 + static_cast<std::size_t>(list_[i].group);
         k += 1 + (is_container(list_[k].kind) ? static_cast<std::size_t>(list_[k].group) : 0))
      children_[i].push_back(k);
    if (list_[i].kind == TransformKind::random_order) orders_[i].resize(children_[i].size());
    const TransformConfig& t = list_[i];
    if (t.kind == TransformKind::random_choice && t.v2) {
      if (t.num_choice_p != static_cast<int>(children_[i].size()) || children_[i].empty() || !t.choice_p)
        throw Error("RandomChoice: " + std::to_string(t.num_choice_p) + " probabilities for " +
                    std::to_string(children_[i].size()) + " transforms");
      choice_p_.insert(choice_p_.end(), t.choice_p, t.choice_p + t.num_choice_p);
    }
    if (t.kind == TransformKind::random_choice && !t.v2) {
      if ((t.num_choice_p != 0 && t.num_choice_p != static_cast<int>(children_[i].size())) || children_[i].empty() ||
          (t.num_choice_p != 0 && !t.choice_weights))
        throw Error("RandomChoice: " + std::to_string(t.num_choice_p) + " weights for " +
                    std::to_string(children_[i].size()) + " transforms");
      double sum = 0;  // itertools.accumulate's running sums, in Python's floats
      for (int k = 0; k < t.num_choice_p; ++k) cum_weights_.push_back(sum += t.choice_weights[k]);
      if (t.num_choice_p != 0 && !(sum > 0 && std::isfinite(sum)))
        throw Error("RandomChoice: the weights' total must be positive and finite (random.choices raises)");
    }
  }
  for (const TransformConfig& t : list_) {
    Step s{h, w, h, w, false, false};
    check_step(t, h, w, s.out_h, s.out_w);  // (transformed_shape has named any refusal)
    // A crop's output is a view of its (padded) input where it is smaller (torch's slicing).
    if (t.kind == TransformKind::random_crop) {
      const CropPadding c = crop_padding(t, h, w);
      s.padded = c.padded_h != h || c.padded_w != w || (!t.v2 && t.padding_given);
      s.cropped_view = c.padded_h != s.out_h || c.padded_w != s.out_w;
    }
    if (t.kind == TransformKind::center_crop) {  // zeros around a smaller sample, to max(crop, size)
      s.padded = s.out_h > h || s.out_w > w;
      s.cropped_view = std::max(h, s.out_h) != s.out_h || std::max(w, s.out_w) != s.out_w;
    }
    if (t.kind == TransformKind::pad) s.padded = true;  // (torch's pad makes a new tensor, of 0 padding too)
    steps_.push_back(s);
    if (t.kind == TransformKind::resize)  // image by image: channels_ planes each
      resize_scratch =
          std::max(resize_scratch, resize_scratch_size(channels_, static_cast<int>(s.h), static_cast<int>(s.w),
                                                       static_cast<int>(s.out_h), static_cast<int>(s.out_w),
                                                       t.interpolation, t.antialias));
    if (t.kind == TransformKind::random_resized_crop)  // a box of any size up to the image's
      resize_scratch = std::max(resize_scratch, box_resize_scratch(channels_, s.h, s.w, t));
    boxes_.push_back(t.kind == TransformKind::random_resized_crop || t.kind == TransformKind::random_erasing
                         ? BoxDraws(t.scale, t.ratio)
                         : BoxDraws());
    erase_offset_.push_back(erase_values_.size());
    if (t.kind == TransformKind::random_erasing) {
      if (shape.size() < 3 || (t.num_erase_values > 1 && t.num_erase_values != channels_))
        throw Error("RandomErasing: " + std::to_string(t.num_erase_values) + " values for samples of " +
                    std::to_string(shape.size() >= 3 ? channels_ : 0) + " channels");
      for (std::int64_t c = 0; t.num_erase_values > 0 && c < channels_; ++c)
        erase_values_.push_back(t.erase_values[t.num_erase_values == 1 ? 0 : c]);
    }
    fill_offset_.push_back(fill_values_.size());
    if (t.kind == TransformKind::random_rotation || t.kind == TransformKind::random_affine) {
      // v1 warps (C, H, W) and (N, C, H, W), v2 any (..., C, H, W); torch's float32 grid is exact
      // below 2^24 pixels a side
      if (shape.size() < 3 || (!t.v2 && shape.size() > 4) || h >= (1 << 24) || w >= (1 << 24) ||
          (t.num_fill_values > 1 && t.num_fill_values != channels_) || (t.num_fill_values == 0 && !t.v2))
        throw Error(std::string(transform_name(t.kind)) + ": samples of rank " + std::to_string(shape.size()) + ", " +
                    size_text(h, w) + ", with " + std::to_string(t.num_fill_values) +
                    " fill values (it takes (C, H, W), v1 (N, C, H, W) and v2 (..., C, H, W) too, sides below 2^24, "
                    "and a fill for all channels or one per channel)");
      for (std::int64_t c = 0; t.num_fill_values > 0 && c < channels_; ++c)
        fill_values_.push_back(t.fill_values[t.num_fill_values == 1 ? 0 : c]);
    }
    h = s.out_h;
    w = s.out_w;
    // (A sample of more elements than an int indexes is refused: the generated program's sizes are
    // 32-bit ints; this also keeps the product from overflowing.)
    if (h > 2147483647 / w || planes_ > 2147483647 / (h * w))
      throw Error(std::string(transform_name(t.kind)) + " makes a sample of " + std::to_string(planes_) + " x " +
                  size_text(h, w) + " elements, more than 2147483647");
    largest = std::max(largest, planes_ * h * w);
    offset_.push_back(mean_.size());
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
  a_.resize(static_cast<std::size_t>(largest));
  b_.resize(static_cast<std::size_t>(largest));
  resize_scratch_.resize(resize_scratch);
  for (const TransformConfig& t : list_)
    if (t.kind == TransformKind::random_resized_crop) crop_.resize(static_cast<std::size_t>(largest));
  gray_.resize(static_cast<std::size_t>(largest / channels_));
}

bool SampleTransforms::draws() const {
  for (const TransformConfig& t : list_)
    if (is_random(t)) return true;
  return false;
}

bool SampleTransforms::draws_python() const {
  for (const TransformConfig& t : list_)
    if (!t.v2 && (t.kind == TransformKind::random_choice || t.kind == TransformKind::random_order)) return true;
  return false;
}

void SampleTransforms::apply(const float* in, float* out, TorchGenerator* gen, PythonRandom* python) {
  Sample x{a_.data(), b_.data()};
  std::memcpy(x.cur, in, static_cast<std::size_t>(in_numel_) * sizeof(float));
  run(0, list_.size(), x, gen, python);
  std::memcpy(out, x.cur, static_cast<std::size_t>(out_numel_) * sizeof(float));
}

std::size_t SampleTransforms::after(std::size_t i) const {
  return i + 1 + (is_container(list_[i].kind) ? static_cast<std::size_t>(list_[i].group) : 0);
}

void SampleTransforms::run(std::size_t begin, std::size_t end, Sample& x, TorchGenerator* gen, PythonRandom* python) {
  float*& cur = x.cur;
  float*& other = x.other;
  bool& view = x.view;
  bool& transposed = x.transposed;
  for (std::size_t i = begin; i < end; i = after(i)) {
    const TransformConfig& t = list_[i];
    const Step& s = steps_[i];
    if (transposed && (t.kind == TransformKind::gaussian_noise ||
                       (t.kind == TransformKind::color_jitter && !std::isnan(t.jitter[2])))) {
      if (transposed_layouts_++ == 0)
        std::fprintf(stderr,
                     "UserWarning: v2.RandomRotation turned a sample by exactly 90 or 270 degrees (torch.rot90, a "
                     "transposed view), and %s sums or draws over it in memory order, which ltgen does not follow: "
                     "that sample may differ from torchvision's by roundings (a ColorJitter's contrast) or in its "
                     "noise, and the random numbers after it may differ\n",
                     transform_name(t.kind));
      transposed = false;
    }
    const bool from_python = !t.v2 && (t.kind == TransformKind::random_choice || t.kind == TransformKind::random_order);
    if (from_python ? !python : is_random(t) && !gen)
      throw Error(std::string("internal: a random transform without ") +
                  (from_python ? "Python's random" : "torch's generator"));
    if (t.kind == TransformKind::random_apply) {
      // v1: `if self.p < torch.rand(1): return img` (applies at u == p); v2: `torch.rand(1) >= p` skips
      float u;
      gen->uniform(&u, 1, 0.0, 1.0);
      const auto p = static_cast<float>(t.p);
      if (t.v2 ? u < p : !(p < u)) run(i + 1, after(i), x, gen, python);
      continue;
    }
    const std::vector<std::size_t>& children = children_[i];
    const auto child_end = [&](std::size_t k) { return k + 1 < children.size() ? children[k + 1] : after(i); };
    if (t.kind == TransformKind::random_choice && !t.v2) {
      // v1: random.choices(transforms, weights=p)[0]: floor(random() * n) without weights, else
      // bisect.bisect_right(cum_weights, random() * total, 0, n - 1)
      const std::size_t n = children.size();
      std::size_t chosen = 0;
      if (t.num_choice_p == 0) {
        chosen = static_cast<std::size_t>(std::floor(python->random() * static_cast<double>(n)));
      } else {
        const double* cum = cum_weights_.data() + weights_offset_[i];
        const double point = python->random() * cum[n - 1];
        std::size_t lo = 0, hi = n - 1;
        while (lo < hi) {
          const std::size_t mid = (lo + hi) / 2;
          if (point < cum[mid])
            hi = mid;
          else
            lo = mid + 1;
        }
        chosen = lo;
      }
      run(children[chosen], child_end(chosen), x, gen, python);
      continue;
    }
    if (t.kind == TransformKind::random_order && !t.v2) {
      // v1: random.shuffle(order) of order = list(range(n)): from the last position down to the
      // second, a swap with _randbelow(i + 1)
      std::vector<std::int64_t>& order = orders_[i];
      for (std::size_t k = 0; k < order.size(); ++k) order[k] = static_cast<std::int64_t>(k);
      for (std::size_t k = order.size(); k-- > 1;)
        std::swap(order[k], order[python->below(static_cast<std::uint32_t>(k + 1))]);
      for (std::int64_t k : order)
        run(children[static_cast<std::size_t>(k)], child_end(static_cast<std::size_t>(k)), x, gen, python);
      continue;
    }
    if (t.kind == TransformKind::random_choice) {
      // v2: torch.multinomial(torch.tensor(p), 1), which for one sample is the argmax of
      // p / exponential_(1): a float64 uniform per choice u, -log1p(-u) rounded to float32
      const float* p = choice_p_.data() + choice_offset_[i];
      std::size_t chosen = 0;
      float best = 0;
      bool nan = false;
      for (std::size_t k = 0; k < children.size(); ++k) {
        const double u = static_cast<double>(gen->random64() & ((1ull << 53) - 1)) * 0x1.0p-53;
        const float v = p[k] / static_cast<float>(-1.0 * std::log1p(-u));
        if (!nan && (std::isnan(v) || k == 0 || v > best)) chosen = k, best = v, nan = std::isnan(v);
      }
      run(children[chosen], child_end(chosen), x, gen, python);
      continue;
    }
    if (t.kind == TransformKind::random_order) {  // v2: for idx in torch.randperm(n)
      std::vector<std::int64_t>& order = orders_[i];
      for (std::size_t k = 0; k < order.size(); ++k) order[k] = static_cast<std::int64_t>(k);
      for (std::size_t k = 0; k + 1 < order.size(); ++k)
        std::swap(order[k], order[k + gen->random() % (order.size() - k)]);
      for (std::int64_t k : order)
        run(children[static_cast<std::size_t>(k)], child_end(static_cast<std::size_t>(k)), x, gen, python);
      continue;
    }
    // `view` follows whether the sample is a crop's strided view: a crop makes one where it is
    // smaller than its (padded) input, keeps one where it neither pads nor crops, and a transform
    // that returns its input as it is (one that did not draw to apply, a Resize to the same size)
    // keeps it; the others make new tensors.
    switch (t.kind) {
      case TransformKind::random_horizontal_flip:
      case TransformKind::random_vertical_flip:
        if (flip(cur, t, s, *gen)) view = false;
        break;
      case TransformKind::random_crop:
        random_crop(cur, other, t, s, gen);
        std::swap(cur, other);
        view = s.cropped_view || (!s.padded && view);
        transposed = transposed && !s.padded;
        break;
      case TransformKind::center_crop:
        center_crop(cur, other, s);
        std::swap(cur, other);
        view = s.cropped_view || (!s.padded && view);
        transposed = transposed && !s.padded;
        break;
      case TransformKind::resize:
        resize(cur, other, t, s, view);
        std::swap(cur, other);
        if (s.out_h != s.h || s.out_w != s.w) view = false, transposed = false;
        break;
      case TransformKind::color_jitter:
        color_jitter(cur, t, s, *gen);
        for (int k = 0; k < 4; ++k)
          if (!std::isnan(t.jitter[2 * k])) view = false;  // (with no factor it returns the image)
        break;
      case TransformKind::random_grayscale: {
        float u;
        gen->uniform(&u, 1, 0.0, 1.0);  // torch.rand(1) < p
        if (u < static_cast<float>(t.p)) grayscale(cur, t, s), view = false;
        break;
      }
      case TransformKind::grayscale:
        grayscale(cur, t, s);
        view = false;
        break;
      case TransformKind::pad: {  // RandomCrop's padding, cropping the whole padded sample: no draws
        TransformConfig crop = t;
        crop.size_h = static_cast<int>(s.out_h);
        crop.size_w = static_cast<int>(s.out_w);
        crop.pad_if_needed = false;
        random_crop(cur, other, crop, s, nullptr);
        std::swap(cur, other);
        if (s.padded) view = false, transposed = false;
        break;
      }
      case TransformKind::random_invert:  // invert: 1 - x (the bound of float images)
        if (applies(t, *gen)) {
          for (std::int64_t e = 0; e < planes_ * s.h * s.w; ++e) cur[e] = 1.0f - cur[e];
          view = false;
        }
        break;
      case TransformKind::random_solarize:
        if (applies(t, *gen)) {  // where(x >= threshold, 1 - x, x), the threshold as float32
          const auto threshold = static_cast<float>(t.threshold);
          for (std::int64_t e = 0; e < planes_ * s.h * s.w; ++e)
            if (cur[e] >= threshold) cur[e] = 1.0f - cur[e];
          view = false;
        }
        break;
      case TransformKind::random_autocontrast:
        if (applies(t, *gen)) autocontrast(cur, t, s), view = false;
        break;
      case TransformKind::gaussian_noise:
        noise(cur, planes_ * s.h * s.w, t, *gen);
        view = false;
        break;
      case TransformKind::random_resized_crop:
        view = random_resized_crop(cur, other, i, s, *gen, view, transposed);
        std::swap(cur, other);
        break;
      case TransformKind::random_rotation:
      case TransformKind::random_affine: {
        const Layout made = warp(cur, other, i, s, *gen);
        std::swap(cur, other);
        view = false;
        transposed = made == Layout::transposed_input ? !transposed : made == Layout::input && transposed;
        break;
      }
      case TransformKind::random_apply:
      case TransformKind::random_choice:
      case TransformKind::random_order:
        break;  // (drawn above)
      case TransformKind::random_erasing: {
        float u;
        gen->uniform(&u, 1, 0.0, 1.0);  // torch.rand(1) < p, in float32 (v2: >= p skips)
        // (v1 erases a clone even where no box fits; v2 then returns the image)
        if (u < static_cast<float>(t.p) && (erase(cur, i, s, *gen) || !t.v2)) view = false;
        break;
      }
      case TransformKind::normalize:
        normalize(cur, s, mean_.data() + offset_[i], std_.data() + offset_[i]);
        view = false;
        break;
    }
  }
}

// RandomHorizontalFlip / RandomVerticalFlip: torch.rand(1) < p, then the sample reversed.
bool SampleTransforms::flip(float* sample, const TransformConfig& t, const Step& s, TorchGenerator& gen) const {
  float u;
  gen.uniform(&u, 1, 0.0, 1.0);                      // torch.rand(1)
  if (!(u < static_cast<float>(t.p))) return false;  // a float32 tensor against p: compared in float32
  const bool horizontal = t.kind == TransformKind::random_horizontal_flip;
  const std::int64_t h = s.h, w = s.w;
  for (std::int64_t c = 0; c < planes_; ++c) {
    float* plane = sample + c * h * w;
    if (horizontal) {
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t a = 0, b = w - 1; a < b; ++a, --b) std::swap(plane[y * w + a], plane[y * w + b]);
    } else {
      for (std::int64_t a = 0, b = h - 1; a < b; ++a, --b)
        for (std::int64_t x = 0; x < w; ++x) std::swap(plane[a * w + x], plane[b * w + x]);
    }
  }
  return true;
}

// RandomCrop.forward: pad, draw the corner, crop.
void SampleTransforms::random_crop(const float* in, float* out, const TransformConfig& t, const Step& s,
                                   TorchGenerator* gen) const {
  const CropPadding c = crop_padding(t, s.h, s.w);
  std::int64_t top = 0, left = 0;
  if (t.v2) {  // v2's make_params: a coordinate along a dimension the crop is smaller in
    if (c.padded_h > t.size_h) gen->randint(&top, 1, c.padded_h - t.size_h + 1);
    if (c.padded_w > t.size_w) gen->randint(&left, 1, c.padded_w - t.size_w + 1);
  } else if (c.padded_h != t.size_h || c.padded_w != t.size_w) {  // get_params: nothing drawn for the whole
    gen->randint(&top, 1, c.padded_h - t.size_h + 1);
    gen->randint(&left, 1, c.padded_w - t.size_w + 1);
  }
  const auto fill = static_cast<float>(t.fill);  // torch_pad's value=float(fill) on a float32 tensor
  for (std::int64_t p = 0; p < planes_; ++p) {
    const float* from = in + p * s.h * s.w;
    float* to = out + p * s.out_h * s.out_w;
    for (std::int64_t y = 0; y < s.out_h; ++y) {
      const std::int64_t sy = staged_source(top + y, c.h, c.h_stages, t.padding_mode);
      for (std::int64_t x = 0; x < s.out_w; ++x) {
        const std::int64_t sx = staged_source(left + x, c.w, c.w_stages, t.padding_mode);
        to[y * s.out_w + x] = sy < 0 || sx < 0 ? fill : from[sy * s.w + sx];
      }
    }
  }
}

// F.center_crop: zeros around a sample smaller than the crop ((crop - size) // 2 before, the rest
// after), then the crop from round((size - crop) / 2) of the padded sample.
void SampleTransforms::center_crop(const float* in, float* out, const Step& s) const {
  const auto origin = [](std::int64_t size, std::int64_t crop) {
    if (crop > size) return -((crop - size) / 2);  // the padding before, then the padded sample's whole
    return half_to_even(size - crop);
  };
  const std::int64_t top = origin(s.h, s.out_h), left = origin(s.w, s.out_w);
  for (std::int64_t p = 0; p < planes_; ++p) {
    const float* from = in + p * s.h * s.w;
    float* to = out + p * s.out_h * s.out_w;
    for (std::int64_t y = 0; y < s.out_h; ++y) {
      const std::int64_t sy = top + y;
      for (std::int64_t x = 0; x < s.out_w; ++x) {
        const std::int64_t sx = left + x;
        to[y * s.out_w + x] = sy < 0 || sy >= s.h || sx < 0 || sx >= s.w ? 0.0f : from[sy * s.w + sx];
      }
    }
  }
}

// F.resize: interpolate(image[None], size, mode, antialias) image by image (its channels_ planes:
// torch's kernel depends on the channel count; antialias only where the mode filters).
// (`view`: the image is the view a crop just made, as torch resizes it.)
void SampleTransforms::resize(const float* in, float* out, const TransformConfig& t, const Step& s, bool view) {
  const bool antialias =
      t.antialias && (t.interpolation == ResizeMode::bilinear || t.interpolation == ResizeMode::bicubic);
  for (std::int64_t image = 0; image < planes_ / channels_; ++image)
    resize_image(in + image * channels_ * s.h * s.w, channels_, static_cast<int>(s.h), static_cast<int>(s.w),
                 out + image * channels_ * s.out_h * s.out_w, static_cast<int>(s.out_h), static_cast<int>(s.out_w),
                 t.interpolation, antialias, resize_scratch_.data(), torch_threads_ == 1, view);
}

// The image transforms of torchvision's _functional_tensor, each torch op a float32 operation
// rounded on its own (a python float taken as float32; `a + b` of tensors, add's fmadd(b, 1, a),
// rounds once), on (C, H, W) images of 1 or 3 channels, image by image.
namespace {

// clamp(0, 1): NaN and -0.0 stay.
float clamp01(float v) {
  if (v < 0.0f) v = 0.0f;
  if (v > 1.0f) v = 1.0f;
  return v;
}

// rgb_to_grayscale: 0.2989 r + 0.587 g + 0.114 b, left to right; v2's
// r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114), fused.
float luma(float r, float g, float b, bool v2) {
  if (v2) return std::fma(b, 0.114f, std::fma(g, 0.587f, r * 0.2989f));
  const float a = 0.2989f * r, c = 0.587f * g, d = 0.114f * b;
  const float ac = a + c;
  return ac + d;
}

// _blend: (ratio * img1 + (1.0 - ratio) * img2).clamp(0, 1), 1.0 - ratio in double; v2's
// img1.mul(ratio).add_(img2, alpha=1.0 - ratio) of a tensor img2, fused (its vectorized loop's
// fmadd, and GCC's in the scalar one). (Of the CPU scalar that ColorJitter's contrast blends with,
// GCC's scalar loop fuses some elements and not others, by the data's alignment: the reader refuses
// v2's contrast.)
struct Blend {
  float ratio, rest;
  bool v2;
  Blend(double r, bool v2) : ratio(static_cast<float>(r)), rest(static_cast<float>(1.0 - r)), v2(v2) {}
  float operator()(float x, float other) const {
    if (v2) return clamp01(std::fma(other, rest, x * ratio));
    const float a = ratio * x, b = rest * other;
    return clamp01(a + b);
  }
};

// Tensor.to(torch.int32) of a float: x86's truncation, INT_MIN where it does not fit (NaN too).
int to_int32(float x) {
  return x >= -2147483648.0f && x < 2147483648.0f ? static_cast<int>(x) : std::numeric_limits<int>::min();
}

// _rgb2hsv (v2's _rgb_to_hsv: the same steps, but h * (1 / 6) where v1 divides by 6) of one pixel,
// with the hue then moved by `shift`: (h + shift) % 1.0, torch's remainder (fmod, then + 1 where
// it is below 0). A NaN channel makes the pixel's maximum and minimum NaN (torch's max, min and
// aminmax over the channels propagate it).
struct Hsv {
  float h, s, v;
};
Hsv shifted_hsv(float r, float g, float b, float shift, bool v2) {
  float maxc = std::max(std::max(r, g), b), minc = std::min(std::min(r, g), b);
  if (std::isnan(r) || std::isnan(g) || std::isnan(b)) maxc = minc = r + g + b;
  const bool eqc = maxc == minc;
  const float range = maxc - minc;
  const float s = range / (eqc ? 1.0f : maxc);
  const float divisor = eqc ? 1.0f : range;
  const float rc = (maxc - r) / divisor, gc = (maxc - g) / divisor, bc = (maxc - b) / divisor;
  const float hr = static_cast<float>(maxc == r) * (bc - gc);
  const float hg = static_cast<float>(maxc == g && maxc != r) * ((2.0f + rc) - bc);
  const float hb = static_cast<float>(maxc != g && maxc != r) * ((4.0f + gc) - rc);
  float h = (hr + hg) + hb;
  h = std::fmod((v2 ? h * static_cast<float>(1.0 / 6.0) : h / 6.0f) + 1.0f, 1.0f);
  h = std::fmod(h + shift, 1.0f);
  if (h != 0.0f && h < 0.0f) h += 1.0f;
  return {h, s, maxc};
}

// _hsv2rgb: the einsum of the sector's one-hot mask with (v, q, p, p, t, v) and the like, which
// gives its one value (the zero products add nothing, or a NaN where one is).
void to_rgb(const Hsv& x, float& r, float& g, float& b) {
  const float v = x.v, s = x.s;
  const float i = std::floor(x.h * 6.0f);
  const float f = x.h * 6.0f - i;
  const float p = clamp01(v * (1.0f - s));
  const float q = clamp01(v * (1.0f - s * f));
  const float t = clamp01(v * (1.0f - s * (1.0f - f)));
  const int sector = std::isnan(i) ? -1 : static_cast<int>(i) % 6;  // (NaN: no sector; the sums are NaN)
  const float red[6] = {v, q, p, p, t, v}, green[6] = {t, v, v, q, p, p}, blue[6] = {p, p, t, v, v, q};
  float out[3] = {0.0f, 0.0f, 0.0f};
  for (int k = 0; k < 6; ++k) {
    const float m = k == sector ? 1.0f : 0.0f;
    out[0] += m * red[k];
    out[1] += m * green[k];
    out[2] += m * blue[k];
  }
  r = out[0];
  g = out[1];
  b = out[2];
}

// v2's _hsv_to_rgb: t as (s f + (1 - s)) v, the sector's channels gathered from (v, p, q, t).
void to_rgb_v2(const Hsv& x, float& r, float& g, float& b) {
  const float v = x.v, s = x.s;
  const float h6 = x.h * 6.0f;
  const float f = h6 - std::floor(h6);
  int sector = to_int32(std::floor(h6)) % 6;  // remainder_: Python's sign
  if (sector < 0) sector += 6;
  const float sxf = s * f, one_minus_s = 1.0f - s;
  const float q = clamp01((1.0f - sxf) * v);
  const float t = clamp01((sxf + one_minus_s) * v);
  const float p = clamp01(one_minus_s * v);
  const float vpqt[4] = {v, p, q, t};
  static const int kSelect[3][6] = {{0, 2, 1, 1, 3, 0}, {3, 0, 0, 2, 1, 1}, {1, 1, 3, 0, 0, 2}};
  r = vpqt[kSelect[0][sector]];
  g = vpqt[kSelect[1][sector]];
  b = vpqt[kSelect[2][sector]];
}

}  // namespace

// ColorJitter.forward: torch.randperm(4), then a float32 uniform draw for each factor it has, in
// the order brightness, contrast, saturation, hue; then the adjustments in the permutation's order.
void SampleTransforms::color_jitter(float* sample, const TransformConfig& t, const Step& s, TorchGenerator& gen) {
  int order[4] = {0, 1, 2, 3};
  for (int i = 0; i < 3; ++i) std::swap(order[i], order[i + static_cast<int>(gen.random() % (4 - i))]);
  double factor[4];
  for (int k = 0; k < 4; ++k) {
    if (std::isnan(t.jitter[2 * k])) continue;
    float u;
    gen.uniform(&u, 1, t.jitter[2 * k], t.jitter[2 * k + 1]);
    factor[k] = u;
  }
  const std::int64_t plane = s.h * s.w;
  for (std::int64_t image = 0; image < planes_ / channels_; ++image) {
    float* x = sample + image * channels_ * plane;
    for (int k : order) {
      if (std::isnan(t.jitter[2 * k])) continue;
      const Blend blend(factor[k], t.v2);
      if (k == 0 && t.v2) {  // v2's adjust_brightness: image.mul(factor).clamp_(0, 1)
        for (std::int64_t e = 0; e < channels_ * plane; ++e) x[e] = clamp01(x[e] * blend.ratio);
      } else if (k == 0) {  // adjust_brightness: blended with zeros
        for (std::int64_t e = 0; e < channels_ * plane; ++e) x[e] = blend(x[e], 0.0f);
      } else if (k == 1) {  // adjust_contrast: with the mean of the grayscale image (the image itself with 1 channel)
        float* gray = gray_.data();
        for (std::int64_t e = 0; e < plane; ++e)
          gray[e] = channels_ == 3 ? luma(x[e], x[plane + e], x[2 * plane + e], t.v2) : x[e];
        // torch.mean of one image's plane: split among torch's threads from 32768 elements
        // (parallel_for's grain), each chunk summed alone and the threads' sums (zeros for those
        // without one) summed again; a batch of images splits by image instead.
        float sum;
        if (planes_ == channels_ && plane >= 32768 && torch_threads_ > 1) {
          const std::int64_t tasks = std::min<std::int64_t>(torch_threads_, (plane + 32767) / 32768);
          const std::int64_t chunk = (plane + tasks - 1) / tasks;
          std::fill(partial_sums_.begin(), partial_sums_.end(), 0.0f);
          for (std::int64_t c = 0; c < tasks && c * chunk < plane; ++c) {
            const float* part = gray + c * chunk;
            partial_sums_[static_cast<std::size_t>(c)] =
                torch_sum([part](std::int64_t e) { return part[e]; }, std::min(chunk, plane - c * chunk));
          }
          const float* partial = partial_sums_.data();
          sum = torch_sum([partial](std::int64_t e) { return partial[e]; }, torch_threads_);
        } else {
          sum = torch_sum([gray](std::int64_t e) { return gray[e]; }, plane);
        }
        const float mean = sum / static_cast<float>(plane);
        for (std::int64_t e = 0; e < channels_ * plane; ++e) x[e] = blend(x[e], mean);
      } else if (channels_ == 3 && k == 2) {  // adjust_saturation: with the grayscale image
        for (std::int64_t e = 0; e < plane; ++e) {
          const float gray = luma(x[e], x[plane + e], x[2 * plane + e], t.v2);
          for (std::int64_t c = 0; c < 3; ++c) x[c * plane + e] = blend(x[c * plane + e], gray);
        }
      } else if (channels_ == 3 && k == 3) {  // adjust_hue
        const auto shift = static_cast<float>(factor[k]);
        for (std::int64_t e = 0; e < plane; ++e) {
          float &r = x[e], &g = x[plane + e], &b = x[2 * plane + e];
          (t.v2 ? to_rgb_v2 : to_rgb)(shifted_hsv(r, g, b, shift, t.v2), r, g, b);
        }
      }
    }
  }
}

// autocontrast, plane by plane: its minimum and maximum (NaN where it holds one), then v1's
// ((x - min) * (1 / (max - min))).clamp(0, 1), min 0 and scale 1 where the scale is not finite;
// v2's ((x - min) / ((max - min) * 1.0)).clamp(0, 1), min 0 and divisor 1 where max == min.
void SampleTransforms::autocontrast(float* sample, const TransformConfig& t, const Step& s) const {
  const std::int64_t plane = s.h * s.w;
  for (std::int64_t p = 0; p < planes_; ++p) {
    float* x = sample + p * plane;
    float lo = x[0], hi = x[0];
    bool nan = false;
    for (std::int64_t e = 0; e < plane; ++e) {
      nan = nan || std::isnan(x[e]);
      lo = std::min(lo, x[e]);
      hi = std::max(hi, x[e]);
    }
    if (nan) lo = hi = std::numeric_limits<float>::quiet_NaN();  // amin and amax propagate NaN
    if (t.v2) {
      float divisor = (hi - lo) * 1.0f;
      if (hi == lo) lo = 0.0f, divisor = 1.0f;
      for (std::int64_t e = 0; e < plane; ++e) x[e] = clamp01((x[e] - lo) / divisor);
    } else {
      float scale = 1.0f / (hi - lo);
      if (!std::isfinite(scale)) lo = 0.0f, scale = 1.0f;
      for (std::int64_t e = 0; e < plane; ++e) x[e] = clamp01((x[e] - lo) * scale);
    }
  }
}

// rgb_to_grayscale keeping the channels: 3 channels become their luma three times, 1 stays.
void SampleTransforms::grayscale(float* sample, const TransformConfig& t, const Step& s) const {
  if (channels_ != 3) return;
  const std::int64_t plane = s.h * s.w;
  for (std::int64_t image = 0; image < planes_ / 3; ++image) {
    float* x = sample + image * 3 * plane;
    for (std::int64_t e = 0; e < plane; ++e) {
      const float gray = luma(x[e], x[plane + e], x[2 * plane + e], t.v2);
      x[e] = x[plane + e] = x[2 * plane + e] = gray;
    }
  }
}

// v2's gaussian_noise: noise = mean + torch.randn_like(x) * sigma, x + noise, clamped to [0, 1] with
// clip (NaN stays NaN), each a float32 operation. (The noise is drawn into b_, which is the other
// buffer's whenever `sample` is a_; apply keeps the sample in a_ or b_, so it draws into the free one.)
void SampleTransforms::noise(float* sample, std::int64_t numel, const TransformConfig& t, TorchGenerator& gen) {
  float* draws = sample == a_.data() ? b_.data() : a_.data();
  gen.normal(draws, numel, 0.0, 1.0);
  const auto mean = static_cast<float>(t.noise_mean), sigma = static_cast<float>(t.sigma);
  for (std::int64_t k = 0; k < numel; ++k) {
    const float scaled = draws[k] * sigma;
    const float noise = mean + scaled;
    float v = sample[k] + noise;
    if (t.clip) {
      if (v < 0.0f) v = 0.0f;
      if (v > 1.0f) v = 1.0f;
    }
    sample[k] = v;
  }
}

// RandomResizedCrop.forward: get_params' box, then F.resized_crop (the box as a view, resized as
// F.resize does, image by image; a box of the size's is that view).
bool SampleTransforms::random_resized_crop(const float* in, float* out, std::size_t i, const Step& s,
                                           TorchGenerator& gen, bool view, bool& transposed) {
  const TransformConfig& t = list_[i];
  const Box box = boxes_[i].resized_crop(gen, s.h, s.w);
  const std::int64_t h = box.height, w = box.width;
  for (std::int64_t p = 0; p < planes_; ++p)
    for (std::int64_t y = 0; y < h; ++y)
      std::memcpy(crop_.data() + (p * h + y) * w, in + (p * s.h + box.top + y) * s.w + box.left,
                  static_cast<std::size_t>(w) * sizeof(float));
  const bool antialias =
      t.antialias && (t.interpolation == ResizeMode::bilinear || t.interpolation == ResizeMode::bicubic);
  const bool box_view = h != s.h || w != s.w || view;
  if (h != s.out_h || w != s.out_w) transposed = false;  // (resized: a new tensor)
  for (std::int64_t image = 0; image < planes_ / channels_; ++image)
    resize_image(crop_.data() + image * channels_ * h * w, channels_, static_cast<int>(h), static_cast<int>(w),
                 out + image * channels_ * s.out_h * s.out_w, static_cast<int>(s.out_h), static_cast<int>(s.out_w),
                 t.interpolation, antialias, resize_scratch_.data(), torch_threads_ == 1, box_view);
  return box_view && h == s.out_h && w == s.out_w;
}

// RandomErasing (its draw of p done): get_params' box and value (value="random":
// torch.empty([C, h, w]).normal_(), drawn before the corner); the box of every image of the sample
// set to it. No box in 10 attempts: the sample as it is.
bool SampleTransforms::erase(float* sample, std::size_t i, const Step& s, TorchGenerator& gen) {
  const TransformConfig& t = list_[i];
  const bool random = t.num_erase_values == 0;
  float* drawn = sample == a_.data() ? b_.data() : a_.data();  // the buffer apply does not hold the sample in
  const Box box = boxes_[i].erasing(gen, s.h, s.w, [&](std::int64_t h, std::int64_t w) {
    if (random) gen.normal(drawn, channels_ * h * w, 0.0, 1.0);
  });
  if (!box.found) return false;
  const float* fixed = erase_values_.data() + erase_offset_[i];
  const std::int64_t h = box.height, w = box.width;
  for (std::int64_t p = 0; p < planes_; ++p) {
    const std::int64_t c = p % channels_;
    float* plane = sample + p * s.h * s.w;
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x)
        plane[(box.top + y) * s.w + box.left + x] = random ? drawn[(c * h + y) * w + x] : fixed[c];
  }
  return true;
}

// RandomRotation and RandomAffine: get_params' (v2: make_params') draws, then F.rotate or F.affine
// (ltrt/affine_warp.hpp). v2's rotate takes the angle modulo 360 and, about the image's centre,
// turns by 0, 180 and (a square image) 90 and 270 degrees by moving the pixels (clone, rot90).
SampleTransforms::Layout SampleTransforms::warp(const float* in, float* out, std::size_t i, const Step& s,
                                                TorchGenerator& gen) const {
  const TransformConfig& t = list_[i];
  // torch.empty(1).uniform_(lo, hi).item(): a float32 as a Python float
  const auto draw = [&gen](double lo, double hi) {
    float u;
    gen.uniform(&u, 1, lo, hi);
    return static_cast<double>(u);
  };
  const double angle = draw(t.degrees[0], t.degrees[1]);
  double tx = 0, ty = 0, scale = 1, shear_x = 0, shear_y = 0;
  if (t.kind == TransformKind::random_affine) {
    if (!std::isnan(t.translate[0])) {  // int(round(...)): halves to even, -0 an int 0
      const double max_dx = t.translate[0] * static_cast<double>(s.w);
      const double max_dy = t.translate[1] * static_cast<double>(s.h);
      tx = static_cast<double>(static_cast<std::int64_t>(std::nearbyint(draw(-max_dx, max_dx))));
      ty = static_cast<double>(static_cast<std::int64_t>(std::nearbyint(draw(-max_dy, max_dy))));
    }
    if (t.scale[0] > 0) scale = draw(t.scale[0], t.scale[1]);
    if (t.num_shear > 0) shear_x = draw(t.shear[0], t.shear[1]);
    if (t.num_shear == 4) shear_y = draw(t.shear[2], t.shear[3]);
  }
  // the centre in pixels, relative to the image's (c - size * 0.5)
  const double cx = t.center_given ? t.center[0] - static_cast<double>(s.w) * 0.5 : 0.0;
  const double cy = t.center_given ? t.center[1] - static_cast<double>(s.h) * 0.5 : 0.0;
  const std::int64_t h = s.h, w = s.w, planes = planes_;
  std::array<double, 6> matrix;
  if (t.kind == TransformKind::random_affine) {
    matrix = inverse_affine_matrix(cx, cy, angle, tx, ty, scale, shear_x, shear_y, t.v2);
  } else if (!t.v2) {
    matrix = inverse_affine_matrix(cx, cy, -angle, 0.0, 0.0, 1.0, 0.0, 0.0, false);
  } else {
    const double turn = python_float_mod(angle, 360.0);
    if (!t.center_given && (turn == 0 || turn == 180 || (h == w && (turn == 90 || turn == 270)))) {
      for (std::int64_t p = 0; p < planes; ++p) {
        const float* src = in + p * h * w;
        float* dst = out + p * h * w;
        for (std::int64_t y = 0; y < h; ++y)
          for (std::int64_t x = 0; x < w; ++x)
            dst[y * w + x] = turn == 0     ? src[y * w + x]
                             : turn == 180 ? src[(h - 1 - y) * w + (w - 1 - x)]
                             : turn == 90  ? src[x * w + (w - 1 - y)]  // rot90: flip(W), transpose
                                           : src[(h - 1 - x) * w + y];  // rot90 k=3: flip(H), transpose
      }
      return turn == 90 || turn == 270 ? Layout::transposed_input : Layout::input;
    }
    matrix = inverse_affine_matrix(cx, cy, -turn, 0.0, 0.0, 1.0, 0.0, 0.0, true);
  }
  WarpFill fill;
  if (t.num_fill_values > 0)
    fill.values = fill_values_.data() + fill_offset_[i], fill.count = static_cast<int>(channels_);
  fill.v2 = t.v2;
  affine_warp(in, out, planes / channels_, channels_, h, w, matrix, t.interpolation == ResizeMode::bilinear, fill);
  return Layout::contiguous;
}

std::int64_t SampleTransforms::transposed_layouts() const { return transposed_layouts_; }

std::int64_t SampleTransforms::uncertain_boxes() const {
  std::int64_t n = 0;
  for (const BoxDraws& b : boxes_) n += b.uncertain();
  return n;
}

// F.normalize: tensor.sub_(mean).div_(std), each a float32 operation.
void SampleTransforms::normalize(float* sample, const Step& s, const float* mean, const float* std) const {
  const std::int64_t plane = s.h * s.w;
  for (std::int64_t c = 0; c < planes_; ++c) {
    const float m = mean[c % channels_], d = std[c % channels_];
    float* v = sample + c * plane;
    for (std::int64_t k = 0; k < plane; ++k) {
      const float shifted = v[k] - m;
      v[k] = shifted / d;
    }
  }
}

std::string persistent_workers_refusal(std::int64_t reload_dataloaders_every_n_epochs) {
  if (reload_dataloaders_every_n_epochs > 0)
    return "is not supported yet beside data.persistent_workers (every reload makes a new DataLoader, whose "
           "iterator seeds new workers): set one of them off";
  return "";
}

}  // namespace ltrt
