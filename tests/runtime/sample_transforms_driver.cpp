// ltrt's side of sample_transforms_oracle.py: reads {"cases": [...]} from stdin, each a seed, a
// source's per-sample shape, a list of transforms and samples (float32 bits), transforms the samples one after
// another drawing from TorchGenerator(seed) (and v1's RandomChoice and RandomOrder from
// PythonRandom(seed)), and prints, per case, the samples' bits, the uncertain
// box draws (ltrt/random_box.hpp) and transposed layouts (SampleTransforms::transposed_layouts) so
// far after each sample, the int64 that torch's generator would draw next and the bits of Python's
// next random(). {"boxes": [...]} instead: RandomResizedCrop's or RandomErasing's get_params alone, many
// times on an image of a size, each box with whether its draws were uncertain. {"matrices": [...]}:
// inverse_affine_matrix of each [center_x, center_y, angle, tx, ty, scale, shear_x, shear_y, v2],
// its six doubles and the angle modulo 360, as int64 bits.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "ltrt/affine_warp.hpp"
#include "ltrt/error.hpp"
#include "ltrt/json.hpp"
#include "ltrt/random_box.hpp"
#include "ltrt/sample_transforms.hpp"
#include "ltrt/torch_global_draws.hpp"
#include "oracle_io.hpp"

namespace {

using ltrt::json::Value;

ltrt::PadMode mode_of(const std::string& m) {
  if (m == "edge") return ltrt::PadMode::edge;
  if (m == "reflect") return ltrt::PadMode::reflect;
  if (m == "symmetric") return ltrt::PadMode::symmetric;
  return ltrt::PadMode::constant;
}

ltrt::TransformKind kind_of(const std::string& name) {
  ltrt::TransformKind kind;
  if (!ltrt::transform_kind(name, kind)) throw ltrt::Error("no transform " + name);
  return kind;
}

std::int64_t double_bits(double x) {
  std::int64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

}  // namespace

int main() {
  try {
    const Value in = ltrt_test::read_stdin_json();
    Value out = Value::make_array();
    if (const Value* boxes = in.find("boxes")) {
      for (const Value& c : boxes->items) {
        double scale[2], ratio[2];
        for (int k = 0; k < 2; ++k) {
          scale[k] = c.find("scale")->items[static_cast<std::size_t>(k)].num;
          ratio[k] = c.find("ratio")->items[static_cast<std::size_t>(k)].num;
        }
        ltrt::BoxDraws draws(scale, ratio);
        ltrt::TorchGenerator gen(static_cast<std::uint64_t>(c.find("seed")->integer));
        const std::int64_t height = c.find("height")->integer, width = c.find("width")->integer;
        const bool crop = c.find("kind")->str == "crop";
        Value result = Value::make_array();
        for (std::int64_t k = 0; k < c.find("draws")->integer; ++k) {
          const std::int64_t before = draws.uncertain();
          ltrt::Box b = crop ? draws.resized_crop(gen, height, width) : draws.erasing(gen, height, width, nullptr);
          if (!crop && !b.found) b.height = height, b.width = width;  // (get_params' "the whole image")
          Value row = Value::make_array();
          for (std::int64_t x : {b.top, b.left, b.height, b.width, draws.uncertain() - before})
            row.push(Value::make_integer(x));
          result.push(std::move(row));
        }
        out.push(std::move(result));
      }
      std::cout << ltrt::json::write(out) << "\n";
      return 0;
    }
    if (const Value* matrices = in.find("matrices")) {  // inverse_affine_matrix's doubles, as int64 bits
      for (const Value& c : matrices->items) {
        double a[8];
        for (std::size_t k = 0; k < 8; ++k) a[k] = c.items[k].num;
        const std::array<double, 6> m =
            ltrt::inverse_affine_matrix(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], c.items[8].b);
        Value row = Value::make_array();
        for (double x : m) row.push(Value::make_integer(double_bits(x)));
        row.push(Value::make_integer(double_bits(ltrt::python_float_mod(a[2], 360.0))));
        out.push(std::move(row));
      }
      std::cout << ltrt::json::write(out) << "\n";
      return 0;
    }
    for (const Value& c : in.find("cases")->items) {
      std::vector<std::int64_t> shape;
      for (const Value& d : c.find("shape")->items) shape.push_back(d.integer);
      std::vector<ltrt::TransformConfig> list;
      // the Normalize means and stds, erasing values and fills, alive (and in place) while `list` is used
      std::deque<std::vector<float>> values;
      std::deque<std::vector<double>> weights;  // v1 RandomChoice's
      // a number or a list of them as float32, kept in `values`; `count` set to how many
      const auto floats = [&values](const Value& v, int& count) {
        std::vector<float>& out = values.emplace_back();
        if (v.is_array())
          for (const Value& x : v.items) out.push_back(static_cast<float>(x.num));
        else
          out.push_back(static_cast<float>(v.num));
        count = static_cast<int>(out.size());
        return static_cast<const float*>(out.data());
      };
      // (a RandomApply: its marker, then its own list, flattened)
      std::function<void(const Value&)> add = [&](const Value& t) {
        ltrt::TransformConfig config{};
        config.kind = kind_of(t.find("type")->str);
        if (const Value* p = t.find("p"); p && p->is_number()) config.p = p->num;
        if (const Value* v2 = t.find("v2")) config.v2 = v2->b;
        if (config.kind == ltrt::TransformKind::gaussian_noise) {
          config.noise_mean = t.find("noise_mean")->num;
          config.sigma = t.find("sigma")->num;
          config.clip = t.find("clip")->b;
        }
        if (const Value* th = t.find("threshold")) config.threshold = th->num;
        if (config.kind == ltrt::TransformKind::random_crop || config.kind == ltrt::TransformKind::pad) {
          if (const Value* size = t.find("size")) {  // (a Pad has none)
            config.size_h = static_cast<int>(size->items[0].integer);
            config.size_w = static_cast<int>(size->items[1].integer);
          }
          const Value& pad = *t.find("padding");  // torchvision's [left, top, right, bottom]
          config.pad_left = static_cast<int>(pad.items[0].integer);
          config.pad_top = static_cast<int>(pad.items[1].integer);
          config.pad_right = static_cast<int>(pad.items[2].integer);
          config.pad_bottom = static_cast<int>(pad.items[3].integer);
          config.padding_mode = mode_of(t.find("padding_mode")->str);
          if (const Value* fill = t.find("fill")) config.fill = fill->num;
          if (const Value* p = t.find("pad_if_needed")) config.pad_if_needed = p->b;
          config.padding_given = !pad.is_null();
        }
        if (config.kind == ltrt::TransformKind::center_crop) {
          config.size_h = static_cast<int>(t.find("size")->items[0].integer);
          config.size_w = static_cast<int>(t.find("size")->items[1].integer);
        }
        if (config.kind == ltrt::TransformKind::color_jitter) {  // torchvision's ranges, null for None
          const Value& ranges = *t.find("ranges");
          for (int k = 0; k < 4; ++k) {
            const Value& r = ranges.items[static_cast<std::size_t>(k)];
            config.jitter[2 * k] = r.is_null() ? std::nan("") : r.items[0].num;
            config.jitter[2 * k + 1] = r.is_null() ? std::nan("") : r.items[1].num;
          }
        }
        const bool warp =
            config.kind == ltrt::TransformKind::random_rotation || config.kind == ltrt::TransformKind::random_affine;
        if (warp) {  // degrees [min, max]; translate, scale, shear (2 or 4), center: lists or null
          for (int k = 0; k < 2; ++k) config.degrees[k] = t.find("degrees")->items[static_cast<std::size_t>(k)].num;
          config.interpolation =
              t.find("interpolation")->str == "bilinear" ? ltrt::ResizeMode::bilinear : ltrt::ResizeMode::nearest;
          if (const Value* c = t.find("center"); c && !c->is_null()) {
            config.center_given = true;
            for (int k = 0; k < 2; ++k) config.center[k] = c->items[static_cast<std::size_t>(k)].num;
          }
          if (const Value* x = t.find("translate"); x && !x->is_null())
            for (int k = 0; k < 2; ++k) config.translate[k] = x->items[static_cast<std::size_t>(k)].num;
          if (const Value* x = t.find("scale"); x && !x->is_null())
            for (int k = 0; k < 2; ++k) config.scale[k] = x->items[static_cast<std::size_t>(k)].num;
          if (const Value* x = t.find("shear"); x && !x->is_null()) {
            config.num_shear = static_cast<int>(x->items.size());
            for (std::size_t k = 0; k < x->items.size(); ++k) config.shear[k] = x->items[k].num;
          }
          if (const Value& fill = *t.find("fill"); !fill.is_null())
            config.fill_values = floats(fill, config.num_fill_values);
        }
        if (const Value* scale = t.find("scale"); scale && !warp) {  // RandomResizedCrop, RandomErasing
          for (int k = 0; k < 2; ++k) {
            config.scale[k] = scale->items[static_cast<std::size_t>(k)].num;
            config.ratio[k] = t.find("ratio")->items[static_cast<std::size_t>(k)].num;
          }
        }
        if (config.kind == ltrt::TransformKind::random_erasing) {  // a number, [values], or "random"
          const Value& value = *t.find("value");
          if (!value.is_string()) config.erase_values = floats(value, config.num_erase_values);
        }
        if (config.kind == ltrt::TransformKind::resize ||
            config.kind == ltrt::TransformKind::random_resized_crop) {  // [h, w], or Resize's [smaller edge]
          const Value& size = *t.find("size");
          config.size_h = static_cast<int>(size.items[0].integer);
          config.size_w = size.items.size() == 2 ? static_cast<int>(size.items[1].integer) : 0;
          const std::string mode = t.find("interpolation")->str;
          config.interpolation = mode == "nearest"         ? ltrt::ResizeMode::nearest
                                 : mode == "nearest-exact" ? ltrt::ResizeMode::nearest_exact
                                 : mode == "bicubic"       ? ltrt::ResizeMode::bicubic
                                                           : ltrt::ResizeMode::bilinear;
          config.antialias = t.find("antialias")->b;
          if (const Value* m = t.find("max_size"); m && !m->is_null()) config.max_size = static_cast<int>(m->integer);
        }
        if (config.kind == ltrt::TransformKind::normalize) {
          for (const char* key : {"mean", "std"}) {
            std::vector<float>& v = values.emplace_back();
            for (const Value& x : t.find(key)->items) v.push_back(static_cast<float>(x.num));
          }
          config.num_values = static_cast<int>(values.back().size());
          config.mean = values[values.size() - 2].data();
          config.std = values.back().data();
        }
        if (config.kind == ltrt::TransformKind::random_choice && !config.v2) {  // v1's weights (null: none)
          if (const Value* p = t.find("p"); p && !p->is_null()) {
            std::vector<double>& w = weights.emplace_back();
            for (const Value& x : p->items) w.push_back(x.num);
            config.num_choice_p = static_cast<int>(w.size());
            config.choice_weights = w.data();
          }
        }
        if (config.kind == ltrt::TransformKind::random_choice && config.v2) {  // p (null: equal), normalised as v2 does
          const std::size_t n = t.find("transforms")->items.size();
          const Value* p = t.find("p");
          std::vector<double> raw(n, 1.0);
          if (p && !p->is_null())
            for (std::size_t k = 0; k < n; ++k) raw[k] = p->items[k].num;
          double total = 0;
          for (double x : raw) total += x;
          std::vector<float>& v = values.emplace_back();
          for (double x : raw) v.push_back(static_cast<float>(x / total));
          config.num_choice_p = static_cast<int>(n);
          config.choice_p = v.data();
        }
        list.push_back(config);
        if (config.kind == ltrt::TransformKind::random_apply || config.kind == ltrt::TransformKind::random_choice ||
            config.kind == ltrt::TransformKind::random_order) {
          const std::size_t at = list.size() - 1;
          for (const Value& inner : t.find("transforms")->items) add(inner);
          list[at].group = static_cast<int>(list.size() - at - 1);
        }
      };
      for (const Value& t : c.find("transforms")->items) add(t);
      ltrt::SampleTransforms transforms(list, shape);
      transforms.set_torch_threads(static_cast<int>(in.find("torch_threads")->integer));
      ltrt::TorchGlobalDraws torch(ltrt::TorchGenerator(static_cast<std::uint64_t>(c.find("seed")->integer)));
      ltrt::PythonRandom python(static_cast<std::uint64_t>(c.find("seed")->integer));
      Value samples = Value::make_array(), uncertain = Value::make_array();
      for (const Value& s : c.find("samples")->items) {
        std::vector<float> x;
        for (const Value& b : s.items) x.push_back(ltrt_test::bits_float(b.integer));
        std::vector<float> y(static_cast<std::size_t>(transforms.output_numel()));
        transforms.apply(x.data(), y.data(), &torch.generator(), &python);
        Value bits = Value::make_array();
        for (float f : y) bits.push(Value::make_integer(ltrt_test::float_bits(f)));
        samples.push(std::move(bits));
        uncertain.push(Value::make_integer(transforms.uncertain_boxes() + transforms.transposed_layouts()));
      }
      Value result = Value::make_object();
      result.set("samples", std::move(samples));
      result.set("uncertain", std::move(uncertain));
      result.set("next", Value::make_integer(torch.draw()));
      result.set("python_next", Value::make_integer(double_bits(python.random())));
      out.push(std::move(result));
    }
    std::cout << ltrt::json::write(out) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "sample_transforms_driver: " << e.what() << "\n";
    return 1;
  }
}
