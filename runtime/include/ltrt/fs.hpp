// File system helpers: whole-file reads, atomic writes, Lightning's
// version_N folders. Every failure throws ltrt::Error naming the path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace ltrt {

// Creates path and its missing parents (like mkdir -p).
void make_dirs(const std::string& path);
bool exists(const std::string& path);

// What a path names when that is not a regular file to read ("is a FIFO (named pipe)", "is a
// directory", ...), else "" (a path that does not exist too: the open that follows says so).
// Files are read whole or by size: opening a FIFO would wait for a writer, a device never end.
std::string not_a_regular_file(const std::string& path);
// Error "<path>: cannot read: <what>; give a regular file" when not_a_regular_file says something.
void require_regular_file(const std::string& path);

// The whole file as bytes. Error: "<path>: cannot open: No such file or directory".
std::string read_file(const std::string& path);

// Writes bytes to path + ".tmp", flushes it to disk, then renames it over
// path, so a reader (or a crash) never sees a half-written file.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Lightning's next log version in <root>/lightning_logs: 1 + the largest N of
// the version_N folders there, 0 when there are none (or no such folder).
int next_version(const std::string& lightning_logs_dir);

// The streaming form of write_file_atomic, for files too big to build in
// memory first (checkpoints). Without commit(), the destructor removes the
// temporary file and path keeps its old content.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  void commit();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string tmp_path_;
  std::FILE* file_ = nullptr;
};

// A file opened for reading piece by piece, for formats whose header says
// how much comes next (safetensors, .npy): no copy of the whole file in memory.
class InputFile {
 public:
  explicit InputFile(std::string path);  // Error: "<path>: cannot open: <reason>"
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  std::uint64_t size() const { return size_; }
  // Reads exactly n bytes at the current position. Callers check sizes
  // against size() first; a short read here means the file changed or failed.
  void read(void* dst, std::size_t n);
  std::string read_string(std::size_t n);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace ltrt
