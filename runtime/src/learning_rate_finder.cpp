// LearningRateFinder's arithmetic, as Lightning 2.x computes it (tuner/lr_finder.py): the lrs in
// double as Python's, the suggestion in float32 as torch.tensor(list of floats) holds them.
#include "ltrt/learning_rate_finder.hpp"

#include <cmath>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"

namespace ltrt {

std::unique_ptr<LearningRateFinder> LearningRateFinder::read(ConfigObject& a) {
  Options o;
  o.min_lr = a.number("min_lr", 1e-8, 0.0, HUGE_VAL);
  o.max_lr = a.number("max_lr", 1.0, 0.0, HUGE_VAL);
  if (!(o.min_lr > 0)) a.fail("min_lr", "must be positive (the search starts there)");
  if (!(o.max_lr > o.min_lr)) a.fail("max_lr", "must be above min_lr");
  o.num_training_steps = a.integer("num_training_steps", 100, 1);
  // Lightning lowers the mode's case before checking it.
  std::string mode = a.string("mode", "exponential");
  for (char& c : mode) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (mode != "exponential" && mode != "linear")
    a.fail("mode", "`mode` should be either of ('linear', 'exponential')");
  o.exponential = mode == "exponential";
  if (const json::Value* t = a.get("early_stop_threshold"); t && t->is_null()) {
    o.early_stop_threshold.reset();
  } else {
    o.early_stop_threshold = a.number("early_stop_threshold", 4.0, -HUGE_VAL, HUGE_VAL);
  }
  o.update_attr = a.boolean("update_attr", true);
  // The attribute the Lightning script's module keeps its lr in (found as "lr" when not given).
  (void)a.string("attr_name", "", {"", "lr", "learning_rate"});
  a.finish();
  return std::make_unique<LearningRateFinder>(o);
}

void LearningRateFinder::start() {
  lrs_.clear();
  losses_.clear();
  avg_loss_ = 0;
  best_loss_ = 0;
}

double LearningRateFinder::lr_before_step(std::int64_t steps) const {
  // The scheduler's get_lr with last_epoch = steps: r = (last_epoch + 1) / num_iter; the base lr
  // (min_lr) at last_epoch 0.
  if (steps == 0) return o_.min_lr;
  const double r = static_cast<double>(steps + 1) / static_cast<double>(o_.num_training_steps);
  if (o_.exponential) return o_.min_lr * std::pow(o_.max_lr / o_.min_lr, r);
  return o_.min_lr + r * (o_.max_lr - o_.min_lr);
}

bool LearningRateFinder::record(double loss, std::int64_t global_step) {
  // _LRCallback.on_train_batch_end: avg_loss with momentum beta, then bias-corrected by the step.
  constexpr double beta = 0.98;
  avg_loss_ = beta * avg_loss_ + (1 - beta) * loss;
  const double smoothed = avg_loss_ / (1 - std::pow(beta, static_cast<double>(global_step + 1)));
  const bool diverged =
      o_.early_stop_threshold && global_step > 1 && smoothed > *o_.early_stop_threshold * best_loss_;
  if (smoothed < best_loss_ || global_step == 1) best_loss_ = smoothed;
  losses_.push_back(smoothed);
  return diverged;
}

std::optional<double> LearningRateFinder::suggestion() const {
  constexpr std::size_t skip_begin = 10, skip_end = 1;
  // losses[10:-1] and lrs[10:-1] as float32, the finite losses kept.
  std::vector<float> losses, lrs;
  std::vector<std::size_t> index;
  for (std::size_t i = skip_begin; i + skip_end < losses_.size(); ++i) {
    const float loss = static_cast<float>(losses_[i]);
    if (!std::isfinite(loss)) continue;
    losses.push_back(loss);
    lrs.push_back(static_cast<float>(lrs_[i]));
    index.push_back(i);
  }
  if (losses.size() < 2) return std::nullopt;
  // torch.gradient(losses, spacing=[lrs]), edge_order 1: one-sided differences at the ends,
  // a * f[i-1] + b * f[i] + c * f[i+1] inside, each product and sum rounded to float32 in turn.
  const std::size_t n = losses.size();
  std::vector<float> gradient(n);
  gradient[0] = (losses[1] - losses[0]) / (lrs[1] - lrs[0]);
  gradient[n - 1] = (losses[n - 1] - losses[n - 2]) / (lrs[n - 1] - lrs[n - 2]);
  for (std::size_t i = 1; i + 1 < n; ++i) {
    const float dx1 = lrs[i] - lrs[i - 1], dx2 = lrs[i + 1] - lrs[i];
    const float a = -dx2 / (dx1 * (dx1 + dx2));
    const float b = (dx2 - dx1) / (dx1 * dx2);
    const float c = dx1 / (dx2 * (dx1 + dx2));
    const float left = a * losses[i - 1], middle = b * losses[i], right = c * losses[i + 1];
    gradient[i] = (left + middle) + right;
  }
  // torch.argmin: the first smallest, a NaN counting as the smallest.
  std::size_t best = 0;
  for (std::size_t i = 1; i < n; ++i) {
    if (std::isnan(gradient[best])) break;
    if (std::isnan(gradient[i]) || gradient[i] < gradient[best]) best = i;
  }
  return lrs_[index[best]];
}

}  // namespace ltrt
