#include <ltrt/hooks.hpp>

#include "helpers.hpp"

void on_fit_start(ltrt::Trainer& trainer) { helper(trainer); }
