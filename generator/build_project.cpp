#include "build_project.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace ltgen {

namespace {

// Single quotes for /bin/sh; paths come from the user, not the spec.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool run(const std::string& command, const fs::path& log) {
  const std::string full = command + " >> " + shell_quote(log.string()) + " 2>&1";
  return std::system(full.c_str()) == 0;
}

void print_tail(const fs::path& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const size_t from = lines.size() > 30 ? lines.size() - 30 : 0;
  for (size_t i = from; i < lines.size(); ++i) std::cerr << lines[i] << "\n";
}

}  // namespace

bool build_project(const std::string& dir, const std::string& name, bool cuda, bool no_cuda) {
  const fs::path root = fs::absolute(dir);
  const fs::path build = root / "build";
  const fs::path log = root / "build.log";
  std::ofstream(log, std::ios::trunc) << "";
  const bool ninja = std::system("command -v ninja > /dev/null 2>&1") == 0;
  std::string configure = "cmake -S " + shell_quote(root.string()) + " -B " + shell_quote(build.string()) +
                          " -DCMAKE_BUILD_TYPE=Release -DCMAKE_RUNTIME_OUTPUT_DIRECTORY=" +
                          shell_quote(root.string());
  if (ninja && !fs::exists(build / "CMakeCache.txt")) configure += " -G Ninja";
  // Every project compiles the same runtime sources: ccache makes that a cache hit.
  if (std::system("command -v ccache > /dev/null 2>&1") == 0) {
    configure += " -DCMAKE_CXX_COMPILER_LAUNCHER=ccache";
    if (cuda && !no_cuda) configure += " -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache";
  }
  if (cuda) configure += no_cuda ? " -DLTGEN_CUDA=OFF" : " -DLTGEN_CUDA=ON";
  const std::string compile = "cmake --build " + shell_quote(build.string());
  if (!run(configure, log) || !run(compile, log)) {
    std::cerr << "ltgen: error: building the generated project in " << root.string() << " failed:\n";
    print_tail(log);
    std::cerr << "ltgen: the whole build log is " << log.string() << "\n";
    return false;
  }
  std::cerr << "ltgen: built " << (root / name).string() << "\n";
  return true;
}

}  // namespace ltgen
