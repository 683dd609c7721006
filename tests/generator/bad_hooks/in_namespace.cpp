#include <ltrt/hooks.hpp>

namespace my_hooks {
void on_fit_start(ltrt::Trainer& trainer) { (void)trainer; }
}  // namespace my_hooks
