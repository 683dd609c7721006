#include <ltrt/hooks.hpp>

// Lightning 1.x had on_epoch_end; Lightning 2 and ltgen do not.
void on_epoch_end(ltrt::Trainer& trainer) { (void)trainer; }
