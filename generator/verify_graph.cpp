#include "verify_graph.hpp"

#include <stdexcept>

#include "op.hpp"

namespace ltgen {

void verify_graph(const Graph& g, const char* after_pass) {
  auto fail = [&](const std::string& what) {
    throw std::logic_error(std::string("internal: after ") + after_pass + ": " + what);
  };
  std::vector<bool> defined(g.values.size(), false);
  for (size_t v = 0; v < g.values.size(); ++v) {
    const ValueKind k = g.values[v].kind;
    defined[v] = k != ValueKind::activation && k != ValueKind::loss;
  }
  for (const Node& n : g.nodes) {
    for (int in : n.inputs)
      if (!defined.at(static_cast<size_t>(in))) fail(n.layer + " (" + n.op + ") reads " + g.value(in).name + " before it is written");
    const std::vector<OutputType> types = op_def(n.op).infer(n, g);
    if (types.size() != n.outputs.size()) fail(n.layer + " (" + n.op + ") has the wrong number of outputs");
    for (size_t i = 0; i < types.size(); ++i) {
      const Value& v = g.value(n.outputs[i]);
      if (v.shape != types[i].shape || v.dtype != types[i].dtype)
        fail(n.layer + " (" + n.op + ") output " + v.name + " is " + shape_str(v.shape) + ", its rule says " +
             shape_str(types[i].shape));
      defined[static_cast<size_t>(n.outputs[i])] = true;
    }
  }
}

}  // namespace ltgen
