#!/usr/bin/env python3
"""bad_data_<case>: bad data files, bad initial weights and bad options fail cleanly.

  bad_data.py --list                               the case names, one a line
  bad_data.py --ltgen PATH --work DIR --build      build the program (the test fixture)
  bad_data.py --ltgen PATH --work DIR --case NAME  run one case

Every case runs the program built from bad_data_spec.json (npy data, 6 features, 3 classes)
with one thing wrong and checks: the exit status (1 for bad data or weights, 2 for command-line
usage errors and bad environment variables), that stderr names the file or option and says what
is wrong (the case's phrases, case-insensitive), and that a lightning_logs/version_0 that was already there is left
exactly as it was, with no new version folder beside it. The `control` case runs the good
files and must succeed (writing version_1), so that the other cases fail for the reason they
claim.
"""
import argparse
import os
import shutil
import sys

import numpy as np

import common
from common import check, Failure

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "bad_data_spec.json")
N, FEATURES, CLASSES, HIDDEN = 40, 6, 3, 16


def good_weights():
    rng = np.random.default_rng(0)
    return {
        "layers.0.weight": rng.standard_normal((HIDDEN, FEATURES)).astype(np.float32) * 0.3,
        "layers.0.bias": np.zeros(HIDDEN, np.float32),
        "layers.2.weight": rng.standard_normal((CLASSES, HIDDEN)).astype(np.float32) * 0.3,
        "layers.2.bias": np.zeros(CLASSES, np.float32),
    }


def save_weights(path, tensors):
    from safetensors.numpy import save_file
    save_file(tensors, path)


def write_good_files(work):
    rng = np.random.default_rng(1)
    np.save(os.path.join(work, "x.npy"), rng.standard_normal((N, FEATURES)).astype(np.float32))
    np.save(os.path.join(work, "y.npy"), rng.integers(0, CLASSES, N).astype(np.int64))
    save_weights(os.path.join(work, "init.safetensors"), good_weights())


class Ctx:
    """Paths for one case: the good files in WORK, the case's own files in WORK/case_NAME."""

    def __init__(self, work, name):
        self.work = work
        self.dir = os.path.join(work, "case_" + name)
        self.x = os.path.join(work, "x.npy")
        self.y = os.path.join(work, "y.npy")
        self.init = os.path.join(work, "init.safetensors")

    def path(self, name):
        return os.path.join(self.dir, name)

    def npy(self, name, array):
        p = self.path(name)
        np.save(p, array)
        return p

    def raw(self, name, data):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data)
        return p


def x_good():
    return np.random.default_rng(1).standard_normal((N, FEATURES)).astype(np.float32)


def y_good():
    return np.random.default_rng(2).integers(0, CLASSES, N).astype(np.int64)


def truncated(ctx, name, array, cut):
    p = ctx.npy(name, array)
    with open(p, "rb") as f:
        data = f.read()
    return ctx.raw(name, data[:len(data) - cut])


def weights_without(ctx, name, drop):
    w = good_weights()
    del w[drop]
    p = ctx.path(name)
    save_weights(p, w)
    return p


def weights_with(ctx, name, **changes):
    w = good_weights()
    w.update({k.replace("__", "."): v for k, v in changes.items()})
    p = ctx.path(name)
    save_weights(p, w)
    return p


# name -> (function(ctx) -> (extra args, expected exit status, phrases stderr must hold)).
# A phrase "{x}" etc. is replaced by that path; a tuple of phrases means any one of them.
def case_table():
    cases = {}

    def case(fn):
        cases[fn.__name__] = fn
        return fn

    @case
    def control(c):
        return ["--trainer.log_every_n_steps=1"], 0, []

    # --- npy data --------------------------------------------------------------------------
    @case
    def missing_x(c):
        p = c.path("missing_x.npy")
        return [f"--data.train.x={p}"], 1, [p, ("no such file", "does not exist", "not found", "cannot open")]

    @case
    def missing_y(c):
        p = c.path("missing_y.npy")
        return [f"--data.train.y={p}"], 1, [p, ("no such file", "does not exist", "not found", "cannot open")]

    @case
    def truncated_x_data(c):
        p = truncated(c, "x.npy", x_good(), 10)
        return [f"--data.train.x={p}"], 1, [p, "truncated"]

    @case
    def truncated_y_header(c):
        p = truncated(c, "y.npy", y_good(), y_good().nbytes + 40)
        return [f"--data.train.y={p}"], 1, [p, "truncated"]

    @case
    def not_npy(c):
        p = c.raw("x.npy", b"this is not an npy file\n" * 8)
        return [f"--data.train.x={p}"], 1, [p, "npy"]

    @case
    def wrong_sample_shape(c):
        p = c.npy("x.npy", np.zeros((N, FEATURES + 1), np.float32))
        return [f"--data.train.x={p}"], 1, [p, "shape", f"[{N}, {FEATURES + 1}]", f"[{N}, {FEATURES}]"]

    @case
    def wrong_rank(c):
        p = c.npy("x.npy", np.zeros((N, 2, 3), np.float32))
        return [f"--data.train.x={p}"], 1, [p, "shape", f"[{N}, 2, 3]"]

    @case
    def row_count_mismatch(c):
        p = c.npy("y.npy", y_good()[:N - 1])
        return [f"--data.train.y={p}"], 1, [p, f"{N - 1}", f"{N}", "rows"]

    @case
    def class_out_of_range(c):
        y = y_good()
        y[17] = CLASSES
        p = c.npy("y.npy", y)
        return [f"--data.train.y={p}"], 1, [p, f"{CLASSES}", "17", "class"]

    @case
    def class_negative(c):
        y = y_good()
        y[5] = -1
        p = c.npy("y.npy", y)
        return [f"--data.train.y={p}"], 1, [p, "-1", "class"]

    @case
    def float_class_targets(c):
        p = c.npy("y.npy", y_good().astype(np.float32))
        return [f"--data.train.y={p}"], 1, [p, "dtype", "int64"]

    @case
    def int_inputs(c):
        p = c.npy("x.npy", np.zeros((N, FEATURES), np.int32))
        return [f"--data.train.x={p}"], 1, [p, "dtype"]

    # --- --init_weights -----------------------------------------------------------------
    @case
    def init_missing_file(c):
        p = c.path("nope.safetensors")
        return [f"--init_weights={p}"], 1, [p, ("no such file", "does not exist", "not found", "cannot open")]

    @case
    def init_missing_tensor(c):
        p = weights_without(c, "w.safetensors", "layers.2.bias")
        return [f"--init_weights={p}"], 1, [p, "missing", "layers.2.bias"]

    @case
    def init_wrong_shape(c):
        p = weights_with(c, "w.safetensors", layers__0__weight=np.zeros((HIDDEN, FEATURES + 1), np.float32))
        return [f"--init_weights={p}"], 1, [p, "layers.0.weight", "shape", f"[{HIDDEN}, {FEATURES + 1}]",
                                            f"[{HIDDEN}, {FEATURES}]"]

    @case
    def init_unexpected_tensor(c):
        p = weights_with(c, "w.safetensors", layers__5__weight=np.zeros((2, 2), np.float32))
        return [f"--init_weights={p}"], 1, [p, "unexpected", "layers.5.weight"]

    @case
    def init_garbage(c):
        p = c.raw("w.safetensors", bytes(range(256)) * 4)
        return [f"--init_weights={p}"], 1, [p, "safetensors"]

    @case
    def init_truncated(c):
        good = os.path.join(c.work, "init.safetensors")
        with open(good, "rb") as f:
            data = f.read()
        p = c.raw("w.safetensors", data[:-16])
        return [f"--init_weights={p}"], 1, [p, ("truncated", "past the end", "file holds")]

    # --- command line (exit 2) ------------------------------------------------------------
    @case
    def unknown_option(c):
        return ["--trainer.max_epoch=2"], 2, ["--trainer.max_epoch", "max_epochs"]

    @case
    def unknown_bare_option(c):
        return ["--frobnicate"], 2, ["--frobnicate"]

    @case
    def bad_integer(c):
        return ["--trainer.max_epochs=two"], 2, ["--trainer.max_epochs", "two", "integer"]

    @case
    def fixed_field(c):
        return ["--data.batch_size=4"], 2, ["data.batch_size", ("regenerate", "ltgen")]

    @case
    def csv_option_on_npy_spec(c):
        return [f"--data.train.path={c.path('d.csv')}"], 2, ["--data.train.path", "npy"]

    # --- environment (exit 2): a case's fourth item is the variables it sets ------------------
    @case
    def dropout_masks_variable(c):
        return [], 2, ["LTGEN_DROPOUT_MASKS=gpu", '"torch"', '"counter"'], {"LTGEN_DROPOUT_MASKS": "gpu"}

    return cases


def snapshot(root):
    """Every file and folder under root -> (size, mtime_ns, bytes) for files, None for folders."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            p = os.path.join(dirpath, f)
            st = os.stat(p)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns, fh.read())
    return out


def make_old_run(root):
    """A finished earlier run in root/lightning_logs/version_0."""
    v0 = os.path.join(root, "lightning_logs", "version_0")
    os.makedirs(os.path.join(v0, "checkpoints"))
    with open(os.path.join(v0, "metrics.csv"), "w") as f:
        f.write("epoch,step,train_loss\n0,0,1.5\n0,1,1.25\n")
    with open(os.path.join(v0, "hparams.yaml"), "w") as f:
        f.write("name: earlier_run\n")
    with open(os.path.join(v0, "checkpoints", "epoch=0-step=2.safetensors"), "wb") as f:
        f.write(b"earlier checkpoint")


def run_case(args, name):
    cases = case_table()
    check(name in cases, f"no case named {name!r} (cases: {', '.join(cases)})")
    program_file = os.path.join(args.work, "program.txt")
    check(os.path.isfile(program_file), f"{program_file} is missing: run the bad_data_build test first")
    with open(program_file) as f:
        program = f.read().strip()
    c = Ctx(args.work, name)
    shutil.rmtree(c.dir, ignore_errors=True)
    os.makedirs(c.dir)
    extra, want_rc, phrases, *variables = cases[name](c)
    env = dict(os.environ, **variables[0]) if variables else None
    root = c.path("root")
    make_old_run(root)
    before = snapshot(root)
    base = [f"--data.train.x={c.x}", f"--data.train.y={c.y}", f"--init_weights={c.init}",
            "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={root}"]
    # The case's own options come last: they override the good ones.
    rc, out, err = common.run_program(program, ["fit"] + base + extra, env=env)
    print("stderr: " + (err.rstrip() or "(empty)"))
    check(rc == want_rc, f"exit status {rc}, expected {want_rc}\nstdout:\n{out}\nstderr:\n{err}")
    low = err.lower()
    for phrase in phrases:
        options = phrase if isinstance(phrase, tuple) else (phrase,)
        check(any(o.lower() in low for o in options),
              f"stderr does not say {' or '.join(repr(o) for o in options)}:\n{err}")
    if want_rc != 0:
        check(err.strip(), "nothing on stderr")
        check(len(err.strip().splitlines()) <= 3, f"stderr should be one clear message, got:\n{err}")

    after = snapshot(root)
    old = {k: v for k, v in after.items() if k in before}
    check(old == before, "the earlier run in lightning_logs/version_0 was changed: " +
          ", ".join(k for k in before if after.get(k) != before[k]))
    new = sorted(k for k in after if k not in before)
    if want_rc == 0:
        # TensorBoard's event file name holds the time, host and pid: check its shape only.
        events = [k for k in new if k.startswith("lightning_logs/version_1/events.out.tfevents.")]
        check(len(events) == 1, f"the control run wrote no single TensorBoard event file: {new}")
        new = [k for k in new if k not in events]
        want = ["lightning_logs/version_1", "lightning_logs/version_1/checkpoints",
                f"lightning_logs/version_1/checkpoints/epoch=0-step={-(-N // 8)}.safetensors",
                "lightning_logs/version_1/hparams.yaml", "lightning_logs/version_1/metrics.csv"]
        check(new == want, f"the control run wrote {new}, expected {want}")
    else:
        check(not new, f"a failed run left new files or folders under {root}: {new}")


def build(args):
    os.makedirs(args.work, exist_ok=True)
    program = common.generate(args.ltgen, SPEC, os.path.join(args.work, "prog"))
    write_good_files(args.work)
    with open(os.path.join(args.work, "program.txt"), "w") as f:
        f.write(program + "\n")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true")
    p.add_argument("--ltgen")
    p.add_argument("--work")
    p.add_argument("--build", action="store_true")
    p.add_argument("--case")
    args = p.parse_args()
    if args.list:
        print("\n".join(case_table()))
        sys.exit(0)
    if not args.work or not (args.build or args.case) or (args.build and not args.ltgen):
        p.error("give --list, or --work with --build (and --ltgen) or --case")
    common.main(lambda: build(args) if args.build else run_case(args, args.case))
