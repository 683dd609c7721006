#include <ltrt/hooks.hpp>

void setup(ltrt::Trainer& trainer, const char* stage) { (void)trainer, (void)stage; }
