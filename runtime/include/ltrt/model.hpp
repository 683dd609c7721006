// The contract between a generated model and the runtime: what the generated
// model.cpp exports (one ModelDef) and what the runtime's trainer calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "ltrt/resize_image.hpp"

namespace ltrt {

struct DropoutDraws;  // ltrt/dropout_draws.hpp
namespace cuda {
struct Context;  // ltrt/cuda/context.cuh: stream, cuBLASLt handle, device scalars
}

// The CUDA lowering of a model's steps (the generated model_cuda.cu): the same steps over a
// device arena with the host arena's layout, enqueued on ctx.stream. Backward starts from
// d(loss) = ctx.scalars->loss_scale; Dropout draws from a counter-based generator keyed by
// ctx.scalars->dropout_seed. Nothing is synchronised: the runtime captures a training step
// (with clipping and the optimizer) in a CUDA graph.
struct DeviceSteps {
  void (*training_step)(std::byte* arena, int n, bool accumulate, const cuda::Context& ctx);
  void (*evaluation_step)(std::byte* arena, int n, const cuda::Context& ctx);
  void (*predict_step)(std::byte* arena, int n, const cuda::Context& ctx);
  // Once, on the chosen device before any step (so outside every graph capture): what kernels
  // need set before their first launch (dynamic shared memory over 48 KB).
  void (*prepare_kernels)();
  // The training step in two halves, for user hooks that run between them (set when the spec's
  // hooks file defines on_before_zero_grad, on_before_backward or on_after_backward): forward and
  // loss in train mode; backward from d(loss) = ctx.scalars->loss_scale. training_step is the two.
  void (*training_forward)(std::byte* arena, int n, const cuda::Context& ctx) = nullptr;
  void (*training_backward)(std::byte* arena, int n, bool accumulate, const cuda::Context& ctx) = nullptr;
  // The device memory that cuda::gemm_16bit's copies of mixed precision's GEMM operands need at
  // most (Context::operands16); 0 when the program multiplies none.
  std::size_t operands16_bytes = 0;
};

enum class DType : std::uint8_t { f32, f64, i64, u8 };  // u8: Dropout masks

// Size in bytes of one element.
std::size_t dtype_size(DType dtype);
// safetensors' name for a dtype ("F32", "F64", "I64").
const char* safetensors_dtype(DType dtype);

constexpr int kMaxRank = 6;

// A tensor that lives at a fixed byte offset in the arena.
struct TensorRef {
  const char* name;  // PyTorch's name, e.g. "layers.0.weight"
  DType dtype;
  int rank;
  std::int64_t shape[kMaxRank];
  std::size_t offset;  // bytes from the arena's base

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
  // Elements of one sample: a batched buffer's dimensions after the first.
  std::int64_t sample_numel() const {
    std::int64_t n = 1;
    for (int i = 1; i < rank; ++i) n *= shape[i];
    return n;
  }
};

// How the parameters start when no --init_weights file is given: the steps torch's constructors
// take on its global generator after seed_everything (TorchGenerator), in their order. That is
// state_dict order but where torch draws otherwise: MultiheadAttention draws out_proj (as a
// Linear) before in_proj_weight and then zeroes out_proj.bias; a Linear whose weight is tied
// draws its own weight first (discard); nn.Transformer redraws its matrices with xavier_uniform_.
enum class InitKind : std::uint8_t { zeros, ones, uniform, normal, constant, copy, discard };

struct InitStep {
  int param;     // index into ModelDef::params; -1 for discard
  InitKind kind;
  double value;  // uniform: uniform_(-value, value); normal: normal_(0, value); constant: fill_(value)
  // A row (index along dim 0) zeroed after the draw, -1 for none: Embedding's padding_idx, as
  // torch.nn.Embedding.reset_parameters does.
  std::int64_t zero_row = -1;
  // copy: the index of an earlier parameter of the same shape whose values this one takes, drawing
  // nothing (torch's copy.deepcopy of a layer: TransformerEncoder's num_layers clones).
  int copy_of = -1;
  std::int64_t draws = 0;  // discard: uniform draws torch makes for a tensor it then drops
};

struct ParamDef {
  TensorRef value;          // float32 parameter in the parameter region
  std::size_t flat_index;   // element index inside the flat parameter/grad/slot regions
};

// Model state that is not a parameter: torch's registered buffers (BatchNorm's running_mean,
// running_var, num_batches_tracked). It lives in the arena outside the parameter, gradient and
// slot regions, so no optimizer touches it; training_step updates it (evaluation_step and
// predict_step only read it). Checkpoints save it as state_dict.<name>, like the parameters.
struct StateDef {
  TensorRef value;  // float32, or int64 (num_batches_tracked)
  InitKind init;    // zeros or ones
};

// The optimizer as the spec names it, with torch.optim's arguments.
enum class OptimizerKind : std::uint8_t {
  sgd,
  adam,
  adamw,
  adamax,
  radam,
  nadam,
  rmsprop,
  adagrad,
  adadelta,
  rprop,
  asgd,
  lbfgs
};
struct OptimizerConfig {
  OptimizerKind kind;
  double lr;
  // SGD (RMSprop's momentum too)
  double momentum, dampening;
  bool nesterov;
  // Adam / AdamW / Adamax / RAdam / NAdam (RMSprop's and Adagrad's eps too)
  double beta1, beta2, eps;
  bool amsgrad;                 // Adam, AdamW
  bool decoupled_weight_decay;  // RAdam, NAdam
  double momentum_decay;        // NAdam
  // RMSprop's alpha; ASGD's (the power of its eta's decay)
  double alpha;
  bool centered;
  // Adagrad
  double lr_decay, initial_accumulator_value;
  // Adadelta (its eps too)
  double rho;
  // Rprop: etas and step_sizes
  double etaminus, etaplus, step_size_min, step_size_max;
  // ASGD (its alpha above)
  double lambd, t0;
  // LBFGS (ltrt/lbfgs.hpp; max_eval resolved from max_iter where the spec leaves it out)
  std::int64_t max_iter, max_eval, history_size;
  double tolerance_grad, tolerance_change;
  bool strong_wolfe;  // line_search_fn="strong_wolfe"
  // all but LBFGS's and Rprop's weight_decay
  double weight_decay;
  bool maximize;
};

// A torch.optim parameter group (optimizer.param_groups in the spec): the parameters whose
// elements are [begin, begin + count) of the flat regions (the generator lays a group's
// parameters out together, groups in their order) and what the group sets apart from the
// optimizer's defaults: its learning rate and weight decay, and any other hyperparameter in
// `optimizer` (group_config).
struct ParamGroupDef {
  const char* name;      // the group's "name" (LearningRateMonitor's suffix), or nullptr
  double lr;
  double weight_decay;
  std::int64_t begin;    // first element in the flat parameter, gradient and slot regions
  std::int64_t count;    // elements
  // The group's betas, momentum, eps, ... (its lr and weight_decay are the fields above); nullptr
  // for the optimizer's. The same kind as ModelDef::optimizer, with the same state tensors.
  const OptimizerConfig* optimizer = nullptr;
};
constexpr int kMaxParamGroups = 8;  // the CUDA step keeps a scalar per group in StepScalars

// A torchvision transform of a sample's (first) input, data.<split>.transforms: the split's
// Dataset applies its list in order to each sample it gives, as a transforms.Compose in its
// __getitem__ does (ltrt/sample_transforms.hpp). The per-sample shape is (..., H, W) (any shape for
// GaussianNoise); the crops and Resize set H and W, so the source's samples may be of another size
// than the model input, which the last of them makes. `v2`: torchvision.transforms.v2's, whose RandomCrop
// draws a corner coordinate only along a dimension the padded sample exceeds the crop in.
// (The enumerators are torchvision's class names in snake_case, as the generator writes them.)
enum class TransformKind : std::uint8_t {
  random_horizontal_flip,
  random_vertical_flip,
  random_crop,
  normalize,
  gaussian_noise,  // v2 only
  center_crop,
  resize,
  color_jitter,
  random_grayscale,
  grayscale,  // keeping the channels (1 or 3)
  pad,
  random_invert,
  random_solarize,
  random_autocontrast,
  random_resized_crop,  // RandomCrop's box of a random area and aspect, resized to the size
  random_erasing,
  random_rotation,  // an affine warp by a random angle
  random_affine,    // by a random angle, translation, scale and shear
  random_choice,    // one of the next `group` transforms' children (v2: torch.multinomial; v1: random.choices)
  random_order,     // each child, in a torch.randperm's order (v2; v1: random.shuffle's)
  random_apply      // the next `group` transforms, or none of them (the last: transform_kind looks up to it)
};
enum class PadMode : std::uint8_t { constant, edge, reflect, symmetric };  // torchvision's padding_mode
// Each field's default is the transform's neutral value, so the generated program sets only those
// of its transforms' arguments.
struct TransformConfig {
  TransformKind kind = TransformKind::normalize;
  double p = 0.5;                                                // the random ones: applied where torch.rand(1) < p
  int size_h = 0, size_w = 0;                                    // the crops, resize: the output's height and width
  int pad_left = 0, pad_right = 0, pad_top = 0, pad_bottom = 0;  // random_crop, pad: the padding
  PadMode padding_mode = PadMode::constant;                      // random_crop, pad
  double fill = 0;                                               // random_crop, pad: the constant padding's value
  bool pad_if_needed = false;   // random_crop: pad a side that is smaller than the crop
  bool padding_given = false;   // random_crop: a padding was given (of 0 too), which v1 pads with
  int num_values = 0;           // normalize: 1 mean and std for all channels, or one per channel (dim -3)
  const float* mean = nullptr;  // normalize: torch.as_tensor(mean, dtype=float32)
  const float* std = nullptr;   // normalize
  bool v2 = false;              // torchvision.transforms.v2's
  double noise_mean = 0;        // gaussian_noise: mean + randn_like(x) * sigma added, in float32
  double sigma = 0.1;
  bool clip = true;  // gaussian_noise: the sum clamped to [0, 1]
  // resize: to size_h x size_w, or with size_w 0, the smaller edge to size_h (the other in proportion,
  // truncated), the longer then capped at max_size (0: none), as torchvision's Resize
  ResizeMode interpolation = ResizeMode::bilinear;
  bool antialias = true;  // resize: bilinear and bicubic only (torchvision ignores it for the others)
  int max_size = 0;
  // color_jitter: the brightness, contrast, saturation and hue factors' ranges [lo, hi], in that
  // order (NaN: None, that factor left alone)
  double jitter[8] = {kNoJitter, kNoJitter, kNoJitter, kNoJitter, kNoJitter, kNoJitter, kNoJitter, kNoJitter};
  double threshold = 0;  // random_solarize: values at or above it are inverted
  // random_resized_crop, random_erasing: the box's area as a share of the image's, and its aspect
  // ratio (width / height for the crop, height / width for erasing), each [min, max];
  // random_affine: `scale` is the scale factor's range
  double scale[2] = {0, 0}, ratio[2] = {0, 0};
  // random_erasing: the box's value, one for all channels or one per channel (num_erase_values 1
  // or C), or with num_erase_values 0 drawn from a standard normal (value="random")
  int num_erase_values = 0;
  const float* erase_values = nullptr;
  // random_rotation, random_affine: the angle's range in degrees [min, max]; random_affine's
  // translation's largest shares of the width and height (NaN: None), the scale's range (scale
  // above: 0, 0 for None) and the shear's ranges in degrees, x's then y's (num_shear 0: None, 2:
  // x only, 4: both); the centre in pixels (centre_given false: the image's), sampling nearest or
  // bilinear (`interpolation`); the fill of the pixels from outside, one for all channels or one per
  // channel (num_fill_values 0: v2's fill None)
  double degrees[2] = {0, 0};
  double translate[2] = {kNoJitter, kNoJitter};
  double shear[4] = {0, 0, 0, 0};
  int num_shear = 0;
  bool center_given = false;
  double center[2] = {0, 0};
  int num_fill_values = 0;
  const float* fill_values = nullptr;
  // random_apply, random_choice, random_order: how many of the transforms after it are its list's
  // (flattened: a container inside it counts its own among them; its children are the list's
  // items); they leave the sample's shape as it was
  int group = 0;
  // random_choice: v2's each child's probability as float32, normalised (torch.tensor(p / sum(p)));
  // v1's weights as given, Python floats (num_choice_p 0: p None, every child alike)
  int num_choice_p = 0;
  const float* choice_p = nullptr;
  const double* choice_weights = nullptr;

  static constexpr double kNoJitter = std::numeric_limits<double>::quiet_NaN();
};

// A data source as the spec names it; paths are resolved against the spec's
// folder at generation time and can be overridden on the command line.
// prompt: predict only, text generated from a prompt by a character model trained on a text source.
enum class DataSourceKind : std::uint8_t { none, randn, npy, csv, idx, text, prompt };
struct DataSourceConfig {
  DataSourceKind kind;
  std::int64_t num_samples;  // randn
  const char* x_path;        // npy: the (first) model input's file
  // npy, a model with several inputs: the other inputs' files, in model.inputs' order
  // (num_other_inputs of them); nullptr for one input.
  const char* const* other_x_paths;
  const char* y_path;        // npy
  const char* csv_path;      // csv
  const char* target_column; // csv: the column holding the target (for regression, may be several)
  bool csv_header;
  const char* images_path;   // idx: images, uint8 [N, rows, cols] (plain or .gz)
  const char* labels_path;   // idx: labels, uint8 [N]
  double idx_scale;          // idx: pixel = byte / idx_scale
  const char* text_path;     // text: a character-level corpus (bytes, plain or .gz)
  double text_begin, text_end;  // text: the part used, bytes [int(size * begin), int(size * end))
  const char* prompt;           // prompt: the text generation starts from
  std::int64_t max_new_tokens;  // prompt: bytes generated after it
  double temperature;           // prompt: logits are divided by it before sampling
  std::int64_t top_k;           // prompt: sample among the k likeliest tokens; 0: all
  const TransformConfig* transforms;  // torchvision's transforms of each sample's input, in order
  int num_transforms;
  // randn: the shape each sample's first input is drawn in, before transforms that change it (a
  // crop); nullptr: the model input's.
  const std::int64_t* sample_shape;
  int sample_rank;
};

struct DataConfig {
  int batch_size;
  bool shuffle;
  bool drop_last;
  int num_workers;  // DataLoader's worker processes: where random transforms draw
  bool persistent_workers;  // DataLoader(persistent_workers=True): one iterator, its workers kept
  int prefetch_factor;      // the batches a worker is sent ahead (0: torch's default, 2)
  DataSourceConfig train;
  DataSourceConfig val;      // kind none: no validation loop
  DataSourceConfig test;     // kind none: `test` has no data
  DataSourceConfig predict;  // inputs only; kind none: `predict` has no data
};

// One row of ModelSummary: a layer of the spec.
struct LayerSummary {
  const char* name;          // "layers.0"
  const char* type;          // "Linear"
  std::int64_t params;       // trainable parameters
  const char* output_shape;  // per batch, as torch prints it: "[32, 1]"
};

// A constant tensor of the loss module (torch registers it as a buffer): its state_dict name
// ("loss.weight") and its float32 values, one dimension.
struct LossBuffer {
  const char* name;
  const float* values;
  int size;
};

// What the generated model exports. All step functions work on one arena whose
// layout is fixed at generation time (see the memory plan in model.cpp).
// A metric of model.metrics, logged after the loss as <stage>_<name> (metric_name in
// ltrt/metrics.hpp); a model has each at most once (accuracy once per top_k).
enum class MetricKind : std::uint8_t {
  accuracy,
  mean_absolute_error,
  mean_squared_error,
  precision,
  recall,
  f1_score,
  auroc,
  average_precision,
  mean_absolute_percentage_error,
  r2_score,
  specificity,
  fbeta_score,
  jaccard_index,
  matthews_corrcoef,
  hamming_distance,
  negative_predictive_value,
  cohen_kappa,
  mean_squared_log_error,
  symmetric_mean_absolute_percentage_error,
  explained_variance,
  pearson_corrcoef,
  concordance_corrcoef,
  spearman_corrcoef,
  kendall_rank_corrcoef,
  relative_squared_error,
  weighted_mean_absolute_percentage_error,
  critical_success_index,
  log_cosh_error,
  cosine_similarity,
  exact_match
};
constexpr int kMaxMetrics = 8;
// How precision, recall, f1_score, specificity, fbeta_score, jaccard_index, auroc and average_precision
// combine their classes, as torchmetrics'
// `average`; how r2_score combines its output columns, as its `multioutput` (their mean, or weighted
// by each column's total sum of squares).
enum class MetricAverage : std::uint8_t { micro, macro, weighted, uniform_average, variance_weighted };
// kendall_rank_corrcoef's variant of tau, as torchmetrics' `variant`: a ignores ties, b (its
// default, so 0: a zeroed MetricsShape means it) corrects for them, c (Stuart's) scales by the
// fewer distinct values.
enum class KendallVariant : std::uint8_t { b, a, c };
// cosine_similarity's reduction of its rows' values, as torchmetrics' `reduction`: their sum (its
// default) or their mean.
enum class MetricReduction : std::uint8_t { sum, mean };
// cohen_kappa's weights of the confusion matrix's cells, as torchmetrics' `weights`: none (1 off
// the diagonal), linear (|i - j|) or quadratic ((i - j)^2).
enum class KappaWeights : std::uint8_t { none, linear, quadratic };
// A metric of model.metrics with its arguments; those the spec leaves out keep torchmetrics'
// defaults. The generated model writes each as metric(kind) followed by the with_* of its arguments.
struct MetricDef {
  MetricKind kind = MetricKind::accuracy;
  // How precision, recall, f1_score, ... combine their classes; r2_score's multioutput.
  MetricAverage average = MetricAverage::micro;
  // torchmetrics' Metric object, whose epoch value comes from the whole epoch, every DDP rank's
  // (accuracy's and the scores' stat scores, EpochCounts; an error's sum; the column sums, R2Sums;
  // the correlations' moments, PearsonMoments; the rank correlations' values and cosine_similarity's rows, EpochValues; ...),
  // instead of the mean of its batches' values.
  bool module = false;
  // accuracy's and the scores' top_k: a prediction is right when the target is among the k
  // largest logits.
  std::int64_t top_k = 1;
  std::int64_t adjusted = 0;  // r2_score's independent regressors: the adjusted r2
  double beta = 1.0;          // fbeta_score's weight of recall against precision
  // squared=False of mean_squared_error and relative_squared_error: their root.
  bool root = false;
  KendallVariant variant = KendallVariant::b;  // kendall_rank_corrcoef's tau
  // critical_success_index's: a value at or above it is an event. Rounded to float32 here, as
  // torch rounds the Python float to the tensors' dtype.
  float threshold = 0.0f;
  MetricReduction reduction = MetricReduction::sum;  // cosine_similarity's
  KappaWeights weights = KappaWeights::none;         // cohen_kappa's

  constexpr MetricDef with_average(MetricAverage a) const { return with(&MetricDef::average, a); }
  constexpr MetricDef as_module() const { return with(&MetricDef::module, true); }
  constexpr MetricDef with_top_k(std::int64_t k) const { return with(&MetricDef::top_k, k); }
  constexpr MetricDef with_adjusted(std::int64_t a) const { return with(&MetricDef::adjusted, a); }
  constexpr MetricDef with_beta(double b) const { return with(&MetricDef::beta, b); }
  constexpr MetricDef with_root() const { return with(&MetricDef::root, true); }
  constexpr MetricDef with_variant(KendallVariant v) const { return with(&MetricDef::variant, v); }
  constexpr MetricDef with_threshold(double t) const { return with(&MetricDef::threshold, static_cast<float>(t)); }
  constexpr MetricDef with_reduction(MetricReduction r) const { return with(&MetricDef::reduction, r); }
  constexpr MetricDef with_weights(KappaWeights w) const { return with(&MetricDef::weights, w); }

 private:
  template <class T>
  constexpr MetricDef with(T MetricDef::*field, T value) const {
    MetricDef d = *this;
    d.*field = value;
    return d;
  }
};
constexpr MetricDef metric(MetricKind kind) {
  MetricDef d;
  d.kind = kind;
  return d;
}

struct ModelDef {
  const char* name;         // spec name, also the binary's name
  const char* spec_json;    // the spec as read: hparams.yaml, and the trainer section
  const char* spec_hash;    // FNV-1a of the spec bytes, hex
  std::size_t arena_bytes;
  int batch_size;           // the largest batch a step handles (rows n <= batch_size)
  // float32_matmul_precision "high" or "medium": the GPU's GEMMs may round their inputs to TF32
  // and use tensor cores, as torch's CUDA matmuls then do. The CPU computes in float32 regardless.
  bool tf32_matmul;

  const ParamDef* params;
  int num_params;
  const InitStep* init_steps = nullptr;  // the default initialisation, in torch's order
  int num_init_steps = 0;
  std::int64_t num_param_elements;  // total floats in the flat parameter region
  // model.freeze: the last num_frozen_elements of the flat regions are frozen parameters
  // (requires_grad=False): no gradient is kept for them and the optimizer does not step them.
  std::int64_t num_frozen_elements = 0;
  std::size_t params_offset;        // flat float32 parameter region
  std::size_t grads_offset;         // flat float32 gradient region, same layout
  std::size_t slots_offset;         // optimizer slots: num_slots regions of the same layout
  int num_slots;
  const char* const* slot_names;    // PyTorch's names: "exp_avg", "exp_avg_sq", "momentum_buffer", ...

  // Every tensor of a step in the arena (batch, activations, gradients), by
  // the names in model.cpp, for tests, debugging and hooks: as the CPU program stores them (the
  // CUDA program keeps some mixed-precision values as 16-bit bits; the loss stays float32).
  const TensorRef* buffers;
  int num_buffers;

  TensorRef input;    // per-batch input buffer, shape[0] == batch_size (the first of model.inputs)
  // model.inputs after the first (a graph model's other inputs, forward's other arguments), in
  // order; each a per-batch buffer like `input`.
  const TensorRef* other_inputs = nullptr;
  int num_other_inputs = 0;
  // Per other input: an int64 one's index bound (its Embedding's num_embeddings), 0 for a float one.
  const std::int64_t* other_num_embeddings = nullptr;
  TensorRef target;   // per-batch target buffer, shape[0] == batch_size
  // false: a loss over the predictions alone (model.target left out); target holds nothing, and
  // the data sources give inputs only.
  bool takes_targets = true;
  TensorRef output;  // the model's output of the last step (logits), shape[0] == batch_size; predict's
  // What the loss and the metrics read of it: `output`, or class logits (batch, C, d1, ...) moved
  // to (batch, d1, ..., C), the rows of classes the metrics count.
  TensorRef metric_output;
  // model.metrics in the spec's order: "accuracy" logs train_acc, val_acc and test_acc, ...
  const MetricDef* metrics = nullptr;
  int num_metrics = 0;
  // model.log.sync_dist: under DDP every logged value is averaged over the ranks (Lightning's
  // self.log(..., sync_dist=True)); else each rank keeps its own and rank 0's are logged.
  bool sync_dist = false;
  // model.log.on_epoch: training_step's values are logged with on_epoch=True too: each step's as
  // train_loss_step, each epoch's batch-size weighted mean as train_loss_epoch (the metrics alike).
  bool log_on_epoch = false;
  std::int64_t num_classes;  // int64 class targets must lie in [0, num_classes); 0 for float targets
  std::int64_t ignore_index; // ... or equal this (CrossEntropyLoss skips them)
  std::int64_t num_embeddings;  // int64 inputs (Embedding indices) lie in [0, num_embeddings); 0: float inputs
  // Tied weights (a Linear's tie_weight): the other name a torch state_dict shows the parameter
  // under, as pairs {alias, owner}: {"head.weight", "wte.weight"}. ltgen's files name it once
  // (the owner), as safetensors' save_model does; --init_weights accepts the alias with equal values.
  const char* const* tied_names = nullptr;
  int num_tied = 0;
  // The loss's constant tensors from the spec (CrossEntropyLoss's `weight`, BCEWithLogitsLoss's
  // `pos_weight`, ...), which a torch state_dict holds as buffers "loss.weight", "loss.pos_weight":
  // --init_weights accepts them when they hold these values.
  const LossBuffer* loss_buffers = nullptr;
  int num_loss_buffers = 0;

  OptimizerConfig optimizer;
  // The optimizer's parameter groups, in order; nullptr/0: one group of every parameter with
  // optimizer.lr and optimizer.weight_decay (param_groups_of gives either as a list).
  const ParamGroupDef* param_groups = nullptr;
  int num_param_groups = 0;
  // BackboneFinetuning (model.backbone): the last parameter group holds the backbone's parameters,
  // which Lightning's callback freezes before configure_optimizers and adds to the optimizer as a
  // new group at its unfreeze epoch. Until then the optimizer leaves that group out (Optimizer::
  // num_active_groups); its lr and weight_decay above are the optimizer's until the callback sets them.
  bool backbone_group = false;
  // The backbone holds BatchNorm parameters that train_bn keeps in the optimizer's groups: Lightning's
  // unfreeze skips them, with a warning.
  bool backbone_has_batch_norm = false;
  DataConfig data;
  // The trainer section, callbacks and seed are read from spec_json when the
  // program runs (ltrt/trainer_config.hpp), with the command line's overrides.

  // Forward, loss and backward over the first n rows of the batch buffers.
  // Backward starts from d(loss) = loss_scale: 1/accumulate_grad_batches as
  // Lightning divides the loss, times the AMP loss scale later. Parameter
  // gradients are added to the grad region when accumulate is true, written
  // over it otherwise. Returns the (unscaled) loss. Dropout draws from rng (torch's masks from its
  // torch generator, layer after layer in the forward's order).
  float (*training_step)(std::byte* arena, int n, float loss_scale, bool accumulate, const DropoutDraws& rng);
  // training_step in two halves, emitted only for programs whose hooks run between them
  // (on_before_zero_grad, on_before_backward, on_after_backward) or that run SWA's BatchNorm epoch
  // (forward alone); nullptr otherwise.
  // training_forward: forward and loss in train mode, returns the loss; training_backward: backward
  // from d(loss) = loss_scale, as training_step's.
  float (*training_forward)(std::byte* arena, int n, const DropoutDraws& rng) = nullptr;
  void (*training_backward)(std::byte* arena, int n, float loss_scale, bool accumulate) = nullptr;
  // StochasticWeightAveraging's BatchNorm epoch (a spec with it and BatchNorm): while on, the
  // BatchNorm forwards average their running statistics cumulatively (momentum=None).
  void (*set_batch_norm_momentum_none)(bool on) = nullptr;
  // Forward and loss in eval mode (dropout off). Returns the loss.
  float (*evaluation_step)(std::byte* arena, int n);
  // Forward only in eval mode, into the output buffer: needs no targets.
  void (*predict_step)(std::byte* arena, int n);

  const LayerSummary* layers;
  int num_layers;

  // Buffers in state_dict order (see StateDef); nullptr/0 for models without any.
  const StateDef* state;
  int num_state;

  // The CUDA steps when the program was built with its CUDA backend (trainer.accelerator
  // "auto" with the toolkit found, or "gpu"); nullptr for a CPU-only program.
  const DeviceSteps* device_steps = nullptr;
};

// The flat regions' trainable part: the optimizer's groups cover [0, trainable_elements).
inline std::int64_t trainable_elements(const ModelDef& m) { return m.num_param_elements - m.num_frozen_elements; }
// Whether a parameter is frozen (model.freeze): torch's requires_grad=False.
inline bool is_frozen(const ModelDef& m, const ParamDef& p) {
  return static_cast<std::int64_t>(p.flat_index) >= trainable_elements(m);
}

}  // namespace ltrt
