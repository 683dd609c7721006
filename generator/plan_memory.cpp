#include "plan_memory.hpp"

#include <algorithm>
#include <stdexcept>

#include <ltrt/optimizer.hpp>

namespace ltgen {

namespace {
constexpr std::size_t kAlign = 64;  // a cache line; also what AVX-512 loads like

std::size_t align(std::size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

std::size_t value_bytes(const Value& v) {
  return static_cast<std::size_t>(numel(v.shape)) * static_cast<std::size_t>(dtype_bytes(v.dtype));
}
}  // namespace

std::vector<std::string> optimizer_slots(const OptimizerSpec& o) {
  return ltrt::optimizer_slot_names(optimizer_config(o));  // the runtime checks the same list
}

MemoryPlan plan_memory(const Graph& g, const OptimizerSpec& optimizer, const std::vector<ParamGroup>& groups) {
  MemoryPlan plan;
  plan.slot_names = optimizer_slots(optimizer);

  // Flat parameter, gradient and slot regions: group after group, each in state_dict order (so
  // that the optimizer updates a group as one range), then the frozen parameters.
  for (const ParamGroup& group : groups) {
    const std::int64_t begin = plan.param_elements;
    for (int p : group.params) {
      plan.flat_index[p] = plan.param_elements;
      plan.param_elements += numel(g.value(p).shape);
    }
    plan.groups.push_back({group, begin, plan.param_elements - begin});
  }
  const std::int64_t trainable = plan.param_elements;
  for (int p : g.params) {
    if (!g.value(p).frozen) continue;
    plan.flat_index[p] = plan.param_elements;
    plan.param_elements += numel(g.value(p).shape);
  }
  plan.frozen_elements = plan.param_elements - trainable;
  if (plan.flat_index.size() != g.params.size())
    throw std::logic_error("plan_memory: the parameter groups and the frozen parameters do not hold every parameter once");
  const std::size_t region = align(static_cast<std::size_t>(plan.param_elements) * 4);
  plan.params_offset = 0;
  plan.grads_offset = region;
  plan.slots_offset = 2 * region;
  std::size_t top = plan.slots_offset + region * plan.slot_names.size();
  for (size_t v = 0; v < g.values.size(); ++v) {
    const Value& val = g.values[v];
    if (val.kind == ValueKind::param) {
      plan.offset[static_cast<int>(v)] = plan.params_offset + plan.flat_index.at(static_cast<int>(v)) * 4;
    } else if (val.kind == ValueKind::param_grad) {
      plan.offset[static_cast<int>(v)] = plan.grads_offset + plan.flat_index.at(val.grad_of) * 4;
    }
  }

  // Live ranges over the schedule; a view keeps its root alive.
  const int n = static_cast<int>(g.nodes.size());
  std::vector<int> first(g.values.size(), -1), last(g.values.size(), -1);
  for (int i = 0; i < n; ++i) {
    for (int o : g.nodes[static_cast<size_t>(i)].outputs) {
      const int r = g.root(o);
      if (first[static_cast<size_t>(r)] < 0) first[static_cast<size_t>(r)] = i;
      last[static_cast<size_t>(r)] = std::max(last[static_cast<size_t>(r)], i);
    }
    for (int in : g.nodes[static_cast<size_t>(i)].inputs)
      last[static_cast<size_t>(g.root(in))] = std::max(last[static_cast<size_t>(g.root(in))], i);
  }

  // Persistent buffers: module state (running statistics), the batch, the loss and its seed.
  for (size_t v = 0; v < g.values.size(); ++v) {
    const Value& val = g.values[v];
    // The model's output stays readable after a step: predict reads it, the metrics it or its
    // classes moved last (g.metric_output).
    const bool persistent = val.kind == ValueKind::state || val.kind == ValueKind::input ||
                            val.kind == ValueKind::target || val.kind == ValueKind::loss ||
                            val.kind == ValueKind::loss_seed || g.root(static_cast<int>(v)) == g.root(g.output) ||
                            g.root(static_cast<int>(v)) == g.root(g.metric_output);
    if (!persistent || val.alias_of >= 0) continue;
    Buffer b;
    b.value = static_cast<int>(v);
    b.offset = top;
    b.bytes = value_bytes(val);
    top = align(top + b.bytes);
    plan.offset[b.value] = b.offset;
    plan.buffers.push_back(b);
  }

  // Activations: first fit into the pool, in order of definition; a block is
  // free once its last reader has run.
  const std::size_t pool = top;
  std::vector<Buffer> live;
  for (int i = 0; i < n; ++i) {
    for (int o : g.nodes[static_cast<size_t>(i)].outputs) {
      const Value& val = g.value(o);
      if (val.kind != ValueKind::activation || g.root(o) != o || first[static_cast<size_t>(o)] != i) continue;
      if (plan.offset.count(o)) continue;  // persistent (the model's output, the metrics')
      if (g.nodes[static_cast<size_t>(i)].op == "view") continue;
      Buffer b;
      b.value = o;
      b.bytes = value_bytes(val);
      b.first = i;
      b.last = last[static_cast<size_t>(o)];
      plan.activation_bytes_unshared += align(b.bytes);
      // Blocks still live at i, by offset; the first gap that fits wins.
      std::vector<const Buffer*> busy;
      for (const Buffer& x : live)
        if (x.last >= i) busy.push_back(&x);
      std::sort(busy.begin(), busy.end(), [](const Buffer* a, const Buffer* c) { return a->offset < c->offset; });
      std::size_t at = pool;
      for (const Buffer* x : busy) {
        if (at + b.bytes <= x->offset) break;
        at = std::max(at, align(x->offset + x->bytes));
      }
      b.offset = at;
      for (const Buffer& x : live)  // whose space is this? (for the plan listing)
        if (x.last < i && x.offset <= at && at < x.offset + x.bytes) b.reuses = x.value;
      live.push_back(b);
      top = std::max(top, align(at + b.bytes));
      plan.offset[o] = at;
    }
  }
  plan.activation_bytes = top - pool;
  for (const Buffer& b : live) plan.buffers.push_back(b);

  // Views share their root's storage.
  for (size_t v = 0; v < g.values.size(); ++v) {
    const int r = g.root(static_cast<int>(v));
    if (r != static_cast<int>(v) && plan.offset.count(r)) plan.offset[static_cast<int>(v)] = plan.offset.at(r);
  }
  for (const Node& node : g.nodes) {
    for (int o : node.outputs)
      if (!plan.offset.count(o)) throw std::logic_error("internal: no storage for " + g.value(o).name);
    for (int in : node.inputs)
      if (!plan.offset.count(in)) throw std::logic_error("internal: no storage for " + g.value(in).name);
  }
  plan.arena_bytes = top;
  return plan;
}

}  // namespace ltgen
