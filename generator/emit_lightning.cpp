/// \file
/// `ltgen SPEC --emit lightning -o model.py`: the spec as a PyTorch Lightning
/// script (LightningModule, LightningDataModule, Trainer call), so that users
/// can check a generated program against Lightning itself.
#include "emit_lightning.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

#include <ltrt/json.hpp>
#include <ltrt/metric_info.hpp>
#include <ltrt/python_repr.hpp>

#include "code_writer.hpp"
#include "op.hpp"
#include "optimizer_args.hpp"
#include "version.hpp"

namespace ltgen {

namespace {

using JsonValue = ltrt::json::Value;

// A torch.optim argument's value as Python: 0.9, 20, True, (0.9, 0.999), "strong_wolfe".
std::string python_value(const OptimizerArg& a) {
  if (a.boolean) return a.values[0] != 0 ? "True" : "False";
  if (a.line_search) return a.values[0] != 0 ? "\"strong_wolfe\"" : "None";
  if (a.integer) return std::to_string(static_cast<std::int64_t>(a.values[0]));
  if (a.values.size() == 1) return ltrt::python_repr(a.values[0]);
  return "(" + ltrt::python_repr(a.values[0]) + ", " + ltrt::python_repr(a.values[1]) + ")";
}

// A JSON value as a Python literal. JSON's string escapes are Python's too.
std::string py(const JsonValue& v) {
  switch (v.kind) {
    case ltrt::json::Kind::null: return "None";
    case ltrt::json::Kind::boolean: return v.b ? "True" : "False";
    case ltrt::json::Kind::number: return v.is_integer ? std::to_string(v.integer) : ltrt::python_repr(v.num);
    case ltrt::json::Kind::string: return ltrt::json::quote(v.str);
    case ltrt::json::Kind::array: {
      std::string s = "[";
      for (size_t i = 0; i < v.items.size(); ++i) s += (i ? ", " : "") + py(v.items[i]);
      return s + "]";
    }
    case ltrt::json::Kind::object: {
      std::string s = "{";
      for (size_t i = 0; i < v.members.size(); ++i)
        s += (i ? ", " : "") + ltrt::json::quote(v.members[i].first) + ": " + py(v.members[i].second);
      return s + "}";
    }
  }
  return "None";
}

std::string py(const Attr& a) {
  if (auto* i = std::get_if<std::int64_t>(&a)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&a)) return ltrt::python_repr(*d);
  if (auto* b = std::get_if<bool>(&a)) return *b ? "True" : "False";
  if (auto* s = std::get_if<std::string>(&a)) return ltrt::json::quote(*s);
  if (auto* v = std::get_if<std::vector<double>>(&a)) {  // a loss's class weights: torch takes a tensor
    std::string s = "torch.tensor([";
    for (size_t i = 0; i < v->size(); ++i) s += (i ? ", " : "") + ltrt::python_repr((*v)[i]);
    return s + "])";
  }
  // Sizes as tuples, as torch.nn's modules take them (nn.Upsample refuses a list for scale_factor).
  std::string s = "(";
  const auto& v = std::get<std::vector<std::int64_t>>(a);
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

// The torchvision transform at list[i], i moved past it: its class with the spec's arguments (a
// RandomApply, RandomChoice or RandomOrder with its own list, which follows it flattened).
std::string transform_py(const std::vector<TransformSpec>& list, size_t& i) {
  const TransformSpec& t = list[i++];
  std::string args;
  if (t.type == "RandomApply" || t.type == "RandomChoice" || t.type == "RandomOrder") {
    const size_t end = i + static_cast<size_t>(t.group);
    while (i < end) args += (args.empty() ? "" : ", ") + transform_py(list, i);
    args = "[" + args + "]";
  }
  for (const auto& [k, v] : t.args.members)  // (v1 takes an InterpolationMode, not its value)
    args += (args.empty() ? "" : ", ") + k + "=" +
            (k == "interpolation" ? "transforms.InterpolationMode(" + py(v) + ")" : py(v));
  return std::string(t.v2 ? "v2." : "transforms.") + t.type + "(" + args + ")";
}

// torch.nn's Transformer classes: the script's subclasses take ltgen's is_causal.
bool transformer_class(const std::string& type) {
  return type == "TransformerEncoderLayer" || type == "TransformerDecoderLayer" || type == "TransformerEncoder" ||
         type == "TransformerDecoder" || type == "Transformer";
}

// torch.nn's recurrent layers, which return (output, h_n): the script's subclasses return output.
bool recurrent(const std::string& type) { return type == "RNN" || type == "LSTM" || type == "GRU"; }

// Layers that torch.nn lacks: the script defines them (Reshape, Transpose, Narrow, Select, Mean, Sum).
bool own_module(const std::string& type) {
  return type == "Reshape" || type == "Transpose" || type == "Narrow" || type == "Select" || type == "Mean" ||
         type == "Sum";
}

// The __init__ of the script's subclasses of torch's attention modules: torch's arguments, and
// ltgen's is_causal kept for forward.
void write_causal_init(CodeWriter& w) {
  w.open("def __init__(self, *args, is_causal=False, **kwargs)");
  w.line("super().__init__(*args, **kwargs)");
  w.line("self.is_causal = is_causal");
  w.close();
  w.line();
}

// "nn.Linear(in_features=10, out_features=1, bias=True)": constructor order,
// inferred sizes filled in from the graph.
std::string module(const LayerSpec& l, const Graph& g, const std::string& layer) {
  const LayerDef* def = find_layer(l.type);
  // ltgen's MultiheadAttention: the script's SelfAttention subclass (self- or cross-attention).
  // PositionalEmbedding is the script's own class (nanoGPT's wpe).
  // Reshape, Transpose, Narrow, Select, Mean and Sum are the script's own modules (torch.nn has none).
  // RNN, LSTM and GRU are the script's subclasses of torch's that return the output sequence alone.
  // The Transformer classes are the script's subclasses of torch's that take is_causal (and run
  // the script's layers).
  std::string s = l.type == "MultiheadAttention" ? "SelfAttention("
                  : l.type == "PositionalEmbedding" || transformer_class(l.type) || recurrent(l.type) || own_module(l.type)
                      ? l.type + "("
                      : "nn." + l.type + "(";
  bool first = true;
  for (const ArgDef& a : def->args) {
    auto it = l.args.find(a.name);
    const Attr* v = it != l.args.end() ? &it->second : nullptr;
    if (a.type == ArgType::value) continue;  // forward's argument (a mask), not the constructor's
    if (a.type == ArgType::module) {  // a module built in place: encoder_layer=TransformerEncoderLayer(...)
      if (!v && !a.nullable) continue;
      std::string nested = "None";
      if (v) {
        LayerSpec part;
        part.type = a.module_type;
        part.args = module_args(l.args, a.name);
        nested = module(part, g, layer + "." + a.module_part);
      }
      s += (first ? "" : ", ") + a.name + "=" + nested;
      first = false;
      continue;
    }
    if (!v && a.inferred) {
      // A TransformerEncoderLayer's d_model is its self_attn's embed_dim.
      const std::string attr = a.name == "d_model" ? "embed_dim" : a.name;
      for (const Node& n : g.nodes)
        // The layer's own nodes, and its parts' (an LSTM's "layers.0.l0"), hold what it inferred.
        if (!n.backward && (n.layer == layer || n.layer.rfind(layer + ".", 0) == 0) && n.attrs.count(attr))
          v = &n.attrs.at(attr);
    }
    if ((!v && !a.nullable) || a.name == "tie_weight") continue;  // tying: an assignment after construction
    std::string value = v ? py(*v) : std::string("None");  // nullable: given as null
    if (const auto* xs = v ? std::get_if<std::vector<double>>(v) : nullptr; xs && a.type == ArgType::number_tuple) {
      value = "(";  // a tuple, as torch.nn's modules take sizes (nn.Upsample refuses a list)
      for (size_t i = 0; i < xs->size(); ++i) value += (i ? ", " : "") + ltrt::python_repr((*xs)[i]);
      value += xs->size() == 1 ? ",)" : ")";
    }
    s += (first ? "" : ", ") + a.name + "=" + value;
    first = false;
  }
  return s + ")";
}

// The LightningModule attribute a LearningRateFinder callback of the spec finds its lr in ("lr", or its
// attr_name); "" without one.
std::string lr_finder_attribute(const JsonValue& root) {
  const JsonValue* trainer = root.find("trainer");
  const JsonValue* list = trainer ? trainer->find("callbacks") : nullptr;
  if (!list) return "";
  std::vector<const JsonValue*> entries;
  if (list->is_array()) {
    for (const JsonValue& e : list->items) entries.push_back(&e);
  } else {
    entries.push_back(list);
  }
  for (const JsonValue* e : entries) {
    const JsonValue* cls = e->find("class_path");
    if (!cls || !cls->is_string()) continue;
    const std::string& path = cls->str;
    if (path.size() < 18 || path.compare(path.size() - 18, 18, "LearningRateFinder") != 0) continue;
    const JsonValue* init = e->find("init_args");
    const JsonValue* attr = init ? init->find("attr_name") : nullptr;
    return attr && attr->is_string() && !attr->str.empty() ? attr->str : "lr";
  }
  return "";
}

// A scheduler argument as Python: LambdaLR's and MultiplicativeLR's lr_lambda is the lambda's
// text itself (the runtime parsed it when ltgen read the spec: ltrt/python_lambda.hpp), or a list.
std::string scheduler_arg(const std::string& type, const std::string& key, const JsonValue& v) {
  if (type == "CyclicLR" && key == "scale_fn" && v.is_string()) return v.str;
  if ((type != "LambdaLR" && type != "MultiplicativeLR") || key != "lr_lambda") return py(v);
  if (v.is_string()) return v.str;
  std::string list = "[";
  for (std::size_t i = 0; i < v.items.size(); ++i) list += (i ? ", " : "") + v.items[i].str;
  return list + "]";
}

// Whether a lambda of the scheduler (or of its SequentialLR's or ChainedScheduler's) may use math.
bool lambda_scheduler(const ltrt::SchedulerSpec& s) {
  const auto has_lambda = [](const std::string& type, const JsonValue& args) {
    return type == "LambdaLR" || type == "MultiplicativeLR" || (type == "CyclicLR" && args.find("scale_fn"));
  };
  if (has_lambda(s.type, s.args)) return true;
  if (const JsonValue* subs = s.args.find("schedulers"); subs && subs->is_array())
    for (const JsonValue& sub : subs->items)
      if (const JsonValue* t = sub.find("type"); t && t->is_string() && has_lambda(t->str, sub)) return true;
  return false;
}

// The module's attribute path in the LightningModule: "layers.2" -> "layers[2]", "head" -> "head".
std::string attribute(const std::string& module_name) {
  const std::string seq = "layers.";
  if (module_name.compare(0, seq.size(), seq) == 0) return "layers[" + module_name.substr(seq.size()) + "]";
  return module_name;
}

// The constructor call for a LightningCLI class_path/init_args entry.
std::string instance(const JsonValue& entry, const char* module_path) {
  const JsonValue* cls = entry.find("class_path");
  std::string name = cls ? cls->str : "";
  name = name.substr(name.find_last_of('.') + 1);
  std::string s = std::string(module_path) + name + "(";
  if (const JsonValue* args = entry.find("init_args"))
    for (size_t i = 0; i < args->members.size(); ++i) {
      const auto& [key, value] = args->members[i];
      s += (i ? ", " : "") + key + "=";
      if (name == "GradientAccumulationScheduler" && key == "scheduling") {
        // {epoch: factor} with int keys, as LightningCLI converts JSON's string keys.
        std::string d;
        for (const auto& [epoch, factor] : value.members)  // keys checked as epochs by Callbacks::read
          d += (d.empty() ? "" : ", ") + std::to_string(std::stoll(epoch)) + ": " + py(factor);
        s += "{" + d + "}";
      } else if (name == "BackboneFinetuning" && key == "lambda_func" && value.is_string()) {
        s += value.str;  // a Python lambda (ltrt/python_lambda.hpp parsed it when ltgen read the spec)
      } else if (name == "ThroughputMonitor" && key == "batch_size_fn" && value.is_string()) {
        s += value.str;  // a lambda of the batch's first tensor (ThroughputMonitor::read checked it)
      } else {
        s += py(value);
      }
    }
  return s + ")";
}

// A data source's tensor of model input k: x for a model with one input, x_<name> for each of several.
std::string input_variable(const Spec& spec, size_t k) {
  return spec.inputs.size() == 1 ? "x" : "x_" + spec.inputs.at(k).name;
}
std::string input_tuple(const Spec& spec) {
  std::string t;
  for (size_t k = 0; k < spec.inputs.size(); ++k) t += (k ? ", " : "") + input_variable(spec, k);
  return t;
}

void emit_source(CodeWriter& w, const char* split, int index, const DataSourceSpec& s, const Spec& spec, bool targets) {
  w.open(std::string("def ") + split + "_tensors(self)");
  if (s.source == "randn") {
    // Lightning's seed example draws torch.randn; the generated program draws the same numbers
    // (ltrt::randn_generator: a generator per split, seeded seed * 4 + split).
    w.line("g = torch.Generator().manual_seed(" + std::to_string(spec.trainer.seed * 4 + index) + ")");
    for (size_t k = 0; k < spec.inputs.size(); ++k) {  // each input in turn (a model may have several)
      std::string shape = std::to_string(s.num_samples);
      for (auto d : k == 0 && !s.sample_shape.empty() ? s.sample_shape : spec.inputs[k].shape)
        shape += ", " + std::to_string(d);
      w.line(input_variable(spec, k) + " = torch.randn(" + shape + ", generator=g)");
    }
    if (targets) {
      if (spec.target.dtype == DType::i64) {
        std::string ts = std::to_string(s.num_samples) + ",";
        for (auto d : spec.target.shape) ts += " " + std::to_string(d) + ",";
        w.line("y = torch.randint(0, " + std::to_string(spec.target.num_classes) + ", (" + ts + "), generator=g)");
      }
      else {
        std::string ts = std::to_string(s.num_samples);
        for (auto d : spec.target.shape) ts += ", " + std::to_string(d);
        w.line("y = torch.randn(" + ts + ", generator=g)");
      }
    }
  } else if (s.source == "text") {
    // As the generated program: consecutive windows of block_size bytes (stride block_size), the
    // next byte as target, ids into the sorted unique bytes of the training corpus.
    const std::int64_t block = spec.inputs.at(0).shape.at(0);
    w.line("vocab = np.unique(np.frombuffer(read_text(" + ltrt::json::quote(spec.train.path) + "), dtype=np.uint8))");
    w.line("table = np.full(256, -1, dtype=np.int64)");
    w.line("table[vocab] = np.arange(len(vocab))");
    w.line("ids = table[np.frombuffer(read_text(" + ltrt::json::quote(s.path) + "), dtype=np.uint8)]");
    if (s.range_begin != 0 || s.range_end != 1)  // nanoGPT's split: data[int(n * begin):int(n * end)]
      w.line("ids = ids[int(len(ids) * " + ltrt::python_repr(s.range_begin) + "):int(len(ids) * " +
             ltrt::python_repr(s.range_end) + ")]");
    w.line("n = (len(ids) - 1) // " + std::to_string(block));
    w.line("x = torch.from_numpy(ids[:n * " + std::to_string(block) + "].reshape(n, " + std::to_string(block) + "))");
    if (targets)
      w.line("y = torch.from_numpy(ids[1:n * " + std::to_string(block) + " + 1].reshape(n, " + std::to_string(block) + "))");
  } else if (s.source == "npy") {
    const bool indices = spec.inputs.at(0).dtype == DType::i64;  // an Embedding's input
    w.line(input_variable(spec, 0) + " = torch.from_numpy(np.load(" + ltrt::json::quote(s.x) + "))." +
           (indices ? "long()" : "float()"));
    for (size_t k = 1; k < spec.inputs.size(); ++k)  // a model's other inputs: a file each
      w.line(input_variable(spec, k) + " = torch.from_numpy(np.load(" + ltrt::json::quote(s.other_x.at(k - 1)) +
             "))." + (spec.inputs[k].dtype == DType::i64 ? "long()" : spec.inputs[k].dtype == DType::u8 ? "bool()" : "float()"));
    if (targets) w.line("y = torch.from_numpy(np.load(" + ltrt::json::quote(s.y) + "))");
  } else if (s.source == "idx") {
    // MNIST's IDX files, as the generated program reads them: byte / scale, reshaped to model.inputs
    // (the images' own height and width where the transforms crop them).
    const Shape& in = spec.inputs.at(0).shape;
    const bool cropped =
        std::any_of(s.transforms.begin(), s.transforms.end(), [](const TransformSpec& t) { return t.sizes(); });
    std::string shape = "-1";
    for (auto d : in) shape += ", " + std::to_string(d);
    w.line("x = torch.from_numpy(read_idx(" + ltrt::json::quote(s.images) + ").astype(np.float32) / np.float32(" +
           ltrt::python_repr(s.scale) + "))" +
           (cropped ? in.size() == 3 ? ".unsqueeze(1)" : "" : ".reshape(" + shape + ")"));
    if (targets) w.line("y = torch.from_numpy(read_idx(" + ltrt::json::quote(s.labels) + ").astype(np.int64))");
  } else {
    // As the generated program: the columns other than the targets, in file order, fill the
    // inputs in order, each its per-sample shape (int64 inputs take integers).
    w.line("table = np.genfromtxt(" + ltrt::json::quote(s.path) + ", delimiter=\",\", names=True)");
    w.line("targets = [name.strip() for name in " + ltrt::json::quote(s.target_column) + ".split(\",\") if name.strip()]");
    w.line("features = np.stack([table[c] for c in table.dtype.names if c not in targets], axis=1)");
    std::int64_t at = 0;
    for (size_t k = 0; k < spec.inputs.size(); ++k) {
      std::int64_t size = 1;
      std::string shape = "-1";
      for (auto d : spec.inputs[k].shape) size *= d, shape += ", " + std::to_string(d);
      w.line(input_variable(spec, k) + " = torch.from_numpy(features[:, " + std::to_string(at) + ":" +
             std::to_string(at + size) + "])." + (spec.inputs[k].dtype == DType::i64 ? "long()" : "float()") +
             ".reshape(" + shape + ")");
      at += size;
    }
    if (targets) w.line("y = torch.from_numpy(np.stack([table[c] for c in targets], axis=1)).reshape(len(table), -1).squeeze(1)");
  }
  if (targets) {
    if (spec.target.dtype == DType::i64) {
      w.line("y = y.long()");
    } else {
      std::string shape = "-1";
      for (auto d : spec.target.shape) shape += ", " + std::to_string(d);
      w.line("y = y.float().reshape(" + shape + ")");
    }
    w.line("return " + input_tuple(spec) + ", y");
  } else {
    w.line("return (" + input_tuple(spec) + ",)");
  }
  w.close();
  w.line();
}

// Graph nodes that combine values with an operator instead of a module.
bool combines(const std::string& type) { return type == "Add" || type == "Mul" || type == "Concat"; }

}  // namespace

namespace {

// The names table's entry of a spec's metric (read_spec admits only its names).
const ltrt::MetricInfo& info_of(const std::string& metric) {
  const ltrt::MetricInfo* info = ltrt::find_metric_info(metric.c_str());
  if (!info) throw std::logic_error("model.metrics: '" + metric + "' is not in ltrt::kMetricInfos");
  return *info;
}
// model.metrics' torchmetrics calls: the log name's suffix, the loss's ignore_index (-100 unless it
// sets one), the predictions and targets a call takes (class logits flattened to (rows, C) as for
// the loss; BCEWithLogitsLoss's probabilities as 0/1 labels), the task's arguments, and the
// Metric object's attribute and class.
std::string metric_suffix(const std::string& metric, std::int64_t top_k = 1) {
  return info_of(metric).suffix + (top_k > 1 ? "_top" + std::to_string(top_k) : std::string());
}
std::string loss_ignore_index(const Spec& spec) {
  const auto ignore = spec.loss.args.find("ignore_index");
  return std::to_string(ignore != spec.loss.args.end() ? std::get<std::int64_t>(ignore->second) : -100);
}
std::string metric_inputs(const Spec& spec) {
  if (spec.target.dtype != DType::i64) return "out, (y > 0.5).long()";
  const std::string classes = std::to_string(spec.target.num_classes);
  return "out.reshape(-1, " + classes + "), y.reshape(-1)";
}
bool is_error(const std::string& metric) { return metric.find("error") != std::string::npos; }
// The metrics over regression outputs and their float targets as they are: the errors, r2_score,
// explained_variance and the correlations.
bool compares_values(const std::string& metric) {
  return is_error(metric) || metric == "r2_score" || metric == "explained_variance" || metric == "pearson_corrcoef" ||
         metric == "concordance_corrcoef" || metric == "spearman_corrcoef" || metric == "kendall_rank_corrcoef" ||
         metric == "critical_success_index" || metric == "cosine_similarity";
}
// The predictions and targets such a metric takes: torchmetrics' Kendall fails on (N, 1) (its
// update adds a dimension to any input when num_outputs is 1), so a target of [1] is flattened
// for it, as its user must.
std::string value_inputs(const Spec& spec, const std::string& metric) {
  return metric == "kendall_rank_corrcoef" && !spec.target.shape.empty() ? "out.reshape(-1), y.reshape(-1)" : "out, y";
}
// exact_match's predictions and targets: each position's class against its target (torchmetrics'
// multiclass reads (N, ...) classes), or BCEWithLogitsLoss's logits against 0/1 labels (multilabel).
std::string exact_match_inputs(const Spec& spec) {
  return spec.target.dtype == DType::i64 ? "out.argmax(dim=-1), y" : "out, (y > 0.5).long()";
}
std::string metric_arguments(const Spec& spec, size_t k) {
  const MetricSpec& m = spec.metrics[k];
  if (m.name == "exact_match")
    return spec.target.dtype == DType::i64
               ? "task=\"multiclass\", num_classes=" + std::to_string(spec.target.num_classes) +
                     ", ignore_index=" + loss_ignore_index(spec)
               : "task=\"multilabel\", num_labels=" + std::to_string(spec.target.shape.at(0));
  if (m.name == "r2_score" || m.name == "explained_variance") {
    std::string args = m.adjusted ? "adjusted=" + std::to_string(m.adjusted) : "";
    if (m.average != "uniform_average") args += (args.empty() ? "" : ", ") + ("multioutput=\"" + m.average + "\"");
    return args;
  }
  if (is_error(m.name)) return m.root ? "squared=False" : "";
  if (m.name == "pearson_corrcoef" || m.name == "concordance_corrcoef" || m.name == "spearman_corrcoef")
    return "";  // one output: num_outputs=1, the default
  if (m.name == "critical_success_index") return ltrt::python_repr(m.threshold);  // threshold
  if (m.name == "cosine_similarity") return m.reduction != "sum" ? "reduction=\"" + m.reduction + "\"" : "";
  if (m.name == "kendall_rank_corrcoef")  // one output; t_test False, the default
    return m.variant != "b" ? "variant=\"" + m.variant + "\"" : "";
  // fbeta_score's beta, a Python float (torchmetrics refuses an int); cohen_kappa's weights
  const std::string beta = m.name == "fbeta_score"                        ? ", beta=" + ltrt::python_repr(m.beta)
                           : m.name == "cohen_kappa" && m.weights != "none" ? ", weights=\"" + m.weights + "\""
                                                                            : "";
  if (spec.target.dtype != DType::i64) return "task=\"binary\"" + beta;
  std::string args = "task=\"multiclass\", num_classes=" + std::to_string(spec.target.num_classes) + beta;
  const bool micro_accuracy = m.name == "accuracy" && m.average == "micro";
  // torchmetrics' MCC and Cohen's kappa have no average
  if (!micro_accuracy && m.name != "matthews_corrcoef" && m.name != "cohen_kappa")
    args += ", average=\"" + m.average + "\"";
  if (m.top_k > 1) {
    args += ", top_k=" + std::to_string(m.top_k);
    if (micro_accuracy) args += ", average=\"micro\"";  // its Metric class's default too
  }
  return args + ", ignore_index=" + loss_ignore_index(spec);
}
// Metric k's name in the logs: its suffix and top_k, or with squared=False "rmse" (mean_squared_error)
// or "rrse" (relative_squared_error).
std::string log_name(const Spec& spec, size_t k) {
  const MetricSpec& m = spec.metrics[k];
  if (m.root) return m.name == "relative_squared_error" ? "rrse" : "rmse";
  return metric_suffix(m.name, m.top_k);
}
std::string metric_object(const std::string& stage, const Spec& spec, size_t k) {
  return stage + "_" + log_name(spec, k) + "_metric";
}
std::string metric_class(const std::string& metric) { return info_of(metric).torchmetrics_class; }

}  // namespace

std::string emit_lightning(const Spec& spec, const Graph& g) {
  const JsonValue root = ltrt::json::parse(spec.text);
  CodeWriter w(0, CodeWriter::Language::python);
  w.line("# " + spec.name + ": the spec " + spec.path + " as a PyTorch Lightning script, written by ltgen " +
         kVersion + ".");
  w.line("# The same layers, loss, optimizer, scheduler, callbacks, loggers and data as the generated");
  w.line("# program, so that both can be compared:  python model.py [--init_weights W.safetensors]");
  if (!spec.hooks.empty())
    w.line("# Not here: the C++ hooks of " + spec.hooks + " (write them as a Lightning Callback).");
  w.line("import argparse");
  if (!spec.optimizer.param_groups.empty() || !spec.freeze.empty()) w.line("import fnmatch");
  if (spec.trainer.scheduler && lambda_scheduler(*spec.trainer.scheduler)) w.line("import math  # lr_lambda's");
  else if (spec.backbone_finetuning) w.line("import math  # BackboneFinetuning's lambda_func may use it");
  w.line();
  w.line("import numpy as np");
  w.line("import torch");
  w.line("import torch.nn as nn");
  w.line("import lightning.pytorch as pl");
  for (const MetricSpec& m : spec.metrics)
    if (m.module) {
      w.line("import torchmetrics  # model.metrics' Metric objects");
      break;
    }
  for (const MetricSpec& m : spec.metrics)
    if (!m.module && (m.name != "accuracy" || m.top_k > 1 || m.average != "micro") &&
        // the mean absolute and squared errors are torch.nn.functional's, the other metrics torchmetrics'
        m.name != "mean_absolute_error" && (m.name != "mean_squared_error" || m.root)) {
      w.line("import torchmetrics.functional as tmf  # model.metrics' " + m.name);
      break;
    }
  const JsonValue* trainer_section = root.find("trainer");
  const JsonValue* profiler = trainer_section ? trainer_section->find("profiler") : nullptr;
  const bool profiler_object = profiler && profiler->kind == ltrt::json::Kind::object;
  w.line(std::string("from lightning.pytorch import callbacks, loggers") + (profiler_object ? ", profilers" : ""));
  w.line("from torch.utils.data import DataLoader, TensorDataset");
  // The data's torchvision transforms: any, and any of torchvision.transforms.v2.
  bool transformed = false, v2 = false;
  for (const DataSourceSpec* s : {&spec.train, &spec.val, &spec.test, &spec.predict})
    for (const TransformSpec& t : s->transforms) {
      transformed = true;
      v2 = v2 || t.v2;
    }
  if (transformed) w.line("from torchvision import transforms  # data's transforms");
  if (v2) w.line("from torchvision.transforms import v2  # data's torchvision.transforms.v2 transforms");
  w.line();
  w.line("# The spec: the generated program logs it as the module's hyperparameters (hparams.yaml,");
  w.line("# TensorBoard's HPARAMS tab, checkpoints), and so does this script.");
  w.line("HPARAMS = {");
  for (const auto& [key, value] : root.members) w.line("    " + ltrt::json::quote(key) + ": " + py(value) + ",");
  w.line("}");
  w.line();
  w.line();
  bool idx = false;
  for (const DataSourceSpec* s : {&spec.train, &spec.val, &spec.test, &spec.predict}) idx = idx || s->source == "idx";
  if (idx) {
    w.open("def read_idx(path)");
    w.line("\"\"\"An IDX file of unsigned bytes (MNIST's format), plain or gzip-compressed.\"\"\"");
    w.line("import gzip");
    w.open("with open(path, \"rb\") as f");
    w.line("data = f.read()");
    w.close();
    w.open("if data[:2] == b\"\\x1f\\x8b\"");
    w.line("data = gzip.decompress(data)");
    w.close();
    w.line("assert data[:3] == b\"\\x00\\x00\\x08\", f\"{path}: not an IDX file of unsigned bytes\"");
    w.line("ndims = data[3]");
    w.line("shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], \"big\") for i in range(ndims))");
    w.line("return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndims).reshape(shape)");
    w.close();
    w.line();
    w.line();
  }
  bool text = false;
  for (const DataSourceSpec* s : {&spec.train, &spec.val, &spec.test, &spec.predict}) text = text || s->source == "text";
  if (text) {
    w.open("def read_text(path)");
    w.line("\"\"\"A text corpus's bytes, plain or gzip-compressed.\"\"\"");
    w.line("import gzip");
    w.open("with open(path, \"rb\") as f");
    w.line("data = f.read()");
    w.close();
    w.line("return gzip.decompress(data) if data[:2] == b\"\\x1f\\x8b\" else data");
    w.close();
    w.line();
    w.line();
  }
  bool attention = false;
  for (const LayerSpec& l : spec.layers) attention = attention || l.type == "MultiheadAttention";
  if (attention) {
    w.open("class SelfAttention(nn.MultiheadAttention)");
    w.line("\"\"\"ltgen's MultiheadAttention: self-attention on (batch, T, E), causal when is_causal; given a");
    w.line("memory (batch, S, E), cross-attention: x's queries over the memory as key and value.\"\"\"");
    w.line();
    write_causal_init(w);
    w.open("def forward(self, x, memory=None, key_padding_mask=None)");
    w.line("kv = x if memory is None else memory");
    w.line("mask = nn.Transformer.generate_square_subsequent_mask(x.size(1)) if self.is_causal else None");
    w.line("return super().forward(x, kv, kv, key_padding_mask=key_padding_mask, need_weights=False, attn_mask=mask)[0]");
    w.close();
    w.close();
    w.line();
    w.line();
  }
  for (const bool decoder : {false, true}) {
    const std::string type = decoder ? "TransformerDecoderLayer" : "TransformerEncoderLayer";
    bool used = false;  // as a layer, or a TransformerEncoder's (-Decoder's) encoder_layer (decoder_layer)
    for (const LayerSpec& l : spec.layers)
      used = used || l.type == type || l.type == (decoder ? "TransformerDecoder" : "TransformerEncoder");
    if (!used) continue;
    w.open("class " + type + "(nn." + type + ")");
    w.line("\"\"\"ltgen's " + type + ": torch's on (batch, T, E), with a causal " + (decoder ? "tgt_mask" : "src_mask") +
           " when is_causal.\"\"\"");
    w.line();
    write_causal_init(w);
    // torch's forward signature, as torch's stacks call their layers (a nested tensor, in the
    // encoder's fast path, is never causal).
    if (decoder) {
      w.open("def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None, "
             "memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)");
      w.line("if self.is_causal and tgt_mask is None:");
      w.line("    tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.size(1))");
      w.line("return super().forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,");
      w.line("                       tgt_is_causal, memory_is_causal)");
    } else {
      w.open("def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False)");
      w.line("if self.is_causal and src_mask is None:");
      w.line("    src_mask = nn.Transformer.generate_square_subsequent_mask(src.size(1))");
      w.line("return super().forward(src, src_mask, src_key_padding_mask, is_causal)");
    }
    w.close();
    w.close();
    w.line();
    w.line();
  }
  for (const bool decoder : {false, true}) {
    const std::string type = decoder ? "TransformerDecoder" : "TransformerEncoder";
    bool used = false;
    for (const LayerSpec& l : spec.layers) used = used || l.type == type;
    if (!used) continue;
    // The script's layers mask themselves when is_causal; the encoder runs torch's forward (its
    // nested-tensor path in evaluation with a src_key_padding_mask), handing it their causal mask.
    w.open("class " + type + "(nn." + type + ")");
    w.line("\"\"\"torch's " + type + " over the script's " + type + "Layer, each masking itself when is_causal.\"\"\"");
    w.line();
    if (decoder) {
      w.open("def forward(self, x, memory, tgt_key_padding_mask=None, memory_key_padding_mask=None)");
      w.open("for layer in self.layers");
      w.line("x = layer(x, memory, tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask)");
      w.close();
      w.line("return x if self.norm is None else self.norm(x)");
    } else {
      w.open("def forward(self, x, src_key_padding_mask=None)");
      w.line("mask = nn.Transformer.generate_square_subsequent_mask(x.size(1)) if self.layers[0].is_causal else None");
      w.line("return super().forward(x, mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=False)");
    }
    w.close();
    w.close();
    w.line();
    w.line();
  }
  bool transformer = false;
  for (const LayerSpec& l : spec.layers) transformer = transformer || l.type == "Transformer";
  if (transformer) {
    w.open("class Transformer(nn.Transformer)");
    w.line("\"\"\"ltgen's Transformer: torch's on (batch, T, E), with causal masks when src_is_causal, tgt_is_causal.\"\"\"");
    w.line();
    w.open("def __init__(self, *args, src_is_causal=False, tgt_is_causal=False, **kwargs)");
    w.line("super().__init__(*args, **kwargs)");
    w.line("self.src_is_causal, self.tgt_is_causal = src_is_causal, tgt_is_causal");
    w.close();
    w.line();
    w.open("def forward(self, src, tgt, src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None)");
    w.line("causal = nn.Transformer.generate_square_subsequent_mask");
    w.line("src_mask = causal(src.size(1)) if self.src_is_causal else None");
    w.line("tgt_mask = causal(tgt.size(1)) if self.tgt_is_causal else None");
    w.line("return super().forward(src, tgt, src_mask=src_mask, tgt_mask=tgt_mask, src_key_padding_mask=src_key_padding_mask,");
    w.line("                       tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask)");
    w.close();
    w.close();
    w.line();
    w.line();
  }
  for (const char* type : {"RNN", "LSTM", "GRU"}) {
    bool used = false;
    for (const LayerSpec& l : spec.layers) used = used || l.type == type;
    if (!used) continue;
    const bool lstm = std::string(type) == "LSTM";
    w.open(std::string("class ") + type + "(nn." + type + ")");
    w.line(std::string("\"\"\"ltgen's ") + type + ": torch.nn." + type + ": forward returns the output sequence alone (from zero "
           "states);\n    with_states takes and returns the states batch first (h_n.transpose(0, 1)).\"\"\"");
    w.line();
    w.open("def forward(self, x)");
    w.line("return super().forward(x)[0]");
    w.close();
    w.line();
    w.open(std::string("def with_states(self, x") + (lstm ? ", h_0=None, c_0=None)" : ", h_0=None)"));
    w.line("# torch's states are (num_layers * num_directions, batch, hidden_size)");
    if (lstm) {
      w.line("hx = None if h_0 is None else (h_0.transpose(0, 1).contiguous(), c_0.transpose(0, 1).contiguous())");
      w.line("output, (h_n, c_n) = super().forward(x, hx)");
      w.line("return output, h_n.transpose(0, 1), c_n.transpose(0, 1)");
    } else {
      w.line("output, h_n = super().forward(x, None if h_0 is None else h_0.transpose(0, 1).contiguous())");
      w.line("return output, h_n.transpose(0, 1)");
    }
    w.close();
    w.close();
    w.line();
    w.line();
  }
  bool positions = false;
  for (const LayerSpec& l : spec.layers) positions = positions || l.type == "PositionalEmbedding";
  if (positions) {
    w.open("class PositionalEmbedding(nn.Embedding)");
    w.line("\"\"\"ltgen's PositionalEmbedding: nanoGPT's x + wpe(torch.arange(T)), N(0, 1) init as nn.Embedding.\"\"\"");
    w.line();
    w.open("def __init__(self, num_positions, embedding_dim)");
    w.line("super().__init__(num_positions, embedding_dim)");
    w.close();
    w.line();
    w.open("def forward(self, x)");
    w.line("return x + super().forward(torch.arange(x.size(1), device=x.device))");
    w.close();
    w.close();
    w.line();
    w.line();
  }
  bool reshape = false, transpose = false, narrow = false, select = false;
  std::set<std::string> reductions;  // Mean, Sum
  for (const LayerSpec& l : spec.layers) {
    if (l.type == "Mean" || l.type == "Sum") reductions.insert(l.type);
    reshape = reshape || l.type == "Reshape";
    transpose = transpose || l.type == "Transpose";
    narrow = narrow || l.type == "Narrow";
    select = select || l.type == "Select";
  }
  if (reshape) {
    w.open("class Reshape(nn.Module)");
    w.line("\"\"\"ltgen's Reshape: each sample to `shape` (one -1 inferred), the batch dimension kept.\"\"\"");
    w.line();
    w.open("def __init__(self, shape)");
    w.line("super().__init__()");
    w.line("self.shape = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)");
    w.close();
    w.line();
    w.open("def forward(self, x)");
    w.line("return x.reshape(x.size(0), *self.shape)");
    w.close();
    w.close();
    w.line();
    w.line();
  }
  if (transpose) {
    w.open("class Transpose(nn.Module)");
    w.line("\"\"\"ltgen's Transpose: torch.transpose(x, dim0, dim1) (dimension 0 is the batch), contiguous.\"\"\"");
    w.line();
    w.open("def __init__(self, dim0, dim1)");
    w.line("super().__init__()");
    w.line("self.dim0, self.dim1 = dim0, dim1");
    w.close();
    w.line();
    w.open("def forward(self, x)");
    w.line("return x.transpose(self.dim0, self.dim1).contiguous()");
    w.close();
    w.close();
    w.line();
    w.line();
  }
  if (narrow) {
    w.open("class Narrow(nn.Module)");
    w.line("\"\"\"ltgen's Narrow: x.narrow(dim, start, length) (dimension 0 is the batch).\"\"\"");
    w.line();
    w.open("def __init__(self, dim, start, length)");
    w.line("super().__init__()");
    w.line("self.dim, self.start, self.length = dim, start, length");
    w.close();
    w.line();
    w.open("def forward(self, x)");
    w.line("return x.narrow(self.dim, self.start, self.length)");
    w.close();
    w.close();
    w.line();
    w.line();
  }
  if (select) {
    w.open("class Select(nn.Module)");
    w.line("\"\"\"ltgen's Select: x.select(dim, index) (dimension 0 is the batch): x[:, -1] is dim 1, index -1.\"\"\"");
    w.line();
    w.open("def __init__(self, dim, index)");
    w.line("super().__init__()");
    w.line("self.dim, self.index = dim, index");
    w.close();
    w.line();
    w.open("def forward(self, x)");
    w.line("return x.select(self.dim, self.index)");
    w.close();
    w.close();
    w.line();
    w.line();
  }
  for (const std::string& type : reductions) {
    const std::string fn = type == "Mean" ? "mean" : "sum";
    w.open("class " + type + "(nn.Module)");
    w.line("\"\"\"ltgen's " + type + ": x." + fn + "(dim, keepdim) (dimension 0 is the batch).\"\"\"");
    w.line();
    w.open("def __init__(self, dim, keepdim=False)");
    w.line("super().__init__()");
    w.line("self.dim, self.keepdim = dim, keepdim");
    w.close();
    w.line();
    w.open("def forward(self, x)");
    w.line("return x." + fn + "(self.dim, keepdim=self.keepdim)");
    w.close();
    w.close();
    w.line();
    w.line();
  }
  w.open("class Model(pl.LightningModule)");
  w.open("def __init__(self)");
  w.line("super().__init__()");
  w.line("self.save_hyperparameters(HPARAMS)");
  if (const std::string attr = lr_finder_attribute(root); !attr.empty())  // LearningRateFinder sets it
    w.line("self." + attr + " = " + py(JsonValue::make_number(spec.optimizer.lr)) + "  # LearningRateFinder's update_attr");
  if (!spec.graph) {
    w.line("self.layers = nn.Sequential(");
    for (size_t i = 0; i < spec.layers.size(); ++i)
      w.line("    " + module(spec.layers[i], g, "layers." + std::to_string(i)) + ",");
    w.line(")");
  } else {
    for (const LayerSpec& l : spec.layers)
      if (!combines(l.type) && l.module.empty()) w.line("self." + l.name + " = " + module(l, g, l.name));
  }
  // Weight tying, as GPT writes it: one Parameter, two modules (state_dict shows it under both names).
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    auto tie = l.args.find("tie_weight");
    if (tie == l.args.end() || !l.module.empty()) continue;
    const std::string name = spec.graph ? l.name : "layers." + std::to_string(i);
    w.line("self." + attribute(name) + ".weight = self." + attribute(std::get<std::string>(tie->second)) + ".weight");
  }
  w.line("self.loss = " + module(spec.loss, g, "loss"));
  for (size_t k = 0; k < spec.metrics.size(); ++k) {
    if (!spec.metrics[k].module) continue;  // model.metrics' Metric objects, one per stage
    std::string args = metric_arguments(spec, k);
    // RelativeSquaredError's states have num_outputs columns, which its update adds to in place
    if (spec.metrics[k].name == "relative_squared_error" && !spec.target.shape.empty() && spec.target.shape[0] > 1)
      args = "num_outputs=" + std::to_string(spec.target.shape[0]) + (args.empty() ? "" : ", " + args);
    for (const char* stage : {"train", "val", "test"})
      w.line("self." + metric_object(stage, spec, k) + " = torchmetrics." + metric_class(spec.metrics[k].name) + "(" +
             args + ")");
  }
  if (!spec.freeze.empty()) {
    std::string list;
    for (const std::string& q : spec.freeze.patterns) list += (list.empty() ? "" : ", ") + ltrt::json::quote(q);
    w.line("# model.freeze: the parameters whose names match are not trained.");
    w.open("for name, p in self.named_parameters()");
    w.open("if any(fnmatch.fnmatchcase(name, q) for q in [" + list + "])");
    w.line("p.requires_grad_(False)");
    w.close();
    w.close();
  }
  w.close();
  w.line();
  if (spec.backbone_finetuning) {
    // The modules that hold the backbone's parameters directly, in state_dict order, those inside
    // another of them left out (BaseFinetuning walks each module's submodules).
    std::vector<std::string> owners;
    for (int p : g.params) {
      const Value& v = g.value(p);
      if (!v.backbone) continue;
      const std::string owner = v.torch_name.substr(0, v.torch_name.rfind('.'));
      const bool covered = std::any_of(owners.begin(), owners.end(), [&](const std::string& o) {
        return o == owner || owner.compare(0, o.size() + 1, o + ".") == 0;
      });
      if (!covered) owners.push_back(owner);
    }
    std::string list;
    for (const std::string& o : owners) list += (list.empty() ? "" : ", ") + ltrt::json::quote(o);
    w.line("@property");
    w.open("def backbone(self)");
    w.line("# model.backbone: the modules BackboneFinetuning freezes, then unfreezes at its epoch (a view");
    w.line("# made on each access, so that state_dict keeps the modules' own names).");
    w.line("return nn.ModuleList([self.get_submodule(name) for name in [" + list + "]])");
    w.close();
    w.line();
  }
  const std::string input = spec.inputs.at(0).name;
  std::string arguments;  // model.inputs in order: forward's arguments, as each batch holds them
  for (const InputSpec& in : spec.inputs) arguments += ", " + in.name;
  w.open("def forward(self" + arguments + ")");
  if (!spec.graph) {
    w.line("return self.layers(" + input + ")");
  } else {
    // A recurrent layer's "<node>.h_n" is the script's <node>_h_n (read_spec keeps those names free).
    auto python = [](std::string ref) {
      std::replace(ref.begin(), ref.end(), '.', '_');
      return ref;
    };
    std::set<std::string> read(spec.outputs.begin(), spec.outputs.end());
    for (const LayerSpec& l : spec.layers) read.insert(l.inputs.begin(), l.inputs.end());
    for (const LayerSpec& l : spec.layers) {
      std::vector<std::string> in;
      for (const std::string& i : l.inputs) in.push_back(python(i));
      std::string expr, assigned = l.name;
      const std::string self = "self." + (l.module.empty() ? l.name : l.module);
      bool states = false;  // a recurrent layer given initial states, or whose h_n or c_n is read
      for (const std::string& extra : find_layer(l.type)->extra_outputs) states = states || read.count(l.name + "." + extra);
      if (l.type == "Add") expr = in[0] + " + " + in[1];
      else if (l.type == "Mul") expr = in[0] + " * " + in[1];
      else if (l.type == "Concat") {
        expr = "torch.cat([";
        for (size_t k = 0; k < in.size(); ++k) expr += (k ? ", " : "") + in[k];
        expr += "], dim=" + py(l.args.at("dim")) + ")";
      } else if (recurrent(l.type) && (states || in.size() > 1)) {
        expr = self + ".with_states(";
        for (size_t k = 0; k < in.size(); ++k) expr += (k ? ", " : "") + in[k];
        expr += ")";
        for (const std::string& extra : find_layer(l.type)->extra_outputs) assigned += ", " + l.name + "_" + extra;
      } else {  // one input, or two (a query and its memory; Transformer's src and tgt), and masks
        expr = self + "(" + in.at(0) + (in.size() > 1 ? ", " + in[1] : "");
        for (const ArgDef& a : find_layer(l.type)->args)
          if (a.type == ArgType::value && l.args.count(a.name))
            expr += ", " + a.name + "=" + std::get<std::string>(l.args.at(a.name));
        expr += ")";
      }
      w.line(assigned + " = " + expr);
    }
    std::string returned;  // one value, or the tuple of a loss over several predictions
    for (const std::string& out : spec.outputs) returned += (returned.empty() ? "" : ", ") + python(out);
    w.line("return " + returned);
  }
  w.close();
  w.line();
  for (const char* stage : {"train", "val", "test"}) {
    const std::string fn = std::string(stage) == "train" ? "training" : std::string(stage) == "val" ? "validation" : "test";
    w.open("def " + fn + "_step(self, batch, batch_idx)");
    w.line(spec.target.none ? "xs = batch  # inputs only: the loss compares the predictions" : "*xs, y = batch");
    w.line("out = self(*xs)");
    if (spec.target.none)
      w.line(spec.outputs.size() > 1 ? "loss = self.loss(*out)" : "loss = self.loss(out)");
    else if (g.metric_output != g.output) {
      // torch's K-dimensional cross entropy reads logits (N, C, d1, ...) as they are; the metrics
      // below read each position's row of classes, as for a sequence's (N, T, C).
      w.line("loss = self.loss(out, y)");
      if (!spec.metrics.empty()) w.line("out = out.movedim(1, -1)");
    } else if (spec.target.dtype == DType::i64 && !spec.target.shape.empty() &&
               !find_layer(spec.loss.type)->class_lists && !find_layer(spec.loss.type)->label_sequences)
      // Sequence labels: torch wants the class dimension second; a Lightning user flattens.
      w.line("loss = self.loss(out.view(-1, " + std::to_string(spec.target.num_classes) + "), y.view(-1))");
    else if (spec.loss.type == "CrossEntropyLoss" && spec.target.dtype != DType::i64 && spec.target.shape.size() > 1)
      // Class probabilities per position: torch wants the class dimension second; a Lightning user flattens.
      w.line("loss = self.loss(out.reshape(-1, " + std::to_string(spec.target.shape.back()) + "), y.reshape(-1, " +
             std::to_string(spec.target.shape.back()) + "))");
    else if (spec.loss.type == "CTCLoss") {  // time first; every input T long, each target up to its first -1
      w.line("input_lengths = torch.full((out.shape[0],), out.shape[1], dtype=torch.long)");
      w.line("target_lengths = (y >= 0).cumprod(dim=1).sum(dim=1)");
      w.line("loss = self.loss(out.transpose(0, 1), y, input_lengths, target_lengths)");
    } else if (spec.loss.type == "GaussianNLLLoss")  // torch's order: (input, target, var)
      w.line("loss = self.loss(out[0], y, out[1])");
    else if (spec.outputs.size() > 1)
      w.line("loss = self.loss(*out, y)");
    else
      w.line("loss = self.loss(out, y)");
    // model.log (on_epoch is validation's and test's default already)
    const bool on_epoch = spec.log_on_epoch && std::string(stage) == "train";
    const std::string log_args =
        std::string(on_epoch ? ", on_epoch=True" : "") + (spec.sync_dist ? ", sync_dist=True" : "") + ")";
    w.line(std::string("self.log(\"") + stage + "_loss\", loss" + log_args);
    for (size_t k = 0; k < spec.metrics.size(); ++k) {  // model.metrics, as torchmetrics' functional ones compute them
      const MetricSpec& m = spec.metrics[k];
      const std::string& metric = m.name;
      std::string value;
      const std::string ignore_index = loss_ignore_index(spec);
      if (m.module) {  // a Metric object: its batch value logged, its compute() at the epoch's end
        const std::string object = "self." + metric_object(stage, spec, k);
        w.line(object + "(" +
               (compares_values(metric)  ? value_inputs(spec, metric)
                : metric == "exact_match" ? exact_match_inputs(spec)
                                          : metric_inputs(spec)) +
               ")");
        value = "_" + log_name(spec, k) + "\", " + object;
      } else if (metric == "accuracy" && (m.top_k > 1 || m.average != "micro")) {
        // torchmetrics' top_k accuracy, or its macro or weighted average
        value = "_" + metric_suffix(metric, m.top_k) + "\", tmf.accuracy(" + metric_inputs(spec) + ", " +
                metric_arguments(spec, k) + ")";
      } else if (metric == "accuracy" && spec.target.dtype == DType::i64 &&
                 (spec.loss.type == "CrossEntropyLoss" ||
                  spec.loss.type == "NLLLoss"))  // their ignored targets do not count
        value = "_acc\", (out.argmax(dim=-1) == y)[y != " + ignore_index + "].float().mean()";
      else if (metric == "accuracy")
        value = spec.target.dtype == DType::i64 ? "_acc\", (out.argmax(dim=-1) == y).float().mean()"
                                                : "_acc\", ((out > 0) == (y > 0.5)).float().mean()";
      else if (metric == "mean_absolute_error")
        value = "_mae\", nn.functional.l1_loss(out, y)";
      else if (metric == "mean_squared_error" && m.root)
        value = "_rmse\", tmf.mean_squared_error(out, y, squared=False)";
      else if (metric == "mean_squared_error")
        value = "_mse\", nn.functional.mse_loss(out, y)";
      else if (metric == "mean_absolute_percentage_error" || metric == "mean_squared_log_error" ||
               metric == "symmetric_mean_absolute_percentage_error" || metric == "log_cosh_error" ||
               metric == "weighted_mean_absolute_percentage_error" || metric == "pearson_corrcoef" ||
               metric == "concordance_corrcoef" || metric == "spearman_corrcoef")
        value = "_" + metric_suffix(metric) + "\", tmf." + metric + "(out, y)";
      else if (metric == "critical_success_index")
        value = "_csi\", tmf.critical_success_index(out, y, " + metric_arguments(spec, k) + ")";
      else if (metric == "exact_match")
        value = "_exact_match\", tmf.exact_match(" + exact_match_inputs(spec) + ", " + metric_arguments(spec, k) + ")";
      else if (metric == "kendall_rank_corrcoef") {
        const std::string args = metric_arguments(spec, k);
        value = "_kendall\", tmf.kendall_rank_corrcoef(" + value_inputs(spec, metric) + (args.empty() ? "" : ", " + args) + ")";
      }
      else if (metric == "r2_score" || metric == "explained_variance" || metric == "relative_squared_error" ||
               metric == "cosine_similarity") {
        const std::string args = metric_arguments(spec, k);
        value = "_" + log_name(spec, k) + "\", tmf." + metric + "(out, y" + (args.empty() ? "" : ", " + args) + ")";
      }
      else  // the stat-score metrics, auroc, average_precision: torchmetrics' own
        value = "_" + metric_suffix(metric, m.top_k) + "\", tmf." + metric + "(" + metric_inputs(spec) + ", " +
                metric_arguments(spec, k) + ")";
      w.line(std::string("self.log(\"") + stage + value + log_args);
    }
    w.line("return loss");
    w.close();
    w.line();
  }
  if (spec.predict.source == "prompt") {
    // nanoGPT's sample.py: the last block_size tokens, the last position's logits / temperature,
    // cut to the top_k likeliest, softmax, one draw (ltgen's own generator draws other numbers).
    const std::string block = std::to_string(spec.inputs.at(0).shape.at(0));
    w.open("def generate(self, ids, max_new_tokens, temperature, top_k)");
    w.line("self.eval()");
    w.open("with torch.no_grad()");
    w.open("for _ in range(max_new_tokens)");
    w.line("window = ids[:, -" + block + ":]");
    w.line("used = window.shape[1]");
    w.line("# right-padded to block_size: the model is causal, so the padding is never read");
    w.line("padded = torch.cat([window, window.new_zeros(1, " + block + " - used)], dim=1)");
    w.line("logits = self(padded)[:, used - 1, :] / temperature");
    w.open("if top_k");
    w.line("v, _ = torch.topk(logits, min(top_k, logits.size(-1)))");
    w.line("logits[logits < v[:, [-1]]] = -float(\"inf\")");
    w.close();
    w.line("ids = torch.cat([ids, torch.multinomial(torch.softmax(logits, dim=-1), 1)], dim=1)");
    w.close();
    w.close();
    w.line("return ids");
    w.close();
  } else {
    w.open("def predict_step(self, batch, batch_idx)");
    w.line("return self(*batch)");
    w.close();
  }
  w.line();
  w.open("def configure_optimizers(self)");
  const OptimizerSpec& o = spec.optimizer;
  std::string args;
  for (const OptimizerArg& a : optimizer_args(o.type, o)) args += (args.empty() ? "" : ", ") + a.key + "=" + python_value(a);
  if (o.param_groups.empty()) {
    // (BackboneFinetuning froze the backbone in setup, before configure_optimizers.)
    const std::string params = spec.freeze.empty() && !spec.backbone_finetuning
                                   ? "self.parameters()"
                                   : "[p for p in self.parameters() if p.requires_grad]";
    w.line("optimizer = torch.optim." + o.type + "(" + params + ", " + args + ")");
  } else {
    // ltgen's optimizer.param_groups: each parameter joins the first group one of whose patterns
    // matches its name (fnmatch), groups in order.
    std::string patterns, groups;
    for (const ParamGroupSpec& group : o.param_groups) {
      std::string list;
      for (const std::string& p : group.params.patterns) list += (list.empty() ? "" : ", ") + ltrt::json::quote(p);
      patterns += (patterns.empty() ? "" : ", ") + std::string("[") + list + "]";
      std::string own;  // what the group sets apart from the optimizer's lr and weight_decay
      for (const OptimizerArg& a : group_own_args(o.type, group.options, o)) own += ", \"" + a.key + "\": " + python_value(a);
      groups += std::string(groups.empty() ? "" : ", ") + "{\"params\": [], \"lr\": " +
                ltrt::python_repr(group.options.lr) + ", \"weight_decay\": " +
                ltrt::python_repr(group.options.weight_decay) + own +
                (group.name.empty() ? "" : ", \"name\": " + ltrt::json::quote(group.name)) + "}";
    }
    w.line("# Each parameter joins the first group one of whose patterns matches its name.");
    w.line("patterns = [" + patterns + "]");
    w.line("groups = [" + groups + "]");
    w.open("for name, p in self.named_parameters()");
    if (!spec.freeze.empty() || spec.backbone_finetuning)
      w.line("if not p.requires_grad: continue  # frozen (model.freeze, or the backbone until unfrozen): in no group");
    w.line("first = next(i for i, group in enumerate(patterns) if any(fnmatch.fnmatchcase(name, q) for q in group))");
    w.line("groups[first][\"params\"].append(p)");
    w.close();
    w.line("optimizer = torch.optim." + o.type + "(groups, " + args + ")");
  }
  if (const auto& sched = spec.trainer.scheduler) {
    // ChainedScheduler takes only its schedulers (their optimizer is its optimizer); the others the
    // optimizer first.
    std::string sargs = sched->type == "ChainedScheduler" ? "" : "optimizer";
    for (const auto& [k, v] : sched->args.members) {
      if ((sched->type == "SequentialLR" || sched->type == "ChainedScheduler") && k == "schedulers") {
        std::string list = "[";
        for (size_t i = 0; i < v.items.size(); ++i) {
          const JsonValue& inner = v.items[i];
          const JsonValue* type = inner.find("type");
          list += (i ? ", " : "") + std::string("torch.optim.lr_scheduler.") + (type ? type->str : "") + "(optimizer";
          for (const auto& [ik, iv] : inner.members)
            if (ik != "type") list += ", " + ik + "=" + scheduler_arg(type ? type->str : "", ik, iv);
          list += ")";
        }
        sargs += (sargs.empty() ? "" : ", ") + std::string("schedulers=") + list + "]";
        continue;
      }
      sargs += (sargs.empty() ? "" : ", ") + k + "=" + scheduler_arg(sched->type, k, v);
    }
    w.line("scheduler = torch.optim.lr_scheduler." + sched->type + "(" + sargs + ")");
    std::string config = "{\"scheduler\": scheduler, \"interval\": " + ltrt::json::quote(spec.trainer.scheduler_interval) +
                         ", \"frequency\": " + std::to_string(spec.trainer.scheduler_frequency);
    if (!spec.trainer.scheduler_monitor.empty())
      config += ", \"monitor\": " + ltrt::json::quote(spec.trainer.scheduler_monitor);
    config += ", \"strict\": " + std::string(spec.trainer.scheduler_strict ? "True" : "False");
    if (!spec.trainer.scheduler_name.empty()) config += ", \"name\": " + ltrt::json::quote(spec.trainer.scheduler_name);
    config += "}";
    w.line("return {\"optimizer\": optimizer, \"lr_scheduler\": " + config + "}");
  } else {
    w.line("return optimizer");
  }
  w.close();
  w.close();
  w.line();
  w.line();

  const std::pair<const char*, const DataSourceSpec*> splits[] = {
      {"train", &spec.train}, {"val", &spec.val}, {"test", &spec.test}, {"predict", &spec.predict}};
  if (transformed) {
    w.open("class Transformed(torch.utils.data.Dataset)");
    w.line(
        "\"\"\"A split's samples, each input passed through the split's torchvision transforms as it is "
        "fetched.\"\"\"");
    w.line();
    w.open("def __init__(self, data, transform)");
    w.line("self.data, self.transform = data, transform");
    w.close();
    w.line();
    w.open("def __len__(self)");
    w.line("return len(self.data)");
    w.close();
    w.line();
    w.open("def __getitem__(self, i)");
    w.line("x, *rest = self.data[i]");
    w.line("return (self.transform(x), *rest)");
    w.close();
    w.close();
    w.line();
    w.line();
  }
  // A split's Dataset: its tensors, through its transforms where it has some.
  const auto dataset = [](const std::string& split, const DataSourceSpec& source) {
    const std::string tensors = "TensorDataset(*self." + split + "_tensors())";
    if (source.transforms.empty()) return tensors;
    std::string list;
    for (size_t i = 0; i < source.transforms.size();)
      list += (list.empty() ? "" : ", ") + transform_py(source.transforms, i);
    return "Transformed(" + tensors + ", transforms.Compose([" + list + "]))";
  };

  w.open("class Data(pl.LightningDataModule)");
  for (int i = 0; i < 4; ++i) {
    const auto& [split, source] = splits[i];
    if (!source->source.empty() && source->source != "prompt")
      emit_source(w, split, i, *source, spec, std::string(split) != "predict" && !spec.target.none);
  }
  // DataLoader's own arguments after the batch size: its workers, where the spec has some.
  const std::string batch =
      std::to_string(spec.batch_size) +
      (spec.num_workers > 0 ? ", num_workers=" + std::to_string(spec.num_workers) : "") +
      (spec.persistent_workers ? ", persistent_workers=True" : "") +
      (spec.prefetch_factor > 0 ? ", prefetch_factor=" + std::to_string(spec.prefetch_factor) : "") +
      (spec.pin_memory ? ", pin_memory=True" : "");
  w.open("def train_dataloader(self)");
  w.line("return DataLoader(" + dataset("train", spec.train) + ", batch_size=" + batch +
         ", shuffle=" + (spec.shuffle ? "True" : "False") + ", drop_last=" + (spec.drop_last ? "True" : "False") + ")");
  w.close();
  for (const auto& [split, source] : splits) {
    if (std::string(split) == "train" || source->source.empty() || source->source == "prompt") continue;
    w.line();
    w.open(std::string("def ") + split + "_dataloader(self)");
    w.line("return DataLoader(" + dataset(split, *source) + ", batch_size=" + batch + ")");
    w.close();
  }
  w.close();
  w.line();
  w.line();

  w.open("def trainer(**overrides)");
  w.line("args = dict(");
  if (const JsonValue* t = root.find("trainer")) {
    for (const auto& [k, v] : t->members) {
      if (k == "callbacks") {
        std::string list = "[";
        if (v.kind == ltrt::json::Kind::array)
          for (size_t i = 0; i < v.items.size(); ++i) list += (i ? ", " : "") + instance(v.items[i], "callbacks.");
        else
          list += instance(v, "callbacks.");
        w.line("    callbacks=" + list + "],");
      } else if (k == "profiler" && v.kind == ltrt::json::Kind::object) {
        w.line("    profiler=" + instance(v, "profilers.") + ",");
      } else if (k == "logger" && v.kind == ltrt::json::Kind::object) {
        w.line("    logger=" + instance(v, "loggers.") + ",");
      } else if (k == "logger" && v.kind == ltrt::json::Kind::array) {
        std::string list = "[";
        for (size_t i = 0; i < v.items.size(); ++i) list += (i ? ", " : "") + instance(v.items[i], "loggers.");
        w.line("    logger=" + list + "],");
      } else if (k == "logger") {
        w.line("    logger=" + py(v) + ",");
      } else {
        w.line("    " + k + "=" + py(v) + ",");
      }
    }
  }
  w.line(")");
  w.line("args.update(overrides)");
  w.open("if args.get(\"logger\", True) is True");
  w.line("root = args.get(\"default_root_dir\") or \".\"");
  w.line("csv = loggers.CSVLogger(root)  # both in one lightning_logs/version_N, as ltgen writes them");
  w.line("args[\"logger\"] = [csv, loggers.TensorBoardLogger(root, version=csv.version)]");
  w.close();
  w.line("return pl.Trainer(**args)");
  w.close();
  w.line();
  w.line();
  w.open("if __name__ == \"__main__\"");
  w.line("parser = argparse.ArgumentParser()");
  w.line("parser.add_argument(\"--init_weights\", help=\"a safetensors file of model.state_dict() tensors\")");
  w.line("parser.add_argument(\"--default_root_dir\")");
  w.line("cli = parser.parse_args()");
  w.line("pl.seed_everything(" + std::to_string(spec.trainer.seed) +
         (spec.trainer.seed_workers ? ", workers=True" : "") + ")");
  if (spec.float32_matmul_precision != "highest")
    w.line("torch.set_float32_matmul_precision(\"" + spec.float32_matmul_precision + "\")");
  w.line("model = Model()");
  w.open("if cli.init_weights");
  w.line("from safetensors.torch import load_file");
  w.line("weights = {k.removeprefix(\"state_dict.\"): v for k, v in load_file(cli.init_weights).items()");
  w.line("           if not k.startswith(\"optimizer.\")}");
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    auto tie = spec.layers[i].args.find("tie_weight");
    if (tie == spec.layers[i].args.end() || !spec.layers[i].module.empty()) continue;
    // ltgen's files name a tied weight once (its owner's name), as safetensors' save_model does.
    const std::string name = spec.graph ? spec.layers[i].name : "layers." + std::to_string(i);
    w.line("weights.setdefault(\"" + name + ".weight\", weights[\"" + std::get<std::string>(tie->second) +
           ".weight\"])  # tied");
  }
  for (const auto& [name, value] : spec.loss.args)  // the loss's constants come from the spec, not ltgen's files
    if (std::holds_alternative<std::vector<double>>(value))
      w.line("weights.setdefault(\"loss." + name + "\", model.loss." + name + ")");
  w.line("model.load_state_dict(weights, strict=True)");
  w.close();
  w.line("overrides = {\"default_root_dir\": cli.default_root_dir} if cli.default_root_dir else {}");
  w.line("trainer(**overrides).fit(model, datamodule=Data())");
  if (spec.predict.source == "prompt") {
    const DataSourceSpec& p = spec.predict;
    w.line("vocab = np.unique(np.frombuffer(read_text(" + ltrt::json::quote(spec.train.path) + "), dtype=np.uint8))");
    w.line("table = {int(b): i for i, b in enumerate(vocab)}");
    w.line("prompt = " + ltrt::json::quote(p.prompt) + ".encode(\"utf-8\")  # the bytes ltgen reads");
    w.line("ids = torch.tensor([[table[b] for b in prompt]])");
    w.line("out = model.generate(ids, " + std::to_string(p.max_new_tokens) + ", " + ltrt::python_repr(p.temperature) +
           ", " + std::to_string(p.top_k) + ")");
    w.line("print(bytes(vocab[out[0].numpy()]).decode(\"utf-8\", errors=\"replace\"))");
  }
  w.close();
  return w.str();
}

}  // namespace ltgen
