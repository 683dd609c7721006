// A header of the user own, next to own_header.cpp.
#pragma once
#include <ltrt/hooks.hpp>
inline void helper(ltrt::Trainer& trainer) { (void)trainer; }
