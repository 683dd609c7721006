#include "cuda_target.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace ltgen {

namespace {

constexpr std::int64_t kAmpereAndNewer = 99 * 1024;  // sm_86's and sm_89's opt-in limit, the least from sm_80 on
constexpr std::int64_t kTuring = 64 * 1024;          // sm_75's

// The SM version of one entry ("75", "86-real", "90a-virtual", "100f"), or 0 when it is not a
// number ("all", "all-major", "native").
int sm_version(const std::string& entry) {
  std::size_t digits = 0;
  while (digits < entry.size() && std::isdigit(static_cast<unsigned char>(entry[digits]))) ++digits;
  return digits == 0 || digits > 4 ? 0 : std::stoi(entry.substr(0, digits));
}

}  // namespace

CudaTarget cuda_target(const std::string& architectures) {
  CudaTarget t{architectures, kAmpereAndNewer, true};
  std::istringstream in(architectures);
  for (std::string entry; std::getline(in, entry, ';');) {
    const int sm = sm_version(entry);
    if (sm < 80) {
      t.shared_budget = std::min(t.shared_budget, kTuring);
      t.tensor_cores = false;
    }
  }
  return t;
}

}  // namespace ltgen
