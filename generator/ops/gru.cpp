/// \file
/// GRU as torch.nn.GRU(input_size, hidden_size, num_layers, bias, batch_first=True); its value is
/// torch's `output`. The loops over steps and layers are
/// recurrent.cpp's; this is the cell. Step t, as torch's GRUCell, the gates in torch's order r, z, n:
///   r = sigmoid((h W_hr^T + b_hr) + xg_r)     z = sigmoid((h W_hz^T + b_hz) + xg_z)
///   hn = h W_hn^T + b_hn      n = tanh(xg_n + r hn)      h_t = (h_{t-1} - n) z + n
/// with h = h_{t-1}, keeping r, z, n and hn. Backward, with dh_t = dout_t + dh from step t + 1:
///   dn = dh_t (1 - z)(1 - n^2)   dz = dh_t (h_{t-1} - n) z(1-z)   dr = dn hn r(1-r)
/// xg's gradient is [dr, dz, dn]; the hidden projection's is [dr, dz, dn r] (dhidden, for
/// weight_hh's and bias_hh's gradients and h_{t-1}'s through W_hh), and h_{t-1} also gets dh_t z.
#include "ops.hpp"
#include "recurrent.hpp"

namespace ltgen {

void register_gru(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  RecurrentCell c;
  c.layer = "GRU";
  c.op = "gru";
  c.gates = 3;
  c.saved = 4;
  c.own_hidden_grad = true;
  c.direct_dh = true;
  c.reads_h_prev = true;
  c.forward = [](const Node& n) {
    return std::vector<std::string>{
        "float* g = gates + row * kS;  // h_{t-1} W_hh^T in, then r, z, n, hn",
        "const float* x = xg + row * kG;",
        "const float r = ltrt::sigmoid(" + hidden_part(n, "g[j]", "j") + " + x[j]);",
        "const float z = ltrt::sigmoid(" + hidden_part(n, "g[kH + j]", "kH + j") + " + x[kH + j]);",
        "const float hn = " + hidden_part(n, "g[2 * kH + j]", "2 * kH + j") + ";",
        "const float new_gate = ltrt::tanh_vec(x[2 * kH + j] + hn * r);",
        "const float h_prev = " + previous(n, "out", "h0") + ";",
        "g[j] = r;",
        "g[kH + j] = z;",
        "g[2 * kH + j] = new_gate;",
        "g[3 * kH + j] = hn;",
        "out[row * kH + j] = (h_prev - new_gate) * z + new_gate;",
    };
  };
  c.backward = [](const Node& n) {
    return std::vector<std::string>{
        "const float* g = gates + row * kS;",
        "float* dg = dgates + row * kG;",
        "float* dhid = dhidden + row * kG;",
        "const float r = g[j], z = g[kH + j], new_gate = g[2 * kH + j], hn = g[3 * kH + j];",
        "const float h_prev = " + previous(n, "out", "h0") + ";",
        "const float dh_t = " + step_grad(n) + ";",
        "const float dn = dh_t * (1.0f - z) * (1.0f - new_gate * new_gate);",
        "const float dz = dh_t * (h_prev - new_gate) * (z * (1.0f - z));",
        "const float dr = dn * hn * (r * (1.0f - r));",
        "dg[j] = dhid[j] = dr;",
        "dg[kH + j] = dhid[kH + j] = dz;",
        "dg[2 * kH + j] = dn;",
        "dhid[2 * kH + j] = dn * r;",
        "dh[b * kH + j] = dh_t * z;  // h_{t-1}'s direct share; the GEMM adds dhidden_t W_hh",
    };
  };
  register_recurrent(c, ops, layers);
}

}  // namespace ltgen
