// Python's `random` module, as far as torchvision's v1 RandomChoice and RandomOrder draw from it:
// random.seed(n) of an int (init_by_array over |n|'s 32-bit words), random.random(), and
// _randbelow(n), which random.shuffle calls. Lightning's seed_everything seeds it in the process that
// fits, and torch's DataLoader worker loop seeds each worker's with base_seed + worker_id.
#pragma once

#include <cstdint>
#include <string>

#include "ltrt/mt19937.hpp"

namespace ltrt {

class PythonRandom {
 public:
  explicit PythonRandom(std::uint64_t seed = 0);  // random.seed(seed)
  // random.seed(n) of a non-negative int of `count` 32-bit words, the least significant first (a
  // Lightning worker's seed has up to 96 bits).
  static PythonRandom from_words(const std::uint32_t* words, int count);

  // random.random(): 27 and 26 bits of two words, a multiple of 2^-53 in [0, 1).
  double random();
  // Random._randbelow(n), 0 < n < 2^32: getrandbits(n.bit_length()), the top bits of a word, drawn
  // again until below n.
  std::uint32_t below(std::uint32_t n);

  // The whole state as one line of text (checkpoints keep the fitting process's); set_state throws
  // ltrt::Error on text that state() did not write.
  std::string state() const;
  void set_state(const std::string& text);

 private:
  explicit PythonRandom(Mt19937 engine) : engine_(engine) {}
  Mt19937 engine_;
};

}  // namespace ltrt
