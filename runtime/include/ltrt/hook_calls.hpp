// How the trainer calls the user hooks of a program (runtime-internal; hooks
// files include ltrt/hooks.hpp). ltgen writes user_hooks.hpp beside the
// generated sources, one `inline constexpr bool on_<hook>` per hook that says
// whether the hooks file defines it, and the generated CMakeLists compiles the
// runtime with LTRT_USER_HOOKS naming that header. Every call site is an
// `if constexpr` on its flag, so a program calls the hooks it has directly,
// and a hook the file does not define is a discarded statement: no code, and
// no definition needed at link time (C++17 [basic.def.odr]/4 asks for one only
// of functions odr-used outside a discarded statement). Function pointers or
// virtual Callback methods would cost a load and a branch at every hook point,
// defined or not.
#pragma once

#include <cstdint>
#include <exception>

#include "ltrt/hook_list.hpp"
#include "ltrt/hooks.hpp"

// The user's hooks, as ltgen checked them: global functions with these signatures.
#define LTRT_DECLARE_HOOK(name, params) void name params;
LTRT_HOOK_LIST(LTRT_DECLARE_HOOK)
#undef LTRT_DECLARE_HOOK

#ifdef LTRT_USER_HOOKS
#include LTRT_USER_HOOKS
#else
// A program without a hooks file (and the runtime's own tests): no hooks.
namespace ltrt::user_hooks {
#define LTRT_NO_HOOK(name, params) inline constexpr bool name = false;
LTRT_HOOK_LIST(LTRT_NO_HOOK)
#undef LTRT_NO_HOOK
}  // namespace ltrt::user_hooks
#endif

namespace ltrt::user_hooks {
#define LTRT_OR_HOOK(name, params) || name
inline constexpr bool any = false LTRT_HOOK_LIST(LTRT_OR_HOOK);
#undef LTRT_OR_HOOK
// These hooks run between forward and backward: the step is then the model's training_forward and
// training_backward instead of its fused training_step.
inline constexpr bool split_step = on_before_zero_grad || on_before_backward || on_after_backward;
// Hooks inside the training step: the trainer then runs it in pieces on the host arena, not as the
// backend's one call.
inline constexpr bool in_step = split_step || on_before_optimizer_step;
}  // namespace ltrt::user_hooks

// Calls hook `name` with `args` when the hooks file defines it; `owner` names the hook running (for
// on_exception's message) and refreshes its Trainer around the call (begin_hook / end_hook).
#define LTRT_USER_HOOK(owner, name, args)   \
  if constexpr (::ltrt::user_hooks::name) { \
    (owner).begin_hook(#name);              \
    ::name args;                            \
    (owner).end_hook();                     \
  }
