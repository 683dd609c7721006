/// \file
/// Writes the self-contained generated project: generated sources, its
/// CMakeLists.txt from templates/, and a copy of the runtime.
#pragma once

#include <string>
#include <vector>

namespace ltgen {

struct GeneratedFile {
  std::string name;  // relative to the output directory
  std::string text;
};

/// Where ltgen finds templates/ and runtime/ (LTGEN_HOME, else the source tree it was built from).
std::string ltgen_home();

/// How a generated project builds its CUDA side: not at all (a CPU program), when CMake finds
/// the CUDA toolkit (trainer.accelerator "auto"), or always ("gpu": no toolkit is an error).
enum class CudaBuild { none, when_found, required };

/// main.cpp and CMakeLists.txt from templates/, with placeholders filled in. CUDA projects use
/// CMakeLists.cuda.txt.in with CMAKE_CUDA_ARCHITECTURES `cuda_architectures`. `hooks_source` is
/// the project's copy of the spec's hooks file ("" for none): it joins the program's sources,
/// and the runtime is compiled with LTRT_USER_HOOKS naming user_hooks.hpp. `ddp_processes` > 0:
/// the spec's trainer asks for DDP with that many processes, and the runtime is built with MPI.
std::vector<GeneratedFile> emit_templates(const std::string& name, const std::string& spec_path, CudaBuild cuda,
                                          const std::string& cuda_architectures, const std::string& hooks_source = "",
                                          int ddp_processes = 0);

/// Writes one file atomically; throws std::runtime_error naming the path.
void write_file(const std::string& path, const std::string& text);

/// Writes files whose content changed (so rebuilds stay incremental) and
/// mirrors runtime/ into DIR/ltrt: a runtime file an earlier ltgen copied there
/// (ltrt/FILES.ltgen lists them) that runtime/ no longer has is removed, other
/// files are left alone. Throws std::runtime_error naming the path.
void write_project(const std::string& dir, const std::vector<GeneratedFile>& files);

}  // namespace ltgen
