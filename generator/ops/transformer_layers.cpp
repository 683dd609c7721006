/// \file
/// torch.nn.TransformerEncoderLayer and TransformerDecoderLayer(d_model, nhead, dim_feedforward,
/// dropout, activation, layer_norm_eps, batch_first, norm_first, bias) from ltgen's own layers,
/// under torch's module names, so their state_dicts are torch's:
///   sa(x) = self_attn(x, x, x)     ca(x, m) = multihead_attn(x, m, m)     ff(x) = linear2(activation(linear1(x)))
///   encoder, norm_first: x = x + sa(norm1(x)); x = x + ff(norm2(x))
///   encoder, otherwise:  x = norm1(x + sa(x)); x = norm2(x + ff(x))
///   decoder (tgt x, memory m), norm_first: x = x + sa(norm1(x)); x = x + ca(norm2(x), m); x = x + ff(norm3(x))
///   decoder, otherwise:  x = norm1(x + sa(x)); x = norm2(x + ca(x, m)); x = norm3(x + ff(x))
/// `is_causal: true` (ltgen's, as MultiheadAttention's) masks the self-attention:
/// src_mask (tgt_mask) = nn.Transformer.generate_square_subsequent_mask(T). Their dropouts (torch's
/// default 0.1, the attention's among them) are not supported yet: dropout must be 0.
#include <algorithm>
#include <functional>

#include "ops.hpp"

namespace ltgen {

namespace {

// Builds one of the layer's parts with another layer's builder: `type` under `name` (torch's
// module name inside this layer), its arguments at their defaults but for `args`.
int part(LayerBuild& b, const std::string& name, const std::string& type, const Attrs& args,
         const std::vector<int>& inputs) {
  const LayerDef* def = find_layer(type);
  LayerBuild sub{b.graph, name.empty() ? b.layer : b.layer + "." + name, b.source, {}};
  for (const ArgDef& a : def->args)
    if (a.default_value) sub.args[a.name] = *a.default_value;
  for (const auto& [key, value] : args) sub.args[key] = value;
  return def->build(sub, inputs);
}

// What both layers take, torch's arguments and defaults and ltgen's is_causal.
std::vector<ArgDef> transformer_args() {
  ArgDef d_model{"d_model", ArgType::integer, std::nullopt, true};
  d_model.min = 1;
  ArgDef nhead{"nhead", ArgType::integer, std::nullopt};
  nhead.min = 1;
  ArgDef feedforward{"dim_feedforward", ArgType::integer, Attr{std::int64_t{2048}}};
  feedforward.min = 1;
  ArgDef dropout{"dropout", ArgType::number, Attr{0.1}};
  dropout.min = 0.0;
  ArgDef activation{"activation", ArgType::string, Attr{std::string("relu")}};
  activation.choices = {"relu", "gelu"};
  ArgDef eps{"layer_norm_eps", ArgType::number, Attr{1e-5}};
  eps.min = 0.0;
  // torch's default is batch_first=False, (T, batch, E); ltgen's sequences are (batch, T, E).
  ArgDef batch_first{"batch_first", ArgType::boolean, Attr{false}};
  return {d_model,
          nhead,
          feedforward,
          dropout,
          activation,
          eps,
          batch_first,
          {"norm_first", ArgType::boolean, Attr{false}},
          {"bias", ArgType::boolean, Attr{true}},
          {"is_causal", ArgType::boolean, Attr{false}}};
}

// Builds the layer on input in[0] (and, for the decoder, the memory in[1]); returns its output.
int build_transformer_layer(LayerBuild& b, const std::vector<int>& in, bool decoder) {
  const Value& x = b.graph.value(in.at(0));
  if (!std::get<bool>(b.args.at("batch_first")))
    throw ShapeError("needs \"batch_first\": true (ltgen's sequences are (batch, T, d_model))");
  if (x.shape.size() != 3) throw ShapeError("expects a sequence (batch, T, d_model), got " + shape_str(x.shape));
  const std::int64_t e = x.shape[2];
  if (auto it = b.args.find("d_model"); it != b.args.end() && std::get<std::int64_t>(it->second) != e)
    throw ShapeError("d_model is " + std::to_string(std::get<std::int64_t>(it->second)) + " but the input has " +
                     std::to_string(e) + " features; remove d_model to infer it");
  if (std::get<double>(b.args.at("dropout")) != 0.0)
    throw ShapeError(
        "dropout other than 0 (torch's default is 0.1; the attention's dropout among them) is not "
        "supported yet: set \"dropout\": 0.0");
  const bool bias = std::get<bool>(b.args.at("bias")), norm_first = std::get<bool>(b.args.at("norm_first"));
  if (decoder) {
    const Value& memory = b.graph.value(in.at(1));
    if (memory.shape.size() != 3 || memory.shape[2] != e)
      throw ShapeError("expects its second input, the memory, as a sequence (batch, S, " + std::to_string(e) +
                       "), got " + shape_str(memory.shape));
  }
  const std::size_t first_param = b.graph.params.size();
  const Attrs norm{{"eps", b.args.at("layer_norm_eps")}, {"bias", Attr{bias}}};
  const auto add = [&](int a, int c) { return part(b, "", "Add", {}, {a, c}); };
  const auto sa = [&](int h) {
    return part(b, "self_attn", "MultiheadAttention",
                {{"num_heads", b.args.at("nhead")},
                 {"bias", Attr{bias}},
                 {"batch_first", Attr{true}},
                 {"is_causal", b.args.at("is_causal")}},
                {h});
  };
  const auto ca = [&](int h) {  // the decoder's cross-attention over the memory
    return part(b, "multihead_attn", "MultiheadAttention",
                {{"num_heads", b.args.at("nhead")}, {"bias", Attr{bias}}, {"batch_first", Attr{true}}}, {h, in.at(1)});
  };
  const auto ff = [&](int h) {
    const int hidden =
        part(b, "linear1", "Linear", {{"out_features", b.args.at("dim_feedforward")}, {"bias", Attr{bias}}}, {h});
    const bool gelu = std::get<std::string>(b.args.at("activation")) == "gelu";
    const int act = part(b, "activation", gelu ? "GELU" : "ReLU", {}, {hidden});
    return part(b, "linear2", "Linear", {{"out_features", Attr{e}}, {"bias", Attr{bias}}}, {act});
  };
  // Each block in turn, its norm (norm1, norm2, norm3) before it or after its residual Add.
  int h = in.at(0);
  std::vector<std::function<int(int)>> blocks = {sa};
  if (decoder) blocks.push_back(ca);
  blocks.push_back(ff);
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    const std::string norm_name = "norm" + std::to_string(k + 1);
    if (norm_first)
      h = add(h, blocks[k](part(b, norm_name, "LayerNorm", norm, {h})));
    else
      h = part(b, norm_name, "LayerNorm", norm, {add(h, blocks[k](h))});
  }
  // The parameters in torch's order (its modules': self_attn, multihead_attn, linear1, linear2,
  // norm1, norm2, norm3), as its parameters() and state_dict list them, whichever order the parts
  // were built in.
  const std::vector<std::string> modules = {".self_attn.", ".multihead_attn.", ".linear1.", ".linear2.",
                                            ".norm1.",     ".norm2.",          ".norm3."};
  const auto rank = [&](int p) {
    const std::string& name = b.graph.value(p).torch_name;
    for (std::size_t k = 0; k < modules.size(); ++k)
      if (name.compare(0, b.layer.size() + modules[k].size(), b.layer + modules[k]) == 0) return k;
    return modules.size();
  };
  std::stable_sort(b.graph.params.begin() + static_cast<std::ptrdiff_t>(first_param), b.graph.params.end(),
                   [&](int p, int q) { return rank(p) < rank(q); });
  return h;
}

}  // namespace

void register_transformer_layers(std::vector<LayerDef>& layers) {
  LayerDef encoder;
  encoder.torch_type = "TransformerEncoderLayer";
  encoder.args = transformer_args();
  encoder.build = [](LayerBuild& b, const std::vector<int>& in) { return build_transformer_layer(b, in, false); };
  layers.push_back(std::move(encoder));
  // A model.graph node: "inputs": [tgt, memory]; forward(tgt, memory).
  LayerDef decoder;
  decoder.torch_type = "TransformerDecoderLayer";
  decoder.num_inputs = 2;
  decoder.args = transformer_args();
  decoder.build = [](LayerBuild& b, const std::vector<int>& in) { return build_transformer_layer(b, in, true); };
  layers.push_back(std::move(decoder));
}

}  // namespace ltgen
