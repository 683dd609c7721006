/// \file
/// What torch.nn's recurrent layers (RNN, LSTM, GRU) share: their arguments, parameters and
/// per-layer nodes, and the loops over time steps of their forward and backward on the CPU and
/// CUDA. A layer differs only in its cell (RecurrentCell), the lines that one step runs for one
/// hidden unit of one sample.
///
/// Each of the num_layers layers k is two nodes:
///   xg = x @ weight_ih_lk^T + bias_ih_lk      (a Linear over every step at once: (batch, T, G * H))
///   out[, cell][, gates] = <op>(xg, weight_hh_lk, bias_hh_lk)
/// where G is the cell's number of gates. A bidirectional layer adds the reverse direction's two
/// nodes (parameters `..._lk_reverse`) over x's steps reversed (reverse_steps), reverses their
/// output back and concatenates it after the forward direction's: (batch, T, 2 * H). Step t of the forward computes h_{t-1} @ weight_hh^T for
/// the batch's rows with one GEMM (rows kT steps apart), into the step's row of `gates` (or of
/// `out` for a cell that keeps no gates), then the cell for every (sample, unit): a loop on the CPU,
/// a kernel of a thread per (sample, unit) on CUDA, the same lines. The backward walks t = T-1 down
/// to 0: the cell's lines give the pre-activation gradients `dgates` (xg's gradient, and the rows
/// of bias_ih's) and, from step t + 1, read `dh` (and `dc`); a GEMM then gives h_{t-1}'s share,
/// dh = dhidden_t @ weight_hh. After the loop weight_hh's gradient is one GEMM over every (sample,
/// step) row, dhidden^T @ h shifted a step (zero at t = 0), and bias_hh's the column sums of dhidden.
/// dhidden is dgates except for a cell whose hidden projection enters differently (GRU's r * (W_hn
/// h + b_hn)), which writes its own.
///
/// Given initial states (a model.graph node's inputs after x), each layer and direction reads its
/// row of h_0 (c_0) where the steps read h_{-1} = 0 otherwise: step 0's GEMM and the cells (the
/// op's attribute initial_state); the backward then also runs step 0's GEMM, for dL/dh_0, and
/// copies what the steps carried back into dh0 (dc0). h_n and c_n are each direction's last step,
/// stacked; c_n's gradient enters the LSTM's backward at its last step (dcell).
///
/// An LSTM with proj_size P projects each step's hidden state, h_t = (o tanh(c_t)) @ weight_hr^T:
/// the cell writes o tanh(c_t) (H wide) to `unprojected` and a second GEMM a step gives h_t (P
/// wide), which the next step's GEMM, the output, h_0 and h_n have instead of H. The backward
/// collects dL/dh_t in `dproj` (dout's row plus what step t + 1 passed back), turns it into the
/// cell's dL/d(o tanh c_t) with a GEMM by weight_hr (`dm`), and after the loop weight_hr's gradient
/// is one GEMM, dproj^T @ unprojected.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "../op.hpp"

namespace ltgen {

struct RecurrentCell {
  std::string layer;  // torch.nn's class: "LSTM"
  std::string op;     // its forward op ("lstm"); "<op>_backward" is the backward's
  int gates = 1;      // weight rows per hidden unit: i, f, g, o for LSTM (4), r, z, n for GRU (3)
  int saved = 0;      // floats per unit that a step keeps in `gates` for the backward (0: no gates buffer)
  bool cell_state = false;      // LSTM's c: a `cell` output (batch, T, H), and dc carried back
  bool own_hidden_grad = false;  // GRU: weight_hh's and bias_hh's gradient rows (`dhidden`) differ from dgates
  bool direct_dh = false;        // the backward cell writes h_{t-1}'s direct share to dh; the GEMM adds to it
  bool reads_h_prev = false;  // the cells read h_{t-1} themselves, h_0 at t = 0 (GRU's)
  std::vector<ArgDef> extra_args;  // after torch's common ones (RNN's nonlinearity)
  /// Step t's forward for sample b's unit j, with row = b * kT + t, t, j in scope: reads xg (row
  /// kG floats) and the GEMM's h_{t-1} W_hh^T in `gates` (row kS floats; in `out` without gates)
  /// when t > 0, bias_hh when the layer has biases; writes out (and cell, gates).
  std::function<std::vector<std::string>(const Node&)> forward;
  /// Step t's backward for (b, j) with row, b, t, j in scope: reads dout, out, gates, cell, and dh
  /// (dc) from step t + 1 when t < kT - 1; writes dgates (and dhidden, dc, dh's direct share).
  std::function<std::vector<std::string>(const Node&)> backward;
};

/// Registers the cell's forward and backward ops and its layer.
void register_recurrent(const RecurrentCell& cell, std::vector<OpDef>& ops, std::vector<LayerDef>& layers);

/// `(t > 0 ? <product> : 0.0f) + bias_hh[q]` (the bias only when the node has one): gate q's
/// hidden part, h_{t-1} W_hh^T + b_hh, as torch's linear computes it (zero for h_{-1} = 0; the
/// product alone when the node starts from a given h_0, whose product step 0's GEMM computes).
std::string hidden_part(const Node& n, const std::string& product, const std::string& q);
/// `buffer`'s entry for (b, j) at step t - 1 (rows kH wide): at t = 0 the initial state's,
/// `initial` (h0, c0) when the node has one, else 0.
std::string previous(const Node& n, const std::string& buffer, const std::string& initial);
/// The backward's dL/dh_t: dout's entry (when the output has a gradient) plus dh from step t + 1;
/// with a projection dm's entry, dL/d(o tanh c_t), which already holds both.
std::string step_grad(const Node& n);
/// Where the cell writes h_t's unit j: `out`, or `unprojected` with a projection.
std::string cell_output(const Node& n);
/// dL/dc_t's share from step t + 1: dc; at the last step c_n's gradient (dcell's last row) or 0.
std::string carried_cell_grad(const Node& n);

}  // namespace ltgen
