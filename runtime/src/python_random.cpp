#include "ltrt/python_random.hpp"

#include <sstream>

#include "ltrt/error.hpp"

namespace ltrt {

namespace {

Mt19937 seeded(std::uint64_t seed) {
  // _PyLong_AsByteArray's little-endian words, as many as |seed| needs (one for 0)
  const std::uint32_t key[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  return Mt19937::from_key(key, key[1] != 0 ? 2 : 1);
}

}  // namespace

PythonRandom::PythonRandom(std::uint64_t seed) : engine_(seeded(seed)) {}

PythonRandom PythonRandom::from_words(const std::uint32_t* words, int count) {
  while (count > 1 && words[count - 1] == 0) --count;  // as many words as the int needs (one for 0)
  return PythonRandom(Mt19937::from_key(words, count));
}

double PythonRandom::random() {
  const std::uint32_t a = engine_() >> 5, b = engine_() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

std::uint32_t PythonRandom::below(std::uint32_t n) {
  int bits = 0;
  while (bits < 32 && (n >> bits) != 0) ++bits;
  for (;;) {
    const std::uint32_t r = engine_() >> (32 - bits);
    if (r < n) return r;
  }
}

std::string PythonRandom::state() const {
  std::ostringstream out;
  out << "mt19937 " << engine_;
  return out.str();
}

void PythonRandom::set_state(const std::string& text) {
  std::istringstream in(text);
  std::string tag, rest;
  Mt19937 engine;
  in >> tag >> engine;
  if (!in || tag != "mt19937" || (in >> rest))
    throw Error("Python random state '" + text.substr(0, 40) + "...' is malformed");
  engine_ = engine;
}

}  // namespace ltrt
