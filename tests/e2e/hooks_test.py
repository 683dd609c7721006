#!/usr/bin/env python3
"""hooks_<case>: user hooks files (spec "hooks") end to end.

  hooks_test.py --ltgen PATH --work DIR --case order|stop|throw|throw_save|throw_on_exception_checkpoint|groups_lr|
                                               resume|resume_lr|persistent_mid_step|lr_finder_order

order: every hook prints a line; a fit with a sanity check, validation, gradient accumulation and
the default ModelCheckpoint, then `validate`, `test` and `predict` with `--ckpt_path=last`, must
call them in Lightning 2.x's order,
written out below from lightning/pytorch/loops (fit_loop, training_epoch_loop, optimization/
automatic.py's closure, evaluation_loop) and trainer/call.py, with the user's hooks as one more
Callback ahead of the ModelCheckpoint (hooks_lightning_order.py records the same run in real
Lightning and checks it against these lists). stop: should_stop set in on_train_batch_end stops fit as
Lightning does (validation still runs, the epoch ends, fit stops). throw: a hook that throws runs
on_exception, the program exits 1 naming the hook, and the last checkpoint stays loadable
(throw_save, throw_on_exception_checkpoint: the checkpoints saved on the exception).
groups_lr: a hook reads and sets one parameter group's learning rate; the scheduler's next steps
build on it as torch's do (a frozen parameter, model.freeze, has no gradient for hooks). resume:
a fit resumed from a mid-epoch checkpoint calls Lightning's hooks (no sanity check, no second
start of the resumed epoch) and leaves out the ReduceLROnPlateau step at that epoch's end, as
Lightning does (hooks_lightning_order.py records it in Lightning), and one resumed from the last
batch's checkpoint finishes that epoch as the uninterrupted fit did (Lightning skips it).
resume_lr: an lr a hook set survives a resume, as torch's optimizer.load_state_dict restores it.
persistent_mid_step: a checkpoint saved inside a training step, or in on_train_epoch_start, under
persistent DataLoader workers resumes to the uninterrupted fit's weights. lr_finder_order: the module's
on_fit_start follows LearningRateFinder's and sees its lr.
"""
import argparse
import json
import os
import shutil
import sys

import common
from common import check, Failure

HERE = os.path.dirname(os.path.abspath(__file__))


def hook_lines(stdout):
    return [line[len("HOOK "):] for line in stdout.splitlines() if line.startswith("HOOK ")]


def expected_fit_order():
    """Lightning's order for order.json: 4 batches an epoch, accumulate_grad_batches=2, 2 val
    batches, num_sanity_val_steps=1, 2 epochs; ModelCheckpoint saves on train epoch end (val runs
    every epoch, val_check_interval=1.0), after the user's on_train_epoch_end."""
    e = []
    e += ["setup stage=fit epoch=0 step=0",
          "on_fit_start epoch=0 step=0"]
    # sanity check: the validation hooks with trainer.sanity_checking, inside the sanity check's own
    e += ["on_sanity_check_start epoch=0 step=0 sanity",
          "on_validation_start epoch=0 step=0 sanity",
          "on_validation_epoch_start epoch=0 step=0 sanity",
          "on_validation_batch_start epoch=0 step=0 sanity batch=0",
          "on_validation_batch_end epoch=0 step=0 sanity batch=0",
          "on_validation_epoch_end epoch=0 step=0 sanity",
          "on_validation_end epoch=0 step=0 sanity",
          "on_sanity_check_end epoch=0 step=0 sanity"]
    e += ["on_train_start epoch=0 step=0"]
    # epoch 0
    e += ["on_train_epoch_start epoch=0 step=0",
          "on_train_batch_start epoch=0 step=0 batch=0",
          "on_before_zero_grad epoch=0 step=0",      # first batch of an accumulation group
          "on_before_backward epoch=0 step=0",
          "on_after_backward epoch=0 step=0",
          "on_train_batch_end epoch=0 step=0 batch=0",
          "on_train_batch_start epoch=0 step=0 batch=1",
          "on_before_backward epoch=0 step=0",
          "on_after_backward epoch=0 step=0",
          "on_before_optimizer_step epoch=0 step=0",  # the group's last batch steps
          "on_train_batch_end epoch=0 step=1 batch=1",
          "on_train_batch_start epoch=0 step=1 batch=2",
          "on_before_zero_grad epoch=0 step=1",
          "on_before_backward epoch=0 step=1",
          "on_after_backward epoch=0 step=1",
          "on_train_batch_end epoch=0 step=1 batch=2",
          "on_train_batch_start epoch=0 step=1 batch=3",
          "on_before_backward epoch=0 step=1",
          "on_after_backward epoch=0 step=1",
          "on_before_optimizer_step epoch=0 step=1",
          "on_train_batch_end epoch=0 step=2 batch=3",
          "on_validation_start epoch=0 step=2",
          "on_validation_epoch_start epoch=0 step=2",
          "on_validation_batch_start epoch=0 step=2 batch=0",
          "on_validation_batch_end epoch=0 step=2 batch=0",
          "on_validation_batch_start epoch=0 step=2 batch=1",
          "on_validation_batch_end epoch=0 step=2 batch=1",
          "on_validation_epoch_end epoch=0 step=2",
          "on_validation_end epoch=0 step=2",
          "on_train_epoch_end epoch=0 step=2",
          "on_save_checkpoint epoch=0 step=2"]      # ModelCheckpoint.on_train_epoch_end
    # epoch 1
    e += ["on_train_epoch_start epoch=1 step=2",
          "on_train_batch_start epoch=1 step=2 batch=0",
          "on_before_zero_grad epoch=1 step=2",
          "on_before_backward epoch=1 step=2",
          "on_after_backward epoch=1 step=2",
          "on_train_batch_end epoch=1 step=2 batch=0",
          "on_train_batch_start epoch=1 step=2 batch=1",
          "on_before_backward epoch=1 step=2",
          "on_after_backward epoch=1 step=2",
          "on_before_optimizer_step epoch=1 step=2",
          "on_train_batch_end epoch=1 step=3 batch=1",
          "on_train_batch_start epoch=1 step=3 batch=2",
          "on_before_zero_grad epoch=1 step=3",
          "on_before_backward epoch=1 step=3",
          "on_after_backward epoch=1 step=3",
          "on_train_batch_end epoch=1 step=3 batch=2",
          "on_train_batch_start epoch=1 step=3 batch=3",
          "on_before_backward epoch=1 step=3",
          "on_after_backward epoch=1 step=3",
          "on_before_optimizer_step epoch=1 step=3",
          "on_train_batch_end epoch=1 step=4 batch=3",
          "on_validation_start epoch=1 step=4",
          "on_validation_epoch_start epoch=1 step=4",
          "on_validation_batch_start epoch=1 step=4 batch=0",
          "on_validation_batch_end epoch=1 step=4 batch=0",
          "on_validation_batch_start epoch=1 step=4 batch=1",
          "on_validation_batch_end epoch=1 step=4 batch=1",
          "on_validation_epoch_end epoch=1 step=4",
          "on_validation_end epoch=1 step=4",
          "on_train_epoch_end epoch=1 step=4",
          "on_save_checkpoint epoch=1 step=4"]
    # current_epoch counts completed epochs once the loop is done
    e += ["on_train_end epoch=2 step=4",
          "on_fit_end epoch=2 step=4",
          "teardown stage=fit epoch=2 step=4"]
    return e


def expected_eval_order(stage, loop):
    """trainer.<stage>(ckpt_path=...) on 2 batches: setup, restore_model's on_load_checkpoint, the
    <loop> hooks, teardown."""
    e = [f"setup stage={stage} epoch=0 step=0", "on_load_checkpoint epoch=0 step=0",
         f"on_{loop}_start epoch=0 step=0", f"on_{loop}_epoch_start epoch=0 step=0"]
    for b in range(2):
        e += [f"on_{loop}_batch_start epoch=0 step=0 batch={b}", f"on_{loop}_batch_end epoch=0 step=0 batch={b}"]
    return e + [f"on_{loop}_epoch_end epoch=0 step=0", f"on_{loop}_end epoch=0 step=0",
                f"teardown stage={stage} epoch=0 step=0"]


EXPECTED_VALIDATE_ORDER = expected_eval_order("validate", "validation")
EXPECTED_TEST_ORDER = expected_eval_order("test", "test")
EXPECTED_PREDICT_ORDER = expected_eval_order("predict", "predict")


# resume.json: 4 batches an epoch, one step each, a ModelCheckpoint every 3 steps, a
# ReduceLROnPlateau that halves the lr at every epoch's end after the first (threshold 1e9). The
# uninterrupted fit, then the fit resumed from epoch=1-step=6 (saved in epoch 1's on_train_batch_end).
RESUME_FIT_ORDER = [
    "on_fit_start epoch=0 step=0",
    "on_validation_start epoch=0 step=0 sanity",
    "on_train_start epoch=0 step=0",
    "on_train_epoch_start epoch=0 step=0 lr=0.1",
    "on_save_checkpoint epoch=0 step=3",
    "on_validation_start epoch=0 step=4",
    "on_train_epoch_end epoch=0 step=4 lr=0.1",
    "on_train_epoch_start epoch=1 step=4 lr=0.1",
    "on_save_checkpoint epoch=1 step=6",
    "on_validation_start epoch=1 step=8",
    "on_train_epoch_end epoch=1 step=8 lr=0.1",
    "on_train_epoch_start epoch=2 step=8 lr=0.05",
    "on_save_checkpoint epoch=2 step=9",
    "on_save_checkpoint epoch=2 step=12",
    "on_validation_start epoch=2 step=12",
    "on_train_epoch_end epoch=2 step=12 lr=0.05",
    "on_train_end epoch=3 step=12",
    "on_fit_end epoch=3 step=12",
]
# FitLoop.restarting: no sanity check, no on_train_epoch_start for the epoch that had started,
# and no ReduceLROnPlateau step at its end (so epoch 2 keeps lr 0.1).
RESUMED_FIT_ORDER = [
    "on_load_checkpoint epoch=0 step=0",
    "on_fit_start epoch=0 step=0",   # before Lightning restores the loops (restore_training_state)
    "on_train_start epoch=1 step=6",
    "on_validation_start epoch=1 step=8",
    "on_train_epoch_end epoch=1 step=8 lr=0.1",
    "on_train_epoch_start epoch=2 step=8 lr=0.1",
    "on_save_checkpoint epoch=2 step=9",
    "on_save_checkpoint epoch=2 step=12",
    "on_validation_start epoch=2 step=12",
    "on_train_epoch_end epoch=2 step=12 lr=0.1",
    "on_train_end epoch=3 step=12",
    "on_fit_end epoch=3 step=12",
]
RESUME_FROM = "epoch=1-step=6"
# From epoch=2-step=12, saved in the last batch's on_train_batch_end: the program finishes that
# batch (validation, epoch end) as the uninterrupted fit did. Lightning 2.6 instead counts epoch 2
# as done without them (FitLoop.reset on a restart at the last batch's end): LIGHTNING_RESUMED_LAST.
RESUME_LAST_FROM = "epoch=2-step=12"
RESUMED_LAST_FIT_ORDER = [
    "on_load_checkpoint epoch=0 step=0",
    "on_fit_start epoch=0 step=0",
    "on_train_start epoch=2 step=12",
    "on_validation_start epoch=2 step=12",
    "on_train_epoch_end epoch=2 step=12 lr=0.05",
    "on_train_end epoch=3 step=12",
    "on_fit_end epoch=3 step=12",
]
LIGHTNING_RESUMED_LAST = [
    "on_load_checkpoint epoch=0 step=0",
    "on_fit_start epoch=0 step=0",
    "on_train_start epoch=3 step=12",
    "on_train_end epoch=3 step=12",
    "on_fit_end epoch=3 step=12",
]


def compare(got, want, what):
    for i, (g, w) in enumerate(zip(got, want)):
        check(g == w, f"{what}: hook call {i} is '{g}', Lightning calls '{w}' there")
    check(len(got) == len(want), f"{what}: {len(got)} hook calls, Lightning makes {len(want)}")


def trained_state(run_dir):
    """The weights of the one checkpoint a fit in run_dir left, and its val_loss column."""
    from safetensors.numpy import load_file
    version = os.path.join(run_dir, "lightning_logs", "version_0")
    ckpts = os.listdir(os.path.join(version, "checkpoints"))
    check(len(ckpts) == 1, f"{version}/checkpoints holds {ckpts}")
    tensors = load_file(os.path.join(version, "checkpoints", ckpts[0]))
    with open(os.path.join(version, "metrics.csv")) as f:
        val = [line.strip() for line in f]
    return ckpts[0], {k: v for k, v in tensors.items() if k.startswith("state_dict.")}, val


def case_order(program, work, ltgen):
    rc, out, err = common.run_program(program, ["fit"])
    check(rc == 0, f"fit exited with {rc}: {err}")
    compare(hook_lines(out), expected_fit_order(), "fit")
    for stage, want in (("validate", EXPECTED_VALIDATE_ORDER), ("test", EXPECTED_TEST_ORDER),
                        ("predict", EXPECTED_PREDICT_ORDER)):
        rc, out, err = common.run_program(program, [stage, "--ckpt_path=last"])
        check(rc == 0, f"{stage} exited with {rc}: {err}")
        compare(hook_lines(out), want, stage)
    # The hooks between forward and backward make the step two functions (training_forward and
    # training_backward): it must train exactly as the fused training_step of the same spec without hooks.
    with open(os.path.join(HERE, "hooks", "order.json")) as f:
        spec = json.load(f)
    del spec["hooks"]
    plain_spec = os.path.join(work, "plain.json")
    with open(plain_spec, "w") as f:
        json.dump(spec, f)
    plain = common.generate(ltgen, plain_spec, os.path.join(work, "plain_project"))
    os.makedirs(os.path.join(work, "plain_run"))
    os.chdir(os.path.join(work, "plain_run"))
    rc, out, err = common.run_program(plain, ["fit"])
    check(rc == 0, f"the program without hooks exited with {rc}: {err}")
    name_h, weights_h, metrics_h = trained_state(work)
    name_p, weights_p, metrics_p = trained_state(os.path.join(work, "plain_run"))
    check(name_h == name_p, f"checkpoints {name_h} (hooks) and {name_p} (no hooks) differ")
    check(metrics_h == metrics_p, f"metrics.csv differs with hooks:\n{metrics_h}\nwithout:\n{metrics_p}")
    check(sorted(weights_h) == sorted(weights_p), "the checkpoints hold different tensors")
    for k in weights_h:
        check((weights_h[k] == weights_p[k]).all(), f"{k} differs between the split and the fused training step")


def case_stop(program, work, ltgen):
    rc, out, err = common.run_program(program, ["fit"])
    check(rc == 0, f"fit exited with {rc}: {err}")
    lines = hook_lines(out)
    # 6 batches an epoch: global_step 8 is epoch 1's batch 1. Lightning validates when should_stop is
    # set (TrainingEpochLoop._should_check_val_fx), ends the epoch and stops: no third epoch.
    want = ["weight shape=1x4 numel=4", "lr=0.05",
            "validation epoch=0 step=6 logged=1", "stop at epoch=1 batch=1", "validation epoch=1 step=8 logged=1",
            "end epoch=2 step=8 should_stop=1"]
    got = [" ".join(w for w in l.split() if not w.startswith("val_loss=")) for l in lines]
    compare(got, want, "should_stop")
    check("`Trainer.fit` stopped: `trainer.should_stop` was set." in out, f"fit did not stop for should_stop:\n{out}")
    ckpts = os.listdir(os.path.join(work, "lightning_logs", "version_0", "checkpoints"))
    check(ckpts == ["epoch=1-step=8.safetensors"], f"checkpoints {ckpts}, expected the stopping epoch's")
    # trainer.save_checkpoint in on_train_end: the same weights as the stopping epoch's checkpoint.
    from safetensors.numpy import load_file
    final = load_file(os.path.join(work, "final.safetensors"))
    last = load_file(os.path.join(work, "lightning_logs", "version_0", "checkpoints", ckpts[0]))
    check(sorted(final) == sorted(last), f"final.safetensors holds {sorted(final)}")
    for k in final:
        check((final[k] == last[k]).all(), f"{k} differs between final.safetensors and {ckpts[0]}")


def case_throw(program, work, ltgen):
    rc, out, err = common.run_program(program, ["fit"])
    check(rc == 1, f"a hook that throws must end the program with exit 1, got {rc}")
    check(hook_lines(out) == ["save epoch=0 step=4", "on_exception epoch=1: loss exploded at epoch 1"],
          f"expected the first epoch's checkpoint, then on_exception with the exception:\n{out}")
    ckpt_dir = os.path.join("lightning_logs", "version_0", "checkpoints")
    last = os.path.join(".", ckpt_dir, "epoch=0-step=4.safetensors")
    message = ("hooks_throw: error: hook on_train_epoch_end threw: loss exploded at epoch 1 "
               f"(the last checkpoint, {last}, is intact)")
    check(err.strip() == message, f"stderr is\n{err}\nexpected\n{message}")
    check(sorted(os.listdir(os.path.join(work, ckpt_dir))) == ["epoch=0-step=4.safetensors"],
          "the last checkpoint must be the only one, intact")
    from safetensors.numpy import load_file
    tensors = load_file(os.path.join(work, ckpt_dir, "epoch=0-step=4.safetensors"))
    check("state_dict.layers.0.weight" in tensors, f"the checkpoint does not load: {sorted(tensors)}")
    # and the program resumes from it (a fit that ends normally tears down)
    rc, out, err = common.run_program(program, ["fit", "--ckpt_path=" + last, "--trainer.max_epochs=1"])
    check(rc == 0, f"resuming from the intact checkpoint failed ({rc}): {err}")
    check(hook_lines(out)[-1:] == ["teardown stage=fit step=4"], f"a fit that ended normally must tear down:\n{out}")
    # A predict hook that throws: on_exception, no teardown, the hook named, no predictions written.
    rc, out, err = common.run_program(program, ["predict", "--ckpt_path=" + last])
    check(rc == 1, f"a predict hook that throws must end the program with exit 1, got {rc}")
    check(hook_lines(out) == ["on_exception epoch=0: prediction failed at batch 1"],
          f"expected on_exception alone (Lightning calls no teardown after an exception):\n{out}")
    message = "hooks_throw: error: hook on_predict_batch_end threw: prediction failed at batch 1"
    check(err.strip() == message, f"stderr is\n{err}\nexpected\n{message}")
    check(not os.path.exists(os.path.join(work, "predictions.npy")), "predict wrote predictions.npy after it failed")


def case_throw_save(program, work, ltgen):
    """throw.json's hooks with ModelCheckpoint(save_on_exception=True, save_last=True): Lightning 2.6
    (checked with it) calls the user's on_exception, then the ModelCheckpoint saves the state fit
    raised in under the usual name and as `last`, leaving the first epoch's file."""
    rc, out, err = common.run_program(program, ["fit"])
    check(rc == 1, f"a hook that throws must end the program with exit 1, got {rc}")
    compare(hook_lines(out), ["save epoch=0 step=4", "save epoch=0 step=4",
                              "on_exception epoch=1: loss exploded at epoch 1",
                              "save epoch=1 step=8", "save epoch=1 step=8"], "saves around the exception")
    ckpt_dir = os.path.join("lightning_logs", "version_0", "checkpoints")
    check("saved checkpoint to " + os.path.join(".", ckpt_dir, "epoch=1-step=8.safetensors") in out + err,
          f"no message about the checkpoint saved on the exception:\n{out}\n{err}")
    last = os.path.join(".", ckpt_dir, "last.safetensors")
    message = ("hooks_throw_save: error: hook on_train_epoch_end threw: loss exploded at epoch 1 "
               f"(the last checkpoint, {last}, is intact)")
    check(err.strip().endswith(message), f"stderr is\n{err}\nexpected it to end with\n{message}")
    files = sorted(os.listdir(os.path.join(work, ckpt_dir)))
    check(files == ["epoch=0-step=4.safetensors", "epoch=1-step=8.safetensors", "last.safetensors"],
          f"checkpoints: {files}")
    rc, out, err = common.run_program(program, ["fit", "--ckpt_path=" + last, "--trainer.max_epochs=2"])
    check(rc == 0, f"resuming from the checkpoint saved on the exception failed ({rc}): {err}")


def case_throw_on_exception_checkpoint(program, work, ltgen):
    """throw.json's hooks with OnExceptionCheckpoint(dirpath="crash") and no ModelCheckpoint (Lightning
    2.6 adds no default one beside a Checkpoint callback): the user's on_exception runs first (the
    hooks are one more Callback ahead of the Checkpoints), then the state fit raised in is saved as
    crash/on_exception.safetensors, which a resume starts from; a fit that ends normally removes it
    (the callback's teardown), under fast_dev_run too."""
    saved = os.path.join("crash", "on_exception.safetensors")
    os.makedirs("crash")
    with open(saved, "w") as f:
        f.write("left by an earlier run")
    rc, out, err = common.run_program(program, ["fit", "--trainer.max_epochs=1"])
    check(rc == 0, f"one epoch (no exception) exited with {rc}: {err}")
    check(not os.path.exists(saved), f"a fit that ended normally left {saved}")
    check(not os.path.exists(os.path.join("lightning_logs", "version_0", "checkpoints")),
          "a ModelCheckpoint was added beside the OnExceptionCheckpoint")
    # Under fast_dev_run the callback stays (Lightning's ModelCheckpoint skips saving there, it does not):
    # its teardown removes the file too.
    with open(saved, "w") as f:
        f.write("left by an earlier run")
    rc, out, err = common.run_program(program, ["fit", "--trainer.fast_dev_run=2"])
    check(rc == 0 and not os.path.exists(saved), f"fast_dev_run (exit {rc}) left {saved}: {err}")
    rc, out, err = common.run_program(program, ["fit"])
    check(rc == 1, f"a hook that throws must end the program with exit 1, got {rc}")
    compare(hook_lines(out), ["on_exception epoch=1: loss exploded at epoch 1", "save epoch=1 step=8"],
            "the save on the exception")
    check(err.strip().endswith("hooks_throw_on_exception_checkpoint: error: hook on_train_epoch_end threw: loss "
                               "exploded at epoch 1"), f"stderr is\n{err}")
    meta = common.checkpoint_metadata(saved)
    check((meta["epoch"], meta["global_step"]) == ("1", "8"), f"{saved} is of epoch {meta['epoch']}, step "
                                                               f"{meta['global_step']}: expected 1, 8")
    rc, out, err = common.run_program(program, ["fit", "--ckpt_path=" + saved, "--trainer.max_epochs=2"])
    check(rc == 0, f"resuming from the checkpoint saved on the exception failed ({rc}): {err}")
    check(not os.path.exists(saved), f"the resumed fit, which ended normally, left {saved}")


def case_groups_lr(program, work, ltgen):
    rc, out, err = common.run_program(program, ["fit"])
    check(rc == 0, f"fit exited with {rc}: {err}")
    compare(hook_lines(out), ["groups=2 lr0=0.2 lr1=0.1 lr=0.2", "requires_grad layers.0.bias=0 layers.0.weight=1",
                              "trainer.grad: 'layers.0.bias' is frozen (model.freeze): it has no gradient",
                              "set lr1=0.8 at step=3"], "group lrs in hooks")
    # torch: ExponentialLR(0.5) per step from each group's lr; set in on_train_batch_start of step 3
    # (after LearningRateMonitor logged that step's lr), the group's lr is 0.8 for step 3 and the
    # scheduler halves it from there.
    import csv
    import torch
    p = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD([{"params": [p[0]], "lr": 0.2}, {"params": [p[1]]}], lr=0.1)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    want = []
    for step in range(8):
        want.append((opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]))
        if step == 3:
            opt.param_groups[1]["lr"] = 0.8
        opt.step()
        sched.step()
    with open(os.path.join(work, "lightning_logs", "version_0", "metrics.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r.get("lr-SGD/biases")]
    got = [(float(r["lr-SGD/biases"]), float(r["lr-SGD/pg2"])) for r in rows]
    check(got == want, f"logged group lrs {got}, torch's {want}")


def case_resume(program, work, ltgen):
    rc, out, err = common.run_program(program, ["fit", "--trainer.default_root_dir=first"])
    check(rc == 0, f"fit exited with {rc}: {err}")
    compare(hook_lines(out), RESUME_FIT_ORDER, "fit")
    ckpt = os.path.join("first", "checkpoints", RESUME_FROM + ".safetensors")
    check(os.path.isfile(ckpt), f"fit wrote no {ckpt}: {sorted(os.listdir(os.path.dirname(ckpt)))}")
    rc, out, err = common.run_program(program, ["fit", "--trainer.default_root_dir=resumed", "--ckpt_path=" + ckpt])
    check(rc == 0, f"the resumed fit exited with {rc}: {err}")
    compare(hook_lines(out), RESUMED_FIT_ORDER, "fit resumed from " + RESUME_FROM)
    last = os.path.join("first", "checkpoints", RESUME_LAST_FROM + ".safetensors")
    rc, out, err = common.run_program(program, ["fit", "--trainer.default_root_dir=resumed_last", "--ckpt_path=" + last])
    check(rc == 0, f"the fit resumed from {last} exited with {rc}: {err}")
    compare(hook_lines(out), RESUMED_LAST_FIT_ORDER, "fit resumed from " + RESUME_LAST_FROM)


def case_resume_lr(program, work, ltgen):
    """A hook's lr is saved with the optimizer and restored on resume (torch's param_groups)."""
    want = ["on_train_epoch_start epoch=0 lr=0.1", "on_train_epoch_start epoch=1 lr=0.02",
            "on_train_epoch_start epoch=2 lr=0.02"]
    rc, out, err = common.run_program(program, ["fit", "--trainer.default_root_dir=first"])
    check(rc == 0, f"fit exited with {rc}: {err}")
    compare(hook_lines(out), want, "fit")
    ckpt = os.path.join("first", "checkpoints", "epoch=0-step=4.safetensors")
    rc, out, err = common.run_program(program, ["fit", "--trainer.default_root_dir=resumed", "--ckpt_path=" + ckpt])
    check(rc == 0, f"the resumed fit exited with {rc}: {err}")
    compare(hook_lines(out), want[1:], "fit resumed from epoch 0's checkpoint")


def case_checkpoint_entries(program, work, ltgen):
    """What on_save_checkpoint puts in trainer.checkpoint is saved in the checkpoint and is what
    on_load_checkpoint finds there, on resume and in validate (empty in the other hooks)."""
    rc, out, err = common.run_program(program, ["fit", "--trainer.default_root_dir=first"])
    check(rc == 0, f"fit exited with {rc}: {err}")
    want = []
    for epoch in range(3):
        want += [f"on_train_epoch_start epoch={epoch} batches={4 * epoch} entries=0", "on_save_checkpoint entries=0"]
    compare(hook_lines(out), want + ["on_fit_end batches=12"], "fit")
    ckpt = os.path.join("first", "checkpoints", "epoch=0-step=4.safetensors")
    user = json.loads(common.checkpoint_metadata(ckpt).get("user", "null"))
    check(user == {"batches": "4", "note": "saved at step 4"}, f"{ckpt}: __metadata__ 'user' is {user}")
    rc, out, err = common.run_program(program, ["fit", "--trainer.default_root_dir=resumed", "--ckpt_path=" + ckpt])
    check(rc == 0, f"the resumed fit exited with {rc}: {err}")
    compare(hook_lines(out), ["on_load_checkpoint batches=4 note=saved at step 4"] + want[2:] + ["on_fit_end batches=12"],
            "fit resumed from epoch 0's checkpoint")
    last = os.path.join("first", "checkpoints", "epoch=2-step=12.safetensors")
    rc, out, err = common.run_program(program, ["validate", "--ckpt_path=" + last])
    check(rc == 0, f"validate exited with {rc}: {err}")
    compare(hook_lines(out), ["on_load_checkpoint batches=12 note=saved at step 12"], "validate")


def case_persistent_mid_step(program, work, ltgen):
    """A checkpoint saved inside a training step (on_after_backward) under persistent DataLoader
    workers whose transforms draw: the fit resumed from it runs that batch again and ends with the
    uninterrupted fit's weights, bit for bit. Step 2 is epoch 0's last batch under
    limit_train_batches (its workers also drew for the 2 batches prefetched past it), step 4 one
    inside epoch 1. Also one saved in epoch 1's on_train_epoch_start, after the epoch drew its
    shuffle's seed: the resumed fit draws it again from the epoch's start; and one a fit resumed from
    it saves in on_train_start."""
    from safetensors.numpy import load_file
    for step, variable in ((2, "SAVE_AT_STEP"), (4, "SAVE_AT_STEP"), (1, "SAVE_AT_EPOCH")):
        whole, resumed = f"whole_{variable}_{step}", f"resumed_{variable}_{step}"
        rc, _, err = common.run_program(program, ["fit", "--trainer.default_root_dir=" + whole],
                                        env=dict(os.environ, **{variable: str(step)}))
        check(rc == 0, f"fit exited with {rc}: {err}")
        check(os.path.isfile("mid_step.safetensors"), f"no mid_step.safetensors after a fit saving at step {step}")
        os.replace("mid_step.safetensors", f"mid_step_{step}.safetensors")
        rc, _, err = common.run_program(program, ["fit", "--trainer.default_root_dir=" + resumed,
                                                  f"--ckpt_path=mid_step_{step}.safetensors"])
        check(rc == 0, f"the resumed fit exited with {rc}: {err}")
        name = os.path.join("checkpoints", "epoch=2-step=9.safetensors")
        want, got = load_file(os.path.join(whole, name)), load_file(os.path.join(resumed, name))
        check(sorted(want) == sorted(got), f"{resumed}/{name} holds {sorted(got)}, {whole}'s {sorted(want)}")
        for key in want:
            check(want[key].tobytes() == got[key].tobytes(), f"resumed from {variable}={step}: {key} ends unlike the whole fit's")
        print(f"resumed from {variable}={step}: the {len(want)} tensors are the whole fit's")
    # A fit resumed from epoch 1's start saves again in on_train_start, before its loop goes on: a
    # fit resumed from that checkpoint ends as the whole fit too.
    again, last = "resumed_again", "resumed_from_train_start"
    rc, _, err = common.run_program(program, ["fit", "--trainer.default_root_dir=" + again,
                                              "--ckpt_path=mid_step_1.safetensors"],
                                    env=dict(os.environ, SAVE_AT_TRAIN_START="1"))
    check(rc == 0 and os.path.isfile("train_start.safetensors"), f"the fit saving in on_train_start failed: {err}")
    rc, _, err = common.run_program(program, ["fit", "--trainer.default_root_dir=" + last,
                                              "--ckpt_path=train_start.safetensors"])
    check(rc == 0, f"the fit resumed from on_train_start's checkpoint exited with {rc}: {err}")
    name = os.path.join("checkpoints", "epoch=2-step=9.safetensors")
    want, got = load_file(os.path.join("whole_SAVE_AT_EPOCH_1", name)), load_file(os.path.join(last, name))
    for key in want:
        check(want[key].tobytes() == got[key].tobytes(), f"resumed from on_train_start's checkpoint: {key} differs")
    print(f"resumed from a resumed fit's on_train_start checkpoint: the {len(want)} tensors are the whole fit's")


def case_lr_finder_order(program, work, ltgen):
    """LearningRateFinder's on_fit_start runs before the module's (Lightning's _reorder_callbacks puts
    the tuner callbacks first): the hook sees the lr the finder set."""
    rc, out, err = common.run_program(program, ["fit", "--trainer.default_root_dir=fit"])
    check(rc == 0, f"fit exited with {rc}: {err}")
    found = [line for line in out.splitlines() if line.startswith("LearningRateFinder: ")]
    check(len(found) == 1 and "suggested lr " in found[0], f"no suggestion printed:\n{out}")
    suggested = float(found[0].rsplit("suggested lr ", 1)[1])
    check([float(line.split("lr=")[1]) for line in hook_lines(out)] == [suggested],
          f"on_fit_start printed {hook_lines(out)}, the finder suggested {suggested!r}")
    print(f"on_fit_start saw the suggested lr {suggested!r}")


CASES = {"order": case_order, "persistent_mid_step": case_persistent_mid_step, "lr_finder_order": case_lr_finder_order, "checkpoint_entries": case_checkpoint_entries, "resume": case_resume, "resume_lr": case_resume_lr, "stop": case_stop, "throw": case_throw, "throw_save": case_throw_save,
         "throw_on_exception_checkpoint": case_throw_on_exception_checkpoint, "groups_lr": case_groups_lr}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ltgen", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    a = ap.parse_args()
    a.work = os.path.abspath(a.work)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    ltgen = os.path.abspath(a.ltgen)
    program = common.generate(ltgen, os.path.join(HERE, "hooks", a.case + ".json"), os.path.join(a.work, "project"))
    os.chdir(a.work)
    try:
        CASES[a.case](program, a.work, ltgen)
    except Failure as f:
        print(f"FAIL hooks_{a.case}: {f}")
        return 1
    print(f"ok hooks_{a.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
