#include "ltrt/mt19937.hpp"

#include <istream>
#include <ostream>

#include "kernel_clones.hpp"

namespace ltrt {

namespace mt19937_kernels {

constexpr int kN = Mt19937::kWords, kM = 397;

// One word of the next state: the top bit of `word` and the low 31 of `next` twisted into `far`.
inline std::uint32_t twist(std::uint32_t word, std::uint32_t next, std::uint32_t far) {
  const std::uint32_t y = (word & 0x80000000u) | (next & 0x7fffffffu);
  return far ^ (y >> 1) ^ ((0u - (y & 1u)) & 0x9908b0dfu);
}

// The whole state in place. Each word reads the one after it (not yet rewritten) and the one 397
// on, which past the end wraps to words already rewritten at least 227 back: both loops vectorise.
LTRT_KERNEL_CLONES void regenerate(std::uint32_t* x) {
  int k = 0;
  for (; k < kN - kM; ++k) x[k] = twist(x[k], x[k + 1], x[k + kM]);
  for (; k < kN - 1; ++k) x[k] = twist(x[k], x[k + 1], x[k + kM - kN]);
  x[kN - 1] = twist(x[kN - 1], x[0], x[kM - 1]);
}

LTRT_KERNEL_CLONES void temper(const std::uint32_t* __restrict__ words, std::uint32_t* __restrict__ out,
                               std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint32_t y = words[i];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    out[i] = y ^ (y >> 18);
  }
}

}  // namespace mt19937_kernels

Mt19937::Mt19937(std::uint32_t seed) {
  state_[0] = seed;
  for (int i = 1; i < kWords; ++i)
    state_[i] = 1812433253u * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
}

Mt19937 Mt19937::from_key(const std::uint32_t* key, int length) {
  Mt19937 e(19650218u);
  std::uint32_t* mt = e.state_;
  int i = 1, j = 0;
  for (int k = kWords > length ? kWords : length; k > 0; --k) {
    mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<std::uint32_t>(j);
    if (++i >= kWords) mt[0] = mt[kWords - 1], i = 1;
    if (++j >= length) j = 0;
  }
  for (int k = kWords - 1; k > 0; --k) {
    mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - static_cast<std::uint32_t>(i);
    if (++i >= kWords) mt[0] = mt[kWords - 1], i = 1;
  }
  mt[0] = 0x80000000u;  // a nonzero state whatever the key
  return e;
}

void Mt19937::regenerate() {
  mt19937_kernels::regenerate(state_);
  next_ = 0;
}

void Mt19937::fill(std::uint32_t* out, std::int64_t n) {
  while (n > 0) {
    if (next_ >= kWords) regenerate();
    const std::int64_t run = n < kWords - next_ ? n : kWords - next_;
    mt19937_kernels::temper(state_ + next_, out, run);
    next_ += static_cast<int>(run);
    out += run;
    n -= run;
  }
}

std::ostream& operator<<(std::ostream& out, const Mt19937& engine) {
  for (const std::uint32_t word : engine.state_) out << word << ' ';
  return out << engine.next_;
}

std::istream& operator>>(std::istream& in, Mt19937& engine) {
  Mt19937 read;
  for (std::uint32_t& word : read.state_) in >> word;
  in >> read.next_;
  if (in && (read.next_ < 0 || read.next_ > Mt19937::kWords)) in.setstate(std::ios::failbit);
  if (in) engine = read;
  return in;
}

}  // namespace ltrt
