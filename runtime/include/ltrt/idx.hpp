// IDX files, the format of MNIST and Fashion-MNIST (train-images-idx3-ubyte,
// train-labels-idx1-ubyte), plain or gzip-compressed (.gz, as Debian's
// dataset-fashion-mnist ships them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ltrt {

struct IdxArray {
  std::vector<std::int64_t> shape;  // [N, rows, cols] for images, [N] for labels
  std::vector<std::uint8_t> data;   // C order

  std::int64_t numel() const;
};

// Reads an IDX file of unsigned bytes: magic 0x00 0x00 0x08 <ndims>, then ndims
// big-endian uint32 sizes, then the bytes. A file starting with gzip's magic
// (1f 8b) is decompressed first, whatever its name. `expect_ndims` (1 for
// labels, 3 for images; 0: any) is checked against the magic. A bad magic,
// another element type, a truncated file or trailing bytes throw ltrt::Error
// naming the file.
IdxArray read_idx(const std::string& path, int expect_ndims = 0);

// A whole file's bytes, decompressed when it starts with gzip's magic (the text source's corpus).
std::vector<std::uint8_t> read_maybe_gzip(const std::string& path);

}  // namespace ltrt
