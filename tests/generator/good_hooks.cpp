// A hooks file that ltgen accepts: helpers without the on_ prefix (a setup inside a namespace too),
// on_* members of the user's own classes and declarations without definitions are left alone; the
// three hook definitions count.
#include <cstdint>
#include <ltrt/hooks.hpp>
#include <string>
#include <vector>

namespace {

struct History {
  std::vector<double> losses;
  void on_value(double v) { losses.push_back(v); }  // a member, not a hook
};

History history;

void setup(History& h) { h.losses.reserve(64); }  // a helper: setup is a hook only at global scope

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

}  // namespace

void on_validation_end(ltrt::Trainer& trainer);  // a declaration: only definitions count

void on_train_batch_end(ltrt::Trainer& trainer, const std::int64_t batch_idx, float loss) noexcept {
  (void)trainer;
  (void)batch_idx;
  history.on_value(loss);
}

void on_train_epoch_end(ltrt::Trainer& trainer) {
  if (mean(history.losses) < 1e-3) trainer.should_stop = true;
  history.losses.clear();
}

void teardown(ltrt::Trainer& trainer, const std::string& stage) {
  (void)trainer;
  if (stage == "fit") setup(history);
}
