"""trainer.callbacks' SpikeDetection against Lightning's. One small MLP on npy data, from the same
initial weights; each case runs the generated program (one build; the case's callback and trainer
arguments on its command line) and the `--emit lightning` script of the case's spec, run by PyPI's
Lightning, each in a folder of its own. Checked:
  - both end alike: with a spike, both fail naming the same batch ("Training spike detected in
    batch N"), write the same skip_batches.json (the same path under default_root_dir, or the
    given one) and log the same metrics.csv rows up to there (values within 1e-4); without one,
    both finish with the same rows and the last checkpoint's SpikeDetection state (last_val,
    bad_batches, mode, warmup, atol, rtol, bad_batches_path) equal to Lightning's;
  - a fit resumed from the program's checkpoint ends with the uninterrupted one's detector state
    (Lightning 2.6 cannot resume one: its load_state_dict reads an attribute SpikeDetection lacks).

  spike_detection.py --list                                               the case names
  spike_detection.py --ltgen PATH --work DIR --build                      build the program (the fixture)
  spike_detection.py --ltgen PATH --lightning-python PY --work DIR --case NAME   run one case
"""
import json
import os
import re
import shutil
import subprocess

import numpy as np
from safetensors.numpy import save_file

import common
from common import check

TOL = 1e-4


def spike(**init_args):
    return {"class_path": "SpikeDetection", "init_args": init_args}


# case: (the SpikeDetection's init_args, trainer overrides, whether a spike ends the fit)
CASES = {
    "relative": ({"window": 3, "warmup": 2, "rtol": 0.1}, {}, True),
    "max_mode_atol": ({"mode": "max", "window": 4, "atol": 0.02, "rtol": None,
                       "exclude_batches_path": "skips"}, {"accumulate_grad_batches": 2}, True),
    "quiet": ({"window": 5, "atol": 2.0}, {}, False),
    "resumed": ({"window": 7, "atol": 2.0}, {"max_epochs": 4}, False),
    # 2 processes (mpirun; Lightning's own DDP), each watching its own losses: rank 1's spike (in
    # the third epoch) stops both, where rank 0's losses alone never spike.
    "ddp": ({"window": 2, "warmup": 3, "rtol": 0.6}, {"strategy": "ddp"}, True),
}
DDP_TRAINER = {"accelerator": "cpu", "devices": 2, "strategy": "ddp"}


def spec_for(init_args, trainer):
    t = {"max_epochs": 3, "log_every_n_steps": 1, "enable_progress_bar": False, "enable_model_summary": False,
         "num_sanity_val_steps": 0, "callbacks": [spike(**init_args)]}
    t.update(trainer)
    return {
        "name": "spike_detection",
        "seed_everything": 11,
        "model": {"inputs": {"x": [4]}, "target": {"shape": [1]},
                  "layers": [{"type": "Linear", "out_features": 8}, {"type": "Tanh"},
                             {"type": "Linear", "out_features": 1}],
                  "loss": {"type": "MSELoss"}},
        "data": {"batch_size": 4, "shuffle": True, "train": {"source": "npy", "x": "x.npy", "y": "y.npy"},
                 "val": {"source": "npy", "x": "vx.npy", "y": "vy.npy"}},
        "optimizer": {"type": "SGD", "lr": 0.05},
        "trainer": t,
    }


def write_data(work):
    rng = np.random.default_rng(5)
    for prefix, n in (("", 40), ("v", 8)):
        x = rng.standard_normal((n, 4)).astype(np.float32)
        np.save(os.path.join(work, prefix + "x.npy"), x)
        np.save(os.path.join(work, prefix + "y.npy"), (np.sin(x[:, :1]) + 0.5 * rng.standard_normal((n, 1))).astype(np.float32))
    save_file({"layers.0.weight": (rng.standard_normal((8, 4)) * 0.4).astype(np.float32),
               "layers.0.bias": (rng.standard_normal(8) * 0.4).astype(np.float32),
               "layers.2.weight": (rng.standard_normal((1, 8)) * 0.4).astype(np.float32),
               "layers.2.bias": (rng.standard_normal(1) * 0.4).astype(np.float32)},
              os.path.join(work, "init.safetensors"))


def spiked_batch(text):
    found = re.findall(r"Training spike detected in batch (-?\d+)", text)
    return int(found[-1]) if found else None


def first_spike(losses, batches_per_epoch, init_args):
    """The step at which SpikeDetection's rules (rtol only, mode min) find a spike in one rank's
    losses, or None: the running mean of the last `window` losses it accepted."""
    window, warmup, rtol = init_args.get("window", 10), init_args.get("warmup", 1), init_args.get("rtol", 2.0)
    seen, last = [], np.float32(0.0)
    for i, loss in enumerate(np.float32(losses)):
        if seen:
            running = np.float32(sum(seen[-window:])) / np.float32(len(seen[-window:]))
            if i % batches_per_epoch >= warmup and loss - last > 0 and abs(loss - running) >= abs(np.float32(rtol) * running):
                return i
        seen.append(loss)
        last = loss
    return None


def skip_file(root, init_args):
    """Where a run in ROOT (its default_root_dir and working folder) writes the batches to skip."""
    given = init_args.get("exclude_batches_path")
    path = os.path.join(root, "skip_batches.json" if given is None else given)
    return path if path.endswith(".json") else os.path.join(path, "skip_batches.json")


def csv_rows(root):
    return common.metric_cells(os.path.join(common.only_version_dir(root), "metrics.csv"))


def last_checkpoint(root):
    """The run's one checkpoint (ModelCheckpoint's default keeps the last epoch's)."""
    version = common.only_version_dir(root)
    names = common.checkpoint_files(version)
    check(len(names) == 1, f"{version} holds checkpoints {names}, expected one")
    return os.path.join(version, "checkpoints", names[0])


def compare_rows(ours, theirs):
    check([k for k, _ in ours] == [k for k, _ in theirs],
          f"logged cells differ:\n ltgen     {[k for k, _ in ours][:12]}\n Lightning {[k for k, _ in theirs][:12]}")
    for (key, a), (_, b) in zip(ours, theirs):
        check(abs(a - b) <= TOL * max(abs(b), 1e-6), f"{key}: ltgen {a} vs Lightning {b}")


def program_state(path):
    """The SpikeDetection state in an ltgen checkpoint's metadata."""
    meta = common.checkpoint_metadata(path)
    return json.loads(meta["callbacks"])["SpikeDetection"]


def lightning_state(lightning_python, path, work):
    return common.lightning_json(
        lightning_python, work, "read_state.py",
        "import json, sys, torch\n"
        "s = torch.load(sys.argv[1], weights_only=False)['callbacks']['SpikeDetection']\n"
        "s['last_val'] = float(s['last_val'])\n"
        "print(json.dumps({k: s[k] for k in ('last_val', 'bad_batches', 'mode', 'warmup', 'atol', 'rtol',\n"
        "                                     'bad_batches_path')}))\n", path, "reading Lightning's checkpoint")


def build(args):
    """The program (its spec's SpikeDetection is replaced on each case's command line) and the data."""
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    write_data(args.work)
    spec_path = os.path.join(args.work, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec_for({}, {}), f, indent=1)
    common.generate(args.ltgen, spec_path, os.path.join(args.work, "program"))
    ddp_spec = os.path.join(args.work, "spec_ddp_program.json")  # devices and strategy are fixed at generation
    with open(ddp_spec, "w") as f:
        json.dump(spec_for({}, DDP_TRAINER), f, indent=1)
    common.generate(args.ltgen, ddp_spec, os.path.join(args.work, "program_ddp"))


def run(cmd, folder):
    os.makedirs(folder, exist_ok=True)
    print(f"$ (in {folder}) " + " ".join(cmd))
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=600)


def run_case(args):
    init_args, trainer, spikes = CASES[args.case]
    ddp = trainer.get("strategy") == "ddp"
    if ddp:
        trainer = dict(trainer, **DDP_TRAINER)
    program = os.path.join(args.work, "program_ddp" if ddp else "program", "spike_detection")
    check(os.path.isfile(program), f"{program} is missing: run --build first (the spike_detection_build test)")
    weights = os.path.join(args.work, "init.safetensors")
    work = os.path.join(args.work, args.case)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    spec_path = os.path.join(args.work, f"spec_{args.case}.json")  # beside the data, as the program's spec
    with open(spec_path, "w") as f:
        json.dump(spec_for(init_args, trainer), f, indent=1)
    script = os.path.join(work, "model.py")
    proc = subprocess.run([args.ltgen, spec_path, "--emit", "lightning", "-o", script], capture_output=True, text=True)
    check(proc.returncode == 0, f"ltgen --emit lightning failed:\n{proc.stderr}")
    overrides = ["--trainer.callbacks=" + json.dumps([spike(**init_args)])] + \
                [f"--trainer.{k}={v}" for k, v in trainer.items() if k not in DDP_TRAINER]
    fit = common.launcher(2 if ddp else 1) + [program, "fit", f"--init_weights={weights}"] + overrides
    ours, theirs = os.path.join(work, "ltgen"), os.path.join(work, "lightning")
    mine = run(fit, ours)
    lit = run([args.lightning_python, script, "--init_weights", weights, "--default_root_dir", "."], theirs)
    compare_rows(csv_rows(ours), csv_rows(theirs))
    if spikes:
        check(mine.returncode != 0 and spiked_batch(mine.stderr) is not None,
              f"the program did not stop at a spike (exit {mine.returncode}):\n{mine.stderr}")
        check(lit.returncode != 0 and "TrainingSpikeException" in lit.stderr,
              f"Lightning did not stop at a spike:\n{lit.stderr[-3000:]}")
        check(spiked_batch(mine.stderr) == spiked_batch(lit.stderr),
              f"the program stopped at batch {spiked_batch(mine.stderr)}, Lightning at {spiked_batch(lit.stderr)}")
        files = []
        for folder in (ours, theirs):
            path = skip_file(folder, init_args)
            check(os.path.isfile(path), f"{path} was not written")
            with open(path) as f:
                files.append(f.read())
        check(files[0] == files[1], f"skip_batches.json: {files[0]!r}, Lightning's {files[1]!r}")
        if ddp:  # the logged train_loss is rank 0's own: it had no spike, rank 1 stopped both
            rank0 = [v for (_, _, key), v in csv_rows(ours) if key == "train_loss"]
            check(first_spike(rank0, 5, init_args) is None,
                  f"rank 0's losses spike at step {first_spike(rank0, 5, init_args)}: rank 1's decision is untested")
        print(f"both stopped at batch {spiked_batch(mine.stderr)} with the same rows; "
              f"{os.path.relpath(skip_file(ours, init_args), ours)}: {json.loads(files[0])}")
    else:
        check(mine.returncode == 0, f"the program failed:\n{mine.stderr}")
        check(lit.returncode == 0, f"the Lightning script failed:\n{lit.stderr[-3000:]}")
        state = program_state(last_checkpoint(ours))
        want = lightning_state(args.lightning_python, last_checkpoint(theirs), work)
        for key, value in want.items():
            ok = abs(state[key] - value) <= TOL * abs(value) if key == "last_val" else state[key] == value
            check(ok, f"checkpoint state {key}: ltgen {state[key]!r}, Lightning {value!r}")
        print(f"both finished with the same rows; the checkpoint's state agrees: {want}")
    if args.case == "resumed":
        # Two epochs, then a fit resumed from their checkpoint: the detector goes on with the window,
        # the last loss and the count it had, so it ends in the uninterrupted fit's state.
        first = run(fit + ["--trainer.max_epochs=2"], os.path.join(work, "first"))
        check(first.returncode == 0, f"the first two epochs failed:\n{first.stderr}")
        ckpt = last_checkpoint(os.path.join(work, "first"))
        second = run(fit + ["--ckpt_path=" + ckpt], os.path.join(work, "second"))
        check(second.returncode == 0, f"the resumed fit failed:\n{second.stderr}")
        resumed, whole = program_state(last_checkpoint(os.path.join(work, "second"))), program_state(last_checkpoint(ours))
        check(resumed == whole, f"the resumed fit's SpikeDetection state {resumed}, the uninterrupted one's {whole}")
        print(f"resumed from {os.path.basename(ckpt)}: the same state at the end ({whole['running']['seen']} losses seen)")


if __name__ == "__main__":
    common.lightning_case_main(__doc__, CASES, build, run_case)
