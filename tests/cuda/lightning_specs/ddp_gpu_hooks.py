"""ddp_gpu_hooks.cpp as a Lightning Callback: rank 1's averaged gradients after each backward and
its validation batches' losses (lightning_parity.py compares the HOOK lines)."""
from lightning.pytorch.callbacks import Callback


def _grad_sum_of_squares(module):
    return sum(float(p.grad.double().pow(2).sum()) for p in module.parameters() if p.grad is not None)


class Hooks(Callback):
    def on_after_backward(self, trainer, pl_module):
        if trainer.global_rank == 1:
            print(f"HOOK rank1_after_backward step={trainer.global_step} grad_sq={_grad_sum_of_squares(pl_module):.9g}",
                  flush=True)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if trainer.global_rank == 1:
            print(f"HOOK rank1_validation_batch_end step={trainer.global_step} batch={batch_idx} "
                  f"loss={float(outputs):.9g}", flush=True)
