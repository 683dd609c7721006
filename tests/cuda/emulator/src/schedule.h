// The emulator's schedule: the order in which a launch's blocks run, and in which a block's
// threads run between barriers. A GPU promises neither order, so a kernel whose result changes
// with the schedule has a race (see ltgen_emu::set_schedule in cuda_runtime.h).
#pragma once

namespace ltgen_emu {

// Fills slots[0..n) with 0..n-1 in the order the schedule runs them: blocks of a launch
// (linear index) or the runnable threads of a block for one round between barriers.
void arrange(int* slots, int n);

}  // namespace ltgen_emu
