// write_project's copy of the runtime: regenerating a project after the runtime lost a file
// removes that file's old copy (the project compiles every source in ltrt/, so a stale one would
// be linked beside its successor), and nothing ltgen did not copy.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "emit_project.hpp"

namespace fs = std::filesystem;

namespace ltgen {
namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

TEST(WriteProject, RuntimeFilesLtgenNoLongerHasAreRemovedAndNothingElse) {
  const fs::path dir = fs::temp_directory_path() / ("write_project_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  write_project(dir.string(), {{"model.cpp", "// model\n"}});
  const fs::path manifest = dir / "ltrt" / "FILES.ltgen";
  ASSERT_TRUE(fs::is_regular_file(manifest));
  const std::string listed = read(manifest);
  EXPECT_NE(listed.find("src/trainer.cpp\n"), std::string::npos) << listed;
  EXPECT_NE(listed.find("cuda/cuda_backend.cu\n"), std::string::npos) << listed;
  EXPECT_TRUE(fs::is_regular_file(dir / "ltrt" / "src" / "trainer.cpp"));

  // As an older ltgen would have left it: a runtime file since renamed, listed in its manifest,
  // and a file of the user's beside it.
  write(dir / "ltrt" / "cuda" / "old_kernel.cu", "// an old runtime file\n");
  write(manifest, listed + "cuda/old_kernel.cu\n../model.cpp\n");
  write(dir / "ltrt" / "src" / "mine.cpp", "// the user's\n");
  write_project(dir.string(), {{"model.cpp", "// model\n"}});
  EXPECT_FALSE(fs::exists(dir / "ltrt" / "cuda" / "old_kernel.cu"));
  EXPECT_TRUE(fs::is_regular_file(dir / "ltrt" / "src" / "mine.cpp"));
  EXPECT_TRUE(fs::is_regular_file(dir / "model.cpp"));  // a listed path outside ltrt/ is never followed
  EXPECT_EQ(read(manifest), listed);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ltgen
