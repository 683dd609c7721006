/// \file
/// What the CPU and CUDA emitters share: function names per node, the comments and
/// parameters of a node's function, the arena views of a step, and the description of
/// the program (model.cpp's header comment, `ltgen --summary`).
#pragma once

#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <ltrt/python_repr.hpp>

#include "autocast.hpp"
#include "code_writer.hpp"
#include "emit_cpu.hpp"
#include "op.hpp"
#include "plan_memory.hpp"
#include "spec.hpp"
#include "version.hpp"

namespace ltgen::emit {

inline std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

inline std::string human(double x) {
  std::ostringstream os;
  const char* units[] = {"", "K", "M", "G", "T"};
  int u = 0;
  while (x >= 1000 && u < 4) {
    x /= 1000;
    ++u;
  }
  os << std::setprecision(x < 10 && u > 0 ? 2 : 3) << (u > 0 ? x : x) << units[u];
  return os.str();
}

// One line of a // comment: no line splice, no control characters.
inline std::string comment_safe(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') c = ' ';
  if (!s.empty() && s.back() == '\\') s += " (backslash)";
  return s;
}

// torch's repr of a layer: arguments in constructor order, sizes that were
// inferred included ("Linear(in_features=10, out_features=1, bias=True)").
inline std::string torch_repr(const LayerSpec& l, const Node& n) {
  const LayerDef* def = find_layer(l.type);
  std::string s = l.type + "(";
  bool first = true;
  for (const ArgDef& a : def->args) {
    if (a.type == ArgType::value) continue;  // forward's argument (a mask), not the constructor's
    auto it = l.args.find(a.name);
    const Attr* v = it != l.args.end() ? &it->second : nullptr;
    // A pooling's stride left out is its kernel_size, as torch's repr shows it (the node may hold a
    // part of it); other sizes left out are what the node inferred.
    if (!v && a.name == "stride" && l.args.count("kernel_size")) v = &l.args.at("kernel_size");
    if (!v && !a.optional && n.attrs.count(a.name)) v = &n.attrs.at(a.name);
    if (!v && !a.nullable) continue;
    s += (first ? "" : ", ") + a.name + "=" + (v ? attr_repr(*v) : "None");  // a nullable argument given as null
    first = false;
  }
  return s + ")";
}

inline std::string number(double v) { return ltrt::python_repr(v); }

// Whether the graph has bf16-mixed's attention (torch's CPU flash attention, `fexp_u20`): both
// emitters then include its header, and model.cpp shares its key split with model_cuda.cu.
inline bool has_bf16_attention(const Graph& g) {
  for (const Node& n : g.nodes)
    if (n.op == "attention" && n.attrs.count("bf16")) return true;
  return false;
}

struct Emitter {
  const Spec& spec;
  const Graph& g;
  const MemoryPlan& plan;
  std::map<std::string, const LayerSpec*> layer_by_source;
  std::vector<std::string> fn_names;  // per node

  Emitter(const Spec& s, const Graph& graph, const MemoryPlan& p) : spec(s), g(graph), plan(p) {
    for (const auto& l : spec.layers) layer_by_source[l.source] = &l;
    layer_by_source[spec.loss.source] = &spec.loss;
    name_functions();
  }

  void name_functions() {
    std::set<std::string> used;
    for (const Node& n : g.nodes) {
      const std::string base = cpp_name(n.layer);
      std::string role;
      if (n.op == "to_bf16") role = n.backward ? "grad_to_bf16" : "to_bf16";  // bf16-mixed's roundings
      else if (n.op == "param_grad_add") role = n.op;
      else if (!n.backward) role = "forward";
      else if (n.op.size() > 9 && n.op.compare(n.op.size() - 9, 9, "_backward") == 0) role = "backward";
      else role = n.op + "_backward";
      std::string name = base + "_" + role;
      for (int k = 2; used.count(name); ++k) name = base + "_" + role + "_" + std::to_string(k);
      used.insert(name);
      fn_names.push_back(name);
    }
  }

  std::string describe_layer(const Node& n) const {
    const std::string mixed = std::string(autocast_dtype_name()) + " (" + autocast_precision() + ")";
    if (n.op == "to_bf16")  // mixed precision (autocast.cpp); in an epilogue, the layer's own result
      return n.backward ? "its gradient rounded to " + mixed : "rounded to " + mixed;
    if (n.op == "param_grad_add")
      return std::string("the ") + autocast_dtype_name() + " cast's gradient added to the parameter's (" +
             autocast_precision() + ")";
    auto it = layer_by_source.find(n.source);
    if (it == layer_by_source.end()) return n.op;
    if (n.attrs.count("sync")) return torch_repr(*it->second, n) + " as SyncBatchNorm (trainer.sync_batchnorm)";
    return torch_repr(*it->second, n);
  }

  // Per value: the CUDA program stores it as 16-bit bits (cuda_storage16.hpp); empty in the CPU
  // program, and where there are none.
  std::vector<bool> stored16;

  // The C++ type of a value's elements as the program stores them.
  std::string element_type(int v) const {
    if (!stored16.empty() && stored16.at(v)) return "std::uint16_t";
    return dtype_cpp(g.value(v).dtype);
  }

  // Inputs are const, except module state (running statistics), which the op updates in training.
  std::string pointer_type(int v, bool is_const) const {
    return std::string(is_const && g.value(v).kind != ValueKind::state ? "const " : "") + element_type(v) + "*";
  }

  // Whether the node writes a parameter's gradient (a linear's backward under bf16-mixed writes
  // the gradients of the weight's bfloat16 cast instead, fresh every step).
  bool writes_a_param_grad(const Node& n) const {
    for (int v : n.outputs)
      if (g.value(v).kind == ValueKind::param_grad) return true;
    return false;
  }

  bool batched_node(const Node& n) const {
    for (int v : n.inputs)
      if (g.value(v).batched) return true;
    for (int v : n.outputs)
      if (g.value(v).batched) return true;
    return false;
  }

  // The description of the program: sizes, graph, costs and memory plan; the
  // header comment of model.cpp and the output of `ltgen --summary`.
  std::vector<std::string> describe(const std::string& command) const {
    std::vector<std::string> out;
    auto line = [&out](const std::string& text) { out.push_back(text); };
    std::int64_t params = plan.param_elements;
    line("" + spec.name + ": training program generated by ltgen " + kVersion + ".");
    line("spec: " + comment_safe(spec.path) + " (fnv1a " + spec.hash + ")");
    line("command: " + comment_safe(command));
    line("target: cpu, precision: " + spec.trainer.precision + ", batch_size: " + std::to_string(spec.batch_size) +
           " (a step takes n <= " + std::to_string(spec.batch_size) + " rows)");
    line("parameters: " + std::to_string(params) + " (" + std::to_string(params * 4) + " bytes)");
    line("");
    line("Graph, in schedule order (fwd: forward, bwd: backward):");
    std::istringstream graph(dump_graph(g));
    for (std::string l; std::getline(graph, l);) line("  " + comment_safe(l));
    line("");
    line("Cost per step at the full batch:");
    line("  " + pad("function", 32) + pad("FLOPs", 10) + "bytes");
    double flops = 0, bytes = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      const OpDef& d = op_def(n.op);
      if (d.view) continue;
      const Cost c = node_cost(n, g);
      flops += c.flops;
      bytes += c.bytes;
      line("  " + pad(fn_names[i], 32) + pad(human(c.flops), 10) + human(c.bytes));
    }
    line("  " + pad("total", 32) + pad(human(flops), 10) + human(bytes));
    line("");
    line("Memory plan: one arena of " + std::to_string(plan.arena_bytes) + " bytes. Parameters, gradients and");
    line("" + std::to_string(plan.slot_names.size()) +
           " optimizer slot(s) are flat regions of " + std::to_string(plan.param_elements) +
           " floats at " + std::to_string(plan.params_offset) + ", " + std::to_string(plan.grads_offset) +
           " and " + std::to_string(plan.slots_offset) + ".");
    line("Activations take " + std::to_string(plan.activation_bytes) + " bytes (" +
           std::to_string(plan.activation_bytes_unshared) + " without reuse).");
    line("  " + pad("offset", 10) + pad("bytes", 10) + pad("value", 28) + pad("shape", 14) +
           pad("live (nodes)", 14) + "reuses");
    for (const Buffer& b : plan.buffers) {
      const Value& v = g.value(b.value);
      const std::string live = b.first < 0 ? "step" : std::to_string(b.first) + ".." + std::to_string(b.last);
      line("  " + pad(std::to_string(b.offset), 10) + pad(std::to_string(b.bytes), 10) + pad(v.name, 28) +
             pad(shape_str(v.shape), 14) + pad(live, 14) + (b.reuses >= 0 ? g.value(b.reuses).name : "-"));
    }
    line("");
    line("The spec:");
    std::istringstream text(spec.text);
    for (std::string l; std::getline(text, l);) line("  " + comment_safe(l));
    return out;
  }

  // `namespace offset`: the byte offset of every buffer in the arena (the memory plan).
  void emit_offsets(CodeWriter& w) const {
    w.open("namespace offset");
    for (const Buffer& b : plan.buffers) w.line("constexpr std::size_t " + g.value(b.value).name + " = " + std::to_string(b.offset) + ";");
    for (int p : g.params) w.line("constexpr std::size_t " + g.value(p).name + " = " + std::to_string(plan.offset.at(p)) + ";");
    for (size_t v = 0; v < g.values.size(); ++v)
      if (g.values[v].kind == ValueKind::param_grad)
        w.line("constexpr std::size_t " + g.values[v].name + " = " + std::to_string(plan.offset.at(static_cast<int>(v))) + ";");
    w.close("  // namespace offset");
  }

  void emit_header(CodeWriter& w, const std::string& command) const {
    for (const std::string& l : describe(command)) w.line(l.empty() ? "//" : "// " + l);
  }

  // The pointer parameters of a node's function: outputs, then inputs, as Slots names them.
  std::vector<std::string> value_params(size_t index) const {
    const Node& n = g.nodes[index];
    const Slots slots = op_def(n.op).slots(n);
    const std::string qualifier = op_def(n.op).restrict_pointers ? " __restrict " : " ";
    std::vector<std::string> params;
    for (size_t i = 0; i < n.outputs.size(); ++i)
      params.push_back(pointer_type(n.outputs[i], false) + qualifier + slots.outputs.at(i));
    for (size_t i = 0; i < n.inputs.size(); ++i)
      params.push_back(pointer_type(n.inputs[i], true) + qualifier + slots.inputs.at(i));
    return params;
  }

  // The comment above a node's function (what it is, where in the spec, shapes) and its
  // value_params.
  std::vector<std::string> function_preamble(CodeWriter& w, size_t index) const {
    const Node& n = g.nodes[index];
    const Slots slots = op_def(n.op).slots(n);
    w.line();
    std::string title = n.layer + (n.backward ? " backward: " : ": ") + describe_layer(n);
    for (const Node& e : n.epilogue) title += " + " + describe_layer(e) + " (fused)";
    w.line("// " + comment_safe(title));
    std::string from = "// spec: " + n.source;
    for (const Node& e : n.epilogue) from += ", " + e.source;
    w.line(comment_safe(from));
    std::string shapes = "//";
    for (size_t i = 0; i < n.outputs.size(); ++i) shapes += " " + slots.outputs[i] + " " + shape_str(g.value(n.outputs[i]).shape);
    shapes += " <-";
    for (size_t i = 0; i < n.inputs.size(); ++i) shapes += " " + slots.inputs[i] + " " + shape_str(g.value(n.inputs[i]).shape);
    w.line(shapes);
    return value_params(index);
  }

  // The pointer arguments of a call to a node's function: its values, by name.
  std::vector<std::string> value_args(const Node& n) const {
    std::vector<std::string> args;
    for (int v : n.outputs) args.push_back(g.value(v).name);
    for (int v : n.inputs) args.push_back(g.value(v).name);
    return args;
  }

  // What a node's function takes after its values, in either program: the batch's live rows,
  // whether parameter gradients are added to, and train or eval mode.
  std::vector<std::string> step_params(const Node& n) const {
    const OpDef& d = op_def(n.op);
    std::vector<std::string> p;
    if (batched_node(n)) p.push_back("int n");
    if (d.writes_param_grad) p.push_back("bool accumulate");
    if (has_training_mode(n)) p.push_back("bool training");
    return p;
  }

  // The arguments for step_params in a call from a step function.
  std::vector<std::string> step_args(const Node& n, bool training) const {
    const OpDef& d = op_def(n.op);
    std::vector<std::string> a;
    if (batched_node(n)) a.push_back("n");
    // A tied weight's later writer adds to the gradient its first writer left.
    if (d.writes_param_grad)
      a.push_back(n.attrs.count("accumulate_tied") ? "/*accumulate (tied weight)=*/true"
                  : writes_a_param_grad(n)         ? "accumulate"
                                                   : "/*accumulate (gradients of bf16 casts)=*/false");
    if (has_training_mode(n)) a.push_back(training ? "true" : "false");
    return a;
  }

  // Per node, the first node whose code (`codes[i]`: its kernels, its function) is the same as its
  // own, or the node itself; a node with no code (empty) shares nothing.
  static std::vector<size_t> first_alike(const std::vector<std::string>& codes) {
    std::map<std::string, size_t> first_with;
    std::vector<size_t> first(codes.size());
    for (size_t i = 0; i < codes.size(); ++i) first[i] = codes[i].empty() ? i : first_with.emplace(codes[i], i).first->second;
    return first;
  }

  // The later nodes whose first_alike is `index`.
  static std::vector<size_t> alike_later(size_t index, const std::vector<size_t>& first) {
    std::vector<size_t> later;
    for (size_t i = index + 1; i < first.size(); ++i)
      if (first[i] == index) later.push_back(i);
    return later;
  }

  // A comment above a function saying which functions share its code and why: `text` with @ for
  // the list of `nodes`' functions ("Calls @", "Also called by @"); none when `nodes` is empty.
  void comment_alike(CodeWriter& w, std::string text, const std::vector<size_t>& nodes) const {
    if (nodes.empty()) return;
    std::string list;
    for (size_t k = 0; k < nodes.size(); ++k)
      list += (k == 0 ? "" : k + 1 == nodes.size() ? " and " : ", ") + fn_names[nodes[k]];
    replace_all(text, "@", list);
    for (const std::string& l : comment_lines(text + ": the same shapes and constants, so the same code.", 118))
      w.line(l);
  }

  // When node `index`'s function would be the same as an earlier node's (`first`: first_alike of
  // the functions), writes it as a call of that one and returns true; else names the later nodes
  // whose functions call it and returns false, and the caller writes the function.
  bool emit_call_alike(CodeWriter& w, size_t index, const std::vector<size_t>& first,
                       const std::vector<std::string>& params) const {
    if (first[index] == index) {
      comment_alike(w, "Also called by @", alike_later(index, first));
      return false;
    }
    std::vector<std::string> args;  // the parameters' names
    for (const std::string& p : params) args.push_back(p.substr(p.find_last_of(" *&") + 1));
    comment_alike(w, "Calls @", {first[index]});
    w.line("static void " + with_list(fn_names[index], params) + " { " + with_list(fn_names[first[index]], args) + "; }");
    return true;
  }

  // "name(a, b, c)": a signature's or a call's list.
  static std::string with_list(const std::string& name, const std::vector<std::string>& items) {
    std::string s = name + "(";
    for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + items[i];
    return s + ")";
  }

  // Names the arena views a step function uses, in arena order: the values that the forward
  // nodes, the backward nodes or both read or write (and the loss and its seed d_loss where they
  // are used).
  std::vector<int> used_values(bool forward, bool backward) const {
    std::set<int> used;
    for (const Node& n : g.nodes) {
      if (n.backward ? !backward : !forward) continue;
      if (op_def(n.op).view) continue;
      for (int v : n.inputs) used.insert(v);
      for (int v : n.outputs) used.insert(v);
    }
    if (forward) used.insert(g.loss);
    if (backward) used.insert(g.loss_seed);
    std::vector<int> out(used.begin(), used.end());
    std::stable_sort(out.begin(), out.end(), [&](int a, int b) { return plan.offset.at(a) < plan.offset.at(b); });
    return out;
  }

  // A training step's calls in schedule order (views have none), with comments where the forward
  // and the backward part begin; `call` writes one node's call as its emitter does, `after` the
  // lines that follow it.
  template <class Call, class After>
  void emit_training_calls(CodeWriter& w, Call call, After after) const {
    w.line("// forward");
    bool in_backward = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (op_def(n.op).view) continue;
      if (n.backward && !in_backward) {
        w.line();
        w.line("// backward");
        in_backward = true;
      }
      w.line(call(i));
      for (const std::string& line : after(i)) w.line(line);
    }
  }
  template <class Call>
  void emit_training_calls(CodeWriter& w, Call call) const {
    emit_training_calls(w, call, [](size_t) { return std::vector<std::string>{}; });
  }

  // The values predict_step uses (the forward nodes without the loss), in arena order.
  std::vector<int> predict_values() const {
    std::set<int> used;
    for (const Node& n : g.nodes) {
      if (n.backward || op_def(n.op).view || is_loss(n)) continue;
      for (int v : n.inputs) used.insert(v);
      for (int v : n.outputs) used.insert(v);
    }
    std::vector<int> out(used.begin(), used.end());
    std::stable_sort(out.begin(), out.end(), [&](int a, int b) { return plan.offset.at(a) < plan.offset.at(b); });
    return out;
  }

  void emit_view(CodeWriter& w, int v) const {
    const Value& val = g.value(v);
    w.line("auto* const " + val.name + " = reinterpret_cast<" + element_type(v) + "*>(arena + offset::" +
           g.value(g.root(v)).name + ");  // " + shape_str(val.shape));
  }

  void emit_views(CodeWriter& w, bool training) const {
    for (int v : used_values(true, training)) emit_view(w, v);
  }

  // The spec's hooks run between forward and backward (on_before_zero_grad, on_before_backward,
  // on_after_backward): the runtime then needs the training step in two halves.
  bool split_step() const { return spec.splits_step(); }

  bool is_loss(const Node& n) const {
    for (int o : n.outputs)
      if (o == g.loss) return true;
    return false;
  }
};

inline std::string tensor_ref(const Value& v, std::size_t offset, const std::string& name) {
  const std::string dt = dtype_name(v.dtype);  // ltrt::DType uses the same names
  std::string s = "{" + cpp_string_literal(name) + ", ltrt::DType::" + dt + ", " + std::to_string(v.shape.size()) + ", {";
  for (size_t i = 0; i < v.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(v.shape[i]);
  return s + "}, " + std::to_string(offset) + "}";
}


}  // namespace ltgen::emit
