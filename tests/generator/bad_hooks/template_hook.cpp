#include <ltrt/hooks.hpp>

template <typename T>
void on_fit_end(T& trainer) { (void)trainer; }
