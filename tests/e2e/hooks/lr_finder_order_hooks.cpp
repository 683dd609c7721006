// The module's on_fit_start runs after LearningRateFinder's (Lightning puts the tuner callbacks
// first): it sees the suggested learning rate.
#include <cstdio>
#include <ltrt/hooks.hpp>

void on_fit_start(ltrt::Trainer& trainer) { std::printf("HOOK on_fit_start lr=%.17g\n", trainer.lr()); }
