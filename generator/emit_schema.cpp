/// \file
/// The JSON Schema of specs (specs/schema.json), built from the same tables
/// the reader checks against: the layer and loss registry, torch's scheduler
/// arguments and Lightning's trainer arguments.
#include "emit_schema.hpp"

#include <ltrt/lr_scheduler.hpp>
#include <ltrt/model.hpp>
#include <ltrt/trainer_config.hpp>

#include "op.hpp"
#include "optimizer_args.hpp"

namespace ltgen {

namespace {

using JsonValue = ltrt::json::Value;

JsonValue type_of(const char* t) {
  JsonValue v = JsonValue::make_object();
  v.set("type", JsonValue::make_string(t));
  return v;
}

JsonValue strings(const std::vector<std::string>& items) {
  JsonValue a = JsonValue::make_array();
  for (const auto& s : items) a.push(JsonValue::make_string(s));
  return a;
}

JsonValue object(JsonValue properties, const std::vector<std::string>& required) {
  JsonValue o = type_of("object");
  o.set("properties", std::move(properties));
  if (!required.empty()) o.set("required", strings(required));
  o.set("additionalProperties", JsonValue::make_bool(false));
  return o;
}

JsonValue one_of(const std::vector<JsonValue>& alternatives) {
  JsonValue a = JsonValue::make_array();
  for (const auto& v : alternatives) a.push(v);
  JsonValue o = JsonValue::make_object();
  o.set("oneOf", a);
  return o;
}

JsonValue layer_schema(const LayerDef& l, bool type_required = true, bool graph_node = false);

JsonValue arg_schema(const ArgDef& a) {
  JsonValue v;
  switch (a.type) {
    case ArgType::module: {  // the nested layer's arguments, its "type" optional
      JsonValue m = layer_schema(*find_layer(a.module_type), false);
      return a.nullable ? one_of({m, type_of("null")}) : m;
    }
    case ArgType::integer: v = type_of("integer"); break;
    case ArgType::number: v = type_of("number"); break;
    case ArgType::boolean: v = type_of("boolean"); break;
    case ArgType::string: v = type_of("string"); break;
    case ArgType::value: v = type_of("string"); break;  // a model input's name
    case ArgType::number_list: {
      JsonValue item = type_of("number");
      if (a.min) item.set("minimum", JsonValue::make_number(*a.min));
      v = type_of("array");
      v.set("items", item);
      v.set("minItems", JsonValue::make_integer(1));
      return a.nullable ? one_of({v, type_of("null")}) : v;
    }
    case ArgType::number_tuple: {
      JsonValue item = type_of("number");
      if (!a.positive.empty()) item.set("exclusiveMinimum", JsonValue::make_number(0));
      JsonValue list = type_of("array");
      list.set("items", item);
      list.set("minItems", JsonValue::make_integer(a.tuple_size > 0 ? a.tuple_size : 1));
      if (a.tuple_size > 0) list.set("maxItems", JsonValue::make_integer(a.tuple_size));
      return one_of({item, list});
    }
    case ArgType::integer_tuple: {
      JsonValue item = type_of("integer");
      if (a.min) item.set("minimum", JsonValue::make_number(*a.min));
      if (a.max) item.set("maximum", JsonValue::make_number(*a.max));
      JsonValue list = type_of("array");
      list.set("items", item);
      list.set("minItems", JsonValue::make_integer(a.tuple_size > 0 ? a.tuple_size : 1));
      if (a.tuple_size > 0) list.set("maxItems", JsonValue::make_integer(a.tuple_size));
      std::vector<JsonValue> alternatives = {item, list};
      if (!a.choices.empty()) {
        JsonValue named = type_of("string");
        named.set("enum", strings(a.choices));
        alternatives.push_back(named);
      }
      return one_of(alternatives);
    }
  }
  if (!a.choices.empty()) v.set("enum", strings(a.choices));
  if (a.min) v.set("minimum", JsonValue::make_number(*a.min));
  if (a.max) v.set("maximum", JsonValue::make_number(*a.max));
  if (a.nullable) return one_of({v, type_of("null")});
  return v;
}

// One torch.nn class: {"type": <name>, its constructor arguments}.
JsonValue layer_schema(const LayerDef& l, bool type_required, bool graph_node) {
  JsonValue props = JsonValue::make_object();
  JsonValue t = JsonValue::make_object();
  t.set("const", JsonValue::make_string(l.torch_type));
  props.set("type", t);
  std::vector<std::string> required;
  if (type_required) required.push_back("type");
  for (const ArgDef& a : l.args) {
    if (a.type == ArgType::value && !graph_node) continue;  // forward's masks: a graph node's only
    props.set(a.name, arg_schema(a));
    if (!a.default_value && !a.inferred && !a.optional) required.push_back(a.name);
  }
  return object(props, required);
}

// `scalar_ok`: [] too, one number per sample (a float target's (N,)).
JsonValue shape_schema(bool scalar_ok = false) {
  JsonValue s = type_of("array");
  JsonValue item = type_of("integer");
  item.set("minimum", JsonValue::make_integer(1));
  s.set("items", item);
  s.set("minItems", JsonValue::make_integer(scalar_ok ? 0 : 1));
  return s;
}

// data.<split>.transforms: torchvision's transforms by type, each with its own arguments.
JsonValue transforms_schema() {
  JsonValue ints = one_of({type_of("integer"), [] {
                             JsonValue a = type_of("array");
                             a.set("items", type_of("integer"));
                             return a;
                           }()});
  JsonValue number_list = type_of("array");
  number_list.set("items", type_of("number"));
  number_list.set("minItems", JsonValue::make_integer(1));
  const JsonValue numbers = one_of({type_of("number"), number_list});
  JsonValue probability = type_of("number");
  probability.set("minimum", JsonValue::make_integer(0));
  probability.set("maximum", JsonValue::make_integer(1));
  std::vector<JsonValue> kinds;
  // A transform's properties: its "type", the one given.
  const auto named = [](const char* name) {
    JsonValue p = JsonValue::make_object();
    JsonValue type = type_of("string");
    type.set("const", JsonValue::make_string(name));
    p.set("type", type);
    return p;
  };
  for (const char* flip :
       {"RandomHorizontalFlip", "RandomVerticalFlip", "v2.RandomHorizontalFlip", "v2.RandomVerticalFlip"}) {
    JsonValue p = named(flip);
    p.set("p", probability);
    kinds.push_back(object(p, {"type"}));
  }
  for (const char* crop : {"RandomCrop", "v2.RandomCrop"}) {
    JsonValue p = named(crop);
    p.set("size", ints);
    p.set("padding", one_of({ints, type_of("null")}));
    p.set("pad_if_needed", type_of("boolean"));
    p.set("fill", one_of({type_of("number"), type_of("null")}));
    JsonValue mode = type_of("string");
    mode.set("enum", strings({"constant", "edge", "reflect", "symmetric"}));
    p.set("padding_mode", mode);
    kinds.push_back(object(p, {"type", "size"}));
  }
  for (const char* crop : {"CenterCrop", "v2.CenterCrop"}) {
    JsonValue p = named(crop);
    p.set("size", ints);
    kinds.push_back(object(p, {"type", "size"}));
  }
  JsonValue resize_mode = type_of("string");  // F.resize's (Resize's, RandomResizedCrop's)
  resize_mode.set("enum", strings({"nearest", "nearest-exact", "bilinear", "bicubic"}));
  for (const char* resize : {"Resize", "v2.Resize"}) {
    JsonValue p = named(resize);
    p.set("size", ints);
    p.set("interpolation", resize_mode);
    p.set("antialias", type_of("boolean"));
    JsonValue most = type_of("integer");
    most.set("minimum", JsonValue::make_integer(1));
    p.set("max_size", one_of({most, type_of("null")}));
    kinds.push_back(object(p, {"type", "size"}));
  }
  for (const char* jitter : {"ColorJitter", "v2.ColorJitter"}) {
    JsonValue p = named(jitter);
    JsonValue pair = number_list;
    pair.set("minItems", JsonValue::make_integer(2));
    pair.set("maxItems", JsonValue::make_integer(2));
    for (const char* factor : {"brightness", "contrast", "saturation", "hue"})
      p.set(factor, one_of({type_of("number"), pair}));
    kinds.push_back(object(p, {"type"}));
  }
  for (const bool v2 : {false, true}) {
    JsonValue p = named(v2 ? "v2.RandomGrayscale" : "RandomGrayscale");
    p.set("p", probability);
    kinds.push_back(object(p, {"type"}));
    JsonValue g = named(v2 ? "v2.Grayscale" : "Grayscale");
    JsonValue channels = type_of("integer");
    channels.set("enum", [] {
      JsonValue e = JsonValue::make_array();
      e.push(JsonValue::make_integer(1));
      e.push(JsonValue::make_integer(3));
      return e;
    }());
    g.set("num_output_channels", channels);
    kinds.push_back(object(g, {"type"}));
  }
  for (const char* pad : {"Pad", "v2.Pad"}) {
    JsonValue p = named(pad);
    p.set("padding", ints);
    p.set("fill", type_of("number"));
    JsonValue mode = type_of("string");
    mode.set("enum", strings({"constant", "edge", "reflect", "symmetric"}));
    p.set("padding_mode", mode);
    kinds.push_back(object(p, {"type", "padding"}));
  }
  for (const char* kind : {"RandomInvert", "RandomAutocontrast", "v2.RandomInvert", "v2.RandomAutocontrast"}) {
    JsonValue p = named(kind);
    p.set("p", probability);
    kinds.push_back(object(p, {"type"}));
  }
  for (const char* solarize : {"RandomSolarize", "v2.RandomSolarize"}) {
    JsonValue p = named(solarize);
    JsonValue threshold = type_of("number");
    threshold.set("maximum", JsonValue::make_integer(1));
    p.set("threshold", threshold);
    p.set("p", probability);
    kinds.push_back(object(p, {"type", "threshold"}));
  }
  JsonValue bounds = number_list;  // RandomResizedCrop's and RandomErasing's scale and ratio: [min, max]
  bounds.set("minItems", JsonValue::make_integer(2));
  bounds.set("maxItems", JsonValue::make_integer(2));
  for (const char* crop : {"RandomResizedCrop", "v2.RandomResizedCrop"}) {
    JsonValue p = named(crop);
    p.set("size", ints);
    p.set("scale", bounds);
    p.set("ratio", bounds);
    p.set("interpolation", resize_mode);
    p.set("antialias", type_of("boolean"));
    kinds.push_back(object(p, {"type", "size"}));
  }
  for (const char* erasing : {"RandomErasing", "v2.RandomErasing"}) {
    JsonValue p = named(erasing);
    p.set("p", probability);
    p.set("scale", bounds);
    p.set("ratio", bounds);
    JsonValue random = type_of("string");
    random.set("const", JsonValue::make_string("random"));
    p.set("value", one_of({numbers, random}));
    p.set("inplace", type_of("boolean"));
    kinds.push_back(object(p, {"type"}));
  }
  for (const char* warp : {"RandomRotation", "RandomAffine", "v2.RandomRotation", "v2.RandomAffine"}) {
    const bool affine = std::string(warp).find("Affine") != std::string::npos;
    JsonValue p = named(warp);
    JsonValue both_shears = number_list;  // shear: [x min, x max, y min, y max]
    both_shears.set("minItems", JsonValue::make_integer(4));
    both_shears.set("maxItems", JsonValue::make_integer(4));
    JsonValue shares = bounds;  // translate: each within [0, 1]
    JsonValue share = type_of("number");
    share.set("minimum", JsonValue::make_integer(0));
    share.set("maximum", JsonValue::make_integer(1));
    shares.set("items", share);
    JsonValue magnitude = type_of("number");
    magnitude.set("minimum", JsonValue::make_integer(0));
    p.set("degrees", one_of({magnitude, bounds}));
    JsonValue mode = type_of("string");
    mode.set("enum", strings({"nearest", "bilinear"}));
    p.set("interpolation", mode);
    p.set("center", one_of({bounds, type_of("null")}));
    p.set("fill", one_of({numbers, type_of("null")}));
    if (affine) {
      p.set("translate", one_of({shares, type_of("null")}));
      p.set("scale", one_of({bounds, type_of("null")}));
      p.set("shear", one_of({magnitude, bounds, both_shears, type_of("null")}));
    } else {
      p.set("expand", type_of("boolean"));
    }
    kinds.push_back(object(p, {"type", "degrees"}));
  }
  for (const char* container : {"RandomChoice", "RandomOrder", "v2.RandomChoice", "v2.RandomOrder"}) {
    // (their lists are read as the outer one; v1's RandomOrder may be empty)
    const std::string name = container;
    JsonValue p = named(container);
    JsonValue list = type_of("array");
    list.set("items", type_of("object"));
    if (name != "RandomOrder") list.set("minItems", JsonValue::make_integer(1));
    p.set("transforms", list);
    if (name == "RandomChoice" || name == "v2.RandomChoice") {  // v1's weights may be negative (a positive total)
      JsonValue weights = type_of("array");
      JsonValue weight = type_of("number");
      if (name == "v2.RandomChoice") weight.set("minimum", JsonValue::make_integer(0));
      weights.set("items", weight);
      p.set("p", one_of({weights, type_of("null")}));
    }
    kinds.push_back(object(p, {"type", "transforms"}));
  }
  for (const char* apply : {"RandomApply", "v2.RandomApply"}) {  // (its list is read as the outer one)
    JsonValue p = named(apply);
    p.set("p", probability);
    JsonValue list = type_of("array");
    list.set("items", type_of("object"));
    p.set("transforms", list);
    kinds.push_back(object(p, {"type", "transforms"}));
  }
  for (const char* normalize : {"Normalize", "v2.Normalize"}) {
    JsonValue p = named(normalize);
    const JsonValue& values = std::string(normalize) == "v2.Normalize" ? number_list : numbers;
    p.set("mean", values);  // (v2's takes lists only)
    p.set("std", values);
    p.set("inplace", type_of("boolean"));
    kinds.push_back(object(p, {"type", "mean", "std"}));
  }
  {
    JsonValue p = named("v2.GaussianNoise");
    p.set("mean", type_of("number"));
    JsonValue sigma = type_of("number");
    sigma.set("minimum", JsonValue::make_integer(0));
    p.set("sigma", sigma);
    p.set("clip", type_of("boolean"));
    kinds.push_back(object(p, {"type"}));
  }
  JsonValue list = type_of("array");
  list.set("items", one_of(kinds));
  return list;
}

JsonValue source_schema() {
  JsonValue p = JsonValue::make_object();
  JsonValue src = type_of("string");
  src.set("enum", strings({"randn", "npy", "csv", "idx", "text", "prompt"}));
  p.set("source", src);
  JsonValue n = type_of("integer");
  n.set("minimum", JsonValue::make_integer(1));
  p.set("num_samples", n);
  p.set("block_size", n);
  for (const char* k : {"y", "path", "target_column", "images", "labels"}) p.set(k, type_of("string"));
  // npy: one file, or (a model with several inputs) a file per input by name.
  JsonValue files = type_of("object");
  files.set("additionalProperties", type_of("string"));
  p.set("x", one_of({type_of("string"), files}));
  p.set("header", type_of("boolean"));
  JsonValue scale = type_of("number");
  scale.set("exclusiveMinimum", JsonValue::make_integer(0));
  p.set("scale", scale);
  JsonValue fraction = type_of("number");
  fraction.set("minimum", JsonValue::make_integer(0));
  fraction.set("maximum", JsonValue::make_integer(1));
  JsonValue range = type_of("array");
  range.set("items", fraction);
  range.set("minItems", JsonValue::make_integer(2));
  range.set("maxItems", JsonValue::make_integer(2));
  p.set("range", range);
  JsonValue prompt = type_of("string");
  prompt.set("minLength", JsonValue::make_integer(1));
  p.set("prompt", prompt);
  p.set("max_new_tokens", n);
  p.set("top_k", n);
  JsonValue temperature = type_of("number");
  temperature.set("exclusiveMinimum", JsonValue::make_integer(0));
  p.set("temperature", temperature);
  p.set("transforms", transforms_schema());
  JsonValue sample_shape = type_of("array");  // randn: the first input's samples as drawn
  sample_shape.set("items", n);
  p.set("shape", sample_shape);
  return object(p, {"source"});
}

// A model.graph node: a layer with its name and the names it reads.
JsonValue node_schema(const LayerDef& l) {
  JsonValue s = layer_schema(l, true, true);
  JsonValue props = s.find("properties") ? *s.find("properties") : JsonValue::make_object();
  JsonValue name = type_of("string");
  name.set("pattern", JsonValue::make_string("^[A-Za-z_][A-Za-z0-9_]*$"));
  props.set("name", name);
  props.set("input", type_of("string"));
  JsonValue list = type_of("array");
  list.set("items", type_of("string"));
  props.set("inputs", list);
  s.set("properties", props);
  JsonValue required = JsonValue::make_array();
  if (const JsonValue* r = s.find("required"))
    for (const auto& item : r->items) required.push(item);
  required.push(JsonValue::make_string("name"));
  s.set("required", required);
  return s;
}

// Parameter names or glob patterns: "*.bias" or ["*.bias", ...] (optimizer.param_groups, model.freeze,
// model.backbone).
JsonValue name_patterns_schema() {
  JsonValue pattern = type_of("string");
  pattern.set("minLength", JsonValue::make_integer(1));
  JsonValue patterns = type_of("array");
  patterns.set("items", pattern);
  patterns.set("minItems", JsonValue::make_integer(1));
  return one_of({pattern, patterns});
}

JsonValue model_schema() {
  std::vector<JsonValue> layers, losses, nodes;
  for (const LayerDef* l : layer_defs()) {
    if (l->is_loss) {
      losses.push_back(layer_schema(*l));
      continue;
    }
    nodes.push_back(node_schema(*l));
    if (l->num_inputs == 1) layers.push_back(layer_schema(*l));
  }
  {  // a node that applies an earlier node's module again: {"name", "module", "input" or "inputs"}
    JsonValue props = JsonValue::make_object();
    JsonValue name = type_of("string");
    name.set("pattern", JsonValue::make_string("^[A-Za-z_][A-Za-z0-9_]*$"));
    props.set("name", name);
    props.set("module", type_of("string"));
    props.set("input", type_of("string"));
    JsonValue list = type_of("array");
    list.set("items", type_of("string"));
    props.set("inputs", list);
    nodes.push_back(object(props, {"name", "module"}));
  }
  JsonValue p = JsonValue::make_object();
  JsonValue inputs = type_of("object");
  inputs.set("additionalProperties", one_of({shape_schema(), object([] {
                                                JsonValue q = JsonValue::make_object();
                                                q.set("shape", shape_schema());
                                                JsonValue d = type_of("string");
                                                d.set("enum", strings({"float32", "int64", "bool"}));
                                                q.set("dtype", d);
                                                return q;
                                              }(), {"shape"})}));
  inputs.set("minProperties", JsonValue::make_integer(1));
  p.set("inputs", inputs);
  JsonValue target = JsonValue::make_object();
  target.set("shape", shape_schema(true));
  JsonValue dtype = type_of("string");
  dtype.set("enum", strings({"float32", "int64"}));
  target.set("dtype", dtype);
  JsonValue classes = type_of("integer");
  classes.set("minimum", JsonValue::make_integer(2));
  target.set("num_classes", classes);
  p.set("target", object(target, {}));
  JsonValue list = type_of("array");
  list.set("items", one_of(layers));
  list.set("minItems", JsonValue::make_integer(1));
  p.set("layers", list);
  JsonValue graph = type_of("array");
  graph.set("items", one_of(nodes));
  graph.set("minItems", JsonValue::make_integer(1));
  p.set("graph", graph);
  JsonValue outputs = type_of("array");  // forward's tuple, for a loss over several predictions
  outputs.set("items", type_of("string"));
  outputs.set("minItems", JsonValue::make_integer(2));
  p.set("output", one_of({type_of("string"), outputs}));
  p.set("loss", one_of(losses));
  JsonValue metrics = type_of("array");
  metrics.set("maxItems", JsonValue::make_integer(ltrt::kMaxMetrics));
  JsonValue metric = type_of("string");
  metric.set("enum", strings(metric_names()));
  JsonValue score = type_of("object");  // with torchmetrics' average or top_k, or as a Metric object
  JsonValue score_props = JsonValue::make_object();
  JsonValue score_name = type_of("string");
  score_name.set("enum", strings(metric_names()));
  score_props.set("name", score_name);
  JsonValue average = type_of("string");
  average.set("enum", strings({"micro", "macro", "weighted"}));
  score_props.set("average", average);
  score_props.set("module", type_of("boolean"));
  JsonValue top_k = type_of("integer");  // accuracy's and the scores' that take one
  top_k.set("minimum", JsonValue::make_integer(1));
  score_props.set("top_k", top_k);
  JsonValue multioutput = type_of("string");  // r2_score's
  multioutput.set("enum", strings({"uniform_average", "variance_weighted"}));
  score_props.set("multioutput", multioutput);
  JsonValue adjusted = type_of("integer");  // r2_score's independent regressors
  adjusted.set("minimum", JsonValue::make_integer(0));
  score_props.set("adjusted", adjusted);
  JsonValue beta = type_of("number");  // fbeta_score's
  beta.set("exclusiveMinimum", JsonValue::make_integer(0));
  score_props.set("beta", beta);
  score_props.set("squared", type_of("boolean"));  // mean_squared_error's and relative_squared_error's
  JsonValue weights = type_of("string");           // cohen_kappa's
  weights.set("enum", strings({"none", "linear", "quadratic"}));
  score_props.set("weights", weights);
  JsonValue variant = type_of("string");  // kendall_rank_corrcoef's tau
  variant.set("enum", strings({"a", "b", "c"}));
  score_props.set("variant", variant);
  JsonValue t_test = type_of("boolean");  // kendall_rank_corrcoef's (false only: a tuple is not logged)
  t_test.set("const", JsonValue::make_bool(false));
  score_props.set("t_test", t_test);
  JsonValue alternative = type_of("string");
  alternative.set("enum", strings({"two-sided", "less", "greater"}));
  score_props.set("alternative", alternative);
  score_props.set("threshold", type_of("number"));  // critical_success_index's (required there)
  score_props.set("keep_sequence_dim", type_of("null"));  // its default only: a score per step is not logged
  JsonValue reduction = type_of("string");  // cosine_similarity's ("none" keeps a value a row, not logged)
  reduction.set("enum", strings({"sum", "mean"}));
  score_props.set("reduction", reduction);
  score.set("properties", score_props);
  score.set("required", strings({"name"}));
  score.set("additionalProperties", JsonValue::make_bool(false));
  metrics.set("items", one_of({metric, score}));
  p.set("metrics", metrics);
  JsonValue log_args = JsonValue::make_object();
  log_args.set("sync_dist", type_of("boolean"));
  log_args.set("on_epoch", type_of("boolean"));
  p.set("log", object(log_args, {}));
  p.set("freeze", name_patterns_schema());
  p.set("backbone", name_patterns_schema());  // BackboneFinetuning's pl_module.backbone
  return object(p, {"inputs", "loss"});  // (no target: a loss over the predictions alone)
}

JsonValue data_schema() {
  JsonValue p = JsonValue::make_object();
  JsonValue batch = type_of("integer");
  batch.set("minimum", JsonValue::make_integer(1));
  p.set("batch_size", batch);
  p.set("shuffle", type_of("boolean"));
  p.set("drop_last", type_of("boolean"));
  p.set("num_workers", type_of("integer"));
  p.set("persistent_workers", type_of("boolean"));
  JsonValue prefetch = type_of("integer");
  prefetch.set("minimum", JsonValue::make_integer(1));
  p.set("prefetch_factor", prefetch);
  p.set("pin_memory", type_of("boolean"));
  for (const char* split : {"train", "val", "test", "predict"}) p.set(split, source_schema());
  return object(p, {"batch_size", "train"});
}

// optimizer.param_groups: [{"params": "*.bias" or ["*.bias", ...], "lr": 1e-3, "weight_decay": 0.0, "name": "no_decay"}],
// each group with any of its optimizer's arguments `args` (the optimizer's apply where it sets none).
JsonValue param_groups_schema(const std::vector<std::pair<std::string, const char*>>& args) {
  JsonValue g = JsonValue::make_object();
  g.set("params", name_patterns_schema());
  for (const auto& [arg, json_type] : args) {
    JsonValue v = type_of(json_type);
    if (arg == "lr" || arg == "weight_decay") v.set("minimum", JsonValue::make_number(0));
    g.set(arg, v);
  }
  JsonValue name = type_of("string");
  name.set("minLength", JsonValue::make_integer(1));
  g.set("name", name);
  JsonValue list = type_of("array");
  list.set("items", object(g, {"params"}));
  list.set("minItems", JsonValue::make_integer(1));
  list.set("maxItems", JsonValue::make_integer(ltrt::kMaxParamGroups));
  return list;
}

}  // namespace

std::string emit_schema() {
  JsonValue root = JsonValue::make_object();
  root.set("$schema", JsonValue::make_string("https://json-schema.org/draft/2020-12/schema"));
  root.set("title", JsonValue::make_string("ltgen training spec"));
  root.set("description", JsonValue::make_string("Generated by `ltgen --schema`; kept in step with ltgen's reader by a test."));
  JsonValue p = JsonValue::make_object();
  p.set("$schema", type_of("string"));
  JsonValue name = type_of("string");
  name.set("pattern", JsonValue::make_string("^[A-Za-z_][A-Za-z0-9_]{0,63}$"));
  p.set("name", name);
  JsonValue seed = type_of("integer");
  seed.set("minimum", JsonValue::make_integer(0));
  seed.set("maximum", JsonValue::make_integer(4294967295));
  JsonValue seed_and_workers = JsonValue::make_object();  // seed_everything(seed, workers=True)
  seed_and_workers.set("seed", seed);
  seed_and_workers.set("workers", type_of("boolean"));
  p.set("seed_everything", one_of({seed, object(seed_and_workers, {"seed"})}));
  JsonValue matmul_precision = type_of("string");
  matmul_precision.set("enum", strings({"highest", "high", "medium"}));
  p.set("float32_matmul_precision", matmul_precision);
  p.set("model", model_schema());
  p.set("data", data_schema());

  std::vector<JsonValue> optimizers;
  for (const std::string& type : optimizer_types()) {
    // Each argument's JSON type, from torch's defaults for this class (OptimizerHyper's).
    std::vector<std::pair<std::string, const char*>> args;
    for (const OptimizerArg& a : optimizer_args(type, OptimizerHyper{}))
      args.emplace_back(a.key, a.boolean             ? "boolean"
                               : a.integer           ? "integer"
                               : a.line_search       ? "line_search"
                               : a.values.size() > 1 ? "array"
                                                     : "number");
    JsonValue q = JsonValue::make_object();
    JsonValue t = JsonValue::make_object();
    t.set("const", JsonValue::make_string(type));
    q.set("type", t);
    for (const auto& [arg, json_type] : args) {
      if (std::string(json_type) == "line_search") {  // LBFGS's line_search_fn: None or "strong_wolfe"
        JsonValue choice = JsonValue::make_object();
        JsonValue values = JsonValue::make_array();
        values.push(JsonValue::make_string("strong_wolfe"));
        values.push(JsonValue());
        choice.set("enum", values);
        q.set(arg, choice);
      } else if (arg == "max_eval") {  // None: max_iter * 5 // 4
        JsonValue either = JsonValue::make_object();
        JsonValue types = JsonValue::make_array();
        types.push(JsonValue::make_string("integer"));
        types.push(JsonValue::make_string("null"));
        either.set("type", types);
        q.set(arg, either);
      } else {
        q.set(arg, type_of(json_type));
      }
    }
    if (type != "LBFGS") q.set("param_groups", param_groups_schema(args));  // torch's LBFGS takes one group
    optimizers.push_back(object(q, {"type"}));
  }
  p.set("optimizer", one_of(optimizers));

  std::vector<JsonValue> schedulers;
  for (const auto& [type, args] : ltrt::scheduler_arguments()) {
    JsonValue q = JsonValue::make_object();
    JsonValue t = JsonValue::make_object();
    t.set("const", JsonValue::make_string(type));
    q.set("type", t);
    std::vector<std::string> required = {"type"};
    for (const auto& a : args) {
      q.set(a.name, JsonValue::make_object());  // ints, floats or lists, as torch takes them
      if (a.required) required.push_back(a.name);
    }
    JsonValue interval = type_of("string");
    interval.set("enum", strings({"epoch", "step"}));
    q.set("interval", interval);
    q.set("frequency", type_of("integer"));
    q.set("monitor", type_of("string"));
    q.set("strict", type_of("boolean"));
    q.set("name", type_of("string"));
    schedulers.push_back(object(q, required));
  }
  p.set("lr_scheduler", one_of(schedulers));

  // The trainer's keys: everything --print_config resolves, plus what other readers take.
  JsonValue trainer = JsonValue::make_object();
  const ltrt::TrainerConfig defaults;
  for (const auto& [key, v] : ltrt::trainer_config_json(defaults).members) {
    (void)v;
    trainer.set(key, JsonValue::make_object());  // Lightning takes int/float/bool/null/string forms
  }
  for (const char* k : {"devices", "max_time", "callbacks"}) trainer.set(k, JsonValue::make_object());
  p.set("trainer", object(trainer, {}));
  JsonValue hooks = type_of("string");
  hooks.set("description", JsonValue::make_string("A C++ file of Lightning hook functions (ltrt/hooks.hpp), relative to the spec"));
  hooks.set("pattern", JsonValue::make_string("\\.(cpp|cc|cxx)$"));
  p.set("hooks", hooks);
  root.set("type", JsonValue::make_string("object"));
  root.set("properties", p);
  root.set("required", strings({"name", "model", "data", "optimizer"}));
  root.set("additionalProperties", JsonValue::make_bool(false));
  return ltrt::json::write(root, 2) + "\n";
}

}  // namespace ltgen
