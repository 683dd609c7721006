/// \file
/// The table of op kinds and torch.nn layers, and helpers every op file uses.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "op.hpp"
#include "ops/ops.hpp"

namespace ltgen {

namespace {

struct Registry {
  std::map<std::string, OpDef> ops;
  std::vector<const LayerDef*> layers;
  std::vector<LayerDef> storage;

  Registry() {
    std::vector<OpDef> defs;
    std::vector<LayerDef> layer_list;
    register_all_ops(defs, layer_list);
    for (auto& d : defs) ops.emplace(d.name, std::move(d));
    storage = std::move(layer_list);
    for (const auto& l : storage) layers.push_back(&l);
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

}  // namespace

const OpDef& op_def(const std::string& name) {
  const auto& ops = registry().ops;
  auto it = ops.find(name);
  if (it == ops.end()) throw std::logic_error("internal: no op named " + name);
  return it->second;
}

std::vector<std::string> op_names() {
  std::vector<std::string> names;
  for (const auto& [name, def] : registry().ops) names.push_back(name);
  return names;
}

Cost node_cost(const Node& n, const Graph& g) {
  Cost c = op_def(n.op).cost(n, g);
  for (const Node& e : n.epilogue) {
    Node applied = e;  // a fused op reads the producer's output
    applied.inputs = {n.outputs.at(0)};
    const Cost extra = op_def(e.op).cost(applied, g);
    c.flops += extra.flops;  // its memory traffic is what fusion saves
  }
  return c;
}

const std::vector<const LayerDef*>& layer_defs() { return registry().layers; }

const LayerDef* find_layer(const std::string& torch_type) {
  for (const LayerDef* l : layer_defs())
    if (l->torch_type == torch_type) return l;
  return nullptr;
}

bool draws_random(const Node& n) {
  const OpDef& d = op_def(n.op);
  return d.needs_rng || (d.random_in_training && d.random_in_training(n));
}

bool has_training_mode(const Node& n) {
  const OpDef& d = op_def(n.op);
  return d.training_mode || (d.random_in_training && d.random_in_training(n));
}

Attrs module_args(const Attrs& args, const std::string& name) {
  Attrs out;
  const std::string prefix = name + ".";
  for (const auto& [key, value] : args)
    if (key.compare(0, prefix.size(), prefix) == 0) out[key.substr(prefix.size())] = value;
  return out;
}

// Value names are C++ identifiers in one scope. Two consumers of a value x that each compute
// a part of its gradient (a LogSoftmax and a Linear reading the same embedding) both name it
// d_x; the second gets d_x_2 (autodiff then sums them).
std::string unused_name(const Graph& g, const std::string& name) {
  auto taken = [&g](const std::string& candidate) {
    for (const Value& v : g.values)
      if (v.name == candidate) return true;
    return false;
  };
  if (!taken(name)) return name;
  for (int k = 2;; ++k)
    if (!taken(name + "_" + std::to_string(k))) return name + "_" + std::to_string(k);
}

int add_op(Graph& g, Node node, const std::string& value_prefix) {
  const OpDef& def = op_def(node.op);
  const std::vector<OutputType> types = def.infer(node, g);
  const Slots slots = def.slots(node);
  if (node.outputs.empty()) node.outputs.assign(types.size(), -1);
  if (node.outputs.size() != types.size() || slots.outputs.size() != types.size())
    throw std::logic_error("internal: " + node.op + " output count mismatch");
  // Outputs still to create; a lone one takes the prefix as its whole name.
  const auto fresh = std::count(node.outputs.begin(), node.outputs.end(), -1);
  for (size_t i = 0; i < types.size(); ++i) {
    if (node.outputs[i] >= 0) {
      // An existing value (a parameter's gradient): its type must agree.
      const Value& v = g.value(node.outputs[i]);
      if (v.shape != types[i].shape || v.dtype != types[i].dtype)
        throw std::logic_error("internal: " + node.op + " output " + v.name + " has type " +
                               shape_str(v.shape) + ", rule says " + shape_str(types[i].shape));
      continue;
    }
    Value v;
    v.name = unused_name(g, fresh == 1 || slots.outputs[i] == "out" ? value_prefix : value_prefix + "_" + slots.outputs[i]);
    v.dtype = types[i].dtype;
    v.shape = types[i].shape;
    v.batched = types[i].batched;
    v.kind = ValueKind::activation;
    if (def.view) v.alias_of = node.inputs.at(0);  // same storage, new shape
    node.outputs[i] = g.add_value(std::move(v));
  }
  return g.add_node(std::move(node));
}

void keep_torch_layout(Graph& g, int out, const std::vector<int>& inputs) {
  Value& v = g.value(out);
  for (const int in : inputs) {
    if (g.value(in).shape != v.shape) continue;  // a broadcast operand leaves the order to the others
    v.torch_time_major = g.value(in).torch_time_major && v.shape.size() >= 3;
    return;
  }
}

int add_view(Graph& g, const std::string& layer, const std::string& source, int in, std::vector<std::int64_t> shape) {
  Node n;
  n.op = "view";
  n.layer = layer;
  n.source = source;
  n.attrs["shape"] = std::move(shape);
  n.inputs = {in};
  const int id = add_op(g, std::move(n), cpp_name(layer) + "_out");
  return g.nodes[id].outputs[0];
}

int add_view(LayerBuild& b, int in, std::vector<std::int64_t> shape) {
  return add_view(b.graph, b.layer, b.source, in, std::move(shape));
}

namespace {

// A module applied again (g.reuse_as set): its earlier value among `own` (its parameters, or its
// buffers, `what`) for this node's torch_name, which must fit this input too.
int reused_value(const Graph& g, const std::vector<int>& own, const std::string& torch_name, const Shape& shape,
                 const char* what) {
  const std::string name = g.reuse_of + torch_name.substr(torch_name.rfind(g.reuse_as, 0) == 0 ? g.reuse_as.size() : 0);
  const std::string module = g.reuse_of.substr(0, g.reuse_of.size() - 1);
  for (int v : own) {
    if (g.value(v).torch_name != name) continue;
    if (g.value(v).shape != shape)
      throw ShapeError("applying module '" + module + "' again needs its " + name + " of " + shape_str(g.value(v).shape) +
                       ", but this node's input makes it " + shape_str(shape) +
                       ": give it an input of the size the module's first input had");
    return v;
  }
  throw ShapeError("applying module '" + module + "' again would make a " + what + " " + name +
                   " it does not have; give this node a type and arguments of its own");
}

}  // namespace

int add_param(Graph& g, const std::string& torch_name, Shape shape) {
  if (!g.reuse_as.empty()) return reused_value(g, g.params, torch_name, shape, "parameter");
  Value v;
  v.name = cpp_name(torch_name);
  v.torch_name = torch_name;
  v.shape = std::move(shape);
  v.kind = ValueKind::param;
  const int id = g.add_value(std::move(v));
  g.params.push_back(id);
  return id;
}

int add_state(Graph& g, const std::string& torch_name, Shape shape, DType dtype, Init init) {
  // A module applied again: its buffer, which this call updates too (as torch's); one name has one dtype.
  if (!g.reuse_as.empty()) return reused_value(g, g.state, torch_name, shape, "buffer");
  Value v;
  v.name = cpp_name(torch_name);
  v.torch_name = torch_name;
  v.shape = std::move(shape);
  v.dtype = dtype;
  v.kind = ValueKind::state;
  v.init = init;
  const int id = g.add_value(std::move(v));
  g.state.push_back(id);
  return id;
}

std::string cpp_name(const std::string& torch_name) {
  std::string out = torch_name;
  for (char& c : out)
    if (c == '.') c = '_';
  return out;
}

std::string float_literal(double v) {
  const float f = static_cast<float>(v);
  if (std::isinf(f)) return f > 0 ? "INFINITY" : "-INFINITY";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, f);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s + "f";
}

std::string double_literal(double v) {
  if (std::isinf(v)) return v > 0 ? "INFINITY" : "-INFINITY";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

}  // namespace ltgen
