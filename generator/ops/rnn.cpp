/// \file
/// RNN as torch.nn.RNN(input_size, hidden_size, num_layers, nonlinearity, bias, batch_first=True);
/// its value is torch's `output`. The loops over steps and layers are
/// recurrent.cpp's; this is the cell: h_t = act((h_{t-1} W_hh^T + b_hh) + xg_t), act tanh or relu
/// (torch's RNN_TANH and RNN_RELU cells), the GEMM's product written into out's row and the cell
/// applying act in place. Backward from the result: dgates = (dout_t + dh) act'(h_t), with
/// tanh' = 1 - h^2 and relu' = h > 0 (torch's threshold_backward on the result).
#include "ops.hpp"
#include "recurrent.hpp"

namespace ltgen {

void register_rnn(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  RecurrentCell c;
  c.layer = "RNN";
  c.op = "rnn";
  ArgDef nonlinearity{"nonlinearity", ArgType::string, Attr{std::string("tanh")}};
  nonlinearity.choices = {"tanh", "relu"};
  c.extra_args = {nonlinearity};
  c.forward = [](const Node& n) {
    const std::string pre = hidden_part(n, "out[row * kH + j]", "j") + " + xg[row * kH + j]";
    const bool relu = attr_str(n, "nonlinearity") == "relu";
    return std::vector<std::string>{
        "const float pre = " + pre + ";  // out holds h_{t-1} W_hh^T",
        std::string("out[row * kH + j] = ") + (relu ? "pre > 0.0f ? pre : 0.0f;" : "ltrt::tanh_vec(pre);"),
    };
  };
  c.backward = [](const Node& n) {
    const bool relu = attr_str(n, "nonlinearity") == "relu";
    return std::vector<std::string>{
        "const float h = out[row * kH + j];",
        "const float dh_t = " + step_grad(n) + ";",
        std::string("dgates[row * kH + j] = ") + (relu ? "h > 0.0f ? dh_t : 0.0f;" : "dh_t * (1.0f - h * h);"),
    };
  };
  register_recurrent(c, ops, layers);
}

}  // namespace ltgen
