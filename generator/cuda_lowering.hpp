/// \file
/// Shared shapes of CUDA lowerings: an elementwise kernel over the live elements of a
/// batch (one thread an element), and a launch that checks what it enqueued.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "op.hpp"

namespace ltgen {

/// One kernel parameter: its declaration in the kernel and the host expression passed for it.
struct KernelParam {
  std::string decl;  // "float* out"
  std::string arg;   // "out"
};

/// Writes `__global__ void <kernel>(params..., int count)` whose thread i < count runs `body`
/// (lines; `i` is the element), and its launch from the host body over `count` elements
/// (a host expression, e.g. "n * kNumel"). `constants` writes lines at the top of the kernel.
void emit_elementwise_kernel(CudaEmit& e, const std::string& kernel, const std::vector<KernelParam>& params,
                             const std::string& count, const std::vector<std::string>& body,
                             const std::function<void(CodeWriter&)>& constants = {});

/// The launch of `kernel` with `blocks` x `threads` on ctx.stream, then the launch check.
void emit_launch(CodeWriter& w, const std::string& kernel, const std::string& blocks, const std::string& threads,
                 const std::vector<std::string>& args);

/// Opens `__global__ void <name>(<params>, int count)` and writes `constants` and `i`, the
/// thread's element (returning when i >= count); the caller writes the body and closes the block,
/// and the blank line and comment above it.
void open_element_kernel(CodeWriter& k, const std::string& name, const std::vector<std::string>& params,
                         const std::function<void(CodeWriter&)>& constants);

}  // namespace ltgen
