// The fit loop's hooks, each printing one line (the epoch hooks with the learning rate): the test
// compares a fit resumed from a mid-epoch checkpoint with Lightning's.
#include <cstdio>
#include <ltrt/hooks.hpp>

namespace {

void log(const char* hook, const ltrt::Trainer& t) {
  std::printf("HOOK %s epoch=%lld step=%lld%s\n", hook, static_cast<long long>(t.current_epoch),
              static_cast<long long>(t.global_step), t.sanity_checking ? " sanity" : "");
}

void log_lr(const char* hook, const ltrt::Trainer& t) {
  std::printf("HOOK %s epoch=%lld step=%lld lr=%g\n", hook, static_cast<long long>(t.current_epoch),
              static_cast<long long>(t.global_step), t.lr());
}

}  // namespace

void on_fit_start(ltrt::Trainer& trainer) { log("on_fit_start", trainer); }
void on_fit_end(ltrt::Trainer& trainer) { log("on_fit_end", trainer); }
void on_train_start(ltrt::Trainer& trainer) { log("on_train_start", trainer); }
void on_train_end(ltrt::Trainer& trainer) { log("on_train_end", trainer); }
void on_train_epoch_start(ltrt::Trainer& trainer) { log_lr("on_train_epoch_start", trainer); }
void on_train_epoch_end(ltrt::Trainer& trainer) { log_lr("on_train_epoch_end", trainer); }
void on_validation_start(ltrt::Trainer& trainer) { log("on_validation_start", trainer); }
void on_save_checkpoint(ltrt::Trainer& trainer) { log("on_save_checkpoint", trainer); }
void on_load_checkpoint(ltrt::Trainer& trainer) { log("on_load_checkpoint", trainer); }
