// Progress bar: '\r'-redrawn line on a terminal, plain lines otherwise.
#include "ltrt/progress_bar.hpp"

#include <unistd.h>

#include <cstring>

#include "ltrt/config_reader.hpp"

namespace ltrt {

std::unique_ptr<TQDMProgressBar> TQDMProgressBar::read(ConfigObject& a) {
  Options o;
  o.refresh_rate = a.integer("refresh_rate", 1, 0);
  o.process_position = a.integer("process_position", 0, 0);
  o.leave = a.boolean("leave", false);
  a.finish();
  return std::make_unique<TQDMProgressBar>(o);
}

ProgressBar::Mode ProgressBar::detect(std::FILE* out, bool enabled) {
  if (!enabled) return Mode::off;
  return isatty(fileno(out)) ? Mode::terminal : Mode::plain;
}

ProgressBar::ProgressBar(std::FILE* out, Mode mode, const TQDMProgressBar::Options& options)
    : out_(out), mode_(options.refresh_rate > 0 ? mode : Mode::off), options_(options) {}

void ProgressBar::start_epoch(std::int64_t epoch, std::int64_t num_batches) {
  epoch_ = epoch;
  num_batches_ = num_batches;
  done_ = 0;
  have_loss_ = false;
  cleared_ = false;
  epoch_start_ = last_draw_ = std::chrono::steady_clock::now();
  if (mode_ == Mode::terminal) draw(false, epoch_start_);
}

// TQDMProgressBar._should_update: a multiple of the refresh rate, or the epoch's last batch; and
// 100 ms since the last redraw.
bool ProgressBar::due(std::int64_t done) const {
  if (mode_ != Mode::terminal) return false;
  if (done == num_batches_) return true;
  return done % options_.refresh_rate == 0 &&
         std::chrono::steady_clock::now() - last_draw_ >= std::chrono::milliseconds(100);
}

void ProgressBar::update(std::int64_t done, float loss) {
  const bool draw_now = due(done);
  done_ = done;
  loss_ = loss;
  have_loss_ = true;
  if (!draw_now) return;
  last_draw_ = std::chrono::steady_clock::now();
  draw(false, last_draw_);
}

bool ProgressBar::wants_loss(std::int64_t done) const { return due(done); }

void ProgressBar::end_epoch() {
  if (mode_ == Mode::off) return;
  epoch_end_ = std::chrono::steady_clock::now();
  if (mode_ == Mode::plain || options_.leave) {
    draw(true, epoch_end_);
    return;
  }
  // Cleared rather than left for the next epoch's to overwrite: what is printed between epochs
  // (validation, checkpoint messages) then starts on a clean line.
  std::fprintf(out_, "\r%*s\r", 100, "");
  std::fflush(out_);
  cleared_ = true;
}

void ProgressBar::finish() {
  if (mode_ == Mode::terminal && cleared_) draw(true, epoch_end_);
  cleared_ = false;
}

void ProgressBar::draw(bool final, std::chrono::steady_clock::time_point now) {
  const double seconds = std::chrono::duration<double>(now - epoch_start_).count();
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
