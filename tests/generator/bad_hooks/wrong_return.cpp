#include <ltrt/hooks.hpp>

bool on_fit_start(ltrt::Trainer& trainer) { return trainer.global_step > 0; }
