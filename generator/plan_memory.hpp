/// \file
/// The memory plan: every tensor of a step at a fixed offset in one arena.
/// Parameters, gradients and optimizer slots are flat regions in one layout;
/// activations whose lifetimes do not overlap share space.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "ir.hpp"
#include "param_groups.hpp"
#include "spec.hpp"

namespace ltgen {

struct Buffer {
  int value = -1;
  std::size_t offset = 0;
  std::size_t bytes = 0;
  int first = -1, last = -1;  // node indices of the live range; -1/-1 for persistent buffers
  int reuses = -1;            // the value whose space this one takes over, if any
};

struct MemoryPlan {
  std::size_t arena_bytes = 0;
  std::size_t params_offset = 0, grads_offset = 0, slots_offset = 0;
  std::int64_t param_elements = 0;
  std::int64_t frozen_elements = 0;      // model.freeze: the last elements of the flat regions
  std::vector<std::string> slot_names;   // torch.optim state names
  std::map<int, std::int64_t> flat_index;  // param value -> element index in the flat regions
  struct GroupRange {
    ParamGroup group;           // its name, lr, weight_decay and parameters
    std::int64_t begin, count;  // elements of the flat regions
  };
  std::vector<GroupRange> groups;        // the optimizer's parameter groups, laid out in order
  std::vector<Buffer> buffers;           // one per value that owns storage, by offset
  std::map<int, std::size_t> offset;     // every value (views too) -> byte offset
  std::size_t activation_bytes = 0;      // size of the shared activation pool
  std::size_t activation_bytes_unshared = 0;  // what it would take without reuse
};

/// The optimizer's per-parameter state, as torch.optim names it.
std::vector<std::string> optimizer_slots(const OptimizerSpec& o);

/// The arena: the flat regions hold each parameter group's parameters together, groups in order
/// (state_dict order inside a group, and overall when there is one group), then the frozen
/// parameters (model.freeze), which the optimizer does not step.
MemoryPlan plan_memory(const Graph& g, const OptimizerSpec& optimizer, const std::vector<ParamGroup>& groups);

}  // namespace ltgen
