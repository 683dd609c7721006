#include "lower.hpp"

#include <iostream>

#include "autodiff.hpp"
#include "build_graph.hpp"
#include "check_hooks.hpp"
#include "emit_hooks.hpp"
#include "format_source.hpp"
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
  if (!out.spec.hooks.empty()) {            // the hooks file, with Clang, before anything is generated
    HooksFile hooks = check_hooks(out.spec.hooks);
    out.spec.hooks_text = std::move(hooks.text);
    out.spec.hooks_defined = std::move(hooks.defined);
  }
  out.graph = build_graph(out.spec);        // forward IR, shapes inferred per node
  dump("build_graph");
  differentiate(out.graph);                 // backward nodes, gradients summed at fan-out
  dump("differentiate");
  fuse_elementwise(out.graph);              // activations into their producer's loop
  dump("fuse_elementwise");
  out.plan = plan_memory(out.graph, out.spec.optimizer);  // one arena, fixed offsets

  out.files.push_back({"model.hpp", emit_model_hpp(out.spec)});
  out.files.push_back({"model.cpp", emit_model_cpp(out.spec, out.graph, out.plan, options.command)});
  const bool hooks = !out.spec.hooks.empty();
  for (auto& f : emit_templates(out.spec.name, out.spec.path, hooks ? kHooksSource : ""))
    out.files.push_back(std::move(f));
  if (hooks) out.files.push_back({"user_hooks.hpp", emit_user_hooks_hpp(out.spec)});
  // Generated C++ in the project's style (libFormat); the user's hooks file is compiled as written.
  for (GeneratedFile& f : out.files) {
    const auto dot = f.name.find_last_of('.');
    const std::string ext = dot == std::string::npos ? "" : f.name.substr(dot);
    if (ext == ".cpp" || ext == ".hpp") f.text = format_source(f.text, f.name);
  }
  if (hooks) out.files.push_back({kHooksSource, out.spec.hooks_text});
  return out;
}

}  // namespace ltgen
