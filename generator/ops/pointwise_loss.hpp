/// \file
/// Shared shape of losses that compare prediction and target element by
/// element (MSELoss, L1Loss, HuberLoss, SmoothL1Loss, BCEWithLogitsLoss, BCELoss, KLDivLoss, ...): a
/// per-element term, its derivative, and reduction 'mean' or 'sum' (or KLDivLoss's 'batchmean').
#pragma once

#include <functional>
#include <string>

#include "../op.hpp"

namespace ltgen {

struct PointwiseLoss {
  std::string name;        // "mse_loss"; backward "mse_loss_backward"
  std::string torch_type;  // "MSELoss"
  std::vector<ArgDef> extra_args;  // besides reduction
  bool batchmean = false;          // reduction may also be 'batchmean' (KLDivLoss): the sum / batch size
  /// Each sample's loss is the mean of its terms over the last dimension (MultiLabelSoftMarginLoss):
  /// 'sum' divides the sum by that dimension ('mean' is the same mean over every element).
  bool mean_over_last_dim = false;
  double flops_per_element;
  /// Terms in x (prediction) and y (target), both float.
  std::function<std::string(const Node&)> term;
  std::function<std::string(const Node&)> grad;  // d term / d x
  std::function<void(CodeWriter&, const Node&)> constants;
  /// Checks the prediction and target values `in` and the layer's arguments (at build time); throws
  /// ShapeError. Empty: any float values of one shape.
  std::function<void(const Graph&, const std::vector<int>& in, const Attrs& args)> check_input;
};

void register_pointwise_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers,
                             const PointwiseLoss& loss);

/// The backward rule of a loss over (prediction, target): one `<op>_backward` node reading (dloss,
/// prediction, target) with the forward's attributes, giving the prediction's gradient (none for
/// the target).
decltype(OpDef::backward) prediction_backward(const std::string& op);

/// The reduction argument every torch.nn loss takes ('none' cannot drive training).
ArgDef reduction_arg();

}  // namespace ltgen
