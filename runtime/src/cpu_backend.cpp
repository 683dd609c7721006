// The CPU backend: the generated model's CPU steps over the host arena, the CPU optimizer.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "ltrt/backend.hpp"
#include "ltrt/metrics.hpp"
#include "ltrt/optimizer.hpp"
#include "ltrt/rng.hpp"

namespace ltrt {

namespace {

class CpuBackend : public Backend {
 public:
  CpuBackend(const ModelDef& model, Arena& host, const ProcessGroup& group) : model_(model), host_(host), group_(group) {}
  std::string device() const override { return "cpu"; }
  void upload() override {}    // the host arena is where the steps run
  void download() override {}
  void upload_state() override {}
  void set_batch_norm_momentum_none(bool on) override {
    if (model_.set_batch_norm_momentum_none) model_.set_batch_norm_momentum_none(on);
  }
  void train(const TrainStep& s, Optimizer& optimizer, DropoutDraws dropout) override {
    draw_counter_seed(dropout);
    loss_ = model_.training_step(host_.data(), s.n, s.loss_scale, s.accumulate, dropout);
    if (s.sync_gradients) group_.average(grad_region(model_, host_.data()), trainable_elements(model_));
    if (s.optimizer_step) step_optimizer(s.clip_val, s.clip_by_value, optimizer);
  }
  float loss() override { return loss_; }
  void outputs(int) override {}  // already in the host arena
  void evaluate(int n) override {
    eval_loss_ = model_.evaluation_step(host_.data(), n);
    sums_.loss += static_cast<double>(eval_loss_) * n;
    double values[kMaxMetrics];
    batch_metrics(model_, host_.data(), n, values);
    const MetricsShape shape = metrics_shape(model_);
    for (int k = 0; k < model_.num_metrics; ++k) sums_.metric[k] += shape.summed_value(k, values[k]) * n;
    sums_.rows += n;
    states_.add(shape, reinterpret_cast<const float*>(host_.data() + model_.metric_output.offset),
                host_.data() + model_.target.offset, n);
  }
  float eval_loss() override { return eval_loss_; }
  EvalSums take_eval_sums() override { return std::exchange(sums_, EvalSums{}); }
  MetricStates take_eval_states() override { return std::exchange(states_, MetricStates{}); }
  void predict(int n) override { model_.predict_step(host_.data(), n); }
  // training_forward and training_backward exist: the trainer checks it when the hooks need them.
  float train_forward(const TrainStep& s, DropoutDraws dropout) override {
    draw_counter_seed(dropout);
    return loss_ = model_.training_forward(host_.data(), s.n, dropout);
  }
  void train_backward(const TrainStep& s) override {
    model_.training_backward(host_.data(), s.n, s.loss_scale, s.accumulate);
    if (s.sync_gradients) group_.average(grad_region(model_, host_.data()), trainable_elements(model_));
  }
  void broadcast_buffers() override { ltrt::broadcast_buffers(group_, model_, host_.data()); }
  void zero_gradients() override {
    float* grad = grad_region(model_, host_.data());
    std::fill(grad, grad + trainable_elements(model_), 0.0f);
  }
  void step_optimizer(double clip_val, bool clip_by_value, Optimizer& optimizer) override {
    clip_and_step(model_, host_.data(), clip_val, clip_by_value, optimizer);
  }
  void fetch_for_hooks(int, bool) override {}  // the host arena is where the steps run
  void average_reset(const AveragingRule& rule) override {
    rule_ = rule;
    average_.resize(model_state_bytes(model_));
    scratch_.resize(average_.size());  // allocated once: swaps and updates allocate nothing
    gather_model_state(model_, host_.data(), average_.data());
  }
  void average_update(std::int64_t n_averaged) override {
    update_average(model_, average_.data(), host_.data(), rule_, n_averaged);
  }
  void average_swap() override {
    gather_model_state(model_, host_.data(), scratch_.data());
    scatter_model_state(model_, average_.data(), host_.data());
    average_.swap(scratch_);
  }
  void average_to_model(bool parameters_only) override {
    if (!parameters_only) return scatter_model_state(model_, average_.data(), host_.data());
    const float* average = reinterpret_cast<const float*>(average_.data());
    std::copy(average, average + model_.num_param_elements, param_region(model_, host_.data()));
  }
  void average_read(std::byte* copy) override { std::copy(average_.begin(), average_.end(), copy); }

 private:
  // Under LTGEN_DROPOUT_MASKS=counter, the step's seed of the GPU's masks, drawn as the GPU backend
  // draws it (once a step, from the dropout stream).
  static void draw_counter_seed(DropoutDraws& dropout) {
    if (dropout.counter_masks) dropout.counter_seed = dropout.own.next_u64();
  }

  const ModelDef& model_;
  Arena& host_;
  const ProcessGroup& group_;
  float loss_ = 0;
  float eval_loss_ = 0;
  EvalSums sums_;
  MetricStates states_;  // the Metric objects' states of the evaluation so far
  AveragingRule rule_;
  std::vector<std::byte> average_, scratch_;  // WeightAveraging's copy of the model, and room for a swap
};

}  // namespace

void broadcast_buffers(const ProcessGroup& group, const ModelDef& model, std::byte* arena) {
  for (int i = 0; i < model.num_state; ++i) {
    const TensorRef& t = model.state[i].value;
    group.broadcast(arena + t.offset, static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype));
  }
}

// torch.nn.utils.clip_grad_norm_ / clip_grad_value_ over every parameter.
void clip_gradients(float* g, std::int64_t n, double clip_val, bool by_value) {
  if (by_value) {
    const float v = static_cast<float>(clip_val);
    for (std::int64_t i = 0; i < n; ++i) g[i] = std::clamp(g[i], -v, v);
    return;
  }
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(g[i]) * g[i];
  const float total_norm = static_cast<float>(std::sqrt(sum));
  const float coef = static_cast<float>(clip_val) / (total_norm + 1e-6f);
  if (coef < 1.0f)
    for (std::int64_t i = 0; i < n; ++i) g[i] *= coef;
}

void clip_and_step(const ModelDef& model, std::byte* arena, double clip_val, bool clip_by_value, Optimizer& optimizer) {
  // The active groups' gradients only: a backbone's before BackboneFinetuning adds it are None in torch.
  if (clip_val > 0) clip_gradients(grad_region(model, arena), optimizer.active_elements(), clip_val, clip_by_value);
  optimizer.step();
}

std::unique_ptr<Backend> make_cpu_backend(const ModelDef& model, Arena& host, const ProcessGroup& group) {
  return std::make_unique<CpuBackend>(model, host, group);
}

}  // namespace ltrt
