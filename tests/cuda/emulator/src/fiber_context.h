// Switching between fibers (the emulated threads) on one OS thread. glibc's swapcontext saves and
// restores the signal mask with a system call (rt_sigprocmask) at every switch, and an emulated
// step switches millions of times (every barrier, shuffle and mma of every thread): that call was
// most of the emulator's time. On x86-64 the switch is a few instructions of our own instead,
// saving what the System V ABI has a callee preserve (rbx, rbp, r12-r15, the stack pointer, and
// the SSE and x87 control words); elsewhere (and on x32, or outside ELF) it stays ucontext. It
// does not know CET shadow stacks, which Debian 12's glibc leaves off.
#pragma once

#include <cstddef>

#if defined(__x86_64__) && defined(__ELF__) && !defined(__ILP32__)
#define LTGEN_EMU_OWN_CONTEXT_SWITCH 1  // fiber_context.cpp has the switch
#else
#define LTGEN_EMU_OWN_CONTEXT_SWITCH 0
#endif

#if LTGEN_EMU_OWN_CONTEXT_SWITCH

namespace ltgen_emu {

struct FiberContext {
  void* stack_pointer = nullptr;  // where the suspended fiber's saved registers are
};

extern "C" void ltgen_emu_switch_context(void** save_stack_pointer, void* load_stack_pointer);

// Prepares `fiber` to start in `entry` (which must never return) on [stack, stack + bytes).
inline void start_context(FiberContext& fiber, std::byte* stack, std::size_t bytes, void (*entry)()) {
  // The frame ltgen_emu_switch_context pops: control words, six registers, the return address
  // (entry, entered as if called: its stack pointer is 8 past a multiple of 16), and a zero
  // where entry's own return address would be.
  auto* top = reinterpret_cast<unsigned long*>(reinterpret_cast<std::size_t>(stack + bytes) / 16 * 16);
  unsigned int mxcsr;
  unsigned short fpu_control;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpu_control));
  unsigned long* frame = top - 10;  // 16-byte aligned, so entry starts 8 past a multiple of 16
  frame[0] = fpu_control;
  frame[1] = mxcsr;
  for (int i = 2; i < 8; ++i) frame[i] = 0;  // r15, r14, r13, r12, rbx, rbp
  frame[8] = reinterpret_cast<unsigned long>(entry);
  frame[9] = 0;
  fiber.stack_pointer = frame;
}

inline void switch_context(FiberContext& save, FiberContext& load) {
  ltgen_emu_switch_context(&save.stack_pointer, load.stack_pointer);
}

}  // namespace ltgen_emu

#else

#include <ucontext.h>

namespace ltgen_emu {

struct FiberContext {
  ucontext_t context;
};

inline void start_context(FiberContext& fiber, std::byte* stack, std::size_t bytes, void (*entry)()) {
  getcontext(&fiber.context);
  fiber.context.uc_stack.ss_sp = stack;
  fiber.context.uc_stack.ss_size = bytes;
  fiber.context.uc_link = nullptr;
  makecontext(&fiber.context, entry, 0);
}

inline void switch_context(FiberContext& save, FiberContext& load) { swapcontext(&save.context, &load.context); }

}  // namespace ltgen_emu

#endif
