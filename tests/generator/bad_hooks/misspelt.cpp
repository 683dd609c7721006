#include <ltrt/hooks.hpp>

void on_train_epoc_end(ltrt::Trainer& trainer) { trainer.should_stop = true; }
