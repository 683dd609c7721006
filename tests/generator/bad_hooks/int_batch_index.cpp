#include <ltrt/hooks.hpp>

void on_validation_batch_start(ltrt::Trainer& trainer, int batch_idx) {
  (void)trainer;
  (void)batch_idx;
}
