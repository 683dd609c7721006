// Helpers the runtime's unit tests share.
#pragma once

#include <functional>
#include <string>

#include "ltrt/error.hpp"

namespace ltrt_test {

// The message of the ltrt::Error that f throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ltrt::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace ltrt_test
