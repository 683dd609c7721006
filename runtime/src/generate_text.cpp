#include "ltrt/generate_text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "ltrt/error.hpp"

namespace ltrt {

namespace {
std::string printable(unsigned char c) {
  if (c >= 32 && c < 127) return std::string("'") + static_cast<char>(c) + "'";
  return "byte " + std::to_string(c);
}

// Draws a token from logits / temperature, among the top_k likeliest (0: all). Ties with the k-th
// value are kept, as torch.topk's threshold in sample.py keeps them.
std::int64_t sample(const float* logits, std::int64_t count, double temperature, std::int64_t top_k, Generator& rng) {
  std::vector<double> p(static_cast<std::size_t>(count));
  for (std::int64_t v = 0; v < count; ++v) p[static_cast<std::size_t>(v)] = static_cast<double>(logits[v]) / temperature;
  double threshold = -std::numeric_limits<double>::infinity();
  if (top_k > 0 && top_k < count) {
    std::vector<double> sorted = p;
    std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<double>());
    threshold = sorted[static_cast<std::size_t>(top_k - 1)];
  }
  const double top = *std::max_element(p.begin(), p.end());
  double sum = 0;
  for (double& x : p) {
    x = x >= threshold ? std::exp(x - top) : 0.0;
    sum += x;
  }
  if (!std::isfinite(sum) || !(sum > 0))
    throw Error("the model's logits are not finite numbers (its weights have diverged): no token can be drawn");
  double u = rng.uniform() * sum;
  for (std::int64_t v = 0; v < count; ++v) {
    u -= p[static_cast<std::size_t>(v)];
    if (u < 0) return v;
  }
  for (std::int64_t v = count - 1; v >= 0; --v)  // rounding left u >= 0: the last token with weight
    if (p[static_cast<std::size_t>(v)] > 0) return v;
  return 0;
}
}  // namespace

std::string generate_text(const ModelDef& model, std::byte* arena, const std::string& vocabulary,
                          const DataSource& prompt, Generator& rng) {
  return generate_text(model, arena, vocabulary, prompt, rng, [&](int n) { model.predict_step(arena, n); });
}

std::string generate_text(const ModelDef& model, std::byte* arena, const std::string& vocabulary,
                          const DataSource& prompt, Generator& rng, const std::function<void(int)>& predict) {
  const TensorRef& in = model.input;
  const TensorRef& out = model.output;
  if (in.dtype != DType::i64 || in.rank != 2 || out.rank != 3 || out.shape[1] != in.shape[1])
    throw Error("internal: text generation needs int64 input (batch, T) and logits (batch, T, V)");
  const std::int64_t block = in.shape[1], classes = out.shape[2];
  // Only tokens with a byte can be drawn: a model may have more classes than the corpus has bytes.
  const std::int64_t tokens = std::min<std::int64_t>(classes, static_cast<std::int64_t>(vocabulary.size()));
  if (tokens == 0) throw Error("the text vocabulary is empty");

  std::int64_t id_of[256];
  std::fill(std::begin(id_of), std::end(id_of), -1);
  for (std::int64_t i = 0; i < tokens; ++i) id_of[static_cast<unsigned char>(vocabulary[static_cast<std::size_t>(i)])] = i;
  std::vector<std::int64_t> ids;
  for (std::size_t i = 0; i < prompt.prompt.size(); ++i) {
    const auto c = static_cast<unsigned char>(prompt.prompt[i]);
    if (id_of[c] < 0)
      throw Error("the prompt's " + printable(c) + " at offset " + std::to_string(i) +
                  " is not in the training corpus's vocabulary: change data.predict.prompt");
  }
  for (unsigned char c : prompt.prompt) ids.push_back(id_of[c]);
  if (ids.empty()) throw Error("the prompt is empty: data.predict.prompt needs at least one character");

  auto* x = reinterpret_cast<std::int64_t*>(arena + in.offset);
  const auto* logits = reinterpret_cast<const float*>(arena + out.offset);
  std::string text = prompt.prompt;
  for (std::int64_t step = 0; step < prompt.max_new_tokens; ++step) {
    const std::int64_t used = std::min<std::int64_t>(block, static_cast<std::int64_t>(ids.size()));
    std::memcpy(x, ids.data() + (ids.size() - static_cast<std::size_t>(used)), static_cast<std::size_t>(used) * sizeof(std::int64_t));
    std::fill(x + used, x + block, std::int64_t{0});  // right of the last position: never read by it
    predict(1);
    const std::int64_t next = sample(logits + (used - 1) * classes, tokens, prompt.temperature, prompt.top_k, rng);
    ids.push_back(next);
    text.push_back(vocabulary[static_cast<std::size_t>(next)]);
  }
  return text;
}

}  // namespace ltrt
