// Training progress on stdout: on a terminal one line redrawn with '\r'
// (epoch, batch i/N, it/s, loss), like Lightning's TQDMProgressBar; when
// stdout is not a terminal, one plain line per finished epoch.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

// lightning.pytorch.callbacks.TQDMProgressBar (2.6), the bar's options; without one, its defaults:
//   {"class_path": "TQDMProgressBar", "init_args": {"refresh_rate": 1, "process_position": 0, "leave": false}}
// refresh_rate: the bar shows batch counts that are multiples of it, and each epoch's last; 0 turns
// it off. leave: each epoch's finished bar stays on the terminal; else it is cleared and the last
// epoch's is shown again when training ends (Lightning reuses one bar). process_position offsets
// Lightning's bars by lines; ltgen draws one line, so it is accepted and changes nothing.
class TQDMProgressBar : public Callback {
 public:
  struct Options {
    std::int64_t refresh_rate = 1;
    std::int64_t process_position = 0;
    bool leave = false;
  };
  explicit TQDMProgressBar(Options o) : o_(o) {}
  static std::unique_ptr<TQDMProgressBar> read(ConfigObject& init_args);
  const char* class_name() const override { return "TQDMProgressBar"; }
  const Options& options() const { return o_; }

 private:
  Options o_;
};

class ProgressBar {
 public:
  enum class Mode { off, terminal, plain };

  // Mode::terminal when `out` is a TTY, Mode::plain otherwise; off when
  // !enabled.
  static Mode detect(std::FILE* out, bool enabled);

  ProgressBar(std::FILE* out, Mode mode, const TQDMProgressBar::Options& options = {});

  void start_epoch(std::int64_t epoch, std::int64_t num_batches);
  // After batch `done` (1-based) of the epoch. Redraws where the refresh rate says (and on the last
  // batch), at most every 100 ms: a terminal line per step would slow small steps down. Formats into
  // a fixed buffer: does not allocate.
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
  // After the epoch's last step: ends the terminal line (leave) or clears it / prints the plain line.
  void end_epoch();
  // When training ends (on_train_end): without leave, the last epoch's finished line again.
  void finish();

 private:
  bool due(std::int64_t done) const;
  void draw(bool final, std::chrono::steady_clock::time_point now);

  std::FILE* out_;
  Mode mode_;
  TQDMProgressBar::Options options_;
  bool cleared_ = false;  // an epoch's line was cleared (not left): finish() draws it again
  std::int64_t epoch_ = 0;
  std::int64_t num_batches_ = 0;
  std::int64_t done_ = 0;
  float loss_ = 0.0f;
  bool have_loss_ = false;
  std::chrono::steady_clock::time_point epoch_start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::chrono::steady_clock::time_point epoch_end_;
};

}  // namespace ltrt
