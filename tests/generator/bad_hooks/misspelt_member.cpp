#include <ltrt/hooks.hpp>

void on_train_epoch_end(ltrt::Trainer& trainer) {
  if (trainer.current_epoc > 3) trainer.should_stop = true;
}
