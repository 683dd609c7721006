/// \file
/// The IR: a graph of typed ops on tensors with static shapes, forward and backward.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace ltgen {

/// Element types. bf16/f16 are here for mixed precision; the CPU emitter
/// handles f32 compute with f32/i64/u8 storage today.
enum class DType { f32, f64, i64, u8, bf16, f16 };
const char* dtype_name(DType t);        // "f32"
const char* dtype_cpp(DType t);         // "float"
int dtype_bytes(DType t);

using Shape = std::vector<std::int64_t>;
std::string shape_str(const Shape& s);  // "(32, 10)"
std::int64_t numel(const Shape& s);

/// What a value is for; decides its lifetime in the memory plan.
enum class ValueKind {
  input,       // a batch of model inputs, written by the data loader
  target,      // a batch of targets
  param,       // a parameter (flat parameter region), trainable unless frozen
  param_grad,  // its gradient (flat gradient region)
  activation,  // produced and consumed inside one step
  loss,        // the scalar loss
  loss_seed,   // d(loss): the loss scale that backward starts from
  state,       // a module buffer (BatchNorm's running stats): persistent, not trained, updated in place
};

/// Default initialisation of a parameter (discard: draws torch makes and drops, init_program.hpp).
enum class Init { zeros, ones, uniform, normal, constant, copy, discard };  // constant: init_bound's value

struct Value {
  std::string name;      // a C++ identifier, unique in the graph: "layers_0_out"
  std::string torch_name;  // PyTorch's name for params ("layers.0.weight"), else empty
  DType dtype = DType::f32;
  Shape shape;           // dim 0 is the batch (capacity) when batched
  bool batched = false;  // dim 0 holds n <= batch_size live rows at run time
  ValueKind kind = ValueKind::activation;
  int producer = -1;     // node index, -1 for values the step does not compute
  int alias_of = -1;     // a view of another value's storage (Flatten, Identity)
  int grad_of = -1;      // for a param_grad: the param's value index
  bool gradient = false;  // a backward node's gradient of a forward value (autodiff's), not its scratch
  /// bf16-mixed: torch holds this tensor in bfloat16 (autocast). Stored as float32 all the same,
  /// holding values bfloat16 represents; its gradient is rounded to bfloat16 too (autodiff).
  bool bf16 = false;
  bool frozen = false;        // params: requires_grad=False (model.freeze): no gradient, no step
  bool backbone = false;      // params: named by model.backbone (BackboneFinetuning's pl_module.backbone)
  bool joins_late = false;    // params: ... and in the group it adds at its unfreeze epoch (BatchNorm's
                              // stay in the configured groups under train_bn)
  /// torch holds this (batch, T, ...) tensor as a transposed view of (T, batch, ...) memory (the
  /// output of a batch_first MultiheadAttention or recurrent layer, and what torch's elementwise
  /// ops make of it: keep_torch_layout), over which a Dropout draws its mask in memory order
  /// (ops/dropout.cpp).
  bool torch_time_major = false;
  // params: what the parameter's own module does to it in reset_parameters (its init step, unless
  // the layer records others: init_program.hpp)
  Init init = Init::uniform;
  double init_bound = 0;      // params: uniform(-bound, bound); normal: the standard deviation
  std::int64_t init_zero_row = -1;  // params: a row set to zero after init (Embedding's padding_idx)
  int init_copy_of = -1;            // params, Init::copy: the value id of the earlier parameter it clones
};

using Attr = std::variant<std::int64_t, double, bool, std::string, std::vector<std::int64_t>, std::vector<double>>;
using Attrs = std::map<std::string, Attr>;

/// One op instance. Forward nodes come from the spec; backward nodes from autodiff.
struct Node {
  std::string op;        // registry key: "linear", "relu_backward", ...
  std::string layer;     // PyTorch's module name: "layers.0", "loss"
  std::string source;    // JSON path in the spec: "model.layers[0]"
  std::vector<int> inputs;
  std::vector<int> outputs;
  Attrs attrs;
  bool backward = false;
  /// Unary elementwise ops fused into this node's output (fusion pass), in order.
  std::vector<Node> epilogue;
};

/// One step of the default initialisation, on torch's generator in torch's order (init_program.hpp).
struct InitStep {
  int param = -1;  // the parameter's value index; -1 for Init::discard
  Init kind = Init::uniform;
  double value = 0;             // uniform: the bound; normal: the std; constant: the value
  std::int64_t zero_row = -1;   // a row zeroed after the draw (Embedding's padding_idx)
  int copy_of = -1;             // Init::copy: the value index of the parameter it copies
  std::int64_t draws = 0;       // Init::discard: uniform draws dropped
};

struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;   // schedule order: forward, then backward
  std::vector<int> params;   // value indices, in PyTorch's state_dict order
  std::vector<int> state;    // buffers (ValueKind::state), in state_dict order
  std::vector<InitStep> init_steps;  // the parameters' initialisation, in torch's order
  std::vector<int> inputs;   // model inputs
  int target = -1;
  int output = -1;  // the model's output (logits): kept for predict
  // What the loss and the metrics read, kept for the metrics: the output, or class logits
  // (batch, C, d1, ...) moved to (batch, d1, ..., C) (build_graph's classes_last).
  int metric_output = -1;
  std::vector<int> layer_outputs;  // per spec layer, its output value (ModelSummary)
  int loss = -1;
  int loss_seed = -1;
  int batch_size = 0;
  // While a model.graph node applies an earlier node's module again: the parameter names its
  // builder makes ("<node>.") name that module's ("<module>."), which add_param returns.
  std::string reuse_as, reuse_of;

  int add_value(Value v);
  int add_node(Node n);      // sets producer of the outputs
  const Value& value(int i) const { return values.at(i); }
  Value& value(int i) { return values.at(i); }
  int root(int v) const;     // follows alias_of to the value that owns storage
};

// Attribute access with a clear failure for generator bugs.
std::int64_t attr_int(const Node& n, const std::string& key);
double attr_float(const Node& n, const std::string& key);
bool attr_bool(const Node& n, const std::string& key);
const std::string& attr_str(const Node& n, const std::string& key);
const std::vector<std::int64_t>& attr_ints(const Node& n, const std::string& key);
const std::vector<double>& attr_floats(const Node& n, const std::string& key);
std::string attr_repr(const Attr& a);  // Python-like: 10, 0.5, True, 'tanh'

/// A readable dump of the graph, one node a line (for --dump-ir and the header comment).
std::string dump_graph(const Graph& g);

}  // namespace ltgen
