#include "fuse_elementwise.hpp"

#include <vector>

#include "op.hpp"

namespace ltgen {

namespace {
std::vector<int> consumers(const Graph& g, int v) {
  std::vector<int> out;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (int in : g.nodes[i].inputs)
      if (in == v) {
        out.push_back(static_cast<int>(i));
        break;
      }
  return out;
}
}  // namespace

int fuse_elementwise(Graph& g) {
  int fused = 0;
  for (size_t a = 0; a < g.nodes.size(); ++a) {
    Node& act = g.nodes[a];
    if (!op_def(act.op).scalar || act.inputs.size() != 1) continue;
    const int z = act.inputs[0];
    const int p = g.value(z).producer;
    if (p < 0) continue;
    Node& prod = g.nodes[static_cast<size_t>(p)];
    if (!op_def(prod.op).accepts_epilogue || prod.outputs.at(0) != z) continue;
    const std::vector<int> users = consumers(g, z);
    const bool z_still_read = users.size() > 1;  // e.g. GELU's backward reads its input
    // In the backward: mixed precision's rounding of a gradient, into the loop that computes it
    // (the loss's gradient of a GPT's logits), when nothing else reads it unrounded.
    if (act.backward || prod.backward) {
      if (!act.backward || !prod.backward || act.op != "to_bf16" || z_still_read || prod.outputs.size() != 1 ||
          op_def(prod.op).writes_param_grad)
        continue;
    }
    // The producer keeps at most one intermediate, and only its pre-activation
    // (the value before any fused activation), and only if its lowering can store it.
    if (z_still_read && (!op_def(prod.op).keeps_preact || prod.outputs.size() != 1 || !prod.epilogue.empty())) continue;

    // The producer now computes the activation; z stays as its second output
    // when the backward pass still reads it.
    Node absorbed = act;
    absorbed.inputs.clear();
    absorbed.outputs.clear();
    std::vector<Node> its_epilogue;  // the activation's own (bf16-mixed: its rounding) follows it
    its_epilogue.swap(absorbed.epilogue);
    const int y = act.outputs.at(0);
    prod.epilogue.push_back(absorbed);
    for (Node& e : its_epilogue) prod.epilogue.push_back(std::move(e));
    if (z_still_read) prod.outputs = {y, z};
    else prod.outputs[0] = y;  // a kept pre-activation stays the second output
    if (!z_still_read) g.value(z).producer = -1;
    g.nodes.erase(g.nodes.begin() + static_cast<long>(a));
    --a;
    ++fused;
    // Node indices shifted: recompute producers.
    for (auto& v : g.values) v.producer = -1;
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (int o : g.nodes[i].outputs) g.value(o).producer = static_cast<int>(i);
  }
  return fused;
}

}  // namespace ltgen
