// The hooks that specs/linear_hooks.cpp defines (copied here as hooks.cpp), as ltgen 0.1.0
// found them with Clang. The runtime is compiled with LTRT_USER_HOOKS naming this file and
// calls the hooks marked true directly; the others compile to nothing (ltrt/hook_calls.hpp).
#pragma once

namespace ltrt::user_hooks {

inline constexpr bool setup = false;
inline constexpr bool on_fit_start = false;
inline constexpr bool on_sanity_check_start = false;
inline constexpr bool on_sanity_check_end = false;
inline constexpr bool on_train_start = false;
inline constexpr bool on_train_epoch_start = false;
inline constexpr bool on_train_batch_start = true;
inline constexpr bool on_before_zero_grad = false;
inline constexpr bool on_before_backward = false;
inline constexpr bool on_after_backward = true;
inline constexpr bool on_before_optimizer_step = false;
inline constexpr bool on_train_batch_end = false;
inline constexpr bool on_train_epoch_end = true;
inline constexpr bool on_train_end = false;
inline constexpr bool on_fit_end = false;
inline constexpr bool teardown = false;
inline constexpr bool on_validation_start = false;
inline constexpr bool on_validation_epoch_start = false;
inline constexpr bool on_validation_batch_start = false;
inline constexpr bool on_validation_batch_end = false;
inline constexpr bool on_validation_epoch_end = false;
inline constexpr bool on_validation_end = true;
inline constexpr bool on_test_start = false;
inline constexpr bool on_test_epoch_start = false;
inline constexpr bool on_test_batch_start = false;
inline constexpr bool on_test_batch_end = false;
inline constexpr bool on_test_epoch_end = false;
inline constexpr bool on_test_end = false;
inline constexpr bool on_predict_start = false;
inline constexpr bool on_predict_epoch_start = false;
inline constexpr bool on_predict_batch_start = false;
inline constexpr bool on_predict_batch_end = false;
inline constexpr bool on_predict_epoch_end = false;
inline constexpr bool on_predict_end = false;
inline constexpr bool on_save_checkpoint = false;
inline constexpr bool on_load_checkpoint = false;
inline constexpr bool on_exception = false;

}  // namespace ltrt::user_hooks
