// File system helpers: atomic writes, reads with clear errors, version_N.
#include "test_util.hpp"
#include "ltrt/fs.hpp"

#include "ltrt/error.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <sys/stat.h>
#include <fstream>

namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const std::string dir = std::string(LTRT_TEST_TMP) + "/fs_test/" + name;
  fs::remove_all(dir);
  ltrt::make_dirs(dir);
  return dir;
}

using ltrt_test::error_of;

TEST(Fs, MakeDirsAndExists) {
  const std::string dir = fresh_dir("make_dirs");
  const std::string deep = dir + "/a/b/c";
  EXPECT_FALSE(ltrt::exists(deep));
  ltrt::make_dirs(deep);
  EXPECT_TRUE(ltrt::exists(deep));
  ltrt::make_dirs(deep);  // already there: fine
  ltrt::write_file_atomic(dir + "/file", "x");
  const std::string msg = error_of([&] { ltrt::make_dirs(dir + "/file"); });
  EXPECT_NE(msg.find(dir + "/file: cannot create directory"), std::string::npos) << msg;
}

TEST(Fs, WriteAtomicThenRead) {
  const std::string dir = fresh_dir("atomic");
  const std::string path = dir + "/data.bin";
  const std::string bytes("a\0b\r\n\xff", 6);
  ltrt::write_file_atomic(path, bytes);
  EXPECT_EQ(ltrt::read_file(path), bytes);
  EXPECT_FALSE(ltrt::exists(path + ".tmp"));
  ltrt::write_file_atomic(path, "second");
  EXPECT_EQ(ltrt::read_file(path), "second");
  ltrt::write_file_atomic(path, "");
  EXPECT_EQ(ltrt::read_file(path), "");
}

TEST(Fs, LargeFileRoundTrip) {
  const std::string path = fresh_dir("large") + "/big.bin";
  std::string bytes(300000, '\0');
  for (std::size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<char>(k * 31 % 251);
  ltrt::write_file_atomic(path, bytes);
  EXPECT_EQ(ltrt::read_file(path), bytes);
}

TEST(Fs, AtomicFileWithoutCommitKeepsTheOldFile) {
  const std::string path = fresh_dir("uncommitted") + "/ckpt";
  ltrt::write_file_atomic(path, "old");
  {
    ltrt::AtomicFile f(path);
    f.write("new, half written");
  }
  EXPECT_EQ(ltrt::read_file(path), "old");
  EXPECT_FALSE(ltrt::exists(path + ".tmp"));

  ltrt::AtomicFile f(path);
  f.write("ne");
  f.write(std::string_view("w!"));
  f.commit();
  EXPECT_EQ(ltrt::read_file(path), "new!");
  EXPECT_THROW(f.commit(), ltrt::Error);
  EXPECT_THROW(f.write("x"), ltrt::Error);
}

TEST(Fs, ErrorsNameThePath) {
  const std::string dir = fresh_dir("errors");
  EXPECT_EQ(error_of([&] { ltrt::read_file(dir + "/missing.txt"); }),
            dir + "/missing.txt: cannot open: No such file or directory");
  EXPECT_EQ(error_of([&] { ltrt::read_file(dir); }), dir + ": cannot read: is a directory; give a regular file");
  // A FIFO is refused before the open, which would wait for a writer; a device never ends.
  const std::string fifo = dir + "/pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_of([&] { ltrt::read_file(fifo); }), fifo + ": cannot read: is a FIFO (named pipe); give a regular file");
  EXPECT_EQ(error_of([&] { ltrt::InputFile f(fifo); }), fifo + ": cannot read: is a FIFO (named pipe); give a regular file");
  EXPECT_EQ(error_of([&] { ltrt::read_file("/dev/zero"); }), "/dev/zero: cannot read: is a character device; give a regular file");
  const std::string msg = error_of([&] { ltrt::write_file_atomic(dir + "/no/such/dir/x", "x"); });
  EXPECT_EQ(msg, dir + "/no/such/dir/x.tmp: cannot create: No such file or directory");
}

TEST(Fs, NextVersionLikeLightning) {
  const std::string dir = fresh_dir("versions");
  EXPECT_EQ(ltrt::next_version(dir + "/lightning_logs"), 0);  // no folder yet
  const std::string logs = dir + "/lightning_logs";
  ltrt::make_dirs(logs);
  EXPECT_EQ(ltrt::next_version(logs), 0);
  ltrt::make_dirs(logs + "/version_0");
  EXPECT_EQ(ltrt::next_version(logs), 1);
  ltrt::make_dirs(logs + "/version_3");
  ltrt::make_dirs(logs + "/version_x");
  ltrt::make_dirs(logs + "/other_7");
  ltrt::write_file_atomic(logs + "/version_9", "a file, not a folder");
  EXPECT_EQ(ltrt::next_version(logs), 4);
  ltrt::make_dirs(logs + "/version_5_old");  // Lightning: name.split("_")[1] == "5"
  EXPECT_EQ(ltrt::next_version(logs), 6);
  ltrt::make_dirs(logs + "/version_12");
  EXPECT_EQ(ltrt::next_version(logs), 13);
}

}  // namespace
