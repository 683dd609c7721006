// Default parameter initialisation (init_parameters): the init steps in their order on torch's
// generator: each InitKind, an Embedding's zeroed padding_idx row, a clone's copy, and a tied
// Linear's dropped draws. (torch_generator_oracle checks the draws themselves against torch.)
#include "ltrt/init.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "ltrt/arena.hpp"

namespace {

const float* floats(const ltrt::Arena& a, std::size_t offset) {
  return reinterpret_cast<const float*>(a.data() + offset);
}

// A model of these parameters and init steps (the arrays outlive it).
template <std::size_t P, std::size_t S>
ltrt::ModelDef model_of(const ltrt::ParamDef (&params)[P], const ltrt::InitStep (&steps)[S]) {
  ltrt::ModelDef m{};
  m.params = params;
  m.num_params = static_cast<int>(P);
  m.init_steps = steps;
  m.num_init_steps = static_cast<int>(S);
  return m;
}

// The values torch would give: the same draws, one tensor after the other.
std::vector<float> draws(std::uint64_t seed, const std::vector<std::pair<int, double>>& uniforms) {
  ltrt::TorchGenerator gen(seed);
  std::vector<float> out;
  for (const auto& [n, bound] : uniforms) {
    std::vector<float> t(static_cast<std::size_t>(n));
    gen.uniform(t.data(), n, -bound, bound);
    out.insert(out.end(), t.begin(), t.end());
  }
  return out;
}

// An Embedding weight (10, 4) from N(0, 2) with row 3 zeroed, then a LayerNorm weight of ones: the
// normal_ draws are the generator's, row 3 is zero, the ones draw nothing.
TEST(Init, NormalWithZeroRowAndOnes) {
  const ltrt::ParamDef params[] = {
      {{"layers.0.weight", ltrt::DType::f32, 2, {10, 4}, 0}, 0},
      {{"layers.1.weight", ltrt::DType::f32, 1, {4}, 160}, 40},
  };
  const ltrt::InitStep steps[] = {{0, ltrt::InitKind::normal, 2.0, 3}, {1, ltrt::InitKind::ones, 0.0}};
  const ltrt::ModelDef m = model_of(params, steps);
  ltrt::Arena arena(192);
  ltrt::TorchGenerator gen(7), ref(7);
  ltrt::init_parameters(m, arena.data(), gen);
  std::vector<float> want(40);
  ref.normal(want.data(), 40, 0.0, 2.0);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(floats(arena, 0)[i], i / 4 == 3 ? 0.0f : want[i]) << "element " << i;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(floats(arena, 160)[i], 1.0f);
  EXPECT_EQ(gen.random64(), ref.random64()) << "the ones drew something";
}

// Steps run in their own order, not the parameters': MultiheadAttention's out_proj draws first,
// its bias is drawn and then zeroed; a constant (PReLU's fill_) draws nothing.
TEST(Init, StepsInTorchsOrder) {
  const ltrt::ParamDef params[] = {
      {{"attn.in_proj_weight", ltrt::DType::f32, 1, {6}, 0}, 0},
      {{"attn.out_proj.weight", ltrt::DType::f32, 1, {4}, 64}, 6},
      {{"attn.out_proj.bias", ltrt::DType::f32, 1, {2}, 128}, 10},
      {{"prelu.weight", ltrt::DType::f32, 1, {3}, 192}, 12},
  };
  const ltrt::InitStep steps[] = {{1, ltrt::InitKind::uniform, 0.5}, {2, ltrt::InitKind::uniform, 0.25},
                                  {3, ltrt::InitKind::constant, 0.25}, {0, ltrt::InitKind::uniform, 1.0},
                                  {2, ltrt::InitKind::zeros, 0.0}};
  const ltrt::ModelDef m = model_of(params, steps);
  ltrt::Arena arena(256);
  ltrt::TorchGenerator gen(11);
  ltrt::init_parameters(m, arena.data(), gen);
  const std::vector<float> want = draws(11, {{4, 0.5}, {2, 0.25}, {6, 1.0}});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(floats(arena, 64)[i], want[i]) << "out_proj.weight " << i;
  for (int i = 0; i < 6; ++i) EXPECT_EQ(floats(arena, 0)[i], want[6 + i]) << "in_proj_weight " << i;
  for (int i = 0; i < 2; ++i) EXPECT_EQ(floats(arena, 128)[i], 0.0f);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(floats(arena, 192)[i], 0.25f);
}

// A clone (TransformerEncoder's layers 1..: copy.deepcopy of layer 0) starts with the values of the
// parameter it copies and draws nothing; a tied Linear's own weight is drawn and dropped.
TEST(Init, CopyDrawsNothingAndDiscardDraws) {
  const ltrt::ParamDef params[] = {
      {{"layers.0.weight", ltrt::DType::f32, 1, {5}, 0}, 0},
      {{"layers.1.weight", ltrt::DType::f32, 1, {5}, 64}, 5},
      {{"head.bias", ltrt::DType::f32, 1, {4}, 128}, 10},
  };
  const ltrt::InitStep steps[] = {{0, ltrt::InitKind::uniform, 1.0},
                                  {1, ltrt::InitKind::copy, 0.0, -1, 0},
                                  {-1, ltrt::InitKind::discard, 0.0, -1, -1, 7},
                                  {2, ltrt::InitKind::uniform, 0.5}};
  const ltrt::ModelDef m = model_of(params, steps);
  ltrt::Arena arena(192);
  ltrt::TorchGenerator gen(5);
  ltrt::init_parameters(m, arena.data(), gen);
  const std::vector<float> want = draws(5, {{5, 1.0}, {7, 1.0}, {4, 0.5}});
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(floats(arena, 0)[i], want[i]);
    EXPECT_EQ(floats(arena, 64)[i], want[i]) << "the clone, element " << i;
  }
  for (int i = 0; i < 4; ++i) EXPECT_EQ(floats(arena, 128)[i], want[12 + i]) << "after 7 dropped draws, " << i;
}

}  // namespace
