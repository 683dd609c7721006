// The CUDA emitter writes each distinct kernel once: layers whose kernels come out the same but
// for their name launch the first one's (or call the first one's host function when that is the
// same too), and kernels that differ in anything else stay apart.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "autocast.hpp"
#include "autodiff.hpp"
#include "build_graph.hpp"
#include "emit_cuda.hpp"
#include "fuse_elementwise.hpp"
#include "plan_memory.hpp"
#include "spec.hpp"

namespace ltgen {
namespace {

// model_cuda.cu for a spec of `model` (the spec's "model" object, without braces), built for
// `architectures` (--cuda-arch).
// `precision`: trainer.precision ("bf16-mixed", "16-mixed": autocast's casts and roundings).
std::string model_cu(const std::string& model, const std::string& architectures = "80-real;90-real;90-virtual",
                     const std::string& precision = "32-true") {
  const Spec spec = parse_spec("test.json", R"({"name": "t", "model": {)" + model + R"(},
    "data": {"batch_size": 2, "train": {"source": "randn", "num_samples": 4}}, "optimizer": {"type": "SGD", "lr": 0.1},
    "trainer": {"accelerator": "gpu", "precision": ")" + precision + R"("}})");
  Graph g = build_graph(spec);
  if (spec.mixed_precision()) autocast_bf16(g, spec);
  differentiate(g);
  fuse_elementwise(g);
  const MemoryPlan plan = plan_memory(g, spec.optimizer, assign_param_groups(g, spec));
  return emit_model_cu(spec, g, plan, "ltgen test.json", cuda_target(architectures));
}

// Layers between a Linear(6 -> 8) and a Linear to 2 outputs, regressed with MSELoss.
std::string layers_model(const std::string& layers) {
  return R"("inputs": {"x": [6]}, "target": {"shape": [2]}, "layers": [{"type": "Linear", "out_features": 8}, )" +
         layers + R"(, {"type": "Linear", "out_features": 2}], "loss": {"type": "MSELoss"})";
}

// The names of the kernels the file defines, each as often as it is defined.
std::multiset<std::string> kernels_defined(const std::string& cu) {
  std::multiset<std::string> names;
  const std::regex def(R"(__global__ void (?:__launch_bounds__\([^)]*\)\s*)?(\w+)\()");
  for (std::sregex_iterator it(cu.begin(), cu.end(), def), end; it != end; ++it) names.insert((*it)[1]);
  return names;
}

// The text of host function `fn`, from its signature to its closing brace.
std::string function(const std::string& cu, const std::string& fn) {
  const size_t start = cu.find("static void " + fn + "(");
  EXPECT_NE(start, std::string::npos) << fn;
  if (start == std::string::npos) return "";
  return cu.substr(start, cu.find("}\n", start) + 1 - start);
}

// The kernels that host function `fn` launches.
std::set<std::string> kernels_launched_by(const std::string& cu, const std::string& fn) {
  const std::string body = function(cu, fn);
  std::set<std::string> names;
  const std::regex launch(R"((\w+)<<<)");
  for (std::sregex_iterator it(body.begin(), body.end(), launch), end; it != end; ++it) names.insert((*it)[1]);
  return names;
}

TEST(EmitCuda, LayersOfTheSameShapesShareOneKernel) {
  // layers.1 and layers.3: LayerNorm over 8 features of the same rows; layers.0 and layers.2:
  // Linear to 8 features from 6 and from 8.
  const std::string cu = model_cu(layers_model(
      R"({"type": "LayerNorm"}, {"type": "Linear", "out_features": 8}, {"type": "LayerNorm"})"));
  const std::multiset<std::string> kernels = kernels_defined(cu);
  EXPECT_EQ(kernels.count("layers_1_forward_kernel"), 1u);
  EXPECT_EQ(kernels.count("layers_3_forward_kernel"), 0u);
  EXPECT_EQ(kernels_launched_by(cu, "layers_1_forward"), std::set<std::string>{"layers_1_forward_kernel"});
  // layers.3's host function would be layers.1's too: it stays, with its comments, and calls it.
  EXPECT_NE(cu.find("// Also called by layers_3_forward:"), std::string::npos);
  EXPECT_NE(cu.find("// Calls layers_1_forward:"), std::string::npos);
  EXPECT_NE(function(cu, "layers_3_forward").find("{ layers_1_forward(out, mean, rstd, inp, weight, bias, n, ctx); }"),
            std::string::npos);
  // The backward runs in reverse: layers.3's comes first and keeps its kernels; layers.1's calls it.
  EXPECT_EQ(kernels.count("layers_3_backward_dinp_kernel"), 1u);
  EXPECT_EQ(kernels.count("layers_1_backward_dinp_kernel"), 0u);
  EXPECT_NE(function(cu, "layers_1_backward").find("{ layers_3_backward("), std::string::npos);
  // The Linears' bias gradient kernels depend on the 8 outputs only: shared, while each host
  // function keeps its own GEMMs (6 or 8 inputs) and launches layers.2's kernels.
  EXPECT_EQ(kernels.count("layers_2_backward_dbias_kernel"), 1u);
  EXPECT_EQ(kernels.count("layers_0_backward_dbias_kernel"), 0u);
  EXPECT_EQ(kernels_launched_by(cu, "layers_0_backward"),
            (std::set<std::string>{"layers_2_backward_dbias_kernel", "layers_2_backward_dbias_splits_kernel"}));
  EXPECT_NE(cu.find("// Its kernels also serve layers_0_backward:"), std::string::npos);
  EXPECT_NE(cu.find("// Its kernels are layers_2_backward's:"), std::string::npos);
  // No kernel is defined twice, and every launched kernel is defined.
  for (const std::string& k : kernels) EXPECT_EQ(kernels.count(k), 1u) << k;
  for (const std::string& fn : {"layers_1_forward", "layers_3_backward", "layers_2_backward", "layers_0_backward"})
    for (const std::string& k : kernels_launched_by(cu, fn)) EXPECT_EQ(kernels.count(k), 1u) << fn << " launches " << k;
}

TEST(EmitCuda, LayersOfOtherShapesKeepTheirOwnKernels) {
  // LayerNorm over 8 features, then over 5.
  const std::string cu = model_cu(layers_model(
      R"({"type": "LayerNorm"}, {"type": "Linear", "out_features": 5}, {"type": "LayerNorm"})"));
  const std::multiset<std::string> kernels = kernels_defined(cu);
  EXPECT_EQ(kernels.count("layers_1_forward_kernel"), 1u);
  EXPECT_EQ(kernels.count("layers_3_forward_kernel"), 1u);
  EXPECT_EQ(kernels_launched_by(cu, "layers_3_forward"), std::set<std::string>{"layers_3_forward_kernel"});
  EXPECT_EQ(cu.find("// Calls layers_1_forward"), std::string::npos);
}

TEST(EmitCuda, KernelsThatDifferInAConstantOnlyStayApart) {
  // The same shapes, but another eps: the kernels differ in one constant, so they are not merged.
  const std::string cu = model_cu(layers_model(
      R"({"type": "LayerNorm"}, {"type": "Linear", "out_features": 8}, {"type": "LayerNorm", "eps": 0.001})"));
  const std::multiset<std::string> kernels = kernels_defined(cu);
  EXPECT_EQ(kernels.count("layers_1_forward_kernel"), 1u);
  EXPECT_EQ(kernels.count("layers_3_forward_kernel"), 1u);
  EXPECT_EQ(kernels_launched_by(cu, "layers_3_forward"), std::set<std::string>{"layers_3_forward_kernel"});
  // The backward's kernels read eps only through the saved rstd: they are the same, and shared.
  EXPECT_EQ(kernels.count("layers_3_backward_dinp_kernel"), 1u);
  EXPECT_EQ(kernels.count("layers_1_backward_dinp_kernel"), 0u);
}

TEST(EmitCuda, SharedKernelsGetTheirSharedMemoryOnce) {
  // Two attention layers of the same shapes: head_dim 30 (not a multiple of 8: the CUDA-core
  // kernels, not the tensor-core forward) over 64 positions takes the fused kernels past the
  // default 48 KB of dynamic shared memory, which prepare_kernels() raises.
  const std::string cu = model_cu(R"("inputs": {"x": [64, 120]}, "target": {"shape": [64, 120]},
    "graph": [{"name": "a1", "type": "MultiheadAttention", "input": "x", "num_heads": 4, "batch_first": true},
              {"name": "a2", "type": "MultiheadAttention", "input": "a1", "num_heads": 4, "batch_first": true}],
    "output": "a2", "loss": {"type": "MSELoss"})");
  const std::multiset<std::string> kernels = kernels_defined(cu);
  EXPECT_EQ(kernels.count("a1_forward_kernel"), 1u);
  EXPECT_EQ(kernels.count("a2_forward_kernel"), 0u);
  EXPECT_NE(function(cu, "a2_forward").find("{ a1_forward("), std::string::npos);
  const size_t prepare = cu.find("void prepare_kernels() {");
  ASSERT_NE(prepare, std::string::npos);
  const std::string body = cu.substr(prepare, cu.find("\n}\n", prepare) - prepare);
  const std::regex attribute(R"(allow_shared_memory\((\w+),)");
  std::multiset<std::string> prepared;
  for (std::sregex_iterator it(body.begin(), body.end(), attribute), end; it != end; ++it) prepared.insert((*it)[1]);
  EXPECT_EQ(prepared.count("a1_forward_kernel"), 1u);
  EXPECT_FALSE(prepared.empty());
  for (const std::string& k : prepared) {
    EXPECT_EQ(prepared.count(k), 1u) << k << " is prepared more than once";
    EXPECT_EQ(kernels.count(k), 1u) << k << " is prepared but not defined";
  }
}

}  // namespace
}  // namespace ltgen

namespace ltgen {
namespace {

// The largest shared memory prepare_kernels() asks for (0: none over the default 48 KB).
long largest_shared_ask(const std::string& cu) {
  const std::regex ask(R"(allow_shared_memory\(\w+, (\d+),)");
  long most = 0;
  for (std::sregex_iterator it(cu.begin(), cu.end(), ask), end; it != end; ++it) most = std::max(most, std::stol((*it)[1]));
  return most;
}

TEST(EmitCuda, TuringGetsAttentionTilesWithinItsSharedMemory) {
  // head_dim 30 over 64 positions (not a multiple of 8: the CUDA-core kernels on every target):
  // the dK/dV kernel's tiles for sm_80 and newer take 78 KB, more than the 64 KB an sm_75 block
  // may have.
  const std::string model = R"("inputs": {"x": [64, 120]}, "target": {"shape": [64, 120]},
    "graph": [{"name": "a", "type": "MultiheadAttention", "input": "x", "num_heads": 4, "batch_first": true}],
    "output": "a", "loss": {"type": "MSELoss"})";
  const std::string ampere = model_cu(model), turing = model_cu(model, "75-real;86-real");
  EXPECT_GT(largest_shared_ask(ampere), 64 * 1024);
  EXPECT_LE(largest_shared_ask(ampere), 99 * 1024);
  EXPECT_GT(largest_shared_ask(turing), 48 * 1024);
  EXPECT_LE(largest_shared_ask(turing), 64 * 1024);
  EXPECT_NE(turing.find("// built for: 75-real;86-real (--cuda-arch), so a block's shared memory is at most 65536 bytes"),
            std::string::npos);
}

TEST(EmitCuda, AttentionForwardUsesTensorCoresWhereEveryTargetHasThem) {
  // One attention layer of head_dim `dim` over 64 positions: its forward kernel's text.
  const auto forward = [](int dim, const std::string& architectures) {
    const std::string cu = model_cu(R"("inputs": {"x": [64, )" + std::to_string(2 * dim) +
                                        R"(]}, "target": {"shape": [64, )" + std::to_string(2 * dim) + R"(]},
      "graph": [{"name": "a", "type": "MultiheadAttention", "input": "x", "num_heads": 2, "batch_first": true}],
      "output": "a", "loss": {"type": "MSELoss"})",
                                    architectures);
    const size_t at = cu.find("a_forward_kernel(");
    EXPECT_NE(at, std::string::npos) << "head_dim " << dim << " for " << architectures;
    return at == std::string::npos ? std::string() : cu.substr(at, cu.find("\n}\n", at) - at);
  };
  const std::string tensor_cores = "ltrt::cuda::mma_3xtf32_16x8x8(";
  EXPECT_NE(forward(64, "80-real;90-real;90-virtual").find(tensor_cores), std::string::npos);
  EXPECT_NE(forward(8, "90a-real").find(tensor_cores), std::string::npos);
  EXPECT_EQ(forward(64, "75-real;86-real").find(tensor_cores), std::string::npos);  // Turing has none
  EXPECT_EQ(forward(64, "native").find(tensor_cores), std::string::npos);           // not known here
  EXPECT_EQ(forward(72, "80-real").find(tensor_cores), std::string::npos);  // past 64: registers
  const std::string padded = forward(12, "80-real");  // 4 more than a multiple of 8: zeros to the mma's steps
  EXPECT_NE(padded.find(tensor_cores), std::string::npos);
  EXPECT_NE(padded.find("*reinterpret_cast<float4*>(&k_tile[r][kD]) = make_float4(0.0f, 0.0f, 0.0f, 0.0f);"),
            std::string::npos);
  EXPECT_EQ(forward(6, "80-real").find(tensor_cores), std::string::npos);  // not a multiple of 4
  EXPECT_TRUE(cuda_target("80-real;90-real;90-virtual").tensor_cores);
  EXPECT_FALSE(cuda_target("86-real;75-virtual").tensor_cores);
}

// Under mixed precision a Linear's GEMMs take 16-bit operands on 16-bit tensor cores where every
// target has them: a cast that only such GEMMs read writes 16-bit bits, the other operands are
// copied, and the program allots the copies' memory. Elsewhere TF32 tensor cores take them as
// they are; float32 GEMMs stay sgemm.
TEST(EmitCuda, MixedPrecisionGemmsTakeSixteenBitTensorCoresWhereEveryTargetHasThem) {
  const std::string model = layers_model(R"({"type": "ReLU"})");
  const std::string bf16 = model_cu(model, "80-real;90-real;90-virtual", "bf16-mixed");
  // layers.0 reads the casts of x and of its weight, which only its GEMMs read: their bits.
  const std::string forward = function(bf16, "layers_0_forward");
  EXPECT_NE(forward.find("const std::uint16_t* inp, const std::uint16_t* weight, const float* bias"), std::string::npos)
      << forward;
  EXPECT_NE(forward.find("ltrt::cuda::gemm_16bit(ctx, ltrt::cuda::Format16::bf16, false, true, "), std::string::npos);
  EXPECT_NE(function(bf16, "layers_0_to_bf16").find("(std::uint16_t* out, const float* inp,"), std::string::npos);
  EXPECT_NE(bf16.find("out[i] = ltrt::cuda::bf16_bits(ltrt::round_bf16(inp[i]));"), std::string::npos);
  // layers.2 reads ReLU's output, which is not a cast: copied, in both GEMMs of its backward
  // (dout's copy once); its dout (the rounded gradient) is a cast, summed for dbias from its bits.
  const std::string backward = function(bf16, "layers_2_backward");
  EXPECT_NE(backward.find("const std::uint16_t* dout, const float* inp, const std::uint16_t* weight"), std::string::npos)
      << backward;
  EXPECT_NE(backward.find("ltrt::cuda::gemm_16bit(ctx, ltrt::cuda::Format16::bf16, true, false, kOut, kIn, rows, dout, inp"),
            std::string::npos)
      << backward;
  EXPECT_NE(backward.find("// inp copied to bfloat16 first"), std::string::npos) << backward;
  EXPECT_EQ(backward.find("a_copied"), std::string::npos) << "dout is not copied";
  EXPECT_NE(bf16.find("sum_dbias += ltrt::cuda::bf16_value(dout[at]);"), std::string::npos);
  // The most copied: ReLU's output [2, 8] for layers.2, 32 bytes rounded up to 256.
  EXPECT_NE(bf16.find("s.operands16_bytes = 256;"), std::string::npos);
  // GELU's backward reads its input, not its output: only layers.2's GEMMs read that, as bits.
  const std::string gelu = model_cu(layers_model(R"({"type": "GELU"})"), "80-real", "bf16-mixed");
  EXPECT_NE(function(gelu, "layers_1_forward").find("(std::uint16_t* out, const float* inp,"), std::string::npos);
  EXPECT_NE(function(gelu, "layers_2_backward").find("// dout, inp and weight hold bfloat16 bits already"),
            std::string::npos);
  EXPECT_EQ(gelu.find("s.operands16_bytes ="), std::string::npos);
  const std::string fp16 = model_cu(model, "80-real", "16-mixed");
  EXPECT_NE(fp16.find("ltrt::cuda::gemm_16bit(ctx, ltrt::cuda::Format16::fp16, "), std::string::npos);
  EXPECT_NE(fp16.find("ltrt::cuda::fp16_bits(ltrt::round_fp16(inp[i]))"), std::string::npos);
  // Turing has float16 tensor cores, not bfloat16 ones.
  EXPECT_NE(model_cu(model, "75-real", "16-mixed").find("ltrt::cuda::gemm_16bit(ctx, ltrt::cuda::Format16::fp16, "),
            std::string::npos);
  const std::string turing = model_cu(model, "75-real;86-real", "bf16-mixed");
  EXPECT_EQ(turing.find("gemm_16bit"), std::string::npos);
  EXPECT_EQ(turing.find("std::uint16_t"), std::string::npos);
  EXPECT_NE(turing.find("ltrt::cuda::sgemm(exact_tf32, "), std::string::npos);
  EXPECT_EQ(turing.find("s.operands16_bytes ="), std::string::npos);
  const std::string float32 = model_cu(model);
  EXPECT_EQ(float32.find("gemm_16bit"), std::string::npos);
  EXPECT_NE(float32.find("ltrt::cuda::sgemm(ctx, "), std::string::npos);
}

// The loss's gradient of 16-bit logits is rounded in the loss's backward loop (a fused to_bf16),
// and written as bits there when only the head's 16-bit GEMMs read it.
TEST(EmitCuda, MixedPrecisionLossGradientIsRoundedInItsLoopAndWrittenAsBits) {
  const std::string model = R"("inputs": {"x": [6]}, "target": {"dtype": "int64", "num_classes": 5},
    "layers": [{"type": "Linear", "out_features": 5}], "loss": {"type": "CrossEntropyLoss"})";
  const std::string bf16 = model_cu(model, "80-real", "bf16-mixed");
  const std::string backward = function(bf16, "loss_backward");
  EXPECT_NE(backward.find("(std::uint16_t* dinp, const float* dloss,"), std::string::npos) << backward;
  EXPECT_NE(bf16.find("drow[c] = ltrt::cuda::bf16_bits(ltrt::round_bf16(d));"), std::string::npos);
  EXPECT_EQ(bf16.find("_grad_to_bf16(d_layers_0_out"), std::string::npos) << "no rounding pass of its own";
  EXPECT_NE(function(bf16, "layers_0_backward").find("// dout and inp hold bfloat16 bits already"), std::string::npos);
  // Built for Turing, bfloat16 GEMMs are not there: float32 storage, rounded in the same loop.
  const std::string turing = model_cu(model, "75-real", "bf16-mixed");
  EXPECT_NE(turing.find("drow[c] = ltrt::round_bf16(d);"), std::string::npos);
}

TEST(EmitCuda, TargetBudgets) {
  EXPECT_EQ(cuda_target("80-real;90-real;90-virtual").shared_budget, 99 * 1024);
  EXPECT_EQ(cuda_target("90a-real;100f").shared_budget, 99 * 1024);
  EXPECT_EQ(cuda_target("75").shared_budget, 64 * 1024);
  EXPECT_EQ(cuda_target("86-real;75-virtual").shared_budget, 64 * 1024);
  EXPECT_EQ(cuda_target("native").shared_budget, 64 * 1024);  // the GPU is not known at generation
  EXPECT_EQ(cuda_target("all-major").shared_budget, 64 * 1024);
}

}  // namespace
}  // namespace ltgen
