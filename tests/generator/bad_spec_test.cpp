// Every mistake in tests/generator/bad_specs/<case>.json must make ltgen exit
// with 1 and print one message containing <case>.expect, without writing any
// output. Also the command line's own mistakes (exit 2).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
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

std::string read_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

class BadSpec : public testing::TestWithParam<std::string> {};

TEST_P(BadSpec, FailsWithOneClearMessage) {
  const fs::path spec = fs::path(BAD_SPECS_DIR) / (GetParam() + ".json");
  const std::string expected = read_line(fs::path(BAD_SPECS_DIR) / (GetParam() + ".expect"));
  const fs::path out = fs::temp_directory_path() / ("ltgen_bad_" + GetParam());
  fs::remove_all(out);
  const Result r = run(spec.string() + " -o " + out.string() + " --emit-only");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(expected), std::string::npos) << "expected: " << expected << "\n got: " << r.output;
  EXPECT_NE(r.output.find(spec.string() + ":"), std::string::npos) << "the message must name the file: " << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(":[0-9]+:[0-9]+: error: ")))
      << "the message must name the line and column: " << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << "one message, one line: " << r.output;
  EXPECT_FALSE(fs::exists(out)) << "nothing is written for a bad spec";
}

std::vector<std::string> cases() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(BAD_SPECS_DIR))
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Table, BadSpec, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(Cli, MissingSpecIsAUsageError) {
  const Result r = run("");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no spec given"), std::string::npos) << r.output;
}

TEST(Cli, UnknownOptionSuggestsTheNearest) {
  const Result r = run("--emit-onyl spec.json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("did you mean '--emit-only'?"), std::string::npos) << r.output;
}

TEST(Cli, MissingSpecFile) {
  const Result r = run("/nonexistent/spec.json --emit-only");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/spec.json: error: cannot open the spec file"), std::string::npos) << r.output;
}

TEST(Cli, SummaryPrintsThePlanAndWritesNothing) {
  const fs::path out = fs::temp_directory_path() / "ltgen_summary_out";
  fs::remove_all(out);
  const Result r = run(std::string(SPECS_DIR) + "/mlp.json --summary -o " + out.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("parameters: 269322"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Memory plan: one arena of"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("layers_0_backward"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

TEST(Cli, CudaArchMustBeCMakeArchitectures) {
  const Result r = run(std::string(SPECS_DIR) + "/linear.json --emit-only --cuda-arch '80;$(x)'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--cuda-arch '80;$(x)': expected CMAKE_CUDA_ARCHITECTURES entries"), std::string::npos) << r.output;
}

TEST(Cli, CudaArchLandsInTheCMakeLists) {
  const fs::path out = fs::temp_directory_path() / "ltgen_cuda_arch_out";
  fs::remove_all(out);
  const Result r = run(std::string(SPECS_DIR) + "/linear.json --emit-only --cuda-arch=86-real -o " + out.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(out / "CMakeLists.txt");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("set(CMAKE_CUDA_ARCHITECTURES \"86-real\")"), std::string::npos) << text;
  EXPECT_TRUE(fs::exists(out / "model_cuda.cu"));
  fs::remove_all(out);
}

// A hooks file runs with the GPU too: linear_hooks defines on_after_backward, so both programs
// have the training step in two halves for it to run between.
TEST(Cli, HooksBetweenForwardAndBackwardGetTheStepInHalvesOnBothDevices) {
  const fs::path out = fs::temp_directory_path() / "ltgen_hooks_cuda_out";
  fs::remove_all(out);
  const Result r = run(std::string(SPECS_DIR) + "/linear_hooks.json --emit-only -o " + out.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto read = [&](const char* name) {
    std::ifstream in(out / name);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string cu = read("model_cuda.cu"), cpp = read("model.cpp");
  EXPECT_NE(cu.find("void training_forward(std::byte* arena, int n, const ltrt::cuda::Context& ctx)"), std::string::npos);
  EXPECT_NE(cu.find("void training_backward(std::byte* arena, int n, bool accumulate, const ltrt::cuda::Context& ctx)"),
            std::string::npos);
  EXPECT_NE(cu.find("s.training_forward = training_forward;"), std::string::npos) << cu;
  EXPECT_NE(cu.find("s.training_backward = training_backward;"), std::string::npos) << cu;
  EXPECT_NE(cpp.find("m.training_forward = training_forward;"), std::string::npos);
  fs::remove_all(out);
}

TEST(Cli, HelpAndVersion) {
  EXPECT_EQ(run("--help").exit_code, 0);
  const Result v = run("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.output.rfind("ltgen ", 0), 0u) << v.output;
}

}  // namespace
