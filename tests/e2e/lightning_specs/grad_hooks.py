"""grad_hooks.cpp as a Lightning Callback: lightning_parity.py adds `Hooks()` to the Lightning
script's Trainer and compares its HOOK lines with the generated program's."""
import math

from lightning.pytorch.callbacks import Callback


def _grad_sum_of_squares(module):
    # ltgen's grad() of a parameter that has none yet (before the first backward) is zeros.
    return sum(float(p.grad.double().pow(2).sum()) for p in module.parameters() if p.grad is not None)


def _number(x):
    return "inf" if math.isinf(x) and x > 0 else "-inf" if math.isinf(x) else "nan" if math.isnan(x) else f"{x:.9g}"


class Hooks(Callback):
    def on_before_zero_grad(self, trainer, pl_module, optimizer):
        print(f"HOOK on_before_zero_grad step={trainer.global_step} grad_sq={_number(_grad_sum_of_squares(pl_module))}")

    def on_before_backward(self, trainer, pl_module, loss):
        print(f"HOOK on_before_backward step={trainer.global_step} loss={_number(float(loss))}")

    def on_after_backward(self, trainer, pl_module):
        print(f"HOOK on_after_backward step={trainer.global_step} grad_sq={_number(_grad_sum_of_squares(pl_module))}")

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        lr = optimizer.param_groups[0]["lr"]
        print(f"HOOK on_before_optimizer_step step={trainer.global_step} "
              f"grad_sq={_number(_grad_sum_of_squares(pl_module))} lr={_number(lr)}")
