"""trainer.logger: the spec's CSVLogger and TensorBoardLogger, written where Lightning writes them.
One program (a small MLP on npy data) runs each case with its logger on the command line
(`--trainer.logger='{"class_path": ...}'`, as LightningCLI takes it); the `--emit lightning`
script of the case's spec, run by PyPI's Lightning from the same initial weights, is its oracle.
Each runs in a folder of its own, the same number of times. Checked against Lightning's run:
  - the same files at the same paths (save_dir/name/version_N or the given version; a second
    logger in the same folder takes the next version; checkpoints in the first logger's folder,
    `-v1` when a fixed version already holds one), event files and .ckpt/.safetensors aside;
  - every metrics.csv: the same columns (with the logger's prefix) and rows, values within 1e-4;
  - every event file: the same scalar tags, as TensorBoard's reader sees them (hp_metric with
    its prefix, or none without default_hp_metric);
  - what Lightning warns about a version folder that is not empty, the program says too.

  loggers.py --list                                              the case names, one a line
  loggers.py --ltgen PATH --work DIR --build                     build the program (the fixture)
  loggers.py --ltgen PATH --lightning-python PY --work DIR --case NAME   run one case
"""
import csv
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


def csv_logger(**init_args):
    return {"class_path": "CSVLogger", "init_args": init_args}


def tb_logger(**init_args):
    return {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": init_args}


# case: (trainer.logger, runs)
CASES = {
    "tensorboard_only": (tb_logger(save_dir="logs"), 2),
    "csv_named_prefix": (csv_logger(save_dir="logs", name="exp", prefix="p", flush_logs_every_n_steps=3), 1),
    "csv_then_tensorboard": ([csv_logger(save_dir="logs"), tb_logger(save_dir="logs")], 2),
    "tensorboard_then_csv": ([tb_logger(save_dir="logs"), csv_logger(save_dir="logs", name="csv")], 1),
    "csv_string_version": (csv_logger(save_dir="out", name=None, version="run1"), 2),
    "tensorboard_int_version": (tb_logger(save_dir="tb", version=3, default_hp_metric=False, prefix="q"), 1),
    "tensorboard_sub_dir_then_csv": ([tb_logger(save_dir="logs", sub_dir="run/a"), csv_logger(save_dir="logs")], 2),
}


def spec_for(logger):
    return {
        "name": "loggers",
        "seed_everything": 7,
        "model": {"inputs": {"x": [4]}, "target": {"shape": [1]},
                  "layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                             {"type": "Linear", "out_features": 1}],
                  "loss": {"type": "MSELoss"}},
        "data": {"batch_size": 4, "train": {"source": "npy", "x": "x.npy", "y": "y.npy"},
                 "val": {"source": "npy", "x": "vx.npy", "y": "vy.npy"}},
        "optimizer": {"type": "SGD", "lr": 0.05},
        "trainer": {"max_epochs": 2, "log_every_n_steps": 1, "enable_progress_bar": False,
                    "enable_model_summary": False, "num_sanity_val_steps": 0, "logger": logger},
    }


def tree(root):
    """The files under root, relative, with event files' host/time names and the checkpoint
    format's extension made alike."""
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), root)
            rel = re.sub(r"events\.out\.tfevents\.[^/]*$", "events.out.tfevents.*", rel)
            out.append(re.sub(r"\.(ckpt|safetensors)$", ".checkpoint", rel))
    return sorted(out)


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def compare_csv(ours, theirs, what):
    header, rows = read_csv(ours)
    want_header, want_rows = read_csv(theirs)
    check(header == want_header, f"{what}: columns {header}, Lightning's {want_header}")
    check(len(rows) == len(want_rows), f"{what}: {len(rows)} rows, Lightning's {len(want_rows)}")
    for i, (row, want) in enumerate(zip(rows, want_rows)):
        for col, a, b in zip(header, row, want):
            check((a == "") == (b == ""), f"{what} row {i} {col}: {a!r}, Lightning's {b!r}")
            if a and abs(float(a) - float(b)) > TOL * max(abs(float(b)), 1e-6):
                check(False, f"{what} row {i} {col}: {a}, Lightning's {b}")
    print(f"{what}: the same {len(header)} columns and {len(rows)} rows as Lightning's")


def scalar_tags(lightning_python, folder, work):
    return common.lightning_json(
        lightning_python, work, "read_tags.py",
        "import json, sys\n"
        "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n"
        "acc = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0}); acc.Reload()\n"
        "print(json.dumps(sorted(acc.Tags()['scalars'])))\n", folder, f"TensorBoard's reader on {folder}")


def warnings_about_folders(stderr):
    """Lightning's (and the program's) words on a version folder that already holds files."""
    return sorted(set(re.findall(r"Experiment logs directory \S+ exists and is not empty\.[^\n]*saved!", stderr)))


def write_data(work):
    """The npy data and the initial weights (init.safetensors) in WORK."""
    rng = np.random.default_rng(3)
    for prefix, n in (("", 24), ("v", 8)):
        np.save(os.path.join(work, prefix + "x.npy"), rng.standard_normal((n, 4)).astype(np.float32))
        np.save(os.path.join(work, prefix + "y.npy"), rng.standard_normal((n, 1)).astype(np.float32))
    save_file({"layers.0.weight": (rng.standard_normal((8, 4)) * 0.4).astype(np.float32),
               "layers.0.bias": (rng.standard_normal(8) * 0.4).astype(np.float32),
               "layers.2.weight": (rng.standard_normal((1, 8)) * 0.4).astype(np.float32),
               "layers.2.bias": (rng.standard_normal(1) * 0.4).astype(np.float32)},
              os.path.join(work, "init.safetensors"))


def build(args):
    """The program, from a spec with ltgen's default loggers, and its data."""
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    write_data(args.work)
    spec_path = os.path.join(args.work, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec_for(True), f, indent=1)
    common.generate(args.ltgen, spec_path, os.path.join(args.work, "program"))


def run_case(args, name):
    logger, runs = CASES[name]
    program = os.path.join(args.work, "program", "loggers")
    check(os.path.isfile(program), f"{program} is missing: run --build first (the loggers_build test)")
    weights = os.path.join(args.work, "init.safetensors")
    work = os.path.join(args.work, name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    spec_path = os.path.join(args.work, f"spec_{name}.json")  # beside the data, as the program's spec
    with open(spec_path, "w") as f:
        json.dump(spec_for(logger), f, indent=1)
    script = os.path.join(work, "model.py")
    proc = subprocess.run([args.ltgen, spec_path, "--emit", "lightning", "-o", script], capture_output=True, text=True)
    check(proc.returncode == 0, f"ltgen --emit lightning failed:\n{proc.stderr}")

    ours, theirs = os.path.join(work, "ltgen"), os.path.join(work, "lightning")
    said = {"ltgen": "", "lightning": ""}
    for run in range(runs):
        for who, folder in (("ltgen", ours), ("lightning", theirs)):
            os.makedirs(folder, exist_ok=True)
            cmd = ([program, "fit", f"--init_weights={weights}", "--trainer.logger=" + json.dumps(logger)]
                   if who == "ltgen" else
                   [args.lightning_python, script, "--init_weights", weights, "--default_root_dir", "."])
            print(f"$ (in {folder}) " + " ".join(cmd))
            proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=600)
            check(proc.returncode == 0, f"{who}'s run {run + 1} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            said[who] += proc.stderr

    mine, want = tree(ours), tree(theirs)
    check(mine == want, f"the program wrote\n  {mine}\nLightning wrote\n  {want}")
    print(f"the same {len(mine)} files as Lightning's: {mine}")
    for rel in mine:
        if rel.endswith("metrics.csv"):
            compare_csv(os.path.join(ours, rel), os.path.join(theirs, rel), rel)
        if rel.endswith("events.out.tfevents.*"):
            folder = os.path.dirname(rel)
            tags, want_tags = (scalar_tags(args.lightning_python, os.path.join(root, folder), work)
                               for root in (ours, theirs))
            check(tags == want_tags, f"{folder}: scalars {tags}, Lightning's {want_tags}")
            print(f"{folder}: the same scalars as Lightning's: {tags}")
    warned = warnings_about_folders(said["lightning"])
    check(warnings_about_folders(said["ltgen"]) == warned,
          f"about folders that are not empty, the program said {warnings_about_folders(said['ltgen'])}, "
          f"Lightning {warned}")
    print(f"the same warnings about folders that are not empty as Lightning's: {warned}")


if __name__ == "__main__":
    common.lightning_case_main(__doc__, CASES, build, lambda args: run_case(args, args.case))
