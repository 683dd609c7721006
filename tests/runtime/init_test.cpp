// Default parameter initialisation (init_parameters): each InitKind, and the
// zeroed row of an Embedding's padding_idx.
#include "ltrt/init.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ltrt/arena.hpp"

namespace {

// Two parameters: an Embedding weight (10, 4) drawn from N(0, 2) with row 3
// zeroed, and a LayerNorm weight (4,) of ones.
const ltrt::ParamDef kParams[] = {
    {{"layers.0.weight", ltrt::DType::f32, 2, {10, 4}, 0}, 0, ltrt::InitKind::normal, 2.0, 3},
    {{"layers.1.weight", ltrt::DType::f32, 1, {4}, 160}, 40, ltrt::InitKind::ones, 0.0},
};

TEST(Init, NormalWithZeroRowAndOnes) {
  ltrt::ModelDef m{};
  m.params = kParams;
  m.num_params = 2;
  ltrt::Arena arena(192);
  ltrt::Generator gen(7);
  ltrt::init_parameters(m, arena.data(), gen);
  const float* w = reinterpret_cast<const float*>(arena.data());
  double sum_sq = 0;
  int nonzero = 0;
  for (int i = 0; i < 40; ++i) {
    if (i / 4 == 3) {
      EXPECT_EQ(w[i], 0.0f) << "padding_idx row, element " << i;
      continue;
    }
    sum_sq += static_cast<double>(w[i]) * w[i];
    nonzero += w[i] != 0.0f;
  }
  EXPECT_EQ(nonzero, 36);
  const double std = std::sqrt(sum_sq / 36);
  EXPECT_GT(std, 1.2);  // N(0, 2): 36 draws put the sample std well inside (1.2, 3)
  EXPECT_LT(std, 3.0);
  for (int i = 40; i < 44; ++i) EXPECT_EQ(w[i], 1.0f);
  EXPECT_EQ(kParams[1].zero_row, -1) << "models without a zeroed row leave the field out";
}

}  // namespace

namespace {

// PReLU's slopes: fill_(init), drawing nothing (the next parameter's draws are those of a model
// without the constant one).
TEST(Init, ConstantDrawsNothing) {
  const ltrt::ParamDef with[] = {
      {{"layers.0.weight", ltrt::DType::f32, 1, {3}, 0}, 0, ltrt::InitKind::constant, 0.25},
      {{"layers.1.weight", ltrt::DType::f32, 1, {4}, 64}, 3, ltrt::InitKind::uniform, 1.0},
  };
  const ltrt::ParamDef without[] = {
      {{"layers.1.weight", ltrt::DType::f32, 1, {4}, 64}, 3, ltrt::InitKind::uniform, 1.0},
  };
  ltrt::ModelDef a{}, b{};
  a.params = with;
  a.num_params = 2;
  b.params = without;
  b.num_params = 1;
  ltrt::Arena x(128), y(128);
  ltrt::Generator gx(3), gy(3);
  ltrt::init_parameters(a, x.data(), gx);
  ltrt::init_parameters(b, y.data(), gy);
  const float* slopes = reinterpret_cast<const float*>(x.data());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(slopes[i], 0.25f);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(reinterpret_cast<const float*>(x.data() + 64)[i], reinterpret_cast<const float*>(y.data() + 64)[i]);
}

}  // namespace

namespace {

// A clone (TransformerEncoder's layers 1..: copy.deepcopy of layer 0) starts with the values of
// the parameter it copies and draws nothing: the parameter after it gets the draws it would get
// without the clone.
TEST(Init, CopyClonesAnEarlierParameterAndDrawsNothing) {
  const ltrt::ParamDef with[] = {
      {{"layers.0.weight", ltrt::DType::f32, 1, {5}, 0}, 0, ltrt::InitKind::uniform, 1.0},
      {{"layers.1.weight", ltrt::DType::f32, 1, {5}, 64}, 5, ltrt::InitKind::copy, 0.0, -1, 0},
      {{"head.weight", ltrt::DType::f32, 1, {4}, 128}, 10, ltrt::InitKind::uniform, 1.0},
  };
  const ltrt::ParamDef without[] = {
      {{"layers.0.weight", ltrt::DType::f32, 1, {5}, 0}, 0, ltrt::InitKind::uniform, 1.0},
      {{"head.weight", ltrt::DType::f32, 1, {4}, 128}, 5, ltrt::InitKind::uniform, 1.0},
  };
  ltrt::ModelDef a{}, b{};
  a.params = with;
  a.num_params = 3;
  b.params = without;
  b.num_params = 2;
  ltrt::Arena x(192), y(192);
  ltrt::Generator gx(5), gy(5);
  ltrt::init_parameters(a, x.data(), gx);
  ltrt::init_parameters(b, y.data(), gy);
  const float* first = reinterpret_cast<const float*>(x.data());
  const float* clone = reinterpret_cast<const float*>(x.data() + 64);
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(first[i], 0.0f);
    EXPECT_EQ(clone[i], first[i]) << "element " << i;
  }
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(reinterpret_cast<const float*>(x.data() + 128)[i], reinterpret_cast<const float*>(y.data() + 128)[i]);
}

}  // namespace
