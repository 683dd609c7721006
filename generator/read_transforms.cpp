// data.<split>.transforms: torchvision.transforms' RandomHorizontalFlip, RandomVerticalFlip,
// RandomCrop, CenterCrop, Resize and Normalize on a float32 input of shape (..., H, W), with
// torchvision's own checks (its ValueErrors become messages here) and the limits of what ltgen does.
#include "read_transforms.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <ltrt/affine_warp.hpp>
#include <ltrt/config_reader.hpp>
#include <ltrt/python_repr.hpp>
#include <ltrt/random_box.hpp>
#include <ltrt/sample_transforms.hpp>

namespace ltgen {
namespace {

using ltrt::json::Kind;
using JsonValue = ltrt::json::Value;

[[noreturn]] void fail_at(const JsonValue& v, const std::string& path, const std::string& message) {
  throw ltrt::ConfigError(path, v.pos, message);
}

const std::vector<std::string> kSupported = {
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomCrop",
    "CenterCrop",
    "Resize",
    "Pad",
    "Normalize",
    "RandomInvert",
    "RandomSolarize",
    "RandomAutocontrast",
    "ColorJitter",
    "RandomGrayscale",
    "Grayscale",
    "RandomResizedCrop",
    "RandomErasing",
    "RandomApply",
    "RandomRotation",
    "RandomAffine",
    "RandomChoice",
    "RandomOrder",
    "v2.RandomHorizontalFlip",
    "v2.RandomVerticalFlip",
    "v2.RandomCrop",
    "v2.CenterCrop",
    "v2.Resize",
    "v2.Pad",
    "v2.Normalize",
    "v2.RandomInvert",
    "v2.RandomSolarize",
    "v2.RandomAutocontrast",
    "v2.ColorJitter",
    "v2.RandomGrayscale",
    "v2.Grayscale",
    "v2.RandomResizedCrop",
    "v2.RandomErasing",
    "v2.RandomApply",
    "v2.RandomRotation",
    "v2.RandomAffine",
    "v2.GaussianNoise",
    "v2.RandomChoice",
    "v2.RandomOrder",
};
// What the messages list.
const char* const kSupportedText =
    "RandomHorizontalFlip, RandomVerticalFlip, RandomCrop, CenterCrop, Resize, RandomResizedCrop, Pad, "
    "Normalize, RandomInvert, RandomSolarize, RandomAutocontrast, ColorJitter, RandomGrayscale, Grayscale, "
    "RandomErasing, RandomApply, RandomRotation, RandomAffine, RandomChoice and RandomOrder, v2's of them, and "
    "v2.GaussianNoise";
constexpr double kFloatMax = 3.4028234663852886e38;  // float32's largest
// torchvision's other transforms: named as not supported yet rather than as misspellings.
const char* const kOthers =
    " GaussianBlur"
    " RandomPerspective FiveCrop TenCrop"
    " LinearTransformation RandomPosterize RandomAdjustSharpness"
    " RandomEqualize AutoAugment RandAugment TrivialAugmentWide AugMix ElasticTransform ToTensor PILToTensor"
    " ConvertImageDtype ToPILImage Lambda Compose ";

std::string describe_number(const JsonValue& v) { return v.is_number() ? ltrt::python_repr(v.num) : "..."; }

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// An int, or a list of ints of one of the lengths `lengths` (torchvision's size and padding).
std::vector<std::int64_t> ints(const JsonValue& v, const std::string& path, const std::vector<size_t>& lengths,
                               const std::string& what, std::int64_t min) {
  std::vector<const JsonValue*> items;
  if (v.kind == Kind::number) items.push_back(&v);
  if (v.kind == Kind::array)
    for (const JsonValue& x : v.items) items.push_back(&x);
  bool length_ok = v.kind == Kind::number;
  for (size_t n : lengths) length_ok = length_ok || items.size() == n;
  if (!length_ok) fail_at(v, path, "expected " + what);
  std::vector<std::int64_t> out;
  for (size_t k = 0; k < items.size(); ++k)
    out.push_back(
        ltrt::read_integer(*items[k], v.kind == Kind::array ? path + "[" + std::to_string(k) + "]" : path, min));
  return out;
}

// A crop's size: an int or [size] for a square, or [height, width].
void read_size(ltrt::ConfigObject& o, TransformSpec& t, const Shape& model) {
  const JsonValue* size = o.get("size");
  if (!size)
    o.fail_here(t.type + " needs 'size' (the crop's [height, width], such as the model input's " +
                shape_text({model[model.size() - 2], model.back()}) + ")");
  const std::vector<std::int64_t> hw = ints(*size, o.path_of("size"), {1, 2}, "an int or [height, width]", 1);
  t.size_h = hw[0];
  t.size_w = hw.size() == 2 ? hw[1] : hw[0];
  if (std::max(t.size_h, t.size_w) > 2147483647)
    o.fail("size", "is beyond 2147483647: the generated program's sizes are 32-bit ints");
}

// The runtime's form of a crop or resize, to ask it what torchvision refuses and makes.
ltrt::TransformConfig size_config(const TransformSpec& t) {
  ltrt::TransformConfig c{};
  c.kind = t.type == "CenterCrop" ? ltrt::TransformKind::center_crop
           : t.type == "Resize"   ? ltrt::TransformKind::resize
           : t.type == "Pad"      ? ltrt::TransformKind::pad
                                  : ltrt::TransformKind::random_crop;
  c.max_size = static_cast<int>(t.max_size);
  c.size_h = static_cast<int>(t.size_h);
  c.size_w = static_cast<int>(t.size_w);
  c.pad_left = static_cast<int>(t.pad_left);
  c.pad_right = static_cast<int>(t.pad_right);
  c.pad_top = static_cast<int>(t.pad_top);
  c.pad_bottom = static_cast<int>(t.pad_bottom);
  c.padding_mode = t.padding_mode == "edge"        ? ltrt::PadMode::edge
                   : t.padding_mode == "reflect"   ? ltrt::PadMode::reflect
                   : t.padding_mode == "symmetric" ? ltrt::PadMode::symmetric
                                                   : ltrt::PadMode::constant;
  c.pad_if_needed = t.pad_if_needed;
  c.v2 = t.v2;
  return c;
}

// Normalize's mean or std: a number or a list of 1 or C numbers, as float32.
std::vector<float> values(ltrt::ConfigObject& o, const std::string& key, std::int64_t channels) {
  const JsonValue* v = o.get(key);
  if (!v) o.fail_here("Normalize needs '" + key + "': a number per channel, such as [0.5, 0.5, 0.5]");
  const std::string at = o.path_of(key);
  std::vector<const JsonValue*> items;
  if (v->kind == Kind::number) items.push_back(v);
  if (v->kind == Kind::array)
    for (const JsonValue& x : v->items) items.push_back(&x);
  if (items.empty()) fail_at(*v, at, "expected a number or a list of numbers, one per channel");
  if (items.size() != 1 && static_cast<std::int64_t>(items.size()) != channels)
    fail_at(*v, at,
            std::to_string(items.size()) + " values for " + std::to_string(channels) +
                " channels: give one per channel (dimension -3 of the sample) or one for all");
  std::vector<float> out;
  for (size_t k = 0; k < items.size(); ++k) {
    const JsonValue& x = *items[k];
    const std::string xat = v->kind == Kind::array ? at + "[" + std::to_string(k) + "]" : at;
    if (x.kind != Kind::number || !std::isfinite(x.num)) fail_at(x, xat, "expected a finite number");
    const auto f = static_cast<float>(x.num);
    if (!std::isfinite(f)) fail_at(x, xat, "is beyond float32's range (torch.as_tensor makes it a float32)");
    out.push_back(f);
  }
  return out;
}

// torchvision's refusal of a random transform (`name`) outside data.train is ltgen's.
[[noreturn]] void refuse_random(const JsonValue& type, const std::string& at, const std::string& name,
                                const std::string& split) {
  fail_at(type, at,
          name + " draws random numbers: random transforms in data." + split +
              " are not supported yet (data.train's may draw; give " + split +
              " deterministic ones, such as Normalize)");
}

// Resize and RandomResizedCrop go through F.resize, RandomRotation and RandomAffine through
// grid_sample: v1 takes (C, H, W) or (N, C, H, W), v2 reshapes any (..., C, H, W) to (-1, C, H, W).
void check_image_rank(const JsonValue& type, const std::string& at, const TransformSpec& t, const InputSpec& input,
                      const Shape& s) {
  if (s.size() < 3 || (!t.v2 && s.size() > 4))
    fail_at(type, at,
            (t.v2 ? "v2." + t.type + " takes (..., C, H, W)" : t.type + " takes (C, H, W) or (N, C, H, W)") +
                ", but model.inputs." + input.name + " is " + shape_text(input.shape) +
                " per sample (torchvision raises there)" +
                (s.size() < 3 ? ": give it a channel, such as [1, " + std::to_string(input.shape.end()[-2]) + ", " +
                                    std::to_string(input.shape.back()) + "]"
                              : ""));
}

// F.resize's interpolation and antialias (Resize's, RandomResizedCrop's).
void read_resize_mode(ltrt::ConfigObject& o, TransformSpec& t) {
  t.interpolation = o.string("interpolation", "bilinear", {"nearest", "nearest-exact", "bilinear", "bicubic"}, false);
  if (const JsonValue* a = o.get("antialias"); a && a->is_null())
    o.fail("antialias", "None is False for tensors in torchvision (with a warning): write false");
  t.antialias = o.boolean("antialias", true);
}

// RandomResizedCrop's and RandomErasing's scale or ratio: [min, max], checked where torch would
// raise on them (a min above the max fails uniform_, a negative area math.sqrt, a ratio's log must
// be finite as float32); `most`: the scale's largest.
std::array<double, 2> read_bounds(ltrt::ConfigObject& o, const char* key, std::array<double, 2> fallback, bool ratio,
                                  double most = kFloatMax) {
  const JsonValue* v = o.get(key);
  if (!v) return fallback;
  const std::string at = o.path_of(key);
  if (v->kind != Kind::array || v->items.size() != 2 || !v->items[0].is_number() || !v->items[1].is_number() ||
      !std::isfinite(v->items[0].num) || !std::isfinite(v->items[1].num))
    fail_at(*v, at, "expected [min, max], two numbers");
  const std::array<double, 2> b = {v->items[0].num, v->items[1].num};
  if (b[0] > b[1])
    fail_at(*v, at, "the min is above the max: torchvision warns and torch's uniform_ raises; write [min, max]");
  if (ratio && (b[0] < 1e-38 || b[1] > 1e38))
    fail_at(*v, at,
            "a ratio must lie within [1e-38, 1e38] (torch's float32 exp of its log overflows or vanishes "
            "beyond, and torchvision raises)");
  if (ratio && static_cast<float>(b[0]) != static_cast<float>(b[1])) {
    float lo[3], hi[3];  // torch's float32 logs of the two: where their roundings may cross, uniform_ raises
    const int nl = ltrt::faithful_floats(std::log(static_cast<double>(static_cast<float>(b[0]))), lo);
    const int nh = ltrt::faithful_floats(std::log(static_cast<double>(static_cast<float>(b[1]))), hi);
    if (*std::max_element(lo, lo + nl) >= *std::min_element(hi, hi + nh))
      fail_at(*v, at,
              "the two ratios are so close that torch's float32 logs of them may come out equal or in the "
              "other order (uniform_ then raises): make them equal or further apart");
  }
  if (!ratio && b[0] < 0) fail_at(*v, at, "the min must be at least 0 (a negative area fails math.sqrt)");
  if (!ratio && b[1] > most)
    fail_at(*v, at, "the max must be at most " + ltrt::python_repr(most) + " (torchvision raises)");
  return b;
}

// A value for all channels or one per channel, as float32 (RandomErasing's value, the warps' fill):
// a number, or a list of 1 or `channels` finite numbers; `expected` and `beyond` are the messages
// for another form and for a number past float32's range.
std::vector<float> channel_values(const JsonValue& v, const std::string& at, std::int64_t channels,
                                  const std::string& expected, const std::string& beyond) {
  std::vector<const JsonValue*> items;
  if (v.kind == Kind::number) items.push_back(&v);
  if (v.kind == Kind::array)
    for (const JsonValue& x : v.items) items.push_back(&x);
  if (items.empty() || (items.size() != 1 && static_cast<std::int64_t>(items.size()) != channels))
    fail_at(v, at, expected);
  std::vector<float> out;
  for (size_t k = 0; k < items.size(); ++k) {
    const std::string xat = v.kind == Kind::array ? at + "[" + std::to_string(k) + "]" : at;
    if (!items[k]->is_number() || !std::isfinite(items[k]->num)) fail_at(*items[k], xat, "expected a finite number");
    if (std::fabs(items[k]->num) > kFloatMax) fail_at(*items[k], xat, beyond);
    out.push_back(static_cast<float>(items[k]->num));
  }
  return out;
}

// RandomRotation's and RandomAffine's degrees and shear: a number x (at least 0) for [-x, x], or a
// list of one of `sizes`' lengths, each pair [min, max] drawn by torch's float32 uniform_.
std::vector<double> read_angles(ltrt::ConfigObject& o, const char* key, const std::vector<size_t>& sizes) {
  const JsonValue* v = o.get(key);
  const std::string at = o.path_of(key);
  const std::string lists = sizes.size() == 1 ? "[min, max]" : "[min, max] or [x min, x max, y min, y max]";
  std::vector<double> out;
  if (v->is_number()) {
    if (!std::isfinite(v->num)) fail_at(*v, at, "expected a finite number");
    if (v->num < 0)
      fail_at(*v, at, "a single number must be at least 0 (it stands for [-x, x]; torchvision raises): write " + lists);
    out = {-v->num, v->num};
  } else if (v->kind == Kind::array && std::find(sizes.begin(), sizes.end(), v->items.size()) != sizes.end()) {
    for (size_t k = 0; k < v->items.size(); ++k) {
      const JsonValue& x = v->items[k];
      if (!x.is_number() || !std::isfinite(x.num))
        fail_at(x, at + "[" + std::to_string(k) + "]", "expected a finite number");
      out.push_back(x.num);
    }
  } else {
    fail_at(*v, at, "expected a number or " + lists);
  }
  for (size_t k = 0; k < out.size(); k += 2) {
    if (out[k] > out[k + 1]) fail_at(*v, at, "a min is above its max: torch's uniform_ raises; write " + lists);
    if (std::max(std::fabs(out[k]), std::fabs(out[k + 1])) > kFloatMax / 2)
      fail_at(*v, at, "beyond half of float32's range is not supported (torch draws it as a float32 uniform_)");
  }
  return out;
}

// `s`: the shape of the samples the transform takes, H and W -1 where they are the source file's
// (checked when the program reads it); a crop, Pad or Resize sets them.
TransformSpec read_one(const JsonValue& v, const std::string& path, const InputSpec& input, const std::string& split,
                       Shape& s) {
  ltrt::ConfigObject o(v, path);
  TransformSpec t;
  const JsonValue* type = o.get("type");
  if (!type) o.fail_here("missing required key 'type' (" + std::string(kSupportedText) + ")");
  if (!type->is_string()) fail_at(*type, o.path_of("type"), "expected a torchvision transform's name");
  const std::string& given = type->str;
  t.v2 = given.rfind("v2.", 0) == 0;
  t.type = t.v2 ? given.substr(3) : given;  // torchvision's class name, without its module
  if (std::find(kSupported.begin(), kSupported.end(), given) == kSupported.end()) {
    if (given == "GaussianNoise")
      fail_at(*type, o.path_of("type"), "GaussianNoise is torchvision.transforms.v2's: write \"v2.GaussianNoise\"");
    if (t.type.find(' ') == std::string::npos && std::string(kOthers).find(" " + t.type + " ") != std::string::npos)
      fail_at(*type, o.path_of("type"),
              "torchvision's " + t.type + " is not supported yet: ltgen has " + kSupportedText);
    const std::string hint = ltrt::did_you_mean(given, kSupported);
    fail_at(*type, o.path_of("type"),
            "unknown transform '" + given + "'" + (hint.empty() ? "; ltgen has " + std::string(kSupportedText) : hint));
  }
  t.args = JsonValue::make_object();
  for (const auto& [k, value] : v.members)
    if (k != "type") t.args.set(k, value);
  if (t.random() && split != "train") refuse_random(*type, o.path_of("type"), t.type, split);
  if (t.type == "GaussianNoise") {  // any float tensor
    t.noise_mean = o.number("mean", 0.0, -1e300, 1e300);
    t.sigma = o.number("sigma", 0.1, -1e300, 1e300);
    t.clip = o.boolean("clip", true);
    if (t.sigma < 0) o.fail("sigma", "must be at least 0: torchvision raises for a negative sigma");
    if (std::fabs(t.noise_mean) > kFloatMax)
      o.fail("mean", "is beyond float32's range (the noise is float32 arithmetic)");
    if (t.sigma > kFloatMax) o.fail("sigma", "is beyond float32's range (the noise is float32 arithmetic)");
    o.finish();
    return t;
  }
  if (s.size() < 2)
    fail_at(*type, o.path_of("type"),
            "torchvision's transforms take images (..., H, W), but model.inputs." + input.name + " is " +
                shape_text(s) + " per sample: give it a shape such as [1, 8, 8]");
  const std::int64_t h = s[s.size() - 2], w = s.back();  // -1: the source file's
  const bool known = h > 0;
  // The shape as the message names it (the source's H and W where they are the file's).
  std::string shape_named = "(H, W)";
  for (size_t d = s.size() - 2; d-- > 0;) shape_named.insert(1, std::to_string(s[d]) + ", ");
  if (known) shape_named = shape_text(s);
  // The colour transforms' images: (..., C, H, W) of 1 or 3 channels (torchvision's _assert_channels).
  // (v2's invert and solarize take any float tensor.)
  const bool colour = t.type == "ColorJitter" || t.type == "RandomGrayscale" || t.type == "Grayscale" ||
                      t.type == "RandomAutocontrast" ||
                      (!t.v2 && (t.type == "RandomInvert" || t.type == "RandomSolarize"));
  if (colour && (s.size() < 3 || (s.end()[-3] != 1 && s.end()[-3] != 3)))
    fail_at(*type, o.path_of("type"),
            t.type + " takes images of 1 or 3 channels, (..., C, H, W), but model.inputs." + input.name + " is " +
                shape_text(input.shape) + " per sample (torchvision raises there)");
  if (t.type == "RandomHorizontalFlip" || t.type == "RandomVerticalFlip") {
    t.p = o.number("p", 0.5, 0.0, 1.0);
  } else if (t.type == "RandomGrayscale") {
    t.p = o.number("p", 0.1, 0.0, 1.0);
  } else if (t.type == "Grayscale") {
    const std::int64_t channels = o.integer("num_output_channels", 1, 1);
    if (channels != 1 && channels != 3) o.fail("num_output_channels", "must be 1 or 3 (torchvision raises)");
    // (v1 keeps one channel whatever it is asked for: rgb_to_grayscale clones it and expands it to
    // its own shape; v2 repeats it)
    if (channels != s.end()[-3] && !(s.end()[-3] == 1 && !t.v2))
      o.fail("num_output_channels", "changes the image's " + std::to_string(s.end()[-3]) + " channels to " +
                                        std::to_string(channels) + ": not supported yet (give " +
                                        std::to_string(s.end()[-3]) + ", or RandomGrayscale, which keeps them)");
  } else if (t.type == "ColorJitter") {
    // ColorJitter._check_input: a number v is [center - v, center + v] (the first at least 0 but for
    // hue), a pair as it is; within the bounds; a range of only the center is None.
    const char* names[4] = {"brightness", "contrast", "saturation", "hue"};
    for (int k = 0; k < 4; ++k) {
      const double center = k == 3 ? 0.0 : 1.0, low = k == 3 ? -0.5 : 0.0, high = k == 3 ? 0.5 : HUGE_VAL;
      double lo = center, hi = center;
      if (const JsonValue* x = o.get(names[k])) {
        const std::string at = o.path_of(names[k]);
        if (x->kind == Kind::number) {
          if (!std::isfinite(x->num)) fail_at(*x, at, "expected a finite number");
          if (x->num < 0) fail_at(*x, at, "a single number must be non negative (torchvision raises)");
          lo = center - x->num;
          hi = center + x->num;
          if (k != 3) lo = std::max(lo, 0.0);
        } else if (x->kind == Kind::array && x->items.size() == 2 && x->items[0].is_number() &&
                   x->items[1].is_number() && std::isfinite(x->items[0].num) && std::isfinite(x->items[1].num)) {
          lo = x->items[0].num;
          hi = x->items[1].num;
        } else {
          fail_at(*x, at, "expected a number or [min, max]");
        }
        if (!(low <= lo && lo <= hi && hi <= high))
          fail_at(*x, at,
                  std::string("must make a range [min, max] within ") + (k == 3 ? "[-0.5, 0.5]" : "[0, inf)") +
                      ", got [" + ltrt::python_repr(lo) + ", " + ltrt::python_repr(hi) + "] (torchvision raises)");
        // torch.empty(1).uniform_(lo, hi) of float32: bounds beyond float32 overflow there.
        if (std::max(std::fabs(lo), std::fabs(hi)) > kFloatMax)
          fail_at(*x, at, "is beyond float32's range (the factor is drawn as a float32)");
      }
      if (!(lo == center && hi == center)) t.jitter[2 * k] = lo, t.jitter[2 * k + 1] = hi;
      if (k == 1 && t.v2 && !std::isnan(t.jitter[2]))
        o.fail("contrast",
               "v2.ColorJitter's contrast is not supported yet: torch adds its mean (a CPU scalar) with "
               "alpha in a loop whose elements fuse the multiply-add or not by the data's alignment; use "
               "transforms.ColorJitter, or leave contrast out");
    }
  } else if (t.type == "CenterCrop") {
    read_size(o, t, input.shape);
    s[s.size() - 2] = t.size_h;
    s.back() = t.size_w;
  } else if (t.type == "Resize") {
    // torchvision's F.resize: interpolate over (N, C, H, W); v1 makes a sample of 3 dimensions one
    // of 4, v2 reshapes any to (-1, C, H, W).
    check_image_rank(*type, o.path_of("type"), t, input, s);
    const JsonValue* size = o.get("size");
    if (!size || size->is_null())
      o.fail_here(
          "Resize needs 'size': [height, width], or one number for the smaller edge (a size of None, "
          "v2's longer edge at max_size, is not supported yet)");
    const std::vector<std::int64_t> hw =
        ints(*size, o.path_of("size"), {1, 2}, "an int (the smaller edge's size) or [height, width]", 1);
    t.size_h = hw[0];
    t.size_w = hw.size() == 2 ? hw[1] : 0;
    if (std::max(t.size_h, t.size_w) > 2147483647)
      o.fail("size", "is beyond 2147483647: the generated program's sizes are 32-bit ints");
    read_resize_mode(o, t);
    if (const JsonValue* m = o.get("max_size"); m && !m->is_null()) {
      t.max_size = ltrt::read_integer(*m, o.path_of("max_size"), 1);
      if (hw.size() == 2)
        o.fail("max_size",
               "is for a size of one number (the smaller edge's): torchvision raises with [height, "
               "width]");
      if (t.max_size <= t.size_h)
        o.fail("max_size",
               "must be greater than the smaller edge's size " + std::to_string(t.size_h) + " (torchvision raises)");
      if (t.max_size > 2147483647)
        o.fail("max_size", "is beyond 2147483647: the generated program's sizes are 32-bit ints");
    }
    if (hw.size() == 2 || known) {
      std::vector<std::int64_t> made;
      try {
        made = ltrt::transformed_shape({size_config(t)}, {h > 0 ? h : 1, w > 0 ? w : 1});
      } catch (const ltrt::Error& e) {
        o.fail("size", std::string("on samples of ") + shape_text({h, w}) + ": " + e.what());
      }
      s[s.size() - 2] = made[0];
      s.back() = made[1];
    } else {  // the smaller edge of a file's samples: their size is known when the program reads them
      s[s.size() - 2] = s.back() = -1;
    }
  } else if (t.type == "RandomResizedCrop") {
    // F.resized_crop: a crop, then F.resize (v1: (C, H, W) or (N, C, H, W); v2: (..., C, H, W)).
    check_image_rank(*type, o.path_of("type"), t, input, s);
    read_size(o, t, input.shape);
    t.scale = read_bounds(o, "scale", {0.08, 1.0}, false);
    t.ratio = read_bounds(o, "ratio", {3.0 / 4.0, 4.0 / 3.0}, true);
    read_resize_mode(o, t);
    // Where 10 attempts fail, the central crop at the ratio's bound the image's ratio passes: torch
    // cannot resize an empty one.
    if (known) {
      const double in_ratio = static_cast<double>(w) / static_cast<double>(h);
      const double crop_h = in_ratio < t.ratio[0] ? std::nearbyint(static_cast<double>(w) / t.ratio[0]) : 1.0;
      const double crop_w = in_ratio > t.ratio[1] ? std::nearbyint(static_cast<double>(h) * t.ratio[1]) : 1.0;
      if (crop_h < 1 || crop_w < 1)
        o.fail(o.get("ratio") ? "ratio" : "size",
               "on samples of " + shape_text({h, w}) +
                   ": where its 10 attempts find no box, the central crop at this ratio is empty and torch raises; "
                   "widen the ratio toward " +
                   ltrt::python_repr(in_ratio));
    }
    s[s.size() - 2] = t.size_h;
    s.back() = t.size_w;
  } else if (t.type == "RandomErasing") {
    if (s.size() < 3)
      fail_at(*type, o.path_of("type"),
              "RandomErasing takes (..., C, H, W), but model.inputs." + input.name + " is " + shape_text(input.shape) +
                  " per sample: give it a channel, such as [1, " + std::to_string(input.shape.end()[-2]) + ", " +
                  std::to_string(input.shape.back()) + "]");
    t.p = o.number("p", 0.5, 0.0, 1.0);
    t.scale = read_bounds(o, "scale", {0.02, 0.33}, false, 1.0);
    t.ratio = read_bounds(o, "ratio", {0.3, 3.3}, true);
    const std::int64_t channels = s.end()[-3];
    if (const JsonValue* v = o.get("value")) {
      const std::string at = o.path_of("value");
      if (v->is_string() && v->str != "random")
        fail_at(*v, at, "a string value must be \"random\" (torchvision raises for others)");
      if (!v->is_string())
        t.erase_values = channel_values(*v, at, channels,
                                        "expected a number, a list of 1 or " + std::to_string(channels) +
                                            " numbers (one per channel, dimension -3) or \"random\" (torchvision "
                                            "raises for others)",
                                        "is beyond float32's range (torch.tensor(value) is float32)");
    } else {
      t.erase_values = {0.0f};  // torchvision's value=0
    }
    if (o.boolean("inplace", false))
      o.fail("inplace",
             "inplace erasing changes the data set's own tensor at every epoch (a TensorDataset hands out views): "
             "not supported; leave it false");
  } else if (t.type == "RandomRotation" || t.type == "RandomAffine") {
    // F.rotate / F.affine on tensors: grid_sample of (N, C, H, W), nearest or bilinear
    check_image_rank(*type, o.path_of("type"), t, input, s);
    if (!o.get("degrees")) o.fail_here(t.type + " needs 'degrees': a number x for [-x, x] or [min, max], in degrees");
    const std::vector<double> degrees = read_angles(o, "degrees", {2});
    t.degrees = {degrees[0], degrees[1]};
    if (t.type == "RandomAffine") {
      if (const JsonValue* x = o.get("translate"); x && !x->is_null()) {
        const std::string at = o.path_of("translate");
        if (x->kind != Kind::array || x->items.size() != 2)
          fail_at(*x, at, "expected [width share, height share], each within [0, 1]");
        for (size_t k = 0; k < 2; ++k)
          if (!x->items[k].is_number() || !(x->items[k].num >= 0 && x->items[k].num <= 1))
            fail_at(x->items[k], at + "[" + std::to_string(k) + "]",
                    "must be within [0, 1] (torchvision raises): the largest shift as a share of the side");
        t.translate = {x->items[0].num, x->items[1].num};
      }
      if (const JsonValue* x = o.get("scale"); x && !x->is_null()) {
        const std::string at = o.path_of("scale");
        if (x->kind != Kind::array || x->items.size() != 2 || !x->items[0].is_number() || !x->items[1].is_number() ||
            !std::isfinite(x->items[0].num) || !std::isfinite(x->items[1].num))
          fail_at(*x, at, "expected [min, max], two numbers above 0");
        t.affine_scale = {x->items[0].num, x->items[1].num};
        if (t.affine_scale[0] <= 0 || t.affine_scale[1] <= 0)
          fail_at(*x, at, "scale values must be above 0 (torchvision raises)");
        if (t.affine_scale[0] > t.affine_scale[1])
          fail_at(*x, at, "the min is above the max: torch's uniform_ raises; write [min, max]");
        // a draw of 0 (a min below float32's smallest) divides by zero; beyond its largest, overflows
        if (static_cast<float>(t.affine_scale[0]) == 0 || t.affine_scale[1] > kFloatMax / 2)
          fail_at(*x, at,
                  "beyond float32's range, 1.4e-45 to half of 3.4e38, is not supported (the scale is drawn as a "
                  "float32: a draw of 0 divides by zero in torchvision)");
      }
      if (const JsonValue* x = o.get("shear"); x && !x->is_null()) t.shear = read_angles(o, "shear", {2, 4});
    }
    if (const JsonValue* m = o.get("interpolation"); m && m->is_string() && m->str != "nearest" && m->str != "bilinear")
      fail_at(*m, o.path_of("interpolation"),
              "'" + m->str +
                  "': torchvision warps tensors with 'nearest' or 'bilinear' only (it raises for others wherever it "
                  "warps)");
    t.interpolation = o.string("interpolation", "nearest", {"nearest", "bilinear"}, false);
    if (t.type == "RandomRotation" && o.boolean("expand", false))
      o.fail("expand",
             "expand: true is not supported yet: the output's size follows each sample's angle, so the samples of "
             "a batch would differ in size (torch's default collate cannot stack them); leave it false");
    if (const JsonValue* c = o.get("center"); c && !c->is_null()) {
      const std::string at = o.path_of("center");
      if (c->kind != Kind::array || c->items.size() != 2 || !c->items[0].is_number() || !c->items[1].is_number() ||
          std::fabs(c->items[0].num) > 1e15 || std::fabs(c->items[1].num) > 1e15)
        fail_at(*c, at,
                "expected [x, y] in pixels from the top left corner (beyond 1e15 is not supported: the image would "
                "hold no pixel of the warp)");
      t.center_given = true;
      t.center = {c->items[0].num, c->items[1].num};
    }
    const std::int64_t channels = s.end()[-3];
    const JsonValue* fill = o.get("fill");
    if (!fill || fill->is_null()) {
      // torchvision's default is 0; a None v1 makes 0, and v2 leaves the outside 0, unmixed
      if (!fill || !t.v2) t.fill_values = {0.0f};
    } else {
      t.fill_values = channel_values(*fill, o.path_of("fill"), channels,
                                     "expected a number or a list of 1 or " + std::to_string(channels) +
                                         " numbers (one per channel, dimension -3; torchvision raises for others)",
                                     "beyond float32's range is not supported (torch.tensor(fill) is float32: inf)");
    }
    if (known && std::max(h, w) >= (1 << 24))
      fail_at(*type, o.path_of("type"),
              t.type + " on samples of " + shape_text({h, w}) +
                  ": a side of 2^24 pixels or more is not supported yet (torch's float32 grid rounds there)");
  } else if (t.type == "RandomCrop" || t.type == "Pad") {  // (Pad: RandomCrop's padding, no crop)
    const bool pad_only = t.type == "Pad";
    if (!pad_only) read_size(o, t, input.shape);
    if (pad_only && (!o.get("padding") || o.get("padding")->is_null()))
      o.fail_here("Pad needs 'padding': an int, [left/right, top/bottom] or [left, top, right, bottom]");
    if (const JsonValue* p = o.get("padding"); p && p->kind != Kind::null) {
      const std::vector<std::int64_t> pad = ints(*p, o.path_of("padding"), {1, 2, 4},
                                                 "an int, [left/right, top/bottom] or [left, top, right, bottom]", 0);
      // torchvision's _parse_pad_padding: left, right, top, bottom.
      if (pad.size() == 1) t.pad_left = t.pad_right = t.pad_top = t.pad_bottom = pad[0];
      if (pad.size() == 2) t.pad_left = t.pad_right = pad[0], t.pad_top = t.pad_bottom = pad[1];
      if (pad.size() == 4) t.pad_left = pad[0], t.pad_top = pad[1], t.pad_right = pad[2], t.pad_bottom = pad[3];
    }
    if (!pad_only) t.pad_if_needed = o.boolean("pad_if_needed", false);
    t.padding_given = o.get("padding") && !o.get("padding")->is_null();
    if (const JsonValue* f = o.get("fill"); f && f->kind != Kind::null) {
      if (f->kind != Kind::number || !std::isfinite(f->num))
        fail_at(*f, o.path_of("fill"), "expected a number (a tensor's constant padding; tuples are PIL images')");
      t.fill = f->num;
    }
    t.padding_mode = o.string("padding_mode", "constant", {"constant", "edge", "reflect", "symmetric"}, false);
    const std::int64_t most_h = std::max(t.pad_top, t.pad_bottom), most_w = std::max(t.pad_left, t.pad_right);
    // torchvision pads whenever a padding is given, 0 too: its refusals of a mode and rank with it.
    // (v2's pads only where some padding is above 0.) pad_if_needed may pad too, where the data's
    // samples are smaller than the crop.
    const bool padded = t.pad_if_needed || (t.v2 ? std::max(most_h, most_w) > 0
                                                 : o.value().find("padding") && !o.value().find("padding")->is_null());
    // (v2 pads (..., C, H, W) in every mode, whatever comes before C)
    const char* padding_key = o.get("padding") ? "padding" : "pad_if_needed";
    if (t.v2 && padded && s.size() < 3)
      o.fail(padding_key, "torchvision.transforms.v2 pads samples of (..., C, H, W) only, not " + shape_named +
                              ": give model.inputs a channel, such as [1, " + std::to_string(input.shape.end()[-2]) +
                              ", " + std::to_string(input.shape.back()) + "]");
    if (!t.v2 && padded && t.padding_mode != "constant" &&
        (s.size() > 4 || (t.padding_mode == "symmetric" && s.size() < 3)))
      o.fail("padding_mode", "torchvision pads '" + t.padding_mode + "' on samples of " +
                                 (t.padding_mode == "symmetric" ? "3 or 4" : "2 to 4") + " dimensions, not " +
                                 shape_named);
    if (std::max(most_h, most_w) > (2147483647 - std::max<std::int64_t>({h, w, t.size_h, t.size_w})) / 2)
      o.fail("padding",
             "a padding beyond half of 2147483647 less the sample's size: the generated program's sizes are "
             "32-bit ints");
    // A crop larger than its padded sample, a reflection as wide as the sample (a source file's
    // samples: when the program reads them).
    if (const std::string why = known ? ltrt::transform_refusal(size_config(t), h, w) : ""; !why.empty())
      o.fail(o.get("padding") ? "padding" : "size", "on samples of " + shape_text({h, w}) + ": " + why);
    // torch_pad's value=float(fill) on a float32 tensor overflows there (with some padding to fill).
    if (t.padding_mode == "constant" && std::max(most_h, most_w) > 0 && std::fabs(t.fill) > kFloatMax)
      o.fail("fill", "is beyond float32's range: torch cannot pad a float32 image with it");
    s[s.size() - 2] = pad_only ? (known ? h + t.pad_top + t.pad_bottom : -1) : t.size_h;
    s.back() = pad_only ? (known ? w + t.pad_left + t.pad_right : -1) : t.size_w;
  } else if (t.type == "RandomInvert" || t.type == "RandomSolarize" || t.type == "RandomAutocontrast") {
    t.p = o.number("p", 0.5, 0.0, 1.0);
    if (t.type == "RandomSolarize") {
      if (!o.get("threshold")) o.fail_here("RandomSolarize needs 'threshold': values at or above it are inverted");
      t.threshold = o.number("threshold", 0.0, -kFloatMax, kFloatMax);
      if (t.threshold > 1.0)
        o.fail("threshold", "must be at most 1, a float image's bound (torchvision raises above it)");
    }
  } else {  // Normalize
    if (s.size() < 3)
      fail_at(*type, o.path_of("type"),
              "Normalize takes (..., C, H, W), but model.inputs." + input.name + " is " + shape_text(input.shape) +
                  " per sample (torchvision raises there): give it a "
                  "channel, such as [1, " +
                  std::to_string(input.shape.end()[-2]) + ", " + std::to_string(input.shape.back()) + "]");
    const std::int64_t channels = s[s.size() - 3];
    for (const char* key : {"mean", "std"})
      if (const JsonValue* x = o.get(key); t.v2 && x && !x->is_array())
        fail_at(*x, o.path_of(key),
                "v2.Normalize takes a list (it calls list() of it): write [" + describe_number(*x) + "]");
    t.mean = values(o, "mean", channels);
    t.std = values(o, "std", channels);
    // One of them for all channels beside one per channel: both per channel (torch broadcasts them).
    if (t.mean.size() != t.std.size()) {
      if (t.mean.size() == 1) t.mean.assign(static_cast<size_t>(channels), t.mean[0]);
      if (t.std.size() == 1) t.std.assign(static_cast<size_t>(channels), t.std[0]);
    }
    for (float x : t.std)
      if (x == 0) o.fail("std", "a std is 0 as a float32: torchvision refuses to divide by it");
    if (o.boolean("inplace", false))
      o.fail("inplace",
             "inplace normalising changes the data set's own tensor at every epoch (a TensorDataset hands "
             "out views): not supported; leave it false");
  }
  o.finish();
  return t;
}

// The transforms of list `v` into `out`, a RandomApply as its marker and then its own list; `s`
// follows the samples' shape, `last_size` the last transform that set it.
void read_list(const JsonValue& v, const std::string& path, const InputSpec& input, const std::string& split, Shape& s,
               std::vector<TransformSpec>& out, const JsonValue*& last_size, std::string& last_size_path,
               std::string& turning, const TransformSpec* parent = nullptr) {
  // (RandomChoice's and RandomOrder's transforms each keep the shape: any may run alone, or first;
  // RandomChoice's run one of them, so a rotation in one does not turn the sample for another)
  const std::string each_keeps =
      parent && parent->type != "RandomApply" ? (parent->v2 ? "v2." : "") + parent->type : "";
  const bool exclusive = parent && parent->type == "RandomChoice";
  const std::string entry_turning = turning;
  std::string any_turning = turning;
  for (size_t i = 0; i < v.items.size(); ++i) {
    if (exclusive) turning = entry_turning;
    const std::string at = path + "[" + std::to_string(i) + "]";
    const JsonValue& item = v.items[i];
    const JsonValue* type = item.find("type");
    const Shape item_before = s;
    const auto check_kept = [&] {
      if (!turning.empty()) any_turning = turning;
      if (!each_keeps.empty() && s != item_before)
        fail_at(item, at,
                "makes samples of " + shape_text(s) + " out of " + shape_text(item_before) + ": " + each_keeps +
                    "'s transforms must each keep the sample's shape (a batch holds samples of one shape)");
    };
    const std::string name = type && type->is_string() ? type->str : "";
    if (name == "RandomApply" || name == "RandomChoice" || name == "RandomOrder" || name == "v2.RandomApply" ||
        name == "v2.RandomChoice" || name == "v2.RandomOrder") {
      ltrt::ConfigObject o(item, at);
      o.get("type");
      TransformSpec t;
      t.v2 = name.rfind("v2.", 0) == 0;
      t.type = t.v2 ? name.substr(3) : name;
      if (split != "train") refuse_random(*type, o.path_of("type"), name, split);
      t.args = JsonValue::make_object();
      if (t.type == "RandomApply") t.p = o.number("p", 0.5, 0.0, 1.0);
      const JsonValue* list = o.get("transforms");
      if (!list)
        o.fail_here(name + " needs 'transforms': the list it " +
                    (t.type == "RandomApply"    ? "applies or skips"
                     : t.type == "RandomChoice" ? "picks one of"
                                                : "applies in a random order") +
                    ", such as [{\"type\": \"ColorJitter\", \"brightness\": 0.4}]");
      if (list->kind != Kind::array)
        fail_at(*list, o.path_of("transforms"), "expected a list of torchvision transforms");
      if (t.v2 && list->items.empty())
        fail_at(*list, o.path_of("transforms"), "v2." + t.type + " needs at least one transform (torchvision raises)");
      if (t.type == "RandomChoice" && list->items.empty())
        fail_at(*list, o.path_of("transforms"),
                "RandomChoice needs at least one transform (random.choices raises an IndexError on an empty list)");
      if (const JsonValue* p = t.type == "RandomChoice" ? o.get("p") : nullptr; p && !p->is_null()) {
        // One finite weight per transform, summed in Python's doubles.
        const std::string pat = o.path_of("p");
        if (p->kind != Kind::array || p->items.size() != list->items.size())
          fail_at(*p, pat,
                  "expected a list of " + std::to_string(list->items.size()) + " weights, one per transform (" +
                      (t.v2 ? "torchvision" : "random.choices") + " raises for another length)");
        double total = 0;
        for (size_t k = 0; k < p->items.size(); ++k) {
          const JsonValue& x = p->items[k];
          if (!x.is_number() || !std::isfinite(x.num))
            fail_at(x, pat + "[" + std::to_string(k) + "]", "expected a finite number, the transform's weight");
          total += x.num;
        }
        if (!t.v2) {
          // v1's: random.choices(transforms, weights=p) accumulates them as they are (the running
          // sums above) and raises where their total is not positive and finite. Python adds
          // integers exactly: doubles follow it while the integers and their sums stay within 2^53.
          constexpr double kExact = 9007199254740992.0;  // 2^53
          __int128 exact = 0;
          bool integers = true;
          for (size_t k = 0; k < p->items.size(); ++k) {
            const JsonValue& x = p->items[k];
            integers = integers && x.is_integer;
            if (x.is_integer) exact += x.integer;
            if ((x.is_integer && std::fabs(x.num) > kExact) ||
                (integers && (exact > static_cast<__int128>(kExact) || exact < -static_cast<__int128>(kExact))))
              fail_at(x, pat + "[" + std::to_string(k) + "]",
                      "integer weights and their sums must stay within 2^53 (9007199254740992), where Python's exact "
                      "integers and the program's doubles agree; scale the weights down");
          }
          if (!(total > 0) || !std::isfinite(total))
            fail_at(*p, pat,
                    "the weights add up to " + ltrt::python_repr(total) +
                        ": random.choices needs a positive, finite total (it raises a ValueError)");
          for (const JsonValue& x : p->items) t.choice_weights.push_back(x.num);
        } else {
          // v2's: each divided by their sum, then torch.tensor (float32) and torch.multinomial's rules
          if (total == 0) fail_at(*p, pat, "the weights sum to 0: torchvision divides by their sum (and raises)");
          bool some = false;
          for (const JsonValue& x : p->items) {
            const auto q = static_cast<float>(x.num / total);
            if (!(q >= 0) || std::isinf(q))
              fail_at(*p, pat,
                      "the weights divided by their sum must be probabilities (weights of one sign, within float32's "
                      "range once divided): torch.multinomial raises for these");
            some = some || q > 0;
            t.choice_p.push_back(q);
          }
          if (!some) fail_at(*p, pat, "the weights divided by their sum are all 0: torch.multinomial raises");
        }
      } else if (t.type == "RandomChoice" && t.v2) {
        t.choice_p.assign(list->items.size(), static_cast<float>(1.0 / static_cast<double>(list->items.size())));
      }
      if (t.type != "RandomOrder" && o.get("p")) t.args.set("p", *o.get("p"));
      o.finish();
      const size_t marker = out.size();
      out.push_back(t);
      const Shape before = s;
      read_list(*list, o.path_of("transforms"), input, split, s, out, last_size, last_size_path, turning, &t);
      out[marker].group = static_cast<std::int64_t>(out.size() - marker - 1);
      if (t.type == "RandomOrder") {               // a transform may run after any other: one that always turns
        std::vector<std::pair<bool, bool>> child;  // (consumes a transposed view, always turns)
        for (size_t k = marker + 1; k < out.size();) {
          const size_t end = k + 1 + (out[k].container() ? static_cast<size_t>(out[k].group) : 0);
          bool consumes = false, turns = false;
          for (size_t e = k; e < end; ++e) {
            consumes = consumes || out[e].type == "GaussianNoise" ||
                       (out[e].type == "ColorJitter" && !std::isnan(out[e].jitter[2]));
            turns = turns || out[e].turns;
          }
          child.push_back({consumes, turns});
          k = end;
        }
        for (size_t a = 0; a < child.size(); ++a)
          for (size_t b = a + 1; b < child.size(); ++b)
            if (child[a].first && child[b].second)
              fail_at(*list, o.path_of("transforms"),
                      "transforms[" + std::to_string(a) + "] (a contrast or GaussianNoise) may run after transforms[" +
                          std::to_string(b) +
                          "]'s v2.RandomRotation by exactly 90 or 270 degrees: not supported yet (torch.rot90 leaves "
                          "a transposed view, whose memory order torch then sums or draws in)");
      }
      if (s != before)
        fail_at(*list, o.path_of("transforms"),
                "make samples of " + shape_text(s) + " out of " + shape_text(before) +
                    ": RandomApply's transforms must keep the sample's shape (skipped, they would leave it as "
                    "it was, and a batch holds samples of one shape)");
      check_kept();
      continue;
    }
    out.push_back(read_one(item, at, input, split, s));
    check_kept();
    // v2's rotate turns a square image by exactly 90 or 270 degrees with torch.rot90, a transposed
    // view that torch's elementwise ops keep: a contrast's mean and GaussianNoise's normals then
    // follow its memory order, which ltgen does not (where a range of angles hits those turns, the
    // program warns).
    const TransformSpec& t = out.back();
    if (!turning.empty() && (t.type == "GaussianNoise" || (t.type == "ColorJitter" && !std::isnan(t.jitter[2]))))
      fail_at(
          *item.find("type"), at + ".type",
          std::string(t.type == "GaussianNoise" ? "v2.GaussianNoise" : "ColorJitter's contrast") + " after " + turning +
              " is not supported yet: torch.rot90 leaves a transposed view, whose memory order torch then " +
              (t.type == "GaussianNoise" ? "draws the noise in" : "sums the mean in") + "; put it before the rotation");
    if (t.type == "RandomRotation" && t.v2 && t.degrees[0] == t.degrees[1] && !t.center_given &&
        s.end()[-2] == s.back()) {
      const double turn = ltrt::python_float_mod(static_cast<float>(t.degrees[0]), 360.0);
      if (turn == 90 || turn == 270) {
        turning = "the v2.RandomRotation by " + ltrt::python_repr(turn) + " degrees at " + at;
        out.back().turns = true;
        any_turning = turning;
      }
    }
    if (out.back().sizes() && s.end()[-2] > 0 && numel(s) > 2147483647)  // an int indexes a sample (numel saturates)
      fail_at(item, at,
              "makes samples of " + shape_text(s) +
                  ", more than 2147483647 elements: the generated program indexes a sample with an int");
    if (out.back().sizes()) {
      const char* key = item.find("size") ? "size" : "padding";  // (a Pad's padding sets its size)
      last_size = item.find(key);
      last_size_path = at + "." + key;
    }
  }
  if (exclusive) turning = any_turning;  // (after a RandomChoice the sample may have turned)
}

}  // namespace

std::vector<TransformSpec> read_transforms(const JsonValue& v, const std::string& path, const InputSpec& input,
                                           const std::string& split, const Shape* source_shape) {
  if (v.kind != Kind::array)
    fail_at(v, path, "expected a list of torchvision transforms, such as [{\"type\": \"RandomHorizontalFlip\"}]");
  if (input.dtype != DType::f32)
    fail_at(v, path,
            "transforms apply to float32 images, but model.inputs." + input.name +
                " is not float32: remove the transforms");
  // The samples the first transform takes: the source's shape where it has one (randn's), else
  // where a transform crops or resizes, the file's height and width (-1 here), else the model input's.
  bool sizes = false;
  for (const JsonValue& t : v.items)
    if (const JsonValue* type = t.find("type"); type && type->is_string()) {
      TransformSpec named;
      named.type = type->str.rfind("v2.", 0) == 0 ? type->str.substr(3) : type->str;
      sizes = sizes || named.sizes();
    }
  Shape s = source_shape ? *source_shape : input.shape;
  if (!source_shape && sizes && s.size() >= 2) s.end()[-2] = s.back() = -1;
  std::vector<TransformSpec> out;
  const JsonValue* last_size = nullptr;
  std::string last_size_path;
  std::string turning;
  read_list(v, path, input, split, s, out, last_size, last_size_path, turning);
  // The model takes what the last crop or resize makes (a file's: checked when the program reads it).
  if (last_size && s.end()[-2] > 0 && s != input.shape)
    fail_at(*last_size, last_size_path,
            "the transforms make samples of " + shape_text(s) + " (this transform's size), but model.inputs." +
                input.name + " is " + shape_text(input.shape) + ": make them [" +
                std::to_string(input.shape.end()[-2]) + ", " + std::to_string(input.shape.back()) + "]");
  return out;
}

}  // namespace ltgen
