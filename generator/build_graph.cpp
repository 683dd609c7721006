#include "build_graph.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <set>

#include "diagnostics.hpp"
#include "ltrt/metrics.hpp"
#include "init_program.hpp"
#include "name_patterns.hpp"
#include "op.hpp"

namespace ltgen {

namespace {

// One number per sample: torch's (batch,), as CosineSimilarity and PairwiseDistance make of (batch, D).
bool per_sample_scalar(const Value& v) { return v.batched && v.shape.size() == 1 && v.kind != ValueKind::target; }

// The layers that take such values: elementwise ones (any shape), Add and Mul (with another of the
// same shape), Reshape (to give them dimensions). The others read a dimension that is not there.
const char* kScalarReaders = "which in ltgen only elementwise layers (activations, Dropout, Identity), Add, Mul and Reshape "
                             "read";
bool reads_per_sample_scalars(const std::string& type) {
  static const std::set<std::string> kReaders = {
      "ReLU", "ReLU6", "LeakyReLU", "ELU", "CELU", "SELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh", "Softplus",
      "Softsign", "Hardtanh", "Hardswish", "Hardsigmoid", "Hardshrink", "Softshrink", "Tanhshrink", "Threshold",
      "LogSigmoid", "Identity", "Dropout", "AlphaDropout", "Add", "Mul", "Reshape"};
  return kReaders.count(type) > 0;
}

// torch's K-dimensional class logits (batch, C, d1, ..., dk) for CrossEntropyLoss or NLLLoss, moved
// to (batch, d1, ..., dk, C): the rows of classes that the loss and the metrics read, as they read a
// sequence's (batch, T, C). One copy (a transpose of the classes and the positions, which are views
// of the flattened dimensions before and after); its gradient is the same copy back.
int classes_last(Graph& g, const Spec& spec, int logits) {
  const Shape shape = g.value(logits).shape;
  const std::int64_t classes = shape[1];
  const Shape positions(shape.begin() + 2, shape.end());
  auto add = [&](const std::string& op, const std::string& name, int in, Attrs attrs) {
    Node n;
    n.op = op;
    n.layer = "move_classes_last";
    n.source = spec.loss.source;
    n.attrs = std::move(attrs);
    n.inputs = {in};
    return g.nodes[static_cast<size_t>(add_op(g, std::move(n), name))].outputs[0];
  };
  int x = logits;
  if (positions.size() > 1)
    x = add("view", "logits_flat", x, {{"shape", std::vector<std::int64_t>{classes, numel(positions)}}});
  x = add("transpose", "classes_last", x, {{"dim0", std::int64_t{1}}, {"dim1", std::int64_t{2}}});
  if (positions.size() > 1) {
    std::vector<std::int64_t> rows(positions.begin(), positions.end());
    rows.push_back(classes);
    x = add("view", "logits_rows", x, {{"shape", rows}});
  }
  return x;
}

bool losses_per_sample_scalars(const LayerSpec& loss) {
  static const std::set<std::string> kLosses = {"MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss",
                                                "BCEWithLogitsLoss", "SoftMarginLoss", "HingeEmbeddingLoss",
                                                "PoissonNLLLoss", "MarginRankingLoss"};
  return kLosses.count(loss.type) > 0 && !loss.args.count("weight") && !loss.args.count("pos_weight");
}

// The module that holds a parameter directly: its name up to the last dot ("layers.1" of
// "layers.1.weight"), the granularity BaseFinetuning freezes and unfreezes at (flatten_modules).
std::string owner_module(const std::string& torch_name) { return torch_name.substr(0, torch_name.rfind('.')); }

// model.backbone with a BackboneFinetuning: marks its parameters, and those of the group the
// callback adds (BatchNorm's stay in the configured groups under train_bn: BaseFinetuning.freeze
// leaves them trainable); frozen ones (model.freeze) and partly named modules are refused.
void mark_backbone(const Spec& spec, Graph& g) {
  std::vector<std::string> names;
  for (int p : g.params) names.push_back(g.value(p).torch_name);
  const std::vector<bool> hit = match_names(spec, spec.backbone, names);
  std::map<std::string, const LayerSpec*> layer_of;  // module name -> its layer
  for (size_t i = 0; i < spec.layers.size(); ++i)
    layer_of[spec.graph ? spec.layers[i].name : "layers." + std::to_string(i)] = &spec.layers[i];
  std::map<std::string, size_t> first_of;  // module name -> its first parameter
  const ltrt::json::Pos at = spec.backbone.pos[0];
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string module = owner_module(names[i]);
    const size_t first = first_of.emplace(module, i).first->second;
    if (hit[i] != hit[first])
      throw SpecError(spec.path, at, "model.backbone",
                      "names " + names[hit[i] ? i : first] + " but not " + names[hit[i] ? first : i] +
                          ": the backbone is whole modules (Lightning's pl_module.backbone, which BackboneFinetuning "
                          "freezes and unfreezes module by module); name every parameter of " + module + " (\"" +
                          module + ".*\") or none");
    if (!hit[i]) continue;
    Value& v = g.value(g.params[i]);
    if (v.frozen)
      throw SpecError(spec.path, at, "model.backbone",
                      names[i] + " is frozen by model.freeze too, and BackboneFinetuning unfreezes the whole backbone "
                                 "at its epoch: leave it out of one of them");
    const auto layer = layer_of.find(module);
    const bool batch_norm = layer != layer_of.end() && layer->second->type.rfind("BatchNorm", 0) == 0;
    if (batch_norm && !spec.backbone_train_bn)
      throw SpecError(spec.path, at, "model.backbone",
                      "holds " + layer->second->source + " (" + layer->second->type +
                          "), and BackboneFinetuning with train_bn false is not supported yet over BatchNorm (its "
                          "freeze stops the running statistics too): keep train_bn true, or leave the BatchNorm out");
    v.backbone = true;
    v.joins_late = !batch_norm;
  }
  const auto any = [&](auto pred) { return std::any_of(g.params.begin(), g.params.end(), [&](int p) { return pred(g.value(p)); }); };
  if (!any([](const Value& v) { return !v.frozen && !v.joins_late; }))
    throw SpecError(spec.path, at, "model.backbone",
                    "holds every parameter that trains: configure_optimizers would get none before the backbone is "
                    "unfrozen (torch: 'optimizer got an empty parameter list'); leave the head out of it");
  if (!any([](const Value& v) { return v.joins_late; }))
    throw SpecError(spec.path, at, "model.backbone",
                    "holds BatchNorm parameters only, which train_bn keeps training from the start: there is "
                    "nothing for BackboneFinetuning to unfreeze");
}

}  // namespace

Graph build_graph(const Spec& spec) {
  Graph g;
  g.batch_size = spec.batch_size;
  const std::int64_t b = spec.batch_size;

  for (const InputSpec& in : spec.inputs) {
    Value v;
    v.name = in.name;
    v.dtype = in.dtype;
    v.shape = {b};
    v.shape.insert(v.shape.end(), in.shape.begin(), in.shape.end());
    v.batched = true;
    v.kind = ValueKind::input;
    g.inputs.push_back(g.add_value(std::move(v)));
  }
  {
    Value t;
    t.name = "target";
    t.dtype = spec.target.dtype;
    t.shape = {b};
    t.shape.insert(t.shape.end(), spec.target.shape.begin(), spec.target.shape.end());
    if (spec.target.none) t.shape.push_back(0);  // no targets: nothing per sample (the loader copies none)
    t.batched = true;
    t.kind = ValueKind::target;
    g.target = g.add_value(std::move(t));
  }

  // model.layers is a chain named like nn.Sequential; model.graph names its own
  // nodes, and each reads the values it names.
  std::map<std::string, int> named;
  for (size_t i = 0; i < spec.inputs.size(); ++i) named[spec.inputs[i].name] = g.inputs[i];
  std::set<std::string> referenced(spec.outputs.begin(), spec.outputs.end());  // the values nodes and forward read
  for (const LayerSpec& l : spec.layers) referenced.insert(l.inputs.begin(), l.inputs.end());
  int x = g.inputs.at(0);
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const std::string module = spec.graph ? l.name : "layers." + std::to_string(i);
    std::vector<int> in = {x};
    if (spec.graph) {
      in.clear();
      for (const std::string& n : l.inputs) in.push_back(named.at(n));
    }
    for (int v : in)
      if (per_sample_scalar(g.value(v)) && !reads_per_sample_scalars(l.type))
        throw SpecError(spec.path, l.pos, l.source,
                        l.type + ": its input '" + g.value(v).name + "' is one number per sample (torch's (batch,)), " +
                            kScalarReaders + ": give it a dimension first, {\"type\": \"Reshape\", \"shape\": [1]}");
    LayerBuild ctx{g, module, l.source, l.args};
    ctx.sync_batchnorm = spec.trainer.syncs_batch_norm();
    for (const std::string& extra : find_layer(l.type)->extra_outputs)  // "<node>.h_n" read later on
      if (spec.graph && referenced.count(l.name + "." + extra)) ctx.wanted_outputs.insert(extra);
    for (const ArgDef& a : find_layer(l.type)->args)  // forward's masks: model inputs (read_spec checked)
      if (a.type == ArgType::value && l.args.count(a.name))
        ctx.values[a.name] = named.at(std::get<std::string>(l.args.at(a.name)));
    const std::size_t params = g.params.size(), init_steps = g.init_steps.size();
    if (!l.module.empty()) {  // an earlier node's module again: its parameters, drawn once already
      g.reuse_as = module + ".";
      g.reuse_of = l.module + ".";
    }
    try {
      x = find_layer(l.type)->build(ctx, in);
      if (!l.module.empty()) {
        g.reuse_as.clear();
        g.reuse_of.clear();
        if (g.params.size() != params) throw std::logic_error("a module applied again made parameters");
        g.init_steps.resize(init_steps);  // (a tied weight's discarded draw, say: torch drew at construction)
      }
      complete_init(g);  // the layer's parameters that it drew in state_dict order
      g.layer_outputs.push_back(x);
      if (spec.graph) named[l.name] = x;
      for (const auto& [extra, value] : ctx.outputs) named[l.name + "." + extra] = value;
    } catch (const ShapeError& e) {
      throw SpecError(spec.path, l.pos, l.source, l.type + ": " + e.what());
    }
  }
  std::vector<int> predictions = {x};  // what forward returns, which the loss reads
  if (spec.graph) {
    predictions.clear();
    for (const std::string& out : spec.outputs) predictions.push_back(named.at(out));
    x = predictions[0];
  }

  // A bool input is a mask: only key_padding_mask arguments take it (their additive_mask nodes).
  for (const Node& n : g.nodes)
    for (int in : n.inputs) {
      if (g.value(in).dtype != DType::u8 || g.value(in).kind != ValueKind::input || n.op == "additive_mask") continue;
      for (const LayerSpec& l : spec.layers)
        if (l.source == n.source)
          throw SpecError(spec.path, l.pos, l.source,
                          l.type + ": model.inputs." + g.value(in).name +
                              " is bool (a mask), which only a key_padding_mask argument takes: declare it float32 to "
                              "compute with it");
    }
  // An int64 input holds indices: only an Embedding reads them (a Flatten may reshape them first).
  for (const Node& n : g.nodes)
    for (int in : n.inputs) {
      if (g.value(in).dtype != DType::i64 || n.op == "embedding" || n.op == "view") continue;
      if (g.value(in).kind == ValueKind::state) continue;  // BatchNorm's num_batches_tracked
      for (const LayerSpec& l : spec.layers)
        if (l.source == n.source)
          throw SpecError(spec.path, l.pos, l.source,
                          l.type + ": model.inputs." + g.value(g.root(in)).name +
                              " is int64 (indices), which only Embedding takes: start with an Embedding layer "
                              "or declare the input float32");
    }

  const Value pred = g.value(x);  // (a copy: classes_last below adds values)
  const int model_output = x;
  if (find_layer(spec.loss.type)->class_lists) {  // targets (batch, C) of classes, -1 ending a row
    const std::int64_t c = pred.shape.back();
    if (spec.target.dtype != DType::i64 || spec.target.num_classes != c || spec.target.shape != Shape{c})
      throw SpecError(spec.path, spec.loss.pos, spec.loss.source,
                      spec.loss.type + " on scores " + shape_str(pred.shape) + " needs each sample's classes as int64, "
                      "ended by -1: \"model.target\": {\"dtype\": \"int64\", \"num_classes\": " + std::to_string(c) +
                      ", \"shape\": [" + std::to_string(c) + "]}");
  } else if (find_layer(spec.loss.type)->label_sequences) {
    // Label sequences (batch, S) of their own length: the loss's builder checks them against the output.
    if (spec.target.dtype != DType::i64 || spec.target.num_classes != pred.shape.back() || spec.target.shape.size() != 1)
      throw SpecError(spec.path, spec.loss.pos, spec.loss.source,
                      spec.loss.type + " on log-probabilities " + shape_str(pred.shape) + " needs each sample's labels "
                      "as int64, ended by -1: \"model.target\": {\"dtype\": \"int64\", \"num_classes\": " +
                          std::to_string(pred.shape.back()) + ", \"shape\": [S]} (S: the longest label sequence)");
  } else if (spec.target.dtype == DType::i64 && predictions.size() == 1) {  // (a pair loss says what it needs itself)
    // Logits (batch, *target.shape, num_classes): one label per position of the target.
    Shape want = {spec.batch_size};
    want.insert(want.end(), spec.target.shape.begin(), spec.target.shape.end());
    want.push_back(spec.target.num_classes);
    // Or torch's own K-dimensional form, (batch, num_classes, *target.shape), as a segmentation
    // model's (N, C, H, W) logits: CrossEntropyLoss and NLLLoss read the class dimension second.
    Shape classes_second = {spec.batch_size, spec.target.num_classes};
    classes_second.insert(classes_second.end(), spec.target.shape.begin(), spec.target.shape.end());
    const bool k_dim_loss = spec.loss.type == "CrossEntropyLoss" || spec.loss.type == "NLLLoss";
    if (k_dim_loss && !spec.target.shape.empty() && pred.shape != want && pred.shape == classes_second) {
      x = classes_last(g, spec, x);
      predictions[0] = x;
    } else if (pred.shape.size() != want.size() || pred.shape.back() != spec.target.num_classes)
      throw SpecError(spec.path, spec.loss.pos, spec.loss.source,
                      "the model's output " + shape_str(pred.shape) + " does not match num_classes=" +
                          std::to_string(spec.target.num_classes) + " of model.target: the last layer needs " +
                          std::to_string(spec.target.num_classes) + " outputs" +
                          (spec.target.shape.empty() ? std::string() : " at each of the target's positions") +
                          (k_dim_loss && !spec.target.shape.empty()
                               ? " (logits " + shape_str(want) + ", or " + shape_str(classes_second) +
                                     " with the classes second as torch's " + spec.loss.type + " reads them)"
                               : std::string()));
    else if (pred.shape != want)
      throw SpecError(spec.path, spec.loss.pos, spec.loss.source,
                      "the model's output " + shape_str(pred.shape) + " does not match model.target: labels of shape " +
                          shape_str(spec.target.shape) + " per sample need logits " + shape_str(want) +
                          (k_dim_loss ? " (or, the classes second as torch's " + spec.loss.type + " reads them, " +
                                            shape_str(classes_second) + ")"
                                      : std::string()));
  }
  g.output = model_output;
  g.metric_output = x;
  for (size_t k = 0; k < spec.metrics.size(); ++k) {
    const MetricSpec& m = spec.metrics[k];
    const std::string& metric = m.name;
    const std::string where = "model.metrics[" + std::to_string(k) + "]";
    auto refuse = [&](const std::string& why) { throw SpecError(spec.path, m.pos, where, why); };
    if (predictions.size() > 1)
      refuse(metric + " reads one prediction, but model.output names " + std::to_string(predictions.size()) + " nodes");
    if (metric == "accuracy" || stat_score_metric(metric) || metric == "auroc" || metric == "average_precision" ||
        metric == "exact_match") {
      // Classifications: the argmax of class logits against a class, or a binary logit.
      if (find_layer(spec.loss.type)->class_lists || find_layer(spec.loss.type)->label_sequences)
        refuse(metric + " compares one class per sample with the argmax; " + spec.loss.type + "'s targets list several");
      if (spec.target.dtype != DType::i64 && spec.loss.type != "BCEWithLogitsLoss")
        refuse(metric + " needs class targets ({\"dtype\": \"int64\", \"num_classes\": K}) or BCEWithLogitsLoss");
      if (m.top_k > 1) {  // torchmetrics' multiclass top_k, at most num_classes
        if (spec.target.dtype != DType::i64)
          refuse("a top_k needs class targets ({\"dtype\": \"int64\", \"num_classes\": K}); torchmetrics' binary "
                 "metrics have none: remove it");
        if (m.top_k > spec.target.num_classes)
          refuse("top_k " + std::to_string(m.top_k) + " is more than the " + std::to_string(spec.target.num_classes) +
                 " classes (torchmetrics refuses it): use at most " + std::to_string(spec.target.num_classes));
      }
      if (metric == "cohen_kappa" && spec.target.dtype == DType::i64 && spec.target.num_classes > ltrt::kMaxKappaClasses)
        refuse("cohen_kappa over more than " + std::to_string(ltrt::kMaxKappaClasses) + " classes (the model has " +
               std::to_string(spec.target.num_classes) + ") is not supported yet: the GPU sums its C x C expected "
               "matrix in one thread; matthews_corrcoef reads the same counts without that matrix");
      // BCEWithLogitsLoss's labels are torchmetrics' multilabel exact match: a sample's row of at least two.
      if (metric == "exact_match" && spec.target.dtype != DType::i64 && spec.target.shape.size() != 1)
        refuse(
            "exact_match over BCEWithLogitsLoss's labels takes a row of labels per sample, targets (N, L), but "
            "the target is " +
            shape_str(spec.target.shape) + " per sample: give model.target one dimension" +
            (spec.target.shape.empty() ? " (with one label a sample, use accuracy)" : ""));
      if (metric == "exact_match" && spec.target.dtype != DType::i64 && spec.target.shape[0] < 2)
        refuse(
            "exact_match over one label per sample is not supported: torchmetrics' multilabel exact match "
            "raises below two labels; use accuracy");
      // torchmetrics' binary accuracy has no average.
      if (metric == "accuracy" && m.average != "micro" && spec.target.dtype != DType::i64)
        refuse("accuracy's \"average\" needs class targets ({\"dtype\": \"int64\", \"num_classes\": K}); "
               "torchmetrics' binary accuracy has none: remove it");
      // The scores, accuracy's averages and a Metric object's epoch count each class's stat scores (the
      // CUDA backend's counters); auroc and average_precision each class's pairs.
      const bool counts_classes = metric != "exact_match" && (metric != "accuracy" || m.module || m.average != "micro");
      if (counts_classes && spec.target.dtype == DType::i64 && spec.target.num_classes > ltrt::kMaxScoreClasses)
        refuse(metric +
               (metric != "accuracy" ? ""
                : m.module           ? " as a Metric object"
                                     : " with a macro or weighted average") +
               " counts each class; over more than " + std::to_string(ltrt::kMaxScoreClasses) +
               " classes (the model has " + std::to_string(spec.target.num_classes) + ") it is not supported yet");
      continue;
    }
    // The errors compare each output element with its target, as torch's l1_loss and mse_loss.
    Shape want = {spec.batch_size};
    want.insert(want.end(), spec.target.shape.begin(), spec.target.shape.end());
    if (spec.target.none || spec.target.dtype != DType::f32 || pred.shape != want)
      refuse(metric + " compares each of the model's outputs with a float target of its shape, but the output is " +
             shape_str(pred.shape) + " and model.target " +
             (spec.target.none ? std::string("is left out")
                               : (spec.target.dtype == DType::f32 ? "float32 " : "int64 ") + shape_str(want)) +
             ": use it with a regression loss (MSELoss, L1Loss, ...) over outputs of the target's shape");
    if ((metric == "explained_variance" || metric == "weighted_mean_absolute_percentage_error") && want.size() > 1 &&
        std::accumulate(want.begin() + 1, want.end(), std::int64_t{1}, std::multiplies<>()) > ltrt::kMaxR2Columns)
      refuse(metric + " over more than " + std::to_string(ltrt::kMaxR2Columns) +
             " outputs a sample is not supported yet (the GPU sums each output's column in a block)");
    // torchmetrics' cosine_similarity takes predictions (N, D) alone: a row of outputs per sample.
    if (metric == "cosine_similarity" && spec.target.shape.size() != 1)
      refuse(
          "cosine_similarity compares each sample's row of outputs with its target's, predictions (N, D) "
          "(torchmetrics refuses other shapes), but the output is " +
          shape_str(pred.shape) +
          ": give model.target one dimension, its D values, and end the model with a Flatten if need be");
    // Predictions (N,) or (N, 1): torchmetrics' num_outputs=1, which LogCoshError and the
    // correlations take (more outputs give a value each, which self.log cannot log).
    const bool one_output = spec.target.shape.empty() || spec.target.shape == Shape{1};
    if (metric == "log_cosh_error" && !one_output)
      refuse("log_cosh_error takes one output per sample, predictions (N,) or (N, 1), but the output is " +
             shape_str(pred.shape) + ": torchmetrics gives an error per output column, which self.log cannot log; "
             "give model.target the shape [1] (or []), or use mean_squared_error or mean_absolute_error");
    if (metric == "pearson_corrcoef" || metric == "concordance_corrcoef" || metric == "spearman_corrcoef" ||
        metric == "kendall_rank_corrcoef") {
      if (spec.target.shape.size() > 1)
        refuse(metric + " takes one number per sample, predictions (N,) or (N, 1) (torchmetrics refuses more than 2 "
               "dimensions), but the output is " + shape_str(pred.shape) +
               ": give model.target the shape [1] (or []) and end the model with a Flatten");
      if (!one_output)
        refuse(metric + " correlates one output per sample with its target, but the output is " +
               shape_str(pred.shape) + ": a coefficient per output is not one number self.log can log; give "
               "model.target the shape [1] (or []), or use r2_score or explained_variance, which average the outputs");
      // Under autocast the output is bfloat16 or float16, and torchmetrics' moments then are too.
      if ((metric == "pearson_corrcoef" || metric == "concordance_corrcoef") && spec.mixed_precision())
        refuse(metric + " under \"" + spec.trainer.precision + "\" is not supported yet: torchmetrics computes "
               "its means and moments in the output's 16-bit type there, which ltgen does not follow (it does for "
               "spearman_corrcoef and kendall_rank_corrcoef, whose ranks and pairs are the same); use \"32-true\"");
      // tau c counts the distinct predictions in their own dtype, a 16-bit float under autocast.
      if (metric == "kendall_rank_corrcoef" && m.variant == "c" && spec.mixed_precision())
        refuse("kendall_rank_corrcoef's variant \"c\" under \"" + spec.trainer.precision + "\" is not supported yet: "
               "torchmetrics holds the count of distinct predictions in the output's 16-bit type there, which "
               "ltgen does not follow; use variant \"a\" or \"b\", or \"32-true\"");
      continue;
    }
    // Under autocast torch.log1p keeps the 16-bit output's type, rounding the log of each prediction.
    if (metric == "mean_squared_log_error" && spec.mixed_precision())
      refuse("mean_squared_log_error under \"" + spec.trainer.precision + "\" is not supported yet: torchmetrics' "
             "log1p of the 16-bit outputs rounds to their type, which ltgen does not follow; use \"32-true\"");
    // Under autocast the outputs are 16-bit, and torch compares them with the threshold rounded to that type.
    if (metric == "critical_success_index" && spec.mixed_precision())
      refuse("critical_success_index under \"" + spec.trainer.precision + "\" is not supported yet: torch compares "
             "the 16-bit outputs with the threshold rounded to their type, which ltgen does not follow; use \"32-true\"");
    if (metric != "r2_score" && metric != "relative_squared_error") continue;
    // torchmetrics' r2_score takes (N,) or (N, outputs), and sums each output column;
    // relative_squared_error reads its sums.
    if (spec.target.shape.size() > 1)
      refuse(metric + " takes one number or one row of outputs per sample (torchmetrics refuses predictions of more "
             "than 2 dimensions), but the output is " + shape_str(pred.shape) +
             ": give model.target one dimension (its elements in a row) and end the model with a Flatten, or use "
             "mean_squared_error");
    if (!spec.target.shape.empty() && spec.target.shape[0] > ltrt::kMaxR2Columns)
      refuse(metric + " over " + std::to_string(spec.target.shape[0]) + " output columns is not supported yet (the "
             "GPU sums at most " + std::to_string(ltrt::kMaxR2Columns) + ")");
    if (metric != "r2_score") continue;
    if (spec.batch_size < 2)
      refuse("r2_score of a batch of one row: torchmetrics needs at least two samples to calculate r2 score "
             "(its Metric object's forward too): set data.batch_size to 2 or more");
  }
  {  // The GPU's counters hold the stat scores of every top_k those metrics use (a set per top_k).
    std::vector<std::int64_t> top_ks;
    for (const MetricSpec& m : spec.metrics) {
      const bool stats = stat_score_metric(m.name) || (m.name == "accuracy" && (m.module || m.average != "micro"));
      if (stats && std::find(top_ks.begin(), top_ks.end(), m.top_k) == top_ks.end()) top_ks.push_back(m.top_k);
    }
    const std::int64_t classes = spec.target.dtype == DType::i64 ? spec.target.num_classes : 1;
    const auto sets = static_cast<std::int64_t>(top_ks.size());
    if (sets > 1 && sets * (3 * classes + 1) > 3 * ltrt::kMaxScoreClasses + 1)
      throw SpecError(
          spec.path, spec.metrics.back().pos, "model.metrics",
          "the stat-score metrics (precision, recall, ...) and accuracy as a Metric object or averaged count "
          "each class once per top_k; " +
              std::to_string(sets) + " top_k over " + std::to_string(classes) +
              " classes are more than the GPU's counters hold (" + std::to_string(ltrt::kMaxScoreClasses) +
              " classes in all): use fewer different top_k");
  }
  if (per_sample_scalar(g.value(x)) && !losses_per_sample_scalars(spec.loss))
    throw SpecError(spec.path, spec.loss.pos, spec.loss.source,
                    spec.loss.type + (spec.loss.args.count("weight") || spec.loss.args.count("pos_weight") ? " with class weights" : "") +
                        " does not take one number per sample (torch's (batch,), the model's output '" + g.value(x).name +
                        "'); the elementwise losses without class weights and MarginRankingLoss do");
  LayerBuild ctx{g, "loss", spec.loss.source, spec.loss.args};
  try {
    if (!spec.target.none) predictions.push_back(g.target);
    g.loss = find_layer(spec.loss.type)->build(ctx, predictions);
  } catch (const ShapeError& e) {
    throw SpecError(spec.path, spec.loss.pos, spec.loss.source, spec.loss.type + ": " + e.what());
  }
  g.value(g.loss).kind = ValueKind::loss;
  complete_init(g);
  check_init(g);
  if (g.params.empty())
    throw SpecError(spec.path, spec.layers_pos, spec.graph ? "model.graph" : "model.layers",
                    "the model has no parameters to train");
  if (!spec.freeze.empty()) {  // model.freeze: requires_grad=False
    std::vector<std::string> names;
    for (int p : g.params) names.push_back(g.value(p).torch_name);
    const std::vector<bool> frozen = match_names(spec, spec.freeze, names);
    for (size_t i = 0; i < frozen.size(); ++i) g.value(g.params[i]).frozen = frozen[i];
    if (std::find(frozen.begin(), frozen.end(), false) == frozen.end())
      throw SpecError(spec.path, spec.freeze.pos[0], "model.freeze",
                      "freezes every parameter: nothing is left to train; narrow the patterns");
  }
  if (spec.backbone_finetuning) mark_backbone(spec, g);
  return g;
}

}  // namespace ltgen
