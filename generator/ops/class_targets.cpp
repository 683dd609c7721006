#include "class_targets.hpp"

#include <algorithm>

namespace ltgen {

std::int64_t label_positions(const Value& target) {
  std::int64_t p = 1;
  for (size_t d = 1; d < target.shape.size(); ++d) p *= target.shape[d];
  return p;
}

std::string label_rows(const Value& target) { return label_positions(target) > 1 ? "n * kPositions" : "n"; }

void check_class_shapes(const Value& x, const Value& t, std::int64_t classes) {
  if (x.shape.size() < 2 || x.shape.back() != classes)
    throw ShapeError("expects an input of shape (batch, [T,] " + std::to_string(classes) + ") for num_classes=" +
                     std::to_string(classes) + ", got " + shape_str(x.shape));
  if (t.dtype != DType::i64 || t.shape.size() + 1 != x.shape.size() ||
      !std::equal(t.shape.begin(), t.shape.end(), x.shape.begin()))
    throw ShapeError("expects int64 class targets of shape " + shape_str(Shape(x.shape.begin(), x.shape.end() - 1)) +
                     " for an input " + shape_str(x.shape) + ": set model.target to {\"dtype\": \"int64\", "
                     "\"num_classes\": " + std::to_string(classes) + (x.shape.size() > 2 ? ", \"shape\": [...]" : "") +
                     "}");
}

void write_label_sum_kernel(CodeWriter& k, const std::string& kernel, const std::vector<std::string>& params,
                            const std::string& what, const std::string& term, std::int64_t ignore_index, bool mean) {
  k.line();
  k.line("// One block: the sum of the rows' " + what + " in double (the CPU's precision) and the count");
  k.line("// of rows whose target is not ignored, then the loss. A fixed order, no float atomics: the");
  k.line("// same loss on every run.");
  std::string list = "float* __restrict__ out, std::int64_t* __restrict__ count";
  for (const std::string& p : params) list += ", " + p;
  k.open("__global__ void " + kernel + "(" + list + ", int rows)");
  k.line("constexpr std::int64_t kIgnoreIndex = " + std::to_string(ignore_index) + ";");
  k.line("__shared__ double partial[kReduceThreads];");
  k.line("__shared__ int counts[kReduceThreads];");
  k.line("double sum = 0.0;");
  k.line("int kept = 0;");
  k.open("for (int i = threadIdx.x; i < rows; i += blockDim.x)");
  k.line("if (target[i] == kIgnoreIndex) continue;");
  k.line("sum += " + term + ";");
  k.line("++kept;");
  k.close();
  k.line("partial[threadIdx.x] = sum;");
  k.line("counts[threadIdx.x] = kept;");
  k.line("__syncthreads();");
  k.open("for (int s = blockDim.x / 2; s > 0; s /= 2)");
  k.open("if (threadIdx.x < s)");
  k.line("partial[threadIdx.x] += partial[threadIdx.x + s];");
  k.line("counts[threadIdx.x] += counts[threadIdx.x + s];");
  k.close();
  k.line("__syncthreads();");
  k.close();
  k.line("if (threadIdx.x != 0) return;");
  k.line("count[0] = counts[0];  // for the backward");
  if (mean)
    k.line("out[0] = static_cast<float>(partial[0] / counts[0]);  // reduction='mean' (NaN when every target is ignored, as torch)");
  else
    k.line("out[0] = static_cast<float>(partial[0]);  // reduction='sum'");
  k.close();
}

}  // namespace ltgen
