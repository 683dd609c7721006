#include "autocast.hpp"

#include <set>

#include <ltrt/bfloat16.hpp>
#include <ltrt/float16.hpp>

#include "diagnostics.hpp"
#include "op.hpp"

namespace ltgen {

namespace {

bool float16_emission = false;  // a Float16Emission is alive

// Autocast's bfloat16 list, as far as ltgen has it: these ops cast float32 operands to bfloat16.
const std::set<std::string> kLowerPrecision = {"linear", "conv2d", "conv_transpose2d"};
// Keep their input's dtype and compute in float32 inside, rounding the result once (checked
// against torch 2.15's CPU kernels, forward and backward). The first round in their own loop (a
// fused epilogue: the backward of some reads the output); the others' backward does not read
// it, and a to_bf16 node after them rounds it.
// (Softsign is composite in torch, rounding |x| + 1 and the quotient; LogSigmoid's backward reads a
// bfloat16 buffer: both are left out, so refused on bfloat16 values.)
const std::set<std::string> kSameDtype = {"relu", "leaky_relu", "gelu",      "tanh",        "sigmoid",  "silu",
                                          "softmax", "elu",     "elu_inplace", "softplus", "mish", "hardswish",
                                          "hardsigmoid", "hardtanh", "neg"};
const std::set<std::string> kSameDtypeRoundAfter = {"batch_norm", "avg_pool2d", "adaptive_avg_pool2d", "dropout"};
// Pick elements of their input: bfloat16 in, bfloat16 out, nothing to round.
const std::set<std::string> kSelecting = {"max_pool2d", "adaptive_max_pool2d"};
// Type promotion: bfloat16 when every float operand is, else float32 (exact: bfloat16 values are
// float32 ones).
const std::set<std::string> kPromoting = {"add", "mul"};
// Float32 results whatever the input: losses (autocast's float32 list casts their input up),
// lookups of float32 weights, and a float32 weight added to the input.
const std::set<std::string> kFloat32 = {"mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "cross_entropy_loss",
                                        "cross_entropy_probs",
                                        "nll_loss", "bce_with_logits_loss", "bce_loss", "kl_div_loss", "poisson_nll_loss",
                                        "soft_margin_loss", "hinge_embedding_loss", "multi_margin_loss",
                                        "multilabel_margin_loss", "margin_ranking_loss", "cosine_embedding_loss", "embedding",
                                        "positional_embedding",
                                        // torch's CPU autocast runs these 3-d poolings in float32 (and MaxPool3d's and
                                        // AdaptiveMaxPool3d's max_pool2d nodes: pooled_in_float32): an input's gradient
                                        // is summed in float32 and rounded once, overlapping windows or not
                                        "avg_pool3d", "adaptive_avg_pool3d"};
// (MultiLabelSoftMarginLoss is Python in torch, its log_sigmoid runs on the input's dtype: refused
// on bfloat16 values.)

bool is_float(const Value& v) { return v.dtype == DType::f32; }

// Whether a softmax runs along its input's last dimension (torch's bfloat16 kernel for other
// dimensions rounds differently).
bool over_last_dim(const Node& n, const Graph& g) {
  return static_cast<size_t>(attr_int(n, "axis")) + 1 == g.value(n.inputs[0]).shape.size();
}

// Whether a pooling node's windows overlap. Torch's bfloat16 backward adds an element's gradients
// from several windows in bfloat16, rounding each sum; ltgen sums in float32, so it refuses those.
bool windows_overlap(const Node& n, const Graph& g) {
  if (n.op == "adaptive_avg_pool2d" || n.op == "adaptive_max_pool2d") {
    const Shape& x = g.value(n.inputs[0]).shape;  // (N, C, H, W): disjoint windows when sizes divide
    const std::vector<std::int64_t>& out = attr_ints(n, "output_size");
    return x[x.size() - 2] % out[0] != 0 || x[x.size() - 1] % out[1] != 0;
  }
  const std::vector<std::int64_t>& kernel = attr_ints(n, "kernel_size");
  const std::vector<std::int64_t>& stride = attr_ints(n, "stride");
  for (size_t d = 0; d < kernel.size(); ++d) {
    const std::int64_t dilation = n.attrs.count("dilation") ? attr_ints(n, "dilation")[d] : 1;
    if (stride[d] < (kernel[d] - 1) * dilation + 1) return true;
  }
  return false;
}

// The spec's layer (or loss) that made node n; null for a node no layer names.
const LayerSpec* layer_of(const Spec& spec, const Node& n) {
  for (const LayerSpec& l : spec.layers)
    if (l.source == n.source) return &l;
  return spec.loss.source == n.source ? &spec.loss : nullptr;
}

// MaxPool3d and AdaptiveMaxPool3d are two 2-d pooling nodes (ops/pool3d.cpp); torch's CPU autocast
// runs max_pool3d and adaptive_max_pool3d in float32 (a maximum is the bfloat16 value itself).
bool pooled_in_float32(const Spec& spec, const Node& n) {
  if (n.op != "max_pool2d" && n.op != "adaptive_max_pool2d") return false;
  const LayerSpec* l = layer_of(spec, n);
  return l && (l->type == "MaxPool3d" || l->type == "AdaptiveMaxPool3d");
}

SpecError unsupported(const Spec& spec, const Node& n, const std::string& what) {
  const LayerSpec* l = layer_of(spec, n);
  return SpecError(spec.path, l ? l->pos : ltrt::json::Pos{}, n.source,
                   (l ? l->type : n.op) + " " + what + "; README \"Mixed precision\" lists what is supported");
}

}  // namespace

void autocast_bf16(Graph& g, const Spec& spec) {
  std::vector<Node> forward;
  forward.swap(g.nodes);
  for (Value& v : g.values) v.producer = -1;
  // Lightning's autocast runs with cache_enabled=False (MixedPrecision.autocast_context_manager):
  // every use of a parameter casts it anew, and each cast's gradient reaches the parameter's
  // float32 gradient on its own (a tied weight's two casts are not summed in bfloat16 first).
  auto cast = [&](const Node& user, int v) {
    Node c;
    c.op = "to_bf16";
    c.layer = user.layer;
    c.source = user.source;
    c.inputs = {v};
    const int id = add_op(g, std::move(c), g.value(v).name + "_bf16");
    const int out = g.nodes[static_cast<size_t>(id)].outputs[0];
    g.value(out).bf16 = true;
    return out;
  };
  auto round_result = [&](Node& n) {
    Node r;
    r.op = "to_bf16";
    n.epilogue.push_back(r);
  };

  // MultiheadAttention's in_proj: torch's batch_first MHA transposes its input to (T, N, E) before
  // the projection, and on that strided input torch's linear is a matmul, rounded, then the bias
  // added and rounded again.
  std::set<int> attention_inputs;
  for (const Node& n : forward)
    if (n.op == "attention") attention_inputs.insert(n.inputs[0]);

  for (Node n : forward) {
    // torch's autocast runs cross-attention's projections and attention in its dtype too; the
    // kernels here reproduce its roundings for self-attention only.
    if (n.op == "attention_in_projection")
      throw unsupported(spec, n, "with two inputs (cross-attention) is not supported yet under trainer.precision \"" +
                                     spec.trainer.precision + "\"; self-attention is (with \"is_causal\": true)");
    if (n.op == "attention" && n.attrs.count("key_padding_mask"))
      throw unsupported(spec, n, "with a key padding mask is not supported yet under trainer.precision \"" +
                                     spec.trainer.precision + "\"; it is in float32 (\"32-true\")");
    if (n.op == "attention" && n.attrs.count("dropout"))
      throw unsupported(spec, n, "with dropout (of the attention's probabilities) is not supported yet under "
                                 "trainer.precision \"" + spec.trainer.precision + "\": set \"dropout\": 0.0 there");
    int floats = 0, bf16s = 0;  // float operands (not indices, not BatchNorm's buffers), bfloat16 ones
    for (int in : n.inputs) {
      const Value& v = g.value(in);
      if (!is_float(v) || v.kind == ValueKind::state) continue;
      ++floats;
      bf16s += v.bf16 ? 1 : 0;
    }
    const bool any_bf16 = bf16s > 0, all_bf16 = floats > 0 && bf16s == floats;
    // torch's bfloat16 (log-)softmax over another dimension than the last rounds each exp first.
    if (any_bf16 && (n.op == "softmax" || n.op == "log_softmax") && !over_last_dim(n, g))
      throw unsupported(spec, n, "over a dimension other than the last, on bfloat16 values, is not supported yet "
                                 "under trainer.precision \"" + spec.trainer.precision + "\" (torch's kernels for other dimensions round "
                                 "differently); over the last dimension it is");
    // Autocast's bfloat16 list has prelu: it would cast float32 inputs and the slopes too.
    if (n.op == "prelu")
      throw unsupported(spec, n, "is not supported yet under trainer.precision \"" + spec.trainer.precision + "\" (autocast runs it in "
                                 "bfloat16, casting its input and slopes)");
    // torch's bilinear is composite (_trilinear, whose products are bmm calls that autocast may run
    // in its dtype): not reproduced yet.
    if (n.op == "bilinear")
      throw unsupported(spec, n, "is not supported yet under trainer.precision \"" + spec.trainer.precision + "\" (torch "
                                 "computes it through _trilinear's batched products, whose rounding under autocast is not "
                                 "reproduced yet); it is in float32 (\"32-true\")");
    // torch runs a whole recurrent layer as one op (oneDNN's kernel for an LSTM on the CPU), which
    // autocast's lists do not describe as the layers above: not reproduced yet.
    if (n.op == "lstm" || n.op == "gru" || n.op == "rnn")
      throw unsupported(spec, n, "is not supported yet under trainer.precision \"" + spec.trainer.precision + "\" (torch runs the whole "
                                 "recurrent layer as one fused op, whose bfloat16 rounding is not reproduced yet)");
    bool out_bf16 = false;
    bool round_after = false;  // by a to_bf16 node after n
    if (kLowerPrecision.count(n.op)) {
      for (int& in : n.inputs)
        if (is_float(g.value(in)) && !g.value(in).bf16) in = cast(n, in);
      // (A sequence of one position makes the view contiguous, and torch's linear rounds once.)
      if (n.op == "linear" && attention_inputs.count(n.outputs[0]) && attr_bool(n, "bias") &&
          g.value(n.outputs[0]).shape.at(1) > 1)
        n.attrs["bf16_round_before_bias"] = true;
      round_result(n);
      out_bf16 = true;
    } else if (kSameDtype.count(n.op)) {
      if (any_bf16) round_result(n);
      out_bf16 = any_bf16;
    } else if (n.op == "log_softmax" && any_bf16) {
      // Rounds the sum, its log and the result itself (ops/softmax.cpp), as torch's bfloat16 kernel.
      n.attrs["bf16"] = true;
      out_bf16 = true;
    } else if (pooled_in_float32(spec, n)) {  // a float32 op of torch's (the value is exact)
      out_bf16 = false;
    } else if (kSameDtypeRoundAfter.count(n.op) || kSelecting.count(n.op)) {
      // torch's dropout multiplies by its noise tensor in autocast's dtype (ops/dropout.cpp).
      if (any_bf16 && n.op == "dropout" && n.attrs.count("alpha"))
        throw unsupported(spec, n, "on bfloat16 values is not supported yet under trainer.precision \"" +
                                       spec.trainer.precision + "\" (torch's noise and shift in bfloat16 are not reproduced); "
                                       "on float32 values it is");
      if (any_bf16 && n.op == "dropout") n.attrs["autocast_scale"] = true;
      if (any_bf16 && n.op != "batch_norm" && n.op != "dropout" && windows_overlap(n, g))
        throw unsupported(spec, n, std::string("with overlapping windows on bfloat16 values is not supported yet under "
                                               "trainer.precision \"" + spec.trainer.precision + "\" (torch sums their gradients in "
                                               "bfloat16): ") +
                                       (n.op == "adaptive_avg_pool2d"
                                            ? "make the input's height and width multiples of output_size"
                                            : "make stride at least the kernel's extent"));
      round_after = any_bf16 && !kSelecting.count(n.op);
      out_bf16 = any_bf16;
    } else if (kPromoting.count(n.op)) {
      if (all_bf16) round_result(n);
      out_bf16 = all_bf16;
    } else if (op_def(n.op).moves_values) {  // no arithmetic: bfloat16 exactly when the input is
      out_bf16 = all_bf16;
    } else if (kFloat32.count(n.op)) {
      out_bf16 = false;
    } else if (n.op == "attention" && any_bf16) {
      // torch's CPU flash attention on q, k, v in autocast's dtype (ops/multihead_attention.cpp; its
      // float16 kernel works as its bfloat16 one), blocks of keys and query rows as torch's.
      // Without a mask, MHA in validation, test and predict (no gradients) takes torch's fused
      // fast path, which rounds differently from the flash attention of training.
      if (!attr_bool(n, "is_causal"))
        throw unsupported(spec, n, "without \"is_causal\": true is not supported yet under trainer.precision "
                                   "\"" + spec.trainer.precision + "\" (in evaluation torch then takes its fused MultiheadAttention fast "
                                   "path, which ltgen does not reproduce yet)");
      n.attrs["bf16"] = true;
      out_bf16 = true;
    } else if (any_bf16) {
      throw unsupported(spec, n, "on bfloat16 values (a Linear's or Conv's output, or a layer's after one up to an "
                                 "Add with float32 values) is not supported yet under trainer.precision \"" + spec.trainer.precision + "\"; "
                                 "on float32 values it is");
    }
    // The first output is the result; others are saved statistics, indices, masks (float32 or ints).
    const int result = n.outputs.at(0);
    const Node copy = n;
    g.add_node(std::move(n));
    if (!round_after) {
      g.value(result).bf16 = out_bf16;
      continue;
    }
    // n writes the float32 result into a value of its own; to_bf16 rounds it into `result`, which
    // the nodes after read.
    Value raw = g.value(result);
    raw.name += "_f32";
    raw.producer = -1;
    const int raw_id = g.add_value(std::move(raw));
    g.nodes.back().outputs[0] = raw_id;
    g.value(raw_id).producer = static_cast<int>(g.nodes.size()) - 1;
    Node r;
    r.op = "to_bf16";
    r.layer = copy.layer;
    r.source = copy.source;
    r.inputs = {raw_id};
    r.outputs = {result};
    g.add_node(std::move(r));
    g.value(result).bf16 = true;
  }
}

std::string autocast_round() { return float16_emission ? "ltrt::round_fp16" : "ltrt::round_bf16"; }

float autocast_round_value(float x) { return float16_emission ? ltrt::round_fp16(x) : ltrt::round_bf16(x); }

const char* autocast_dtype_name() { return float16_emission ? "float16" : "bfloat16"; }

const char* autocast_precision() { return float16_emission ? "16-mixed" : "bf16-mixed"; }

const char* autocast_format16() { return float16_emission ? "ltrt::cuda::Format16::fp16" : "ltrt::cuda::Format16::bf16"; }

const char* autocast_bits16() { return float16_emission ? "ltrt::cuda::fp16_bits" : "ltrt::cuda::bf16_bits"; }

const char* autocast_value16() { return float16_emission ? "ltrt::cuda::fp16_value" : "ltrt::cuda::bf16_value"; }

Float16Emission::Float16Emission(bool on) : previous_(float16_emission) { float16_emission = on; }

Float16Emission::~Float16Emission() { float16_emission = previous_; }

}  // namespace ltgen
