/// \file
/// An op kind, defined once: shape rule, backward rule, cost, CPU and CUDA lowerings.
/// A spec layer (torch.nn class) maps to forward ops through a LayerDef.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "code_writer.hpp"
#include "ir.hpp"

namespace ltgen {

/// A shape or dtype rule was broken; the message says what, the caller adds where.
struct ShapeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct OutputType {
  DType dtype;
  Shape shape;
  bool batched;
};

struct Cost {
  double flops = 0;  // floating point operations, full batch
  double bytes = 0;  // bytes read and written, full batch
};

class Autodiff;

/// Names the parameters of the function emitted for one node.
struct Slots {
  std::vector<std::string> outputs;  // same order as Node::outputs
  std::vector<std::string> inputs;   // same order as Node::inputs
};

/// Where a CUDA lowering writes: kernels at namespace scope (named `<fn>_kernel`,
/// `<fn>_<what>_kernel`), and the body of the host function `fn`, which enqueues them on
/// `ctx.stream` (an `const ltrt::cuda::Context& ctx` parameter). `fn` is a placeholder while the
/// op lowers: nodes whose kernels come out the same (all but `fn`) share one copy, named after
/// the first, so every name a lowering puts at namespace scope derives from `fn`, and nothing
/// there may hold a node's own state (a `__device__` variable would be shared too; none does).
struct CudaEmit {
  CodeWriter& kernels;
  CodeWriter& body;
  CodeWriter& prepare;  // statements of prepare_kernels(): once, before any launch or capture
  std::string fn;
  std::int64_t shared_budget;  // the most dynamic shared memory a block may have (CudaTarget)
  bool tensor_cores = false;   // every target GPU has TF32 tensor cores (CudaTarget)
  bool gemms16 = false;        // every target GPU has tensor cores of mixed precision's dtype (gemms_16bit)
  // Set by a lowering that calls ltrt::cuda::gemm_16bit: the most bytes of operand copies its
  // calls need (ltrt::cuda::operands16_bytes, at the largest batch).
  std::int64_t operands16_bytes = 0;
  // Per value: stored as 16-bit bits (cuda_storage16.hpp); empty: none.
  const std::vector<bool>* stored16 = nullptr;
  bool is_stored16(int value) const { return stored16 && !stored16->empty() && stored16->at(value); }
};

struct OpDef {
  std::string name;
  /// Output types from input values; throws ShapeError.
  std::function<std::vector<OutputType>(const Node&, const Graph&)> infer;
  std::function<Slots(const Node&)> slots;
  /// Adds the backward nodes of `node` and returns the gradient value of each
  /// input (-1 where none is needed). Empty for ops that are not differentiated.
  std::function<std::vector<int>(Autodiff&, const Node&, const std::vector<int>& dout)> backward;
  std::function<Cost(const Node&, const Graph&)> cost;
  /// Writes the body of the node's function on the CPU. Nodes whose functions come out the same
  /// share one, so a body holds no state of its own (no `static` variable).
  std::function<void(CodeWriter&, const Node&, const Graph&)> emit_cpu;
  /// Writes the node's kernels and launches for CUDA; empty: the GPU does not support the op yet.
  /// A view op needs none. Dropout draws from a counter-based generator on the device instead.
  std::function<void(CudaEmit&, const Node&, const Graph&)> emit_cuda;
  /// Unary elementwise ops: the scalar expression of `x` (float) the op computes,
  /// so that the fusion pass can apply it in a producer's loop.
  std::function<std::string(const Node&, const std::string& x)> scalar;
  /// Named constants the scalar expression uses (`constexpr float kNegativeSlope = ...;`).
  std::function<void(CodeWriter&, const Node&)> constants;
  bool needs_rng = false;       // draws random numbers (Dropout)
  bool training_mode = false;   // behaves differently in training and eval (Dropout)
  /// Both of the above for some of the op's nodes only (an attention with dropout); see draws_random.
  std::function<bool(const Node&)> random_in_training;
  bool view = false;            // output is a view of input 0: no code, shared storage
  bool accepts_epilogue = false;  // the fusion pass may append unary ops to its output loop
  bool keeps_preact = false;      // can also write the value before its epilogue, as a second output
  bool moves_values = false;      // copies or views elements without arithmetic (bf16-mixed: bfloat16 in, out)
  bool writes_param_grad = false;  // takes `accumulate`
  // Its CUDA lowering writes its one output as 16-bit bits when CudaEmit::is_stored16 says so
  // (cuda_storage16.hpp: mixed precision's values that only 16-bit GEMMs read).
  bool cuda_writes16 = false;
  // Its CPU function's pointers are `__restrict`: no two of a node's values overlap (the memory
  // plan reuses a value's space only after its last reader), which lets the compiler vectorise
  // a loop that writes several of them without checking at run time that they are apart.
  bool restrict_pointers = false;
  std::vector<std::string> cpu_includes;  // standard headers its CPU code needs beyond model.cpp's usual ones
  std::vector<std::string> cpu_runtime_includes;  // and runtime headers ("<ltrt/packed_gemm.hpp>")
  std::vector<std::string> cuda_runtime_includes;  // runtime headers its CUDA code needs beyond model_cuda.cu's usual ones
};

const OpDef& op_def(const std::string& name);  // throws std::logic_error if unknown
/// Whether node n draws random numbers (its function takes the step's generator), and whether it
/// behaves differently in training and eval (its function takes `training`).
bool draws_random(const Node& n);
bool has_training_mode(const Node& n);
std::vector<std::string> op_names();          // every registered op, by name
/// The cost of a node including the ops fused into it.
Cost node_cost(const Node& n, const Graph& g);

/// The value of an argument in the spec, already checked against its ArgDef.
/// integer_tuple: an int or a list of `tuple_size` ints (torch's `_pair`), kept as written
/// (int64 or vector); with `choices`, one of those strings too (Conv2d's padding='same').
/// tuple_size 0: a non-empty list of any length (LayerNorm's normalized_shape).
/// number_tuple: the same with finite numbers (Upsample's scale_factor), a double or vector<double>;
/// `positive` asks each to be > 0.
/// module: a torch.nn module given to the constructor (TransformerEncoder's encoder_layer), an object
/// of that layer's arguments (its "type" may be given, and must be `module_type`); the layer's args
/// then hold the type under the argument's name and each of its arguments as "<name>.<argument>".
/// value: one of forward's tensor arguments that is not the layer's input (MultiheadAttention's
/// key_padding_mask), the name of a model input; not a constructor argument. The builder finds
/// the value in LayerBuild::values.
enum class ArgType { integer, number, boolean, string, integer_tuple, number_tuple, number_list, module, value };
// The most layers a num_layers argument stacks (RNN, LSTM, GRU, the Transformer stacks): the
// generated program unrolls every one, so a typo of a huge number would never finish generating.
constexpr double kMaxStackedLayers = 256;

struct ArgDef {
  std::string name;
  ArgType type;
  std::optional<Attr> default_value;  // nullopt: required, unless inferred
  bool inferred = false;              // may be left out: derived from the input shape
  bool optional = false;              // may be left out: torch's default is None (Embedding's padding_idx)
  std::vector<std::string> choices;   // for strings
  std::optional<double> min, max;     // inclusive bounds for numbers
  std::string positive;               // number: non-empty, it must be > 0, else this message (torch's)
  std::string unsupported;            // non-empty: accepted name, but only the default works yet
  bool nullable = false;              // null is a value of its own (BatchNorm's momentum=None), not
                                      // the default: the argument is then absent from the layer's args
  int tuple_size = 0;                 // integer_tuple, number_tuple: the length of a list
  std::string module_type;            // module: the torch.nn class ("TransformerEncoderLayer")
  std::string module_part;            // module: the part the builder makes of it ("layers.0"), whose
                                      // nodes hold what it inferred
};

/// The arguments of a module argument `name` (ArgType::module), without their prefix.
Attrs module_args(const Attrs& args, const std::string& name);

/// Context handed to a layer's builder.
struct LayerBuild {
  Graph& graph;
  std::string layer;   // PyTorch module name: "layers.0"
  std::string source;  // "model.layers[0]"
  Attrs args;          // checked arguments, defaults filled in (inferred ones absent)
  bool training_only_identity = false;
  std::map<std::string, int> values;  // ArgType::value arguments given: the values they name
  // model.graph: the layer's extra outputs (LayerDef::extra_outputs) that later nodes read, which
  // the builder makes and puts in `outputs`.
  std::set<std::string> wanted_outputs;
  std::map<std::string, int> outputs;
  // trainer.sync_batchnorm in a DDP program: BatchNorm*d is torch's SyncBatchNorm (the launch's
  // statistics in training).
  bool sync_batchnorm = false;
};

/// A torch.nn class as the spec names it.
struct LayerDef {
  std::string torch_type;  // "Linear"
  std::vector<ArgDef> args;
  bool is_loss = false;
  bool takes_target = true;  // a loss: compares with targets (TripletMarginLoss does not)
  bool class_lists = false;  // a loss whose int64 targets list classes, -1 ending a row (MultiLabelMarginLoss)
  bool label_sequences = false;  // a loss whose int64 targets are label sequences (batch, S), -1 ending a row (CTCLoss)
  int num_inputs = 1;  // values it reads; -1: two or more (Concat). Only 1 fits model.layers.
  int max_inputs = 0;  // more than num_inputs: a model.graph node may give up to this many (MultiheadAttention's key and value)
  /// Values beside the output that model.graph's nodes may read as "<node>.<name>" (a recurrent
  /// layer's "h_n" and "c_n"); the builder makes those named in LayerBuild::wanted_outputs.
  std::vector<std::string> extra_outputs;
  /// Adds forward nodes; returns the output value. `in` are the layer's inputs
  /// (losses get prediction and target). Throws ShapeError for bad sizes.
  std::function<int(LayerBuild&, const std::vector<int>& in)> build;
};

const std::vector<const LayerDef*>& layer_defs();
const LayerDef* find_layer(const std::string& torch_type);

/// `name`, or `name_2`, `name_3`, ...: the first no value of g has (names are C++ identifiers in one scope).
std::string unused_name(const Graph& g, const std::string& name);
/// Adds `node` to the graph, creating its outputs with types from the op's shape
/// rule. Output names are `<prefix>` (one output) or `<prefix>_<slot>`.
int add_op(Graph& g, Node node, const std::string& value_prefix);
/// An elementwise result's Value::torch_time_major from its operands' (torch's TensorIterator
/// gives its output the memory order of the first operand of the output's shape, so a + b takes
/// a's): `inputs` in torch's operand order.
void keep_torch_layout(Graph& g, int out, const std::vector<int>& inputs);
/// Adds a view of value `in` as (batch, *shape) (`shape` per sample), no copy: Reshape's node.
int add_view(LayerBuild& b, int in, std::vector<std::int64_t> shape);
/// The same for a node of layer `layer` at spec path `source`, named `<layer>_out`.
int add_view(Graph& g, const std::string& layer, const std::string& source, int in, std::vector<std::int64_t> shape);
/// Adds a Linear node, out = x @ weight^T + bias (bias -1: none) on x's last dimension, sizes from
/// the weight (out, in); returns its output, named `<layer>_out`. Linear itself, MultiheadAttention's
/// projections and an LSTM's input projection build it.
int add_linear(Graph& g, const std::string& layer, const std::string& source, int x, int weight, int bias);
/// Adds cross-attention's input projection (ops/attention_in_projection.cpp): {query, key_value} =
/// {inp @ W_q^T + b_q, memory @ W_kv^T + b_kv} from the rows of in_proj_weight (3E, E) and
/// in_proj_bias (bias -1: none); returns the two outputs.
std::vector<int> add_attention_in_projection(Graph& g, const std::string& layer, const std::string& source, int inp,
                                             int memory, int weight, int bias);
/// A key padding mask (ops/key_padding_mask.cpp): the additive float32 (batch, S) form of a model
/// input, -inf where a bool mask is true (one additive_mask node per bool input), a float32 input as
/// it is.
int additive_padding_mask(Graph& g, const std::string& layer, const std::string& source, int mask);
/// An optional ArgType::value argument: one of forward's key padding masks (`name`).
ArgDef key_padding_mask_arg(const std::string& name);
/// The additive mask of the ArgType::value argument `arg` of b (-1: not given), checked to be a bool
/// or float32 model input of per-sample shape [keys].
int key_padding_mask_input(LayerBuild& b, const std::string& arg, std::int64_t keys);
/// TransformerEncoder's nested-tensor fast path in evaluation: x (batch, S, E) with the positions the
/// additive mask pads set to 0, for a batch whose padding is left aligned; x itself in training.
int add_nested_padding(Graph& g, const std::string& layer, const std::string& source, int x, int mask);
/// Adds a Dropout node (probability p > 0; torch's masks on the CPU, off in evaluation) on x; returns its
/// output, named `<layer>_out`. The Dropout layer and the recurrent layers' dropout between layers.
int add_dropout(Graph& g, const std::string& layer, const std::string& source, int x, double p);
/// Dropout's scale of the elements it keeps, torch's 1 / (1 - p) in float (0 for p = 1), as a
/// `constexpr float <name> = ...;` line.
std::string dropout_scale_line(const std::string& name, double p);
/// A layer's own stream of counter-based random numbers (ltrt/counter_uniform.hpp): FNV-1a of its
/// name, stable wherever ltgen runs.
std::uint32_t dropout_stream(const std::string& layer);
/// Adds a reverse_steps node (x's steps in reverse order, torch.flip(x, [1])) on a (batch, T,
/// features) sequence; returns its output, named `<layer>_out`. A bidirectional recurrent layer's
/// reverse direction.
int add_reverse_steps(Graph& g, const std::string& layer, const std::string& source, int x);
/// Adds a narrow node, x.narrow(dim, start, length) (a copy), named `name`: Narrow and Select, and a
/// recurrent layer's initial and final states.
int add_narrow(Graph& g, const std::string& layer, const std::string& source, int x, std::int64_t dim,
               std::int64_t start, std::int64_t length, const std::string& name);
/// Creates a parameter value and registers it in state_dict order.
int add_param(Graph& g, const std::string& torch_name, Shape shape);
/// Creates a buffer (ValueKind::state: BatchNorm's running_mean) with its constant init
/// (zeros or ones). Ops that take one as an input may update it in place in training.
int add_state(Graph& g, const std::string& torch_name, Shape shape, DType dtype, Init init);

/// A C++ identifier from a PyTorch name: "layers.0.weight" -> "layers_0_weight".
std::string cpp_name(const std::string& torch_name);
/// A float literal that reads back exactly as the float32 `v`: "0.01f".
std::string float_literal(double v);
/// A double literal that reads back exactly as `v`: "0.9".
std::string double_literal(double v);

}  // namespace ltgen
