/// \file
/// Dropout: in training, zero each element with probability p and scale the
/// rest by 1/(1-p); in eval, the identity. The kept-mask is saved for backward.
/// Dropout1d, Dropout2d and Dropout3d draw once per sample and channel (attribute "channel": the
/// elements a draw covers); the mask is still per element, so the backward is Dropout's.
/// AlphaDropout (attribute "alpha") draws Dropout's masks and applies SELU's affine dropout instead:
/// kept elements x * a + a alpha p, dropped ones a alpha (p - 1), the gradient a where kept.
/// FeatureAlphaDropout is both: a draw per sample and channel, SELU's affine dropout.
/// On the CPU the masks are torch's: its _dropout_impl draws noise.bernoulli_(1 - p) from the global
/// generator (ltrt::TorchGenerator::bernoulli), element after element in the memory order of its
/// input, which for a batch_first MultiheadAttention's or recurrent layer's output is (T, batch, ...)
/// (attribute "time_major": T); p = 1 draws nothing. The mask is drawn first, a run at a time, then
/// applied. Under LTGEN_DROPOUT_MASKS=counter the CPU draws the GPU's masks instead
/// (ltrt::draw_dropout_keeps), so that the two devices' training can be compared.
#include <cmath>

#include "../autocast.hpp"
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

// torch's noise.div_(1 - p): 1 - p in double, then a float division. p == 1 drops everything
// (torch returns zeros rather than inf * 0).
std::string dropout_scale_line(const std::string& name, double p) {
  if (p >= 1.0) return "constexpr float " + name + " = 0.0f;";
  return "constexpr float " + name + " = " + float_literal(1.0f / static_cast<float>(1.0 - p)) + ";  // 1 / (1 - p)";
}

std::uint32_t dropout_stream(const std::string& layer) {
  std::uint32_t fnv1a = 2166136261u;
  for (unsigned char c : layer) fnv1a = (fnv1a ^ c) * 16777619u;
  return fnv1a;
}

namespace {

// AlphaDropout's constants as ATen's _dropout_impl computes them: a = 1 / sqrt((alpha^2 p + 1)(1 - p))
// in double with SELU's alpha * scale, the noise a (kept) or 0 (dropped), the shift
// (noise - 1) * (alpha a) + alpha a p in float: alpha a p where kept, -(alpha a) + alpha a p where not.
struct AlphaConstants {
  float a, kept_shift, dropped;
};
AlphaConstants alpha_constants(double p) {
  constexpr double kAlpha = 1.7580993408473766;  // SELU's scale * alpha
  const double a = 1.0 / std::sqrt((kAlpha * kAlpha * p + 1.0) * (1.0 - p));
  const auto shift = static_cast<float>(kAlpha * a * p);
  return {static_cast<float>(a), shift, -static_cast<float>(kAlpha * a) + shift};
}

// kP (with_p: the forward draws against it; the backward reads the mask) and kScale, on either device;
// AlphaDropout's shifts in the forward.
void write_p_and_scale(CodeWriter& w, const Node& n, bool with_p, bool forward) {
  const double p = attr_float(n, "p");
  if (with_p) w.line("constexpr float kP = " + float_literal(p) + ";");
  if (n.attrs.count("alpha") && p < 1.0) {
    const AlphaConstants c = alpha_constants(p);
    w.line("constexpr float kScale = " + float_literal(c.a) + ";  // AlphaDropout's a");
    if (forward)
      w.line("constexpr float kKeptShift = " + float_literal(c.kept_shift) + ", kDropped = " +
             float_literal(c.dropped) + ";  // a alpha p; a alpha (p - 1)");
    return;
  }
  if (n.attrs.count("autocast_scale") && p < 1.0) {
    // Mixed precision (autocast.cpp): torch's _dropout_impl divides its noise tensor, in
    // autocast's dtype, by 1 - p (noise = bernoulli(1 - p), div_(1 - p), x * noise).
    const std::string dtype = autocast_dtype_name();
    w.line("constexpr float kScale = " + float_literal(autocast_round_value(1.0f / static_cast<float>(1.0 - p))) +
           ";  // 1 / (1 - p) rounded to " + dtype + ", as torch's " + dtype + " noise holds it");
    return;
  }
  w.line(dropout_scale_line("kScale", p));
}

// The forward's output element i, `keep` its mask.
std::string apply(const Node& n, const std::string& keep) {
  if (n.attrs.count("alpha") && attr_float(n, "p") < 1.0) return keep + " ? inp[i] * kScale + kKeptShift : kDropped";
  return keep + " ? inp[i] * kScale : 0.0f";
}

void write_constants(CodeWriter& w, const Node& n, bool forward) {
  w.line("constexpr int kNumel = " + std::to_string(attr_int(n, "numel")) + ";  // per sample");
  write_p_and_scale(w, n, false, forward);
}
}  // namespace

int add_dropout(Graph& g, const std::string& layer, const std::string& source, int x, double p) {
  Node n;
  n.op = "dropout";
  n.layer = layer;
  n.source = source;
  n.attrs["p"] = p;
  n.attrs["numel"] = per_sample_numel(g.value(x));
  const bool time_major = g.value(x).torch_time_major && g.value(x).shape.size() >= 3;
  if (time_major) n.attrs["time_major"] = g.value(x).shape[1];
  n.inputs = {x};
  const int id = add_op(g, std::move(n), cpp_name(layer) + "_out");
  const int out = g.nodes[id].outputs[0];
  g.value(out).torch_time_major = time_major;  // torch's input * noise keeps the input's layout
  return out;
}

void register_dropout(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "dropout";
  f.needs_rng = true;
  f.cpu_runtime_includes = {"<ltrt/dropout_masks.hpp>"};
  f.training_mode = true;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}, {DType::u8, x.shape, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out", "mask"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * 2, e * 9};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    write_constants(w, n, true);
    const double p = attr_float(n, "p");
    w.open("if (!training)");
    // A loop rather than std::copy, about which GCC 12 warns (-Wstringop-overflow) where it
    // cannot rule out an n below 0, which no caller passes.
    w.line("for (int i = 0; i < n * kNumel; ++i) out[i] = inp[i];");
    w.line("return;");
    w.close();
    if (p >= 1.0) {
      w.line("(void)rng;  // p = 1: torch multiplies by zero and draws nothing");
      w.open("for (int i = 0; i < n * kNumel; ++i)");
      w.line("mask[i] = false;");
      w.line("out[i] = 0.0f;");
      w.close();
      return;
    }
    w.line("constexpr double kKeep = " + double_literal(1.0 - p) + ";  // torch's bernoulli_(1 - p), in double");
    w.line("constexpr float kP = " + float_literal(p) + ";  // (the GPU's masks: LTGEN_DROPOUT_MASKS=counter)");
    w.line("constexpr std::uint32_t kStream = " + std::to_string(dropout_stream(n.layer)) + "u;  // (and its stream)");
    if (n.attrs.count("channel")) {  // Dropout1d/2d: one draw per (sample, channel), its positions alike
      w.line("constexpr int kChannel = " + std::to_string(attr_int(n, "channel")) + ";  // elements of a channel");
      w.open("for (int c = 0; c < n * kNumel; c += kChannel)");
      w.line("const bool keep = ltrt::dropout_keeps(rng, kKeep, kP, kStream, c / kChannel);");
      w.line("for (int i = c; i < c + kChannel; ++i) mask[i] = keep;");
      w.close();
    } else if (n.attrs.count("time_major")) {
      w.line("// torch holds the input as (T, batch, ...) in memory and draws its mask in that order.");
      w.line("constexpr int kSteps = " + std::to_string(attr_int(n, "time_major")) + ";");
      w.line("constexpr int kStep = kNumel / kSteps;  // elements of a step of a sample");
      w.open("for (int t = 0; t < kSteps; ++t)");
      w.open("for (int b = 0; b < n; ++b)");
      w.line("const int first = (b * kSteps + t) * kStep;");
      w.line("ltrt::draw_dropout_keeps(rng, kKeep, kP, kStream, first, kStep, mask + first);");
      w.close();
      w.close();
    } else {
      w.line("ltrt::draw_dropout_keeps(rng, kKeep, kP, kStream, 0, n * kNumel, mask);");
    }
    w.line("for (int i = 0; i < n * kNumel; ++i) out[i] = " + apply(n, "mask[i]") + ";");
  };
  // CUDA: a counter-based generator keyed by the step's dropout seed (drawn on the host from the
  // dropout stream, so resumed runs repeat it), this layer and the element: the masks differ from
  // the CPU program's, which draws them one by one.
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    e.body.line("constexpr int kNumel = " + std::to_string(attr_int(n, "numel")) + ";  // per sample");
    e.body.open("if (!training)");
    e.body.line("LTRT_CUDA_CHECK(cudaMemcpyAsync(out, inp, sizeof(float) * n * kNumel, cudaMemcpyDeviceToDevice, ctx.stream));");
    e.body.line("return;");
    e.body.close();
    const std::string salt = std::to_string(dropout_stream(n.layer));
    emit_elementwise_kernel(
        e, e.fn + "_kernel",
        {{"float* __restrict__ out", "out"}, {"std::uint8_t* __restrict__ mask", "mask"},
         {"const float* __restrict__ inp", "inp"}, {"const ltrt::cuda::StepScalars* __restrict__ scalars", "ctx.scalars"}},
        "n * kNumel",
        {n.attrs.count("channel") ? "const bool keep = ltrt::cuda::uniform(scalars->dropout_seed, kLayerSalt, i / kChannel) >= kP;"
                                  : "const bool keep = ltrt::cuda::uniform(scalars->dropout_seed, kLayerSalt, i) >= kP;",
         "mask[i] = keep;", "out[i] = " + apply(n, "keep") + ";"},
        [&](CodeWriter& k) {
          write_p_and_scale(k, n, true, true);
          k.line("constexpr std::uint32_t kLayerSalt = " + salt + "u;  // this layer's own random stream");
          if (n.attrs.count("channel"))  // Dropout1d/2d: a number per (sample, channel)
            k.line("constexpr int kChannel = " + std::to_string(attr_int(n, "channel")) + ";  // elements of a channel");
        });
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;
    b.op = "dropout_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], n.outputs[1]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "dropout_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& d = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{d.dtype, d.shape, d.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout", "mask"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e, e * 9};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph&) {
    write_constants(w, n, false);
    w.open("for (int i = 0; i < n * kNumel; ++i)");
    w.line("dinp[i] = mask[i] ? dout[i] * kScale : 0.0f;");
    w.close();
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph&) {
    e.body.line("constexpr int kNumel = " + std::to_string(attr_int(n, "numel")) + ";  // per sample");
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ dinp", "dinp"}, {"const float* __restrict__ dout", "dout"},
                             {"const std::uint8_t* __restrict__ mask", "mask"}},
                            "n * kNumel", {"dinp[i] = mask[i] ? dout[i] * kScale : 0.0f;"},
                            [&](CodeWriter& k) { write_p_and_scale(k, n, false, false); });
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "Dropout";
  ArgDef p{"p", ArgType::number, Attr{0.5}};
  p.min = 0.0;
  p.max = 1.0;
  l.args = {p, {"inplace", ArgType::boolean, Attr{false}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const double p = std::get<double>(b.args.at("p"));
    if (p == 0.0) return in.at(0);  // p=0 is the identity
    return add_dropout(b.graph, b.layer, b.source, in.at(0), p);
  };
  layers.push_back(std::move(l));

  // AlphaDropout: Dropout's masks, SELU's affine dropout.
  LayerDef a;
  a.torch_type = "AlphaDropout";
  a.args = {p, {"inplace", ArgType::boolean, Attr{false}}};
  a.build = [](LayerBuild& b, const std::vector<int>& in) {
    const double p = std::get<double>(b.args.at("p"));
    if (p == 0.0) return in.at(0);  // torch returns the input itself
    const int out = add_dropout(b.graph, b.layer, b.source, in.at(0), p);
    b.graph.nodes[static_cast<std::size_t>(b.graph.value(out).producer)].attrs["alpha"] = true;
    return out;
  };
  layers.push_back(std::move(a));

  // Dropout1d, Dropout2d and Dropout3d: whole channels of an (N, C, L), (N, C, H, W) or
  // (N, C, D, H, W) input zeroed (torch's feature dropout: one Bernoulli draw per sample and
  // channel), the rest scaled by 1 / (1 - p). FeatureAlphaDropout: the same draws on any (N, C, *)
  // input, with AlphaDropout's affine dropout.
  const auto feature_dropout = [](LayerBuild& b, int input, bool alpha) {
    const Value& x = b.graph.value(input);
    const double p = std::get<double>(b.args.at("p"));
    if (p == 0.0) return input;
    const std::int64_t channel = per_sample_numel(x) / x.shape[1];  // (x moves as values are added)
    const int out = add_dropout(b.graph, b.layer, b.source, input, p);
    Node& node = b.graph.nodes[static_cast<std::size_t>(b.graph.value(out).producer)];
    node.attrs["channel"] = channel;
    if (alpha) node.attrs["alpha"] = true;
    node.attrs.erase("time_major");  // torch's feature noise is a tensor of its own, (N, C, 1...)
    return out;
  };
  for (const int dims : {1, 2, 3}) {
    LayerDef c;
    c.torch_type = "Dropout" + std::to_string(dims) + "d";
    c.args = {p, {"inplace", ArgType::boolean, Attr{false}}};
    c.build = [dims, feature_dropout](LayerBuild& b, const std::vector<int>& in) {
      const Value& x = b.graph.value(in.at(0));
      if (x.shape.size() != static_cast<std::size_t>(dims) + 2)
        throw ShapeError("expects an (N, C, " + std::string(dims == 1 ? "L" : dims == 2 ? "H, W" : "D, H, W") +
                         ") input, got " + shape_str(x.shape));
      return feature_dropout(b, in.at(0), false);
    };
    layers.push_back(std::move(c));
  }
  LayerDef fa;
  fa.torch_type = "FeatureAlphaDropout";
  fa.args = {p, {"inplace", ArgType::boolean, Attr{false}}};
  fa.build = [feature_dropout](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() < 2)
      throw ShapeError("expects an (N, C, *) input (a draw per sample and channel), got " + shape_str(x.shape));
    return feature_dropout(b, in.at(0), true);
  };
  layers.push_back(std::move(fa));
}

}  // namespace ltgen
