/// \file
/// Drives CMake over a generated project: configure once, build, and put the
/// program at DIR/<name>.
#pragma once

#include <string>

namespace ltgen {

/// Returns true on success; on failure prints the tail of the build log and
/// where the whole log is. cuda: the project has CUDA steps (ccache wraps nvcc too);
/// no_cuda: configure it with LTGEN_CUDA=OFF (an "auto" program for the CPU only).
bool build_project(const std::string& dir, const std::string& name, bool cuda, bool no_cuda);

}  // namespace ltgen
