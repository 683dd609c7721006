// Every hook, each printing one line: the test compares the sequence with Lightning's.
#include <cmath>
#include <cstdio>
#include <ltrt/hooks.hpp>
#include <stdexcept>
#include <string>

namespace {

void log(const char* hook, const ltrt::Trainer& t, const char* extra = "") {
  std::printf("HOOK %s epoch=%lld step=%lld%s%s\n", hook, static_cast<long long>(t.current_epoch),
              static_cast<long long>(t.global_step), t.sanity_checking ? " sanity" : "", extra);
}

void log_batch(const char* hook, const ltrt::Trainer& t, std::int64_t batch_idx) {
  char extra[32];
  std::snprintf(extra, sizeof extra, " batch=%lld", static_cast<long long>(batch_idx));
  log(hook, t, extra);
}

// The loss a hook receives must be a finite number.
void check_loss(float loss) {
  if (!std::isfinite(loss)) throw std::runtime_error("a hook received a non-finite loss");
}

}  // namespace

void setup(ltrt::Trainer& trainer, const std::string& stage) { log(("setup stage=" + stage).c_str(), trainer); }
void teardown(ltrt::Trainer& trainer, const std::string& stage) { log(("teardown stage=" + stage).c_str(), trainer); }
void on_fit_start(ltrt::Trainer& trainer) { log("on_fit_start", trainer); }
void on_sanity_check_start(ltrt::Trainer& trainer) { log("on_sanity_check_start", trainer); }
void on_sanity_check_end(ltrt::Trainer& trainer) { log("on_sanity_check_end", trainer); }
void on_fit_end(ltrt::Trainer& trainer) { log("on_fit_end", trainer); }
void on_train_start(ltrt::Trainer& trainer) { log("on_train_start", trainer); }
void on_train_end(ltrt::Trainer& trainer) { log("on_train_end", trainer); }
void on_train_epoch_start(ltrt::Trainer& trainer) { log("on_train_epoch_start", trainer); }
void on_train_epoch_end(ltrt::Trainer& trainer) { log("on_train_epoch_end", trainer); }
void on_train_batch_start(ltrt::Trainer& trainer, std::int64_t batch_idx) {
  log_batch("on_train_batch_start", trainer, batch_idx);
}
void on_train_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx, float loss) {
  check_loss(loss);
  log_batch("on_train_batch_end", trainer, batch_idx);
}
void on_validation_start(ltrt::Trainer& trainer) { log("on_validation_start", trainer); }
void on_validation_end(ltrt::Trainer& trainer) { log("on_validation_end", trainer); }
void on_validation_epoch_start(ltrt::Trainer& trainer) { log("on_validation_epoch_start", trainer); }
void on_validation_epoch_end(ltrt::Trainer& trainer) { log("on_validation_epoch_end", trainer); }
void on_validation_batch_start(ltrt::Trainer& trainer, std::int64_t batch_idx) {
  log_batch("on_validation_batch_start", trainer, batch_idx);
}
void on_validation_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx, float loss) {
  check_loss(loss);
  log_batch("on_validation_batch_end", trainer, batch_idx);
}
void on_test_start(ltrt::Trainer& trainer) { log("on_test_start", trainer); }
void on_test_end(ltrt::Trainer& trainer) { log("on_test_end", trainer); }
void on_test_epoch_start(ltrt::Trainer& trainer) { log("on_test_epoch_start", trainer); }
void on_test_epoch_end(ltrt::Trainer& trainer) { log("on_test_epoch_end", trainer); }
void on_test_batch_start(ltrt::Trainer& trainer, std::int64_t batch_idx) {
  log_batch("on_test_batch_start", trainer, batch_idx);
}
void on_test_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx, float loss) {
  check_loss(loss);
  log_batch("on_test_batch_end", trainer, batch_idx);
}
void on_predict_start(ltrt::Trainer& trainer) { log("on_predict_start", trainer); }
void on_predict_end(ltrt::Trainer& trainer) { log("on_predict_end", trainer); }
void on_predict_epoch_start(ltrt::Trainer& trainer) { log("on_predict_epoch_start", trainer); }
void on_predict_epoch_end(ltrt::Trainer& trainer) { log("on_predict_epoch_end", trainer); }
void on_predict_batch_start(ltrt::Trainer& trainer, std::int64_t batch_idx) {
  log_batch("on_predict_batch_start", trainer, batch_idx);
}
void on_predict_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx) {
  log_batch("on_predict_batch_end", trainer, batch_idx);
}
// Inside the step, Lightning's trainer.callback_metrics already hold the train_loss that this
// step's training_step logged (its results are read when callback_metrics is): the loss that
// on_before_backward receives times accumulate_grad_batches (2 in order.json).
namespace {
void check_step_loss(const ltrt::Trainer& t, const char* hook, float loss) {
  const auto it = t.callback_metrics.find("train_loss");
  if (it == t.callback_metrics.end() || it->second != 2.0 * static_cast<double>(loss))
    throw std::runtime_error(std::string(hook) + ": callback_metrics has not this step's train_loss");
}
float step_loss = 0;  // the last on_before_backward's loss
}  // namespace

void on_before_zero_grad(ltrt::Trainer& trainer) {
  if (trainer.callback_metrics.count("train_loss") == 0)
    throw std::runtime_error("on_before_zero_grad: callback_metrics has no train_loss");
  log("on_before_zero_grad", trainer);
}
void on_before_backward(ltrt::Trainer& trainer, float loss) {
  check_loss(loss);
  check_step_loss(trainer, "on_before_backward", loss);
  step_loss = loss;
  log("on_before_backward", trainer);
}
void on_after_backward(ltrt::Trainer& trainer) { log("on_after_backward", trainer); }
void on_before_optimizer_step(ltrt::Trainer& trainer) {
  check_step_loss(trainer, "on_before_optimizer_step", step_loss);
  log("on_before_optimizer_step", trainer);
}
void on_save_checkpoint(ltrt::Trainer& trainer) { log("on_save_checkpoint", trainer); }
void on_load_checkpoint(ltrt::Trainer& trainer) { log("on_load_checkpoint", trainer); }
void on_exception(ltrt::Trainer& trainer, const std::exception& exception) {
  log("on_exception", trainer);
  std::printf("%s\n", exception.what());
}
