#include "ltrt/mt19937.hpp"

#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string text_of(const ltrt::Mt19937& engine) {
  std::ostringstream out;
  out << engine;
  return out.str();
}

std::string text_of(const std::mt19937& engine) {
  std::ostringstream out;
  out << engine;
  return out.str();
}

// fill's runs of every length around the state's 624 words, and single draws between them, give
// std::mt19937's numbers, and the state's text is std::mt19937's at every point.
TEST(Mt19937, DrawsAndStateAreStdMt19937s) {
  for (const std::uint32_t seed : {0u, 1u, 42u, 5489u, 4294967295u}) {
    ltrt::Mt19937 ours(seed);
    std::mt19937 theirs(seed);
    ASSERT_EQ(text_of(ours), text_of(theirs)) << "seed " << seed;
    for (const std::int64_t run : {0, 1, 3, 623, 624, 625, 1, 1000, 1247, 1248, 7, 5000}) {
      std::vector<std::uint32_t> words(static_cast<std::size_t>(run));
      ours.fill(words.data(), run);
      for (std::int64_t i = 0; i < run; ++i) ASSERT_EQ(words[i], theirs()) << "seed " << seed << " run " << run << " at " << i;
      ASSERT_EQ(ours(), theirs());
      ASSERT_EQ(text_of(ours), text_of(theirs)) << "seed " << seed << " after a run of " << run;
    }
  }
}

// A state written by std::mt19937 (the checkpoints of earlier versions) reads back and goes on alike.
TEST(Mt19937, ReadsStdMt19937sState) {
  std::mt19937 theirs(7);
  for (int i = 0; i < 1000; ++i) theirs();
  std::istringstream in(text_of(theirs));
  ltrt::Mt19937 ours;
  ASSERT_TRUE(in >> ours);
  std::vector<std::uint32_t> words(2000);
  ours.fill(words.data(), 2000);
  for (const std::uint32_t word : words) ASSERT_EQ(word, theirs());
}

TEST(Mt19937, MalformedStateFailsAndLeavesTheEngine) {
  ltrt::Mt19937 engine(3);
  const std::string before = text_of(engine);
  for (const std::string text : {std::string("1 2 3"), before.substr(0, before.rfind(' ')) + " 625",
                                 before.substr(0, before.rfind(' ')) + " -1", std::string("x")}) {
    std::istringstream in(text);
    EXPECT_FALSE(in >> engine) << text.substr(0, 20);
    EXPECT_EQ(text_of(engine), before);
  }
}

}  // namespace
