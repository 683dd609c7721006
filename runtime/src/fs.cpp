// File system helpers on top of std::filesystem and stdio.
#include "ltrt/fs.hpp"

#include "ltrt/error.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <system_error>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace fs = std::filesystem;

namespace ltrt {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw Error(path + ": cannot create directory: " + ec.message());
  if (!fs::is_directory(path, ec)) throw Error(path + ": cannot create directory: a file of that name exists");
}

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::string not_a_regular_file(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || fs::is_regular_file(st)) return "";
  return fs::is_directory(st)        ? "is a directory"
         : fs::is_fifo(st)           ? "is a FIFO (named pipe)"
         : fs::is_character_file(st) ? "is a character device"
         : fs::is_block_file(st)     ? "is a block device"
         : fs::is_socket(st)         ? "is a socket"
                                     : "is not a regular file";
}

void require_regular_file(const std::string& path) {
  const std::string what = not_a_regular_file(path);
  if (!what.empty()) throw Error(path + ": cannot read: " + what + "; give a regular file");
}

std::string read_file(const std::string& path) {
  require_regular_file(path);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw Error(path + ": cannot open: " + errno_text(errno));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f);
    out.append(buf, n);
    if (n < sizeof buf) break;
  }
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) throw Error(path + ": read error: " + errno_text(err));
  return out;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

int next_version(const std::string& lightning_logs_dir) {
  std::error_code ec;
  if (!fs::is_directory(lightning_logs_dir, ec)) return 0;
  int next = 0;
  for (fs::directory_iterator it(lightning_logs_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    // Lightning: name.startswith("version_") and name.split("_")[1].isdigit().
    const std::string name = it->path().filename().string();
    if (name.rfind("version_", 0) != 0) continue;
    const std::string tail = name.substr(8, name.find('_', 8) - 8);
    if (tail.empty() || tail.size() > 9 || tail.find_first_not_of("0123456789") != std::string::npos) continue;
    const int n = std::stoi(tail);
    if (n + 1 > next) next = n + 1;
  }
  if (ec) throw Error(lightning_logs_dir + ": cannot list directory: " + ec.message());
  return next;
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_path_(path_ + ".tmp") {
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  if (file_ == nullptr) throw Error(tmp_path_ + ": cannot create: " + errno_text(errno));
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(tmp_path_.c_str());
  }
}

void AtomicFile::write(const void* data, std::size_t size) {
  if (file_ == nullptr) throw Error(path_ + ": write after commit");
  if (size == 0) return;
  if (std::fwrite(data, 1, size, file_) != size) throw Error(tmp_path_ + ": write failed: " + errno_text(errno));
}

void AtomicFile::commit() {
  if (file_ == nullptr) throw Error(path_ + ": commit called twice");
  std::FILE* f = file_;
  file_ = nullptr;
  bool ok = std::fflush(f) == 0;
  int err = errno;
#if defined(__unix__) || defined(__APPLE__)
  // The rename must not reach the disk before the data does.
  if (ok && ::fsync(fileno(f)) != 0) {
    ok = false;
    err = errno;
  }
#endif
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    std::remove(tmp_path_.c_str());
    throw Error(tmp_path_ + ": write failed: " + errno_text(err));
  }
  std::error_code ec;
  fs::rename(tmp_path_, path_, ec);
  if (ec) {
    std::remove(tmp_path_.c_str());
    throw Error(path_ + ": cannot replace with " + tmp_path_ + ": " + ec.message());
  }
}

InputFile::InputFile(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  require_regular_file(path_);
  file_ = std::fopen(path_.c_str(), "rb");
  if (file_ == nullptr) throw Error(path_ + ": cannot open: " + errno_text(errno));
  const auto n = fs::file_size(path_, ec);
  if (ec) {
    std::fclose(file_);
    throw Error(path_ + ": cannot read its size: " + ec.message());
  }
  size_ = n;
}

InputFile::~InputFile() { std::fclose(file_); }

void InputFile::read(void* dst, std::size_t n) {
  if (n == 0) return;
  const std::size_t got = std::fread(dst, 1, n, file_);
  if (got == n) return;
  if (std::ferror(file_)) throw Error(path_ + ": read error: " + errno_text(errno));
  throw Error(path_ + ": the file got shorter while it was read");
}

std::string InputFile::read_string(std::size_t n) {
  std::string s(n, '\0');
  read(s.data(), n);
  return s;
}

}  // namespace ltrt
