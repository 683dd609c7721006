/// \file
/// Reverse-mode differentiation at generation time: one reverse walk over the
/// forward nodes applies each op's backward rule and sums gradients where a
/// value fans out.
#pragma once

#include <map>
#include <vector>

#include "ir.hpp"

namespace ltgen {

class Autodiff {
 public:
  explicit Autodiff(Graph& g);
  Graph& graph;

  /// Whether the loss's gradient must flow into value v (it depends on a parameter).
  bool needs_grad(int v) const { return needs_grad_.at(static_cast<size_t>(v)); }
  /// The gradient buffer of a parameter; each parameter's is written by one node.
  int param_grad(int param);
  /// The output of a backward node for the gradient of weight operand v: the parameter's gradient
  /// buffer, or, when v is a parameter's bfloat16 cast (bf16-mixed), -1: a new value, which
  /// cast_grads then returns as the cast's gradient.
  int weight_grad(int v) { return graph.value(v).kind == ValueKind::param ? param_grad(v) : -1; }
  /// For each operand k of `fwd` in `operands` that is not a parameter, grads[k] = the output
  /// `outputs[i]` written for it (named as the operand's gradient); parameters' stay -1.
  void cast_grads(const Node& fwd, const std::vector<size_t>& operands, const std::vector<int>& outputs,
                  std::vector<int>& grads);
  /// Adds a backward node; new outputs are named `prefix` (or `prefix_<slot>`).
  int add_backward(Node n, const std::string& prefix);
  /// "d_<name>" for the gradient of value v.
  std::string grad_name(int v) const;

  void run();

 private:
  std::vector<bool> needs_grad_;
  std::map<int, int> param_grads_;  // param value -> grad value
  std::map<int, int> grad_writes_;  // param value -> nodes writing its grad
};

/// The pass: appends the backward nodes to g.
void differentiate(Graph& g);

}  // namespace ltgen
