#!/usr/bin/env python3
"""ddp_<case>: DDP on the CPU (trainer.strategy "ddp", devices 2), launched with mpirun.

  ddp.py --list                               the case names, one a line
  ddp.py --ltgen PATH --work DIR --build      build the programs (the test fixture)
  ddp.py --ltgen PATH --work DIR --case NAME  run one case

Two programs of one model (an MLP regression, SGD with momentum, gradient clipping and
accumulation): `ranks` asks for 2 processes with batch size B, `single` for 1 process under
strategy "ddp" with batch size 2B. Under DDP Lightning's DistributedSampler shuffles the training
data with torch.randperm(seed + epoch) and gives rank r every second sample from position r, so
batch b of `single` holds exactly the samples of batch b of rank 0 and rank 1 together. DESIGN
§6: 2 ranks with batch B each equal 1 rank with batch 2B (the gradient average of two means of B
is the mean of 2B), up to float rounding. `sync_*` and `bn_ranks` train the BatchNorm model of
sync_batchnorm_model.py with and without trainer.sync_batchnorm, `single_bn` without it in 1 process.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

import common
import sync_batchnorm_model
from common import check, Failure

N, FEATURES, HIDDEN, B = 64, 5, 8, 8


def spec(name, devices, batch_size):
    trainer = {"accelerator": "cpu", "devices": devices, "strategy": "ddp", "max_epochs": 4, "log_every_n_steps": 1,
               "accumulate_grad_batches": 2, "gradient_clip_val": 0.5, "enable_progress_bar": False,
               "enable_model_summary": False,
               "callbacks": [{"class_path": "ModelCheckpoint", "init_args": {"save_top_k": -1}}]}
    return {
        "name": name, "seed_everything": 11,
        "model": {"inputs": {"x": [FEATURES]}, "target": {"shape": [1]},
                  "layers": [{"type": "Linear", "out_features": HIDDEN}, {"type": "Tanh"},
                             {"type": "Linear", "out_features": 1}],
                  "loss": {"type": "MSELoss"}},
        "data": {"batch_size": batch_size,
                 "train": {"source": "npy", "x": "x.npy", "y": "y.npy"},
                 "val": {"source": "npy", "x": "vx.npy", "y": "vy.npy"}},
        "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9},
        "trainer": trainer,
    }


# Hooks inside the step (so the step runs in pieces: forward, backward, then the optimizer): the
# gradient each rank sees after backward and before the optimizer step, a line per call.
HOOKS = r"""
#include <cstdio>
#include <ltrt/hooks.hpp>

namespace {
void print(ltrt::Trainer& trainer, const char* where) {
  const ltrt::TensorView g = trainer.grad("layers.0.weight");
  double sum = 0, sq = 0;
  for (std::int64_t i = 0; i < g.numel; ++i) {
    sum += g.data[i];
    sq += static_cast<double>(g.data[i]) * g.data[i];
  }
  std::printf("GRAD %s rank=%d/%d step=%lld %.9g %.9g\n", where, trainer.global_rank, trainer.world_size,
              static_cast<long long>(trainer.global_step), sum, sq);
}
}  // namespace

void on_after_backward(ltrt::Trainer& trainer) { print(trainer, "after_backward"); }
void on_before_optimizer_step(ltrt::Trainer& trainer) { print(trainer, "before_step"); }
"""


# A late rank: rank 1's clocks (its Timer's among them) start half a second after rank 0's.
LATE_HOOKS = r"""
#include <chrono>
#include <thread>
#include <ltrt/hooks.hpp>

void on_fit_start(ltrt::Trainer& trainer) {
  if (trainer.global_rank == 1) std::this_thread::sleep_for(std::chrono::milliseconds(500));
}
"""


def build(work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = np.random.default_rng(7)
    for prefix, rows in (("", N), ("v", 23)):
        x = rng.standard_normal((rows, FEATURES)).astype(np.float32)
        np.save(os.path.join(work, prefix + "x.npy"), x)
        np.save(os.path.join(work, prefix + "y.npy"), (x[:, :1] * 0.7 + np.sin(x[:, 1:2])).astype(np.float32))
    save_file({"layers.0.weight": (rng.standard_normal((HIDDEN, FEATURES)) * 0.4).astype(np.float32),
               "layers.0.bias": (rng.standard_normal(HIDDEN) * 0.4).astype(np.float32),
               "layers.2.weight": (rng.standard_normal((1, HIDDEN)) * 0.4).astype(np.float32),
               "layers.2.bias": (rng.standard_normal(1) * 0.4).astype(np.float32)}, os.path.join(work, "init.safetensors"))
    with open(os.path.join(work, "grad_hooks.cpp"), "w") as f:
        f.write(HOOKS)
    with open(os.path.join(work, "late_hooks.cpp"), "w") as f:
        f.write(LATE_HOOKS)
    for name, devices, batch, hooks in (("ranks", 2, B, False), ("single", 1, 2 * B, False),
                                        ("ranks_hooks", 2, B, True), ("single_hooks", 1, 2 * B, True),
                                        ("best", 2, B, False), ("timer", 2, B, False), ("synced", 2, B, False)):
        path = os.path.join(work, name + ".json")
        s = spec(name, devices, batch)
        if hooks:
            s["hooks"] = "grad_hooks.cpp"
        if name == "best":  # top-2 checkpoints under one name: the second is best-v1
            s["trainer"].update(max_epochs=6, accumulate_grad_batches=1)
            s["trainer"]["callbacks"] = [
                {"class_path": "ModelCheckpoint",
                 "init_args": {"monitor": "val_loss", "save_top_k": 2, "filename": "best", "mode": "max"}},
                {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss", "patience": 100}}]
        if name == "synced":  # self.log(..., sync_dist=True)
            s["model"]["log"] = {"sync_dist": True}
        if name == "timer":  # trains until max_time, without validation, logs or checkpoints
            s["trainer"].update(max_epochs=1000000, max_time="00:00:00:02", limit_val_batches=0, logger=False,
                                enable_checkpointing=False)
            del s["trainer"]["callbacks"]
            s["hooks"] = "late_hooks.cpp"
        with open(path, "w") as f:
            json.dump(s, f, indent=1)
        common.generate(args.ltgen, path, os.path.join(work, name))
    sync_batchnorm_model.write_data(work)
    for name, devices, batch, sync in (("sync_ranks", 2, B, True), ("single_bn", 1, 2 * B, False),
                                       ("bn_ranks", 2, B, False)):
        path = os.path.join(work, name + ".json")
        with open(path, "w") as f:
            json.dump(sync_batchnorm_model.spec(name, "cpu", devices, batch, sync), f, indent=1)
        common.generate(args.ltgen, path, os.path.join(work, name))


def program(name):
    return os.path.join(args.work, name, name)


def fit(name, root, processes, extra=(), init="init.safetensors"):
    rc, out, err = common.run_program(program(name), ["fit", "--init_weights=" + os.path.join(args.work, init),
                                                      "--trainer.default_root_dir=" + root] + list(extra),
                                      launch=common.launcher(processes))
    check(rc == 0, f"{name} fit exited with {rc}:\n{out}\n{err}")
    return out, err


def weights(path):
    return {k: v for k, v in load_file(path).items() if k.startswith("state_dict.")}


def case_table():
    cases = {}

    def case(fn):
        cases[fn.__name__] = fn
        return fn

    @case
    def equivalence():
        """2 ranks x batch B == 1 rank x batch 2B: every epoch's checkpointed weights."""
        fit("ranks", os.path.join(args.work, "eq_ranks"), 2)
        fit("single", os.path.join(args.work, "eq_single"), 1)
        worst = 0.0
        for epoch in range(4):
            name = f"epoch={epoch}-step={2 * (epoch + 1)}.safetensors"  # 4 batches of a rank: 2 steps an epoch
            a = weights(os.path.join(common.only_version_dir(os.path.join(args.work, "eq_ranks")), "checkpoints", name))
            b = weights(os.path.join(common.only_version_dir(os.path.join(args.work, "eq_single")), "checkpoints", name))
            check(sorted(a) == sorted(b), f"{name}: tensors {sorted(a)} vs {sorted(b)}")
            for k in a:
                scale = max(float(np.abs(b[k]).max()), 1e-3)
                diff = float(np.abs(a[k] - b[k]).max()) / scale
                worst = max(worst, diff)
                check(diff <= 1e-5, f"{name} {k}: 2 ranks x {B} and 1 x {2 * B} differ by {diff:.3g} of its largest value")
            moved = max(float(np.abs(a[k] - weights_init()[k]).max()) for k in a)
            check(moved > 1e-3, f"{name}: the weights hardly moved ({moved:.3g}): the test would not see a difference")
        print(f"4 epochs' weights agree; worst difference {worst:.3g} of a tensor's largest value")

    def weights_init():
        return {"state_dict." + k: v for k, v in load_file(os.path.join(args.work, "init.safetensors")).items()}

    @case
    def sync_batchnorm():
        """trainer.sync_batchnorm (sync_batchnorm_model.py): 2 ranks x batch B == 1 rank x batch 2B with
        BatchNorms, their running statistics included; without it the ranks normalise their own halves."""
        runs = {}
        for name, processes in (("sync_ranks", 2), ("single_bn", 1), ("bn_ranks", 2)):
            root = os.path.join(args.work, "sbn_" + name)
            out, _ = fit(name, root, processes, ["--trainer.enable_model_summary=true"], init="sbn_init.safetensors")
            runs[name] = os.path.join(common.only_version_dir(root), "checkpoints")
            # Lightning's summary shows the converted layers' type (DDPStrategy converts them before it).
            summary = [line for line in out.splitlines() if "layers.2 " in line or "| layers.2" in line]
            want = "SyncBatchNorm" if name == "sync_ranks" else "BatchNorm2d"
            check(any(want in line for line in summary), f"{name}: the model summary's layers.2 is not {want}:\n{out}")
        worst = sync_batchnorm_model.worst_difference(runs["sync_ranks"], runs["single_bn"], args.work)
        check(worst <= 1e-5, f"synchronised 2 ranks x {B} and 1 x {2 * B}: a checkpointed tensor differs by {worst:.3g} "
                             "of its largest value")
        unsynced = sync_batchnorm_model.worst_difference(runs["bn_ranks"], runs["single_bn"], args.work)
        check(unsynced > 1e-3, f"without sync_batchnorm 2 ranks x {B} differ from 1 x {2 * B} by only {unsynced:.3g}: "
                               "the test would not see a missing synchronisation")
        print(f"4 epochs' weights and running statistics agree; worst difference {worst:.3g} of a tensor's largest "
              f"value (without sync_batchnorm: {unsynced:.3g})")

    @case
    def resume():
        """Fit 2 epochs, resume to 4 under mpirun: the same weights and log rows as 4 at once."""
        whole = os.path.join(args.work, "resume_whole")
        split = os.path.join(args.work, "resume_split")
        fit("ranks", whole, 2)
        fit("ranks", split, 2, ["--trainer.max_epochs=2"])
        fit("ranks", split, 2, ["--trainer.max_epochs=4", "--ckpt_path=last"])
        a = weights(os.path.join(common.only_version_dir(whole), "checkpoints", "epoch=3-step=8.safetensors"))
        b = weights(os.path.join(split, "lightning_logs", "version_1", "checkpoints", "epoch=3-step=8.safetensors"))
        for k in a:
            check(np.array_equal(a[k], b[k]), f"{k}: resumed training differs from uninterrupted training")
        rows = lambda p: open(p).read().splitlines()
        whole_rows = rows(os.path.join(whole, "lightning_logs", "version_0", "metrics.csv"))
        resumed_rows = rows(os.path.join(split, "lightning_logs", "version_1", "metrics.csv"))
        check(resumed_rows[1:] == [r for r in whole_rows[1:] if int(r.split(",")[0]) >= 2],
              f"the resumed run's rows differ:\n{resumed_rows}\nvs\n{whole_rows}")
        print("resumed at epoch 2: weights equal bit for bit, epochs 2-3 logged alike")

    @case
    def rank_zero_output():
        """Only rank 0 prints, logs and writes: one summary line, one version folder, one metrics.csv."""
        root = os.path.join(args.work, "output")
        out, err = fit("ranks", root, 2)
        for r in (0, 1):
            check(f"Initializing distributed: GLOBAL_RANK: {r}, MEMBER: {r + 1}/2" in err, f"rank {r} did not say it started:\n{err}")
        check(out.count("`Trainer.fit` stopped") == 1, f"fit's last message is printed {out.count('`Trainer.fit` stopped')} times:\n{out}")
        check(sorted(os.listdir(os.path.join(root, "lightning_logs"))) == ["version_0"], "more than one version folder")
        with open(os.path.join(root, "lightning_logs", "version_0", "metrics.csv")) as f:
            lines = f.read().splitlines()
        # 4 epochs of 2 steps and 1 validation: 12 rows after the header, each once.
        check(len(lines) == 13, f"metrics.csv has {len(lines)} lines, expected 13:\n" + "\n".join(lines))

    @case
    def validate_sharded():
        """validate under mpirun: each rank its half; rank 0 prints its metrics once. Alone, all of it."""
        ckpt = "--ckpt_path=" + os.path.join(args.work, "init.safetensors")
        rc, out, err = common.run_program(program("ranks"), ["validate", ckpt, "--trainer.default_root_dir=" +
                                                             os.path.join(args.work, "val2")], launch=common.launcher(2))
        check(rc == 0, f"validate under mpirun -n 2 exited with {rc}:\n{err}")
        check(out.count("val_loss") == 1, f"expected one results table:\n{out}")
        rc, out1, err1 = common.run_program(program("ranks"), ["validate", ckpt, "--trainer.default_root_dir=" +
                                                               os.path.join(args.work, "val1")])
        check(rc == 0, f"validate in one process exited with {rc}:\n{err1}")
        check("sync_dist" not in err1, f"a warning about sync_dist in one process:\n{err1}")
        value = lambda text: float(next(l for l in text.splitlines() if "val_loss" in l).split()[-1])
        check(value(out) != value(out1), "rank 0's half gave the whole set's val_loss: the shard was not taken")
        warning = ("PossibleUserWarning: It is recommended to use `self.log('val_loss', ..., sync_dist=True)` when "
                   "logging on epoch level in distributed setting to accumulate the metric across devices.")
        check(err.count(warning) == 1, f"expected Lightning's warning about sync_dist once:\n{err}")

    @case
    def validate_sync_dist():
        """With model.log.sync_dist, validate under mpirun logs the mean over both shards: the
        DistributedSampler's 24 rows (the 23 and the first again), in float64 here; no warning."""
        ckpt = os.path.join(args.work, "init.safetensors")
        rc, out, err = common.run_program(program("synced"), ["validate", "--ckpt_path=" + ckpt,
                                                              "--trainer.default_root_dir=" +
                                                              os.path.join(args.work, "val_synced")],
                                          launch=common.launcher(2))
        check(rc == 0, f"validate under mpirun -n 2 exited with {rc}:\n{err}")
        check("sync_dist" not in err, f"a warning about sync_dist with sync_dist on:\n{err}")
        got = float(next(l for l in out.splitlines() if "val_loss" in l).split()[-1])
        w = load_file(ckpt)
        x = np.load(os.path.join(args.work, "vx.npy")).astype(np.float64)
        y = np.load(os.path.join(args.work, "vy.npy")).astype(np.float64)
        h = np.tanh(x @ w["layers.0.weight"].T.astype(np.float64) + w["layers.0.bias"])
        rows = ((h @ w["layers.2.weight"].T.astype(np.float64) + w["layers.2.bias"] - y) ** 2)[:, 0]
        want = float(np.concatenate([rows, rows[:1]]).mean())
        check(abs(got - want) <= 1e-5 * abs(want), f"val_loss {got!r}, expected {want!r} (both shards)")
        print(f"val_loss over both shards {got!r}, float64 {want!r}")

    @case
    def hooks_see_averaged_gradients():
        """With hooks inside the step, every rank's on_after_backward and on_before_optimizer_step see
        the average of the ranks' gradients (equal on both ranks) on the last batch of an
        accumulation group, their own on the others; the averages are 1 x 2B's gradients."""
        def grads(name, processes):
            out, _ = fit(name, os.path.join(args.work, "hooks_" + name), processes)
            lines, seen = {}, {}
            for line in out.splitlines():
                if line.startswith("GRAD "):
                    _, where, rank, step, total, sq = line.split()
                    n = seen[(where, rank, step)] = seen.get((where, rank, step), -1) + 1  # 2 backwards a step
                    lines.setdefault((where, step, n), {})[rank] = (float(total), float(sq))
            return lines
        two, one = grads("ranks_hooks", 2), grads("single_hooks", 1)
        steps = [k for k in two if k[0] == "before_step"]
        check(len(steps) == 8, f"expected 8 optimizer steps' lines, got {sorted(two)}")
        worst = 0.0
        for key in steps:
            ranks = two[key]
            check(sorted(ranks) == ["rank=0/2", "rank=1/2"], f"{key}: lines from {sorted(ranks)}")
            check(ranks["rank=0/2"] == ranks["rank=1/2"], f"{key}: the ranks' averaged gradients differ: {ranks}")
            mine, want = ranks["rank=0/2"][1], one[key]["rank=0/1"][1]
            rel = abs(mine - want) / max(want, 1e-30)
            worst = max(worst, rel)
            check(rel <= 1e-5, f"{key}: sum of squares {mine} on 2 ranks, {want} in 1 x 2B")
        # An accumulating batch's backward (no_sync): the ranks' own, different, gradients.
        own = [k for k in two if k[0] == "after_backward" and k[2] == 0]
        check(len(own) == 8 and all(two[k]["rank=0/2"] != two[k]["rank=1/2"] for k in own),
              f"expected 8 accumulating backwards with each rank's own gradient: {[two[k] for k in own]}")
        synced = [k for k in two if k[0] == "after_backward" and k[2] == 1]
        check(len(synced) == 8 and all(two[k]["rank=0/2"] == two[k]["rank=1/2"] for k in synced),
              "the last backward of a group did not see the average on both ranks")
        print(f"8 steps: the ranks' averaged gradients are equal and match 1 x 2B within {worst:.2g}")

    @case
    def checkpoints_without_shared_disk():
        """Ranks that do not see rank 0's files (two nodes, each its own disk) name checkpoints by
        rank 0's view of the disk, as Lightning's file_exists does: their state stays rank 0's and
        no rank waits for another forever."""
        dirs = [os.path.join(args.work, "node_a"), os.path.join(args.work, "node_b")]
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
        data = [f"--data.{split}.{k}={os.path.join(args.work, p + k + '.npy')}"
                for split, p in (("train", ""), ("val", "v")) for k in ("x", "y")]
        cmd = ["mpirun"]
        for i, d in enumerate(dirs):
            cmd += ([":"] if i else []) + ["-n", "1", "-wdir", d, program("best"), "fit",
                                            "--trainer.default_root_dir=root"] + data
        print("$ " + " ".join(cmd))
        try:
            proc = common.run_ending_all(cmd, 120)
        except subprocess.TimeoutExpired:
            raise Failure("the ranks waited for each other for 120 s: their checkpoint bookkeeping diverged")
        check(proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stderr}")
        files = sorted(os.listdir(os.path.join(dirs[0], "root", "lightning_logs", "version_0", "checkpoints")))
        check(files == ["best-v1.safetensors", "best.safetensors"], f"rank 0 kept {files}")
        check(not os.path.exists(os.path.join(dirs[1], "root")), "rank 1 wrote files")

    @case
    def max_time_stops_every_rank_together():
        """max_time: the ranks' clocks differ (here rank 1 starts half a second late), so rank 0's
        decision is every rank's (Timer broadcasts it); a rank that stopped alone would leave the
        other waiting in its next gradient average."""
        try:
            rc, out, err = common.run_program(program("timer"), ["fit"], launch=common.launcher(2), timeout=90)
        except subprocess.TimeoutExpired:
            raise Failure("the ranks did not stop together: one waited for the other for 90 s")
        check(rc == 0, f"exit {rc}:\n{err}")
        check("`Trainer.fit` stopped: `trainer.should_stop` was set." in out, f"fit did not stop on max_time:\n{out}")

    def launch_error(processes, subcommand, code, *phrases):
        rc, out, err = common.run_program(program("ranks"), [subcommand, "--trainer.default_root_dir=" +
                                                             os.path.join(args.work, "bad")],
                                          launch=common.launcher(processes), timeout=60)
        check(rc == code, f"exit {rc}, expected {code}:\n{err}")
        lines = [l for l in err.splitlines() if "error" in l]
        check(len(lines) == 1, f"expected one error line, got:\n{err}")
        for p in phrases:
            check(p in lines[0], f"the message lacks {p!r}: {lines[0]}")
        check(not os.path.exists(os.path.join(args.work, "bad", "lightning_logs")), "a failed launch wrote logs")

    @case
    def fit_without_mpirun():
        launch_error(1, "fit", 2, "trainer.devices=2", "mpirun -n 2")

    @case
    def fit_with_three_ranks():
        launch_error(3, "fit", 2, "launched as 3 processes", "mpirun -n 2")

    @case
    def predict_under_mpirun():
        launch_error(2, "predict", 2, "predict runs in one process")

    @case
    def single_process_program_under_mpirun():
        """A program built for one process, started by mpirun -n 2, refuses instead of training twice."""
        plain = os.path.join(args.work, "plain")
        if not os.path.exists(os.path.join(plain, "plain")):
            s = spec("plain", 1, B)
            del s["trainer"]["strategy"]
            with open(os.path.join(args.work, "plain.json"), "w") as f:
                json.dump(s, f)
            common.generate(args.ltgen, os.path.join(args.work, "plain.json"), plain)
        rc, out, err = common.run_program(os.path.join(plain, "plain"), ["fit"], launch=common.launcher(2), timeout=60)
        check(rc == 2, f"exit {rc}, expected 2:\n{err}")
        check("built for one" in err and "without mpirun" in err, f"unclear message:\n{err}")
        check(err.count("error") == 1, f"expected the message once, not once per process:\n{err}")

    @case
    def data_error_ends_every_rank():
        """A setup error every rank hits (a missing data file, a missing checkpoint): one message,
        from rank 0, exit 1, every rank ended, nobody left waiting."""
        for extra, phrase in ((["--data.train.x=missing.npy"], "missing.npy"),
                              (["--ckpt_path=" + os.path.join(args.work, "none.safetensors")], "none.safetensors"),
                              (["--ckpt_path=last", "--trainer.default_root_dir=" + os.path.join(args.work, "empty")],
                               "no checkpoints")):
            rc, out, err = common.run_program(program("ranks"), ["fit"] + extra, launch=common.launcher(2), timeout=60)
            check(rc == 1, f"exit {rc}, expected 1:\n{err}")
            lines = [l for l in err.splitlines() if "error" in l or "Abort" in l]
            check(len(lines) == 1 and phrase in lines[0], f"expected one message naming {phrase}:\n{err}")

    @case
    def data_error_on_one_rank():
        """A data file or initial weights that only rank 1 cannot read (its own command line, as
        an MPMD launch gives it): rank 1 says so and ends every rank before any collective, while
        rank 0 would otherwise go on to broadcast its weights to a rank that is not listening."""
        run_args = ["fit", "--init_weights=" + os.path.join(args.work, "init.safetensors"),
                    "--trainer.default_root_dir=" + os.path.join(args.work, "one_rank_failed")]
        for extra, phrase in (("--data.train.x=missing.npy", "missing.npy"),
                              ("--init_weights=" + os.path.join(args.work, "none.safetensors"), "none.safetensors")):
            launch = ["mpirun", "-n", "1", program("ranks"), *run_args, ":", "-n", "1"]
            try:
                rc, out, err = common.run_program(program("ranks"), run_args + [extra], launch=launch, timeout=60)
            except subprocess.TimeoutExpired:
                raise common.Failure(f"only rank 1 failed ({phrase}), and the launch hung instead of ending")
            check(rc != 0 and "error (rank 1 of 2)" in err and phrase in err,
                  f"rank 1's error must end the launch and be said; exit {rc}:\n{err}")

    @case
    def usage_error_said_once():
        rc, out, err = common.run_program(program("ranks"), ["fit", "--trainer.max_epoch=2"], launch=common.launcher(2),
                                          timeout=60)
        check(rc == 2 and err.count("error") == 1 and "max_epochs" in err, f"exit {rc}:\n{err}")

    return cases


parser = argparse.ArgumentParser()
parser.add_argument("--ltgen")
parser.add_argument("--work")
parser.add_argument("--build", action="store_true")
parser.add_argument("--case")
parser.add_argument("--list", action="store_true")
args = parser.parse_args()
CASES = case_table()
if args.list:
    print("\n".join(CASES))
    sys.exit(0)
args.work = os.path.abspath(args.work)
if args.build:
    common.main(lambda: build(args.work))
else:
    os.chdir(args.work)  # the specs' data paths are relative to it
    common.main(CASES[args.case])
