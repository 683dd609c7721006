#!/usr/bin/env python3
"""hooks_lightning_order: the hook orders that tests/e2e/hooks_test.py writes out by hand
(expected_fit_order, EXPECTED_TEST_ORDER) are the ones real PyTorch Lightning calls.

  hooks_lightning_order.py --work DIR        (run with the Python of /opt/ltgen/lightning-venv)

The run of tests/e2e/hooks/order.json, in Lightning: a Linear(4, 1) with MSELoss and SGD, 8
training samples in batches of 2, 4 validation and 4 test samples, max_epochs 2,
accumulate_grad_batches 2, num_sanity_val_steps 1, the default ModelCheckpoint; one Callback
records every hook as the C++ hooks file does ("name epoch=E step=S[ sanity][ batch=B]"). Then
trainer.validate, trainer.test and trainer.predict with the fit's checkpoint, each on a new Trainer,
as `test --ckpt_path=last` is a new process. Then tests/e2e/hooks/resume.json's fit (a ReduceLROnPlateau, a ModelCheckpoint every 3
steps; the epoch hooks print the lr), and that fit resumed from its mid-epoch checkpoint.
hooks_test.py compares the generated program with the same lists, so the program's order is
Lightning's.
"""
import argparse
import os
import shutil

import torch
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset

import common
import hooks_test
from common import check


class Recorder(pl.Callback):
    """Every hook the C++ hooks API has, as tests/e2e/hooks/order_hooks.cpp prints them."""

    def __init__(self):
        self.lines = []

    def record(self, hook, trainer, batch_idx=None):
        line = f"{hook} epoch={trainer.current_epoch} step={trainer.global_step}"
        if trainer.sanity_checking:
            line += " sanity"
        if batch_idx is not None:
            line += f" batch={batch_idx}"
        self.lines.append(line)

    # stage is a TrainerFn, whose value the C++ hooks get
    def setup(self, trainer, pl_module, stage): self.record(f"setup stage={stage.value}", trainer)
    def teardown(self, trainer, pl_module, stage): self.record(f"teardown stage={stage.value}", trainer)
    def on_fit_start(self, trainer, pl_module): self.record("on_fit_start", trainer)
    def on_fit_end(self, trainer, pl_module): self.record("on_fit_end", trainer)
    def on_sanity_check_start(self, trainer, pl_module): self.record("on_sanity_check_start", trainer)
    def on_sanity_check_end(self, trainer, pl_module): self.record("on_sanity_check_end", trainer)
    def on_train_start(self, trainer, pl_module): self.record("on_train_start", trainer)
    def on_train_end(self, trainer, pl_module): self.record("on_train_end", trainer)
    def on_train_epoch_start(self, trainer, pl_module): self.record("on_train_epoch_start", trainer)
    def on_train_epoch_end(self, trainer, pl_module): self.record("on_train_epoch_end", trainer)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.record("on_train_batch_start", trainer, batch_idx)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.record("on_train_batch_end", trainer, batch_idx)

    def on_validation_start(self, trainer, pl_module): self.record("on_validation_start", trainer)
    def on_validation_end(self, trainer, pl_module): self.record("on_validation_end", trainer)
    def on_validation_epoch_start(self, trainer, pl_module): self.record("on_validation_epoch_start", trainer)
    def on_validation_epoch_end(self, trainer, pl_module): self.record("on_validation_epoch_end", trainer)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.record("on_validation_batch_start", trainer, batch_idx)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.record("on_validation_batch_end", trainer, batch_idx)

    def on_test_start(self, trainer, pl_module): self.record("on_test_start", trainer)
    def on_test_end(self, trainer, pl_module): self.record("on_test_end", trainer)
    def on_test_epoch_start(self, trainer, pl_module): self.record("on_test_epoch_start", trainer)
    def on_test_epoch_end(self, trainer, pl_module): self.record("on_test_epoch_end", trainer)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.record("on_test_batch_start", trainer, batch_idx)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.record("on_test_batch_end", trainer, batch_idx)

    def on_predict_start(self, trainer, pl_module): self.record("on_predict_start", trainer)
    def on_predict_end(self, trainer, pl_module): self.record("on_predict_end", trainer)
    def on_predict_epoch_start(self, trainer, pl_module): self.record("on_predict_epoch_start", trainer)
    def on_predict_epoch_end(self, trainer, pl_module): self.record("on_predict_epoch_end", trainer)

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.record("on_predict_batch_start", trainer, batch_idx)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.record("on_predict_batch_end", trainer, batch_idx)

    def on_before_zero_grad(self, trainer, pl_module, optimizer): self.record("on_before_zero_grad", trainer)
    def on_before_backward(self, trainer, pl_module, loss): self.record("on_before_backward", trainer)
    def on_after_backward(self, trainer, pl_module): self.record("on_after_backward", trainer)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.record("on_before_optimizer_step", trainer)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint): self.record("on_save_checkpoint", trainer)
    def on_load_checkpoint(self, trainer, pl_module, checkpoint): self.record("on_load_checkpoint", trainer)
    def on_exception(self, trainer, pl_module, exception): self.record("on_exception", trainer)


class Model(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(4, 1))

    def step(self, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layers(x), y)

    def training_step(self, batch, batch_idx):
        return self.step(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self.step(batch))

    def test_step(self, batch, batch_idx):
        self.log("test_loss", self.step(batch))

    def predict_step(self, batch, batch_idx):
        return self.layers(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class ResumeRecorder(pl.Callback):
    """The hooks tests/e2e/hooks/resume_hooks.cpp prints."""

    def __init__(self):
        self.lines = []

    def record(self, hook, trainer, lr=False):
        line = f"{hook} epoch={trainer.current_epoch} step={trainer.global_step}"
        if trainer.sanity_checking:
            line += " sanity"
        if lr:
            line += f" lr={trainer.optimizers[0].param_groups[0]['lr']:g}"
        self.lines.append(line)

    def on_fit_start(self, trainer, pl_module): self.record("on_fit_start", trainer)
    def on_fit_end(self, trainer, pl_module): self.record("on_fit_end", trainer)
    def on_train_start(self, trainer, pl_module): self.record("on_train_start", trainer)
    def on_train_end(self, trainer, pl_module): self.record("on_train_end", trainer)
    def on_train_epoch_start(self, trainer, pl_module): self.record("on_train_epoch_start", trainer, lr=True)
    def on_train_epoch_end(self, trainer, pl_module): self.record("on_train_epoch_end", trainer, lr=True)
    def on_validation_start(self, trainer, pl_module): self.record("on_validation_start", trainer)
    def on_save_checkpoint(self, trainer, pl_module, checkpoint): self.record("on_save_checkpoint", trainer)
    def on_load_checkpoint(self, trainer, pl_module, checkpoint): self.record("on_load_checkpoint", trainer)


class PlateauModel(Model):
    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.1)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5, threshold=1e9,
                                                             threshold_mode="abs")
        return {"optimizer": opt, "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss"}}


def resume_trainer(root, recorder):
    every3 = pl.callbacks.ModelCheckpoint(dirpath=os.path.join(root, "checkpoints"), every_n_train_steps=3,
                                          save_top_k=-1)
    return pl.Trainer(max_epochs=3, num_sanity_val_steps=1, accelerator="cpu", devices=1, enable_progress_bar=False,
                      enable_model_summary=False, logger=False, default_root_dir=root, callbacks=[recorder, every3])


def run_resume(work):
    gen = torch.Generator().manual_seed(3)
    train, val = loader(8, gen), loader(4, gen)
    first, resumed = ResumeRecorder(), ResumeRecorder()
    resume_trainer(os.path.join(work, "first"), first).fit(PlateauModel(), train, val)
    hooks_test.compare(first.lines, hooks_test.RESUME_FIT_ORDER, "Lightning's fit")
    ckpt = os.path.join(work, "first", "checkpoints", hooks_test.RESUME_FROM + ".ckpt")
    check(os.path.isfile(ckpt), f"Lightning wrote no {ckpt}")
    resume_trainer(os.path.join(work, "resumed"), resumed).fit(PlateauModel(), train, val, ckpt_path=ckpt)
    hooks_test.compare(resumed.lines, hooks_test.RESUMED_FIT_ORDER, "Lightning's resumed fit")
    # The known difference (README, "Not supported yet"): from the last batch's checkpoint Lightning
    # skips that epoch's validation and end; the program runs them.
    last = ResumeRecorder()
    ckpt = os.path.join(work, "first", "checkpoints", hooks_test.RESUME_LAST_FROM + ".ckpt")
    resume_trainer(os.path.join(work, "resumed_last"), last).fit(PlateauModel(), train, val, ckpt_path=ckpt)
    hooks_test.compare(last.lines, hooks_test.LIGHTNING_RESUMED_LAST, "Lightning's fit resumed from the last batch")
    return len(first.lines) + len(resumed.lines) + len(last.lines)


def loader(n, gen):
    return DataLoader(TensorDataset(torch.randn(n, 4, generator=gen), torch.randn(n, 1, generator=gen)), batch_size=2)


def trainer(root, recorder):
    return pl.Trainer(max_epochs=2, accumulate_grad_batches=2, num_sanity_val_steps=1, accelerator="cpu", devices=1,
                      enable_progress_bar=False, enable_model_summary=False, logger=False, default_root_dir=root,
                      callbacks=[recorder])


def run(args):
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    gen = torch.Generator().manual_seed(3)
    train, val, test = loader(8, gen), loader(4, gen), loader(4, gen)
    pl.seed_everything(3)
    fit_recorder = Recorder()
    fit_trainer = trainer(args.work, fit_recorder)
    fit_trainer.fit(Model(), train, val)
    hooks_test.compare(fit_recorder.lines, hooks_test.expected_fit_order(), "Lightning's fit")
    ckpt = fit_trainer.checkpoint_callback.best_model_path
    check(os.path.isfile(ckpt), f"Lightning wrote no checkpoint ({ckpt!r})")
    eval_lines = 0
    for stage, want in (("validate", hooks_test.EXPECTED_VALIDATE_ORDER), ("test", hooks_test.EXPECTED_TEST_ORDER),
                        ("predict", hooks_test.EXPECTED_PREDICT_ORDER)):
        recorder = Recorder()
        getattr(trainer(args.work, recorder), stage)(Model(), test, ckpt_path=ckpt)
        hooks_test.compare(recorder.lines, want, f"Lightning's {stage}")
        eval_lines += len(recorder.lines)
    # An exception in fit: on_exception, and no teardown (hooks_test.py's throw case expects the same).
    class Throwing(Recorder):
        def on_train_epoch_end(self, trainer, pl_module):
            raise RuntimeError("boom")
    throwing = Throwing()
    try:
        trainer(os.path.join(args.work, "throw"), throwing).fit(Model(), train, val)
        check(False, "Lightning's fit did not raise the hook's exception")
    except RuntimeError as e:
        check(str(e) == "boom", f"Lightning's fit raised {e!r}")
    check(throwing.lines[-1] == "on_exception epoch=0 step=2" and not any(l.startswith("teardown") for l in throwing.lines),
          f"after an exception Lightning calls on_exception last and no teardown: {throwing.lines[-3:]}")
    resume_lines = run_resume(args.work)
    print(f"Lightning {pl.__version__}: {len(fit_recorder.lines)} fit, {eval_lines} validate, test and predict, and "
          f"{resume_lines} resume hook calls, in the order hooks_test.py expects of the generated program")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True)
    args = p.parse_args()
    common.main(lambda: run(args))
