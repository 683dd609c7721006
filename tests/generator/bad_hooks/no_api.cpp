// Forgot #include <ltrt/hooks.hpp>: the hook still parses, without the API.
void on_fit_start() {}
