// The training bar on a terminal: which batch counts it shows (TQDMProgressBar's refresh_rate, each
// epoch's last batch, at most one redraw per 100 ms), and whether a finished epoch's line stays
// (leave) or is cleared and shown again when training ends.
#include "ltrt/progress_bar.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace {

// What the bar wrote, split at '\r' and '\n' into the lines a terminal would have drawn.
struct Capture {
  char* data = nullptr;
  std::size_t size = 0;
  std::FILE* file = open_memstream(&data, &size);
  ~Capture() { std::free(data); }
  std::string text() {
    std::fflush(file);
    return std::string(data, size);
  }
};

// The batch counts of the drawn lines ("Epoch 0:  50%|...| 4/8 [...]" -> 4), in order.
std::vector<int> shown_counts(const std::string& text) {
  std::vector<int> out;
  const std::regex count(R"(\| (\d+)/\d+ \[)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), count); it != std::sregex_iterator(); ++it)
    out.push_back(std::stoi((*it)[1]));
  return out;
}

void run_epoch(ltrt::ProgressBar& bar, int epoch, int batches) {
  bar.start_epoch(epoch, batches);
  for (int b = 1; b <= batches; ++b) {
    std::this_thread::sleep_for(std::chrono::milliseconds(120));  // past the 100 ms between redraws
    bar.update(b, 1.5f);
  }
  bar.end_epoch();
}

TEST(ProgressBar, RefreshRateShowsItsMultiplesAndTheLastBatch) {
  Capture out;
  ltrt::TQDMProgressBar::Options o;
  o.refresh_rate = 3;
  ltrt::ProgressBar bar(out.file, ltrt::ProgressBar::Mode::terminal, o);
  run_epoch(bar, 0, 7);
  // 0 when the epoch starts, then 3, 6 and the last, 7; the cleared line is drawn again by finish().
  bar.finish();
  EXPECT_EQ(shown_counts(out.text()), (std::vector<int>{0, 3, 6, 7, 7}));
}

TEST(ProgressBar, DefaultRedrawsAtMostEvery100Ms) {
  Capture out;
  ltrt::ProgressBar bar(out.file, ltrt::ProgressBar::Mode::terminal);
  const auto start = std::chrono::steady_clock::now();
  bar.start_epoch(0, 500);
  for (int b = 1; b <= 500; ++b) bar.update(b, 1.0f);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  bar.end_epoch();
  // The start and the last batch, and at most one more per 100 ms the loop took (usually none: a
  // busy machine may pause the loop).
  const std::vector<int> shown = shown_counts(out.text());
  ASSERT_GE(shown.size(), 2u);
  EXPECT_EQ(shown.front(), 0);
  EXPECT_EQ(shown.back(), 500);
  EXPECT_LE(shown.size() - 2, static_cast<std::size_t>(elapsed / std::chrono::milliseconds(100)));
}

TEST(ProgressBar, LeaveKeepsEachEpochsLineElseOnlyTheLast) {
  for (const bool leave : {false, true}) {
    Capture out;
    ltrt::TQDMProgressBar::Options o;
    o.refresh_rate = 100;  // the start and last batch only
    o.leave = leave;
    ltrt::ProgressBar bar(out.file, ltrt::ProgressBar::Mode::terminal, o);
    run_epoch(bar, 0, 2);
    run_epoch(bar, 1, 2);
    bar.finish();
    const std::string text = out.text();
    // The lines left on the terminal: those ended by a newline.
    std::vector<std::string> kept;
    std::size_t start = 0;
    for (std::size_t nl = text.find('\n'); nl != std::string::npos; start = nl + 1, nl = text.find('\n', start)) {
      const std::string line = text.substr(start, nl - start);
      kept.push_back(line.substr(line.rfind('\r') == std::string::npos ? 0 : line.rfind('\r') + 1));
    }
    if (leave) {
      ASSERT_EQ(kept.size(), 2u) << text;
      EXPECT_EQ(kept[0].rfind("Epoch 0: 100%", 0), 0u) << kept[0];
      EXPECT_EQ(kept[1].rfind("Epoch 1: 100%", 0), 0u) << kept[1];
    } else {
      ASSERT_EQ(kept.size(), 1u) << text;
      EXPECT_EQ(kept[0].rfind("Epoch 1: 100%", 0), 0u) << kept[0];
    }
  }
}

TEST(ProgressBar, RefreshRateZeroTurnsItOff) {
  Capture out;
  ltrt::TQDMProgressBar::Options o;
  o.refresh_rate = 0;
  ltrt::ProgressBar bar(out.file, ltrt::ProgressBar::Mode::plain, o);
  EXPECT_FALSE(bar.enabled());
  run_epoch(bar, 0, 1);
  bar.finish();
  EXPECT_EQ(out.text(), "");
}

}  // namespace
