// Element sizes and safetensors names of the runtime's dtypes.
#include "ltrt/model.hpp"

#include "ltrt/error.hpp"

#include <string>

namespace ltrt {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  throw Error("dtype_size: invalid dtype " + std::to_string(static_cast<int>(dtype)));
}

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  throw Error("safetensors_dtype: invalid dtype " + std::to_string(static_cast<int>(dtype)));
}

}  // namespace ltrt
