// The x86-64 fiber switch that fiber_context.h declares.
#include "fiber_context.h"

#if LTGEN_EMU_OWN_CONTEXT_SWITCH
// ltgen_emu_switch_context(save, load) (fiber_context.h): pushes the callee-saved registers and the
// control words, stores the stack pointer in *save, switches to load and pops the same from there.
asm(R"(
  .pushsection .text
  .p2align 4
  .globl ltgen_emu_switch_context
  .type ltgen_emu_switch_context, @function
ltgen_emu_switch_context:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $16, %rsp
  stmxcsr 8(%rsp)
  fnstcw (%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr 8(%rsp)
  fldcw (%rsp)
  addq $16, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ltgen_emu_switch_context, .-ltgen_emu_switch_context
  .popsection
)");
#endif
