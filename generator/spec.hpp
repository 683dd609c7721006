/// \file
/// The spec (DESIGN §3) as read and checked: every field resolved, with
/// torch's and Lightning's defaults filled in.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <ltrt/json.hpp>
#include <ltrt/model.hpp>
#include <ltrt/trainer_config.hpp>
#include <string>
#include <vector>

#include "ir.hpp"

namespace ltgen {

struct LayerSpec {
  std::string type;     // torch.nn class name
  std::string source;   // JSON path: "model.layers[0]"
  ltrt::json::Pos pos;
  Attrs args;           // checked, defaults filled in (inferred sizes absent unless given)
  // model.graph only: the node's name (its module name) and the values it reads.
  std::string name;
  std::vector<std::string> inputs;
  // "" or, for a node that applies an earlier node's module again (`"module": "enc"`, torch's
  // second `self.enc(x)`), that node's name: its parameters, type and arguments are the module's.
  std::string module;
};

struct InputSpec {
  std::string name;
  Shape shape;          // per sample
  DType dtype = DType::f32;
  ltrt::json::Pos pos;  // where model.inputs gives it
};

struct TargetSpec {
  Shape shape;          // per sample; empty for class labels
  DType dtype = DType::f32;
  std::int64_t num_classes = 0;  // class labels
  // model.target left out: a loss over the predictions alone (TripletMarginLoss); the batches hold
  // the inputs only, as a DataLoader over TensorDataset(*inputs).
  bool none = false;
};

// A torchvision transform of each sample's (first) input: data.<split>.transforms[i].
struct TransformSpec {
  std::string type;  // torchvision's class name: "RandomHorizontalFlip", "RandomCrop", "Resize", ...
  bool v2 = false;   // torchvision.transforms.v2's ("v2.RandomCrop" in the spec); GaussianNoise is v2's only
  ltrt::json::Value args;               // its arguments as given (without "type"), for --emit lightning
  double p = 0.5;                       // the flips
  std::int64_t size_h = 0, size_w = 0;  // RandomCrop, CenterCrop, Resize (size_w 0: size_h is the smaller edge's)
  std::int64_t pad_left = 0, pad_right = 0, pad_top = 0, pad_bottom = 0;
  std::string padding_mode = "constant";
  double fill = 0;
  bool pad_if_needed = false;
  std::vector<float> mean, std;  // Normalize, as float32 (torch.as_tensor(mean, dtype=float32))
  double noise_mean = 0, sigma = 0.1;  // GaussianNoise
  bool clip = true;
  std::string interpolation = "bilinear";  // Resize: torchvision's InterpolationMode's value
  bool antialias = true;
  std::int64_t max_size = 0;  // Resize: 0 for None
  // ColorJitter: the brightness, contrast, saturation and hue ranges as torchvision makes them of
  // its arguments, [lo, hi] each, NaN for None
  std::array<double, 8> jitter = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
  double threshold = 0;  // RandomSolarize
  // RandomResizedCrop and RandomErasing: the box's area as a share of the image's and its aspect
  // ratio, [min, max] each
  std::array<double, 2> scale = {0, 0}, ratio = {0, 0};
  // RandomErasing: its value as float32, one or one per channel; empty for "random"
  std::vector<float> erase_values;
  // RandomApply: how many of the transforms after it (its list, flattened) it applies or skips
  std::int64_t group = 0;
  bool padding_given = false;  // RandomCrop: a padding was given (0 too: v1 pads with it)
  // RandomRotation and RandomAffine: the angle's range [min, max] in degrees; RandomAffine's
  // translate (NaN: None), scale ({0, 0}: None) and shear ([x min, x max] or with y's, empty: None);
  // the centre in pixels; the fill as float32, one or one per channel (empty: v2's None)
  std::array<double, 2> degrees = {0, 0};
  std::array<double, 2> translate = {NAN, NAN};
  std::array<double, 2> affine_scale = {0, 0};
  std::vector<double> shear;
  bool center_given = false;
  std::array<double, 2> center = {0, 0};
  std::vector<float> fill_values;
  // v2's RandomChoice: each transform's probability as float32, normalised (p / sum(p)); v1's:
  // the weights as given (empty: p None)
  std::vector<float> choice_p;
  std::vector<double> choice_weights;
  // v2's RandomRotation that always turns a square image by 90 or 270 degrees (torch.rot90)
  bool turns = false;
  bool random() const {
    return type != "Normalize" && type != "CenterCrop" && type != "Resize" && type != "Grayscale" && type != "Pad";
  }
  bool container() const { return type == "RandomApply" || type == "RandomChoice" || type == "RandomOrder"; }
  // Whether it sets the sample's height and width.
  bool sizes() const {
    return type == "RandomCrop" || type == "CenterCrop" || type == "Resize" || type == "Pad" ||
           type == "RandomResizedCrop";
  }
};

struct DataSourceSpec {
  std::string source;   // "randn" | "npy" | "csv" | "idx" | "text"
  std::int64_t num_samples = 0;
  std::string x, y;     // npy, relative to the working directory of ltgen (x: the first model input's)
  std::vector<std::string> other_x;  // npy: the other model inputs' files, in model.inputs' order
  std::string path;     // csv; text: the corpus
  std::string target_column;
  bool header = true;
  std::string images, labels;  // idx, relative to the working directory of ltgen
  double scale = 255.0;        // idx: pixel = byte / scale
  double range_begin = 0, range_end = 1;  // text: the part of the corpus used, as fractions of its bytes
  std::string prompt;                  // prompt: the text generation starts from
  std::int64_t max_new_tokens = 0;     // prompt: bytes to generate
  double temperature = 1.0;            // prompt
  std::int64_t top_k = 0;              // prompt: 0 for all tokens
  std::vector<TransformSpec> transforms;  // applied in order to each sample's first input
  Shape sample_shape;  // randn: the first input's samples as drawn, which the transforms crop (empty: the model's)
};

// Parameter names or glob patterns (Python's fnmatch on torch's names), with where each is.
struct NamePatterns {
  std::vector<std::string> patterns;
  std::vector<ltrt::json::Pos> pos;        // where each pattern is
  std::vector<std::string> paths;          // "optimizer.param_groups[1].params[0]"
  bool empty() const { return patterns.empty(); }
};

// torch.optim's hyperparameters: the optimizer's defaults, or a parameter group's (which takes
// every one it does not set from the optimizer's, as torch.optim's add_param_group).
struct OptimizerHyper {
  double lr = 1e-3;
  double momentum = 0, dampening = 0;  // SGD; RMSprop's momentum
  bool nesterov = false;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam, AdamW, Adamax, RAdam, NAdam; RMSprop's and Adagrad's eps
  bool amsgrad = false;
  bool decoupled_weight_decay = false;  // RAdam, NAdam
  double momentum_decay = 4e-3;         // NAdam
  double alpha = 0.99;  // RMSprop; ASGD's (its default 0.75)
  bool centered = false;
  double lr_decay = 0, initial_accumulator_value = 0;  // Adagrad
  double rho = 0.9;                                    // Adadelta
  double etaminus = 0.5, etaplus = 1.2, step_size_min = 1e-6, step_size_max = 50;  // Rprop
  double lambd = 1e-4, t0 = 1e6;                                                  // ASGD
  // LBFGS (max_eval: torch's None is max_iter * 5 // 4, resolved when read)
  std::int64_t max_iter = 20, max_eval = 25, history_size = 100;
  double tolerance_grad = 1e-7, tolerance_change = 1e-9;
  bool strong_wolfe = false;  // line_search_fn "strong_wolfe"
  double weight_decay = 0;
  bool maximize = false;
};

// One entry of optimizer.param_groups: the parameters whose names match one of `params` (glob
// patterns, fnmatch's `*`, `?` and `[...]`; a parameter joins the first group that matches it)
// and the group's hyperparameters (the optimizer's where the group does not set them).
struct ParamGroupSpec {
  NamePatterns params;
  std::string json_path;                    // "optimizer.param_groups[1]"
  ltrt::json::Pos pos;
  OptimizerHyper options;
  std::string name;                         // "" for none
};

struct OptimizerSpec : OptimizerHyper {
  std::string type;  // "SGD" | "Adam" | "AdamW" | "Adamax" | "RAdam" | "NAdam" | "RMSprop" | "Adagrad" |
                     // "Adadelta" | "Rprop" | "ASGD" | "LBFGS"
  std::vector<ParamGroupSpec> param_groups;  // empty: one group of every parameter
  ltrt::json::Pos param_groups_pos;
};

/// The runtime's OptimizerConfig of an optimizer of torch.optim class `type` with hyperparameters
/// `h` (the spec's optimizer's: its slots, what a scheduler may cycle; or a parameter group's).
ltrt::OptimizerConfig optimizer_config(const std::string& type, const OptimizerHyper& h);
inline ltrt::OptimizerConfig optimizer_config(const OptimizerSpec& o) { return optimizer_config(o.type, o); }

// A metric of model.metrics with its arguments (torchmetrics' defaults where the spec gives none).
struct MetricSpec {
  // one of metric_names(); a model lists each once (accuracy and the scores once per top_k)
  std::string name;
  // the scores' "micro", "macro" or "weighted"; r2_score's multioutput "uniform_average" or
  // "variance_weighted"
  std::string average = "micro";
  bool module = false;        // logged as a torchmetrics Metric object (epoch values from the epoch's states)
  std::int64_t top_k = 1;     // accuracy's and the scores'
  std::int64_t adjusted = 0;  // r2_score's
  double beta = 1.0;          // fbeta_score's
  bool root = false;          // squared=False: logged as <stage>_rmse (<stage>_rrse)
  std::string variant = "b";  // kendall_rank_corrcoef's "a", "b" or "c"
  double threshold = 0.0;     // critical_success_index's
  std::string reduction = "sum";  // cosine_similarity's "sum" or "mean" of its rows' values
  std::string weights = "none";   // cohen_kappa's "none", "linear" or "quadratic"
  ltrt::json::Pos pos;        // where the spec names it
};

struct Spec {
  std::string path;     // as given to ltgen
  std::string text;     // the file's bytes
  std::string hash;     // FNV-1a 64 of text, 16 hex digits
  std::string name;     // a C++ identifier
  std::vector<InputSpec> inputs;
  TargetSpec target;
  std::vector<LayerSpec> layers;  // model.layers, or model.graph's nodes in order
  ltrt::json::Pos layers_pos;     // where model.layers (model.graph) is
  bool graph = false;             // the layers came from model.graph
  // model.graph: the nodes whose values are the predictions, what forward returns (a tuple when
  // several: a loss over two predictions, such as CosineEmbeddingLoss, reads them all).
  std::vector<std::string> outputs;
  LayerSpec loss;
  int batch_size = 1;
  ltrt::json::Pos batch_size_pos;  // where data.batch_size is (data, where it is left out)
  bool shuffle = false;
  bool drop_last = false;
  int num_workers = 0;  // DataLoader's workers: where random transforms draw (each its own generator)
  bool persistent_workers = false;  // DataLoader(persistent_workers=True): one iterator for every epoch
  int prefetch_factor = 0;          // DataLoader(prefetch_factor=k) with workers; 0: not given (2)
  bool pin_memory = false;          // DataLoader(pin_memory=True): the script's only
  DataSourceSpec train;
  DataSourceSpec val, test, predict;  // source "" when the spec has none
  std::vector<MetricSpec> metrics;    // model.metrics in order
  bool sync_dist = false;             // model.log.sync_dist: logged values averaged over DDP's ranks
  bool log_on_epoch = false;          // model.log.on_epoch: training values logged per epoch too
  // model.freeze: parameters with requires_grad=False (no gradient, no optimizer step), as a
  // LightningModule's `self.backbone.requires_grad_(False)`.
  NamePatterns freeze;
  // model.backbone: the LightningModule's `backbone` for a BackboneFinetuning callback, by its
  // parameters' names or glob patterns (whole modules). With the callback (backbone_finetuning),
  // its parameters (BatchNorm's aside under train_bn) form the last parameter group, which joins
  // the optimizer at the unfreeze epoch.
  NamePatterns backbone;
  bool backbone_finetuning = false;  // trainer.callbacks has a BackboneFinetuning
  bool backbone_train_bn = true;     // ... and its train_bn
  OptimizerSpec optimizer;
  ltrt::TrainerConfig trainer;  // seed_everything and the trainer section
  // torch.set_float32_matmul_precision: "highest" (torch's default), "high" or "medium". On the
  // GPU, "high" and "medium" let the GEMMs use TF32 tensor cores, as torch's CUDA matmuls do.
  std::string float32_matmul_precision = "highest";
  // "hooks": the user's hooks file, resolved against the spec's folder ("" for none), and the hooks it
  // defines (filled in by check_hooks, in ltrt/hook_list.hpp's order).
  std::string hooks;
  ltrt::json::Pos hooks_pos;  // where the spec names it
  std::string hooks_text;
  std::vector<std::string> hooks_defined;

  // A StochasticWeightAveraging callback over a model with BatchNorm: Lightning's extra epoch
  // recomputes the statistics with forward passes alone (training_forward) and momentum=None
  // (the BatchNorm forwards switch at run time).
  bool swa_batch_norm_epoch = false;

  bool defines_hook(const std::string& name) const;
  // defines one between forward and backward, or the SWA BatchNorm epoch needs forward alone
  bool splits_step() const;
  // trainer.precision "bf16-mixed" or "16-mixed": autocast's casts and roundings (autocast.hpp).
  bool mixed_precision() const { return trainer.precision == "bf16-mixed" || trainer.precision == "16-mixed"; }
};

// The metrics model.metrics takes, torchmetrics' functional names, in the order ltgen's messages and
// schema list them (ltrt::kMetricInfos').
const std::vector<std::string>& metric_names();

/// Reads and checks a spec file; throws SpecError with the place and the fix.
Spec read_spec(const std::string& path);
/// Same, from text already read (tests).
Spec parse_spec(const std::string& path, const std::string& text);

// The model.metrics torchmetrics computes from stat scores (per class: tp, fp, tn, fn) or a
// confusion matrix's diagonal and sums: ltrt::stat_score_metric's.
inline bool stat_score_metric(const std::string& m) {
  return m == "precision" || m == "recall" || m == "f1_score" || m == "fbeta_score" || m == "specificity" ||
         m == "negative_predictive_value" || m == "hamming_distance" || m == "jaccard_index" ||
         m == "matthews_corrcoef" || m == "cohen_kappa";
}

}  // namespace ltgen
