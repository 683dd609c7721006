#include "check_causal.hpp"

#include <set>

#include "diagnostics.hpp"

namespace ltgen {

namespace {
// Layers that work on each position on its own (over the last dimension, or elementwise).
const std::set<std::string> kPositionWise = {
    "Embedding", "PositionalEmbedding", "Linear", "ReLU", "LeakyReLU", "GELU", "Tanh", "Sigmoid", "SiLU",
    "ELU", "CELU", "SELU", "Softplus", "Mish", "Hardswish", "Hardsigmoid", "Hardtanh", "ReLU6", "Softsign",
    "LogSigmoid", "Hardshrink", "Softshrink", "Tanhshrink", "Threshold", "Dropout", "Identity", "Add", "Mul"};

std::int64_t int_arg(const LayerSpec& l, const char* name, std::int64_t fallback) {
  auto it = l.args.find(name);
  return it != l.args.end() && std::holds_alternative<std::int64_t>(it->second) ? std::get<std::int64_t>(it->second)
                                                                                : fallback;
}

// Empty when the layer keeps positions apart (or attends causally), else why it does not.
std::string mixes_positions(const LayerSpec& l) {
  for (const std::string& in : l.inputs)  // a recurrent layer's state after the last position
    if (in.find('.') != std::string::npos) return "reads " + in + ", the state after the last position: read the output sequence";
  if (kPositionWise.count(l.type)) return "";
  // Recurrent layers: each step of the forward direction reads the steps before it only; the
  // reverse direction reads the steps after it.
  if (l.type == "RNN" || l.type == "LSTM" || l.type == "GRU") {
    if (l.inputs.size() > 1) return "starts from given states: leave them out (zero states)";
    auto it = l.args.find("bidirectional");
    const bool both = it != l.args.end() && std::get<bool>(it->second);
    return both ? "is bidirectional (its reverse direction reads later positions): set \"bidirectional\": false" : "";
  }
  if (l.type == "MultiheadAttention" || l.type == "TransformerEncoderLayer") {  // its norms and MLP act per position
    auto it = l.args.find("is_causal");
    const bool causal = it != l.args.end() && std::get<bool>(it->second);
    return causal ? "" : "attends to every position: set \"is_causal\": true";
  }
  if (l.type == "TransformerEncoder") {  // its layers are copies of encoder_layer; its norm acts per position
    auto it = l.args.find("encoder_layer.is_causal");
    const bool causal = it != l.args.end() && std::get<bool>(it->second);
    return causal ? "" : "attends to every position: set \"is_causal\": true in its encoder_layer";
  }
  if (l.type == "LayerNorm" || l.type == "RMSNorm") {
    auto it = l.args.find("normalized_shape");
    if (it == l.args.end()) return "";  // inferred: the last dimension
    const Attr& s = it->second;
    const bool last_only = std::holds_alternative<std::int64_t>(s) ||
                           (std::holds_alternative<std::vector<std::int64_t>>(s) &&
                            std::get<std::vector<std::int64_t>>(s).size() == 1);
    return last_only ? "" : "normalizes over positions: normalize the last dimension only";
  }
  if (l.type == "Narrow" || l.type == "Select" || l.type == "Mean" || l.type == "Sum") {  // along the features only
    const std::int64_t dim = int_arg(l, "dim", 1);
    return dim == -1 || dim == 2 ? "" : "works along dim " + std::to_string(dim) + ": use dim -1";
  }
  if (l.type == "Softmax" || l.type == "LogSoftmax" || l.type == "Softmin" || l.type == "Concat") {
    const std::int64_t dim = int_arg(l, "dim", 1);
    return dim == -1 || dim == 2 ? "" : "works along dim " + std::to_string(dim) + ": use dim -1";
  }
  return "is not known to keep sequence positions apart";
}
}  // namespace

void check_causal(const Spec& spec, const std::string& user) {
  for (const LayerSpec& l : spec.layers) {
    const std::string why = mixes_positions(l);
    if (why.empty()) continue;
    throw SpecError(spec.path, l.pos, l.source,
                    l.type + " " + why + ". " + user + " generates text one token at a time, which needs a model "
                    "whose output at each position reads earlier positions only (Embedding, PositionalEmbedding, "
                    "LayerNorm, Linear, activations, Dropout, Add, Mul, causal MultiheadAttention, TransformerEncoderLayer and TransformerEncoder, unidirectional RNN, LSTM, GRU)");
  }
}

}  // namespace ltgen
