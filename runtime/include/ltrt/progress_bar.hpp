// Training progress on stdout: on a terminal one line redrawn with '\r'
// (epoch, batch i/N, it/s, loss), like Lightning's TQDMProgressBar; when
// stdout is not a terminal, one plain line per finished epoch.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace ltrt {

class ProgressBar {
 public:
  enum class Mode { off, terminal, plain };

  // Mode::terminal when `out` is a TTY, Mode::plain otherwise; off when
  // !enabled.
  static Mode detect(std::FILE* out, bool enabled);

  ProgressBar(std::FILE* out, Mode mode);

  void start_epoch(std::int64_t epoch, std::int64_t num_batches);
  // After batch `done` (1-based) of the epoch. Redraws at most every 100 ms
  // (and on the last batch). Formats into a fixed buffer: does not allocate.
  void update(std::int64_t done, float loss);
  // Whether update(done, ...) would redraw now: else advance() is enough, and the trainer need
  // not wait for a GPU step's loss.
  bool wants_loss(std::int64_t done) const;
  void advance(std::int64_t done) { done_ = done; }
  // The loss end_epoch() shows (the epoch's last step's).
  void set_loss(float loss) {
    loss_ = loss;
    have_loss_ = true;
  }
  bool enabled() const { return mode_ != Mode::off; }
  // After the epoch's last step: ends the terminal line / prints the plain line.
  void end_epoch();

 private:
  void draw(bool final);

  std::FILE* out_;
  Mode mode_;
  std::int64_t epoch_ = 0;
  std::int64_t num_batches_ = 0;
  std::int64_t done_ = 0;
  float loss_ = 0.0f;
  bool have_loss_ = false;
  std::chrono::steady_clock::time_point epoch_start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace ltrt
