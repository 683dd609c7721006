#include <ltrt/hooks.hpp>

void on_train_epoch_end(ltrt::Trainer& trainer) {
  trainer.should_stop = true
}
