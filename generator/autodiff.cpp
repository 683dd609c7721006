#include "autodiff.hpp"

#include <set>
#include <stdexcept>

#include "op.hpp"

namespace ltgen {

Autodiff::Autodiff(Graph& g) : graph(g), needs_grad_(g.values.size(), false) {
  // Frozen parameters (model.freeze) need none: what only they feed gets no backward at all.
  for (int p : g.params) needs_grad_[static_cast<size_t>(p)] = !g.value(p).frozen;
  // Forward order: a node's outputs need gradients when any input does.
  for (const Node& n : g.nodes) {
    bool any = false;
    for (int i : n.inputs) any = any || needs_grad_[static_cast<size_t>(i)];
    for (int o : n.outputs) needs_grad_[static_cast<size_t>(o)] = any;
  }
}

std::string Autodiff::grad_name(int v) const { return "d_" + graph.value(v).name; }

int Autodiff::param_grad(int param) {
  ++grad_writes_[param];  // tied weights: several writers, see mark_tied_writers
  auto it = param_grads_.find(param);
  if (it != param_grads_.end()) return it->second;
  const Value& p = graph.value(param);
  Value g;
  g.name = "d_" + p.name;
  g.torch_name = p.torch_name;
  g.dtype = p.dtype;
  g.shape = p.shape;
  g.kind = ValueKind::param_grad;
  g.grad_of = param;
  const int id = graph.add_value(std::move(g));
  needs_grad_.resize(graph.values.size(), false);
  param_grads_[param] = id;
  return id;
}

void Autodiff::cast_grads(const Node& fwd, const std::vector<size_t>& operands, const std::vector<int>& outputs,
                          std::vector<int>& grads) {
  for (size_t i = 0; i < operands.size(); ++i) {
    const int v = fwd.inputs.at(operands[i]);
    if (graph.value(v).kind == ValueKind::param) continue;
    grads.at(operands[i]) = outputs.at(i);
    graph.value(outputs[i]).name = unused_name(graph, grad_name(v));  // d_layers_0_weight_bf16
  }
}

int Autodiff::add_backward(Node n, const std::string& prefix) {
  n.backward = true;
  const int id = add_op(graph, std::move(n), prefix);
  needs_grad_.resize(graph.values.size(), false);
  // bf16-mixed: a view or copy of bfloat16 gradients holds bfloat16 values; run() rounds it no more.
  const Node& added = graph.nodes[static_cast<size_t>(id)];
  if (op_def(added.op).moves_values) {
    bool all_bf16 = true;
    for (int in : added.inputs) all_bf16 = all_bf16 && graph.value(in).bf16;
    if (all_bf16)
      for (int o : added.outputs) graph.value(o).bf16 = true;
  }
  return id;
}

void Autodiff::run() {
  // Gradient contributions per value; several are summed with `add` nodes.
  std::map<int, std::vector<int>> contributions;
  contributions[graph.loss].push_back(graph.loss_seed);

  const int forward_count = static_cast<int>(graph.nodes.size());
  for (int i = forward_count - 1; i >= 0; --i) {
    const Node node = graph.nodes[static_cast<size_t>(i)];  // copy: add_backward grows the vector
    std::vector<int> dout;
    bool any = false;
    for (int o : node.outputs) {
      auto it = contributions.find(o);
      int grad = -1;
      if (it != contributions.end()) {
        // The gradient of a bfloat16 value is a bfloat16 tensor in torch: each contribution is
        // rounded (autograd casts it to the input's dtype) and so is each partial sum.
        const bool bf16 = graph.value(o).bf16;
        auto rounded = [&](int v, const std::string& name) {
          if (!bf16 || graph.value(v).bf16) return v;
          Node r;
          r.op = "to_bf16";
          r.layer = node.layer;
          r.source = node.source;
          r.inputs = {v};
          const int id = add_backward(std::move(r), name);
          const int out = graph.nodes[static_cast<size_t>(id)].outputs[0];
          graph.value(out).bf16 = true;
          return out;
        };
        grad = rounded(it->second.front(), grad_name(o) + "_bf16");
        for (size_t k = 1; k < it->second.size(); ++k) {
          Node add;
          add.op = "add";
          add.layer = node.layer;
          add.source = node.source;
          add.inputs = {grad, rounded(it->second[k], grad_name(o) + "_bf16_" + std::to_string(k))};
          const int id = add_backward(std::move(add), grad_name(o) + "_sum" + std::to_string(k));
          grad = rounded(graph.nodes[static_cast<size_t>(id)].outputs[0], grad_name(o) + "_sum" + std::to_string(k) + "_bf16");
        }
      }
      any = any || grad >= 0;
      dout.push_back(grad);
    }
    if (!any) continue;
    const OpDef& def = op_def(node.op);
    if (!def.backward) throw std::logic_error("internal: op " + node.op + " has no backward rule");
    const std::vector<int> grads = def.backward(*this, node, dout);
    // Only values that need a gradient collect one: a frozen weight's bf16 cast gets none (its
    // cast's backward would add to a gradient nothing reads).
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      if (grads.at(k) < 0 || !needs_grad(node.inputs[k])) continue;
      if (graph.value(grads[k]).shape != graph.value(node.inputs[k]).shape)
        throw std::logic_error("internal: op " + node.op + "'s backward gives " + graph.value(node.inputs[k]).name +
                               " a gradient of shape " + shape_str(graph.value(grads[k]).shape) + ", not " +
                               shape_str(graph.value(node.inputs[k]).shape));
      contributions[node.inputs[k]].push_back(grads[k]);
      graph.value(grads[k]).gradient = true;
    }
  }
}

namespace {

// A tied parameter's gradient has several writers in the backward schedule. The first
// writes (or adds, when the step accumulates); every later one always adds to it:
// its node gets accumulate_tied and is called with accumulate = true.
void mark_tied_writers(Graph& g) {
  std::set<int> written;
  for (Node& n : g.nodes) {
    if (!n.backward || !op_def(n.op).writes_param_grad) continue;
    int again = 0, fresh = 0;
    for (int o : n.outputs) {
      if (g.value(o).kind != ValueKind::param_grad) continue;
      (written.insert(o).second ? fresh : again)++;
    }
    if (again == 0) continue;
    if (fresh > 0)
      throw std::runtime_error("layer '" + n.layer + "' shares a tied weight with an earlier layer and has other "
                               "parameters too; tie a weight in the later layer (e.g. the head, without bias)");
    n.attrs["accumulate_tied"] = true;
  }
}

}  // namespace

void differentiate(Graph& g) {
  Value seed;
  seed.name = "d_loss";
  seed.shape = {};
  seed.kind = ValueKind::loss_seed;
  g.loss_seed = g.add_value(std::move(seed));
  Autodiff ad(g);
  ad.run();
  mark_tied_writers(g);
}

}  // namespace ltgen
