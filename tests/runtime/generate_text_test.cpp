// generate_text against a hand-made causal "model" whose next-token logits are known: token t+1
// follows token t with logit 5, every other token gets 0 (or NaN, to test the error).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ltrt/error.hpp"
#include "ltrt/generate_text.hpp"

namespace {

constexpr int kBatch = 2, kT = 4, kV = 5;
constexpr std::size_t kInput = 0, kOutput = 256, kArenaBytes = 1024;
bool g_nan = false;

// Position p's logits favour (x[p] + 1) mod V: a causal model, each position reads only itself.
void predict_step(std::byte* arena, int n) {
  const auto* x = reinterpret_cast<const std::int64_t*>(arena + kInput);
  auto* out = reinterpret_cast<float*>(arena + kOutput);
  for (int i = 0; i < n * kT; ++i)
    for (int v = 0; v < kV; ++v)
      out[i * kV + v] = g_nan ? std::numeric_limits<float>::quiet_NaN() : (v == (x[i] + 1) % kV ? 5.0f : 0.0f);
}

ltrt::ModelDef model() {
  ltrt::ModelDef m{};
  m.batch_size = kBatch;
  m.input = {"x", ltrt::DType::i64, 2, {kBatch, kT}, kInput};
  m.output = {"logits", ltrt::DType::f32, 3, {kBatch, kT, kV}, kOutput};
  m.predict_step = predict_step;
  return m;
}

ltrt::DataSource prompt(const std::string& text, std::int64_t max_new, std::int64_t top_k) {
  ltrt::DataSource s;
  s.kind = ltrt::DataSourceKind::prompt;
  s.prompt = text;
  s.max_new_tokens = max_new;
  s.temperature = 1.0;
  s.top_k = top_k;
  return s;
}

TEST(GenerateText, TopKOneFollowsTheLikeliestTokenPastTheContextLength) {
  g_nan = false;
  std::vector<std::byte> arena(kArenaBytes);
  ltrt::Generator rng(7);
  // vocabulary "abcde": a -> b -> c -> d -> e -> a; 10 new tokens, more than the context of 4
  const std::string text = ltrt::generate_text(model(), arena.data(), "abcde", prompt("ca", 10, 1), rng);
  EXPECT_EQ(text, "cabcdeabcdea");
}

TEST(GenerateText, SamplingDrawsMostlyTheLikeliestToken) {
  g_nan = false;
  std::vector<std::byte> arena(kArenaBytes);
  ltrt::Generator rng(7);
  // p(likeliest) = e^5 / (e^5 + 4) = 0.974: of 400 draws, all but about 10 follow the chain
  const std::string text = ltrt::generate_text(model(), arena.data(), "abcde", prompt("a", 400, 0), rng);
  int follows = 0;
  for (std::size_t i = 1; i < text.size(); ++i) follows += text[i] == "abcde"[(text[i - 1] - 'a' + 1) % kV];
  EXPECT_GT(follows, 370);
  EXPECT_LT(follows, 400);  // not the argmax: some draws do not follow
}

TEST(GenerateText, RefusesAPromptByteOutsideTheVocabularyAndNonFiniteLogits) {
  std::vector<std::byte> arena(kArenaBytes);
  ltrt::Generator rng(7);
  g_nan = false;
  try {
    ltrt::generate_text(model(), arena.data(), "abcde", prompt("abz", 3, 0), rng);
    FAIL() << "no error";
  } catch (const ltrt::Error& e) {
    EXPECT_STREQ(e.what(),
                 "the prompt's 'z' at offset 2 is not in the training corpus's vocabulary: change data.predict.prompt");
  }
  g_nan = true;
  try {
    ltrt::generate_text(model(), arena.data(), "abcde", prompt("ab", 3, 0), rng);
    FAIL() << "no error";
  } catch (const ltrt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
  }
  g_nan = false;
}

}  // namespace
