#include "lower.hpp"

#include <iostream>

#include "autocast.hpp"
#include "autodiff.hpp"
#include "build_graph.hpp"
#include "check_hooks.hpp"
#include "check_index_sizes.hpp"
#include "diagnostics.hpp"
#include "emit_hooks.hpp"
#include "format_source.hpp"
#include "emit_cpu.hpp"
#include "emit_cuda.hpp"
#include "fuse_elementwise.hpp"
#include "param_groups.hpp"
#include "verify_graph.hpp"

namespace ltgen {

namespace {

// Whether the program gets CUDA steps: "cpu" never; "gpu" and "auto" do, as every op has a CUDA
// lowering. "auto" programs build their CUDA side wherever CMake finds the toolkit, so the
// generated sources do not depend on the machine that generates them.
bool choose_cuda(const Spec& spec) { return spec.trainer.accelerator != "cpu"; }

// Where in the spec file the JSON path of a layer, the loss, an input or data.batch_size is (none
// for another path).
ltrt::json::Pos spec_position(const Spec& spec, const std::string& json_path) {
  if (json_path == "data.batch_size") return spec.batch_size_pos;
  if (json_path == spec.loss.source) return spec.loss.pos;
  for (const LayerSpec& l : spec.layers)
    if (l.source == json_path) return l.pos;
  for (const InputSpec& in : spec.inputs)
    if ("model.inputs." + in.name == json_path) return in.pos;
  return {};
}

}  // namespace

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
  if (out.spec.swa_batch_norm_epoch)        // SWA's BatchNorm epoch switches them to momentum=None
    for (Node& n : out.graph.nodes)
      if (n.op == "batch_norm" && attr_bool(n, "track_running_stats") && !attr_bool(n, "cumulative"))
        n.attrs["momentum_switch"] = true;
  dump("build_graph");
  if (out.spec.mixed_precision()) {
    autocast_bf16(out.graph, out.spec);     // torch.autocast's casts and roundings (bfloat16 or float16)
    dump("autocast_bf16");
  }
  differentiate(out.graph);                 // backward nodes, gradients summed at fan-out
  dump("differentiate");
  fuse_elementwise(out.graph);              // activations into their producer's loop
  dump("fuse_elementwise");
  // optimizer.param_groups' patterns against the parameters' names, then one arena, fixed offsets.
  out.plan = plan_memory(out.graph, out.spec.optimizer, assign_param_groups(out.graph, out.spec));

  // A tensor too large for int indices (CPU and CUDA alike) is refused before anything is emitted.
  const IndexSizeProblem sizes = check_index_sizes(out.graph);
  if (!sizes.reason.empty())
    throw SpecError(out.spec.path, spec_position(out.spec, sizes.json_path), sizes.json_path, sizes.reason);
  out.cuda = choose_cuda(out.spec);  // trainer.accelerator

  out.files.push_back({"model.hpp", emit_model_hpp(out.spec, out.graph, out.cuda)});
  out.files.push_back({"model.cpp", emit_model_cpp(out.spec, out.graph, out.plan, options.command, out.cuda)});
  if (out.cuda)
    out.files.push_back({"model_cuda.cu", emit_model_cu(out.spec, out.graph, out.plan, options.command,
                                                         cuda_target(options.cuda_architectures))});
  const CudaBuild build = !out.cuda ? CudaBuild::none
                          : out.spec.trainer.accelerator == "gpu" ? CudaBuild::required
                                                                  : CudaBuild::when_found;
  const bool hooks = !out.spec.hooks.empty();
  const int ddp_processes = out.spec.trainer.ddp() ? out.spec.trainer.processes() : 0;
  for (auto& f : emit_templates(out.spec.name, out.spec.path, build, options.cuda_architectures,
                                hooks ? kHooksSource : "", ddp_processes))
    out.files.push_back(std::move(f));
  if (hooks) out.files.push_back({"user_hooks.hpp", emit_user_hooks_hpp(out.spec)});
  // Generated C++ and CUDA in the project's style (libFormat); the user's hooks file is compiled as written.
  if (options.format)
    for (GeneratedFile& f : out.files) {
      const auto dot = f.name.find_last_of('.');
      const std::string ext = dot == std::string::npos ? "" : f.name.substr(dot);
      if (ext == ".cpp" || ext == ".hpp" || ext == ".cu") f.text = format_source(f.text, f.name);
    }
  if (hooks) out.files.push_back({kHooksSource, out.spec.hooks_text});
  return out;
}

}  // namespace ltgen
