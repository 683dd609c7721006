// MT19937, the engine of torch's CPU generator: the same numbers as std::mt19937 from the same
// seed, and the same text for its state (libstdc++'s: the 624 words, then the index of the next),
// so that states written by std::mt19937 read back. It exists for fill(): a run of draws at a time,
// the state regenerated a block at a time in loops the compiler vectorises, where std::mt19937
// hands out one word per call (dropout draws over a million a step).
#pragma once

#include <cstdint>
#include <iosfwd>

namespace ltrt {

class Mt19937 {
 public:
  static constexpr int kWords = 624;  // the state: 624 words of 32 bits

  explicit Mt19937(std::uint32_t seed = 5489u);  // std::mt19937's seeding; 5489 is its default
  // The reference code's init_by_array, which Python's random.seed(n) calls with n's 32-bit words,
  // least significant first (`length` >= 1).
  static Mt19937 from_key(const std::uint32_t* key, int length);

  std::uint32_t operator()() {
    if (next_ >= kWords) regenerate();
    return temper(state_[next_++]);
  }
  // The next n draws, as n calls of operator() would return them.
  void fill(std::uint32_t* out, std::int64_t n);

  friend std::ostream& operator<<(std::ostream& out, const Mt19937& engine);
  friend std::istream& operator>>(std::istream& in, Mt19937& engine);  // failbit on a malformed state

 private:
  static std::uint32_t temper(std::uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
  }
  void regenerate();  // the next 624 words of state

  std::uint32_t state_[kWords];
  int next_ = kWords;  // the word the next draw tempers; kWords: regenerate first
};

}  // namespace ltrt
