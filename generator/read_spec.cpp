/// \file
/// Reads a spec file and checks every field against torch.nn, torch.optim and
/// Lightning's Trainer; unknown keys are errors with the nearest valid name.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <ltrt/backbone_finetuning.hpp>
#include <ltrt/callbacks.hpp>
#include <ltrt/config_reader.hpp>
#include <ltrt/device_stats_monitor.hpp>
#include <ltrt/fs.hpp>
#include <ltrt/lr_monitor.hpp>
#include <ltrt/metric_info.hpp>
#include <ltrt/optimizer.hpp>
#include <ltrt/python_repr.hpp>
#include <ltrt/sample_transforms.hpp>
#include <ltrt/trainer_config.hpp>
#include <ltrt/stochastic_weight_averaging.hpp>
#include <ltrt/timer.hpp>
#include <ltrt/weight_averaging.hpp>

#include "check_causal.hpp"
#include "diagnostics.hpp"
#include "op.hpp"
#include "read_transforms.hpp"
#include "spec.hpp"

namespace ltgen {

using ltrt::json::Kind;
using JsonValue = ltrt::json::Value;

namespace {

// "a", "b" or "c": the choices a message offers.
std::string quoted_choices(const std::vector<std::string>& choices) {
  std::string text;
  for (size_t i = 0; i < choices.size(); ++i)
    text += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + ("\"" + choices[i] + "\"");
  return text;
}

const std::set<std::string> kCppKeywords = {
    "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break",
    "case", "catch", "char", "char16_t", "char32_t", "class", "compl", "const", "constexpr",
    "const_cast", "continue", "decltype", "default", "delete", "do", "double", "dynamic_cast",
    "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
    "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
    "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register",
    "reinterpret_cast", "return", "short", "signed", "sizeof", "static", "static_assert",
    "static_cast", "struct", "switch", "template", "this", "thread_local", "throw", "true", "try",
    "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile",
    "wchar_t", "while", "main", "std", "ltrt"};

std::string fnv1a_hex(const std::string& text) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

[[noreturn]] void fail_at(const JsonValue& v, const std::string& path, const std::string& message) {
  throw ltrt::ConfigError(path, v.pos, message);
}

bool is_identifier(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// Data paths are relative to the spec's folder; they are joined lexically so
// that generated code does not depend on where the checkout lives.
std::string relative_to_spec(const std::string& spec_path, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  const auto slash = spec_path.find_last_of('/');
  if (slash == std::string::npos) return p;
  return spec_path.substr(0, slash + 1) + p;
}

// A path that is safe to embed in generated code and portable across shells.
void check_path(const ltrt::ConfigObject& o, const std::string& key, const std::string& p) {
  for (unsigned char c : p)
    if (c < 0x20 || c == 0x7f) o.fail(key, "path contains a control character");
}

// The generated programs size and index with 32-bit ints: every integer a spec gives a layer or a
// shape stays within them, refused at its own place (a larger one would wrap in the shape
// arithmetic, or in the program's constants).
constexpr std::int64_t kIntMax = 2147483647;
void check_int_range(const JsonValue& item, const std::string& at, std::int64_t x) {
  if (x > kIntMax || x < -kIntMax)
    fail_at(item, at, "must be between -2147483647 and 2147483647: the generated program's sizes are 32-bit ints");
}

// `scalar_ok`: [] is a shape too, one number per sample (a batch of them is torch's (N,)).
Shape read_shape(const JsonValue& v, const std::string& path, bool scalar_ok = false) {
  if (v.kind != Kind::array || (v.items.empty() && !scalar_ok))
    fail_at(v, path, std::string("expected a shape: a ") + (scalar_ok ? "" : "non-empty ") +
                         "array of positive integers such as [10]");
  Shape s;
  for (size_t i = 0; i < v.items.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    s.push_back(ltrt::read_integer(v.items[i], at, 1));
    check_int_range(v.items[i], at, s.back());
  }
  return s;
}

// An int, a list of a.tuple_size ints, or (with choices) one of those strings.
Attr read_integer_tuple(ltrt::ConfigObject& o, const ArgDef& a, const JsonValue& v, const std::string& path) {
  const std::int64_t lo = a.min ? static_cast<std::int64_t>(*a.min) : INT64_MIN;
  auto check_max = [&](const JsonValue& item, const std::string& at, std::int64_t x) {
    if (a.max && x > *a.max)
      fail_at(item, at, "must be at most " + std::to_string(static_cast<std::int64_t>(*a.max)));
    check_int_range(item, at, x);
  };
  if (v.kind == Kind::string && !a.choices.empty()) return o.string(a.name, "", a.choices);
  if (v.kind == Kind::number) {
    const std::int64_t x = ltrt::read_integer(v, path, lo);
    check_max(v, path, x);
    return x;
  }
  const std::string n = a.tuple_size > 0 ? std::to_string(a.tuple_size) : "one or more";
  std::string expected = "expected an integer or a list of " + n + " integers";
  for (size_t i = 0; i < a.choices.size(); ++i) expected += (i ? ", '" : ", or '") + a.choices[i] + "'";
  if (v.kind != Kind::array) fail_at(v, path, expected + ", got " + ltrt::describe(v));
  if (a.tuple_size > 0 ? static_cast<int>(v.items.size()) != a.tuple_size : v.items.empty())
    fail_at(v, path, expected + ", got a list of " + std::to_string(v.items.size()));
  std::vector<std::int64_t> xs;
  for (size_t i = 0; i < v.items.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    xs.push_back(ltrt::read_integer(v.items[i], at, lo));
    check_max(v.items[i], at, xs.back());
  }
  return xs;
}

// A finite number, or a list of a.tuple_size of them (any length when 0); each > 0 with `positive`.
Attr read_number_tuple(const ArgDef& a, const JsonValue& v, const std::string& path) {
  const auto number = [&](const JsonValue& item, const std::string& at) {
    if (item.kind != Kind::number || !std::isfinite(item.num)) fail_at(item, at, "expected a finite number");
    if (!a.positive.empty() && !(item.num > 0)) fail_at(item, at, a.positive);
    return item.num;
  };
  if (v.kind == Kind::number) return number(v, path);
  const std::string n = a.tuple_size > 0 ? std::to_string(a.tuple_size) : "one or more";
  if (v.kind != Kind::array || (a.tuple_size > 0 ? static_cast<int>(v.items.size()) != a.tuple_size : v.items.empty()))
    fail_at(v, path, "expected a number or a list of " + n + " numbers, got " + ltrt::describe(v));
  std::vector<double> xs;
  for (size_t i = 0; i < v.items.size(); ++i) xs.push_back(number(v.items[i], path + "[" + std::to_string(i) + "]"));
  return xs;
}

Attrs read_layer_args(ltrt::ConfigObject& o, const LayerDef& def) {
  Attrs out;
  for (const ArgDef& a : def.args) {
    const JsonValue* v = o.get(a.name);
    const std::string path = o.path_of(a.name);
    if (v && v->kind == Kind::null && a.nullable) continue;  // None: absent from the args
    // torch reads None for an argument whose default is a value as no value at all (bias=None is no
    // bias, eps=None fails), not as the default that leaving the key out gives.
    if (v && v->kind == Kind::null && a.default_value)
      fail_at(*v, path, "null (Python's None) is not " + def.torch_type + "'s default for '" + a.name +
                            "', which leaving the key out gives; torch reads None as no value here: leave the "
                            "key out, or give a value");
    if (!v || v->kind == Kind::null) {
      if (a.default_value) out[a.name] = *a.default_value;
      else if (!a.inferred && !a.optional) o.fail_here("missing required argument '" + a.name + "' of " + def.torch_type);
      continue;
    }
    switch (a.type) {
      case ArgType::integer: {
        const std::int64_t x = ltrt::read_integer(*v, path, a.min ? static_cast<std::int64_t>(*a.min) : INT64_MIN);
        if (a.max && x > *a.max) fail_at(*v, path, "must be at most " + std::to_string(static_cast<std::int64_t>(*a.max)));
        check_int_range(*v, path, x);
        out[a.name] = x;
        break;
      }
      case ArgType::number: {
        const double lo = a.min ? *a.min : -HUGE_VAL, hi = a.max ? *a.max : HUGE_VAL;
        const double x = o.number(a.name, 0, lo, hi);
        if (!a.positive.empty() && !(x > 0)) fail_at(*v, path, a.positive);
        out[a.name] = x;
        break;
      }
      case ArgType::boolean: out[a.name] = o.boolean(a.name, false); break;
      case ArgType::string: out[a.name] = o.string(a.name, "", a.choices); break;
      case ArgType::integer_tuple: out[a.name] = read_integer_tuple(o, a, *v, path); break;
      case ArgType::number_tuple: out[a.name] = read_number_tuple(a, *v, path); break;
      case ArgType::module: {  // the module's own arguments, read as that layer's, under the argument's name
        const LayerDef* nested = find_layer(a.module_type);
        if (v->kind != Kind::object)
          fail_at(*v, path, "expected an object of " + a.module_type + "'s arguments, e.g. {\"type\": \"" +
                                a.module_type + "\", ...}" + (a.nullable ? ", or null (None)" : ""));
        ltrt::ConfigObject sub(*v, path);
        if (const JsonValue* t = sub.get("type"); t && !(t->kind == Kind::string && t->str == a.module_type))
          fail_at(*t, path + ".type", "must be \"" + a.module_type + "\" (or left out): ltgen supports no other here");
        for (const ArgDef& b : nested->args) {
          const JsonValue* given = sub.get(b.name);
          if (given && b.type == ArgType::value)  // a forward argument: the outer layer's forward takes it
            fail_at(*given, path + "." + b.name, b.name + " is " + a.module_type + ".forward's argument, not its "
                                                 "constructor's: give the mask to " + def.torch_type + " itself");
        }
        sub.finish();
        out[a.name] = a.module_type;
        for (auto& [key, x] : read_layer_args(sub, *nested)) out[a.name + "." + key] = std::move(x);
        break;
      }
      case ArgType::value:  // a model input's name; the graph's reading checks it names one
        if (v->kind != Kind::string || !is_identifier(v->str))
          fail_at(*v, path, "expected the name of one of model.inputs (forward's " + a.name + " argument)");
        out[a.name] = v->str;
        break;
      case ArgType::number_list: {  // finite numbers (a loss's class weights); the layer checks the length
        if (v->kind != Kind::array || v->items.empty())
          fail_at(*v, path, "expected a non-empty list of numbers, e.g. [1.0, 2.5]");
        std::vector<double> xs;
        for (size_t i = 0; i < v->items.size(); ++i) {
          const JsonValue& item = v->items[i];
          const std::string at = path + "[" + std::to_string(i) + "]";
          if (item.kind != Kind::number || !std::isfinite(item.num))
            fail_at(item, at, "expected a finite number");
          const double lo = a.min ? *a.min : -HUGE_VAL;
          if (item.num < lo) fail_at(item, at, "must be at least " + ltrt::python_repr(lo));
          xs.push_back(item.num);
        }
        out[a.name] = std::move(xs);
        break;
      }
    }
    // An unsupported argument without a default (None in torch) works only when left out.
    if (!a.unsupported.empty() && (!a.default_value || out[a.name] != *a.default_value))
      fail_at(*v, path, a.unsupported + " is not supported yet (see README, 'Not supported yet')");
  }
  return out;
}

std::vector<std::string> layer_names(bool losses) {
  std::vector<std::string> names;
  for (const LayerDef* l : layer_defs())
    if (l->is_loss == losses) names.push_back(l->torch_type);
  return names;
}

// The model inputs a graph node's ArgType::value arguments name, in its arguments' order.
std::vector<std::string> value_args(const LayerSpec& node) {
  std::vector<std::string> names;
  for (const ArgDef& a : find_layer(node.type)->args)
    if (a.type == ArgType::value && node.args.count(a.name)) names.push_back(std::get<std::string>(node.args.at(a.name)));
  return names;
}

// The first of the node's ArgType::value arguments that names `value`.
std::string value_arg_naming(const LayerSpec& node, const std::string& value) {
  for (const ArgDef& a : find_layer(node.type)->args)
    if (a.type == ArgType::value && node.args.count(a.name) && std::get<std::string>(node.args.at(a.name)) == value)
      return a.name;
  return "";
}

// model.graph's nodes may give `"module": "<earlier node>"` (`earlier`: the nodes read so far): that
// node's module applied again, to this node's inputs, with its parameters.
LayerSpec read_layer(const JsonValue& v, const std::string& path, bool loss, bool graph_node = false,
                     const std::vector<LayerSpec>* earlier = nullptr) {
  ltrt::ConfigObject o(v, path);
  LayerSpec l;
  if (graph_node) {
    // A named node: {"name": ..., "type": ..., "input": "x"} or "inputs": [...].
    const JsonValue& name = o.require("name");
    if (name.kind != Kind::string || !is_identifier(name.str))
      fail_at(name, path + ".name", "must be an identifier: it names the module and its parameters");
    // Also an attribute of the LightningModule that --emit lightning writes.
    static const std::set<std::string> reserved = {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
        "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "self", "loss",
        "layers", "forward", "training", "parameters", "buffers", "modules", "children", "state_dict", "train",
        "eval", "to", "cpu", "cuda", "float", "double", "half", "apply", "zero_grad", "log", "device", "dtype",
        "trainer", "optimizers", "hparams", "current_epoch", "global_step", "logger", "torch", "nn", "np", "pl"};
    if (reserved.count(name.str) || kCppKeywords.count(name.str))
      fail_at(name, path + ".name", "'" + name.str + "' is a reserved word (Python, C++ or a LightningModule attribute): choose another node name");
    l.name = name.str;
    const JsonValue* in = o.get("input");
    const JsonValue* ins = o.get("inputs");
    if ((in != nullptr) == (ins != nullptr)) o.fail_here("give exactly one of 'input' (a name) or 'inputs' (a list of names)");
    if (in) {
      if (in->kind != Kind::string) fail_at(*in, path + ".input", "expected the name of an input or an earlier node");
      l.inputs.push_back(in->str);
    } else {
      if (ins->kind != Kind::array || ins->items.empty()) fail_at(*ins, path + ".inputs", "expected a list of names");
      for (size_t i = 0; i < ins->items.size(); ++i) {
        if (ins->items[i].kind != Kind::string)
          fail_at(ins->items[i], path + ".inputs[" + std::to_string(i) + "]", "expected the name of an input or an earlier node");
        l.inputs.push_back(ins->items[i].str);
      }
    }
  }
  // A graph node's count of inputs, which its layer fixes.
  auto check_inputs = [&](const LayerDef* def, const std::string& type) {
    const int given = static_cast<int>(l.inputs.size());
    if (def->num_inputs > 0 && def->max_inputs > def->num_inputs && (given < def->num_inputs || given > def->max_inputs))
      o.fail_here(type + " takes " + std::to_string(def->num_inputs) +
                  (def->max_inputs == def->num_inputs + 1 ? " or " : " to ") + std::to_string(def->max_inputs) +
                  " inputs, got " + std::to_string(given));
    if (def->num_inputs > 0 && def->max_inputs <= def->num_inputs && given != def->num_inputs)
      o.fail_here(type + " takes " + std::to_string(def->num_inputs) + " input(s), got " + std::to_string(given));
    if (def->num_inputs < 0 && given < 2) o.fail_here(type + " takes two or more inputs");
  };
  if (const JsonValue* module = graph_node && earlier ? o.get("module") : nullptr) {
    // torch's `self.<module>(x)` once more: the same parameters, so its type and arguments are the module's.
    std::vector<std::string> names;
    for (const LayerSpec& e : *earlier) names.push_back(e.name);
    const auto owner = module->kind != Kind::string ? earlier->end()
                       : std::find_if(earlier->begin(), earlier->end(), [&](const LayerSpec& e) { return e.name == module->str; });
    if (owner == earlier->end())
      fail_at(*module, path + ".module", "must name an earlier node of model.graph, whose module this node applies again" +
                                             (module->kind == Kind::string ? did_you_mean(module->str, names) : std::string()));
    if (owner->type == "Add" || owner->type == "Mul" || owner->type == "Concat")
      fail_at(*module, path + ".module", "'" + owner->name + "' is an " + owner->type +
                                             ", which has no module to apply again: give this node \"type\": \"" +
                                             owner->type + "\"");
    for (const auto& [key, value] : v.members)
      if (key != "name" && key != "input" && key != "inputs" && key != "module")
        fail_at(value, path + "." + key, "this node applies module '" + owner->name + "' again, with its type and arguments: "
                                         "remove '" + key + "'");
    check_inputs(find_layer(owner->type), owner->type);
    l.type = owner->type;
    l.args = owner->args;
    l.module = owner->module.empty() ? owner->name : owner->module;
    l.source = path;
    l.pos = v.pos;
    return l;
  }
  if (const JsonValue* module = graph_node ? nullptr : v.find("module"))
    fail_at(*module, path + ".module", "applying an earlier module again is for model.graph's nodes, which have names: "
                                       "use model.graph");
  const JsonValue& type = o.require("type");
  if (type.kind != Kind::string) fail_at(type, path + ".type", "expected a torch.nn class name");
  const LayerDef* def = find_layer(type.str);
  if (!def || def->is_loss != loss) {
    const std::string what = loss ? "loss" : "layer";
    std::string hint = did_you_mean(type.str, layer_names(loss));
    if (def) hint = loss ? "; " + type.str + " is a layer, not a loss" : "; " + type.str + " is a loss: put it in model.loss";
    fail_at(type, path + ".type", "unknown " + what + " type '" + type.str + "'" + hint);
  }
  if (!graph_node && !loss && def->num_inputs != 1)
    fail_at(type, path + ".type", type.str + " combines several values: use model.graph, whose nodes name their inputs");
  if (graph_node) check_inputs(def, type.str);
  // A misspelt argument is reported as such, before any "missing argument".
  for (const ArgDef& a : def->args) o.get(a.name);
  o.finish();
  l.type = type.str;
  l.source = path;
  l.pos = v.pos;
  l.args = read_layer_args(o, *def);
  for (const ArgDef& a : def->args)
    if (a.type == ArgType::value && l.args.count(a.name) && !graph_node)
      fail_at(*v.find(a.name), path + "." + a.name,
              a.name + " names one of model.inputs: use model.graph, whose nodes read several values");
  return l;
}

const std::string kNoTargets = "the model takes no targets (model.target is left out, as its loss compares predictions only)";

// One split's source. Predict data needs no targets.
DataSourceSpec read_source(const JsonValue& v, const std::string& path, const Spec& spec, bool targets) {
  const bool with_y = targets && !spec.target.none;  // the source's targets: a file, labels or a column
  DataSourceSpec s;
  ltrt::ConfigObject o(v, path);
  s.source = o.string("source", "", {"randn", "npy", "csv", "idx", "text", "prompt"});
  if (s.source.empty()) o.fail_here("missing required key 'source' ('randn', 'npy', 'csv', 'idx', 'text' or 'prompt')");
  if (s.source == "prompt") {
    // Text generation: predict only, with the vocabulary of a character model's training corpus.
    if (targets) o.fail("source", "source 'prompt' generates text with predict: use it in data.predict only");
    if (spec.train.source != "text")
      o.fail("source", "source 'prompt' needs a character model: data.train's source must be 'text' (its corpus "
                       "gives the vocabulary)");
    const JsonValue* prompt = o.get("prompt");
    if (!prompt) o.fail_here("source 'prompt' needs 'prompt' (the text generation starts from, such as \"The \")");
    if (!prompt->is_string() || prompt->str.empty())
      fail_at(*prompt, o.path_of("prompt"), "expected a non-empty string");
    s.prompt = prompt->str;
    s.max_new_tokens = o.integer("max_new_tokens", 200, 1);
    if (s.max_new_tokens > 1000000) o.fail("max_new_tokens", "must be at most 1000000");
    s.temperature = o.number("temperature", 1.0, 0.0, HUGE_VAL);
    if (!(s.temperature > 0)) o.fail("temperature", "must be positive (logits are divided by it)");
    s.top_k = o.integer("top_k", 0, 1);
    o.finish();
    return s;
  }
  if (spec.inputs.size() > 1 && s.source != "npy" && s.source != "randn" && s.source != "csv")
    o.fail("source", "source '" + s.source + "' gives one input, but model.inputs has " +
                         std::to_string(spec.inputs.size()) + ": use source 'npy' (a file per input), 'csv' (the "
                         "feature columns fill the inputs in order) or 'randn'");
  for (const InputSpec& in : spec.inputs) {
    if (in.dtype == DType::i64 && s.source != "npy" && s.source != "text" && s.source != "csv")
      o.fail("source", "model.inputs." + in.name + " is int64 (indices): source '" + s.source +
                           "' makes float data; use source 'npy' with an int64 x file, or 'csv' with integer columns");
    if (in.dtype == DType::u8 && s.source != "npy")
      o.fail("source", "model.inputs." + in.name + " is bool (a mask): source '" + s.source +
                           "' makes float data; use source 'npy' with a bool file for it");
  }
  if (s.source == "text") {
    // A character-level corpus: windows of block_size bytes, the next byte of each as its target.
    s.path = o.string("path", "");
    if (s.path.empty()) o.fail_here("source 'text' needs 'path' (a text file, plain or .gz, relative to the spec)");
    check_path(o, "path", s.path);
    s.path = relative_to_spec(spec.path, s.path);
    const InputSpec& in = spec.inputs.at(0);
    if (in.dtype != DType::i64 || in.shape.size() != 1)
      o.fail("source", "source 'text' makes token windows: declare model.inputs." + in.name +
                           " as {\"shape\": [block_size], \"dtype\": \"int64\"}");
    const std::int64_t block = o.integer("block_size", in.shape[0], 1);
    if (block != in.shape[0])
      o.fail("block_size", "is " + std::to_string(block) + " but model.inputs." + in.name + " has shape [" +
                               std::to_string(in.shape[0]) + "]: they must agree");
    // nanoGPT's split of one corpus: bytes [int(n * begin), int(n * end)).
    if (const JsonValue* r = o.get("range")) {
      const std::string at = o.path_of("range");
      if (!r->is_array() || r->items.size() != 2 || !r->items[0].is_number() || !r->items[1].is_number())
        fail_at(*r, at, "expected [begin, end]: fractions of the corpus's bytes, such as [0.0, 0.9]");
      s.range_begin = r->items[0].num;
      s.range_end = r->items[1].num;
      if (!(s.range_begin >= 0 && s.range_begin < s.range_end && s.range_end <= 1))
        fail_at(*r, at, "needs 0 <= begin < end <= 1, such as [0.9, 1.0]");
    }
    if (targets && (spec.target.dtype != DType::i64 || spec.target.shape != in.shape))
      o.fail("source", "source 'text' predicts the next byte at each position: model.target must be "
                       "{\"dtype\": \"int64\", \"num_classes\": V, \"shape\": [" + std::to_string(block) + "]}");
  } else if (s.source == "randn") {
    s.num_samples = o.integer("num_samples", 0, 1);
    if (s.num_samples == 0) o.fail_here("missing required key 'num_samples' for source 'randn'");
    // The first input's samples as drawn, of another height and width than the model's, which the
    // transforms crop to it.
    if (const JsonValue* shape = o.get("shape")) {
      const Shape& model = spec.inputs.at(0).shape;
      const std::string at = o.path_of("shape");
      s.sample_shape = read_shape(*shape, at);
      if (s.sample_shape.size() != model.size())
        fail_at(*shape, at,
                "expected the first input's per-sample shape as drawn, " + std::to_string(model.size()) +
                    " sizes as model.inputs." + spec.inputs[0].name + "'s " + shape_str(model));
      for (size_t k = 0; k + 2 < model.size(); ++k)
        if (s.sample_shape[k] != model[k])
          fail_at(shape->items[k], at + "[" + std::to_string(k) + "]",
                  "must be model.inputs." + spec.inputs[0].name + "'s " + std::to_string(model[k]) +
                      ": transforms change the last two dimensions only");
      if (numel(s.sample_shape) > kIntMax)  // numel saturates
        fail_at(*shape, at, "has more than 2147483647 elements: the generated program indexes a sample with an int");
    }
  } else if (s.source == "npy") {
    const JsonValue* x = o.get("x");
    const bool by_input = x && x->kind == Kind::object;
    if (by_input) {
      // A file per model input, by the input's name.
      ltrt::ConfigObject files(*x, o.path_of("x"));
      for (size_t k = 0; k < spec.inputs.size(); ++k) {
        const std::string& name = spec.inputs[k].name;
        const JsonValue* given = files.get(name);
        if (!given) files.fail_here("no file for model.inputs." + name + ": give \"" + name + "\": PATH.npy");
        const JsonValue& file = *given;
        if (!file.is_string() || file.str.empty())
          fail_at(file, files.path_of(name), "expected the path of model.inputs." + name + "'s .npy file");
        check_path(files, name, file.str);
        (k == 0 ? s.x : s.other_x.emplace_back()) = relative_to_spec(spec.path, file.str);
      }
      files.finish();
    } else {
      if (spec.inputs.size() > 1 && x)
        o.fail("x", "the model has " + std::to_string(spec.inputs.size()) + " inputs: give a file for each, "
                    "{\"" + spec.inputs[0].name + "\": \"" + spec.inputs[0].name + ".npy\", \"" + spec.inputs[1].name +
                    "\": \"" + spec.inputs[1].name + ".npy\"" + (spec.inputs.size() > 2 ? ", ..." : "") + "}");
      s.x = o.string("x", "");
    }
    s.y = o.string("y", "");
    if (spec.target.none && !s.y.empty()) o.fail("y", kNoTargets + ": remove 'y'");
    if (s.x.empty() || (with_y && s.y.empty()))
      o.fail_here(with_y ? "source 'npy' needs 'x' and 'y' (paths of .npy files, relative to the spec)"
                          : "source 'npy' needs 'x' (a path of a .npy file, relative to the spec)");
    if (!by_input) {
      check_path(o, "x", s.x);
      s.x = relative_to_spec(spec.path, s.x);
    }
    check_path(o, "y", s.y);
    if (!s.y.empty()) s.y = relative_to_spec(spec.path, s.y);
  } else if (s.source == "idx") {
    // MNIST's IDX files: images uint8 [N, rows, cols] as float32 byte / scale, labels uint8 [N] as classes.
    s.images = o.string("images", "");
    s.labels = o.string("labels", "");
    if (spec.target.none && !s.labels.empty()) o.fail("labels", kNoTargets + ": remove 'labels'");
    if (s.images.empty() || (with_y && s.labels.empty()))
      o.fail_here(with_y ? "source 'idx' needs 'images' and 'labels' (IDX files such as "
                            "train-images-idx3-ubyte and train-labels-idx1-ubyte, plain or .gz, relative to the spec)"
                          : "source 'idx' needs 'images' (an IDX file, relative to the spec)");
    check_path(o, "images", s.images);
    check_path(o, "labels", s.labels);
    s.images = relative_to_spec(spec.path, s.images);
    if (!s.labels.empty()) s.labels = relative_to_spec(spec.path, s.labels);
    s.scale = o.number("scale", 255.0, 0.0, 1e300);
    if (!(s.scale > 0)) o.fail("scale", "must be positive (pixels are byte / scale)");
    if (with_y && spec.target.dtype != DType::i64)
      o.fail("labels", "idx labels are class indices: model.target must be {\"dtype\": \"int64\", \"num_classes\": K}");
    if (with_y && !spec.target.shape.empty())
      o.fail("labels", "idx labels are one class per sample: leave out model.target.shape");
  } else {
    s.path = o.string("path", "");
    if (s.path.empty()) o.fail_here("source 'csv' needs 'path' (a .csv file, relative to the spec)");
    check_path(o, "path", s.path);
    s.path = relative_to_spec(spec.path, s.path);
    s.target_column = o.string("target_column", "");
    if (spec.target.none && !s.target_column.empty()) o.fail("target_column", kNoTargets + ": remove 'target_column'");
    if (with_y && s.target_column.empty())
      o.fail_here("source 'csv' needs 'target_column' (the header name of the target)");
    check_path(o, "target_column", s.target_column);
    s.header = o.boolean("header", true);
    if (!s.header) o.fail("header", "a csv source needs a header row to name its target column");
  }
  if (s.source != "randn" && o.get("shape"))
    o.fail("shape", "is a randn source's (the shape it draws in): the " + s.source +
                        " source's samples have the shape of its data");
  // torchvision's transforms of each sample's input; only the training data's may draw.
  if (const JsonValue* t = o.get("transforms"))
    s.transforms = read_transforms(*t, o.path_of("transforms"), spec.inputs.at(0), path.substr(path.find('.') + 1),
                                   s.source == "npy" || s.source == "idx" ? nullptr  // the file's samples
                                   : s.sample_shape.empty()               ? &spec.inputs.at(0).shape
                                                                          : &s.sample_shape);
  // randn's samples of another shape: the transforms must crop them to the model input's.
  if (!s.sample_shape.empty() && s.sample_shape != spec.inputs.at(0).shape &&
      std::none_of(s.transforms.begin(), s.transforms.end(), [](const TransformSpec& t) { return t.sizes(); }))
    o.fail("shape", "draws samples of " + shape_str(s.sample_shape) + ", but model.inputs." + spec.inputs[0].name +
                        " is " + shape_str(spec.inputs[0].shape) +
                        " and no transform crops or resizes them: draw that shape, or crop them in 'transforms'");
  o.finish();
  return s;
}

// A parameter name or glob pattern, or a list of them (optimizer.param_groups[i].params, model.freeze).
NamePatterns read_name_patterns(const JsonValue& v, const std::string& path, const std::string& example) {
  std::vector<const JsonValue*> items;
  if (v.kind == Kind::string) items.push_back(&v);
  if (v.kind == Kind::array)
    for (const JsonValue& p : v.items) items.push_back(&p);
  if (items.empty()) fail_at(v, path, "expected parameter names or glob patterns, e.g. " + example);
  NamePatterns out;
  for (size_t k = 0; k < items.size(); ++k) {
    const JsonValue& p = *items[k];
    const std::string at = path + (v.kind == Kind::array ? "[" + std::to_string(k) + "]" : "");
    if (p.kind != Kind::string || p.str.empty())
      fail_at(p, at, "expected a parameter name or a glob pattern: a non-empty string, e.g. " + example);
    out.patterns.push_back(p.str);
    out.pos.push_back(p.pos);
    out.paths.push_back(at);
  }
  return out;
}

void read_model(ltrt::ConfigObject& top, Spec& spec) {
  ltrt::ConfigObject m(top.require("model"), "model");
  {
    ltrt::ConfigObject in(m.require("inputs"), "model.inputs");
    const JsonValue& v = in.value();
    if (v.kind != Kind::object || v.members.empty())
      in.fail_here("expected the inputs by name with their per-sample shapes, e.g. {\"x\": [10]}");
    for (const auto& [name, shape] : v.members) {
      in.get(name);
      const std::string path = "model.inputs." + name;
      if (!is_identifier(name)) fail_at(shape, path, "input name must be an identifier");
      InputSpec s;
      s.name = name;
      s.pos = shape.pos;
      if (shape.kind == Kind::object) {
        ltrt::ConfigObject o(shape, path);
        const JsonValue& sh = o.require("shape");
        s.shape = read_shape(sh, path + ".shape");
        const std::string dtype = o.string("dtype", "float32", {"float32", "int64", "bool"});
        if (dtype == "int64") s.dtype = DType::i64;  // indices, for an Embedding
        if (dtype == "bool") {  // a padding mask (key_padding_mask), read from npy as bytes 0 and 1
          s.dtype = DType::u8;
          if (spec.inputs.empty())
            o.fail("dtype", "the first of model.inputs is the model's data: a bool mask comes after it (forward(x, mask))");
        }
        o.finish();
      } else {
        s.shape = read_shape(shape, path);
      }
      if (numel(s.shape) > kIntMax)  // numel saturates
        fail_at(shape, path, "a sample of " + shape_str(s.shape) + " has more than 2147483647 elements: the generated "
                                                                   "program's sizes are 32-bit ints");
      spec.inputs.push_back(s);
    }
    in.finish();
  }
  if (!m.get("target")) {
    spec.target.none = true;  // a loss without targets (TripletMarginLoss): checked once the loss is read
  } else {
    ltrt::ConfigObject t(*m.get("target"), "model.target");
    const std::string dtype = t.string("dtype", "float32", {"float32", "int64"});
    if (dtype == "int64") {
      spec.target.dtype = DType::i64;
      spec.target.num_classes = t.integer("num_classes", 0, 2);
      if (spec.target.num_classes == 0) t.fail_here("int64 targets need 'num_classes'");
      // A sequence of labels per sample (a language model's next tokens): logits (batch, *shape, num_classes).
      if (const JsonValue* s = t.get("shape")) spec.target.shape = read_shape(*s, "model.target.shape");
    } else {
      const JsonValue* s = t.get("shape");
      if (!s) t.fail_here("missing required key 'shape' (per-sample target shape, e.g. [1])");
      spec.target.shape = read_shape(*s, "model.target.shape", true);  // []: a number per sample, (N,)
      if (t.get("num_classes")) t.fail("num_classes", "num_classes needs \"dtype\": \"int64\"");
    }
    t.finish();
  }
  const JsonValue* layers = m.get("layers");
  const JsonValue* graph = m.get("graph");
  if ((layers != nullptr) == (graph != nullptr))
    m.fail_here("give exactly one of 'layers' (a sequence) or 'graph' (named nodes, with 'output')");
  spec.layers_pos = (layers ? layers : graph)->pos;
  if (layers) {
    if (layers->kind != Kind::array || layers->items.empty())
      fail_at(*layers, "model.layers", "expected a non-empty array of layers");
    if (spec.inputs.size() > 1)
      fail_at(*layers, "model.layers", "a sequence of layers reads one input, but model.inputs has " +
                                           std::to_string(spec.inputs.size()) +
                                           ": use model.graph, whose nodes name the inputs they read");
    for (size_t i = 0; i < layers->items.size(); ++i)
      spec.layers.push_back(read_layer(layers->items[i], "model.layers[" + std::to_string(i) + "]", false));
    if (m.get("output")) m.fail("output", "'output' names a node of model.graph; model.layers ends in its last layer");
  } else {
    if (graph->kind != Kind::array || graph->items.empty())
      fail_at(*graph, "model.graph", "expected a non-empty array of nodes");
    spec.graph = true;
    std::vector<std::string> known;
    for (const auto& in : spec.inputs) known.push_back(in.name);
    for (size_t i = 0; i < graph->items.size(); ++i) {
      const std::string path = "model.graph[" + std::to_string(i) + "]";
      LayerSpec node = read_layer(graph->items[i], path, false, true, &spec.layers);
      if (std::find(known.begin(), known.end(), node.name) != known.end())
        fail_at(graph->items[i], path + ".name", "'" + node.name + "' is already the name of an input or an earlier node");
      for (const std::string& in : node.inputs)
        if (std::find(known.begin(), known.end(), in) == known.end())
          fail_at(graph->items[i], path, "'" + in + "' is not an input or an earlier node" + did_you_mean(in, known));
      for (const std::string& in : value_args(node)) {  // masks: data, a model input each
        bool input = false;
        for (const InputSpec& s : spec.inputs) input = input || s.name == in;
        if (!input) {
          std::vector<std::string> names;
          for (const InputSpec& s : spec.inputs) names.push_back(s.name);
          const std::string arg = value_arg_naming(node, in);
          fail_at(*graph->items[i].find(arg), path + "." + arg,
                  "'" + in + "' is not one of model.inputs: " + arg + " is data (a bool, or float32, tensor per sample)" +
                      did_you_mean(in, names));
        }
      }
      known.push_back(node.name);
      // A recurrent layer's h_n and c_n: "<node>.h_n", which --emit lightning names <node>_h_n.
      for (const std::string& extra : find_layer(node.type)->extra_outputs) {
        const std::string python = node.name + "_" + extra;
        if (std::find(known.begin(), known.end(), python) != known.end())
          fail_at(graph->items[i], path + ".name", "'" + node.name + "' gives the value '" + node.name + "." + extra +
                                                       "', which the Lightning script names '" + python +
                                                       "', the name of an input or an earlier node: rename one of them");
        known.push_back(node.name + "." + extra);
      }
      for (const LayerSpec& e : spec.layers)
        for (const std::string& extra : find_layer(e.type)->extra_outputs)
          if (node.name == e.name + "_" + extra)
            fail_at(graph->items[i], path + ".name", "'" + node.name + "' is the Lightning script's name of '" + e.name +
                                                         "." + extra + "': choose another node name");
      spec.layers.push_back(std::move(node));
    }
    // forward's arguments: each is read (an unread one would be a batch column nothing uses).
    for (const InputSpec& in : spec.inputs) {
      bool read = false;
      for (const LayerSpec& node : spec.layers) {
        read = read || std::find(node.inputs.begin(), node.inputs.end(), in.name) != node.inputs.end();
        const std::vector<std::string> masks = value_args(node);
        read = read || std::find(masks.begin(), masks.end(), in.name) != masks.end();
      }
      if (!read) fail_at(*graph, "model.graph", "no node reads model.inputs." + in.name + ": use it or leave it out");
    }
    spec.outputs = {spec.layers.back().name};
    if (const JsonValue* out = m.get("output")) {
      auto node_name = [&](const JsonValue& v, const std::string& at) {
        if (v.kind != Kind::string || std::find(known.begin(), known.end(), v.str) == known.end())
          fail_at(v, at, "must name a node of model.graph" + (v.kind == Kind::string ? did_you_mean(v.str, known) : std::string()));
        return v.str;
      };
      if (out->kind == Kind::array) {  // forward returns a tuple: a loss over several predictions reads them
        if (out->items.size() < 2)
          fail_at(*out, "model.output", "a list names two or more nodes (forward's tuple); name one node as a string");
        spec.outputs.clear();
        for (size_t i = 0; i < out->items.size(); ++i) {
          const std::string at = "model.output[" + std::to_string(i) + "]";
          spec.outputs.push_back(node_name(out->items[i], at));
          if (std::count(spec.outputs.begin(), spec.outputs.end(), spec.outputs.back()) > 1)
            fail_at(out->items[i], at, "'" + spec.outputs.back() + "' is already in model.output");
        }
      } else {
        spec.outputs = {node_name(*out, "model.output")};
      }
    }
  }
  spec.loss = read_layer(m.require("loss"), "model.loss", true);
  if (spec.target.none && find_layer(spec.loss.type)->takes_target)
    m.fail_here("missing required key 'target' (" + spec.loss.type + " compares the predictions with targets: "
                "{\"shape\": [1]} for numbers, {\"dtype\": \"int64\", \"num_classes\": K} for class labels)");
  if (!spec.target.none && !find_layer(spec.loss.type)->takes_target)
    m.fail("target", spec.loss.type + " takes no targets (it compares the predictions only): leave model.target out");
  // The loss reads forward's result: one prediction, or the tuple a loss over several compares.
  const int predictions = find_layer(spec.loss.type)->num_inputs;
  const int returned = spec.graph ? static_cast<int>(spec.outputs.size()) : 1;
  if (predictions > 1 && returned == 1)
    fail_at(*m.get("loss"), "model.loss", spec.loss.type + " compares " + std::to_string(predictions) +
                                              " predictions: use model.graph with \"output\" naming " +
                                              std::to_string(predictions) + " nodes, e.g. [\"a\", \"b\"]");
  if (predictions != returned)
    fail_at(*m.get("output"), "model.output", "names " + std::to_string(returned) + " nodes, but " + spec.loss.type +
                                                  " takes " + std::to_string(predictions) + " prediction" +
                                                  (predictions == 1 ? ": name one node" : "s"));
  if (const JsonValue* metrics = m.get("metrics")) {
    if (metrics->kind != Kind::array) fail_at(*metrics, "model.metrics", "expected a list of metric names, e.g. [\"accuracy\"]");
    if (metrics->items.size() > static_cast<size_t>(ltrt::kMaxMetrics))
      fail_at(*metrics, "model.metrics", "lists " + std::to_string(metrics->items.size()) + " metrics; at most " +
                                             std::to_string(ltrt::kMaxMetrics) + " are supported");
    for (size_t i = 0; i < metrics->items.size(); ++i) {
      const std::string path = "model.metrics[" + std::to_string(i) + "]";
      // A name, or {"name": ..., "average": ..., "module": ...}: the scores' torchmetrics average
      // ("micro" by default, as theirs; jaccard_index's, auroc's and average_precision's "macro"),
      // and whether the LightningModule logs a torchmetrics Metric object (its epoch value counts the
      // whole epoch, every DDP rank's). The name is checked before its arguments.
      const JsonValue* entry = &metrics->items[i];
      if (const JsonValue* given = entry->kind == Kind::object ? entry->find("name") : entry) {
        const std::vector<std::string>& known = metric_names();
        if (given->kind != Kind::string || std::find(known.begin(), known.end(), given->str) == known.end())
          fail_at(*given, path, ltrt::describe(*given) + " is not a supported metric: use " + quoted_choices(known) +
                                    (given->kind == Kind::string ? did_you_mean(given->str, known) : ""));
      }
      const std::string named = entry->kind == Kind::object && entry->find("name") ? entry->find("name")->str
                                                                                 : entry->str;
      // auroc's, average_precision's and jaccard_index's average: "macro" by default (the first two
      // have no "micro": torchmetrics has none); r2_score's multioutput is kept as its average.
      const bool ranked = named == "auroc" || named == "average_precision";
      MetricSpec metric;  // torchmetrics' defaults, then the arguments given
      metric.name = named;
      metric.average = ranked || named == "jaccard_index"                     ? "macro"
                       : named == "r2_score" || named == "explained_variance" ? "uniform_average"
                                                                              : "micro";
      // critical_success_index's threshold has no default in torchmetrics.
      if (named == "critical_success_index" && entry->kind != Kind::object)
        fail_at(*entry, path, "critical_success_index needs a threshold (a value at or above it is an event): "
                              "{\"name\": \"critical_success_index\", \"threshold\": 0.5}");
      if (entry->kind == Kind::object) {
        ltrt::ConfigObject o(*entry, path);
        const JsonValue& name = o.require("name");
        // torchmetrics' top_k: a prediction is right when the target is among the k largest logits.
        const bool takes_top_k = named == "accuracy" || named == "precision" || named == "recall" ||
                                 named == "f1_score" || named == "fbeta_score" || named == "specificity" ||
                                 named == "negative_predictive_value" || named == "hamming_distance";
        const bool averaged = takes_top_k || named == "jaccard_index";
        metric.average = ranked ? o.string("average", "macro", {"macro", "weighted"})
                                : o.string("average", metric.average, {"micro", "macro", "weighted"});
        if (o.get("average") && !averaged && !ranked)
          o.fail("average", "only accuracy, precision, recall, f1_score, fbeta_score, specificity, "
                            "negative_predictive_value, hamming_distance, jaccard_index, auroc and average_precision "
                            "take an 'average': remove it");
        if (named == "r2_score" || named == "explained_variance") {
          const JsonValue* multioutput = o.get("multioutput");
          if (multioutput && multioutput->kind == Kind::string && multioutput->str == "raw_values")
            o.fail("multioutput", "\"raw_values\" is a score per output column, and self.log logs one number: "
                                  "use \"uniform_average\" (the default) or \"variance_weighted\"");
          metric.average = o.string("multioutput", "uniform_average", {"uniform_average", "variance_weighted"});
          if (named == "r2_score")
            metric.adjusted = o.integer("adjusted", 0, 0);  // the adjusted r2's regressors
          else if (o.get("adjusted")) o.fail("adjusted", "only r2_score takes 'adjusted': remove it");
        } else {
          for (const char* key : {"multioutput", "adjusted"})
            if (o.get(key))
              o.fail(key, std::string("only r2_score") + (key[0] == 'm' ? " and explained_variance take '" : " takes '") +
                              key + "': remove it");
        }
        // fbeta_score's beta: recall counts beta times as much as precision (torchmetrics: a float above 0).
        if (named == "fbeta_score") {
          metric.beta = o.number("beta", 1.0, -HUGE_VAL, HUGE_VAL);
          if (!(metric.beta > 0.0))
            o.fail("beta", "must be above 0, got " + ltrt::python_repr(metric.beta) + " (torchmetrics refuses it)");
          if (!std::isfinite(metric.beta * metric.beta))  // Python's beta**2 overflows
            o.fail("beta", ltrt::python_repr(metric.beta) +
                               " squared overflows a double (torchmetrics' beta**2 raises): use at most 1e150");
        } else if (o.get("beta")) {
          o.fail("beta", "only fbeta_score takes a 'beta': remove it");
        }
        // cohen_kappa's weights of the confusion matrix's cells (linear and quadratic read all of it).
        if (named == "cohen_kappa")
          metric.weights = o.string("weights", "none", {"none", "linear", "quadratic"});
        else if (o.get("weights"))
          o.fail("weights", "only cohen_kappa takes 'weights': remove it");
        // mean_squared_error's squared: false is the root mean squared error (torchmetrics'
        // squared=False); relative_squared_error's the root relative squared error.
        if (named == "mean_squared_error" || named == "relative_squared_error")
          metric.root = !o.boolean("squared", true);
        else if (o.get("squared"))
          o.fail("squared", "only mean_squared_error and relative_squared_error take 'squared': remove it");
        // kendall_rank_corrcoef's variant of tau; its t_test returns (tau, p_value), a tuple
        // self.log cannot log, so only false; its alternative matters to the t-test alone.
        if (named == "kendall_rank_corrcoef") {
          metric.variant = o.string("variant", "b", {"a", "b", "c"});
          if (o.boolean("t_test", false))
            o.fail("t_test", "true makes kendall_rank_corrcoef return (tau, p_value), and self.log logs one number: "
                             "leave t_test out (false)");
          o.string("alternative", "two-sided", {"two-sided", "less", "greater"});
        } else {
          for (const char* key : {"variant", "t_test", "alternative"})
            if (o.get(key)) o.fail(key, std::string("only kendall_rank_corrcoef takes '") + key + "': remove it");
        }
        if (named == "critical_success_index") {
          if (!o.get("threshold"))
            o.fail_here("critical_success_index needs a 'threshold' (a value at or above it is an event), e.g. 0.5");
          metric.threshold = o.number("threshold", 0.0, -HUGE_VAL, HUGE_VAL);
          // compared with float32 values, as torch rounds it to their dtype
          if (!(std::fabs(metric.threshold) <= 3.4028234663852886e38))
            o.fail("threshold", "must be a number within float32's range (torch compares it as a float32)");
          // keep_sequence_dim gives a score per sequence step, a vector self.log cannot log
          if (const JsonValue* keep = o.get("keep_sequence_dim"); keep && keep->kind != Kind::null)
            o.fail("keep_sequence_dim", "gives a score per step of that dimension, and self.log logs one number: "
                                        "leave it out (null)");
        } else {
          for (const char* key : {"threshold", "keep_sequence_dim"})
            if (o.get(key)) o.fail(key, std::string("only critical_success_index takes '") + key + "': remove it");
        }
        // cosine_similarity's reduction of its rows' values; "none" keeps one a row, which self.log
        // cannot log.
        if (named == "cosine_similarity") {
          const JsonValue* reduction = o.get("reduction");
          if (reduction &&
              (reduction->kind == Kind::null || (reduction->kind == Kind::string && reduction->str == "none")))
            o.fail("reduction", ltrt::describe(*reduction) +
                                    " keeps a value per row, and self.log logs one number: "
                                    "use \"sum\" (the default) or \"mean\"");
          metric.reduction = o.string("reduction", "sum", {"sum", "mean"});
        } else if (o.get("reduction")) {
          o.fail("reduction", "only cosine_similarity takes a 'reduction': remove it");
        }
        metric.module = o.boolean("module", false);
        metric.top_k = o.integer("top_k", 1, 1);
        if (o.get("top_k") && !takes_top_k)
          o.fail("top_k", "only accuracy, precision, recall, f1_score, fbeta_score, specificity, "
                          "negative_predictive_value and hamming_distance take a 'top_k': remove it");
        o.finish();
        entry = &name;
      }
      const JsonValue& name = *entry;
      for (size_t j = 0; j < spec.metrics.size(); ++j)
        if (spec.metrics[j].name == name.str && spec.metrics[j].top_k == metric.top_k &&
            spec.metrics[j].root == metric.root)
          fail_at(name, path,
                  "\"" + name.str + "\" is listed twice" +
                      (metric.top_k > 1 ? " with top_k " + std::to_string(metric.top_k) : std::string()) +
                      ": list each metric once");
      metric.pos = name.pos;
      spec.metrics.push_back(std::move(metric));
    }
  }
  // model.log: the arguments every self.log call of the LightningModule gets.
  if (const JsonValue* log = m.get("log"); log && log->kind != Kind::null) {
    ltrt::ConfigObject l(*log, "model.log");
    spec.sync_dist = l.boolean("sync_dist", false);
    spec.log_on_epoch = l.boolean("on_epoch", false);
    l.finish();
  }
  if (const JsonValue* freeze = m.get("freeze"); freeze && freeze->kind != Kind::null)
    spec.freeze = read_name_patterns(*freeze, "model.freeze", "[\"layers.0.*\"] (torch's parameter names)");
  if (const JsonValue* backbone = m.get("backbone"); backbone && backbone->kind != Kind::null)
    spec.backbone = read_name_patterns(*backbone, "model.backbone", "[\"layers.0.*\", \"layers.1.*\"] (torch's parameter names)");
  m.finish();
}

void read_data(ltrt::ConfigObject& top, Spec& spec) {
  const JsonValue& data = top.require("data");
  ltrt::ConfigObject d(data, "data");
  spec.batch_size_pos = d.get("batch_size") ? d.get("batch_size")->pos : data.pos;
  const std::int64_t batch = d.integer("batch_size", 1, 1);
  if (batch > (1 << 24)) d.fail("batch_size", "is too large");
  spec.batch_size = static_cast<int>(batch);
  spec.shuffle = d.boolean("shuffle", false);
  spec.drop_last = d.boolean("drop_last", false);
  // DataLoader's worker processes: the data are in memory, so they only change where random
  // transforms draw (each worker from a generator of its own).
  const std::int64_t workers = d.integer("num_workers", 0, 0);
  if (workers > 1024) d.fail("num_workers", "is more than 1024 worker processes");
  spec.num_workers = static_cast<int>(workers);
  // Its first iterator kept for every epoch, the workers with it (torch raises ValueError without any).
  spec.persistent_workers = d.boolean("persistent_workers", false);
  if (spec.persistent_workers && workers == 0)
    d.fail("persistent_workers", "needs data.num_workers > 0 (torch's DataLoader raises ValueError without workers)");
  // The batches each worker is sent ahead of the loop: they draw their transforms' numbers whether
  // the loop reads them or not, which persistent workers carry into the next epoch.
  if (const JsonValue* prefetch = d.get("prefetch_factor"); prefetch && !prefetch->is_null()) {
    if (workers == 0)
      d.fail("prefetch_factor",
             "needs data.num_workers > 0 (torch's DataLoader raises ValueError for a "
             "prefetch_factor without workers): leave it out or set it to null");
    const std::int64_t factor = d.integer("prefetch_factor", 2, 1);
    if (factor > (1 << 20)) d.fail("prefetch_factor", "is more than 1048576 batches a worker");
    spec.prefetch_factor = static_cast<int>(factor);
  }
  // Page-locked host batches for the copies to a GPU: where the program's batches already are.
  spec.pin_memory = d.boolean("pin_memory", false);
  const JsonValue* train = d.get("train");
  if (!train) d.fail_here("missing required key 'train' (the training data)");
  spec.train = read_source(*train, "data.train", spec, true);
  if (const JsonValue* v = d.get("val")) spec.val = read_source(*v, "data.val", spec, true);
  if (const JsonValue* v = d.get("test")) spec.test = read_source(*v, "data.test", spec, true);
  if (const JsonValue* v = d.get("predict")) {
    spec.predict = read_source(*v, "data.predict", spec, false);
    if (spec.outputs.size() > 1)
      fail_at(*v, "data.predict", "predict writes one prediction per sample, and model.output names " +
                                      std::to_string(spec.outputs.size()) + " nodes: not supported yet");
  }
  d.finish();
}

// The hyperparameters of a torch.optim class `type` in `o` (the optimizer, or one of its param_groups
// when `optimizer` is given): each key read over the value `h` holds (the default). A group must keep
// what decides the optimizer's state tensors (amsgrad, centered, whether there is a momentum): each
// parameter's slots are laid out alike.
void read_hyperparameters(ltrt::ConfigObject& o, const std::string& type, OptimizerHyper& h,
                          const OptimizerSpec* optimizer) {
  h.lr = o.number("lr", h.lr, 0.0, HUGE_VAL);
  if (type == "Rprop" || type == "LBFGS") {
    if (o.get("weight_decay"))
      o.fail("weight_decay", "torch.optim." + type + " has no weight_decay (it refuses the argument): remove it");
  } else {
    h.weight_decay = o.number("weight_decay", h.weight_decay, 0.0, HUGE_VAL);
  }
  h.maximize = o.boolean("maximize", h.maximize);
  for (const char* k : {"foreach", "differentiable", "fused", "capturable"}) {
    const JsonValue* v = o.get(k);
    if (v && v->kind != Kind::null && !(v->kind == Kind::boolean && !v->b))
      o.fail(k, std::string("'") + k + "' selects a PyTorch implementation; ltgen generates its own: remove it");
  }
  // A group that changes the optimizer's state tensors: refused at its key.
  auto same_state = [&](const char* key, bool group_has, bool optimizer_has, const std::string& what) {
    if (optimizer && group_has != optimizer_has)
      o.fail(key, "a group " + std::string(group_has ? "with " : "without ") + what + " where the optimizer has " +
                      (optimizer_has ? "one" : "none") + " is not supported yet (every parameter keeps the same "
                      "state tensors): set " + key + " in the optimizer alike for every group");
  };
  if (type == "SGD") {
    h.momentum = o.number("momentum", h.momentum, 0.0, HUGE_VAL);
    h.dampening = o.number("dampening", h.dampening, -HUGE_VAL, HUGE_VAL);
    h.nesterov = o.boolean("nesterov", h.nesterov);
    if (optimizer) same_state("momentum", h.momentum != 0, optimizer->momentum != 0, "a momentum_buffer (a nonzero momentum)");
  } else if (type == "RMSprop") {
    h.alpha = o.number("alpha", h.alpha, 0.0, HUGE_VAL);
    h.eps = o.number("eps", h.eps, 0.0, HUGE_VAL);
    h.momentum = o.number("momentum", h.momentum, 0.0, HUGE_VAL);
    h.centered = o.boolean("centered", h.centered);
    if (optimizer) {
      same_state("momentum", h.momentum > 0, optimizer->momentum > 0, "a momentum_buffer (a nonzero momentum)");
      same_state("centered", h.centered, optimizer->centered, "a grad_avg (centered)");
    }
  } else if (type == "Rprop") {
    auto pair = [&](const char* key, double& a, double& b) {
      const JsonValue* v = o.get(key);
      if (!v) return;
      if (v->kind != Kind::array || v->items.size() != 2 || v->items[0].kind != Kind::number ||
          v->items[1].kind != Kind::number)
        o.fail(key, "expected two numbers, e.g. " + std::string(key == std::string("etas") ? "[0.5, 1.2]" : "[1e-06, 50]"));
      a = v->items[0].num;
      b = v->items[1].num;
    };
    pair("etas", h.etaminus, h.etaplus);
    if (!(0.0 < h.etaminus && h.etaminus < 1.0 && 1.0 < h.etaplus))
      o.fail("etas", "must be (etaminus, etaplus) with 0 < etaminus < 1 < etaplus (as torch.optim.Rprop)");
    pair("step_sizes", h.step_size_min, h.step_size_max);
    if (!(h.step_size_min >= 0.0 && h.step_size_min <= h.step_size_max))
      o.fail("step_sizes", "must be (min, max) with 0 <= min <= max");
  } else if (type == "LBFGS") {
    h.max_iter = o.integer("max_iter", h.max_iter, 1);
    h.max_eval = o.integer("max_eval", h.max_iter * 5 / 4, 1);  // torch's None
    // (torch checks neither; a negative tolerance is never met)
    h.tolerance_grad = o.number("tolerance_grad", h.tolerance_grad, -HUGE_VAL, HUGE_VAL);
    h.tolerance_change = o.number("tolerance_change", h.tolerance_change, -HUGE_VAL, HUGE_VAL);
    // (torch's history of 0 pops from an empty list)
    h.history_size = o.integer("history_size", h.history_size, 1);
    if (const JsonValue* v = o.get("line_search_fn"); v && v->kind != Kind::null) {
      if (v->kind != Kind::string || v->str != "strong_wolfe")
        o.fail("line_search_fn", "expected \"strong_wolfe\" or null (a fixed step of lr), got " + ltrt::describe(*v) +
                                     " (torch.optim.LBFGS: 'only 'strong_wolfe' is supported')");
      h.strong_wolfe = true;
    }
  } else if (type == "ASGD") {
    // torch checks none of them; a negative lambd could make (1 + lambd * lr * step) negative, whose
    // power Python takes as a complex number.
    h.lambd = o.number("lambd", h.lambd, 0.0, HUGE_VAL);
    h.alpha = o.number("alpha", h.alpha, -HUGE_VAL, HUGE_VAL);
    h.t0 = o.number("t0", h.t0, -HUGE_VAL, HUGE_VAL);
  } else if (type == "Adadelta") {
    h.rho = o.number("rho", h.rho, 0.0, 1.0);
    h.eps = o.number("eps", h.eps, 0.0, HUGE_VAL);
  } else if (type == "Adagrad") {
    h.lr_decay = o.number("lr_decay", h.lr_decay, 0.0, HUGE_VAL);
    h.initial_accumulator_value = o.number("initial_accumulator_value", h.initial_accumulator_value, 0.0, HUGE_VAL);
    h.eps = o.number("eps", h.eps, 0.0, HUGE_VAL);
  } else {
    if (const JsonValue* betas = o.get("betas")) {
      if (betas->kind != Kind::array || betas->items.size() != 2 || betas->items[0].kind != Kind::number ||
          betas->items[1].kind != Kind::number)
        o.fail("betas", "expected two numbers, e.g. [0.9, 0.999]");
      h.beta1 = betas->items[0].num;
      h.beta2 = betas->items[1].num;
      if (!(h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1)) o.fail("betas", "each beta must be in [0, 1)");
    }
    h.eps = o.number("eps", h.eps, 0.0, HUGE_VAL);
    if (type == "Adam" || type == "AdamW") {
      h.amsgrad = o.boolean("amsgrad", h.amsgrad);
      if (optimizer) same_state("amsgrad", h.amsgrad, optimizer->amsgrad, "a max_exp_avg_sq (amsgrad)");
    }
    if (type == "RAdam" || type == "NAdam") h.decoupled_weight_decay = o.boolean("decoupled_weight_decay", h.decoupled_weight_decay);
    if (type == "NAdam") h.momentum_decay = o.number("momentum_decay", h.momentum_decay, 0.0, HUGE_VAL);
  }
}

// optimizer.param_groups: torch.optim's list of groups, each naming its parameters by glob patterns.
// The parameters themselves are known once the graph is built (param_groups.cpp matches them).
void read_param_groups(const JsonValue& v, OptimizerSpec& s) {
  const std::string path = "optimizer.param_groups";
  if (v.kind != Kind::array || v.items.empty())
    fail_at(v, path, "expected a list of groups, e.g. [{\"params\": [\"*.bias\"], \"weight_decay\": 0.0}, "
                     "{\"params\": [\"*\"]}]");
  if (v.items.size() > static_cast<size_t>(ltrt::kMaxParamGroups))
    fail_at(v, path, "has " + std::to_string(v.items.size()) + " groups; at most " +
                         std::to_string(ltrt::kMaxParamGroups) + " are supported");
  s.param_groups_pos = v.pos;
  for (size_t i = 0; i < v.items.size(); ++i) {
    ParamGroupSpec g;
    g.json_path = path + "[" + std::to_string(i) + "]";
    g.pos = v.items[i].pos;
    if (v.items[i].kind != Kind::object)
      fail_at(v.items[i], g.json_path, "expected an object, e.g. {\"params\": [\"*.bias\"], \"weight_decay\": 0.0}");
    ltrt::ConfigObject o(v.items[i], g.json_path);
    g.options = s;  // torch.optim's add_param_group: what the group does not set, the optimizer's
    read_hyperparameters(o, s.type, g.options, &s);
    g.params = read_name_patterns(o.require("params"), g.json_path + ".params", "[\"*.bias\", \"ln_f.weight\"]");
    if (const JsonValue* name = o.get("name"); name && name->kind == Kind::string && name->str.empty())
      o.fail("name", "must not be empty (LearningRateMonitor would log 'lr-" + s.type + "/'); leave 'name' out "
                     "for pg1, pg2, ...");
    g.name = o.string("name", "");
    o.finish();
    s.param_groups.push_back(std::move(g));
  }
}

void read_optimizer(ltrt::ConfigObject& top, Spec& spec) {
  ltrt::ConfigObject o(top.require("optimizer"), "optimizer");
  OptimizerSpec& s = spec.optimizer;
  s.type = o.string(
      "type", "",
      {"SGD", "Adam", "AdamW", "Adamax", "RAdam", "NAdam", "RMSprop", "Adagrad", "Adadelta", "Rprop", "ASGD", "LBFGS"});
  if (s.type.empty())
    o.fail_here(
        "missing required key 'type' ('SGD', 'Adam', 'AdamW', 'Adamax', 'RAdam', 'NAdam', 'RMSprop', "
        "'Adagrad', 'Adadelta', 'Rprop', 'ASGD' or 'LBFGS')");
  // torch.optim's defaults: lr 1e-3, RMSprop's, Adagrad's, Rprop's and ASGD's 1e-2, Adamax's and NAdam's
  // 2e-3, Adadelta's and LBFGS's 1; AdamW's weight_decay 1e-2; ASGD's alpha 0.75, Adadelta's eps 1e-6,
  // Adagrad's 1e-10.
  s.lr = s.type == "RMSprop" || s.type == "Adagrad" || s.type == "Rprop" || s.type == "ASGD" ? 1e-2
         : s.type == "Adamax" || s.type == "NAdam"                                           ? 2e-3
         : s.type == "Adadelta" || s.type == "LBFGS"                                         ? 1.0
                                                                                             : 1e-3;
  s.weight_decay = s.type == "AdamW" ? 1e-2 : 0.0;
  if (s.type == "ASGD") s.alpha = 0.75;
  if (s.type == "Adadelta") s.eps = 1e-6;
  if (s.type == "Adagrad") s.eps = 1e-10;
  read_hyperparameters(o, s.type, s, nullptr);
  if (s.type == "SGD" && s.nesterov && (s.momentum <= 0 || s.dampening != 0))  // torch checks the defaults only
    o.fail("nesterov", "Nesterov momentum requires a momentum and zero dampening (as torch.optim.SGD)");
  if (const JsonValue* groups = o.get("param_groups"); groups && groups->kind != Kind::null) {
    if (s.type == "LBFGS")
      o.fail("param_groups",
             "torch.optim.LBFGS takes one group of every parameter ('LBFGS doesn't support "
             "per-parameter options (parameter groups)'): remove param_groups");
    read_param_groups(*groups, s);
  }
  o.finish();
}

Spec parse_checked(const std::string& path, const std::string& text);

// "hooks": a C++ file next to the spec; check_hooks reads it with Clang (lower.cpp).
void read_hooks_path(const ltrt::ConfigObject& top, const JsonValue& h, Spec& spec) {
  if (h.kind != Kind::string || h.str.empty())
    fail_at(h, "hooks", "expected the path of a C++ file of hook functions, e.g. \"my_hooks.cpp\"");
  check_path(top, "hooks", h.str);
  const std::string& p = h.str;
  const auto dot = p.find_last_of('.');
  const std::string ext = dot == std::string::npos ? "" : p.substr(dot);
  if (ext != ".cpp" && ext != ".cc" && ext != ".cxx")
    fail_at(h, "hooks", "'" + p + "' is not a C++ source file: name it .cpp, .cc or .cxx");
  spec.hooks = relative_to_spec(spec.path, p);
  spec.hooks_pos = h.pos;
  if (const std::string what = ltrt::not_a_regular_file(spec.hooks); !what.empty())
    fail_at(h, "hooks", "cannot read '" + spec.hooks + "': it " + what + "; give a C++ file");
  if (!std::ifstream(spec.hooks)) fail_at(h, "hooks", "cannot open '" + spec.hooks + "' (paths are relative to the spec)");
}

}  // namespace

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const ltrt::MetricInfo& info : ltrt::kMetricInfos) all.push_back(info.name);
    return all;
  }();
  return names;
}

bool Spec::defines_hook(const std::string& hook) const {
  return std::find(hooks_defined.begin(), hooks_defined.end(), hook) != hooks_defined.end();
}

namespace {
const char* const kHooksBetweenForwardAndBackward[] = {"on_before_zero_grad", "on_before_backward", "on_after_backward"};
}  // namespace

bool Spec::splits_step() const {
  if (swa_batch_norm_epoch) return true;
  for (const char* hook : kHooksBetweenForwardAndBackward)
    if (defines_hook(hook)) return true;
  return false;
}

Spec parse_spec(const std::string& path, const std::string& text) {
  try {
    return parse_checked(path, text);
  } catch (const ltrt::ConfigError& e) {
    throw SpecError(path, e.pos, e.path, e.message);
  }
}

ltrt::OptimizerConfig optimizer_config(const std::string& type, const OptimizerHyper& o) {
  ltrt::OptimizerConfig c{};
  c.kind = type == "SGD"        ? ltrt::OptimizerKind::sgd
           : type == "Adam"     ? ltrt::OptimizerKind::adam
           : type == "AdamW"    ? ltrt::OptimizerKind::adamw
           : type == "Adamax"   ? ltrt::OptimizerKind::adamax
           : type == "RAdam"    ? ltrt::OptimizerKind::radam
           : type == "NAdam"    ? ltrt::OptimizerKind::nadam
           : type == "RMSprop"  ? ltrt::OptimizerKind::rmsprop
           : type == "Adadelta" ? ltrt::OptimizerKind::adadelta
           : type == "Rprop"    ? ltrt::OptimizerKind::rprop
           : type == "ASGD"     ? ltrt::OptimizerKind::asgd
           : type == "LBFGS"    ? ltrt::OptimizerKind::lbfgs
                                : ltrt::OptimizerKind::adagrad;
  c.lr = o.lr;
  c.momentum = o.momentum;
  c.dampening = o.dampening;
  c.nesterov = o.nesterov;
  c.beta1 = o.beta1;
  c.beta2 = o.beta2;
  c.eps = o.eps;
  c.amsgrad = o.amsgrad;
  c.decoupled_weight_decay = o.decoupled_weight_decay;
  c.momentum_decay = o.momentum_decay;
  c.alpha = o.alpha;
  c.centered = o.centered;
  c.lr_decay = o.lr_decay;
  c.initial_accumulator_value = o.initial_accumulator_value;
  c.rho = o.rho;
  c.etaminus = o.etaminus;
  c.etaplus = o.etaplus;
  c.step_size_min = o.step_size_min;
  c.step_size_max = o.step_size_max;
  c.lambd = o.lambd;
  c.t0 = o.t0;
  c.max_iter = o.max_iter;
  c.max_eval = o.max_eval;
  c.history_size = o.history_size;
  c.tolerance_grad = o.tolerance_grad;
  c.tolerance_change = o.tolerance_change;
  c.strong_wolfe = o.strong_wolfe;
  c.weight_decay = o.weight_decay;
  c.maximize = o.maximize;
  return c;
}

namespace {

bool is_batch_norm(const LayerSpec& l) { return l.type.rfind("BatchNorm", 0) == 0; }
// A BatchNorm's track_running_stats (torch's default: true): its running statistics and the int64
// num_batches_tracked.
bool tracks_running_stats(const LayerSpec& l) {
  const auto track = l.args.find("track_running_stats");
  return track == l.args.end() || std::get<bool>(track->second);
}

Spec parse_checked(const std::string& path, const std::string& text) {
  JsonValue root;
  try {
    root = ltrt::json::parse(text);
  } catch (const ltrt::json::ParseError& e) {
    throw SpecError(path, e.pos, "", std::string("invalid JSON: ") + e.what());
  }
  Spec spec;
  spec.path = path;
  spec.text = text;
  spec.hash = fnv1a_hex(text);
  ltrt::ConfigObject top(root, "");
  top.get("$schema");
  const JsonValue& name = top.require("name");
  if (name.kind != Kind::string || !is_identifier(name.str) || kCppKeywords.count(name.str))
    fail_at(name, "name",
           "must be an identifier (letters, digits and '_', not starting with a digit, at most 64 "
           "characters, not a C++ keyword): it names the program and its C++ namespace");
  spec.name = name.str;
  top.get("seed_everything");
  if (const JsonValue* p = top.get("float32_matmul_precision")) {
    if (p->kind != Kind::string || (p->str != "highest" && p->str != "high" && p->str != "medium"))
      fail_at(*p, "float32_matmul_precision",
              "expected \"highest\", \"high\" or \"medium\" (torch.set_float32_matmul_precision), got " +
                  ltrt::describe(*p));
    spec.float32_matmul_precision = p->str;
  }
  read_model(top, spec);
  read_data(top, spec);
  if (spec.predict.source == "prompt") check_causal(spec, "data.predict (source 'prompt')");
  read_optimizer(top, spec);
  top.get("lr_scheduler");  // read with the trainer section, by the runtime's reader
  top.get("trainer");  // read by the runtime's reader, the same one the program uses
  std::vector<double> group_lrs;  // the schedulers' base lrs: one per parameter group
  for (const ParamGroupSpec& g : spec.optimizer.param_groups) group_lrs.push_back(g.options.lr);
  if (group_lrs.empty()) group_lrs.push_back(spec.optimizer.lr);
  spec.trainer = ltrt::read_trainer_config(root, group_lrs, ltrt::optimizer_momentum(optimizer_config(spec.optimizer)));
  // detect_anomaly's checks are in the CPU step only.
  if (spec.trainer.detect_anomaly && spec.trainer.accelerator != "cpu") {
    const JsonValue* t = root.find("trainer");
    fail_at(*t->find("detect_anomaly"), "trainer.detect_anomaly",
            "is supported on the CPU only yet (the GPU program does not check its gradients): set trainer.accelerator "
            "\"cpu\"");
  }
  // Checks trainer.callbacks and max_time.
  const ltrt::Callbacks callbacks =
      ltrt::Callbacks::read(root, spec.trainer.enable_checkpointing, spec.trainer.enable_progress_bar);
  if (const ltrt::WeightAveraging* wa = callbacks.weight_averaging()) {
    std::string buffer;  // a loss argument torch keeps as a buffer (a list of numbers)
    for (const auto& [arg, value] : spec.loss.args)
      if (buffer.empty() && std::holds_alternative<std::vector<double>>(value)) buffer = arg;
    const JsonValue* t = root.find("trainer");
    const JsonValue* list = t ? t->find("callbacks") : nullptr;
    // torch's running mean on the GPU (_foreach_lerp_, and _foreach_addcdiv_ for integers) raises
    // for BatchNorm's int64 num_batches_tracked; the program says so for "auto" on a GPU.
    if (!wa->options().rule.ema && wa->options().rule.use_buffers && spec.trainer.accelerator == "gpu")
      for (const LayerSpec& l : spec.layers) {
        if (is_batch_norm(l) && tracks_running_stats(l))
          throw SpecError(path, list ? list->pos : ltrt::json::Pos{}, "trainer.callbacks",
                          "WeightAveraging with use_buffers (the default) averages " + l.source +
                              "'s int64 num_batches_tracked too, and torch's running mean on the GPU fails there "
                              "(_foreach_addcdiv_ on integers: 'Integer division with addcdiv is no longer "
                              "supported'): set \"use_buffers\": false in its init_args (BatchNorm's statistics "
                              "are then copied from the model), or trainer.accelerator \"cpu\"");
      }
    if (!buffer.empty() && wa->options().rule.ema && wa->options().rule.use_buffers) {
      throw SpecError(path, list ? list->pos : ltrt::json::Pos{}, "trainer.callbacks",
                      "EMAWeightAveraging with use_buffers (the default) averages the loss's buffer loss." + buffer +
                          " too, whose float32 arithmetic can move it by a rounding, and ltgen does not reproduce "
                          "that yet (see README, 'Not supported yet'): set \"use_buffers\": false in its init_args "
                          "(BatchNorm's statistics are then copied from the model, not averaged)");
    }
  }
  if (const ltrt::StochasticWeightAveraging* swa = callbacks.stochastic_weight_averaging()) {
    const JsonValue* t = root.find("trainer");
    const JsonValue* list = t ? t->find("callbacks") : nullptr;
    const ltrt::json::Pos at = list ? list->pos : ltrt::json::Pos{};
    for (const LayerSpec& l : spec.layers) {
      if (!is_batch_norm(l)) continue;
      // Lightning's BatchNorm epoch resets the running statistics, which this one does not keep
      // (its reset_batch_norm_and_save_state asserts they exist).
      if (!tracks_running_stats(l))
        throw SpecError(path, at, "trainer.callbacks",
                        "StochasticWeightAveraging with a BatchNorm without running statistics (" + l.source +
                            ", track_running_stats false) fails in Lightning (its BatchNorm epoch resets them): "
                            "keep track_running_stats, or leave StochasticWeightAveraging out");
      spec.swa_batch_norm_epoch = true;
    }
    // (On the CPU "16-mixed" runs as "bf16-mixed", with no GradScaler; the runtime says so for "auto".)
    if (spec.swa_batch_norm_epoch && spec.trainer.accelerator == "gpu" && spec.trainer.precision == "16-mixed")
      throw SpecError(path, at, "trainer.callbacks",
                      "StochasticWeightAveraging over BatchNorm under \"16-mixed\" on the GPU is not supported yet "
                      "(the BatchNorm epoch's optimizer step would unscale the last backward's gradients a second "
                      "time, or fail in torch's GradScaler after a validation; see README, 'Not supported yet'): "
                      "\"bf16-mixed\" or \"32-true\"");
    const std::size_t groups = std::max<std::size_t>(1, spec.optimizer.param_groups.size());
    if (swa->options().lrs_per_group && swa->options().swa_lrs.size() != groups)
      throw SpecError(path, at, "trainer.callbacks",
                      "StochasticWeightAveraging's swa_lrs has " + std::to_string(swa->options().swa_lrs.size()) +
                          " values for the optimizer's " + std::to_string(groups) + " parameter group" +
                          (groups == 1 ? "" : "s") + ": give one per group, or one number for all");
    // Lightning's on_fit_start: a fraction of max_epochs needs max_epochs (max_steps or max_time leave it -1).
    const bool timer = std::any_of(callbacks.list().begin(), callbacks.list().end(), [](const auto& cb) {
      return dynamic_cast<const ltrt::Timer*>(cb.get()) != nullptr;  // trainer.max_time's too
    });
    if (swa->options().start_fraction && spec.trainer.max_epochs == -1 && (spec.trainer.max_steps != -1 || timer))
      throw SpecError(path, at, "trainer.callbacks",
                      "SWA with `swa_epoch_start` as a float is not supported when `max_epochs=-1`. Please provide "
                      "`swa_epoch_start` as an integer (or set trainer.max_epochs).");
  }
  if (const ltrt::BackboneFinetuning* bf = callbacks.backbone_finetuning()) {
    spec.backbone_finetuning = true;
    spec.backbone_train_bn = bf->options().train_bn;
  }
  // What of trainer.callbacks (or, for LBFGS, another trainer argument) ltgen refuses, at the list
  // or the argument.
  const JsonValue* trainer_json = root.find("trainer");
  auto refuse_trainer = [&](const std::string& key, const std::string& message) {
    const JsonValue* at = trainer_json ? trainer_json->find(key) : nullptr;
    throw SpecError(path, at ? at->pos : trainer_json ? trainer_json->pos : ltrt::json::Pos{}, "trainer." + key,
                    message);
  };
  if (!spec.backbone.empty() && !spec.backbone_finetuning)
    throw SpecError(path, spec.backbone.pos[0], "model.backbone",
                    "names the module a BackboneFinetuning callback unfreezes, and trainer.callbacks has none: add "
                    "{\"class_path\": \"BackboneFinetuning\", ...} there, or leave model.backbone out (model.freeze "
                    "freezes parameters for the whole fit)");
  const bool distributed = spec.trainer.processes() > 1;
  if (const std::string refused = ltrt::backbone_finetuning_refusal(callbacks, !spec.backbone.empty(),
                                                                    spec.trainer.scheduler.has_value(), distributed);
      !refused.empty())
    refuse_trainer("callbacks", refused);
  if (const std::string refused = ltrt::device_stats_refusal(callbacks, spec.trainer.accelerator == "gpu");
      !refused.empty())
    refuse_trainer("callbacks", refused);
  for (const auto& cb : callbacks.list())
    if (const auto* monitor = dynamic_cast<const ltrt::LearningRateMonitor*>(cb.get()))
      if (const std::string refused = ltrt::weight_decay_refusal(monitor->options(), spec.optimizer.type);
          !refused.empty())
        refuse_trainer("callbacks", refused);
  if (spec.persistent_workers)
    if (const std::string refused = ltrt::persistent_workers_refusal(spec.trainer.reload_dataloaders_every_n_epochs);
        !refused.empty())
      refuse_trainer("reload_dataloaders_every_n_epochs", refused);
  if (spec.optimizer.type == "LBFGS") {
    // (DDP's devices may come from num_nodes or strategy: then at the trainer section)
    const ltrt::LbfgsRefusal refused = ltrt::lbfgs_refusal(spec.trainer, callbacks, spec.trainer.accelerator == "gpu");
    if (!refused.message.empty()) refuse_trainer(refused.key, refused.message);
  }
  if (const JsonValue* h = top.get("hooks")) read_hooks_path(top, *h, spec);
  top.finish();
  return spec;
}

}  // namespace

Spec read_spec(const std::string& path) {
  // (a FIFO would block the open)
  if (const std::string what = ltrt::not_a_regular_file(path); !what.empty())
    throw SpecError(path, {}, "", "cannot read the spec: it " + what + "; give a spec file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SpecError(path, {}, "", "cannot open the spec file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_spec(path, ss.str());
}

}  // namespace ltgen
