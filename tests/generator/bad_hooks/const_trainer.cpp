#include <ltrt/hooks.hpp>

void on_train_end(const ltrt::Trainer& trainer) { (void)trainer; }
