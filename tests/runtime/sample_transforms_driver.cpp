// ltrt's side of sample_transforms_oracle.py: reads {"cases": [...]} from stdin, each a seed, a
// source's per-sample shape, a list of transforms and samples (float32 bits), transforms the samples one after
// another drawing from TorchGenerator(seed), and prints, per case, the samples' bits and the int64 that
// torch's generator would draw next.
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "ltrt/error.hpp"
#include "ltrt/json.hpp"
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

}  // namespace

int main() {
  try {
    const Value in = ltrt_test::read_stdin_json();
    Value out = Value::make_array();
    for (const Value& c : in.find("cases")->items) {
      std::vector<std::int64_t> shape;
      for (const Value& d : c.find("shape")->items) shape.push_back(d.integer);
      std::vector<ltrt::TransformConfig> list;
      std::vector<std::vector<float>> values;  // the Normalize means and stds, alive while `list` is used
      values.reserve(2 * c.find("transforms")->items.size());
      for (const Value& t : c.find("transforms")->items) {
        ltrt::TransformConfig config{};
        config.kind = kind_of(t.find("type")->str);
        if (const Value* p = t.find("p")) config.p = p->num;
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
        if (config.kind == ltrt::TransformKind::resize) {  // [h, w], or [smaller edge]
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
        list.push_back(config);
      }
      ltrt::SampleTransforms transforms(list, shape);
      transforms.set_torch_threads(static_cast<int>(in.find("torch_threads")->integer));
      ltrt::TorchGlobalDraws torch(ltrt::TorchGenerator(static_cast<std::uint64_t>(c.find("seed")->integer)));
      Value samples = Value::make_array();
      for (const Value& s : c.find("samples")->items) {
        std::vector<float> x;
        for (const Value& b : s.items) x.push_back(ltrt_test::bits_float(b.integer));
        std::vector<float> y(static_cast<std::size_t>(transforms.output_numel()));
        transforms.apply(x.data(), y.data(), &torch.generator());
        Value bits = Value::make_array();
        for (float f : y) bits.push(Value::make_integer(ltrt_test::float_bits(f)));
        samples.push(std::move(bits));
      }
      Value result = Value::make_object();
      result.set("samples", std::move(samples));
      result.set("next", Value::make_integer(torch.draw()));
      out.push(std::move(result));
    }
    std::cout << ltrt::json::write(out) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "sample_transforms_driver: " << e.what() << "\n";
    return 1;
  }
}
