/// \file
/// Reads a user hooks file with Clang LibTooling and checks it against the hook
/// API (runtime/include/ltrt/hook_list.hpp) before anything is generated.
#pragma once

#include <string>
#include <vector>

namespace ltgen {

/// One hook of the API: its name and its declaration as the user writes it.
struct HookSignature {
  std::string name;         // "on_train_batch_end"
  std::string declaration;  // "void on_train_batch_end(ltrt::Trainer& trainer, std::int64_t batch_idx, float loss)"
};
/// Every hook, in ltrt/hook_list.hpp's order (Lightning's call order in a fit).
const std::vector<HookSignature>& hook_signatures();

struct HooksFile {
  std::string path;                  // as the spec resolves it
  std::string text;                  // the file's bytes, compiled into the program as they are
  std::vector<std::string> defined;  // the hooks it defines, in hook_signatures() order
};

/// Parses `path` as C++17 with the runtime's headers on the include path and checks that every
/// function it defines whose name starts with "on_" is a hook with its signature, at global scope
/// with external linkage, and that it includes no header of its own (it is copied alone into the
/// generated project). Other functions are the user's helpers and are left alone. Throws SpecError
/// at the offending definition's file:line:col, or with clang's own diagnostics when the file
/// does not compile.
HooksFile check_hooks(const std::string& path);

}  // namespace ltgen
