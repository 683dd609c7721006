/// \file
/// The CPU emitter: writes model.hpp/model.cpp for a planned graph, one
/// function per op instance named after its layer, and the step functions.
#include "emit_cpu.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "code_writer.hpp"
#include "op.hpp"
#include "optimizer_args.hpp"
#include "program_emitter.hpp"

namespace ltgen {

namespace {

using namespace emit;

// A metric's ltrt::MetricDef: metric(kind) and a with_* for each argument that is not torchmetrics' default.
std::string metric_def(const MetricSpec& metric) {
  std::string def = "ltrt::metric(ltrt::MetricKind::" + metric.name + ")";
  if (metric.average != "micro") def += ".with_average(ltrt::MetricAverage::" + metric.average + ")";
  if (metric.module) def += ".as_module()";
  if (metric.top_k > 1) def += ".with_top_k(" + std::to_string(metric.top_k) + ")";
  if (metric.adjusted > 0) def += ".with_adjusted(" + std::to_string(metric.adjusted) + ")";
  if (metric.beta != 1.0) def += ".with_beta(" + double_literal(metric.beta) + ")";
  if (metric.root) def += ".with_root()";
  if (metric.variant != "b") def += ".with_variant(ltrt::KendallVariant::" + metric.variant + ")";
  if (metric.threshold != 0.0) def += ".with_threshold(" + double_literal(metric.threshold) + ")";
  if (metric.reduction != "sum") def += ".with_reduction(ltrt::MetricReduction::" + metric.reduction + ")";
  if (metric.weights != "none") def += ".with_weights(ltrt::KappaWeights::" + metric.weights + ")";
  return def;
}

// OptimizerConfig assignments ("beta1", "0.9") of torch.optim arguments.
std::vector<std::pair<std::string, std::string>> config_fields(const std::vector<OptimizerArg>& args) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (const OptimizerArg& a : args)
    for (size_t i = 0; i < a.fields.size(); ++i)
      fields.emplace_back(a.fields[i], a.boolean || a.line_search ? (a.values[i] != 0 ? "true" : "false")
                                       : a.integer ? std::to_string(static_cast<std::int64_t>(a.values[i]))
                                                   : number(a.values[i]));
  return fields;
}

// What indices an int64 model input may hold: the smallest num_embeddings of the Embeddings that
// read it, [0, bound); 0 for an input no Embedding reads (a float input).
std::int64_t index_bound(const Graph& g, int input) {
  std::int64_t bound = 0;
  for (const Node& n : g.nodes)
    if (n.op == "embedding" && g.root(n.inputs[0]) == input) {
      const std::int64_t rows = attr_int(n, "num_embeddings");
      bound = bound == 0 ? rows : std::min(bound, rows);
    }
  return bound;
}

// The CPU program: one C++ function per node, the step functions calling them in schedule order.
// A node whose function would be the same as an earlier one's but for the name (a layer of the
// same shapes) calls that one.
struct CpuEmitter : Emitter {
  std::vector<std::string> bodies;  // per node; views have none
  std::vector<size_t> body_from;    // per node: the node whose function it calls, or itself (first_alike)

  CpuEmitter(const Spec& s, const Graph& graph, const MemoryPlan& p) : Emitter(s, graph, p) {
    bodies.resize(g.nodes.size());
    std::vector<std::string> functions(g.nodes.size());  // a function's text but for its name
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const OpDef& d = op_def(g.nodes[i].op);
      if (d.view) continue;
      CodeWriter body(1);
      d.emit_cpu(body, g.nodes[i], g);
      bodies[i] = body.str();
      functions[i] = with_list("", params(i)) + bodies[i];
    }
    body_from = first_alike(functions);
  }

  // The parameters of node `index`'s function.
  std::vector<std::string> params(size_t index) const {
    const Node& n = g.nodes[index];
    std::vector<std::string> p = value_params(index);
    for (const auto& s : step_params(n)) p.push_back(s);
    if (draws_random(n)) p.push_back("const ltrt::DropoutDraws& rng");
    return p;
  }

  void emit_function(CodeWriter& w, size_t index) const {
    function_preamble(w, index);
    const std::vector<std::string> params = this->params(index);
    if (emit_call_alike(w, index, body_from, params)) return;
    w.line("static void " + with_list(fn_names[index], params) + " {");
    w.raw(bodies[index]);
    w.line("}");
  }

  // trainer.detect_anomaly: after backward node `index`, a check of each gradient it wrote (its
  // live rows of a batched one) for NaN, naming the node; nothing without it.
  std::vector<std::string> anomaly_checks(size_t index) const {
    const Node& n = g.nodes[index];
    std::vector<std::string> lines;
    if (!spec.trainer.detect_anomaly || !n.backward) return lines;
    for (int o : n.outputs) {
      const Value& v = g.value(o);
      if ((!v.gradient && v.kind != ValueKind::param_grad) || v.dtype != DType::f32) continue;
      const std::int64_t per_row = v.batched ? numel(v.shape) / v.shape.at(0) : numel(v.shape);
      const std::string count = v.batched ? "static_cast<std::int64_t>(n) * " + std::to_string(per_row) : std::to_string(per_row);
      const std::string node = n.layer + " (" + n.source + ", " + n.op + ")";
      lines.push_back("ltrt::check_gradient(" + v.name + ", " + count + ", " + cpp_string_literal(node) + ", " +
                      cpp_string_literal(v.name) + ");");
    }
    return lines;
  }

  std::string call(size_t index, bool training) const {
    const Node& n = g.nodes[index];
    std::vector<std::string> args = value_args(n);
    for (const auto& a : step_args(n, training)) args.push_back(a);
    if (draws_random(n)) args.push_back("rng");
    return with_list(fn_names[index], args) + ";";
  }

  void emit_split_step(CodeWriter& w, bool has_accumulate) const {
    w.line();
    w.line("// The training step in two halves, for the spec's hooks that run between them");
    w.line("// (on_before_zero_grad, on_before_backward, on_after_backward): forward and loss");
    w.line("// in train mode ...");
    w.open("static float training_forward(std::byte* arena, int n, const ltrt::DropoutDraws& rng)");
    for (int v : used_values(true, false)) emit_view(w, v);
    bool forward_rng = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (n.backward || op_def(n.op).view) continue;
      forward_rng = forward_rng || draws_random(n);
      w.line(call(i, true));
    }
    if (!forward_rng) w.line("(void)rng;  // no layer draws random numbers");
    w.line("return loss[0];");
    w.close();
    w.line();
    w.line("// ... and backward in reverse from d(loss) = loss_scale, over the activations forward left.");
    w.open("static void training_backward(std::byte* arena, int n, float loss_scale, bool accumulate)");
    for (int v : used_values(false, true)) emit_view(w, v);
    if (!has_accumulate) w.line("(void)accumulate;");
    w.line("d_loss[0] = loss_scale;");
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (!n.backward || op_def(n.op).view) continue;
      if (draws_random(n))
        throw std::logic_error("backward node " + g.value(n.outputs[0]).name + " draws random numbers");
      w.line(call(i, true));
      for (const std::string& line : anomaly_checks(i)) w.line(line);
    }
    w.close();
  }

  void emit_steps(CodeWriter& w) const {
    bool has_rng = false, has_accumulate = false;
    for (const Node& n : g.nodes) {
      has_rng = has_rng || draws_random(n);
      has_accumulate = has_accumulate || op_def(n.op).writes_param_grad;
    }
    if (split_step()) emit_split_step(w, has_accumulate);
    w.line();
    w.line("// One training step over the first n rows of the batch buffers: forward,");
    w.line("// loss, then backward in reverse from d(loss) = loss_scale. Parameter");
    w.line("// gradients are written, or added to when accumulate is set.");
    w.open("static float training_step(std::byte* arena, int n, float loss_scale, bool accumulate, const ltrt::DropoutDraws& rng)");
    if (split_step()) {
      w.line("const float l = training_forward(arena, n, rng);");
      w.line("training_backward(arena, n, loss_scale, accumulate);");
      w.line("return l;");
      w.close();
    } else {
      emit_fused_step(w, has_rng, has_accumulate);
    }
    emit_eval_steps(w);
  }

  // training_step's body: forward, loss and backward in one function.
  void emit_fused_step(CodeWriter& w, bool has_rng, bool has_accumulate) const {
    emit_views(w, true);
    if (!has_rng) w.line("(void)rng;  // no layer draws random numbers");
    if (!has_accumulate) w.line("(void)accumulate;");
    w.line("d_loss[0] = loss_scale;");
    w.line();
    emit_training_calls(w, [&](size_t i) { return call(i, true); }, [&](size_t i) { return anomaly_checks(i); });
    w.line("return loss[0];");
    w.close();
  }

  // What eval mode's calls of layers that draw in training are given: they draw nothing.
  static void write_unused_draws(CodeWriter& w) {
    w.line("ltrt::TorchGenerator unused_torch(0);  // eval mode draws nothing");
    w.line("ltrt::Generator unused_own(0);");
    w.line("const ltrt::DropoutDraws unused_rng{unused_torch, unused_own};");
  }

  void emit_eval_steps(CodeWriter& w) const {
    w.line();
    w.line("// Forward and loss in eval mode (Dropout off), as in validation and test.");
    w.open("static float evaluation_step(std::byte* arena, int n)");
    emit_views(w, false);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (n.backward || op_def(n.op).view) continue;
      if (draws_random(n)) {
        write_unused_draws(w);
        break;
      }
    }
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (n.backward || op_def(n.op).view) continue;
      std::string c = call(i, false);
      if (draws_random(n)) c.replace(c.rfind("rng);"), 5, "unused_rng);");
      w.line(c);
    }
    w.line("return loss[0];");
    w.close();

    w.line();
    w.line("// Forward only in eval mode, into the output buffer (predict): no targets, no loss.");
    w.open("static void predict_step(std::byte* arena, int n)");
    for (int v : predict_values()) emit_view(w, v);
    bool rng = false;
    for (const Node& n : g.nodes)
      if (!n.backward && !is_loss(n) && draws_random(n)) rng = true;
    if (rng) write_unused_draws(w);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (n.backward || op_def(n.op).view || is_loss(n)) continue;
      std::string c = call(i, false);
      if (draws_random(n)) c.replace(c.rfind("rng);"), 5, "unused_rng);");
      w.line(c);
    }
    w.close();
  }

};

// The default initialisation (init_program.hpp): torch's steps in torch's order, each line saying
// which parameter and what torch does to it.
void emit_init_steps(CodeWriter& w, const Graph& g) {
  w.line("// Initialisation without --init_weights: what torch's constructors do after seed_everything, in");
  w.line("// their order, on its generator: uniform_(-bound, bound), normal_(0, std), fill_, a clone's copy.");
  w.open("const ltrt::InitStep kInitSteps[] =");
  const auto index = [&](int p) { return std::find(g.params.begin(), g.params.end(), p) - g.params.begin(); };
  for (const InitStep& s : g.init_steps) {
    const char* kind = s.kind == Init::zeros      ? "zeros"
                       : s.kind == Init::ones     ? "ones"
                       : s.kind == Init::normal   ? "normal"
                       : s.kind == Init::constant ? "constant"
                       : s.kind == Init::copy     ? "copy"
                       : s.kind == Init::discard  ? "discard"
                                                  : "uniform";
    std::string line = "{" + (s.param < 0 ? std::string("-1") : std::to_string(index(s.param))) +
                       ", ltrt::InitKind::" + kind + ", " + number(s.value);
    // The optional fields, as far as one is set: a zeroed row, the parameter copied, draws dropped.
    if (s.zero_row >= 0 || s.copy_of >= 0 || s.draws > 0) line += ", " + std::to_string(s.zero_row);
    if (s.copy_of >= 0 || s.draws > 0) line += ", " + std::to_string(s.copy_of < 0 ? -1 : index(s.copy_of));
    if (s.draws > 0) line += ", " + std::to_string(s.draws);
    std::string note = s.param < 0 ? "a tied Linear's own weight, which torch draws and drops"
                                   : g.value(s.param).torch_name;
    if (s.kind == Init::copy) note += " = " + g.value(s.copy_of).torch_name;
    if (s.zero_row >= 0) note += ", row " + std::to_string(s.zero_row) + " zeroed (padding_idx)";
    w.line(line + "},  // " + note);
  }
  w.close(";");
}

// A split's torchvision transforms (ltrt::TransformConfig, in their order), kTrainTransforms and
// the like: each transform's kind and the arguments it has (the other fields keep their defaults),
// with each Normalize's float32 means and stds and each RandomErasing's values beside them.
void emit_transforms(CodeWriter& w, const std::string& split, const std::vector<TransformSpec>& transforms) {
  const std::string prefix = std::string("k") + static_cast<char>(std::toupper(split[0])) + split.substr(1);
  const std::string array = prefix + "Transforms";
  const auto floats = [](const std::vector<float>& v) {
    std::string list;
    for (float x : v) list += (list.empty() ? "" : ", ") + float_literal(x);
    return list;
  };
  const auto boolean = [](bool b) { return std::string(b ? "true" : "false"); };
  w.line("// data." + split + ".transforms, in order (a RandomApply's own list follows it)");
  w.line("static ltrt::TransformConfig " + array + "[" + std::to_string(transforms.size()) + "];");
  for (size_t i = 0; i < transforms.size(); ++i) {
    const TransformSpec& t = transforms[i];
    const std::string at = array + "[" + std::to_string(i) + "].";
    const auto set = [&](const std::string& field, const std::string& value) {
      w.line(at + field + " = " + value + ";");
    };
    // ltrt::TransformKind's enumerators are torchvision's class names in snake_case.
    std::string kind;
    for (char ch : t.type) {
      if (std::isupper(static_cast<unsigned char>(ch)) && !kind.empty()) kind += '_';
      kind += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    const std::string& type = t.type;
    if (type == "Normalize") {
      w.line("static const float " + prefix + "Normalize" + std::to_string(i) + "Mean[] = {" + floats(t.mean) + "};");
      w.line("static const float " + prefix + "Normalize" + std::to_string(i) + "Std[] = {" + floats(t.std) + "};");
    }
    if (type == "RandomErasing" && !t.erase_values.empty())
      w.line("static const float " + prefix + "Erasing" + std::to_string(i) + "Value[] = {" + floats(t.erase_values) +
             "};");
    const bool warp = type == "RandomRotation" || type == "RandomAffine";
    if (type == "RandomChoice" && t.v2)
      w.line("static const float " + prefix + "Choice" + std::to_string(i) + "P[] = {" + floats(t.choice_p) + "};");
    if (type == "RandomChoice" && !t.choice_weights.empty()) {
      std::string list;
      for (double x : t.choice_weights) list += (list.empty() ? "" : ", ") + number(x);
      w.line("static const double " + prefix + "Choice" + std::to_string(i) + "Weights[] = {" + list + "};");
    }
    if (warp && !t.fill_values.empty())
      w.line("static const float " + prefix + "Fill" + std::to_string(i) + "[] = {" + floats(t.fill_values) + "};");
    w.line(at + "kind = ltrt::TransformKind::" + kind + ";  // " + (t.v2 ? "v2." : "") + type);
    if (t.v2) set("v2", "true");
    if (type == "RandomHorizontalFlip" || type == "RandomVerticalFlip" || type == "RandomGrayscale" ||
        type == "RandomInvert" || type == "RandomSolarize" || type == "RandomAutocontrast" || type == "RandomErasing" ||
        type == "RandomApply")
      set("p", number(t.p));
    if (type == "RandomCrop" || type == "CenterCrop" || type == "Resize" || type == "RandomResizedCrop") {
      set("size_h", std::to_string(t.size_h));
      set("size_w", std::to_string(t.size_w));
    }
    if (type == "RandomCrop" || type == "Pad") {
      for (const auto& [field, value] : {std::pair<const char*, std::int64_t>{"pad_left", t.pad_left},
                                         {"pad_right", t.pad_right},
                                         {"pad_top", t.pad_top},
                                         {"pad_bottom", t.pad_bottom}})
        if (value != 0) set(field, std::to_string(value));
      if (t.padding_mode != "constant") set("padding_mode", "ltrt::PadMode::" + t.padding_mode);
      if (t.fill != 0) set("fill", number(t.fill));
      if (t.pad_if_needed) set("pad_if_needed", "true");
      if (t.padding_given && type == "RandomCrop") set("padding_given", "true");
    }
    if (type == "Normalize") {
      set("num_values", std::to_string(t.mean.size()));
      set("mean", prefix + "Normalize" + std::to_string(i) + "Mean");
      set("std", prefix + "Normalize" + std::to_string(i) + "Std");
    }
    if (type == "GaussianNoise") {
      set("noise_mean", number(t.noise_mean));
      set("sigma", number(t.sigma));
      set("clip", boolean(t.clip));
    }
    if (type == "Resize" || type == "RandomResizedCrop") {
      set("interpolation",
          "ltrt::ResizeMode::" + (t.interpolation == "nearest-exact" ? std::string("nearest_exact") : t.interpolation));
      set("antialias", boolean(t.antialias));
      if (t.max_size > 0) set("max_size", std::to_string(t.max_size));
    }
    if (type == "ColorJitter") {
      const char* factors[4] = {"brightness", "contrast", "saturation", "hue"};
      for (int k = 0; k < 4; ++k)
        if (!std::isnan(t.jitter[2 * k])) {
          w.line(at + "jitter[" + std::to_string(2 * k) + "] = " + number(t.jitter[2 * k]) + ";  // " + factors[k] +
                 ": [min, max]");
          set("jitter[" + std::to_string(2 * k + 1) + "]", number(t.jitter[2 * k + 1]));
        }
    }
    if (type == "RandomSolarize") set("threshold", number(t.threshold));
    if (type == "RandomResizedCrop" || type == "RandomErasing") {
      for (int k = 0; k < 2; ++k) set("scale[" + std::to_string(k) + "]", number(t.scale[k]));
      for (int k = 0; k < 2; ++k) set("ratio[" + std::to_string(k) + "]", number(t.ratio[k]));
    }
    if (type == "RandomErasing" && !t.erase_values.empty()) {
      set("num_erase_values", std::to_string(t.erase_values.size()));
      set("erase_values", prefix + "Erasing" + std::to_string(i) + "Value");
    }
    if (type == "RandomErasing" && t.erase_values.empty()) w.line("// (value=\"random\": no values)");
    if (warp) {
      w.line(at + "degrees[0] = " + number(t.degrees[0]) + ";  // the angle's [min, max]");
      set("degrees[1]", number(t.degrees[1]));
      set("interpolation", "ltrt::ResizeMode::" + t.interpolation);
      if (t.center_given) {
        set("center_given", "true");
        for (int k = 0; k < 2; ++k) set("center[" + std::to_string(k) + "]", number(t.center[k]));
      }
      if (t.fill_values.empty()) {
        w.line("// (fill=None: the pixels from outside are zeros, unmixed)");
      } else {
        set("num_fill_values", std::to_string(t.fill_values.size()));
        set("fill_values", prefix + "Fill" + std::to_string(i));
      }
    }
    if (type == "RandomAffine") {
      if (!std::isnan(t.translate[0]))
        for (int k = 0; k < 2; ++k) set("translate[" + std::to_string(k) + "]", number(t.translate[k]));
      if (t.affine_scale[0] > 0)
        for (int k = 0; k < 2; ++k) set("scale[" + std::to_string(k) + "]", number(t.affine_scale[k]));
      if (!t.shear.empty()) {
        set("num_shear", std::to_string(t.shear.size()));
        for (size_t k = 0; k < t.shear.size(); ++k) set("shear[" + std::to_string(k) + "]", number(t.shear[k]));
      }
    }
    if (type == "RandomApply")
      w.line(at + "group = " + std::to_string(t.group) + ";  // the transforms after it that it applies or skips");
    if (type == "RandomChoice" || type == "RandomOrder")
      w.line(at + "group = " + std::to_string(t.group) + ";  // the transforms after it that are its list's");
    if (type == "RandomChoice" && t.v2) {
      set("num_choice_p", std::to_string(t.choice_p.size()));
      set("choice_p", prefix + "Choice" + std::to_string(i) + "P");
    }
    if (type == "RandomChoice" && !t.choice_weights.empty()) {  // v1's p (none: every transform alike)
      set("num_choice_p", std::to_string(t.choice_weights.size()));
      set("choice_weights", prefix + "Choice" + std::to_string(i) + "Weights");
    }
  }
  const std::string f = "m.data." + split + ".";
  w.line(f + "transforms = " + array + ";");
  w.line(f + "num_transforms = " + std::to_string(transforms.size()) + ";");
}

}  // namespace

std::string cpp_string_literal(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '?': out += "\\?"; break;  // no trigraphs, whatever the compiler's mode
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\%03o", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string summary_text(const Spec& spec, const Graph& g, const MemoryPlan& plan, const std::string& command) {
  Emitter e(spec, g, plan);
  std::string out;
  for (const std::string& l : e.describe(command)) out += l + "\n";
  return out;
}

std::string emit_model_hpp(const Spec& spec, const Graph& g, bool with_cuda) {
  CodeWriter w;
  w.line("// " + spec.name + ": the generated model's entry point (see model.cpp).");
  w.line("#pragma once");
  w.line();
  w.line("#include <ltrt/model.hpp>");
  w.line();
  w.line("namespace " + spec.name + " {");
  w.line("const ltrt::ModelDef& model();");
  if (with_cuda) w.line("const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu");
  if (with_cuda && has_bf16_attention(g))
    w.line("int exp_vector_width();  // model.cpp's: its CUDA kernels split the keys as the CPU's attention does");
  w.line("}  // namespace " + spec.name);
  return w.str();
}

std::string emit_model_cpp(const Spec& spec, const Graph& g, const MemoryPlan& plan, const std::string& command,
                           bool with_cuda) {
  CpuEmitter e(spec, g, plan);
  CodeWriter w;
  e.emit_header(w, command);
  w.line();
  std::set<std::string> standard = {"<algorithm>", "<cmath>", "<cstddef>", "<cstdint>"};
  for (const Node& n : g.nodes)
    for (const std::string& inc : op_def(n.op).cpu_includes) standard.insert(inc);
  for (const std::string& inc : standard) w.line("#include " + inc);
  w.line();
  std::set<std::string> includes = {"<ltrt/activations.hpp>", "<ltrt/blas.hpp>", "<ltrt/parallel_for.hpp>",
                                   "<ltrt/dropout_draws.hpp>", "<ltrt/rng.hpp>", "<ltrt/torch_generator.hpp>"};
  for (const Node& n : g.nodes) {
    for (const std::string& inc : op_def(n.op).cpu_runtime_includes) includes.insert(inc);
    if (n.op == "batch_norm") {  // BatchNorm refuses a training batch of one value per channel
      includes.insert("<ltrt/error.hpp>");
      includes.insert("<ltrt/reduce.hpp>");  // and sums its statistics in double
      if (n.attrs.count("sync")) includes.insert("<ltrt/process_group.hpp>");  // over the ranks (SyncBatchNorm)
    }
  }
  if (has_bf16_attention(g)) includes.insert("<ltrt/fexp_u20.hpp>");                   // torch's exp
  // autocast.cpp's roundings: bfloat16 on the CPU ("16-mixed" runs as bf16-mixed there, as in Lightning)
  if (spec.mixed_precision()) includes.insert("<ltrt/bfloat16.hpp>");
  if (spec.trainer.detect_anomaly) includes.insert("<ltrt/anomaly.hpp>");
  for (const std::string& inc : includes) w.line("#include " + inc);
  w.line();
  w.line("#include \"model.hpp\"");
  w.line();
  w.line("namespace " + spec.name + " {");
  w.line();
  w.line("constexpr int kBatch = " + std::to_string(spec.batch_size) + ";  // data.batch_size: rows of a full batch");
  w.line();
  if (has_bf16_attention(g)) {
    w.line("// bf16-mixed's attention: torch's vectorised exp loop covers whole vectors of keys (16 floats with");
    w.line("// AVX-512, 8 with AVX2; the program is built for the machine it runs on, as torch picks its");
    w.line("// kernels), the rest use std::exp.");
    w.line("#ifdef __AVX512F__");
    w.line("constexpr int kExpVectorWidth = 16;");
    w.line("#else");
    w.line("constexpr int kExpVectorWidth = 8;");
    w.line("#endif");
    if (with_cuda) w.line("int exp_vector_width() { return kExpVectorWidth; }");
    w.line();
  }
  if (spec.swa_batch_norm_epoch) {
    w.line("// StochasticWeightAveraging's BatchNorm epoch: the BatchNorm forwards average their running");
    w.line("// statistics cumulatively (momentum=None) while the runtime has this set.");
    w.line("bool batch_norm_momentum_none = false;");
    w.line("void set_batch_norm_momentum_none(bool on) { batch_norm_momentum_none = on; }");
    w.line();
  }
  w.line("// Byte offsets of every buffer in the arena (the memory plan above).");
  e.emit_offsets(w);

  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!op_def(g.nodes[i].op).view) e.emit_function(w, i);
  e.emit_steps(w);

  // The tables the runtime reads.
  w.line();
  w.line("// Parameters in state_dict order: name, shape, place.");
  w.open("const ltrt::ParamDef kParams[] =");
  for (int p : g.params) {
    const Value& v = g.value(p);
    w.line("{" + tensor_ref(v, plan.offset.at(p), v.torch_name) + ", " + std::to_string(plan.flat_index.at(p)) + "},");
  }
  w.close(";");
  w.line();
  emit_init_steps(w, g);
  w.line();
  if (!g.state.empty()) {
    w.line("// Buffers in state_dict order (running statistics): name, shape, place; their init.");
    w.open("const ltrt::StateDef kState[] =");
    for (int s : g.state) {
      const Value& v = g.value(s);
      w.line("{" + tensor_ref(v, plan.offset.at(s), v.torch_name) + ", ltrt::InitKind::" +
             (v.init == Init::ones ? "ones" : "zeros") + "},");
    }
    w.close(";");
    w.line();
  }
  if (!plan.slot_names.empty()) {
    std::string names;
    for (const auto& s : plan.slot_names) names += (names.empty() ? "" : ", ") + cpp_string_literal(s);
    w.line("const char* const kSlotNames[] = {" + names + "};");
    w.line();
  }
  w.line("// ModelSummary: each layer of the spec, its parameters and output shape.");
  w.open("const ltrt::LayerSummary kLayers[] =");
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    if (!spec.layers[i].module.empty()) continue;  // a module applied again: listed once, as Lightning's modules
    const std::string name = spec.graph ? spec.layers[i].name : "layers." + std::to_string(i);
    std::int64_t count = 0;
    for (int p : g.params)
      if (g.value(p).torch_name.rfind(name + ".", 0) == 0) count += numel(g.value(p).shape);
    std::string shape = "[";
    const Shape& s = g.value(g.layer_outputs.at(i)).shape;
    for (size_t d = 0; d < s.size(); ++d) shape += (d ? ", " : "") + std::to_string(s[d]);
    shape += "]";
    // Lightning's DDPStrategy converts the BatchNorms before the summary (trainer.sync_batchnorm).
    const bool synced = spec.trainer.syncs_batch_norm() && spec.layers[i].type.rfind("BatchNorm", 0) == 0;
    const std::string type = synced ? "SyncBatchNorm" : spec.layers[i].type;
    w.line("{" + cpp_string_literal(name) + ", " + cpp_string_literal(type) + ", " + std::to_string(count) + ", " +
           cpp_string_literal(shape) + "},");
  }
  w.close(";");
  w.line();
  w.line("// Every tensor of a step, by its name here: for tests, debugging and hooks.");
  w.open("const ltrt::TensorRef kBuffers[] =");
  for (size_t v = 0; v < g.values.size(); ++v) {
    const Value& val = g.values[v];
    if (val.kind == ValueKind::param || !plan.offset.count(static_cast<int>(v))) continue;
    w.line(tensor_ref(val, plan.offset.at(static_cast<int>(v)), val.name) + ",");
  }
  w.close(";");
  w.line();
  w.line("// The spec as read, for hparams.yaml and checkpoints.");
  w.line("const char kSpecJson[] =");
  {
    std::istringstream in(spec.text);
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(in, line)) lines.push_back(line);
    for (size_t i = 0; i < lines.size(); ++i)
      w.line("    " + cpp_string_literal(lines[i] + "\n") + (i + 1 == lines.size() ? ";" : ""));
    if (lines.empty()) w.line("    \"\";");
  }
  w.line();
  w.open("const ltrt::ModelDef& model()");
  w.open("static const ltrt::ModelDef m = []");
  w.line("ltrt::ModelDef m{};");
  w.line("m.name = " + cpp_string_literal(spec.name) + ";");
  w.line("m.spec_json = kSpecJson;");
  w.line("m.spec_hash = " + cpp_string_literal(spec.hash) + ";");
  w.line("m.arena_bytes = " + std::to_string(plan.arena_bytes) + ";");
  w.line("m.batch_size = kBatch;");
  if (spec.float32_matmul_precision != "highest")
    w.line("m.tf32_matmul = true;  // float32_matmul_precision \"" + spec.float32_matmul_precision +
           "\": TF32 GEMMs on the GPU");
  w.line("m.params = kParams;");
  w.line("m.num_params = " + std::to_string(g.params.size()) + ";");
  w.line("m.init_steps = kInitSteps;");
  w.line("m.num_init_steps = " + std::to_string(g.init_steps.size()) + ";");
  w.line("m.num_param_elements = " + std::to_string(plan.param_elements) + ";");
  if (plan.frozen_elements > 0) {
    std::string frozen;
    for (int p : g.params)
      if (g.value(p).frozen) frozen += (frozen.empty() ? "" : ", ") + g.value(p).torch_name;
    for (const std::string& c : comment_lines("model.freeze (requires_grad=False; no gradient, no optimizer step): " + frozen, 90))
      w.line(c);
    w.line("m.num_frozen_elements = " + std::to_string(plan.frozen_elements) + ";  // the flat regions' last elements");
  }
  w.line("m.params_offset = " + std::to_string(plan.params_offset) + ";");
  w.line("m.grads_offset = " + std::to_string(plan.grads_offset) + ";");
  w.line("m.slots_offset = " + std::to_string(plan.slots_offset) + ";");
  w.line("m.num_slots = " + std::to_string(plan.slot_names.size()) + ";");
  w.line("m.buffers = kBuffers;");
  w.line("m.num_buffers = static_cast<int>(sizeof kBuffers / sizeof kBuffers[0]);");
  w.line(std::string("m.slot_names = ") + (plan.slot_names.empty() ? "nullptr" : "kSlotNames") + ";");
  const Value& x = g.value(g.inputs.at(0));
  const Value& y = g.value(g.target);
  w.line("m.input = " + tensor_ref(x, plan.offset.at(g.inputs[0]), x.name) + ";");
  if (g.inputs.size() > 1) {  // forward's other arguments, in model.inputs' order
    w.line("static const ltrt::TensorRef kOtherInputs[] = {");
    for (size_t k = 1; k < g.inputs.size(); ++k) {
      const Value& other = g.value(g.inputs[k]);
      w.line("    " + tensor_ref(other, plan.offset.at(g.inputs[k]), other.name) + ",");
    }
    w.line("};");
    w.line("m.other_inputs = kOtherInputs;");
    w.line("m.num_other_inputs = " + std::to_string(g.inputs.size() - 1) + ";");
    std::string bounds;
    for (size_t k = 1; k < g.inputs.size(); ++k) bounds += (k > 1 ? ", " : "") + std::to_string(index_bound(g, g.inputs[k]));
    w.line("static const std::int64_t kOtherNumEmbeddings[] = {" + bounds + "};  // int64 ones' index bounds; 0: float");
    w.line("m.other_num_embeddings = kOtherNumEmbeddings;");
  }
  w.line("m.target = " + tensor_ref(y, plan.offset.at(g.target), "target") + ";");
  if (spec.target.none) w.line("m.takes_targets = false;  // model.target left out: the batches hold inputs only");
  const Value& out = g.value(g.output);
  w.line("m.output = " + tensor_ref(out, plan.offset.at(g.output), out.name) + ";");
  const Value& scored = g.value(g.metric_output);
  if (g.metric_output == g.output)
    w.line("m.metric_output = m.output;  // what the metrics read");
  else
    w.line("m.metric_output = " + tensor_ref(scored, plan.offset.at(g.metric_output), scored.name) +
           ";  // what the metrics read: the classes last, as the loss reads them");
  if (!spec.metrics.empty()) {  // logged after the loss as <stage>_acc, _mae, _mse, _precision, _recall, _f1, ...
    w.line("// model.metrics, each with the arguments the spec gives it");
    w.line("static constexpr ltrt::MetricDef kMetrics[] = {");
    for (const MetricSpec& metric : spec.metrics) w.line("    " + metric_def(metric) + ",");
    w.line("};");
    w.line("m.metrics = kMetrics;");
    w.line("m.num_metrics = " + std::to_string(spec.metrics.size()) + ";");
  }
  if (spec.sync_dist) w.line("m.sync_dist = true;  // model.log: logged values averaged over DDP's ranks");
  if (spec.log_on_epoch) w.line("m.log_on_epoch = true;  // model.log: train_loss_epoch besides train_loss_step");
  w.line("m.num_classes = " + std::to_string(spec.target.num_classes) + ";  // 0: regression targets");
  const auto ignore = spec.loss.args.find("ignore_index");
  if (find_layer(spec.loss.type)->class_lists || find_layer(spec.loss.type)->label_sequences)
    w.line("m.ignore_index = -1;  // the targets list classes, -1 ending a row");
  else
    w.line("m.ignore_index = " +
           std::to_string(ignore != spec.loss.args.end() ? std::get<std::int64_t>(ignore->second) : -100) + ";");
  if (const std::int64_t bound = index_bound(g, g.inputs[0]); bound > 0)  // int64 inputs are an Embedding's indices
    w.line("m.num_embeddings = " + std::to_string(bound) +
           ";  // the data loader refuses indices outside [0, num_embeddings)");
  std::vector<std::string> tied;  // {alias, owner} pairs: a Linear's tie_weight
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    auto tie = spec.layers[i].args.find("tie_weight");
    if (tie == spec.layers[i].args.end() || !spec.layers[i].module.empty()) continue;
    tied.push_back((spec.graph ? spec.layers[i].name : "layers." + std::to_string(i)) + ".weight");
    tied.push_back(std::get<std::string>(tie->second) + ".weight");
  }
  if (!tied.empty()) {
    std::string list;
    for (const std::string& t : tied) list += (list.empty() ? "" : ", ") + cpp_string_literal(t);
    w.line("static const char* const kTied[] = {" + list + "};  // {alias, owner}: one parameter");
    w.line("m.tied_names = kTied;");
    w.line("m.num_tied = " + std::to_string(tied.size() / 2) + ";");
  }
  std::vector<std::string> loss_buffers;  // the loss's number lists: torch's loss.<name> buffers
  for (const auto& [name, value] : spec.loss.args) {
    const auto* values = std::get_if<std::vector<double>>(&value);
    if (!values) continue;
    std::string list;
    for (double x : *values) list += (list.empty() ? "" : ", ") + float_literal(x);
    const std::string array = "kLoss_" + name;
    w.line("static const float " + array + "[] = {" + list + "};  // torch's loss." + name);
    loss_buffers.push_back("{\"loss." + name + "\", " + array + ", " + std::to_string(values->size()) + "}");
  }
  if (!loss_buffers.empty()) {
    std::string list;
    for (const std::string& b : loss_buffers) list += (list.empty() ? "" : ", ") + b;
    w.line("static const ltrt::LossBuffer kLossBuffers[] = {" + list + "};");
    w.line("m.loss_buffers = kLossBuffers;");
    w.line("m.num_loss_buffers = " + std::to_string(loss_buffers.size()) + ";");
  }
  const OptimizerSpec& o = spec.optimizer;
  std::string kind = o.type;  // OptimizerKind's names are torch.optim's in lower case
  std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char ch) { return std::tolower(ch); });
  const auto num = number;
  w.line("// optimizer: torch.optim." + o.type);
  w.line("m.optimizer.kind = ltrt::OptimizerKind::" + kind + ";");
  for (const auto& [field, value] : config_fields(optimizer_args(o.type, o)))
    w.line("m.optimizer." + field + " = " + value + ";");
  if (!o.param_groups.empty() || spec.backbone_finetuning) {
    // A group's other hyperparameters (betas, momentum, ...): the optimizer's, changed where it sets them.
    std::vector<std::string> own(plan.groups.size());
    for (size_t i = 0; i < plan.groups.size(); ++i) {
      const auto fields = config_fields(group_own_args(o.type, plan.groups[i].group.options, o));
      if (fields.empty()) continue;
      own[i] = "kGroup" + std::to_string(i) + "Optimizer";
      const std::string& name = plan.groups[i].group.name;
      w.line("// param group " + std::to_string(i) + (name.empty() ? "" : " (" + name + ")") +
             ": its own hyperparameters, the optimizer's otherwise");
      w.open("static const ltrt::OptimizerConfig " + own[i] + " = [&]");
      w.line("ltrt::OptimizerConfig c = m.optimizer;");
      for (const auto& [field, value] : fields) w.line("c." + field + " = " + value + ";");
      w.line("return c;");
      w.close("();");
    }
    const bool any_own = std::any_of(own.begin(), own.end(), [](const std::string& o) { return !o.empty(); });
    w.line("// optimizer.param_groups: name, lr, weight_decay, then the group's elements [begin, begin + count)");
    w.line(std::string("// of the flat regions (its parameters lie together)") +
           (any_own ? ", then its other hyperparameters" : ""));
    w.open("static const ltrt::ParamGroupDef kParamGroups[] =");
    for (size_t i = 0; i < plan.groups.size(); ++i) {
      const MemoryPlan::GroupRange& r = plan.groups[i];
      const ParamGroup& pg = r.group;
      std::string members;
      for (int p : pg.params) members += (members.empty() ? "" : ", ") + g.value(p).torch_name;
      const bool backbone = spec.backbone_finetuning && i + 1 == plan.groups.size();
      const std::string label = backbone ? "the backbone (BackboneFinetuning adds it at its unfreeze epoch): "
                                         : pg.name.empty() ? "" : pg.name + ": ";
      for (const std::string& c : comment_lines(label + members, 90)) w.line(c);
      w.line("{" + (pg.name.empty() ? std::string("nullptr") : cpp_string_literal(pg.name)) + ", " +
             num(pg.options.lr) + ", " + num(pg.options.weight_decay) + ", " + std::to_string(r.begin) + ", " +
             std::to_string(r.count) + (own[i].empty() ? "" : ", &" + own[i]) + "},");
    }
    w.close(";");
    w.line("m.param_groups = kParamGroups;");
    w.line("m.num_param_groups = " + std::to_string(plan.groups.size()) + ";");
    if (spec.backbone_finetuning) {
      w.line("m.backbone_group = true;  // the last group: BackboneFinetuning adds it at its unfreeze epoch");
      // train_bn: the backbone's BatchNorm trains from the start, in the groups above.
      const bool batch_norm = std::any_of(g.params.begin(), g.params.end(), [&](int p) {
        return g.value(p).backbone && !g.value(p).joins_late;
      });
      if (batch_norm) w.line("m.backbone_has_batch_norm = true;  // (train_bn) Lightning's unfreeze warns that it skips it");
    }
  }
  w.line("// data");
  w.line("m.data.batch_size = kBatch;");
  w.line(std::string("m.data.shuffle = ") + (spec.shuffle ? "true" : "false") + ";");
  w.line(std::string("m.data.drop_last = ") + (spec.drop_last ? "true" : "false") + ";");
  if (spec.num_workers > 0) w.line("m.data.num_workers = " + std::to_string(spec.num_workers) + ";");
  if (spec.persistent_workers) w.line("m.data.persistent_workers = true;");
  if (spec.prefetch_factor > 0) w.line("m.data.prefetch_factor = " + std::to_string(spec.prefetch_factor) + ";");
  const std::pair<const char*, const DataSourceSpec*> splits[] = {
      {"train", &spec.train}, {"val", &spec.val}, {"test", &spec.test}, {"predict", &spec.predict}};
  for (const auto& [split, source] : splits) {
    const DataSourceSpec& s = *source;
    const std::string f = std::string("m.data.") + split + ".";
    w.line(f + "kind = ltrt::DataSourceKind::" + (s.source.empty() ? "none" : s.source) + ";");
    if (s.source == "randn") w.line(f + "num_samples = " + std::to_string(s.num_samples) + ";");
    if (!s.sample_shape.empty()) {  // randn's samples as drawn, before the transforms crop them
      const std::string array =
          std::string("k") + static_cast<char>(std::toupper(split[0])) + (split + 1) + "SampleShape";
      std::string dims;
      for (std::int64_t d : s.sample_shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
      w.line("static const std::int64_t " + array + "[] = {" + dims + "};");
      w.line(f + "sample_shape = " + array + ";");
      w.line(f + "sample_rank = " + std::to_string(s.sample_shape.size()) + ";");
    }
    if (s.source == "npy") {
      w.line(f + "x_path = " + cpp_string_literal(s.x) + ";");
      if (!s.other_x.empty()) {  // the other model inputs' files, in order (kTrainOtherXPaths, ...)
        const std::string array = std::string("k") + static_cast<char>(std::toupper(split[0])) + (split + 1) +
                                  "OtherXPaths";
        std::string list = "static const char* const " + array + "[] = {";
        for (const std::string& path : s.other_x) list += cpp_string_literal(path) + ", ";
        w.line(list + "nullptr};");
        w.line(f + "other_x_paths = " + array + ";");
      }
      if (!s.y.empty()) w.line(f + "y_path = " + cpp_string_literal(s.y) + ";");
    }
    if (s.source == "csv") {
      w.line(f + "csv_path = " + cpp_string_literal(s.path) + ";");
      if (!s.target_column.empty()) w.line(f + "target_column = " + cpp_string_literal(s.target_column) + ";");
      w.line(f + "csv_header = true;");
    }
    if (s.source == "text") {
      w.line(f + "text_path = " + cpp_string_literal(s.path) + ";");
      w.line(f + "text_begin = " + num(s.range_begin) + ";");
      w.line(f + "text_end = " + num(s.range_end) + ";");
    }
    if (s.source == "prompt") {
      w.line(f + "prompt = " + cpp_string_literal(s.prompt) + ";");
      w.line(f + "max_new_tokens = " + std::to_string(s.max_new_tokens) + ";");
      w.line(f + "temperature = " + num(s.temperature) + ";");
      w.line(f + "top_k = " + std::to_string(s.top_k) + ";");
    }
    if (s.source == "idx") {
      w.line(f + "images_path = " + cpp_string_literal(s.images) + ";");
      if (!s.labels.empty()) w.line(f + "labels_path = " + cpp_string_literal(s.labels) + ";");
      w.line(f + "idx_scale = " + num(s.scale) + ";");
    }
    if (!s.transforms.empty()) emit_transforms(w, split, s.transforms);
  }
  w.line("m.training_step = training_step;");
  if (e.split_step()) {
    w.line("m.training_forward = training_forward;");
    w.line("m.training_backward = training_backward;");
  }
  if (spec.swa_batch_norm_epoch) w.line("m.set_batch_norm_momentum_none = set_batch_norm_momentum_none;");
  w.line("m.evaluation_step = evaluation_step;");
  w.line("m.predict_step = predict_step;");
  w.line("m.layers = kLayers;");
  w.line("m.num_layers = static_cast<int>(sizeof kLayers / sizeof kLayers[0]);");
  if (!g.state.empty()) {
    w.line("m.state = kState;");
    w.line("m.num_state = " + std::to_string(g.state.size()) + ";");
  }
  if (with_cuda) {
    w.raw("#ifdef LTRT_WITH_CUDA  // built with the CUDA backend: the same steps on a GPU\n");
    w.line("m.device_steps = &cuda_steps();");
    w.raw("#endif\n");
  }
  w.line("return m;");
  w.close("();");
  w.line("return m;");
  w.close();
  w.line();
  w.line("}  // namespace " + spec.name);
  return w.str();
}

}  // namespace ltgen
