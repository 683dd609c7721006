// safetensors files: the weights format of --init_weights and of checkpoints.
// Layout: u64 little-endian header length N, N bytes of JSON header (padded
// with spaces to a multiple of 8), then the tensors' bytes, contiguous, with
// data_offsets relative to the end of the header.
#pragma once

#include "ltrt/model.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ltrt {

struct SafeTensor {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> data;  // little-endian, C order
};

struct SafeTensorsFile {
  std::vector<SafeTensor> tensors;  // in file (data offset) order
  std::vector<std::pair<std::string, std::string>> metadata;  // __metadata__, in header order
  const SafeTensor* find(std::string_view name) const;       // nullptr if absent
  const std::string* find_metadata(std::string_view key) const;  // nullptr if absent
};

// Reads and validates the whole file: header length sane, header valid JSON
// of the right shape, dtypes F32/F64/I64/U8 (others: Error naming the tensor
// and dtype), each tensor's byte size matching its shape, and data offsets
// contiguous from 0 to the end of the file.
SafeTensorsFile read_safetensors(const std::string& path);

struct SafeTensorView {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  const void* data;  // numel * dtype_size bytes
};

// Writes atomically (path + ".tmp", then rename). __metadata__ gets
// "format": "pt" first (unless metadata names a format itself), so that
// safetensors.torch.load_file accepts it. Tensors are written in the order
// given. Duplicate names are an Error.
void write_safetensors(const std::string& path, const std::vector<SafeTensorView>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace ltrt
