// The one exception type of the runtime: every failure (bad file, bad
// argument, bad state) throws it with a message a user can act on.
#pragma once

#include <stdexcept>

namespace ltrt {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace ltrt
