#include <ltrt/hooks.hpp>

static void on_train_start(ltrt::Trainer& trainer) { (void)trainer; }
