// NumPy .npy files, the data format of npy data sources (np.save(x)).
#pragma once

#include "ltrt/model.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ltrt {

struct NpyArray {
  DType dtype;
  std::vector<std::int64_t> shape;  // empty for a 0-d array
  std::vector<std::byte> data;      // C order, host (little-endian) byte order
  std::string file_dtype;           // numpy's name of the dtype in the file ("int32"), for messages

  std::int64_t numel() const;
};

// Reads format versions 1.0, 2.0 and 3.0. dtypes: float32, float64 and int64
// as they are; int8/16/32, uint8/16/32/64 and bool converted to int64 (labels
// are int64 in the runtime; uint64 values above INT64_MAX are an Error);
// either byte order. C order only: fortran_order True is an Error saying how
// to fix the file.
NpyArray read_npy(const std::string& path);

// Writes what np.save would (version 1.0 header, 2.0 when it needs to be
// longer), atomically. data holds numel * dtype_size(dtype) bytes; u8 is
// written as '|u1'.
void write_npy(const std::string& path, DType dtype, const std::vector<std::int64_t>& shape, const void* data);

}  // namespace ltrt
