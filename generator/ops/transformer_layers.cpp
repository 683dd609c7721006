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
/// src_mask (tgt_mask) = nn.Transformer.generate_square_subsequent_mask(T). `dropout` is the
/// attentions' (of their probabilities) and torch's Dropout modules': dropout1 after the
/// self-attention, (the decoder's dropout2 after the cross-attention,) dropout after the activation
/// and dropout2 (dropout3) after linear2 (torch's masks on the CPU, ltgen's in the attentions), off
/// in evaluation.
/// Their stacks, TransformerEncoder(encoder_layer, num_layers, norm) and TransformerDecoder, are
/// layers.0, layers.1, ... (clones of the first, as torch's deep copies) and the optional final
/// norm; nn.Transformer is an encoder and a decoder stack, each with its final norm.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>

#include "../init_program.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// Builds one of the layer's parts with another layer's builder: `type` under `name` (torch's
// module name inside this layer), its arguments at their defaults but for `args`.
// `values`: its forward's masks (ArgType::value arguments), by argument name.
int part(LayerBuild& b, const std::string& name, const std::string& type, const Attrs& args,
         const std::vector<int>& inputs, const std::map<std::string, int>& values = {}) {
  const LayerDef* def = find_layer(type);
  LayerBuild sub{b.graph, name.empty() ? b.layer : b.layer + "." + name, b.source, {}};
  for (const ArgDef& a : def->args)
    if (a.default_value) sub.args[a.name] = *a.default_value;
  for (const auto& [key, value] : args) sub.args[key] = value;
  sub.values = values;
  return def->build(sub, inputs);
}

// b's mask argument `from`, if given, as the part's argument `to`.
std::map<std::string, int> pass_mask(const LayerBuild& b, const std::string& from, const std::string& to) {
  auto it = b.values.find(from);
  if (it == b.values.end()) return {};
  return {{to, it->second}};
}

// The masks of b named in `names`, those given, under the same names.
std::map<std::string, int> pass_masks(const LayerBuild& b, const std::vector<std::string>& names) {
  std::map<std::string, int> out;
  for (const std::string& name : names)
    if (auto it = b.values.find(name); it != b.values.end()) out[name] = it->second;
  return out;
}

// The masks each class's forward takes.
const std::vector<std::string> kEncoderMasks = {"src_key_padding_mask"};
const std::vector<std::string> kDecoderMasks = {"tgt_key_padding_mask", "memory_key_padding_mask"};

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
  const bool bias = std::get<bool>(b.args.at("bias")), norm_first = std::get<bool>(b.args.at("norm_first"));
  if (decoder) {
    const Value& memory = b.graph.value(in.at(1));
    if (memory.shape.size() != 3 || memory.shape[2] != e)
      throw ShapeError("expects its second input, the memory, as a sequence (batch, S, " + std::to_string(e) +
                       "), got " + shape_str(memory.shape));
  }
  const std::size_t first_param = b.graph.params.size();
  const Attrs norm{{"eps", b.args.at("layer_norm_eps")}, {"bias", Attr{bias}}};
  const Attr dropout = b.args.at("dropout");  // the attention's, and each Dropout module's p
  const auto add = [&](int a, int c) { return part(b, "", "Add", {}, {a, c}); };
  const auto drop = [&](const std::string& name, int h) { return part(b, name, "Dropout", {{"p", dropout}}, {h}); };
  const auto sa = [&](int h) {
    return drop("dropout1", part(b, "self_attn", "MultiheadAttention",
                                 {{"num_heads", b.args.at("nhead")},
                                  {"dropout", dropout},
                                  {"bias", Attr{bias}},
                                  {"batch_first", Attr{true}},
                                  {"is_causal", b.args.at("is_causal")}},
                                 {h},
                                 pass_mask(b, decoder ? "tgt_key_padding_mask" : "src_key_padding_mask",
                                           "key_padding_mask")));
  };
  const auto ca = [&](int h) {  // the decoder's cross-attention over the memory
    return drop("dropout2", part(b, "multihead_attn", "MultiheadAttention",
                                 {{"num_heads", b.args.at("nhead")},
                                  {"dropout", dropout},
                                  {"bias", Attr{bias}},
                                  {"batch_first", Attr{true}}},
                                 {h, in.at(1)}, pass_mask(b, "memory_key_padding_mask", "key_padding_mask")));
  };
  const auto ff = [&](int h) {
    const int hidden =
        part(b, "linear1", "Linear", {{"out_features", b.args.at("dim_feedforward")}, {"bias", Attr{bias}}}, {h});
    const bool gelu = std::get<std::string>(b.args.at("activation")) == "gelu";
    const int act = drop("dropout", part(b, "activation", gelu ? "GELU" : "ReLU", {}, {hidden}));
    return drop(decoder ? "dropout3" : "dropout2",
                part(b, "linear2", "Linear", {{"out_features", Attr{e}}, {"bias", Attr{bias}}}, {act}));
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
  // Its attentions drew (out_proj first); its Linears draw after them, in that order.
  complete_init(b.graph);
  return h;
}

// The parameters made since `first`, in order.
std::vector<int> params_since(const Graph& g, std::size_t first) {
  return {g.params.begin() + static_cast<std::ptrdiff_t>(first), g.params.end()};
}

// torch's _get_clones: layers 1.. start as copies of layer 0 (copy.deepcopy), drawing nothing:
// their builds' draws are dropped.
void clone_init(Graph& g, const std::vector<std::vector<int>>& per_layer) {
  std::vector<int> clones;
  for (std::size_t k = 1; k < per_layer.size(); ++k)
    for (std::size_t j = 0; j < per_layer[k].size(); ++j) {
      Value& v = g.value(per_layer[k][j]);
      v.init = Init::copy;
      v.init_copy_of = per_layer[0][j];
      v.init_zero_row = -1;
      clones.push_back(per_layer[k][j]);
    }
  drop_init(g, clones);
  complete_init(g);
}

// A stack of `num_layers` encoder (decoder) layers on x (and the memory), then the final norm if
// any: TransformerEncoder's and TransformerDecoder's forward, and nn.Transformer's halves. `layer_args`
// are the layer's own; `norm` holds the final LayerNorm's (absent: none). Returns the output and
// each layer's parameters.
// `masks`: the stack's forward's key padding masks (its layers' names for them). An encoder's
// src_key_padding_mask goes through torch's nested-tensor path in evaluation when `nested` (its
// use_nested_tensor, and no src_mask): the layers' output is zero at padded positions before the
// final norm (add_nested_padding).
int build_stack(LayerBuild& b, const std::string& name, int x, int memory, bool decoder, const Attrs& layer_args,
                std::int64_t num_layers, const std::optional<Attrs>& norm, std::vector<std::vector<int>>& per_layer,
                const std::map<std::string, int>& masks, bool nested) {
  const std::string prefix = name.empty() ? "" : name + ".";
  const std::string type = decoder ? "TransformerDecoderLayer" : "TransformerEncoderLayer";
  int h = x;
  for (std::int64_t k = 0; k < num_layers; ++k) {
    const std::size_t first = b.graph.params.size();
    h = part(b, prefix + "layers." + std::to_string(k), type, layer_args,
             decoder ? std::vector<int>{h, memory} : std::vector<int>{h}, masks);
    per_layer.push_back(params_since(b.graph, first));
  }
  if (auto it = masks.find("src_key_padding_mask"); !decoder && nested && it != masks.end())
    h = add_nested_padding(b.graph, b.layer + (name.empty() ? "" : "." + name), b.source, h,
                           additive_padding_mask(b.graph, b.layer, b.source, it->second));
  if (norm) h = part(b, prefix + "norm", "LayerNorm", *norm, {h});
  return h;
}

// torch's TransformerEncoder.use_nested_tensor (set in __init__ from its first layer), with no
// src_mask in forward (ltgen's is_causal gives one): whether evaluation with a
// src_key_padding_mask takes the nested-tensor path.
bool nested_path(bool enable_nested_tensor, const Attrs& layer_args) {
  const auto flag = [&](const char* key, bool otherwise) {
    auto it = layer_args.find(key);
    return it == layer_args.end() ? otherwise : std::get<bool>(it->second);
  };
  auto heads = layer_args.find("nhead");
  const bool even_heads = heads != layer_args.end() && std::get<std::int64_t>(heads->second) % 2 == 0;
  return enable_nested_tensor && !flag("norm_first", false) && flag("bias", true) && even_heads &&
         !flag("is_causal", false);
}

// mask_check=False hands torch's nested path masks it does not check are left aligned: refused.
void check_mask_check(const LayerBuild& b, bool mask_check) {
  if (!mask_check && b.values.count("src_key_padding_mask"))
    throw ShapeError("mask_check false with a src_key_padding_mask is not supported yet (torch's nested-tensor path "
                     "then takes padding that is not at the end as if it were): leave mask_check true");
}

ArgDef module_arg(const std::string& name, const std::string& type, const std::string& part, bool nullable) {
  ArgDef a{name, ArgType::module, std::nullopt};
  a.module_type = type;
  a.module_part = part;
  a.optional = nullable;
  a.nullable = nullable;
  return a;
}

std::vector<ArgDef> stack_args(bool decoder) {
  ArgDef num_layers{"num_layers", ArgType::integer, std::nullopt};
  num_layers.min = 1;
  num_layers.max = kMaxStackedLayers;  // each layer is unrolled into the generated code
  std::vector<ArgDef> args = {
      module_arg(decoder ? "decoder_layer" : "encoder_layer",
                 decoder ? "TransformerDecoderLayer" : "TransformerEncoderLayer", "layers.0", false),
      num_layers, module_arg("norm", "LayerNorm", "norm", true)};
  if (!decoder) {  // they matter only with a src_key_padding_mask (torch's nested-tensor path)
    args.push_back({"enable_nested_tensor", ArgType::boolean, Attr{true}});
    args.push_back({"mask_check", ArgType::boolean, Attr{true}});
  }
  for (const std::string& mask : decoder ? kDecoderMasks : kEncoderMasks) args.push_back(key_padding_mask_arg(mask));
  return args;
}

// TransformerEncoder(encoder_layer, num_layers, norm) on x, TransformerDecoder(decoder_layer,
// num_layers, norm) on (tgt, memory).
int build_transformer_stack(LayerBuild& b, const std::vector<int>& in, bool decoder) {
  const std::string layer = decoder ? "decoder_layer" : "encoder_layer";
  std::optional<Attrs> norm;
  if (b.args.count("norm")) norm = module_args(b.args, "norm");
  std::vector<std::vector<int>> per_layer;
  const Attrs layer_args = module_args(b.args, layer);
  const bool nested = !decoder && nested_path(std::get<bool>(b.args.at("enable_nested_tensor")), layer_args);
  if (!decoder) check_mask_check(b, std::get<bool>(b.args.at("mask_check")));
  const int out = build_stack(b, "", in.at(0), decoder ? in.at(1) : -1, decoder, layer_args,
                              std::get<std::int64_t>(b.args.at("num_layers")), norm, per_layer,
                              pass_masks(b, decoder ? kDecoderMasks : kEncoderMasks), nested);
  clone_init(b.graph, per_layer);
  return out;
}

// nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, ...) on (src, tgt): an
// encoder and a decoder stack, each with a final LayerNorm. Its _reset_parameters redraws every
// parameter of two or more dimensions with xavier_uniform_ after the clones, so only the vectors
// (biases, norms) stay copies of the first layer's.
int build_transformer(LayerBuild& b, const std::vector<int>& in) {
  for (const int v : in)
    if (b.graph.value(v).shape.size() != 3)
      throw ShapeError("expects src and tgt as sequences (batch, T, d_model), got " + shape_str(b.graph.value(v).shape));
  const std::int64_t e = b.graph.value(in.at(0)).shape[2];
  if (b.graph.value(in.at(1)).shape[2] != e)
    throw ShapeError("the feature number of src and tgt must be equal to d_model: src has " + std::to_string(e) +
                     ", tgt " + std::to_string(b.graph.value(in.at(1)).shape[2]));
  Attrs layer_args;
  for (const char* key : {"d_model", "nhead", "dim_feedforward", "dropout", "activation", "layer_norm_eps",
                          "batch_first", "norm_first", "bias"})
    if (b.args.count(key)) layer_args[key] = b.args.at(key);
  const Attrs norm{{"eps", b.args.at("layer_norm_eps")}, {"bias", b.args.at("bias")}};
  std::vector<std::vector<int>> encoder_layers, decoder_layers;
  Attrs encoder_args = layer_args, decoder_args = layer_args;
  encoder_args["is_causal"] = b.args.at("src_is_causal");
  decoder_args["is_causal"] = b.args.at("tgt_is_causal");
  const std::size_t first = b.graph.params.size();
  // Its encoder is TransformerEncoder(encoder_layer, num_encoder_layers, encoder_norm): torch's
  // default enable_nested_tensor=True.
  const int memory = build_stack(b, "encoder", in.at(0), -1, false, encoder_args,
                                 std::get<std::int64_t>(b.args.at("num_encoder_layers")), norm, encoder_layers,
                                 pass_masks(b, kEncoderMasks), nested_path(true, encoder_args));
  const int out = build_stack(b, "decoder", in.at(1), memory, true, decoder_args,
                              std::get<std::int64_t>(b.args.at("num_decoder_layers")), norm, decoder_layers,
                              pass_masks(b, kDecoderMasks), false);
  clone_init(b.graph, encoder_layers);
  clone_init(b.graph, decoder_layers);
  complete_init(b.graph);
  for (const int p : params_since(b.graph, first)) {  // _reset_parameters, in parameters() order
    const Value& v = b.graph.value(p);
    if (v.shape.size() != 2) continue;  // (its matrices are all (fan_out, fan_in))
    InitStep xavier;
    xavier.param = p;
    xavier.kind = Init::uniform;
    xavier.value = xavier_uniform_bound(v.shape[1], v.shape[0]);
    b.graph.init_steps.push_back(xavier);
  }
  return out;
}

std::vector<ArgDef> transformer_model_args() {
  std::vector<ArgDef> layer = transformer_args();  // d_model, nhead, ... as the layers', is_causal apart
  layer.pop_back();
  ArgDef nhead = layer[1];
  nhead.default_value = Attr{std::int64_t{8}};
  ArgDef encoders{"num_encoder_layers", ArgType::integer, Attr{std::int64_t{6}}};
  encoders.min = 1;
  encoders.max = kMaxStackedLayers;
  ArgDef decoders{"num_decoder_layers", ArgType::integer, Attr{std::int64_t{6}}};
  decoders.min = 1;
  decoders.max = kMaxStackedLayers;
  // torch's order: d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, ...
  std::vector<ArgDef> args = {layer[0], nhead, encoders, decoders};
  args.insert(args.end(), layer.begin() + 2, layer.end());
  args.push_back({"src_is_causal", ArgType::boolean, Attr{false}});  // ltgen's: forward's src_mask
  args.push_back({"tgt_is_causal", ArgType::boolean, Attr{false}});  // ltgen's: forward's tgt_mask
  for (const std::string& mask : kEncoderMasks) args.push_back(key_padding_mask_arg(mask));
  for (const std::string& mask : kDecoderMasks) args.push_back(key_padding_mask_arg(mask));
  return args;
}

}  // namespace

void register_transformer_layers(std::vector<LayerDef>& layers) {
  LayerDef encoder;
  encoder.torch_type = "TransformerEncoderLayer";
  encoder.args = transformer_args();
  encoder.args.push_back(key_padding_mask_arg("src_key_padding_mask"));
  encoder.build = [](LayerBuild& b, const std::vector<int>& in) { return build_transformer_layer(b, in, false); };
  layers.push_back(std::move(encoder));
  // A model.graph node: "inputs": [tgt, memory]; forward(tgt, memory).
  LayerDef decoder;
  decoder.torch_type = "TransformerDecoderLayer";
  decoder.num_inputs = 2;
  decoder.args = transformer_args();
  for (const std::string& mask : kDecoderMasks) decoder.args.push_back(key_padding_mask_arg(mask));
  decoder.build = [](LayerBuild& b, const std::vector<int>& in) { return build_transformer_layer(b, in, true); };
  layers.push_back(std::move(decoder));
  LayerDef encoder_stack;
  encoder_stack.torch_type = "TransformerEncoder";
  encoder_stack.args = stack_args(false);
  encoder_stack.build = [](LayerBuild& b, const std::vector<int>& in) { return build_transformer_stack(b, in, false); };
  layers.push_back(std::move(encoder_stack));
  LayerDef decoder_stack;  // "inputs": [tgt, memory]
  decoder_stack.torch_type = "TransformerDecoder";
  decoder_stack.num_inputs = 2;
  decoder_stack.args = stack_args(true);
  decoder_stack.build = [](LayerBuild& b, const std::vector<int>& in) { return build_transformer_stack(b, in, true); };
  layers.push_back(std::move(decoder_stack));
  LayerDef transformer;  // "inputs": [src, tgt]
  transformer.torch_type = "Transformer";
  transformer.num_inputs = 2;
  transformer.args = transformer_model_args();
  transformer.build = build_transformer;
  layers.push_back(std::move(transformer));
}

}  // namespace ltgen
