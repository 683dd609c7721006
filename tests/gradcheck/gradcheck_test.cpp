// Oracle test of generated models (DESIGN §6): for every spec in
// tests/gradcheck/specs, the generated training_step's loss and parameter
// gradients are compared with LibTorch autograd in float32 (relative error
// <= 1e-5) and with float64 central finite differences of the same model
// (<= 1e-3), for a full and partial batches; evaluation_step's loss with the
// torch model in eval mode.
//
// The oracle is built from the spec's JSON alone (each layer type mapped to
// the torch op with the same arguments; model.layers in order, or model.graph's
// nodes with the values they name), not from anything the generator
// emits; only the parameter values, the batch and the dropout masks are
// shared. Dropout masks are replayed from a copy of the TorchGenerator given to
// training_step: each Dropout layer, in forward order, draws torch's bernoulli_(1 - p)
// over its first n rows, in the memory order torch's tensor has (time-major after a
// batch_first MultiheadAttention or recurrent layer), an attention's dropout over its
// (n, heads, T, T) probabilities, the mask buffers themselves
// being recycled by the memory plan once backward is done with them.
//
// This is the one LibTorch translation unit of the test: keep it that way,
// LibTorch headers take long to compile.
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <ltrt/arena.hpp>
#include <ltrt/dropout_draws.hpp>
#include <ltrt/json.hpp>
#include <ltrt/model.hpp>
#include <ltrt/rng.hpp>
#include <ltrt/torch_generator.hpp>

#include "gradcheck_registry.hpp"

namespace gradcheck {
// Test names and failure messages show the model's name.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }
}  // namespace gradcheck

namespace {

namespace json = ltrt::json;

constexpr double kTolTorch = 1e-5;  // generated float32 vs torch float32 autograd
constexpr double kTolFd = 1e-3;     // generated float32 vs float64 central differences
constexpr double kFdStep = 1e-6;    // central difference step (float64)
constexpr double kTiny = 1e-6;      // floor of the relative error's denominator

// ---------------------------------------------------------------------------
// The worst errors seen, printed at the end of the run (like llm.c's test).

struct Worst {
  double rel = 0;
  std::string what;
  void update(double r, const std::string& w) {
    if (r > rel || what.empty()) rel = r, what = w;
  }
};
Worst g_worst_torch, g_worst_fd, g_worst_loss;

class ReportWorst : public ::testing::Environment {
 public:
  void TearDown() override {
    std::printf("gradcheck: largest relative errors over all models:\n");
    std::printf("  loss vs torch float32:        %.3e  (%s)\n", g_worst_loss.rel, g_worst_loss.what.c_str());
    std::printf("  grads vs torch float32:       %.3e  (%s)\n", g_worst_torch.rel, g_worst_torch.what.c_str());
    std::printf("  grads vs float64 finite diff: %.3e  (%s)\n", g_worst_fd.rel, g_worst_fd.what.c_str());
  }
};
const auto* const g_report = ::testing::AddGlobalTestEnvironment(new ReportWorst);

// ---------------------------------------------------------------------------
// The spec, as the oracle reads it.

const json::Value* member(const json::Value& obj, const char* key) { return obj.find(key); }

std::string get_string(const json::Value& obj, const char* key, const std::string& dflt) {
  const json::Value* v = member(obj, key);
  return v ? v->str : dflt;
}
double get_number(const json::Value& obj, const char* key, double dflt) {
  const json::Value* v = member(obj, key);
  return v ? v->num : dflt;
}
std::int64_t get_integer(const json::Value& obj, const char* key, std::int64_t dflt) {
  const json::Value* v = member(obj, key);
  return v ? v->integer : dflt;
}
bool get_bool(const json::Value& obj, const char* key, bool dflt) {
  const json::Value* v = member(obj, key);
  return v ? v->b : dflt;
}
std::vector<std::int64_t> get_shape(const json::Value& v) {
  std::vector<std::int64_t> s;
  for (const auto& d : v.items) s.push_back(d.integer);
  return s;
}

// An int-or-tuple argument (torch's _single / _pair) as `size` ints; `dflt` when absent.
// A number or a list of them (Upsample's scale_factor), as `size` numbers.
std::vector<double> get_numbers(const json::Value& obj, const char* key, double dflt, std::size_t size) {
  const json::Value* v = member(obj, key);
  if (!v || v->kind == json::Kind::null) return std::vector<double>(size, dflt);
  if (v->kind != json::Kind::array) return std::vector<double>(size, v->num);
  std::vector<double> xs;
  for (const auto& x : v->items) xs.push_back(x.num);
  return xs;
}
std::vector<std::int64_t> get_ints(const json::Value& obj, const char* key, std::int64_t dflt, std::size_t size) {
  const json::Value* v = member(obj, key);
  if (!v || v->kind == json::Kind::null) return std::vector<std::int64_t>(size, dflt);
  if (v->kind == json::Kind::array) return get_shape(*v);
  return std::vector<std::int64_t>(size, v->integer);
}
// Output length of a sliding window (ceil_mode=False): torch's formula.
std::int64_t window_out(std::int64_t in, std::int64_t pad, std::int64_t k, std::int64_t stride, std::int64_t dilation) {
  return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}
// A pooling's output length: torch's pooling_output_shape, which with ceil_mode rounds up but
// drops a last window that would start past the input and its leading padding.
std::int64_t pool_out(const json::Value& l, std::int64_t in, std::int64_t pad, std::int64_t k, std::int64_t stride,
                      std::int64_t dilation) {
  if (!get_bool(l, "ceil_mode", false)) return window_out(in, pad, k, stride, dilation);
  const std::int64_t out = (in + 2 * pad - dilation * (k - 1) - 1 + stride - 1) / stride + 1;
  return (out - 1) * stride >= in + pad ? out - 1 : out;
}
// Conv padding given as a string ('same' / 'valid'), else empty.
std::string padding_mode_str(const json::Value& l) {
  const json::Value* v = member(l, "padding");
  return v && v->kind == json::Kind::string ? v->str : "";
}

struct ParamSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};

// A layer of the model: model.layers[i] (named layers.<i>, reading the layer before it) or a
// model.graph node (named by its "name", reading the values its "input" or "inputs" name).
struct Step {
  const json::Value* node = nullptr;
  std::string prefix;               // of its parameters' names: "layers.0." or "<name>."
  std::vector<std::string> inputs;  // the values it reads: the model's input or earlier steps' outputs
  std::string output;
};

struct Spec {
  json::Value root;
  std::vector<Step> steps;  // forward order
  std::string input_name;
  std::vector<std::string> output_names;  // forward's result: a tuple for a loss over two predictions
  const json::Value* loss = nullptr;    // object
  int batch_size = 0;
  std::vector<std::int64_t> input_shape;   // per sample
  bool index_input = false;                // an int64 input: Embedding indices, drawn in [0, num_embeddings)
  std::int64_t num_embeddings = 0;
  std::int64_t padding_idx = -1;           // >= 0: planted at the input's element 0 (its row's gradient is zero)
  // Parameters whose gradient torch scales by design, so that it is not the loss's derivative
  // (Embedding's scale_grad_by_freq): checked against torch's autograd, not finite differences.
  std::set<std::string> not_derivatives;
  bool class_target = false;
  std::int64_t num_classes = 0;
  std::vector<std::int64_t> target_shape;  // per sample (float targets)
  std::string loss_type;
  bool has_ignore_index = false;
  std::int64_t ignore_index = -100;
  std::vector<ParamSpec> params;  // state_dict order, as nn.Sequential would own them
  std::vector<ParamSpec> state;   // buffers (BatchNorm's running stats), state_dict order
  int min_rows = 1;               // BatchNorm on (N, C): torch refuses one value per channel in training
};

std::vector<std::int64_t> flatten_shape(const std::vector<std::int64_t>& per_sample, std::int64_t start,
                                        std::int64_t end) {
  const auto rank = static_cast<std::int64_t>(per_sample.size()) + 1;  // with the batch dimension
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  std::vector<std::int64_t> out;
  std::int64_t merged = 1;
  for (std::int64_t d = 1; d < rank; ++d) {
    if (d < start || d > end) {
      out.push_back(per_sample[d - 1]);
    } else {
      merged *= per_sample[d - 1];
      if (d == end) out.push_back(merged);
    }
  }
  return out;
}

// LayerNorm's normalized_shape: as given (an int or a list), else the last dimension.
std::vector<std::int64_t> layer_norm_shape(const json::Value& l, const std::vector<std::int64_t>& per_sample) {
  const json::Value* v = member(l, "normalized_shape");
  if (!v) return {per_sample.back()};
  if (v->kind == json::Kind::number) return {v->integer};
  return get_shape(*v);
}

// Reads the spec file; layer types it does not know fail the test.
std::unique_ptr<Spec> read_spec(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  auto s = std::make_unique<Spec>();
  s->root = json::parse(ss.str());
  const json::Value& model = *member(s->root, "model");
  s->batch_size = static_cast<int>(get_integer(*member(s->root, "data"), "batch_size", 0));
  const json::Value& inputs = *member(model, "inputs");
  EXPECT_EQ(inputs.members.size(), 1u) << "the oracle handles one input";
  const json::Value& input = inputs.members.at(0).second;  // [...] or {"shape": [...], "dtype": ...}
  s->input_shape = get_shape(input.kind == json::Kind::object ? *member(input, "shape") : input);
  s->index_input = input.kind == json::Kind::object && get_string(input, "dtype", "float32") == "int64";
  if (const json::Value* target = member(model, "target")) {
    s->class_target = get_string(*target, "dtype", "float32") == "int64";
    if (s->class_target) s->num_classes = get_integer(*target, "num_classes", 0);
    // Class targets may carry a per-sample shape too: a sequence of labels (batch, T).
    if (member(*target, "shape")) s->target_shape = get_shape(*member(*target, "shape"));
  } else {
    s->target_shape = {0};  // a loss without targets (TripletMarginLoss): nothing per sample
  }
  s->input_name = inputs.members.at(0).first;
  std::string last = s->input_name;
  if (const json::Value* graph = member(model, "graph")) {
    std::map<std::string, const json::Value*> nodes;  // by name: a node may apply an earlier one's module again
    for (const json::Value& node : graph->items) {
      nodes[get_string(node, "name", "")] = &node;
      // "module": that node's layer and parameters (its prefix), on this node's inputs.
      const std::string module = get_string(node, "module", get_string(node, "name", ""));
      Step st{nodes.at(module), module + ".", {}, get_string(node, "name", "")};
      if (const json::Value* ins = member(node, "inputs")) {
        for (const json::Value& in : ins->items) st.inputs.push_back(in.str);
      } else {
        st.inputs.push_back(get_string(node, "input", last));
      }
      last = st.output;
      s->steps.push_back(st);
    }
    if (const json::Value* out = member(model, "output"); out && out->kind == json::Kind::array) {
      for (const json::Value& name : out->items) s->output_names.push_back(name.str);
    } else {
      last = get_string(model, "output", last);
    }
  } else {
    const json::Value& layers = *member(model, "layers");
    for (std::size_t i = 0; i < layers.items.size(); ++i) {
      const std::string name = "layers." + std::to_string(i);
      s->steps.push_back({&layers.items[i], name + ".", {last}, name});
      last = name;
    }
  }
  if (s->output_names.empty()) s->output_names = {last};
  s->loss = member(model, "loss");
  s->loss_type = get_string(*s->loss, "type", "");
  if (member(*s->loss, "ignore_index")) {
    s->has_ignore_index = true;
    s->ignore_index = get_integer(*s->loss, "ignore_index", -100);
  }

  std::map<std::string, std::vector<std::int64_t>> shapes = {{s->input_name, s->input_shape}};  // per sample
  for (const Step& st : s->steps) {
    const json::Value& l = *st.node;
    const std::string type = get_string(l, "type", "");
    const std::string& prefix = st.prefix;
    std::vector<std::int64_t> shape = shapes.at(st.inputs.at(0));
    const auto rank = static_cast<std::int64_t>(shape.size()) + 1;  // with the batch
    if (type == "Add" || type == "Mul") {
      // torch's broadcast of two shapes of one rank
      const std::vector<std::int64_t>& b = shapes.at(st.inputs.at(1));
      for (std::size_t d = 0; d < shape.size(); ++d) shape[d] = std::max(shape[d], b.at(d));
    } else if (type == "Concat") {  // dim counts the batch
      const std::int64_t dim = (get_integer(l, "dim", 1) + rank) % rank - 1;
      for (std::size_t k = 1; k < st.inputs.size(); ++k) shape[dim] += shapes.at(st.inputs[k])[dim];
    } else if (type == "Bilinear") {
      const std::int64_t out = get_integer(l, "out_features", 0);
      s->params.push_back({prefix + "weight", {out, shape.back(), shapes.at(st.inputs.at(1)).back()}});
      if (get_bool(l, "bias", true)) s->params.push_back({prefix + "bias", {out}});
      shape.back() = out;
    } else if (type == "CosineSimilarity") {
      shape.erase(shape.begin() + ((get_integer(l, "dim", 1) + rank) % rank - 1));
    } else if (type == "LocalResponseNorm") {
      // its input's shape
    } else if (type == "PairwiseDistance") {  // over the last dimension
      if (get_bool(l, "keepdim", false)) shape.back() = 1;
      else shape.pop_back();
    } else if (type == "Linear") {
      // On the last dimension: (in) or a sequence (T, in) per sample.
      const std::int64_t in = shape.back(), out = get_integer(l, "out_features", 0);
      if (!member(l, "tie_weight")) s->params.push_back({prefix + "weight", {out, in}});  // tied: its owner's
      if (get_bool(l, "bias", true)) s->params.push_back({prefix + "bias", {out}});
      shape.back() = out;
    } else if (type == "Conv1d" || type == "Conv2d" || type == "Conv3d") {
      const std::size_t dims = static_cast<std::size_t>(type[4] - '0');
      EXPECT_EQ(shape.size(), dims + 1) << type << " on per-sample (C, spatial...)";
      const std::int64_t in = shape.at(0), out = get_integer(l, "out_channels", 0);
      const auto k = get_ints(l, "kernel_size", 0, dims), stride = get_ints(l, "stride", 1, dims);
      const auto dilation = get_ints(l, "dilation", 1, dims);
      const std::string mode = padding_mode_str(l);
      const auto pad = mode.empty() ? get_ints(l, "padding", 0, dims) : std::vector<std::int64_t>(dims, 0);
      std::vector<std::int64_t> w = {out, in / get_integer(l, "groups", 1)};
      w.insert(w.end(), k.begin(), k.end());
      s->params.push_back({prefix + "weight", w});
      if (get_bool(l, "bias", true)) s->params.push_back({prefix + "bias", {out}});
      std::vector<std::int64_t> next = {out};
      for (std::size_t d = 0; d < dims; ++d)
        next.push_back(mode == "same" ? shape[d + 1] : window_out(shape[d + 1], pad[d], k[d], stride[d], dilation[d]));
      shape = next;
    } else if (type == "ConvTranspose1d" || type == "ConvTranspose2d" || type == "ConvTranspose3d") {
      const std::size_t dims = static_cast<std::size_t>(type[13] - '0');
      EXPECT_EQ(shape.size(), dims + 1) << type << " on per-sample (C, spatial...)";
      const std::int64_t in = shape.at(0), out = get_integer(l, "out_channels", 0);
      const auto k = get_ints(l, "kernel_size", 0, dims), stride = get_ints(l, "stride", 1, dims);
      const auto dilation = get_ints(l, "dilation", 1, dims), pad = get_ints(l, "padding", 0, dims);
      const auto output_padding = get_ints(l, "output_padding", 0, dims);
      std::vector<std::int64_t> w = {in, out / get_integer(l, "groups", 1)};  // torch's (in, out / groups, k...)
      w.insert(w.end(), k.begin(), k.end());
      s->params.push_back({prefix + "weight", w});
      if (get_bool(l, "bias", true)) s->params.push_back({prefix + "bias", {out}});
      std::vector<std::int64_t> next = {out};
      for (std::size_t d = 0; d < dims; ++d)
        next.push_back((shape[d + 1] - 1) * stride[d] - 2 * pad[d] + dilation[d] * (k[d] - 1) + output_padding[d] + 1);
      shape = next;
    } else if (type == "MaxPool2d" || type == "AvgPool2d") {
      EXPECT_EQ(shape.size(), 3u) << type << " on per-sample (C, H, W)";
      const auto k = get_ints(l, "kernel_size", 0, 2), pad = get_ints(l, "padding", 0, 2);
      const auto stride = get_ints(l, "stride", 0, 2)[0] > 0 ? get_ints(l, "stride", 0, 2) : k;
      const auto dilation = get_ints(l, "dilation", 1, 2);
      shape = {shape[0], pool_out(l, shape[1], pad[0], k[0], stride[0], dilation[0]),
               pool_out(l, shape[2], pad[1], k[1], stride[1], dilation[1])};
    } else if (type == "AdaptiveAvgPool2d" || type == "AdaptiveMaxPool2d") {
      const auto o = get_ints(l, "output_size", 0, 2);
      shape = {shape.at(0), o[0], o[1]};
    } else if (type == "MaxPool3d" || type == "AvgPool3d") {
      EXPECT_EQ(shape.size(), 4u) << type << " on per-sample (C, D, H, W)";
      const auto k = get_ints(l, "kernel_size", 0, 3), pad = get_ints(l, "padding", 0, 3);
      const auto stride = get_ints(l, "stride", 0, 3)[0] > 0 ? get_ints(l, "stride", 0, 3) : k;
      const auto dilation = get_ints(l, "dilation", 1, 3);
      std::vector<std::int64_t> next = {shape[0]};
      for (std::size_t d = 0; d < 3; ++d) next.push_back(pool_out(l, shape[d + 1], pad[d], k[d], stride[d], dilation[d]));
      shape = next;
    } else if (type == "AdaptiveMaxPool3d" || type == "AdaptiveAvgPool3d") {
      const auto o = get_ints(l, "output_size", 0, 3);
      shape = {shape.at(0), o[0], o[1], o[2]};
    } else if (type == "MaxPool1d" || type == "AvgPool1d") {
      EXPECT_EQ(shape.size(), 2u) << type << " on per-sample (C, L)";
      const std::int64_t k = get_ints(l, "kernel_size", 0, 1)[0];
      const std::int64_t stride = get_ints(l, "stride", 0, 1)[0] > 0 ? get_ints(l, "stride", 0, 1)[0] : k;
      shape = {shape[0], pool_out(l, shape[1], get_ints(l, "padding", 0, 1)[0], k, stride, get_ints(l, "dilation", 1, 1)[0])};
    } else if (type == "AdaptiveAvgPool1d" || type == "AdaptiveMaxPool1d") {
      shape = {shape.at(0), get_ints(l, "output_size", 0, 1)[0]};
    } else if (type == "PReLU") {
      s->params.push_back({prefix + "weight", {get_integer(l, "num_parameters", 1)}});
    } else if (type == "GLU") {  // dim counts the batch: per sample it is dim - 1, or from the end
      const std::int64_t dim = get_integer(l, "dim", -1);
      const std::size_t d = dim < 0 ? shape.size() + static_cast<std::size_t>(dim) : static_cast<std::size_t>(dim - 1);
      shape.at(d) /= 2;
    } else if (type == "Upsample" || type == "UpsamplingNearest2d" || type == "UpsamplingBilinear2d") {
      // size, or the input's times scale_factor, truncated (ATen's)
      const std::size_t dims = shape.size() - 1;
      if (member(l, "size")) {
        const auto size = get_ints(l, "size", 0, dims);
        for (std::size_t d = 0; d < dims; ++d) shape[d + 1] = size[d];
      } else {
        const auto scale = get_numbers(l, "scale_factor", 1, dims);
        for (std::size_t d = 0; d < dims; ++d)
          shape[d + 1] = static_cast<std::int64_t>(static_cast<double>(shape[d + 1]) * scale[d]);
      }
    } else if (type == "Flatten") {
      shape = flatten_shape(shape, get_integer(l, "start_dim", 1), get_integer(l, "end_dim", -1));
    } else if (type == "Unflatten") {  // dim counts the batch; one size may be -1
      const std::int64_t rank = static_cast<std::int64_t>(shape.size()) + 1;
      std::int64_t dim = get_integer(l, "dim", 1);
      if (dim < 0) dim += rank;
      std::vector<std::int64_t> sizes = get_ints(l, "unflattened_size", 0, 1);
      std::int64_t known = 1;
      for (auto d : sizes) known *= d == -1 ? 1 : d;
      for (auto& d : sizes)
        if (d == -1) d = shape[dim - 1] / known;
      shape.erase(shape.begin() + (dim - 1));
      shape.insert(shape.begin() + (dim - 1), sizes.begin(), sizes.end());
    } else if (type == "PixelShuffle") {  // (C r^2, H, W) -> (C, H r, W r)
      const std::int64_t r = get_integer(l, "upscale_factor", 1);
      shape = {shape[0] / (r * r), shape[1] * r, shape[2] * r};
    } else if (type == "PixelUnshuffle") {
      const std::int64_t r = get_integer(l, "downscale_factor", 1);
      shape = {shape[0] * r * r, shape[1] / r, shape[2] / r};
    } else if (type.find("Pad1d") != std::string::npos || type.find("Pad2d") != std::string::npos ||
               type.find("Pad3d") != std::string::npos) {
      const std::size_t dims = static_cast<std::size_t>(type[type.size() - 2] - '0');
      const std::vector<std::int64_t> pads = get_ints(l, "padding", 0, 2 * dims);  // left, right[, top, bottom[, front, back]]
      for (std::size_t d = 0; d < dims; ++d) shape[shape.size() - 1 - d] += pads[2 * d] + pads[2 * d + 1];
    } else if (type == "InstanceNorm1d" || type == "InstanceNorm2d" || type == "InstanceNorm3d") {
      if (get_bool(l, "affine", false)) {
        s->params.push_back({prefix + "weight", {shape.at(0)}});
        s->params.push_back({prefix + "bias", {shape.at(0)}});
      }
      if (get_bool(l, "track_running_stats", false)) {
        s->state.push_back({prefix + "running_mean", {shape.at(0)}});
        s->state.push_back({prefix + "running_var", {shape.at(0)}});
        s->state.push_back({prefix + "num_batches_tracked", {}});
      }
    } else if (type == "Reshape") {
      std::vector<std::int64_t> next = get_ints(l, "shape", 0, 1);
      std::int64_t total = 1, known = 1;
      for (auto d : shape) total *= d;
      for (auto d : next) known *= d == -1 ? 1 : d;
      for (auto& d : next)
        if (d == -1) d = total / known;
      shape = next;
    } else if (type == "Transpose") {
      const auto rank = static_cast<std::int64_t>(shape.size()) + 1;  // with the batch
      std::int64_t d0 = get_integer(l, "dim0", 1), d1 = get_integer(l, "dim1", 1);
      d0 = d0 < 0 ? d0 + rank : d0;
      d1 = d1 < 0 ? d1 + rank : d1;
      std::swap(shape.at(static_cast<std::size_t>(d0 - 1)), shape.at(static_cast<std::size_t>(d1 - 1)));
    } else if (type == "Mean" || type == "Sum") {  // dim: one or several (consecutive)
      const auto rank = static_cast<std::int64_t>(shape.size()) + 1;  // with the batch
      std::vector<std::int64_t> dims = get_ints(l, "dim", 1, 1);
      for (auto& d : dims) d = d < 0 ? d + rank : d;
      std::sort(dims.rbegin(), dims.rend());  // erase from the back
      for (const std::int64_t d : dims) {
        if (get_bool(l, "keepdim", false)) shape.at(static_cast<std::size_t>(d - 1)) = 1;
        else shape.erase(shape.begin() + (d - 1));
      }
    } else if (type == "Narrow" || type == "Select") {
      const auto rank = static_cast<std::int64_t>(shape.size()) + 1;  // with the batch
      std::int64_t d = get_integer(l, "dim", 1);
      d = d < 0 ? d + rank : d;
      const auto at = shape.begin() + (d - 1);
      if (type == "Narrow") *at = get_integer(l, "length", 1);
      else shape.erase(at);
    } else if (type == "ReLU" || type == "LeakyReLU" || type == "GELU" || type == "Tanh" || type == "Sigmoid" ||
               type == "SiLU" || type == "Dropout" || type == "AlphaDropout" || type == "Dropout1d" || type == "Dropout2d" ||
               type == "Dropout3d" || type == "FeatureAlphaDropout" || type == "ChannelShuffle" || type == "Identity" || type == "ELU" || type == "CELU" ||
               type == "SELU" || type == "Softplus" || type == "Mish" || type == "Hardswish" ||
               type == "Hardsigmoid" || type == "Hardtanh" || type == "ReLU6" || type == "Softsign" ||
               type == "LogSigmoid" || type == "Hardshrink" || type == "Softshrink" || type == "Tanhshrink" ||
               type == "Threshold" || type == "Softmax2d" || type == "Softmin") {
      // shape unchanged, no parameters
    } else if (type == "LayerNorm") {
      const std::vector<std::int64_t> ns = layer_norm_shape(l, shape);
      if (get_bool(l, "elementwise_affine", true)) {
        s->params.push_back({prefix + "weight", ns});
        if (get_bool(l, "bias", true)) s->params.push_back({prefix + "bias", ns});
      }
    } else if (type == "RMSNorm") {
      if (get_bool(l, "elementwise_affine", true)) s->params.push_back({prefix + "weight", layer_norm_shape(l, shape)});
    } else if (type == "GroupNorm") {
      const std::int64_t c = shape.at(0);
      if (get_bool(l, "affine", true)) {
        s->params.push_back({prefix + "weight", {c}});
        s->params.push_back({prefix + "bias", {c}});
      }
    } else if (type == "Softmax" || type == "LogSoftmax") {
      // shape unchanged, no parameters
    } else if (type == "BatchNorm1d" || type == "BatchNorm2d" || type == "BatchNorm3d") {
      const std::int64_t c = shape.at(0);
      if (get_bool(l, "affine", true)) {
        s->params.push_back({prefix + "weight", {c}});
        s->params.push_back({prefix + "bias", {c}});
      }
      if (get_bool(l, "track_running_stats", true)) {
        s->state.push_back({prefix + "running_mean", {c}});
        s->state.push_back({prefix + "running_var", {c}});
        s->state.push_back({prefix + "num_batches_tracked", {}});
      }
      if (shape.size() == 1) s->min_rows = 2;
    } else if (type == "PositionalEmbedding") {
      s->params.push_back({prefix + "weight", {get_integer(l, "num_positions", 0), shape.back()}});
    } else if (type == "MultiheadAttention") {
      // Self-attention on (T, E) per sample: torch's parameter names and layout.
      const std::int64_t e = shape.back();
      s->params.push_back({prefix + "in_proj_weight", {3 * e, e}});
      if (get_bool(l, "bias", true)) s->params.push_back({prefix + "in_proj_bias", {3 * e}});
      s->params.push_back({prefix + "out_proj.weight", {e, e}});
      if (get_bool(l, "bias", true)) s->params.push_back({prefix + "out_proj.bias", {e}});
    } else if (type == "RNN" || type == "LSTM" || type == "GRU") {
      // torch.nn's parameters per layer k: weight_ih_lk (G*H, in), weight_hh_lk (G*H, H), biases (G*H),
      // G the gates: 1, 4 (i, f, g, o), 3 (r, z, n); an LSTM with proj_size P: weight_hh_lk (G*H, P)
      // and weight_hr_lk (P, H), and layers after the first read P wide states.
      // A bidirectional layer's reverse direction has its own, suffixed "_reverse", after the forward's.
      const std::int64_t h = get_integer(l, "hidden_size", 0), proj = get_integer(l, "proj_size", 0);
      const std::int64_t out = proj > 0 ? proj : h;
      const std::int64_t gh = (type == "LSTM" ? 4 : type == "GRU" ? 3 : 1) * h;
      const std::int64_t directions = get_bool(l, "bidirectional", false) ? 2 : 1;
      for (std::int64_t k = 0; k < get_integer(l, "num_layers", 1); ++k) {
        for (const std::string dir : {"", "_reverse"}) {
          if (!dir.empty() && directions == 1) continue;
          const std::string lk = "_l" + std::to_string(k) + dir;
          s->params.push_back({prefix + "weight_ih" + lk, {gh, k == 0 ? shape.back() : directions * out}});
          s->params.push_back({prefix + "weight_hh" + lk, {gh, out}});
          if (get_bool(l, "bias", true)) {
            s->params.push_back({prefix + "bias_ih" + lk, {gh}});
            s->params.push_back({prefix + "bias_hh" + lk, {gh}});
          }
          if (proj > 0) s->params.push_back({prefix + "weight_hr" + lk, {proj, h}});
        }
      }
      // "<node>.h_n" (and ".c_n"): batch first, (num_layers * directions, P or H) per sample.
      for (const char* extra : {".h_n", ".c_n"})
        shapes[st.output + extra] = {get_integer(l, "num_layers", 1) * directions, std::string(extra) == ".h_n" ? out : h};
      shape.back() = directions * out;
    } else if (type == "Embedding") {
      const std::int64_t num = get_integer(l, "num_embeddings", 0), dim = get_integer(l, "embedding_dim", 0);
      s->params.push_back({prefix + "weight", {num, dim}});
      s->num_embeddings = num;
      if (member(l, "padding_idx")) s->padding_idx = (get_integer(l, "padding_idx", 0) + num) % num;
      if (get_bool(l, "scale_grad_by_freq", false)) s->not_derivatives.insert(prefix + "weight");
      shape.push_back(dim);
    } else if (type == "Unfold" || type == "Fold") {  // (C, H, W) <-> (C kh kw, L)
      const auto k = get_ints(l, "kernel_size", 1, 2), st = get_ints(l, "stride", 1, 2);
      const auto pad = get_ints(l, "padding", 0, 2), dil = get_ints(l, "dilation", 1, 2);
      const std::vector<std::int64_t> image =
          type == "Unfold" ? shape : std::vector<std::int64_t>{shape[0] / (k[0] * k[1]), 0, 0};
      if (type == "Fold") {
        const auto size = get_ints(l, "output_size", 1, 2);
        shape = {image[0], size[0], size[1]};
      } else {
        std::int64_t blocks = 1;
        for (int d = 0; d < 2; ++d) blocks *= window_out(shape[d + 1], pad[d], k[d], st[d], dil[d]);
        shape = {shape[0] * k[0] * k[1], blocks};
      }
    } else if (type == "EmbeddingBag") {  // bags (B) of indices -> (D)
      const std::int64_t num = get_integer(l, "num_embeddings", 0), dim = get_integer(l, "embedding_dim", 0);
      s->params.push_back({prefix + "weight", {num, dim}});
      s->num_embeddings = num;
      if (member(l, "padding_idx")) s->padding_idx = (get_integer(l, "padding_idx", 0) + num) % num;
      shape = {dim};
    } else {
      ADD_FAILURE() << "the oracle does not know layer type '" << type << "'";
    }
    shapes[st.output] = shape;
  }
  // A module applied again named its parameters (and buffers) a second time: they are one (the first's).
  std::set<std::string> seen;
  s->params.erase(std::remove_if(s->params.begin(), s->params.end(), [&](const auto& p) { return !seen.insert(p.name).second; }),
                  s->params.end());
  s->state.erase(std::remove_if(s->state.begin(), s->state.end(), [&](const auto& b) { return !seen.insert(b.name).second; }),
                 s->state.end());
  return s;
}

// ---------------------------------------------------------------------------
// The torch model.

using ParamMap = std::map<std::string, torch::Tensor>;

// Dropout masks of one training step, one per Dropout layer with p > 0 in
// forward order; missing ones are replayed from `replay` as they are reached.
struct Masks {
  std::vector<torch::Tensor> masks;  // bool, the shape of the layer's input
  ltrt::TorchGenerator* replay = nullptr;  // torch's masks

  // time_major: torch's tensor is (T, batch, ...) in memory, and its mask is drawn in that order.
  torch::Tensor get(std::size_t k, const torch::Tensor& like, double p, bool time_major = false) {
    if (k < masks.size()) return masks[k];
    EXPECT_EQ(k, masks.size());
    EXPECT_NE(replay, nullptr);
    std::vector<std::int64_t> shape = like.sizes().vec();
    if (time_major) std::swap(shape[0], shape[1]);
    auto m = torch::empty(shape, torch::kBool);
    bool* d = m.data_ptr<bool>();
    for (std::int64_t i = 0; i < m.numel(); ++i) d[i] = p < 1 && replay->bernoulli(1.0 - p);  // p = 1 draws nothing
    if (time_major) m = m.transpose(0, 1).contiguous();
    masks.push_back(m);
    return m;
  }
};

at::Reduction::Reduction reduction_of(const json::Value& loss) {
  const std::string r = get_string(loss, "reduction", "mean");
  EXPECT_TRUE(r == "mean" || r == "sum" || r == "batchmean") << r;  // batchmean: the sum, divided after
  return r == "mean" ? at::Reduction::Mean : at::Reduction::Sum;
}

// The loss of the spec's model on (x, y); dtype follows the parameters.
// `state`: the BatchNorm buffers (float32 running stats, int64 counts), updated as
// nn.BatchNorm*d does in training; without it training uses batch statistics only.
torch::Tensor forward_loss(const Spec& s, const ParamMap& p, torch::Tensor h, const torch::Tensor& y, Masks* masks,
                           bool training, ParamMap* state = nullptr) {
  std::size_t dropout_k = 0;
  // Whether torch holds h as (T, batch, ...) in memory: after a batch_first MultiheadAttention or
  // recurrent layer (their outputs are transposed views), and the Dropouts and elementwise
  // activations after those (torch's kernels keep their input's memory order, LogSigmoid's excepted).
  static const std::set<std::string> kKeepsLayout = {
      "ReLU", "GELU", "Hardswish", "Hardsigmoid", "Hardtanh", "ReLU6", "LeakyReLU", "Mish", "Hardshrink",
      "Softshrink", "Tanhshrink", "Sigmoid", "SiLU", "Softplus", "Softsign", "Tanh", "Threshold", "ELU",
      "CELU", "SELU", "PReLU", "GLU", "Dropout", "AlphaDropout", "Dropout1d", "Dropout2d",
      "Dropout3d", "FeatureAlphaDropout"};
  std::map<std::string, torch::Tensor> values = {{s.input_name, h}};
  std::map<std::string, bool> time_majors = {{s.input_name, false}};
  for (const Step& st : s.steps) {
    const json::Value& l = *st.node;
    const std::string type = get_string(l, "type", "");
    const std::string& prefix = st.prefix;
    h = values.at(st.inputs.at(0));
    const bool input_time_major = time_majors.at(st.inputs.at(0));
    // a + b and a * b keep a's memory order (torch's TensorIterator takes the first operand's).
    bool time_major = type == "MultiheadAttention" || type == "RNN" || type == "LSTM" || type == "GRU" ||
                      ((kKeepsLayout.count(type) > 0 || type == "Add" || type == "Mul") && input_time_major);
    const auto other = [&](std::size_t k) { return values.at(st.inputs.at(k)); };
    if (type == "Add") {
      h = h + other(1);
    } else if (type == "Mul") {
      h = h * other(1);
    } else if (type == "Concat") {
      std::vector<torch::Tensor> parts;
      for (std::size_t k = 0; k < st.inputs.size(); ++k) parts.push_back(other(k));
      h = torch::cat(parts, get_integer(l, "dim", 1));
    } else if (type == "Bilinear") {
      const auto b = p.find(prefix + "bias");
      h = torch::bilinear(h, other(1), p.at(prefix + "weight"), b == p.end() ? torch::Tensor() : b->second);
    } else if (type == "CosineSimilarity") {
      // torch 2.x's cosine_similarity, written out: Debian's LibTorch 1.13 clamps the product of the
      // norms instead (the same away from eps). 2.x divides each input by a copy of its norm that
      // it clamps without autograd, so the gradient sees the clamped value divide and the norm's
      // own derivative behind it (lightning_randn_distances checks 2.x's against Lightning's).
      const std::int64_t dim = get_integer(l, "dim", 1);
      const double eps = get_number(l, "eps", 1e-8);
      const auto unit = [&](const torch::Tensor& v) {
        torch::Tensor norm = at::linalg_vector_norm(v, 2, dim, /*keepdim=*/true).clone();
        {
          torch::NoGradGuard no_grad;
          norm.clamp_min_(eps);
        }
        return v / norm;
      };
      h = (unit(h) * unit(other(1))).sum(dim);
    } else if (type == "LocalResponseNorm") {
      namespace F = torch::nn::functional;
      h = F::local_response_norm(h, F::LocalResponseNormFuncOptions(get_integer(l, "size", 0))
                                        .alpha(get_number(l, "alpha", 1e-4))
                                        .beta(get_number(l, "beta", 0.75))
                                        .k(get_number(l, "k", 1.0)));
    } else if (type == "PairwiseDistance") {
      h = torch::pairwise_distance(h, other(1), get_number(l, "p", 2.0), get_number(l, "eps", 1e-6),
                                   get_bool(l, "keepdim", false));
    } else if (type == "Linear") {
      const auto b = p.find(prefix + "bias");
      // tie_weight: the same tensor as its owner's weight (one leaf, two uses: autograd sums them).
      const std::string weight = member(l, "tie_weight") ? get_string(l, "tie_weight", "") + ".weight" : prefix + "weight";
      h = torch::linear(h, p.at(weight), b == p.end() ? torch::Tensor() : b->second);
    } else if (type == "ReLU") {
      h = torch::relu(h);
    } else if (type == "LeakyReLU") {
      h = torch::leaky_relu(h, get_number(l, "negative_slope", 0.01));
    } else if (type == "GELU") {
      h = torch::gelu(h, get_string(l, "approximate", "none"));
    } else if (type == "Tanh") {
      h = torch::tanh(h);
    } else if (type == "Sigmoid") {
      h = torch::sigmoid(h);
    } else if (type == "SiLU") {
      h = torch::silu(h);
    } else if (type == "ELU") {
      h = torch::elu(h, get_number(l, "alpha", 1.0));
    } else if (type == "CELU") {
      h = torch::celu(h, get_number(l, "alpha", 1.0));
    } else if (type == "SELU") {
      h = torch::selu(h);
    } else if (type == "Softplus") {
      h = torch::softplus(h, get_number(l, "beta", 1.0), get_number(l, "threshold", 20.0));
    } else if (type == "Mish") {
      h = torch::mish(h);
    } else if (type == "Hardswish") {
      h = torch::hardswish(h);
    } else if (type == "Hardsigmoid") {
      h = torch::hardsigmoid(h);
    } else if (type == "Hardtanh") {
      h = torch::hardtanh(h, get_number(l, "min_val", -1.0), get_number(l, "max_val", 1.0));
    } else if (type == "ReLU6") {
      h = torch::hardtanh(h, 0.0, 6.0);
    } else if (type == "Softsign") {
      h = h / (h.abs() + 1);  // torch.nn.functional.softsign
    } else if (type == "LogSigmoid") {
      h = torch::log_sigmoid(h);
    } else if (type == "Hardshrink") {
      h = torch::hardshrink(h, get_number(l, "lambd", 0.5));
    } else if (type == "Softshrink") {
      h = torch::softshrink(h, get_number(l, "lambd", 0.5));
    } else if (type == "Tanhshrink") {
      h = h - h.tanh();  // torch.nn.functional.tanhshrink
    } else if (type == "Threshold") {
      h = torch::threshold(h, get_number(l, "threshold", 0.0), get_number(l, "value", 0.0));
    } else if (type == "Identity") {
    } else if (type == "Conv1d" || type == "Conv2d" || type == "Conv3d") {
      const std::size_t dims = static_cast<std::size_t>(type[4] - '0');
      const auto b = p.find(prefix + "bias");
      const torch::Tensor bias = b == p.end() ? torch::Tensor() : b->second;
      const torch::Tensor& w = p.at(prefix + "weight");
      const auto stride = get_ints(l, "stride", 1, dims), dilation = get_ints(l, "dilation", 1, dims);
      const std::int64_t groups = get_integer(l, "groups", 1);
      const std::string mode = padding_mode_str(l);
      const std::string padding_mode = get_string(l, "padding_mode", "zeros");
      if (padding_mode != "zeros") {
        // Conv2d._conv_forward: F.pad in that mode (the last dimension first; 'same' puts the odd
        // one at the end), then a convolution without padding.
        const auto k = get_ints(l, "kernel_size", 0, dims);
        const auto pad = mode.empty() ? get_ints(l, "padding", 0, dims) : std::vector<std::int64_t>(dims, 0);
        std::vector<std::int64_t> pads;
        for (std::size_t d = dims; d-- > 0;) {
          const std::int64_t total = mode == "same" ? dilation[d] * (k[d] - 1) : 2 * pad[d];
          pads.push_back(total / 2);
          pads.push_back(total - total / 2);
        }
        namespace F = torch::nn::functional;
        F::PadFuncOptions o(pads);
        if (padding_mode == "reflect") o.mode(torch::kReflect);
        else if (padding_mode == "replicate") o.mode(torch::kReplicate);
        else o.mode(torch::kCircular);
        h = F::pad(h, o);
        const std::vector<std::int64_t> none(dims, 0);
        h = dims == 3   ? torch::conv3d(h, w, bias, stride, none, dilation, groups)
            : dims == 2 ? torch::conv2d(h, w, bias, stride, none, dilation, groups)
                        : torch::conv1d(h, w, bias, stride, none, dilation, groups);
      } else if (dims == 3) {
        h = mode.empty() ? torch::conv3d(h, w, bias, stride, get_ints(l, "padding", 0, 3), dilation, groups)
                         : torch::conv3d(h, w, bias, stride, mode, dilation, groups);
      } else if (!mode.empty())
        h = dims == 2 ? torch::conv2d(h, w, bias, stride, mode, dilation, groups)
                      : torch::conv1d(h, w, bias, stride, mode, dilation, groups);
      else if (dims == 2)
        h = torch::conv2d(h, w, bias, stride, get_ints(l, "padding", 0, 2), dilation, groups);
      else
        h = torch::conv1d(h, w, bias, stride, get_ints(l, "padding", 0, 1), dilation, groups);
    } else if (type == "ConvTranspose1d" || type == "ConvTranspose2d" || type == "ConvTranspose3d") {
      const std::size_t dims = static_cast<std::size_t>(type[13] - '0');
      const auto b = p.find(prefix + "bias");
      const torch::Tensor bias = b == p.end() ? torch::Tensor() : b->second;
      const torch::Tensor& w = p.at(prefix + "weight");
      const auto stride = get_ints(l, "stride", 1, dims), pad = get_ints(l, "padding", 0, dims);
      const auto output_padding = get_ints(l, "output_padding", 0, dims), dilation = get_ints(l, "dilation", 1, dims);
      const std::int64_t groups = get_integer(l, "groups", 1);
      h = dims == 3   ? torch::conv_transpose3d(h, w, bias, stride, pad, output_padding, groups, dilation)
          : dims == 2 ? torch::conv_transpose2d(h, w, bias, stride, pad, output_padding, groups, dilation)
                      : torch::conv_transpose1d(h, w, bias, stride, pad, output_padding, groups, dilation);
    } else if (type == "MaxPool2d") {
      const auto k = get_ints(l, "kernel_size", 0, 2);
      const auto stride = get_ints(l, "stride", 0, 2)[0] > 0 ? get_ints(l, "stride", 0, 2) : k;
      h = torch::max_pool2d(h, k, stride, get_ints(l, "padding", 0, 2), get_ints(l, "dilation", 1, 2),
                            get_bool(l, "ceil_mode", false));
    } else if (type == "AvgPool2d") {
      const auto k = get_ints(l, "kernel_size", 0, 2);
      const auto stride = get_ints(l, "stride", 0, 2)[0] > 0 ? get_ints(l, "stride", 0, 2) : k;
      const std::int64_t divisor = get_integer(l, "divisor_override", 0);
      h = torch::avg_pool2d(h, k, stride, get_ints(l, "padding", 0, 2), get_bool(l, "ceil_mode", false),
                            get_bool(l, "count_include_pad", true),
                            divisor > 0 ? c10::optional<std::int64_t>(divisor) : c10::nullopt);
    } else if (type == "AdaptiveAvgPool2d") {
      h = torch::adaptive_avg_pool2d(h, get_ints(l, "output_size", 0, 2));
    } else if (type == "MaxPool1d") {
      const auto k = get_ints(l, "kernel_size", 0, 1);
      const auto stride = get_ints(l, "stride", 0, 1)[0] > 0 ? get_ints(l, "stride", 0, 1) : k;
      h = torch::max_pool1d(h, k, stride, get_ints(l, "padding", 0, 1), get_ints(l, "dilation", 1, 1),
                            get_bool(l, "ceil_mode", false));
    } else if (type == "AvgPool1d") {
      const auto k = get_ints(l, "kernel_size", 0, 1);
      const auto stride = get_ints(l, "stride", 0, 1)[0] > 0 ? get_ints(l, "stride", 0, 1) : k;
      h = torch::avg_pool1d(h, k, stride, get_ints(l, "padding", 0, 1), get_bool(l, "ceil_mode", false),
                            get_bool(l, "count_include_pad", true));
    } else if (type == "AdaptiveAvgPool1d") {
      h = torch::adaptive_avg_pool1d(h, get_ints(l, "output_size", 0, 1));
    } else if (type == "AdaptiveMaxPool2d") {
      h = std::get<0>(torch::adaptive_max_pool2d(h, get_ints(l, "output_size", 0, 2)));
    } else if (type == "MaxPool3d") {
      const auto k = get_ints(l, "kernel_size", 0, 3);
      const auto stride = get_ints(l, "stride", 0, 3)[0] > 0 ? get_ints(l, "stride", 0, 3) : k;
      h = torch::max_pool3d(h, k, stride, get_ints(l, "padding", 0, 3), get_ints(l, "dilation", 1, 3),
                            get_bool(l, "ceil_mode", false));
    } else if (type == "AdaptiveMaxPool3d") {
      h = std::get<0>(torch::adaptive_max_pool3d(h, get_ints(l, "output_size", 0, 3)));
    } else if (type == "AvgPool3d") {
      const auto k = get_ints(l, "kernel_size", 0, 3);
      const auto stride = get_ints(l, "stride", 0, 3)[0] > 0 ? get_ints(l, "stride", 0, 3) : k;
      const std::int64_t divisor = get_integer(l, "divisor_override", 0);
      h = torch::avg_pool3d(h, k, stride, get_ints(l, "padding", 0, 3), get_bool(l, "ceil_mode", false),
                            get_bool(l, "count_include_pad", true),
                            divisor > 0 ? c10::optional<std::int64_t>(divisor) : c10::nullopt);
    } else if (type == "AdaptiveAvgPool3d") {
      h = torch::adaptive_avg_pool3d(h, get_ints(l, "output_size", 0, 3));
    } else if (type == "AdaptiveMaxPool1d") {
      h = std::get<0>(torch::adaptive_max_pool1d(h, get_ints(l, "output_size", 0, 1)));
    } else if (type == "PReLU") {
      h = torch::prelu(h, p.at(prefix + "weight"));
    } else if (type == "GLU") {
      h = torch::glu(h, get_integer(l, "dim", -1));
    } else if (type == "Upsample" || type == "UpsamplingNearest2d" || type == "UpsamplingBilinear2d") {
      // torch.nn.Upsample by its output size (and its scales, as F.interpolate); the aliases fix
      // the mode ('bilinear' with align_corners=True)
      std::vector<std::int64_t> size(h.sizes().begin() + 2, h.sizes().end());
      std::vector<c10::optional<double>> scales(size.size());
      if (member(l, "size")) {
        size = get_ints(l, "size", 0, size.size());
      } else {
        const auto scale = get_numbers(l, "scale_factor", 1, size.size());
        const bool recompute = get_bool(l, "recompute_scale_factor", false);  // F.interpolate's: a size, no scales
        for (std::size_t d = 0; d < size.size(); ++d) {
          size[d] = static_cast<std::int64_t>(static_cast<double>(size[d]) * scale[d]);
          if (!recompute) scales[d] = scale[d];
        }
      }
      const std::string mode = type == "UpsamplingBilinear2d" ? "bilinear" : get_string(l, "mode", "nearest");
      const bool align = type == "UpsamplingBilinear2d" || get_bool(l, "align_corners", false);
      if (mode == "linear")
        h = torch::upsample_linear1d(h, size, align, scales[0]);
      else if (mode == "bilinear")
        h = torch::upsample_bilinear2d(h, size, align, scales[0], scales[1]);
      else if (mode == "bicubic")
        h = torch::upsample_bicubic2d(h, size, align, scales[0], scales[1]);
      else if (mode == "nearest-exact")
        h = size.size() == 1   ? torch::_upsample_nearest_exact1d(h, size, scales[0])
            : size.size() == 2 ? torch::_upsample_nearest_exact2d(h, size, scales[0], scales[1])
                               : torch::_upsample_nearest_exact3d(h, size, scales[0], scales[1], scales[2]);
      else
        h = size.size() == 1   ? torch::upsample_nearest1d(h, size, scales[0])
            : size.size() == 2 ? torch::upsample_nearest2d(h, size, scales[0], scales[1])
                               : torch::upsample_nearest3d(h, size, scales[0], scales[1], scales[2]);
    } else if (type == "Flatten") {
      h = torch::flatten(h, get_integer(l, "start_dim", 1), get_integer(l, "end_dim", -1));
    } else if (type == "Unflatten") {
      h = h.unflatten(get_integer(l, "dim", 1), get_ints(l, "unflattened_size", 0, 1));
    } else if (type == "Softmax2d") {
      h = torch::softmax(h, -3);
    } else if (type == "Softmin") {
      h = torch::softmax(-h, get_integer(l, "dim", 0));  // torch.nn.functional.softmin
    } else if (type == "PixelShuffle") {
      h = torch::pixel_shuffle(h, get_integer(l, "upscale_factor", 1));
    } else if (type == "PixelUnshuffle") {
      h = torch::pixel_unshuffle(h, get_integer(l, "downscale_factor", 1));
    } else if (type == "ChannelShuffle") {
      // ATen's math_channel_shuffle (this LibTorch's channel_shuffle has no derivative)
      const std::int64_t groups = get_integer(l, "groups", 1);
      std::vector<std::int64_t> split = {h.size(0), groups, h.size(1) / groups};
      for (std::int64_t d = 2; d < h.dim(); ++d) split.push_back(h.size(d));
      h = h.view(split).transpose(1, 2).contiguous().view(h.sizes());
    } else if (type.find("Pad1d") != std::string::npos || type.find("Pad2d") != std::string::npos ||
               type.find("Pad3d") != std::string::npos) {
      // torch.nn's padding layers: F.pad's modes over the last one, two or three dimensions.
      const std::size_t dims = static_cast<std::size_t>(type[type.size() - 2] - '0');
      const std::vector<std::int64_t> pads = get_ints(l, "padding", 0, 2 * dims);
      if (type.rfind("Reflection", 0) == 0)
        h = dims == 3   ? torch::reflection_pad3d(h, pads)
            : dims == 2 ? torch::reflection_pad2d(h, pads)
                        : torch::reflection_pad1d(h, pads);
      else if (type.rfind("Replication", 0) == 0)
        h = dims == 3   ? torch::replication_pad3d(h, pads)
            : dims == 2 ? torch::replication_pad2d(h, pads)
                        : torch::replication_pad1d(h, pads);
      else if (type.rfind("Circular", 0) == 0)
        h = torch::nn::functional::pad(h, torch::nn::functional::PadFuncOptions(pads).mode(torch::kCircular));
      else
        h = torch::constant_pad_nd(h, pads, get_number(l, "value", 0.0));
    } else if (type == "InstanceNorm1d" || type == "InstanceNorm2d" || type == "InstanceNorm3d") {
      // nn.InstanceNorm*d.forward: with track_running_stats, the running statistics in eval and
      // updated in training (momentum=None passes 0); num_batches_tracked is never counted.
      const auto w = p.find(prefix + "weight"), b = p.find(prefix + "bias");
      const bool track = get_bool(l, "track_running_stats", false);
      const json::Value* mom = member(l, "momentum");
      const double momentum = mom && mom->kind == json::Kind::null ? 0.0 : get_number(l, "momentum", 0.1);
      torch::Tensor rm, rv;
      if (track && state) {
        rm = state->at(prefix + "running_mean");
        rv = state->at(prefix + "running_var");
      } else if (track && !training) {
        ADD_FAILURE() << "eval mode needs the running statistics";
      }
      h = torch::instance_norm(h, w == p.end() ? torch::Tensor() : w->second, b == p.end() ? torch::Tensor() : b->second,
                               rm, rv, training || !track, momentum, get_number(l, "eps", 1e-5), false);
    } else if (type == "Reshape") {
      std::vector<std::int64_t> shape = {h.size(0)};
      for (auto d : get_ints(l, "shape", 0, 1)) shape.push_back(d);
      h = h.reshape(shape);
    } else if (type == "Transpose") {
      h = h.transpose(get_integer(l, "dim0", 1), get_integer(l, "dim1", 1)).contiguous();
    } else if (type == "Narrow") {
      h = h.narrow(get_integer(l, "dim", 1), get_integer(l, "start", 0), get_integer(l, "length", 1));
    } else if (type == "Select") {
      h = h.select(get_integer(l, "dim", 1), get_integer(l, "index", 0));
    } else if (type == "Mean") {
      h = h.mean(get_ints(l, "dim", 1, 1), get_bool(l, "keepdim", false));
    } else if (type == "Sum") {
      h = h.sum(get_ints(l, "dim", 1, 1), get_bool(l, "keepdim", false));
    } else if (type == "Dropout") {
      const double prob = get_number(l, "p", 0.5);
      if (training && prob > 0) {
        // As ATen's dropout: input * (bernoulli(1 - p) / (1 - p)), the mask given.
        const torch::Tensor keep = masks->get(dropout_k++, h, prob, input_time_major).to(h.dtype());
        h = prob < 1 ? h * keep.div(1 - prob) : h * 0;
      }
    } else if (type == "AlphaDropout") {
      // ATen's _dropout_impl for alpha dropout, with the replayed mask as its noise.
      const double prob = get_number(l, "p", 0.5);
      if (training && prob > 0) {
        const torch::Tensor keep = masks->get(dropout_k++, h, prob, input_time_major).to(h.dtype());
        if (prob < 1) {
          constexpr double alpha = 1.7580993408473766;
          const double a = 1.0 / std::sqrt((alpha * alpha * prob + 1) * (1 - prob));
          const torch::Tensor shift = keep.add(-1).mul_(alpha * a).add_(alpha * a * prob);
          h = h * keep.mul(a) + shift;
        } else {
          h = h * 0;
        }
      }
    } else if (type == "Dropout1d" || type == "Dropout2d" || type == "Dropout3d" || type == "FeatureAlphaDropout") {
      const double prob = get_number(l, "p", 0.5);
      if (training && prob > 0) {
        // As ATen's feature dropout: one Bernoulli draw per (sample, channel), broadcast over the
        // channel's positions; the draws replayed per channel, in order. FeatureAlphaDropout
        // applies that noise as AlphaDropout does.
        std::vector<std::int64_t> channels = {h.size(0), h.size(1)};
        for (std::int64_t d = 2; d < h.dim(); ++d) channels.push_back(1);
        const torch::Tensor keep = masks->get(dropout_k++, torch::empty(channels), prob).to(h.dtype());
        if (type == "FeatureAlphaDropout" && prob < 1) {
          constexpr double alpha = 1.7580993408473766;
          const double a = 1.0 / std::sqrt((alpha * alpha * prob + 1) * (1 - prob));
          const torch::Tensor shift = keep.add(-1).mul_(alpha * a).add_(alpha * a * prob);
          h = h * keep.mul(a) + shift;
        } else {
          h = prob < 1 ? h * keep.div(1 - prob) : h * 0;
        }
      }
    } else if (type == "LayerNorm") {
      const std::vector<std::int64_t> sample(h.sizes().begin() + 1, h.sizes().end());
      const auto w = p.find(prefix + "weight"), b = p.find(prefix + "bias");
      h = torch::layer_norm(h, layer_norm_shape(l, sample), w == p.end() ? torch::Tensor() : w->second,
                            b == p.end() ? torch::Tensor() : b->second, get_number(l, "eps", 1e-5));
    } else if (type == "RMSNorm") {
      // torch's rms_norm (ATen's composite): x * rsqrt(mean(x^2) + eps) over normalized_shape, times
      // the weight; eps None is the dtype's machine epsilon (float32's: the program's dtype).
      const std::vector<std::int64_t> sample(h.sizes().begin() + 1, h.sizes().end());
      const std::vector<std::int64_t> ns = layer_norm_shape(l, sample);
      std::vector<std::int64_t> dims;
      for (std::size_t d = 0; d < ns.size(); ++d) dims.push_back(h.dim() - 1 - static_cast<std::int64_t>(d));
      const json::Value* eps = member(l, "eps");
      const double e = eps && eps->kind == json::Kind::number ? eps->num : std::numeric_limits<float>::epsilon();
      h = h * torch::rsqrt(h.pow(2).mean(dims, true) + e);
      const auto w = p.find(prefix + "weight");
      if (w != p.end()) h = h * w->second;
    } else if (type == "GroupNorm") {
      const auto w = p.find(prefix + "weight"), b = p.find(prefix + "bias");
      h = torch::group_norm(h, get_integer(l, "num_groups", 1), w == p.end() ? torch::Tensor() : w->second,
                            b == p.end() ? torch::Tensor() : b->second, get_number(l, "eps", 1e-5));
    } else if (type == "BatchNorm1d" || type == "BatchNorm2d" || type == "BatchNorm3d") {
      // nn.BatchNorm*d.forward: num_batches_tracked += 1 in training; momentum=None is the
      // cumulative average 1 / num_batches_tracked; eval normalises with the running stats.
      const auto w = p.find(prefix + "weight"), b = p.find(prefix + "bias");
      const bool track = get_bool(l, "track_running_stats", true);
      const json::Value* mom = member(l, "momentum");
      double momentum = mom && mom->kind != json::Kind::null ? mom->num : 0.1;
      torch::Tensor rm, rv;
      if (track && state) {
        rm = state->at(prefix + "running_mean");
        rv = state->at(prefix + "running_var");
        if (training) {
          torch::Tensor& count = state->at(prefix + "num_batches_tracked");
          count.add_(1);
          if (mom && mom->kind == json::Kind::null) momentum = 1.0 / static_cast<double>(count.item<std::int64_t>());
        }
      } else if (track && !training) {
        ADD_FAILURE() << "eval mode needs the running statistics";
      }
      h = torch::batch_norm(h, w == p.end() ? torch::Tensor() : w->second, b == p.end() ? torch::Tensor() : b->second,
                            rm, rv, training || !track, momentum, get_number(l, "eps", 1e-5), false);
    } else if (type == "Softmax") {
      h = torch::softmax(h, get_integer(l, "dim", 0));
    } else if (type == "LogSoftmax") {
      h = torch::log_softmax(h, get_integer(l, "dim", 0));
    } else if (type == "PositionalEmbedding") {
      // nanoGPT: x + wpe(torch.arange(T)).
      h = h + torch::embedding(p.at(prefix + "weight"), torch::arange(h.size(1), torch::kLong));
    } else if (type == "MultiheadAttention" && training && get_number(l, "dropout", 0.0) > 0) {
      // Attention dropout, its masks replayed (torch's functional would draw its own): the
      // attention spelt out as torch's math path, softmax(q k^T / sqrt(D)) dropped, times v, its
      // mask torch's bernoulli_(1 - p) of the (batch, heads, T, T) probabilities.
      const double drop = get_number(l, "dropout", 0.0);
      const std::int64_t batch = h.size(0), t = h.size(1), e = h.size(2), heads = get_integer(l, "num_heads", 1);
      const std::int64_t d = e / heads;
      const auto opt = [&](const std::string& k) { const auto it = p.find(k); return it == p.end() ? torch::Tensor() : it->second; };
      const torch::Tensor qkv = torch::linear(h, p.at(prefix + "in_proj_weight"), opt(prefix + "in_proj_bias"));
      const auto split = [&](int part) { return qkv.narrow(2, part * e, e).reshape({batch, t, heads, d}).transpose(1, 2); };
      torch::Tensor scores = torch::matmul(split(0), split(1).transpose(-2, -1)) / std::sqrt(static_cast<double>(d));
      if (get_bool(l, "is_causal", false))
        scores = scores.masked_fill(torch::ones({t, t}, torch::TensorOptions().dtype(torch::kBool)).triu(1), -std::numeric_limits<double>::infinity());
      const torch::Tensor keep = masks->get(dropout_k++, torch::empty({batch, heads, t, t}), drop);
      const torch::Tensor probs = torch::softmax(scores, -1) * (keep.to(h.dtype()) / (1.0 - drop));
      const torch::Tensor att = torch::matmul(probs, split(2)).transpose(1, 2).reshape({batch, t, e});
      h = torch::linear(att, p.at(prefix + "out_proj.weight"), opt(prefix + "out_proj.bias"));
    } else if (type == "MultiheadAttention") {
      // torch.nn.MultiheadAttention(batch_first=True)(x, x, x, need_weights=False, attn_mask=
      // nn.Transformer.generate_square_subsequent_mask(T) when is_causal): torch's own functional, on (T, N, E).
      namespace F = torch::nn::functional;
      const std::int64_t e = h.size(2), t = h.size(1);
      const auto opt = [&](const std::string& k) { const auto it = p.find(k); return it == p.end() ? torch::Tensor() : it->second; };
      const torch::Tensor q = h.transpose(0, 1);
      torch::Tensor mask;
      if (get_bool(l, "is_causal", false))
        mask = torch::full({t, t}, -std::numeric_limits<double>::infinity(), h.options()).triu(1);
      auto o = F::MultiheadAttentionForwardFuncOptions(e, get_integer(l, "num_heads", 1), p.at(prefix + "in_proj_weight"),
                                                       opt(prefix + "in_proj_bias"), torch::Tensor(), torch::Tensor(),
                                                       false, 0.0, p.at(prefix + "out_proj.weight"),
                                                       opt(prefix + "out_proj.bias"))
                   .training(training)
                   .need_weights(false)
                   .attn_mask(mask);
      h = std::get<0>(F::multi_head_attention_forward(q, q, q, o)).transpose(0, 1);
    } else if (type == "RNN" || type == "LSTM" || type == "GRU") {
      // torch.nn.RNN/LSTM/GRU(batch_first=True) from zero states: the output sequence.
      const std::int64_t layers = get_integer(l, "num_layers", 1), hidden = get_integer(l, "hidden_size", 0);
      const bool bias = get_bool(l, "bias", true), both = get_bool(l, "bidirectional", false);
      std::vector<torch::Tensor> weights;
      for (std::int64_t k = 0; k < layers; ++k) {
        for (const std::string dir : {"", "_reverse"}) {
          if (!dir.empty() && !both) continue;
          const std::string lk = "_l" + std::to_string(k) + dir;
          weights.push_back(p.at(prefix + "weight_ih" + lk));
          weights.push_back(p.at(prefix + "weight_hh" + lk));
          if (bias) {
            weights.push_back(p.at(prefix + "bias_ih" + lk));
            weights.push_back(p.at(prefix + "bias_hh" + lk));
          }
          if (p.count(prefix + "weight_hr" + lk)) weights.push_back(p.at(prefix + "weight_hr" + lk));
        }
      }
      // Layer by layer, so that dropout between layers applies the replayed masks (torch's own would
      // draw from torch's generator): torch's dropout, on every layer's output but the last's.
      const double prob = get_number(l, "dropout", 0.0);
      const std::size_t per_layer = weights.size() / static_cast<std::size_t>(layers);
      const std::int64_t dirs = both ? 2 : 1;
      const std::int64_t proj = get_integer(l, "proj_size", 0);  // an LSTM's h_t is proj_size wide
      const torch::Tensor zeros = torch::zeros({dirs, h.size(0), hidden}, h.options());
      const torch::Tensor zero_h = proj > 0 ? torch::zeros({dirs, h.size(0), proj}, h.options()) : zeros;
      // Initial states (inputs after x): batch first, torch's (num_layers * directions, N, H) transposed.
      torch::Tensor h0, c0;
      if (st.inputs.size() > 1) h0 = other(1).transpose(0, 1);
      if (st.inputs.size() > 2) c0 = other(2).transpose(0, 1);
      auto rows = [&](const torch::Tensor& t, std::int64_t k, const torch::Tensor& none) {
        return t.defined() ? t.narrow(0, k * dirs, dirs).contiguous() : none;
      };
      std::vector<torch::Tensor> h_n, c_n;  // each layer's
      for (std::int64_t k = 0; k < layers; ++k) {
        if (k > 0 && training && prob > 0) {
          const torch::Tensor keep = masks->get(dropout_k++, h, prob, true).to(h.dtype());  // torch's (T, N, H)
          h = prob < 1 ? h * keep.div(1 - prob) : h * 0;
        }
        const std::vector<torch::Tensor> w(weights.begin() + static_cast<std::ptrdiff_t>(k * per_layer),
                                           weights.begin() + static_cast<std::ptrdiff_t>((k + 1) * per_layer));
        torch::Tensor last;
        if (type == "LSTM") {
          torch::Tensor cell;
          std::tie(h, last, cell) = torch::lstm(h, {rows(h0, k, zero_h), rows(c0, k, zeros)}, w, bias, 1, 0.0, training, both, true);
          c_n.push_back(cell);
        } else if (type == "GRU") {
          std::tie(h, last) = torch::gru(h, rows(h0, k, zeros), w, bias, 1, 0.0, training, both, true);
        } else if (get_string(l, "nonlinearity", "tanh") == "relu") {
          std::tie(h, last) = torch::rnn_relu(h, rows(h0, k, zeros), w, bias, 1, 0.0, training, both, true);
        } else {
          std::tie(h, last) = torch::rnn_tanh(h, rows(h0, k, zeros), w, bias, 1, 0.0, training, both, true);
        }
        h_n.push_back(last);
      }
      values[st.output + ".h_n"] = torch::cat(h_n, 0).transpose(0, 1);
      time_majors[st.output + ".h_n"] = true;
      if (!c_n.empty()) {
        values[st.output + ".c_n"] = torch::cat(c_n, 0).transpose(0, 1);
        time_majors[st.output + ".c_n"] = true;
      }
    } else if (type == "Embedding") {
      h = torch::embedding(p.at(prefix + "weight"), h, s.padding_idx, get_bool(l, "scale_grad_by_freq", false));
    } else if (type == "Unfold") {
      namespace F = torch::nn::functional;
      h = F::unfold(h, F::UnfoldFuncOptions(get_ints(l, "kernel_size", 1, 2)).dilation(get_ints(l, "dilation", 1, 2))
                           .padding(get_ints(l, "padding", 0, 2)).stride(get_ints(l, "stride", 1, 2)));
    } else if (type == "Fold") {
      namespace F = torch::nn::functional;
      h = F::fold(h, F::FoldFuncOptions(get_ints(l, "output_size", 1, 2), get_ints(l, "kernel_size", 1, 2))
                         .dilation(get_ints(l, "dilation", 1, 2)).padding(get_ints(l, "padding", 0, 2))
                         .stride(get_ints(l, "stride", 1, 2)));
    } else if (type == "EmbeddingBag") {  // torch.nn.functional.embedding_bag on a 2-d input: a bag per row
      namespace F = torch::nn::functional;
      auto o = F::EmbeddingBagFuncOptions();
      if (get_string(l, "mode", "mean") == "sum") o.mode(torch::kSum); else o.mode(torch::kMean);
      if (s.padding_idx >= 0) o.padding_idx(s.padding_idx);
      h = F::embedding_bag(h, p.at(prefix + "weight"), o);
    } else {
      ADD_FAILURE() << "unknown layer " << type;
    }
    values[st.output] = h;
    time_majors[st.output] = time_major;
  }
  h = values.at(s.output_names.at(0));
  const json::Value& l = *s.loss;
  const auto red = reduction_of(l);
  if (s.loss_type == "MarginRankingLoss")
    return torch::margin_ranking_loss(h, values.at(s.output_names.at(1)), y, get_number(l, "margin", 0.0), red);
  if (s.loss_type == "CosineEmbeddingLoss")
    return torch::cosine_embedding_loss(h, values.at(s.output_names.at(1)), y, get_number(l, "margin", 0.0), red);
  if (s.loss_type == "GaussianNLLLoss") {
    // torch.nn.functional.gaussian_nll_loss(input, target, var): var unsqueezed when it lacks the
    // last dimension, clamped below at eps on a copy under no_grad, then the formula.
    torch::Tensor var = values.at(s.output_names.at(1));
    if (var.dim() + 1 == h.dim()) var = var.unsqueeze(-1);
    var = var.clone();
    {
      torch::NoGradGuard no_grad;
      var.clamp_(get_number(l, "eps", 1e-6));
    }
    torch::Tensor loss = 0.5 * (torch::log(var) + (h - y).pow(2) / var);
    if (get_bool(l, "full", false)) loss = loss + 0.5 * std::log(2 * M_PI);
    return red == at::Reduction::Mean ? loss.mean() : loss.sum();
  }
  if (s.loss_type == "TripletMarginWithDistanceLoss") {  // its default distance_function, PairwiseDistance()
    namespace F = torch::nn::functional;
    auto o = F::TripletMarginWithDistanceLossFuncOptions().margin(get_number(l, "margin", 1.0)).swap(get_bool(l, "swap", false));
    if (red == at::Reduction::Sum) o.reduction(torch::kSum);
    return F::triplet_margin_with_distance_loss(h, values.at(s.output_names.at(1)), values.at(s.output_names.at(2)), o);
  }
  if (s.loss_type == "TripletMarginLoss")
    return torch::triplet_margin_loss(h, values.at(s.output_names.at(1)), values.at(s.output_names.at(2)),
                                      get_number(l, "margin", 1.0), get_number(l, "p", 2.0), get_number(l, "eps", 1e-6),
                                      get_bool(l, "swap", false), red);
  // A loss's number lists (class weights, pos_weight) as tensors of the loss's dtype.
  auto list_tensor = [&](const char* key) {
    const json::Value* w = member(l, key);
    if (!w) return torch::Tensor();
    std::vector<double> ws;
    for (const json::Value& x : w->items) ws.push_back(x.num);
    return torch::tensor(ws, torch::kDouble).to(h.scalar_type());
  };
  const torch::Tensor weight = list_tensor("weight");
  if (s.loss_type == "MSELoss") return torch::mse_loss(h, y, red);
  if (s.loss_type == "L1Loss") return torch::l1_loss(h, y, red);
  if (s.loss_type == "HuberLoss") return torch::huber_loss(h, y, red, get_number(l, "delta", 1.0));
  if (s.loss_type == "SmoothL1Loss") return torch::smooth_l1_loss(h, y, red, get_number(l, "beta", 1.0));
  if (s.loss_type == "BCELoss") return torch::binary_cross_entropy(h, y, torch::Tensor(), red);
  if (s.loss_type == "SoftMarginLoss") return torch::soft_margin_loss(h, y, red);
  if (s.loss_type == "MultiLabelMarginLoss") return torch::multilabel_margin_loss(h, y, red);
  if (s.loss_type == "CTCLoss") {  // log-probs time first; every input T long, each target up to its first -1
    const torch::Tensor lengths = (y >= 0).to(torch::kLong).cumprod(1).sum(1);
    const std::vector<std::int64_t> input_lengths(static_cast<std::size_t>(h.size(0)), h.size(1));
    const std::vector<std::int64_t> target_lengths(lengths.data_ptr<std::int64_t>(),
                                                   lengths.data_ptr<std::int64_t>() + lengths.numel());
    return torch::ctc_loss(h.transpose(0, 1), y, input_lengths, target_lengths, get_integer(l, "blank", 0), red,
                           get_bool(l, "zero_infinity", false));
  }
  if (s.loss_type == "HingeEmbeddingLoss") return torch::hinge_embedding_loss(h, y, get_number(l, "margin", 1.0), red);
  if (s.loss_type == "MultiLabelSoftMarginLoss") {  // torch.nn.functional's Python, as written there
    torch::Tensor loss = -(y * torch::log_sigmoid(h) + (1 - y) * torch::log_sigmoid(-h));
    if (weight.defined()) loss = loss * weight;
    loss = loss.sum(-1) / h.size(-1);
    return red == at::Reduction::Mean ? loss.mean() : loss.sum();
  }
  if (s.loss_type == "PoissonNLLLoss")
    return torch::poisson_nll_loss(h, y, get_bool(l, "log_input", true), get_bool(l, "full", false),
                                   get_number(l, "eps", 1e-8), red);
  if (s.loss_type == "KLDivLoss") {  // F.kl_div: 'batchmean' is the sum over input.size(0)
    const torch::Tensor kl = torch::kl_div(h, y, red, get_bool(l, "log_target", false));
    return get_string(l, "reduction", "mean") == "batchmean" ? kl / h.size(0) : kl;
  }
  if (s.loss_type == "MultiMarginLoss")
    return torch::multi_margin_loss(h, y, get_integer(l, "p", 1), get_number(l, "margin", 1.0), weight, red);
  // torch's K-dimensional class logits (batch, C, d1, ...) for labels (batch, d1, ...), read as they
  // are by its own loss (where (batch, d1, ..., C) would fit too, ltgen takes the classes last).
  const auto dims = h.sizes();
  const bool classes_last = dims.size() == 2 + s.target_shape.size() && dims.back() == s.num_classes &&
                            std::equal(s.target_shape.begin(), s.target_shape.end(), dims.begin() + 1);
  const bool classes_second = dims.size() == 2 + s.target_shape.size() && dims[1] == s.num_classes &&
                              std::equal(s.target_shape.begin(), s.target_shape.end(), dims.begin() + 2);
  if (s.class_target && !s.target_shape.empty() && classes_second && !classes_last) {
    if (s.loss_type == "NLLLoss") return torch::nll_loss_nd(h, y, weight, red, get_integer(l, "ignore_index", -100));
    if (s.loss_type == "CrossEntropyLoss")
      return torch::cross_entropy_loss(h, y, weight, red, get_integer(l, "ignore_index", -100),
                                       get_number(l, "label_smoothing", 0.0));
  }
  if (s.loss_type == "NLLLoss")  // (batch, [T,] C) as rows, as CrossEntropyLoss's
    return torch::nll_loss(h.reshape({-1, h.size(-1)}), y.reshape({-1}), weight, red,
                           get_integer(l, "ignore_index", -100));
  if (s.loss_type == "BCEWithLogitsLoss")
    return torch::binary_cross_entropy_with_logits(h, y, weight, list_tensor("pos_weight"), red);
  if (s.loss_type == "CrossEntropyLoss" && h.dim() > 2)  // sequence labels, as a Lightning user flattens them
    return torch::cross_entropy_loss(h.reshape({-1, h.size(-1)}), y.is_floating_point() ? y.reshape({-1, h.size(-1)}) : y.reshape({-1}), weight, red,
                                     get_integer(l, "ignore_index", -100), get_number(l, "label_smoothing", 0.0));
  if (s.loss_type == "CrossEntropyLoss")
    return torch::cross_entropy_loss(h, y, weight, red, get_integer(l, "ignore_index", -100),
                                     get_number(l, "label_smoothing", 0.0));
  ADD_FAILURE() << "unknown loss " << s.loss_type;
  return torch::Tensor();
}

// ---------------------------------------------------------------------------
// Comparison.

// max|a - b| / max(max|b|, kTiny): relative to the tensor's scale, so that
// tiny elements do not dominate.
struct Diff {
  double max_abs = 0, scale = 0, rel = 0;
};
Diff compare(const float* a, const torch::Tensor& b_any) {
  const torch::Tensor b = b_any.to(torch::kDouble).contiguous().view(-1);
  const double* bd = b.data_ptr<double>();
  Diff d;
  for (std::int64_t i = 0; i < b.numel(); ++i) {
    d.max_abs = std::max(d.max_abs, std::fabs(static_cast<double>(a[i]) - bd[i]));
    d.scale = std::max(d.scale, std::fabs(bd[i]));
    if (!std::isfinite(a[i])) d.max_abs = INFINITY;
  }
  d.rel = d.max_abs / std::max(d.scale, kTiny);
  return d;
}

std::string shape_str(const std::int64_t* shape, int rank) {
  std::string s = "(";
  for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (rank == 1 ? ",)" : ")");
}

// ---------------------------------------------------------------------------
// The test, one instance per model.

class Gradcheck : public ::testing::TestWithParam<gradcheck::Case> {};

// A parameter's range for random values: its PyTorch default's bound (the last init step's uniform
// bound, normal std or constant), a clone's that of the parameter it copies, else 0.5 (zeros, ones).
double init_range(const ltrt::ModelDef& m, int k) {
  double range = 0.5;
  for (int s = 0; s < m.num_init_steps; ++s) {
    const ltrt::InitStep& step = m.init_steps[s];
    if (step.param != k) continue;
    if (step.kind == ltrt::InitKind::copy) range = init_range(m, step.copy_of);
    else range = step.value > 0 ? step.value : 0.5;
  }
  return range;
}

TEST_P(Gradcheck, MatchesTorchAutogradAndFiniteDifferences) {
  torch::set_num_threads(1);
  const gradcheck::Case& c = GetParam();
  const ltrt::ModelDef& m = c.model();
  const std::unique_ptr<Spec> spec = read_spec(c.spec_path);
  const Spec& s = *spec;
  ASSERT_FALSE(::testing::Test::HasFailure());
  const int B = m.batch_size;
  ASSERT_EQ(B, s.batch_size);

  // The model's layout is PyTorch's: parameter names, order and shapes, and
  // each parameter's place in the flat regions.
  ASSERT_EQ(m.num_params, static_cast<int>(s.params.size()));
  std::int64_t total = 0;
  for (int k = 0; k < m.num_params; ++k) {
    const ltrt::ParamDef& pd = m.params[k];
    EXPECT_EQ(pd.value.name, s.params[k].name);
    EXPECT_EQ(pd.value.dtype, ltrt::DType::f32);
    ASSERT_EQ(pd.value.rank, static_cast<int>(s.params[k].shape.size())) << pd.value.name;
    for (int d = 0; d < pd.value.rank; ++d) EXPECT_EQ(pd.value.shape[d], s.params[k].shape[d]) << pd.value.name;
    EXPECT_EQ(pd.value.offset, m.params_offset + 4 * pd.flat_index) << pd.value.name;
    total += pd.value.numel();
  }
  EXPECT_EQ(total, m.num_param_elements);
  // Buffers (BatchNorm's running stats): names, shapes and dtypes as torch's state_dict.
  ASSERT_EQ(m.num_state, static_cast<int>(s.state.size()));
  for (int k = 0; k < m.num_state; ++k) {
    const ltrt::TensorRef& t = m.state[k].value;
    EXPECT_EQ(t.name, s.state[k].name);
    const bool count = s.state[k].name.find("num_batches_tracked") != std::string::npos;
    EXPECT_EQ(t.dtype, count ? ltrt::DType::i64 : ltrt::DType::f32) << t.name;
    ASSERT_EQ(t.rank, static_cast<int>(s.state[k].shape.size())) << t.name;
    for (int d = 0; d < t.rank; ++d) EXPECT_EQ(t.shape[d], s.state[k].shape[d]) << t.name;
  }
  ASSERT_EQ(m.input.rank, 1 + static_cast<int>(s.input_shape.size()));
  EXPECT_EQ(m.input.dtype, s.index_input ? ltrt::DType::i64 : ltrt::DType::f32);
  EXPECT_EQ(m.num_embeddings, s.index_input ? s.num_embeddings : 0);
  EXPECT_EQ(m.input.shape[0], B);
  for (std::size_t d = 0; d < s.input_shape.size(); ++d) EXPECT_EQ(m.input.shape[d + 1], s.input_shape[d]);
  if (s.class_target) {
    EXPECT_EQ(m.target.dtype, ltrt::DType::i64);
    ASSERT_EQ(m.target.rank, 1 + static_cast<int>(s.target_shape.size()));
    for (std::size_t d = 0; d < s.target_shape.size(); ++d) EXPECT_EQ(m.target.shape[d + 1], s.target_shape[d]);
    EXPECT_EQ(m.num_classes, s.num_classes);
  } else {
    EXPECT_EQ(m.target.dtype, ltrt::DType::f32);
    ASSERT_EQ(m.target.rank, 1 + static_cast<int>(s.target_shape.size()));
    for (std::size_t d = 0; d < s.target_shape.size(); ++d) EXPECT_EQ(m.target.shape[d + 1], s.target_shape[d]);
  }
  EXPECT_EQ(m.target.shape[0], B);
  ASSERT_FALSE(::testing::Test::HasFailure());

  // Random parameters (PyTorch's default ranges) and batch.
  torch::manual_seed(static_cast<std::uint64_t>(std::hash<std::string>()(c.name) & 0xffffffff));
  ltrt::Arena arena(m.arena_bytes);
  std::byte* a = arena.data();
  ASSERT_EQ(reinterpret_cast<std::uintptr_t>(a) % 64, 0u);
  ParamMap p32;
  for (int k = 0; k < m.num_params; ++k) {
    const ltrt::ParamDef& pd = m.params[k];
    const double bound = init_range(m, k);
    const auto t = (torch::rand(s.params[k].shape) * 2 - 1) * bound;
    std::memcpy(a + pd.value.offset, t.data_ptr<float>(), sizeof(float) * t.numel());
    p32[pd.value.name] = t;
  }
  std::vector<std::int64_t> xs = {B};
  xs.insert(xs.end(), s.input_shape.begin(), s.input_shape.end());
  const torch::Tensor x = s.index_input ? torch::randint(0, s.num_embeddings, xs, torch::kLong) : torch::randn(xs);
  if (s.padding_idx >= 0) x.view(-1)[0] = s.padding_idx;
  std::memcpy(a + m.input.offset, x.data_ptr(), x.element_size() * x.numel());
  torch::Tensor y;
  if (s.class_target) {
    std::vector<std::int64_t> ys = {B};
    ys.insert(ys.end(), s.target_shape.begin(), s.target_shape.end());
    y = torch::randint(0, s.num_classes, ys, torch::kLong);
    if (s.loss_type == "CTCLoss") {
      // Labels other than blank; row i holds S - i % (S + 1) of them, -1 after (a row of none
      // when the batch is long enough); row 0 repeats its first label (no blank skip there).
      const std::int64_t blank = get_integer(*s.loss, "blank", 0), labels = ys.at(1);
      y = torch::randint(0, s.num_classes - 1, ys, torch::kLong);
      y = y + (y >= blank).to(torch::kLong);
      for (std::int64_t i = 0; i < ys[0]; ++i)
        for (std::int64_t j = labels - i % (labels + 1); j < labels; ++j) y[i][j] = -1;
      if (labels > 1) y[0][1] = y[0][0];
    }
    if (s.has_ignore_index) {
      if (y.dim() > 1) {
        // Sequence labels: positions 1, 4, ... of the flattened (batch, T), inside rows and across them.
        for (std::int64_t i = 1; i < y.numel(); i += 3) y.view(-1)[i] = s.ignore_index;
      } else {
        for (int i = 1; i < B; i += 3) y[i] = s.ignore_index;  // rows 1, 4, ...: row 0 always counts
      }
    }
    std::memcpy(a + m.target.offset, y.data_ptr<std::int64_t>(), sizeof(std::int64_t) * y.numel());
  } else {
    std::vector<std::int64_t> ys = {B};
    ys.insert(ys.end(), s.target_shape.begin(), s.target_shape.end());
    // Probabilities for the BCE losses and KLDivLoss (log-probabilities with log_target: any value).
    const bool probabilities = s.loss_type == "BCEWithLogitsLoss" || s.loss_type == "BCELoss" || s.loss_type == "CrossEntropyLoss" ||
                               (s.loss_type == "KLDivLoss" && !get_bool(*s.loss, "log_target", false));
    y = probabilities ? torch::rand(ys) : torch::randn(ys);
    if (s.loss_type == "SoftMarginLoss" || s.loss_type == "HingeEmbeddingLoss" || s.loss_type == "MarginRankingLoss" ||
        s.loss_type == "CosineEmbeddingLoss")
      y = torch::where(y > 0, 1.0f, -1.0f);  // labels 1 and -1
    if (s.loss_type == "MultiLabelSoftMarginLoss") y = (y > 0).to(torch::kFloat);  // labels 0 and 1
    if (s.loss_type == "PoissonNLLLoss") y = torch::floor(torch::rand(ys) * 5);  // counts 0 to 4
    std::memcpy(a + m.target.offset, y.data_ptr<float>(), sizeof(float) * y.numel());
  }
  // Buffers start as torch's (running_mean 0, running_var 1, num_batches_tracked 0); the
  // oracle's copies follow every training step, and evaluation reads them.
  ParamMap state;
  for (int k = 0; k < m.num_state; ++k) {
    const ltrt::StateDef& sd = m.state[k];
    const auto& shape = s.state[k].shape;
    torch::Tensor t = sd.value.dtype == ltrt::DType::i64 ? torch::zeros(shape, torch::kLong)
                      : sd.init == ltrt::InitKind::ones  ? torch::ones(shape)
                                                         : torch::zeros(shape);
    std::memcpy(a + sd.value.offset, t.data_ptr(), t.element_size() * t.numel());
    state[sd.value.name] = t;
  }
  auto check_state = [&](const char* what, int n) {
    for (int k = 0; k < m.num_state; ++k) {
      const ltrt::TensorRef& t = m.state[k].value;
      const torch::Tensor& want = state.at(t.name);
      if (t.dtype == ltrt::DType::i64) {
        std::int64_t got;
        std::memcpy(&got, a + t.offset, sizeof got);
        EXPECT_EQ(got, want.item<std::int64_t>()) << c.name << " n=" << n << " " << what << " " << t.name;
        continue;
      }
      const Diff d = compare(reinterpret_cast<const float*>(a + t.offset), want);
      char buf[200];
      std::snprintf(buf, sizeof buf, "%s n=%d %s %s", c.name, n, what, t.name);
      g_worst_torch.update(d.rel, buf);
      std::printf("  n=%d %-10s %-16s max|diff| %.2e  max|torch| %.2e  rel %.2e\n", n, what, t.name, d.max_abs,
                  d.scale, d.rel);
      EXPECT_LE(d.rel, kTolTorch) << buf << ": max|diff| " << d.max_abs << " max|torch| " << d.scale;
    }
  };
  const std::vector<float> params_before(reinterpret_cast<const float*>(a + m.params_offset),
                                         reinterpret_cast<const float*>(a + m.params_offset) + m.num_param_elements);

  // Torch's loss and gradients (float32) for the first n rows.
  struct Oracle {
    double loss = 0;
    std::map<std::string, torch::Tensor> grads;
    Masks masks;
  };
  auto oracle32 = [&](int n, ltrt::DropoutDraws replay) {
    Oracle o;
    o.masks.replay = &replay.torch;
    ParamMap leaf;
    for (const auto& [name, t] : p32) leaf[name] = t.clone().requires_grad_(true);
    const torch::Tensor loss = forward_loss(s, leaf, x.narrow(0, 0, n), y.narrow(0, 0, n), &o.masks, true, &state);
    loss.backward();
    o.loss = loss.item<double>();
    for (const auto& [name, t] : leaf) o.grads[name] = t.grad().clone();
    o.masks.replay = nullptr;
    return o;
  };
  auto grad_of = [&](const ltrt::ParamDef& pd) {
    return reinterpret_cast<const float*>(a + m.grads_offset) + pd.flat_index;
  };
  auto check_loss = [&](const char* what, int n, float got, double want) {
    const double rel = std::fabs(got - want) / std::max(std::fabs(want), kTiny);
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s n=%d %s", c.name, n, what);
    g_worst_loss.update(rel, buf);
    std::printf("  n=%d %-26s ltgen %.8g torch %.8g  rel %.2e\n", n, what, got, want, rel);
    EXPECT_LE(rel, kTolTorch) << buf << ": ltgen " << got << " vs torch " << want;
  };
  auto check_grads = [&](const char* what, int n, const std::function<torch::Tensor(const std::string&)>& want) {
    for (int k = 0; k < m.num_params; ++k) {
      const ltrt::ParamDef& pd = m.params[k];
      if (ltrt::is_frozen(m, pd)) continue;  // model.freeze: no gradient to check
      const Diff d = compare(grad_of(pd), want(pd.value.name));
      char buf[200];
      std::snprintf(buf, sizeof buf, "%s n=%d %s %s", c.name, n, what, pd.value.name);
      g_worst_torch.update(d.rel, buf);
      std::printf("  n=%d %-10s %-16s %-9s max|diff| %.2e  max|torch| %.2e  rel %.2e\n", n, what, pd.value.name,
                  shape_str(pd.value.shape, pd.value.rank).c_str(), d.max_abs, d.scale, d.rel);
      EXPECT_LE(d.rel, kTolTorch) << buf << ": max|diff| " << d.max_abs << " max|torch| " << d.scale;
    }
  };

  std::printf("%s: %d parameter tensors, %lld elements, batch %d\n", c.name, m.num_params,
              static_cast<long long>(m.num_param_elements), B);
  std::set<int> sizes = {B, B / 2 + 1, 1};
  if (s.min_rows > 1) {
    // torch raises "Expected more than 1 value per channel when training"; so does the generated step.
    // On a copy of the arena: layers before the refusing one have updated their statistics, as in torch.
    sizes.erase(1);
    ltrt::Arena copy(m.arena_bytes);
    std::memcpy(copy.data(), a, m.arena_bytes);
    ltrt::TorchGenerator torch_rng(7);
    ltrt::Generator own_rng(7);
    EXPECT_THROW(m.training_step(copy.data(), 1, 1.0f, false, ltrt::DropoutDraws{torch_rng, own_rng}), std::exception) << "a training batch of one row";
  }
  for (auto it = sizes.rbegin(); it != sizes.rend(); ++it) {
    const int n = *it;
    SCOPED_TRACE("n = " + std::to_string(n));

    // 1. A fresh step (accumulate = false) writes over stale gradients.
    std::fill(reinterpret_cast<float*>(a + m.grads_offset),
              reinterpret_cast<float*>(a + m.grads_offset) + m.num_param_elements, 123.0f);
    ltrt::TorchGenerator torch_rng(2024 + static_cast<std::uint64_t>(n));
    ltrt::Generator own_rng(2024, static_cast<std::uint64_t>(n));
    const ltrt::DropoutDraws rng{torch_rng, own_rng};
    ltrt::TorchGenerator torch_replay = torch_rng;
    ltrt::Generator own_replay = own_rng;
    const float loss = m.training_step(a, n, 1.0f, false, rng);
    Oracle o1 = oracle32(n, {torch_replay, own_replay});
    check_loss("training_step loss", n, loss, o1.loss);
    check_grads("grad", n, [&](const std::string& name) { return o1.grads.at(name); });
    check_state("state", n);
    const std::vector<float> grads1(reinterpret_cast<const float*>(a + m.grads_offset),
                                    reinterpret_cast<const float*>(a + m.grads_offset) + m.num_param_elements);
    EXPECT_EQ(0, std::memcmp(params_before.data(), a + m.params_offset, sizeof(float) * params_before.size()))
        << "training_step changed the parameters";

    // 2. Accumulation with a loss scale (gradient accumulation / AMP): the
    //    gradients add up, the returned loss is unscaled. Dropout draws anew.
    ltrt::TorchGenerator torch_replay2 = torch_rng;
    ltrt::Generator own_replay2 = own_rng;
    const float loss2 = m.training_step(a, n, 0.5f, true, rng);
    Oracle o2 = oracle32(n, {torch_replay2, own_replay2});
    check_loss("accumulated step loss", n, loss2, o2.loss);
    check_state("state acc", n);
    check_grads("grad acc", n,
                [&](const std::string& name) { return o1.grads.at(name) + 0.5 * o2.grads.at(name); });

    // 3. Float64 central differences of the torch model, same masks, on a few
    //    elements of every parameter; the float64 autograd gradient must agree
    //    with them too (so that the differences are trustworthy).
    {
      ParamMap p64;
      for (const auto& [name, t] : p32) p64[name] = t.to(torch::kDouble);
      const torch::Tensor x64 = s.index_input ? x.narrow(0, 0, n) : x.narrow(0, 0, n).to(torch::kDouble);
      const torch::Tensor y64 = s.class_target ? y.narrow(0, 0, n) : y.narrow(0, 0, n).to(torch::kDouble);
      torch::NoGradGuard no_grad;
      auto loss64 = [&]() { return forward_loss(s, p64, x64, y64, &o1.masks, true).item<double>(); };
      for (int k = 0; k < m.num_params; ++k) {
        const ltrt::ParamDef& pd = m.params[k];
        if (ltrt::is_frozen(m, pd)) continue;
        const std::string name = pd.value.name;
        if (s.not_derivatives.count(name)) continue;
        ParamMap leaf;
        torch::Tensor g64;
        {
          torch::AutoGradMode on(true);
          for (const auto& [nm, t] : p64) leaf[nm] = t.clone().requires_grad_(true);
          forward_loss(s, leaf, x64, y64, &o1.masks, true).backward();
          g64 = leaf.at(name).grad();
        }
        const double scale = std::max(g64.abs().max().item<double>(), kTiny);
        const std::int64_t numel = pd.value.numel();
        double* v = p64.at(name).data_ptr<double>();
        for (std::int64_t idx : std::set<std::int64_t>{0, numel / 2, numel - 1}) {
          const double saved = v[idx];
          v[idx] = saved + kFdStep;
          const double up = loss64();
          v[idx] = saved - kFdStep;
          const double down = loss64();
          v[idx] = saved;
          const double fd = (up - down) / (2 * kFdStep);
          const double got = grads1[pd.flat_index + idx];
          const double rel = std::fabs(got - fd) / scale;
          const double rel64 = std::fabs(g64.view(-1)[idx].item<double>() - fd) / scale;
          char buf[200];
          std::snprintf(buf, sizeof buf, "%s n=%d %s[%lld]", c.name, n, name.c_str(), static_cast<long long>(idx));
          g_worst_fd.update(rel, buf);
          EXPECT_LE(rel, kTolFd) << buf << ": ltgen " << got << " vs central difference " << fd;
          EXPECT_LE(rel64, 1e-6) << buf << ": torch float64 " << g64.view(-1)[idx].item<double>()
                                 << " vs central difference " << fd << " (is the loss smooth here?)";
          std::printf("  n=%d fd %-16s[%lld] ltgen %+.8e fd64 %+.8e  rel %.2e\n", n, name.c_str(),
                      static_cast<long long>(idx), got, fd, rel);
        }
      }
    }

    // 4. Evaluation: dropout off.
    const float eval_loss = m.evaluation_step(a, n);
    ParamMap leaf;
    for (const auto& [name, t] : p32) leaf[name] = t.clone();
    const double want = [&] {
      torch::NoGradGuard no_grad;
      return forward_loss(s, leaf, x.narrow(0, 0, n), y.narrow(0, 0, n), nullptr, false, &state).item<double>();
    }();
    check_loss("evaluation_step loss", n, eval_loss, want);
    check_state("after eval", n);  // evaluation leaves the running statistics alone
    EXPECT_EQ(0, std::memcmp(params_before.data(), a + m.params_offset, sizeof(float) * params_before.size()))
        << "a step changed the parameters";
  }
}

std::string case_name(const ::testing::TestParamInfo<gradcheck::Case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Specs, Gradcheck, ::testing::ValuesIn(gradcheck::cases()), case_name);

}  // namespace
