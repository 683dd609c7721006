#include <ltrt/hooks.hpp>

void on_train_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx) {
  (void)trainer;
  (void)batch_idx;
}
