/// \file
/// The ltgen command: check a spec, generate its project, build it.
#include <cstring>
#include <iostream>
#include <string>

#include "build_project.hpp"
#include "diagnostics.hpp"
#include "emit_cpu.hpp"
#include "emit_lightning.hpp"
#include "emit_schema.hpp"
#include "lower.hpp"
#include "version.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitSpecError = 1;  // the spec or the build failed
constexpr int kExitUsage = 2;      // the command line is wrong

void usage(std::ostream& os) {
  os << "usage: ltgen SPEC.json [-o DIR] [--emit-only] [--summary] [--dump-ir] [--cuda-arch LIST] [--no-cuda]\n"
        "       ltgen SPEC.json --emit lightning [-o MODEL.py]\n"
        "       ltgen --schema\n"
        "\n"
        "Checks a training spec, generates its C++ training program into DIR\n"
        "(default: build) and builds it as DIR/<name>.\n"
        "\n"
        "  -o DIR        output directory (generated sources, runtime, program)\n"
        "  --emit-only   write the sources but do not build\n"
        "  --summary     print the model, its cost and memory plan; write nothing\n"
        "  --schema      print the JSON Schema of specs (specs/schema.json)\n"
        "  --emit lightning  write the spec as a PyTorch Lightning script instead\n"
        "  --dump-ir     print the IR after each pass to stderr\n"
        "  --cuda-arch LIST  CMAKE_CUDA_ARCHITECTURES of a CUDA program\n"
        "                (default 80-real;90-real;90-virtual: Ampere, Hopper, PTX)\n"
        "  --no-cuda     build a trainer.accelerator \"auto\" program for the CPU only\n"
        "                (its CUDA sources are still written)\n"
        "  --help        this text\n"
        "  --version     ltgen's version\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string spec_path, out_dir = "build";
  bool emit_only = false;
  bool summary = false;
  bool emit_lightning = false;  // -o names the .py file then
  bool no_cuda = false;
  ltgen::LowerOptions options;
  options.command = "ltgen";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage(std::cout);
      return kExitOk;
    } else if (a == "--version") {
      std::cout << "ltgen " << ltgen::kVersion << "\n";
      return kExitOk;
    } else if (a == "-o") {
      if (i + 1 >= argc) {
        std::cerr << "ltgen: error: -o needs a directory\n";
        return kExitUsage;
      }
      out_dir = argv[++i];
      options.command += " -o " + out_dir;
      continue;
    } else if (a == "--emit-only") {
      emit_only = true;
    } else if (a == "--emit") {
      if (i + 1 >= argc || std::string(argv[i + 1]) != "lightning") {
        std::cerr << "ltgen: error: --emit takes 'lightning' (the spec as a PyTorch Lightning script)\n";
        return kExitUsage;
      }
      emit_lightning = true;
      ++i;
      continue;
    } else if (a == "--schema") {
      std::cout << ltgen::emit_schema();
      return kExitOk;
    } else if (a == "--summary") {
      summary = true;
    } else if (a == "--dump-ir") {
      options.dump_ir = true;
    } else if (a == "--no-cuda") {
      no_cuda = true;
    } else if (a == "--cuda-arch" || a.rfind("--cuda-arch=", 0) == 0) {
      std::string list;
      if (a == "--cuda-arch") {
        if (i + 1 >= argc) {
          std::cerr << "ltgen: error: --cuda-arch needs a list such as '80-real;90-real;90-virtual'\n";
          return kExitUsage;
        }
        list = argv[++i];
      } else {
        list = a.substr(12);
      }
      // It lands in the generated CMakeLists.txt: CMake's architecture syntax only.
      const bool ok = !list.empty() && list.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyz-;") == std::string::npos;
      if (!ok) {
        std::cerr << "ltgen: error: --cuda-arch '" << list
                  << "': expected CMAKE_CUDA_ARCHITECTURES entries such as '80-real;90-real;90-virtual'\n";
        return kExitUsage;
      }
      options.cuda_architectures = list;
      continue;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "ltgen: error: unknown option '" << a << "'"
                << ltgen::did_you_mean(a, {"-o", "--emit-only", "--emit", "--summary", "--schema", "--dump-ir", "--cuda-arch",
                                        "--no-cuda", "--help", "--version"}) << "\n";
      usage(std::cerr);
      return kExitUsage;
    } else if (spec_path.empty()) {
      spec_path = a;
    } else {
      std::cerr << "ltgen: error: more than one spec given ('" << spec_path << "' and '" << a << "')\n";
      return kExitUsage;
    }
    options.command += " " + a;
  }
  if (spec_path.empty()) {
    std::cerr << "ltgen: error: no spec given\n";
    usage(std::cerr);
    return kExitUsage;
  }
  // Recorded in the output: what was compiled and how. The output directory and
  // --emit-only do not change the generated text, so they are left out and the
  // files stay byte-identical wherever they are written.
  options.command = "ltgen " + spec_path;
  options.format = !summary && !emit_lightning;

  try {
    const ltgen::Lowered out = ltgen::lower(spec_path, options);
    if (emit_lightning) {  // a Python script: which programs ltgen would build does not matter here
      const std::string path = out_dir == "build" ? out.spec.name + ".py" : out_dir;
      ltgen::write_file(path, ltgen::emit_lightning(out.spec, out.graph));
      std::cerr << "ltgen: wrote " << path << "\n";
      return kExitOk;
    }
    if (summary) {
      std::cout << ltgen::summary_text(out.spec, out.graph, out.plan, options.command);
      return kExitOk;
    }
    ltgen::write_project(out_dir, out.files);
    if (emit_only) {
      std::cerr << "ltgen: wrote " << out_dir << "/ (" << out.spec.name << ")\n";
      return kExitOk;
    }
    return ltgen::build_project(out_dir, out.spec.name, out.cuda, no_cuda) ? kExitOk : kExitSpecError;
  } catch (const ltgen::SpecError& e) {
    std::cerr << e.what() << "\n";
    return kExitSpecError;
  } catch (const std::exception& e) {
    std::cerr << "ltgen: error: " << e.what() << "\n";
    return kExitSpecError;
  }
}
