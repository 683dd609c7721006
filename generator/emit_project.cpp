#include "emit_project.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "code_writer.hpp"
#include "version.hpp"

namespace fs = std::filesystem;

namespace ltgen {

namespace {

// ltrt/'s list of the runtime files ltgen copied there (one path a line, relative to ltrt/).
constexpr const char* kRuntimeManifest = "FILES.ltgen";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error(p.string() + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `text` to `p` unless it already holds exactly that; atomic.
void write_if_changed(const fs::path& p, const std::string& text) {
  std::error_code ec;
  if (fs::exists(p, ec) && read_text(p) == text) return;
  if (!p.parent_path().empty()) fs::create_directories(p.parent_path(), ec);
  if (ec) throw std::runtime_error(p.parent_path().string() + ": cannot create directory: " + ec.message());
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out) throw std::runtime_error(tmp.string() + ": cannot write");
  }
  fs::rename(tmp, p, ec);
  if (ec) throw std::runtime_error(p.string() + ": cannot write: " + ec.message());
}

}  // namespace

void write_file(const std::string& path, const std::string& text) { write_if_changed(fs::path(path), text); }

std::string ltgen_home() {
  if (const char* home = std::getenv("LTGEN_HOME"); home && *home) return home;
  return LTGEN_SOURCE_DIR;
}

std::vector<GeneratedFile> emit_templates(const std::string& name, const std::string& spec_path, CudaBuild cuda,
                                          const std::string& cuda_architectures, const std::string& hooks_source,
                                          int ddp_processes) {
  std::vector<GeneratedFile> out;
  const std::string n = std::to_string(ddp_processes);
  const std::string mpi_cmake =
      ddp_processes == 0 ? ""
                         : "# DDP: the spec's trainer asks for " + n + " process" + (ddp_processes == 1 ? "" : "es") +
                               " (run them with `mpirun -n " + n + " ./" + name +
                               " fit`); the runtime averages\n# gradients over MPI (Debian: libmpich-dev or "
                               "libopenmpi-dev), or over NCCL when the processes train on GPUs.\nset(LTRT_MPI ON)\n" +
                               (cuda != CudaBuild::none && ddp_processes > 1 ? "set(LTRT_NCCL ON)\n" : "");
  const std::string hooks_cmake =
      "# The spec's hooks file: the runtime calls the hooks that user_hooks.hpp marks as defined.\n"
      "target_compile_definitions(ltrt PRIVATE LTRT_USER_HOOKS=\"${CMAKE_CURRENT_SOURCE_DIR}/user_hooks.hpp\")\n";
  for (const std::string t : {"main.cpp", "CMakeLists.txt"}) {
    const std::string source = t == "CMakeLists.txt" && cuda != CudaBuild::none ? "CMakeLists.cuda.txt" : t;
    std::string text = read_text(fs::path(ltgen_home()) / "templates" / (source + ".in"));
    replace_all(text, "@NAME@", name);
    replace_all(text, "@VERSION@", kVersion);
    replace_all(text, "@SPEC@", spec_path);
    replace_all(text, "@CUDA_ARCHITECTURES@", cuda_architectures);
    replace_all(text, "@CUDA_REQUIRED@", cuda == CudaBuild::required ? "ON" : "OFF");
    replace_all(text, "@HOOKS_SOURCE@", hooks_source.empty() ? "" : " " + hooks_source);
    replace_all(text, "@MPI_CMAKE@", mpi_cmake);
    replace_all(text, "@HOOKS_CMAKE@\n", hooks_source.empty() ? "" : hooks_cmake);
    out.push_back({t, text});
  }
  return out;
}

void write_project(const std::string& dir, const std::vector<GeneratedFile>& files) {
  for (const auto& f : files) write_if_changed(fs::path(dir) / f.name, f.text);
  // The runtime travels with the project so that it builds anywhere.
  const fs::path runtime = fs::path(ltgen_home()) / "runtime";
  const fs::path copy = fs::path(dir) / "ltrt";
  std::set<std::string> copied;
  for (const auto& entry : fs::recursive_directory_iterator(runtime)) {
    if (!entry.is_regular_file()) continue;
    const fs::path rel = fs::relative(entry.path(), runtime);
    write_if_changed(copy / rel, read_text(entry.path()));
    copied.insert(rel.generic_string());
  }
  // A runtime file an earlier ltgen copied here and this one no longer has goes: the project's
  // CMakeLists compiles every source in ltrt/, and a stale one would be linked in beside its
  // successor. The manifest names what ltgen copied, so that nothing else in ltrt/ is touched.
  const fs::path manifest = copy / kRuntimeManifest;
  std::error_code ec;
  if (fs::is_regular_file(manifest, ec)) {
    std::istringstream before(read_text(manifest));
    for (std::string rel; std::getline(before, rel);) {
      if (rel.empty() || copied.count(rel) || rel.find("..") != std::string::npos || fs::path(rel).is_absolute()) continue;
      fs::remove(copy / rel, ec);
      if (ec) throw std::runtime_error((copy / rel).string() + ": cannot remove a runtime file ltgen no longer has: " +
                                       ec.message());
    }
  }
  std::string list;
  for (const std::string& rel : copied) list += rel + "\n";
  write_if_changed(manifest, list);
}

}  // namespace ltgen
