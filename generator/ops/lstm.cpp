/// \file
/// LSTM as torch.nn.LSTM(input_size, hidden_size, num_layers, bias, batch_first=True); its value is
/// torch's `output` (h_n and c_n, the initial states and proj_size are recurrent.cpp's). The loops over
/// steps and layers are recurrent.cpp's; this is the cell. Step t, as torch's LSTMCell, the gates
/// in torch's order i, f, g, o:
///   pre = (h_{t-1} @ weight_hh^T + bias_hh) + xg_t      (xg_t = x_t @ weight_ih^T + bias_ih)
///   i = sigmoid(pre_i)  f = sigmoid(pre_f)  g = tanh(pre_g)  o = sigmoid(pre_o)
///   c_t = f c_{t-1} + i g      h_t = o tanh(c_t)
/// keeping i, f, g, o in `gates` and c_t in `cell`. Backward, with dh and dc from step t + 1:
///   dh_t = dout_t + dh       dc_t = dh_t o (1 - tanh(c_t)^2) + dc      (dc for step t - 1: dc_t f)
///   dgates = [dc_t g i(1-i), dc_t c_{t-1} f(1-f), dc_t i (1-g^2), dh_t tanh(c_t) o(1-o)]
#include "ops.hpp"
#include "recurrent.hpp"

namespace ltgen {

void register_lstm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  RecurrentCell c;
  c.layer = "LSTM";
  c.op = "lstm";
  c.gates = 4;
  c.saved = 4;
  c.cell_state = true;
  c.forward = [](const Node& n) {
    auto pre = [&](const std::string& q) { return hidden_part(n, "g[" + q + "]", q) + " + x[" + q + "]"; };
    return std::vector<std::string>{
        "float* g = gates + row * kG;",
        "const float* x = xg + row * kG;",
        "const float i_gate = ltrt::sigmoid(" + pre("j") + ");",
        "const float f_gate = ltrt::sigmoid(" + pre("kH + j") + ");",
        "const float g_gate = ltrt::tanh_vec(" + pre("2 * kH + j") + ");",
        "const float o_gate = ltrt::sigmoid(" + pre("3 * kH + j") + ");",
        "const float c = f_gate * (" + previous(n, "cell", "c0") + ") + i_gate * g_gate;",
        "g[j] = i_gate;",
        "g[kH + j] = f_gate;",
        "g[2 * kH + j] = g_gate;",
        "g[3 * kH + j] = o_gate;",
        "cell[row * kH + j] = c;",
        cell_output(n) + "[row * kH + j] = o_gate * ltrt::tanh_vec(c);",
    };
  };
  c.backward = [](const Node& n) {
    return std::vector<std::string>{
        "const float* g = gates + row * kG;",
        "float* dg = dgates + row * kG;",
        "const float i_gate = g[j], f_gate = g[kH + j], g_gate = g[2 * kH + j], o_gate = g[3 * kH + j];",
        "const float tanh_c = ltrt::tanh_vec(cell[row * kH + j]);",
        "const float dh_t = " + step_grad(n) + ";",
        "const float dc_t = dh_t * o_gate * (1.0f - tanh_c * tanh_c) + " + carried_cell_grad(n) + ";",
        "const float c_prev = " + previous(n, "cell", "c0") + ";",
        "dg[j] = dc_t * g_gate * (i_gate * (1.0f - i_gate));",
        "dg[kH + j] = dc_t * c_prev * (f_gate * (1.0f - f_gate));",
        "dg[2 * kH + j] = dc_t * i_gate * (1.0f - g_gate * g_gate);",
        "dg[3 * kH + j] = dh_t * tanh_c * (o_gate * (1.0f - o_gate));",
        "dc[b * kH + j] = dc_t * f_gate;",
    };
  };
  register_recurrent(c, ops, layers);
}

}  // namespace ltgen
