#include "check_index_sizes.hpp"

namespace ltgen {

namespace {

// The spec node a value comes from: its producer's, else (a parameter) its first user's.
std::string source_of(const Graph& g, int v) {
  const Value& value = g.value(v);
  if (value.kind == ValueKind::input) return "model.inputs." + value.name;
  if (value.kind == ValueKind::target) return "model.target";
  if (value.producer >= 0) return g.nodes[value.producer].source;
  for (const Node& n : g.nodes)
    for (int in : n.inputs)
      if (in == v) return n.source;
  return "model";
}

std::string too_large(const Graph& g, int v, const std::string& source) {
  const Value& value = g.value(v);
  return "the program indexes a tensor's elements with 32-bit ints (its CPU loops and CUDA kernels), and " +
         value.name + " " + shape_str(value.shape) + ", from " + source + ", would hold " +
         std::to_string(numel(value.shape)) + " elements, more than " + std::to_string(kMaxIndexedElements);
}

}  // namespace

IndexSizeProblem check_index_sizes(const Graph& g) {
  // A tensor without a batch dimension (a parameter) is too large whatever the batch size; of the
  // batched ones (dim 0 is batch_size) the largest decides the largest batch that fits.
  int largest_batched = -1;
  for (int v = 0; v < static_cast<int>(g.values.size()); ++v) {
    const Value& value = g.value(v);
    if (value.alias_of >= 0) continue;  // a view: its storage's owner is checked
    if (!value.batched) {
      if (numel(value.shape) > kMaxIndexedElements) {
        const std::string source = source_of(g, v);
        return {source, too_large(g, v, source)};
      }
    } else if (largest_batched < 0 || numel(value.shape) > numel(g.value(largest_batched).shape)) {
      largest_batched = v;
    }
  }
  if (largest_batched < 0 || numel(g.value(largest_batched).shape) <= kMaxIndexedElements) return {};
  const Value& value = g.value(largest_batched);
  const std::string reason = too_large(g, largest_batched, source_of(g, largest_batched));
  const std::int64_t fits = kMaxIndexedElements / (numel(value.shape) / value.shape[0]);
  if (fits == 0) return {"data.batch_size", reason + ", even for a batch of one"};
  return {"data.batch_size", reason + ": a batch_size of at most " + std::to_string(fits) + " fits"};
}

}  // namespace ltgen
