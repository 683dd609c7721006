#include "lower.hpp"

#include <iostream>

#include "autodiff.hpp"
#include "build_graph.hpp"
#include "diagnostics.hpp"
#include "emit_cpu.hpp"
#include "emit_cuda.hpp"
#include "fuse_elementwise.hpp"
#include "verify_graph.hpp"

namespace ltgen {

namespace {

// Whether the program gets CUDA steps: "cpu" never; "gpu" always, refusing a layer without a
// CUDA lowering; "auto" when every layer has one (else the CPU program, and a note says why).
// "auto" programs build their CUDA side wherever CMake finds the toolkit, so the generated
// sources do not depend on the machine that generates them.
bool choose_cuda(const Spec& spec, const Graph& g, std::string& note) {
  const std::string& accelerator = spec.trainer.accelerator;
  if (accelerator == "cpu") return false;
  const std::string place = cuda_unsupported(g);
  if (place.empty()) return true;
  const LayerSpec* layer = spec.loss.source == place ? &spec.loss : nullptr;
  for (const LayerSpec& l : spec.layers)
    if (l.source == place) layer = &l;
  const std::string type = layer ? layer->type : "this layer";
  if (accelerator == "gpu")
    throw SpecError(spec.path, layer ? layer->pos : ltrt::json::Pos{}, place,
                    type + " does not run on the GPU yet (trainer.accelerator is \"gpu\"); the GPU supports " +
                        cuda_supported_layers() + "; use \"auto\" or \"cpu\" for the CPU program");
  note = "ltgen: note: " + place + " (" + type +
         ") does not run on the GPU yet: trainer.accelerator \"auto\" generates the CPU program only";
  return false;
}

}  // namespace

Lowered lower(const std::string& spec_path, const LowerOptions& options) {
  Lowered out;
  auto dump = [&](const char* pass) {
    verify_graph(out.graph, pass);
    if (options.dump_ir) std::cerr << "== IR after " << pass << " ==\n" << dump_graph(out.graph) << "\n";
  };

  out.spec = read_spec(spec_path);          // parse and check every field
  out.graph = build_graph(out.spec);        // forward IR, shapes inferred per node
  dump("build_graph");
  differentiate(out.graph);                 // backward nodes, gradients summed at fan-out
  dump("differentiate");
  fuse_elementwise(out.graph);              // activations into their producer's loop
  dump("fuse_elementwise");
  out.plan = plan_memory(out.graph, out.spec.optimizer);  // one arena, fixed offsets

  out.cuda = choose_cuda(out.spec, out.graph, out.note);  // trainer.accelerator

  out.files.push_back({"model.hpp", emit_model_hpp(out.spec, out.cuda)});
  out.files.push_back({"model.cpp", emit_model_cpp(out.spec, out.graph, out.plan, options.command, out.cuda)});
  if (out.cuda) out.files.push_back({"model_cuda.cu", emit_model_cu(out.spec, out.graph, out.plan, options.command)});
  const CudaBuild build = !out.cuda ? CudaBuild::none
                          : out.spec.trainer.accelerator == "gpu" ? CudaBuild::required
                                                                  : CudaBuild::when_found;
  for (auto& f : emit_templates(out.spec.name, out.spec.path, build, options.cuda_architectures))
    out.files.push_back(std::move(f));
  return out;
}

}  // namespace ltgen
