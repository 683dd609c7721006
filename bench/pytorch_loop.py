#!/usr/bin/env python3
"""The Python peers of bench/run.sh (see bench/README.md).

  pytorch_loop.py loop --case linear|mlp|cnn|gpt --threads T [--steps S] [--repeats R]
      A plain PyTorch training loop on a fixed full batch, the shapes, loss and optimizer
      of specs/linear.json (a), specs/mlp.json (b), bench/specs/cnn_bench.json (c) or
      bench/specs/gpt_char_bench.json (d, random tokens): warmup, then R repeats of S steps;
      prints one JSON line with the median (and min) time per step in microseconds.

  pytorch_loop.py lightning --spec specs/X.json --threads T [--max-epochs E] [--root DIR]
      Lightning's Trainer on the spec (its layers, loss, optimizer, randn data, batch size,
      shuffle, epochs, log_every_n_steps; CSVLogger, checkpointing on, progress bar off, as the
      generated program runs); a callback times each step from one batch start to the next
      (data loading, training_step, backward, optimizer, logging) and the step alone. Prints
      one JSON line. Run it under `time` for the whole process.

torch.set_num_threads(T) sets the intra-op threads; set OMP_WAIT_POLICY in the environment.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


def make_case(case):
    """Model, optimizer, loss function and one full batch for case (a) or (b)."""
    if case == "linear":  # specs/linear.json
        torch.manual_seed(42)
        model = nn.Linear(10, 1)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.randn(32, 10), torch.randn(32, 1)
        return model, opt, F.mse_loss, x, y
    if case == "mlp":  # specs/mlp.json: 784-256-256-10 at batch 128
        torch.manual_seed(7)
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                              nn.Linear(256, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
        return model, opt, F.cross_entropy, x, y
    if case == "cnn":  # bench/specs/cnn_bench.json at batch 64
        torch.manual_seed(7)
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32),
                              nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
        return model, opt, F.cross_entropy, x, y
    if case == "gpt":  # bench/specs/gpt_char_bench.json: 4 layers, 4 heads, E 128, T 64, batch 32
        torch.manual_seed(0)
        model = CharGPT(vocab=146, block=64, width=128, heads=4, layers=4)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
        x, y = torch.randint(0, 146, (32, 64)), torch.randint(0, 146, (32, 64))
        return model, opt, lambda out, tgt: F.cross_entropy(out.flatten(0, 1), tgt.flatten()), x, y
    raise SystemExit(f"unknown case {case}")


class Block(nn.Module):
    """Pre-LayerNorm block of bench/specs/gpt_char_bench.json: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, width, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.fc, self.gelu, self.proj = nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.proj(self.gelu(self.fc(self.ln2(x))))


class CharGPT(nn.Module):
    """Token + learned positional embeddings, pre-LN blocks, final LayerNorm, head tied to wte."""

    def __init__(self, vocab, block, width, heads, layers):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(block, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.lnf = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.wte.weight
        # float -inf above the diagonal, as nn.Transformer.generate_square_subsequent_mask(T)
        self.register_buffer("mask", torch.triu(torch.full((block, block), float("-inf")), diagonal=1))

    def forward(self, idx):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for b in self.blocks:
            x = b(x, self.mask[:t, :t])
        return self.head(self.lnf(x))


def versions():
    out = {"python": sys.version.split()[0], "torch": torch.__version__,
           "torch_threads": torch.get_num_threads(),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}
    cfg = torch.__config__.show()
    info = next((p.split("=")[1] for p in cfg.replace(",", " ").split() if p.startswith("BLAS_INFO=")), "?")
    if info == "generic":  # Debian: the libblas.so.3 alternative
        info = "libblas.so.3 = " + os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3").split("/")[-2]
    out["blas"] = {"mkl": "MKL", "open": "OpenBLAS"}.get(info, info)
    out["mkldnn"] = torch.backends.mkldnn.is_available()
    return out


def run_loop(args):
    torch.set_num_threads(args.threads)
    model, opt, loss_fn, x, y = make_case(args.case)
    model.train()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    per_step = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        per_step.append((time.perf_counter() - t0) / args.steps * 1e6)
    res = {"peer": "pytorch_loop", "case": args.case, "threads": args.threads,
           "median_us": statistics.median(per_step), "min_us": min(per_step),
           "repeats": args.repeats, "steps": args.steps, "loss": float(step().item())}
    res.update(versions())
    print(json.dumps(res))


def run_lightning(args):
    import lightning as L  # the newest package name; pytorch_lightning is the same code
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(args.threads)
    with open(args.spec) as f:
        spec = json.load(f)
    m, d, o, t = spec["model"], spec["data"], spec["optimizer"], spec.get("trainer", {})
    seed = spec.get("seed_everything")  # an int, or {"seed": N, "workers": true}
    workers = isinstance(seed, dict) and bool(seed.get("workers"))
    seed = seed.get("seed") if isinstance(seed, dict) else seed
    L.seed_everything(0 if seed is None else seed, workers=workers, verbose=False)

    (in_name, in_shape), = m["inputs"].items()
    layers, width = [], in_shape[0]
    for layer in m["layers"]:
        if layer["type"] == "Linear":
            layers.append(nn.Linear(width, layer["out_features"]))
            width = layer["out_features"]
        elif layer["type"] == "ReLU":
            layers.append(nn.ReLU())
        else:
            raise SystemExit(f"pytorch_loop.py: layer {layer['type']} not supported here")
    loss_fn = {"MSELoss": nn.MSELoss, "CrossEntropyLoss": nn.CrossEntropyLoss}[m["loss"]["type"]]()

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(*layers)
            self.loss = loss_fn

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = self.loss(self.layers(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            kw = {k: v for k, v in o.items() if k != "type"}
            return getattr(torch.optim, o["type"])(self.parameters(), **kw)

    n = d["train"]["num_samples"]
    x = torch.randn(n, *in_shape)
    tgt = m["target"]
    y = (torch.randint(0, tgt["num_classes"], (n,)) if tgt.get("dtype") == "int64"
         else torch.randn(n, *tgt["shape"]))
    loader = DataLoader(TensorDataset(x, y), batch_size=d["batch_size"], shuffle=d.get("shuffle", False))

    class Timer(L.Callback):
        def __init__(self):
            self.starts, self.step_us = [], []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.starts.append(time.perf_counter())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.step_us.append((time.perf_counter() - self.starts[-1]) * 1e6)

    timer = Timer()
    root = args.root or "."
    trainer = L.Trainer(max_epochs=args.max_epochs or t.get("max_epochs", 1), accelerator="cpu", devices=1,
                        log_every_n_steps=t.get("log_every_n_steps", 50), enable_progress_bar=False,
                        enable_model_summary=False, logger=CSVLogger(root, name="lightning_logs"),
                        default_root_dir=root, callbacks=[timer])
    t0 = time.perf_counter()
    trainer.fit(Module(), loader)
    fit_s = time.perf_counter() - t0
    # Batch start to next batch start: the whole step as the loop sees it (data, step, logging).
    loop_us = [(b - a) * 1e6 for a, b in zip(timer.starts, timer.starts[1:])]
    res = {"peer": "lightning", "spec": os.path.basename(args.spec), "threads": args.threads,
           "steps": len(timer.step_us), "median_loop_us": statistics.median(loop_us),
           "median_step_us": statistics.median(timer.step_us), "fit_s": fit_s,
           "lightning": L.__version__}
    res.update(versions())
    print(json.dumps(res))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("loop")
    lp.add_argument("--case", choices=["linear", "mlp", "cnn", "gpt"], required=True)
    lp.add_argument("--threads", type=int, default=1)
    lp.add_argument("--steps", type=int, default=0, help="steps per repeat (default: 2000 linear, 50 mlp)")
    lp.add_argument("--warmup", type=int, default=0, help="warmup steps (default: steps)")
    lp.add_argument("--repeats", type=int, default=7)
    lg = sub.add_parser("lightning")
    lg.add_argument("--spec", required=True)
    lg.add_argument("--threads", type=int, default=1)
    lg.add_argument("--max-epochs", type=int, default=0, help="override the spec's trainer.max_epochs")
    lg.add_argument("--root", default="", help="where lightning_logs/ goes (default: .)")
    args = p.parse_args()
    if args.cmd == "loop":
        args.steps = args.steps or {"linear": 2000, "mlp": 50, "cnn": 50, "gpt": 5}[args.case]
        args.warmup = args.warmup or args.steps
        run_loop(args)
    else:
        run_lightning(args)


if __name__ == "__main__":
    main()
