// torch's global generator during fit, as far as the order of a shuffled single-process training
// loader needs it. Lightning's RandomSampler seeds each epoch's torch.randperm with an int64 it
// draws from the global generator, whose state then follows from what drew before it: the model's
// initialisation after seed_everything (ltgen's init steps are torch's), and one int64 for every
// DataLoader iterator made since (its _base_seed: each training epoch's and each validation's; the
// sanity check and a LearningRateFinder's search run under isolate_rng, which leaves no trace).
// Dropout draws from it too in torch; ltgen's dropout has its own stream, so after a training step
// with dropout the orders part (README, "Not supported yet").
//
// The state is the generator after the initialisation and the count of int64 draws since, which
// checkpoints keep, so that a resumed fit shuffles as the uninterrupted one did.
#pragma once

#include <cstdint>

#include "ltrt/torch_generator.hpp"

namespace ltrt {

class TorchGlobalDraws {
 public:
  explicit TorchGlobalDraws(const TorchGenerator& after_init) : after_init_(after_init), now_(after_init) {}

  // torch.empty((), dtype=torch.int64).random_(): random64() modulo 2^63.
  std::int64_t draw() {
    ++count_;
    return static_cast<std::int64_t>(now_.random64() % (1ull << 63));
  }
  std::int64_t count() const { return count_; }
  // The state after `count` draws since the initialisation (a checkpoint's, or an epoch's start).
  void set_count(std::int64_t count) {
    now_ = after_init_;
    for (count_ = 0; count_ < count;) draw();
  }

 private:
  TorchGenerator after_init_, now_;
  std::int64_t count_ = 0;
};

}  // namespace ltrt
