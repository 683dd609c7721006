// IDX files (MNIST's format), plain or gzip-compressed.
#include "ltrt/idx.hpp"

#ifdef LTRT_WITH_ZLIB
#include <zlib.h>
#endif

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"

namespace ltrt {
namespace {

#ifndef LTRT_WITH_ZLIB
// Built without zlib (runtime/CMakeLists.txt): plain files only; gzip is refused by name.
std::vector<std::uint8_t> read_all(const std::string& path) {
  require_regular_file(path);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<std::uint8_t> out;
  std::uint8_t chunk[1 << 16];
  std::size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) out.insert(out.end(), chunk, chunk + n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw Error(path + ": cannot read");
  if (out.size() >= 2 && out[0] == 0x1f && out[1] == 0x8b)
    throw Error(path + ": is gzip-compressed, and this program was built without zlib: decompress it (gunzip), "
                "or rebuild where zlib is installed (Debian: zlib1g-dev)");
  return out;
}
#else
// The whole file, decompressed when it is gzip (gzread passes plain files through).
std::vector<std::uint8_t> read_all(const std::string& path) {
  require_regular_file(path);
  std::FILE* probe = std::fopen(path.c_str(), "rb");
  if (!probe) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::fclose(probe);
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open");
  gzbuffer(f, 1 << 17);
  std::vector<std::uint8_t> out;
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const int n = gzread(f, chunk, sizeof chunk);
    if (n < 0) {
      int code = 0;
      const std::string why = gzerror(f, &code);
      gzclose(f);
      throw Error(path + ": cannot read: " + (why.empty() ? "gzip data is damaged" : why));
    }
    if (n == 0) break;
    out.insert(out.end(), chunk, chunk + n);
  }
  // A gzip stream cut short reads as EOF with Z_BUF_ERROR.
  int code = Z_OK;
  gzerror(f, &code);
  gzclose(f);
  if (code != Z_OK && code != Z_STREAM_END)
    throw Error(path + ": the gzip stream is truncated or damaged");
  return out;
}
#endif

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::int64_t IdxArray::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<std::uint8_t> read_maybe_gzip(const std::string& path) { return read_all(path); }

IdxArray read_idx(const std::string& path, int expect_ndims) {
  const std::vector<std::uint8_t> bytes = read_all(path);
  if (bytes.size() < 4)
    throw Error(path + ": not an IDX file: " + std::to_string(bytes.size()) + " bytes, shorter than the 4-byte magic");
  char magic[16];
  std::snprintf(magic, sizeof magic, "0x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
  if (bytes[0] != 0 || bytes[1] != 0)
    throw Error(path + ": not an IDX file: magic " + magic + ", expected 0x000008NN (e.g. 0x00000803 images, 0x00000801 labels)");
  if (bytes[2] != 0x08)
    throw Error(path + ": IDX magic " + magic + " names element type 0x" + std::string(magic + 6, 2) +
                "; only unsigned bytes (0x08) are supported");
  const int ndims = bytes[3];
  if (ndims == 0) throw Error(path + ": IDX magic " + magic + " has 0 dimensions");
  if (expect_ndims > 0 && ndims != expect_ndims) {
    throw Error(path + ": IDX magic " + magic + " has " + std::to_string(ndims) + " dimension(s), expected " +
                std::to_string(expect_ndims) + (expect_ndims == 3 ? " (images: magic 0x00000803)" :
                                               expect_ndims == 1 ? " (labels: magic 0x00000801)" : ""));
  }
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(ndims);
  if (bytes.size() < header)
    throw Error(path + ": truncated IDX header: " + std::to_string(bytes.size()) + " bytes, the " +
                std::to_string(ndims) + " sizes need " + std::to_string(header));
  IdxArray a;
  std::uint64_t numel = 1;
  for (int i = 0; i < ndims; ++i) {
    const std::uint8_t* p = bytes.data() + 4 + 4 * i;
    const std::uint32_t d = (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
    a.shape.push_back(d);
    numel *= d;
    if (numel > (std::uint64_t(1) << 40)) throw Error(path + ": IDX sizes " + shape_text(a.shape) + "... are implausibly large");
  }
  const std::uint64_t have = bytes.size() - header;
  if (have < numel)
    throw Error(path + ": truncated: shape " + shape_text(a.shape) + " needs " + std::to_string(numel) +
                " bytes of data, the file has " + std::to_string(have));
  if (have > numel)
    throw Error(path + ": " + std::to_string(have - numel) + " bytes after the data of shape " + shape_text(a.shape) +
                " (a damaged file, or the sizes in the header are wrong)");
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

}  // namespace ltrt
