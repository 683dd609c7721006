// Every hook a user's hooks file may define, with its signature: the one list
// that ltgen checks hook files against (generator/check_hooks.cpp) and that the
// trainer calls from (ltrt/hook_calls.hpp). X(name, parameters) per hook, in
// the order Lightning 2.x calls them in a fit.
//
// Batch hooks get the batch index; on_train_batch_end and on_before_backward
// also get the loss that Lightning hands them (outputs["loss"] and the closure
// loss): the batch's loss divided by accumulate_grad_batches. The validation
// and test batch ends get the batch's loss. setup and teardown get the stage,
// Lightning's TrainerFn value: "fit", "validate", "test" or "predict".
#pragma once

// ltgen quotes the parameters in its messages as they are written here.
// clang-format off
#define LTRT_HOOK_LIST(X)                                                                   \
  X(setup, (ltrt::Trainer& trainer, const std::string& stage))                             \
  X(on_fit_start, (ltrt::Trainer& trainer))                                                \
  X(on_sanity_check_start, (ltrt::Trainer& trainer))                                       \
  X(on_sanity_check_end, (ltrt::Trainer& trainer))                                         \
  X(on_train_start, (ltrt::Trainer& trainer))                                              \
  X(on_train_epoch_start, (ltrt::Trainer& trainer))                                        \
  X(on_train_batch_start, (ltrt::Trainer& trainer, std::int64_t batch_idx))                \
  X(on_before_zero_grad, (ltrt::Trainer& trainer))                                         \
  X(on_before_backward, (ltrt::Trainer& trainer, float loss))                              \
  X(on_after_backward, (ltrt::Trainer& trainer))                                           \
  X(on_before_optimizer_step, (ltrt::Trainer& trainer))                                    \
  X(on_train_batch_end, (ltrt::Trainer& trainer, std::int64_t batch_idx, float loss))      \
  X(on_train_epoch_end, (ltrt::Trainer& trainer))                                          \
  X(on_train_end, (ltrt::Trainer& trainer))                                                \
  X(on_fit_end, (ltrt::Trainer& trainer))                                                  \
  X(teardown, (ltrt::Trainer& trainer, const std::string& stage))                          \
  X(on_validation_start, (ltrt::Trainer& trainer))                                         \
  X(on_validation_epoch_start, (ltrt::Trainer& trainer))                                   \
  X(on_validation_batch_start, (ltrt::Trainer& trainer, std::int64_t batch_idx))           \
  X(on_validation_batch_end, (ltrt::Trainer& trainer, std::int64_t batch_idx, float loss)) \
  X(on_validation_epoch_end, (ltrt::Trainer& trainer))                                     \
  X(on_validation_end, (ltrt::Trainer& trainer))                                           \
  X(on_test_start, (ltrt::Trainer& trainer))                                               \
  X(on_test_epoch_start, (ltrt::Trainer& trainer))                                         \
  X(on_test_batch_start, (ltrt::Trainer& trainer, std::int64_t batch_idx))                 \
  X(on_test_batch_end, (ltrt::Trainer& trainer, std::int64_t batch_idx, float loss))       \
  X(on_test_epoch_end, (ltrt::Trainer& trainer))                                           \
  X(on_test_end, (ltrt::Trainer& trainer))                                                 \
  X(on_predict_start, (ltrt::Trainer& trainer))                                            \
  X(on_predict_epoch_start, (ltrt::Trainer& trainer))                                      \
  X(on_predict_batch_start, (ltrt::Trainer& trainer, std::int64_t batch_idx))              \
  X(on_predict_batch_end, (ltrt::Trainer& trainer, std::int64_t batch_idx))                \
  X(on_predict_epoch_end, (ltrt::Trainer& trainer))                                        \
  X(on_predict_end, (ltrt::Trainer& trainer))                                              \
  X(on_save_checkpoint, (ltrt::Trainer& trainer))                                          \
  X(on_load_checkpoint, (ltrt::Trainer& trainer))                                          \
  X(on_exception, (ltrt::Trainer& trainer, const std::exception& exception))
// clang-format on
