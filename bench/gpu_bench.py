#!/usr/bin/env python3
"""Tokens per second on a GPU: ltgen's CUDA programs against PyTorch eager and torch.compile,
in one run on the same GPU (bench/README.md, "GPU"). Runs on the GPU machine, from the
repository root, over the kit that scripts/gpu_kit.sh prepares (the programs are generated on
a machine with ltgen's build dependencies, and built here with CMake and nvcc):

  gpu_bench.py --kit gpu-kit/bench --out OUT [--steps N] [--seconds S] [--cases gpt2_small,gpt_char_bench]
               [--precisions highest,high,bf16-mixed] [--peers ltgen,eager,compile] [--build-only]

Each case is one spec (bench/specs/): gpt2_small (12 layers, 12 heads, 768 wide, context
1024, vocabulary 50304, batch 8) and gpt_char_bench (4 layers, 4 heads, 128 wide, context 64,
batch 32). All three peers train with AdamW and the spec's gradient clipping, at each precision
asked for: "highest" (float32, TF32 off, torch's default), "high" (TF32 GEMMs:
torch.set_float32_matmul_precision("high"), and the spec's "float32_matmul_precision": "high",
the kit's <case>_tf32 programs) and "bf16-mixed" (torch.autocast to bfloat16 around the forward
and loss, as Lightning's bf16-mixed; the kit's <case>_bf16 programs, trainer.precision
"bf16-mixed"):
  - ltgen: the program's `fit` under Trainer(max_time=S) and max_time=3S (--seconds S); the
    steps each did and the training time its Timer callback measured, both from its checkpoint,
    give the steady-state step time: (t2 - t1) / (steps2 - steps1), with start-up, the first
    batch and graph capture left out;
  - PyTorch eager and torch.compile: bench/pytorch_loop.py's CharGPT on random tokens, W
    warm-up steps (compilation included), then N steps timed with the GPU synchronised.
Writes OUT/gpu_bench.jsonl (one line a measurement) and OUT/gpu_bench.md (a table)."""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import torch
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_loop import CharGPT  # noqa: E402

DEVICE = "cuda"  # a dry run of the PyTorch peers elsewhere may set "cpu"

CASES = {
    "gpt2_small": dict(vocab=50304, block=1024, width=768, heads=12, layers=12, batch=8, lr=6e-4, weight_decay=0.1,
                       betas=(0.9, 0.95), clip=1.0),
    "gpt_char_bench": dict(vocab=146, block=64, width=128, heads=4, layers=4, batch=32, lr=3e-3, weight_decay=0.01,
                           betas=(0.9, 0.999), clip=None),
}


def kit_program(case, precision):
    """The kit's program of a case at a precision (scripts/gpu_kit.sh's names)."""
    return {"highest": case, "high": f"{case}_tf32", "bf16-mixed": f"{case}_bf16"}[precision]


def build(program_dir, name, work, work_name):
    out = os.path.join(work, work_name)
    # Copied over an earlier --build-only's tree (copy2 keeps the times), so ninja has nothing to redo.
    shutil.copytree(program_dir, out, dirs_exist_ok=True)
    t0 = time.time()
    for cmd in (["cmake", "-S", out, "-B", f"{out}/build", "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"],
                ["cmake", "--build", f"{out}/build", "-j", str(os.cpu_count() or 4)]):
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}")
    print(f"built {work_name} in {time.time() - t0:.0f}s", flush=True)
    return os.path.join(out, "build", name)


def timed_fit(program, seconds, root):
    """`fit` under Trainer(max_time=seconds): (optimizer steps done, seconds of training), both read
    from the checkpoint it saves when the time is up (global_step, and the Timer callback's
    time_elapsed["train"], which starts at on_train_start, so process start-up is not in it, and
    is as of the last batch's end, so the final save is not either). Checkpoints saved at the
    ends of earlier epochs are in it: the kit's gpt2_small data holds 128 steps an epoch (a fit
    stays in one), and gpt_char_bench's epochs of about 600 steps save a few megabytes each."""
    shutil.rmtree(root, ignore_errors=True)
    args = [program, "fit", "--trainer.max_steps=-1", "--trainer.max_epochs=1000000",
            f"--trainer.max_time=00:00:{seconds // 60:02d}:{seconds % 60:02d}", "--trainer.limit_val_batches=0",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            f"--trainer.default_root_dir={root}", "--trainer.log_every_n_steps=1000000"]
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or "used: True" not in proc.stderr:
        raise SystemExit(f"{' '.join(args)} exited with {proc.returncode} (or not on the GPU):\n{proc.stderr[-4000:]}")
    checkpoints = glob.glob(os.path.join(root, "lightning_logs", "version_0", "checkpoints", "*.safetensors"))
    if len(checkpoints) != 1:
        raise SystemExit(f"{' '.join(args)}: expected one checkpoint, found {checkpoints}")
    with safe_open(checkpoints[0], framework="np") as f:
        meta = f.metadata()
    timers = [v for k, v in json.loads(meta["callbacks"]).items() if k.startswith("Timer")]
    return int(meta["global_step"]), float(timers[0]["time_elapsed"]["train"]), proc.stderr.splitlines()[0]


def ltgen_peer(case, kit_name, kit, work, seconds):
    """Steady-state step time of the kit's program `kit_name` (case's spec): the difference of two
    timed fits (`seconds` and 3 x `seconds`), so that the first step's graph capture and anything
    else paid once cancel out."""
    program = build(os.path.join(kit, kit_name), case, work, kit_name)
    steps_short, time_short, device = timed_fit(program, seconds, os.path.join(work, f"{kit_name}_short"))
    steps_long, time_long, _ = timed_fit(program, 3 * seconds, os.path.join(work, f"{kit_name}_long"))
    per_step = (time_long - time_short) / (steps_long - steps_short)
    return {"peer": "ltgen", "device_line": device, "step_ms": per_step * 1e3,
            "timed": f"{steps_short} steps in {time_short:.2f}s, {steps_long} in {time_long:.2f}s"}


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def torch_peer(case, c, compiled, warmup, steps, precision):
    # "highest": float32 GEMMs, as ltgen's CUBLAS_COMPUTE_32F; "high": TF32, as its _FAST_TF32;
    # "bf16-mixed": float32 weights and bfloat16 autocast (Lightning's MixedPrecision("bf16-mixed")).
    mixed = precision == "bf16-mixed"
    torch.set_float32_matmul_precision("highest" if mixed else precision)
    torch.backends.cudnn.allow_tf32 = precision == "high"
    torch.manual_seed(0)
    model = CharGPT(c["vocab"], c["block"], c["width"], c["heads"], c["layers"]).to(DEVICE)
    opt = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"], betas=c["betas"])
    run = torch.compile(model) if compiled else model
    x = torch.randint(0, c["vocab"], (c["batch"], c["block"]), device=DEVICE)
    y = torch.randint(0, c["vocab"], (c["batch"], c["block"]), device=DEVICE)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=mixed):
            loss = torch.nn.functional.cross_entropy(run(x).flatten(0, 1), y.flatten())
        loss.backward()
        if c["clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), c["clip"])
        opt.step()

    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return {"peer": "torch.compile" if compiled else "pytorch eager", "step_ms": (time.perf_counter() - t0) / steps * 1e3}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kit", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp/ltgen-gpu-bench")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4, help="ltgen: fit for this long and for 3x this long")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--precisions", default="highest,high", help="highest, high (TF32) and bf16-mixed")
    ap.add_argument("--peers", default="ltgen,eager,compile", help="which of ltgen, eager, compile to time")
    ap.add_argument("--build-only", action="store_true", help="build the ltgen programs and stop (a GPU need not "
                                                              "be free: the timed run then reuses the builds)")
    args = ap.parse_args()
    if args.build_only:
        for case in args.cases.split(","):
            for precision in args.precisions.split(","):
                build(os.path.join(args.kit, kit_program(case, precision)), case, args.work,
                      kit_program(case, precision))
        return
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    machine = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda}
    rows = []
    with open(os.path.join(args.out, "gpu_bench.jsonl"), "a", buffering=1) as log:  # each line kept if killed
        for case in args.cases.split(","):
            c = CASES[case]
            for precision in args.precisions.split(","):
                for peer in args.peers.split(","):
                    try:
                        if peer == "ltgen":
                            r = ltgen_peer(case, kit_program(case, precision), args.kit, args.work, args.seconds)
                        else:
                            r = torch_peer(case, c, peer == "compile", args.warmup, args.steps, precision)
                    except (Exception, SystemExit) as e:  # one peer failing still reports the others, and why
                        r = {"peer": peer, "error": str(e)[-2000:]}
                    r.update(case=case, precision=precision, steps=args.steps,
                             tokens_per_step=c["batch"] * c["block"], **machine)
                    if "step_ms" in r:
                        r["tokens_per_s"] = r["tokens_per_step"] / (r["step_ms"] / 1e3)
                    print(json.dumps(r), flush=True)
                    log.write(json.dumps(r) + "\n")
                    rows.append(r)
    with open(os.path.join(args.out, "gpu_bench.md"), "w") as f:
        f.write(f"{machine['gpu']}, torch {machine['torch']} (CUDA {machine['cuda']}); precision highest: float32, "
                f"TF32 off, high: TF32 GEMMs, bf16-mixed: bfloat16 autocast; {args.steps} timed steps after "
                f"{args.warmup}\n\n| case | precision | peer | ms/step | tokens/s |\n|---|---|---|---|---|\n")
        for r in rows:
            if "step_ms" in r:
                f.write(f"| {r['case']} | {r['precision']} | {r['peer']} | {r['step_ms']:.2f} | {r['tokens_per_s']:.0f} |\n")
            else:
                f.write(f"| {r['case']} | {r['precision']} | {r['peer']} | failed: {r['error'][:200]!r} | |\n")


if __name__ == "__main__":
    main()
