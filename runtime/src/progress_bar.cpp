// Progress bar: '\r'-redrawn line on a terminal, plain lines otherwise.
#include "ltrt/progress_bar.hpp"

#include <unistd.h>

#include <cstring>

namespace ltrt {

ProgressBar::Mode ProgressBar::detect(std::FILE* out, bool enabled) {
  if (!enabled) return Mode::off;
  return isatty(fileno(out)) ? Mode::terminal : Mode::plain;
}

ProgressBar::ProgressBar(std::FILE* out, Mode mode) : out_(out), mode_(mode) {}

void ProgressBar::start_epoch(std::int64_t epoch, std::int64_t num_batches) {
  epoch_ = epoch;
  num_batches_ = num_batches;
  done_ = 0;
  have_loss_ = false;
  epoch_start_ = last_draw_ = std::chrono::steady_clock::now();
  if (mode_ == Mode::terminal) draw(false);
}

void ProgressBar::update(std::int64_t done, float loss) {
  done_ = done;
  loss_ = loss;
  have_loss_ = true;
  if (mode_ != Mode::terminal) return;
  const auto now = std::chrono::steady_clock::now();
  if (done == num_batches_ || now - last_draw_ >= std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw(false);
  }
}

bool ProgressBar::wants_loss(std::int64_t done) const {
  return mode_ == Mode::terminal &&
         (done == num_batches_ || std::chrono::steady_clock::now() - last_draw_ >= std::chrono::milliseconds(100));
}

void ProgressBar::end_epoch() {
  if (mode_ == Mode::off) return;
  draw(true);
}

void ProgressBar::draw(bool final) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done_) / seconds : 0.0;
  char line[256];
  int len = 0;
  if (mode_ == Mode::terminal) {
    // A 20-character bar, like tqdm's.
    constexpr int kWidth = 20;
    const int filled = num_batches_ > 0 ? static_cast<int>(done_ * kWidth / num_batches_) : 0;
    char bar[kWidth + 1];
    for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '-';
    bar[kWidth] = '\0';
    len = std::snprintf(line, sizeof line, "\rEpoch %lld: %3d%%|%s| %lld/%lld [%.2fit/s", static_cast<long long>(epoch_),
                        num_batches_ > 0 ? static_cast<int>(done_ * 100 / num_batches_) : 100, bar,
                        static_cast<long long>(done_), static_cast<long long>(num_batches_), rate);
  } else {
    len = std::snprintf(line, sizeof line, "Epoch %lld: %lld/%lld [%.1fs, %.2fit/s", static_cast<long long>(epoch_),
                        static_cast<long long>(done_), static_cast<long long>(num_batches_), seconds, rate);
  }
  if (len < 0 || len >= static_cast<int>(sizeof line)) len = static_cast<int>(sizeof line) - 1;
  if (have_loss_) {
    len += std::snprintf(line + len, sizeof line - static_cast<std::size_t>(len), ", train_loss=%.4g]", static_cast<double>(loss_));
  } else {
    len += std::snprintf(line + len, sizeof line - static_cast<std::size_t>(len), "]");
  }
  if (len >= static_cast<int>(sizeof line)) len = static_cast<int>(sizeof line) - 1;
  // Pad so a shorter redraw hides the end of the previous one.
  if (mode_ == Mode::terminal) {
    while (len < 100 && len < static_cast<int>(sizeof line) - 1) line[len++] = ' ';
    line[len] = '\0';
  }
  std::fwrite(line, 1, static_cast<std::size_t>(len), out_);
  if (final || mode_ == Mode::plain) std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace ltrt
