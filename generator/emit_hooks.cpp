#include "emit_hooks.hpp"

#include "check_hooks.hpp"
#include "code_writer.hpp"
#include "version.hpp"

namespace ltgen {

std::string emit_user_hooks_hpp(const Spec& spec) {
  CodeWriter w;
  w.line("// The hooks that " + spec.hooks + " defines (copied here as " + kHooksSource + "), as ltgen " + kVersion);
  w.line("// found them with Clang. The runtime is compiled with LTRT_USER_HOOKS naming this file and");
  w.line("// calls the hooks marked true directly; the others compile to nothing (ltrt/hook_calls.hpp).");
  w.line("#pragma once");
  w.line();
  w.line("namespace ltrt::user_hooks {");
  w.line();
  for (const HookSignature& h : hook_signatures())
    w.line("inline constexpr bool " + h.name + " = " + (spec.defines_hook(h.name) ? "true" : "false") + ";");
  w.line();
  w.line("}  // namespace ltrt::user_hooks");
  return w.str();
}

}  // namespace ltgen
