#include "cuda_storage16.hpp"

#include "op.hpp"

namespace ltgen {

bool gemms_16bit(const std::string& precision, bool tensor_cores) {
  if (precision == "bf16-mixed") return tensor_cores;
  return precision == "16-mixed";
}

bool linear_gemms_16bit(const Node& n, const Graph& g, bool gemms16) {
  if (!gemms16) return false;
  // The forward's GEMM reads the input and the weight (the bias is its epilogue's, in float32);
  // the backward's read dout, the input and (for dinp) the weight.
  const size_t operands = n.op == "linear" ? 2 : n.inputs.size();
  for (size_t i = 0; i < operands; ++i)
    if (!g.value(n.inputs[i]).bf16) return false;
  return true;
}

std::vector<bool> values_stored16(const Graph& g, bool gemms16) {
  std::vector<bool> stored(g.values.size(), false);
  if (!gemms16) return stored;
  // Readers that take 16-bit bits: a 16-bit GEMM operand of a Linear, and nothing else.
  std::vector<bool> candidate(g.values.size(), false), read(g.values.size(), false);
  for (const Node& n : g.nodes)
    if (op_def(n.op).cuda_writes16 && n.outputs.size() == 1 && g.value(n.outputs[0]).bf16) candidate[n.outputs[0]] = true;
  for (const Value& v : g.values)
    if (v.alias_of >= 0) candidate[v.alias_of] = false;  // a view reads it as float32
  for (int v : {g.output, g.metric_output, g.loss, g.target})
    if (v >= 0) candidate[v] = false;
  for (const Node& n : g.nodes) {
    const bool linear = n.op == "linear" || n.op == "linear_backward";
    const bool sixteen = linear && linear_gemms_16bit(n, g, gemms16);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const int v = n.inputs[i];
      read[v] = true;
      const bool gemm_operand = sixteen && (n.op == "linear_backward" || i < 2);
      if (!gemm_operand) candidate[v] = false;
    }
  }
  for (size_t v = 0; v < g.values.size(); ++v) stored[v] = candidate[v] && read[v];
  return stored;
}

}  // namespace ltgen
