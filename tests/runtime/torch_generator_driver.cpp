// ltrt's side of torch_generator_oracle.py: reads one command a line from stdin and writes each
// drawn float32's bits as 8 hex digits, one tensor a line:
//   seed S             torch.manual_seed(S)
//   uniform N BOUND    torch.empty(N).uniform_(-BOUND, BOUND)
//   normal N STD       torch.empty(N).normal_(0, STD)
//   randint N HIGH     torch.randint(0, HIGH, (N,)), each value as 16 hex digits
//   dropout N P        F.dropout(torch.ones(N), P, training=True): 1 for each kept element, else 0
//                      (bernoulli_(1 - P); P = 1 draws nothing), drawn one at a time
//   dropout_run N P    the same drawn at once (TorchGenerator::bernoulli(p, n, keep))
//   roundtrip          the generator replaced by one restored from its state() (no line)
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ltrt/torch_generator.hpp"

int main() {
  std::unique_ptr<ltrt::TorchGenerator> gen;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    if (command == "seed") {
      std::uint64_t seed = 0;
      in >> seed;
      gen = std::make_unique<ltrt::TorchGenerator>(seed);
      continue;
    }
    if (command == "roundtrip" && gen) {
      auto restored = std::make_unique<ltrt::TorchGenerator>(0);
      restored->set_state(gen->state());
      gen = std::move(restored);
      continue;
    }
    std::int64_t n = 0;
    if (command == "dropout" || command == "dropout_run") {
      double p = 0;
      in >> n >> p;
      if (!in || !gen) {
        std::fprintf(stderr, "bad command '%s'\n", line.c_str());
        return 2;
      }
      std::vector<std::uint8_t> keep(static_cast<std::size_t>(n), 0);
      if (p < 1.0 && command == "dropout_run") gen->bernoulli(1.0 - p, n, keep.data());
      if (p < 1.0 && command == "dropout")
        for (std::int64_t i = 0; i < n; ++i) keep[i] = gen->bernoulli(1.0 - p) ? 1 : 0;
      for (const std::uint8_t k : keep) std::printf("%d", k);
      std::printf("\n");
      continue;
    }
    if (command == "randint") {
      std::int64_t high = 0;
      in >> n >> high;
      if (!in || !gen) {
        std::fprintf(stderr, "bad command '%s'\n", line.c_str());
        return 2;
      }
      std::vector<std::int64_t> values(static_cast<std::size_t>(n));
      gen->randint(values.data(), n, high);
      for (const std::int64_t v : values) std::printf("%016" PRIx64, static_cast<std::uint64_t>(v));
      std::printf("\n");
      continue;
    }
    double parameter = 0;
    in >> n >> parameter;
    if (!in || !gen || (command != "uniform" && command != "normal")) {
      std::fprintf(stderr, "bad command '%s'\n", line.c_str());
      return 2;
    }
    std::vector<float> values(static_cast<std::size_t>(n));
    if (command == "uniform") gen->uniform(values.data(), n, -parameter, parameter);
    else gen->normal(values.data(), n, 0.0, parameter);
    for (const float v : values) {
      std::uint32_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      std::printf("%08" PRIx32, bits);
    }
    std::printf("\n");
  }
  return 0;
}
