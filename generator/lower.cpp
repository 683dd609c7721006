#include "lower.hpp"

#include <iostream>

#include "autodiff.hpp"
#include "build_graph.hpp"
#include "emit_cpu.hpp"
#include "fuse_elementwise.hpp"
#include "verify_graph.hpp"

namespace ltgen {

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

  out.files.push_back({"model.hpp", emit_model_hpp(out.spec)});
  out.files.push_back({"model.cpp", emit_model_cpp(out.spec, out.graph, out.plan, options.command)});
  for (auto& f : emit_templates(out.spec.name, out.spec.path)) out.files.push_back(std::move(f));
  return out;
}

}  // namespace ltgen
