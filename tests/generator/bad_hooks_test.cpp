// Every mistake in tests/generator/bad_hooks/<case>.cpp, named as a spec's "hooks" file, must make
// ltgen exit with 1 before it writes anything, with a message at the hooks file's line:column
// containing <case>.expect (clang's own diagnostics for a file that does not compile). And a good
// file (good_hooks.cpp) is accepted with exactly its hooks marked as defined.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

namespace fs = std::filesystem;

namespace {

struct Result {
  int exit_code;
  std::string output;
};

Result run(const std::string& args) {
  const std::string command = std::string(LTGEN_EXE) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A small valid spec in `dir` whose "hooks" names `hooks` (an absolute path), with `trainer` (JSON).
fs::path write_spec(const fs::path& dir, const fs::path& hooks, const std::string& trainer = "{}") {
  fs::create_directories(dir);
  const fs::path spec = dir / "spec.json";
  std::ofstream(spec) << R"({"name": "hooked", "model": {"inputs": {"x": [3]}, "target": {"shape": [1]},)"
                      << R"( "layers": [{"type": "Linear", "out_features": 1}], "loss": {"type": "MSELoss"}},)"
                      << R"( "data": {"batch_size": 4, "train": {"source": "randn", "num_samples": 8}},)"
                      << R"( "optimizer": {"type": "SGD", "lr": 0.1}, "trainer": )" << trainer << R"(, "hooks": ")"
                      << hooks.string() << "\"}\n";
  return spec;
}

class BadHooks : public testing::TestWithParam<std::string> {};

TEST_P(BadHooks, RefusedAtTheirPlace) {
  const fs::path hooks = fs::path(BAD_HOOKS_DIR) / (GetParam() + ".cpp");
  std::string expected = read_text(fs::path(BAD_HOOKS_DIR) / (GetParam() + ".expect"));
  expected = hooks.string() + ":" + expected.substr(0, expected.find('\n'));
  const fs::path dir = fs::temp_directory_path() / ("ltgen_bad_hooks_" + GetParam());
  fs::remove_all(dir);
  const fs::path spec = write_spec(dir, hooks);
  const fs::path out = dir / "out";
  const Result r = run(spec.string() + " -o " + out.string() + " --emit-only");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.find(expected), 0u) << "expected first: " << expected << "\n got: " << r.output;
  EXPECT_FALSE(fs::exists(out)) << "nothing is written for a bad hooks file";
  fs::remove_all(dir);
}

std::vector<std::string> cases() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(BAD_HOOKS_DIR))
    if (e.path().extension() == ".cpp") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Table, BadHooks, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(GoodHooks, HelpersAreLeftAloneAndOnlyDefinedHooksAreCalled) {
  const fs::path dir = fs::temp_directory_path() / "ltgen_good_hooks";
  fs::remove_all(dir);
  const fs::path spec = write_spec(dir, fs::path(GOOD_HOOKS_CPP));
  const Result r = run(spec.string() + " -o " + (dir / "out").string() + " --emit-only");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string flags = read_text(dir / "out" / "user_hooks.hpp");
  EXPECT_NE(flags.find("inline constexpr bool on_train_batch_end = true;"), std::string::npos) << flags;
  EXPECT_NE(flags.find("inline constexpr bool on_train_epoch_end = true;"), std::string::npos) << flags;
  EXPECT_NE(flags.find("inline constexpr bool on_validation_end = false;"), std::string::npos) << flags;
  EXPECT_NE(flags.find("inline constexpr bool teardown = true;"), std::string::npos) << flags;
  EXPECT_NE(flags.find("inline constexpr bool setup = false;"), std::string::npos) << flags;
  EXPECT_EQ(read_text(dir / "out" / "hooks.cpp"), read_text(GOOD_HOOKS_CPP)) << "the file is compiled as written";
  const std::string cmake = read_text(dir / "out" / "CMakeLists.txt");
  EXPECT_NE(cmake.find("main.cpp model.cpp hooks.cpp"), std::string::npos) << cmake;
  EXPECT_NE(cmake.find("LTRT_USER_HOOKS="), std::string::npos) << cmake;
  // None of the three hooks between forward and backward: the model keeps its fused step only.
  EXPECT_EQ(read_text(dir / "out" / "model.cpp").find("training_forward"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
