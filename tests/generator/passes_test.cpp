// The passes one by one: the IR after building, differentiating and fusing a
// small spec, and the memory plan's promises (no live overlap, reuse).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "autocast.hpp"
#include "autodiff.hpp"
#include "build_graph.hpp"
#include "fuse_elementwise.hpp"
#include "name_patterns.hpp"
#include "op.hpp"
#include "plan_memory.hpp"
#include "spec.hpp"
#include "verify_graph.hpp"

namespace ltgen {
namespace {

Spec spec_with_layers(const std::string& layers, const std::string& optimizer = R"({"type": "Adam"})") {
  const std::string text = R"({"name": "t", "model": {"inputs": {"x": [6]}, "target": {"shape": [2]},
    "layers": [)" + layers + R"(], "loss": {"type": "MSELoss"}},
    "data": {"batch_size": 4, "train": {"source": "randn", "num_samples": 8}},
    "optimizer": )" + optimizer + "}";
  return parse_spec("test.json", text);
}

std::vector<std::string> ops(const Graph& g) {
  std::vector<std::string> out;
  for (const Node& n : g.nodes) {
    std::string s = n.op;
    for (const Node& e : n.epilogue) s += "+" + e.op;
    out.push_back(s);
  }
  return out;
}

const std::string kMlp = R"({"type": "Linear", "out_features": 5}, {"type": "ReLU"},
                            {"type": "Linear", "out_features": 2})";

// Issue 6: every op has a CUDA lowering beside its CPU one (or is a view, which needs no code),
// so that every spec the CPU program runs also gets CUDA steps. A new op without one fails here.
TEST(OpRegistry, EveryOpLowersToCuda) {
  ASSERT_GT(ltgen::op_names().size(), 40u);
  for (const std::string& name : ltgen::op_names()) {
    const ltgen::OpDef& d = ltgen::op_def(name);
    EXPECT_TRUE(d.view || d.emit_cuda) << name << " has no CUDA lowering (OpDef::emit_cuda)";
    if (!d.view) EXPECT_TRUE(d.emit_cpu) << name << " has no CPU lowering";
  }
}

TEST(BuildGraph, ForwardNodesAndParamsInStateDictOrder) {
  const Graph g = build_graph(spec_with_layers(kMlp));
  EXPECT_EQ(ops(g), (std::vector<std::string>{"linear", "relu", "linear", "mse_loss"}));
  std::vector<std::string> names;
  for (int p : g.params) names.push_back(g.value(p).torch_name);
  EXPECT_EQ(names, (std::vector<std::string>{"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"}));
  EXPECT_EQ(g.value(g.params[0]).shape, (Shape{5, 6}));  // torch.nn.Linear: (out, in)
  EXPECT_EQ(g.value(g.params[2]).shape, (Shape{2, 5}));  // in_features inferred
}

// TransformerEncoder(encoder_layer, num_layers): torch's names and order, layers 1.. start as
// copies of layer 0 (copy.deepcopy), the final norm as LayerNorm's.
TEST(BuildGraph, TransformerEncoderClonesItsLayer) {
  const std::string text = R"({"name": "t", "model": {"inputs": {"x": [5, 8]}, "target": {"shape": [5, 8]},
    "layers": [{"type": "TransformerEncoder", "num_layers": 3, "norm": {"eps": 1e-6},
      "encoder_layer": {"type": "TransformerEncoderLayer", "nhead": 2, "dim_feedforward": 12, "dropout": 0.0,
                        "batch_first": true}}],
    "loss": {"type": "MSELoss"}},
    "data": {"batch_size": 2, "train": {"source": "randn", "num_samples": 4}}, "optimizer": {"type": "Adam"}})";
  const Graph g = build_graph(parse_spec("test.json", text));
  ASSERT_EQ(g.params.size(), 3 * 12u + 2);  // per layer: attention 4, linear1 2, linear2 2, norm1 2, norm2 2
  EXPECT_EQ(g.value(g.params[0]).torch_name, "layers.0.layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(g.value(g.params[12]).torch_name, "layers.0.layers.1.self_attn.in_proj_weight");
  EXPECT_EQ(g.value(g.params[36]).torch_name, "layers.0.norm.weight");
  for (std::size_t j = 0; j < 12; ++j) {
    EXPECT_NE(g.value(g.params[j]).init, Init::copy);
    for (std::size_t k = 1; k < 3; ++k) {
      const Value& v = g.value(g.params[k * 12 + j]);
      EXPECT_EQ(v.init, Init::copy) << v.torch_name;
      EXPECT_EQ(v.init_copy_of, g.params[j]) << v.torch_name;
    }
  }
  EXPECT_EQ(g.value(g.params[36]).init, Init::ones);
}

// nn.Transformer: after the clones, _reset_parameters redraws every matrix with xavier_uniform_,
// so only the vectors stay copies.
TEST(BuildGraph, TransformerRedrawsItsMatricesWithXavier) {
  const std::string text = R"({"name": "t", "model": {"inputs": {"src": [5, 8], "tgt": [4, 8]},
    "target": {"shape": [4, 8]},
    "graph": [{"name": "t", "type": "Transformer", "inputs": ["src", "tgt"], "nhead": 2, "num_encoder_layers": 2,
               "num_decoder_layers": 2, "dim_feedforward": 12, "dropout": 0.0, "batch_first": true}],
    "output": "t", "loss": {"type": "MSELoss"}},
    "data": {"batch_size": 2, "train": {"source": "randn", "num_samples": 4}}, "optimizer": {"type": "Adam"}})";
  const Graph g = build_graph(parse_spec("test.json", text));
  ASSERT_EQ(g.params.size(), 2 * 12u + 2 + 2 * 18u + 2);
  EXPECT_EQ(g.value(g.params[0]).torch_name, "t.encoder.layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(g.value(g.params[24]).torch_name, "t.encoder.norm.weight");
  EXPECT_EQ(g.value(g.params[26]).torch_name, "t.decoder.layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(g.value(g.params[62]).torch_name, "t.decoder.norm.weight");
  // Every matrix's last step is _reset_parameters' xavier_uniform_, in parameters() order, after
  // every other step; the vectors keep what the layers' constructors gave them.
  std::vector<int> matrices;
  for (int p : g.params)
    if (g.value(p).shape.size() == 2) matrices.push_back(p);
  ASSERT_GE(g.init_steps.size(), matrices.size());
  const std::size_t first_xavier = g.init_steps.size() - matrices.size();
  for (std::size_t k = 0; k < matrices.size(); ++k) {
    const InitStep& s = g.init_steps[first_xavier + k];
    const Value& v = g.value(matrices[k]);
    EXPECT_EQ(s.param, matrices[k]) << v.torch_name;
    EXPECT_EQ(s.kind, Init::uniform) << v.torch_name;
    EXPECT_DOUBLE_EQ(s.value, std::sqrt(3.0) * std::sqrt(2.0 / static_cast<double>(v.shape[0] + v.shape[1])))
        << v.torch_name;
  }
  // Encoder layer 1's linear1.bias is a copy of layer 0's, made after layer 0's draw.
  const auto step_of = [&](int p) {
    return std::find_if(g.init_steps.begin(), g.init_steps.end(), [&](const InitStep& s) { return s.param == p; });
  };
  EXPECT_EQ(g.value(g.params[12 + 5]).torch_name, "t.encoder.layers.1.linear1.bias");
  const auto copy = step_of(g.params[12 + 5]);
  ASSERT_NE(copy, g.init_steps.end());
  EXPECT_EQ(copy->kind, Init::copy);
  EXPECT_EQ(copy->copy_of, g.params[5]);
  EXPECT_LT(step_of(g.params[5]), copy);
  // Layer 0's self-attention draws out_proj before in_proj_weight, and no clone draws.
  EXPECT_LT(step_of(g.params[2]), step_of(g.params[0]));
  EXPECT_EQ(g.value(g.params[2]).torch_name, "t.encoder.layers.0.self_attn.out_proj.weight");
  std::size_t uniform_draws = 0;
  for (const InitStep& s : g.init_steps) uniform_draws += s.kind == Init::uniform;
  // Layer 0 of each stack: its attentions' out_proj weight and bias and in_proj_weight, and
  // linear1's and linear2's weight and bias; then one xavier_uniform_ per matrix.
  EXPECT_EQ(uniform_draws, (3 + 4) + (2 * 3 + 4) + matrices.size());
}

TEST(BuildGraph, IdentityAndZeroDropoutAddNoNodes) {
  const Graph g = build_graph(spec_with_layers(
      R"({"type": "Identity"}, {"type": "Dropout", "p": 0.0}, {"type": "Linear", "out_features": 2})"));
  EXPECT_EQ(ops(g), (std::vector<std::string>{"linear", "mse_loss"}));
}

TEST(Differentiate, BackwardInReverseWithoutInputGradient) {
  Graph g = build_graph(spec_with_layers(kMlp));
  differentiate(g);
  verify_graph(g, "differentiate");
  EXPECT_EQ(ops(g), (std::vector<std::string>{"linear", "relu", "linear", "mse_loss", "mse_loss_backward",
                                              "linear_backward", "relu_backward", "linear_backward"}));
  // The first layer's input is data: its backward computes no input gradient.
  EXPECT_FALSE(attr_bool(g.nodes.back(), "need_dinp"));
  EXPECT_TRUE(attr_bool(g.nodes[5], "need_dinp"));
  // ReLU's backward reads its output (as torch's threshold_backward).
  EXPECT_EQ(g.nodes[6].inputs[1], g.nodes[1].outputs[0]);
}

TEST(FuseElementwise, ReluFoldsIntoLinearAndDropsThePreactivation) {
  Graph g = build_graph(spec_with_layers(kMlp));
  differentiate(g);
  EXPECT_EQ(fuse_elementwise(g), 1);
  verify_graph(g, "fuse_elementwise");
  EXPECT_EQ(ops(g), (std::vector<std::string>{"linear+relu", "linear", "mse_loss", "mse_loss_backward",
                                              "linear_backward", "relu_backward", "linear_backward"}));
  EXPECT_EQ(g.nodes[0].outputs.size(), 1u);  // relu_backward reads the output only
}

TEST(FuseElementwise, GeluKeepsThePreactivationForItsBackward) {
  Graph g = build_graph(spec_with_layers(
      R"({"type": "Linear", "out_features": 5}, {"type": "GELU"}, {"type": "Linear", "out_features": 2})"));
  differentiate(g);
  EXPECT_EQ(fuse_elementwise(g), 1);
  verify_graph(g, "fuse_elementwise");
  ASSERT_EQ(g.nodes[0].outputs.size(), 2u);
  const int preact = g.nodes[0].outputs[1];
  bool read_by_backward = false;
  for (const Node& n : g.nodes)
    if (n.op == "gelu_backward") read_by_backward = n.inputs[1] == preact;
  EXPECT_TRUE(read_by_backward);
}

// bf16-mixed: Lightning's autocast does not cache casts, so a parameter two Linears share is cast
// at each use, and each cast's bfloat16 gradient is added to the float32 gradient on its own (the
// second param_grad_add adds to the first's); each Linear and Tanh rounds its own result.
TEST(Autocast, SharedWeightIsCastAtEachUse) {
  const Spec spec = parse_spec("test.json", R"({"name": "t", "model": {"inputs": {"x": [6]}, "target": {"shape": [6]},
    "layers": [{"type": "Linear", "out_features": 6}, {"type": "Tanh"},
               {"type": "Linear", "out_features": 6, "bias": false, "tie_weight": "layers.0"}],
    "loss": {"type": "MSELoss"}}, "data": {"batch_size": 4, "train": {"source": "randn", "num_samples": 8}},
    "optimizer": {"type": "SGD", "lr": 0.1}, "trainer": {"accelerator": "cpu", "precision": "bf16-mixed"}})");
  Graph g = build_graph(spec);
  autocast_bf16(g, spec);
  verify_graph(g, "autocast_bf16");
  EXPECT_EQ(ops(g), (std::vector<std::string>{"to_bf16", "to_bf16", "to_bf16", "linear+to_bf16", "tanh+to_bf16",
                                              "to_bf16", "linear+to_bf16", "mse_loss"}));
  EXPECT_EQ(g.nodes[5].inputs[0], g.nodes[1].inputs[0]);  // a second cast of layers.0.weight
  EXPECT_EQ(g.nodes[6].inputs[1], g.nodes[5].outputs[0]);
  EXPECT_TRUE(g.value(g.nodes[4].outputs[0]).bf16);
  EXPECT_FALSE(g.value(g.loss).bf16);
  differentiate(g);
  verify_graph(g, "differentiate");
  std::vector<const Node*> writers;
  for (const Node& n : g.nodes)
    for (int o : n.outputs)
      if (g.value(o).kind == ValueKind::param_grad && g.value(g.value(o).grad_of).torch_name == "layers.0.weight")
        writers.push_back(&n);
  ASSERT_EQ(writers.size(), 2u);
  for (const Node* n : writers) {
    EXPECT_EQ(n->op, "param_grad_add");
    EXPECT_EQ(g.nodes[static_cast<size_t>(g.value(n->inputs[0]).producer)].op, "to_bf16");  // a rounded gradient
  }
  EXPECT_FALSE(writers[0]->attrs.count("accumulate_tied"));
  EXPECT_TRUE(writers[1]->attrs.count("accumulate_tied"));
}

// An Add whose result a ReLU reads and another node too: the Add cannot also write the value
// before the ReLU (only Linear's lowering keeps a pre-activation), so the ReLU stays a node.
TEST(FuseElementwise, NothingFusesIntoAnAddWhoseResultIsStillRead) {
  Graph g = build_graph(parse_spec("test.json", R"({"name": "t", "model": {"inputs": {"x": [6]}, "target": {"shape": [1]},
    "graph": [{"name": "fc1", "type": "Linear", "input": "x", "out_features": 6},
              {"name": "h", "type": "Add", "inputs": ["fc1", "x"]}, {"name": "r", "type": "ReLU", "input": "h"},
              {"name": "h2", "type": "Add", "inputs": ["r", "h"]},
              {"name": "head", "type": "Linear", "input": "h2", "out_features": 1}],
    "output": "head", "loss": {"type": "MSELoss"}},
    "data": {"batch_size": 4, "train": {"source": "randn", "num_samples": 8}}, "optimizer": {"type": "SGD", "lr": 0.1}})"));
  differentiate(g);
  fuse_elementwise(g);
  verify_graph(g, "fuse_elementwise");
  EXPECT_EQ(ops(g)[1], "add");
  EXPECT_EQ(ops(g)[2], "relu");
}

void expect_sound(const Graph& g, const MemoryPlan& plan) {
  for (const Buffer& b : plan.buffers) EXPECT_LE(b.offset + b.bytes, plan.arena_bytes) << g.value(b.value).name;
  for (size_t i = 0; i < plan.buffers.size(); ++i)
    for (size_t j = i + 1; j < plan.buffers.size(); ++j) {
      const Buffer& a = plan.buffers[i];
      const Buffer& b = plan.buffers[j];
      const bool a_all = a.first < 0, b_all = b.first < 0;
      const bool live_overlap = a_all || b_all || !(a.last < b.first || b.last < a.first);
      const bool space_overlap = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      EXPECT_FALSE(live_overlap && space_overlap && a.bytes && b.bytes)
          << g.value(a.value).name << " and " << g.value(b.value).name << " share space while both live";
    }
  const std::size_t region = plan.grads_offset - plan.params_offset;
  EXPECT_GE(region, static_cast<std::size_t>(plan.param_elements) * 4);
  for (const Buffer& b : plan.buffers) EXPECT_GE(b.offset, plan.slots_offset + region * plan.slot_names.size());
}

TEST(PlanMemory, DeepMlpReusesActivationSpace) {
  std::string layers;
  for (int i = 0; i < 6; ++i) layers += R"({"type": "Linear", "out_features": 16}, {"type": "Tanh"}, )";
  layers += R"({"type": "Linear", "out_features": 2})";
  const Spec spec = spec_with_layers(layers);
  Graph g = build_graph(spec);
  differentiate(g);
  fuse_elementwise(g);
  const MemoryPlan plan = plan_memory(g, spec.optimizer, assign_param_groups(g, spec));
  expect_sound(g, plan);
  EXPECT_LT(plan.activation_bytes, plan.activation_bytes_unshared);
  EXPECT_EQ(plan.slot_names, (std::vector<std::string>{"exp_avg", "exp_avg_sq"}));
}

TEST(ParamGroups, PatternsMatchAsPythonsFnmatch) {
  // Expected values from Python 3's fnmatch.fnmatchcase(name, pattern): the emitted Lightning script
  // groups parameters with it.
  const struct {
    const char* pattern;
    const char* name;
    bool match;
  } cases[] = {{"*.bias", "h.0.attn.in_proj_bias", false}, {"*bias", "h.0.attn.in_proj_bias", true},
               {"[^x]*.bias", "layers.0.bias", false},       {"[!x]*.bias", "layers.0.bias", true},
               {"layers.[0-2].*", "layers.1.weight", true},  {"layers.[0-2].*", "layers.3.weight", false},
               {"layers.[2-0].*", "layers.1.weight", false}, {"[a-]*", "-x", true},
               {"ln[", "ln[", true},                         {"ln[", "ln1", false},
               {"[]]x", "]x", true},                         {"[!]]x", "ax", true},
               {"a\\.b", "a\\.b", true},                 {"a\\.b", "a.b", false},
               {"h?_ln*", "h0_ln1.weight", true},            {"*", "", true}};
  for (const auto& c : cases) EXPECT_EQ(fnmatch_case(c.pattern, c.name), c.match) << c.pattern << " " << c.name;
}

TEST(ParamGroups, LaidOutTogetherInGroupOrder) {
  const Spec spec = spec_with_layers(kMlp, R"({"type": "AdamW", "param_groups": [{"params": "*.bias", "weight_decay": 0.0},
      {"params": ["*"], "name": "rest"}]})");
  Graph g = build_graph(spec);
  differentiate(g);
  const std::vector<ParamGroup> groups = assign_param_groups(g, spec);
  ASSERT_EQ(groups.size(), 2u);
  const MemoryPlan plan = plan_memory(g, spec.optimizer, groups);
  expect_sound(g, plan);
  ASSERT_EQ(plan.groups.size(), 2u);
  std::int64_t biases = 0;
  for (int p : groups[0].params) {
    EXPECT_NE(g.value(p).torch_name.find("bias"), std::string::npos);
    EXPECT_LT(plan.flat_index.at(p), plan.groups[0].count);  // the first group's range
    biases += numel(g.value(p).shape);
  }
  EXPECT_EQ(plan.groups[0].begin, 0);
  EXPECT_EQ(plan.groups[0].count, biases);
  EXPECT_EQ(plan.groups[1].begin, biases);
  EXPECT_EQ(plan.groups[1].begin + plan.groups[1].count, plan.param_elements);
  EXPECT_EQ(plan.groups[1].group.name, "rest");
  EXPECT_EQ(plan.groups[1].group.options.weight_decay, 1e-2);  // AdamW's default, the optimizer's
}

// model.freeze: nothing trainable lies behind layers.2, so the backward stops there, and the
// frozen parameters come last in the flat regions, outside every optimizer group.
TEST(Differentiate, FrozenPrefixGetsNoBackward) {
  const std::string text = R"({"name": "t", "model": {"inputs": {"x": [6]}, "target": {"shape": [2]},
    "layers": [)" + kMlp + R"(], "loss": {"type": "MSELoss"}, "freeze": "layers.0.*"},
    "data": {"batch_size": 4, "train": {"source": "randn", "num_samples": 8}}, "optimizer": {"type": "Adam"}})";
  const Spec spec = parse_spec("test.json", text);
  Graph g = build_graph(spec);
  differentiate(g);
  verify_graph(g, "differentiate");
  EXPECT_EQ(ops(g), (std::vector<std::string>{"linear", "relu", "linear", "mse_loss", "mse_loss_backward",
                                              "linear_backward"}));
  EXPECT_FALSE(attr_bool(g.nodes.back(), "need_dinp"));
  const std::vector<ParamGroup> groups = assign_param_groups(g, spec);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].params, (std::vector<int>{g.params[2], g.params[3]}));
  const MemoryPlan plan = plan_memory(g, spec.optimizer, groups);
  expect_sound(g, plan);
  EXPECT_EQ(plan.groups[0].begin, 0);
  EXPECT_EQ(plan.groups[0].count, 2 * 5 + 2);
  EXPECT_EQ(plan.frozen_elements, 5 * 6 + 5);
  EXPECT_EQ(plan.flat_index.at(g.params[0]), plan.groups[0].count);
}

TEST(PlanMemory, SlotsFollowTheOptimizer) {
  EXPECT_TRUE(optimizer_slots(spec_with_layers(kMlp, R"({"type": "SGD", "lr": 0.1})").optimizer).empty());
  EXPECT_EQ(optimizer_slots(spec_with_layers(kMlp, R"({"type": "SGD", "lr": 0.1, "momentum": 0.9})").optimizer),
            (std::vector<std::string>{"momentum_buffer"}));
  EXPECT_EQ(optimizer_slots(spec_with_layers(kMlp, R"({"type": "AdamW", "amsgrad": true})").optimizer).size(), 3u);
}

TEST(PlanMemory, ViewsShareTheirInputsStorage) {
  const std::string text = R"({"name": "t", "model": {"inputs": {"x": [2, 3]}, "target": {"shape": [1]},
    "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 1}], "loss": {"type": "MSELoss"}},
    "data": {"batch_size": 4, "train": {"source": "randn", "num_samples": 8}}, "optimizer": {"type": "SGD", "lr": 0.1}})";
  const Spec spec = parse_spec("test.json", text);
  Graph g = build_graph(spec);
  differentiate(g);
  const MemoryPlan plan = plan_memory(g, spec.optimizer, assign_param_groups(g, spec));
  expect_sound(g, plan);
  const int view = g.nodes.at(0).outputs.at(0);
  EXPECT_EQ(g.nodes[0].op, "view");
  EXPECT_EQ(plan.offset.at(view), plan.offset.at(g.inputs[0]));
}

}  // namespace
}  // namespace ltgen
