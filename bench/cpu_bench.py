#!/usr/bin/env python3
"""Trainer configurations on the CPU: training throughput (samples per second) of ltgen's program
against Lightning's Trainer on the same spec, in one run on the same machine.

    python3 bench/cpu_bench.py ddp|precision|gpt_precision|gpt_dropout|lstm|lbfgs|augment|augment_color|augment_simclr|augment_affine|segment \
        --ltgen build/ltgen \
        --lightning-python /opt/ltgen/lightning-venv/bin/python [--repeats 3] [--out DIR]

`ddp`: 1 process and 2 (mpirun -n 2) against Lightning with devices=1 and devices=2 (its own DDP on
the CPU, gloo). `precision`: "32-true" against "bf16-mixed", both in one process, for both.
`gpt_precision`: the same for a 2-block GPT (causal attention, T=64, E=128), in tokens per second.
`gpt_dropout`: that GPT in "32-true" without dropout and with GPT-2's (0.1 on the attention's
probabilities, after each block's attention and MLP, and after the embeddings): the cost of
drawing torch's masks, for both.
`lstm`: a character LSTM (2 layers of 256 units, T=64) in "32-true", in tokens per second.
`lbfgs`: a 4-64-64-1 Tanh MLP fitted by LBFGS (strong Wolfe, 25 closure evaluations a step) to 1024
rows in one batch, in samples (rows a step) per second.
`augment`: a small CNN on CIFAR-shaped images (3 x 32 x 32, batch 64) without data transforms and
with CIFAR's usual augmentation (RandomCrop(32, padding=4), RandomHorizontalFlip, Normalize: torchvision's
in the Lightning script's Dataset, no DataLoader workers on either side), in samples per second;
`augment_color` the same with ColorJitter(0.4, 0.4, 0.4, 0.1) and RandomGrayscale(0.2) added;
`augment_simclr` SimCLR's augmentation without its blur: RandomResizedCrop(32), RandomHorizontalFlip,
RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), RandomGrayscale(0.2), Normalize;
`augment_affine` geometric augmentation: RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1),
bilinear), RandomHorizontalFlip, Normalize.
`segment`: a small U-Net labelling each pixel of 3 x 32 x 32 images (5 classes, batch 32): Conv2d
and ReLU, MaxPool2d down, Conv2d and ReLU, ConvTranspose2d up, a Concat with the skip, Conv2d and
ReLU, a 1x1 Conv2d head, and CrossEntropyLoss on its (N, 5, 32, 32) logits as torch reads them, in
samples per second.

Each peer trains the spec twice, for 1 and for 5 epochs, and the difference of the two wall
times over the 4 epochs' samples is its throughput (start-up, imports, process launch and the
first epoch's warm-up are left out). Each rank has `batch_size` rows a step, so 2 processes take
2 x batch_size samples a step. ltgen's processes use one OpenBLAS thread each (two for the
one-process run's second row); Lightning sets each DDP process's torch threads itself
(cores / processes). Medians of --repeats.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import common  # noqa: E402  (generate, launcher)

N, FEATURES, HIDDEN, CLASSES, BATCH = 16384, 256, 1024, 10, 64  # the MLP
GPT_N, GPT_T, GPT_VOCAB, GPT_E, GPT_BATCH = 2048, 64, 96, 128, 16  # the GPT: windows of T tokens
LSTM_N, LSTM_T, LSTM_VOCAB, LSTM_E, LSTM_H, LSTM_BATCH = 1024, 64, 96, 64, 256, 16  # the LSTM's windows
LBFGS_N, LBFGS_FEATURES, LBFGS_HIDDEN = 1024, 4, 64  # the LBFGS fit: all rows in one batch
CNN_N, CNN_BATCH = 2048, 64  # the augmented CNN's images
SEG_N, SEG_BATCH, SEG_CLASSES = 1024, 32, 5  # the U-Net's images, a label per pixel
EPOCHS = (1, 5)  # the two fits; their difference is timed (lbfgs: 1 and 101)


# What each mode compares: the model, and (devices, precision, ltgen's BLAS threads per process,
# dropout: the GPT's).
MODES = {
    "ddp": ("mlp", [(1, "32-true", [1, 2], 0.0), (2, "32-true", [1], 0.0)]),
    "precision": ("mlp", [(1, "32-true", [2], 0.0), (1, "bf16-mixed", [2], 0.0)]),
    "gpt_precision": ("gpt", [(1, "32-true", [2], 0.0), (1, "bf16-mixed", [2], 0.0)]),
    "gpt_dropout": ("gpt", [(1, "32-true", [2], 0.0), (1, "32-true", [2], 0.1)]),
    "lstm": ("lstm", [(1, "32-true", [1, 2], 0.0)]),
    "lbfgs": ("lbfgs", [(1, "32-true", [1], 0.0)]),
    "augment": ("cnn", [(1, "32-true", [2], 0.0), (1, "32-true", [2], 1.0)]),  # (the last: AUGMENTATIONS' key)
    "augment_color": ("cnn", [(1, "32-true", [2], 2.0)]),
    "augment_simclr": ("cnn", [(1, "32-true", [2], 3.0)]),
    "augment_affine": ("cnn", [(1, "32-true", [2], 4.0)]),
    "segment": ("unet", [(1, "32-true", [2], 0.0)]),
}

# CIFAR's usual training augmentation (its channels' means and stds).
AUGMENTATION = [{"type": "RandomCrop", "size": 32, "padding": 4}, {"type": "RandomHorizontalFlip"},
                {"type": "Normalize", "mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.243, 0.261]}]
# The same with SimCLR-like colour augmentation before the normalisation.
COLOR_AUGMENTATION = AUGMENTATION[:2] + [
    {"type": "ColorJitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
    {"type": "RandomGrayscale", "p": 0.2}] + AUGMENTATION[2:]
# SimCLR's (without its GaussianBlur): a random resized crop, then colour applied with p = 0.8.
SIMCLR_AUGMENTATION = [
    {"type": "RandomResizedCrop", "size": 32}, {"type": "RandomHorizontalFlip"},
    {"type": "RandomApply", "p": 0.8,
     "transforms": [{"type": "ColorJitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1}]},
    {"type": "RandomGrayscale", "p": 0.2}] + AUGMENTATION[2:]
# A random affine warp (rotation, shift and scale, bilinear) before the flip.
AFFINE_AUGMENTATION = [
    {"type": "RandomAffine", "degrees": 15, "translate": [0.1, 0.1], "scale": [0.9, 1.1],
     "interpolation": "bilinear"}] + AUGMENTATION[1:]
AUGMENTATIONS = {1.0: AUGMENTATION, 2.0: COLOR_AUGMENTATION, 3.0: SIMCLR_AUGMENTATION, 4.0: AFFINE_AUGMENTATION}
# The programs' names and the rows' words for them.
AUGMENTATION_FLAGS = {1.0: ("_augmented", ", augmented"), 2.0: ("_color", ", augmented with colour"),
                      3.0: ("_simclr", ", SimCLR's augmentation"), 4.0: ("_affine", ", RandomAffine")}


def cnn_spec(name, augmentation):
    """Two 3x3 convolutions with ReLU and max pooling, a linear head: CIFAR-10's shape."""
    train = {"source": "npy", "x": "x.npy", "y": "y.npy"}
    if augmentation:
        train["transforms"] = AUGMENTATIONS[augmentation]
    return {
        "name": name, "seed_everything": 1,
        "model": {"inputs": {"x": [3, 32, 32]}, "target": {"dtype": "int64", "num_classes": CLASSES},
                  "layers": [{"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
                             {"type": "MaxPool2d", "kernel_size": 2},
                             {"type": "Conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
                             {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
                             {"type": "Linear", "out_features": CLASSES}],
                  "loss": {"type": "CrossEntropyLoss"}},
        "data": {"batch_size": CNN_BATCH, "shuffle": True, "train": train},
        "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9},
        "trainer": {"accelerator": "cpu", "max_epochs": 1, "logger": False, "enable_checkpointing": False,
                    "enable_progress_bar": False, "enable_model_summary": False},
    }


def unet_spec(name):
    """A U-Net of one level: its logits (N, SEG_CLASSES, 32, 32), a class per pixel."""
    def conv(node, source, channels, kernel=3):
        return {"name": node, "type": "Conv2d", "input": source, "out_channels": channels, "kernel_size": kernel,
                "padding": kernel // 2}
    return {
        "name": name, "seed_everything": 1,
        "model": {"inputs": {"x": [3, 32, 32]},
                  "target": {"dtype": "int64", "num_classes": SEG_CLASSES, "shape": [32, 32]},
                  "graph": [conv("enc", "x", 16), {"name": "enc_act", "type": "ReLU", "input": "enc"},
                            {"name": "pool", "type": "MaxPool2d", "input": "enc_act", "kernel_size": 2},
                            conv("mid", "pool", 32), {"name": "mid_act", "type": "ReLU", "input": "mid"},
                            {"name": "up", "type": "ConvTranspose2d", "input": "mid_act", "out_channels": 16,
                             "kernel_size": 2, "stride": 2},
                            {"name": "skip", "type": "Concat", "inputs": ["up", "enc_act"], "dim": 1},
                            conv("dec", "skip", 16), {"name": "dec_act", "type": "ReLU", "input": "dec"},
                            conv("head", "dec_act", SEG_CLASSES, 1)],
                  "output": "head", "loss": {"type": "CrossEntropyLoss"}},
        "data": {"batch_size": SEG_BATCH, "shuffle": True, "train": {"source": "npy", "x": "x.npy", "y": "y.npy"}},
        "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9},
        "trainer": {"accelerator": "cpu", "max_epochs": 1, "logger": False, "enable_checkpointing": False,
                    "enable_progress_bar": False, "enable_model_summary": False},
    }


def lbfgs_spec(name):
    """LBFGS's usual job: a small MLP fitted to a function on the whole data set at once (a batch an
    epoch), the strong-Wolfe line search, 20 iterations and 25 evaluations a step; no tolerance can
    end a step early, so both peers evaluate the closure as often."""
    return {
        "name": name, "seed_everything": 1,
        "model": {"inputs": {"x": [LBFGS_FEATURES]}, "target": {"shape": [1]},
                  "layers": [{"type": "Linear", "out_features": LBFGS_HIDDEN}, {"type": "Tanh"},
                             {"type": "Linear", "out_features": LBFGS_HIDDEN}, {"type": "Tanh"},
                             {"type": "Linear", "out_features": 1}],
                  "loss": {"type": "MSELoss"}},
        "data": {"batch_size": LBFGS_N, "train": {"source": "npy", "x": "x.npy", "y": "y.npy"}},
        "optimizer": {"type": "LBFGS", "lr": 1, "max_iter": 20, "max_eval": 25, "history_size": 10,
                      "tolerance_grad": -1.0, "tolerance_change": -1.0, "line_search_fn": "strong_wolfe"},
        "trainer": {"accelerator": "cpu", "max_epochs": 1, "logger": False, "enable_checkpointing": False,
                    "enable_progress_bar": False, "enable_model_summary": False},
    }


# The lbfgs mode's plain PyTorch peer: the spec's model, data and LBFGS, `sys.argv[1]` steps.
LBFGS_LOOP = f"""import sys
import numpy as np
import torch
torch.manual_seed(1)
x = torch.from_numpy(np.load("x.npy"))
y = torch.from_numpy(np.load("y.npy"))
model = torch.nn.Sequential(torch.nn.Linear({LBFGS_FEATURES}, {LBFGS_HIDDEN}), torch.nn.Tanh(),
                            torch.nn.Linear({LBFGS_HIDDEN}, {LBFGS_HIDDEN}), torch.nn.Tanh(),
                            torch.nn.Linear({LBFGS_HIDDEN}, 1))
opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=20, max_eval=25, history_size=10, tolerance_grad=-1.0,
                        tolerance_change=-1.0, line_search_fn="strong_wolfe")
def closure():
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    return loss
for _ in range(int(sys.argv[1])):
    opt.step(closure)
"""


def lstm_spec(name, precision):
    """char-rnn's model: an Embedding, a 2-layer LSTM and a Linear head on every position."""
    return {
        "name": name, "seed_everything": 1,
        "model": {"inputs": {"x": {"shape": [LSTM_T], "dtype": "int64"}},
                  "target": {"dtype": "int64", "num_classes": LSTM_VOCAB, "shape": [LSTM_T]},
                  "layers": [{"type": "Embedding", "num_embeddings": LSTM_VOCAB, "embedding_dim": LSTM_E},
                             {"type": "LSTM", "hidden_size": LSTM_H, "num_layers": 2, "batch_first": True},
                             {"type": "Linear", "out_features": LSTM_VOCAB}],
                  "loss": {"type": "CrossEntropyLoss"}},
        "data": {"batch_size": LSTM_BATCH, "train": {"source": "npy", "x": "x.npy", "y": "y.npy"}},
        "optimizer": {"type": "Adam", "lr": 1e-3},
        "trainer": {"accelerator": "cpu", "precision": precision, "max_epochs": 1, "logger": False,
                    "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False},
    }


def gpt_spec(name, precision, dropout=0.0):
    """Two pre-LayerNorm blocks of causal attention (4 heads) and a GELU MLP, a tied head; with
    dropout, nanoGPT's places for it."""
    graph = [{"name": "wte", "type": "Embedding", "input": "x", "num_embeddings": GPT_VOCAB, "embedding_dim": GPT_E},
             {"name": "wpe", "type": "PositionalEmbedding", "input": "wte", "num_positions": GPT_T}]
    last = "wpe"

    def dropped(node):  # node, then a Dropout after it when there is dropout
        nonlocal graph
        graph.append(node)
        if dropout > 0:
            graph.append({"name": node["name"] + "_drop", "type": "Dropout", "input": node["name"], "p": dropout})
            return node["name"] + "_drop"
        return node["name"]

    if dropout > 0:
        last = dropped(graph.pop())
    for b in (1, 2):
        graph.append({"name": f"ln{b}a", "type": "LayerNorm", "input": last})
        attn = dropped({"name": f"attn{b}", "type": "MultiheadAttention", "input": f"ln{b}a", "num_heads": 4,
                        "batch_first": True, "is_causal": True, "dropout": dropout})
        graph += [{"name": f"res{b}a", "type": "Add", "inputs": [attn, last]},
                  {"name": f"ln{b}b", "type": "LayerNorm", "input": f"res{b}a"},
                  {"name": f"fc{b}", "type": "Linear", "input": f"ln{b}b", "out_features": 4 * GPT_E},
                  {"name": f"gelu{b}", "type": "GELU", "input": f"fc{b}"}]
        proj = dropped({"name": f"proj{b}", "type": "Linear", "input": f"gelu{b}", "out_features": GPT_E})
        graph.append({"name": f"res{b}b", "type": "Add", "inputs": [proj, f"res{b}a"]})
        last = f"res{b}b"
    graph += [{"name": "lnf", "type": "LayerNorm", "input": last},
              {"name": "head", "type": "Linear", "input": "lnf", "out_features": GPT_VOCAB, "bias": False,
               "tie_weight": "wte"}]
    return {
        "name": name, "seed_everything": 1,
        "model": {"inputs": {"x": {"shape": [GPT_T], "dtype": "int64"}},
                  "target": {"dtype": "int64", "num_classes": GPT_VOCAB, "shape": [GPT_T]},
                  "graph": graph, "output": "head", "loss": {"type": "CrossEntropyLoss"}},
        "data": {"batch_size": GPT_BATCH, "train": {"source": "npy", "x": "x.npy", "y": "y.npy"}},
        "optimizer": {"type": "AdamW", "lr": 1e-3},
        "trainer": {"accelerator": "cpu", "precision": precision, "max_epochs": 1, "logger": False,
                    "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False},
    }


def spec(name, devices, precision):
    return {
        "name": name, "seed_everything": 1,
        "model": {"inputs": {"x": [FEATURES]}, "target": {"dtype": "int64", "num_classes": CLASSES},
                  "layers": [{"type": "Linear", "out_features": HIDDEN}, {"type": "ReLU"},
                             {"type": "Linear", "out_features": HIDDEN}, {"type": "ReLU"},
                             {"type": "Linear", "out_features": CLASSES}],
                  "loss": {"type": "CrossEntropyLoss"}},
        "data": {"batch_size": BATCH, "train": {"source": "npy", "x": "x.npy", "y": "y.npy"}},
        "optimizer": {"type": "AdamW", "lr": 1e-3},
        "trainer": {"accelerator": "cpu", "devices": devices, "precision": precision, "max_epochs": 1, "logger": False,
                    "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False},
    }


def timed(cmd, env, cwd):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return dt


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--ltgen", required=True)
    parser.add_argument("--lightning-python", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="work folder (default build-bench/<mode>)")
    args = parser.parse_args()
    import numpy as np
    work = os.path.abspath(args.out or os.path.join("build-bench", args.mode))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = np.random.default_rng(0)
    model, configs = MODES[args.mode]
    # An LBFGS step is a few ms: enough of them that the difference outweighs process start-up's noise.
    epochs = (1, 101) if model == "lbfgs" else EPOCHS
    if model in ("gpt", "lstm"):  # token windows; throughput counts tokens
        n, t, vocab = (GPT_N, GPT_T, GPT_VOCAB) if model == "gpt" else (LSTM_N, LSTM_T, LSTM_VOCAB)
        samples, unit = n, ("tokens", t)
        np.save(os.path.join(work, "x.npy"), rng.integers(0, vocab, (n, t)).astype(np.int64))
        np.save(os.path.join(work, "y.npy"), rng.integers(0, vocab, (n, t)).astype(np.int64))
    elif model == "cnn":  # images in [0, 1), as ToTensor leaves them
        samples, unit = CNN_N, ("samples", 1)
        np.save(os.path.join(work, "x.npy"), rng.random((CNN_N, 3, 32, 32)).astype(np.float32))
        np.save(os.path.join(work, "y.npy"), rng.integers(0, CLASSES, CNN_N).astype(np.int64))
    elif model == "unet":  # images in [0, 1) and a label per pixel
        samples, unit = SEG_N, ("samples", 1)
        np.save(os.path.join(work, "x.npy"), rng.random((SEG_N, 3, 32, 32)).astype(np.float32))
        np.save(os.path.join(work, "y.npy"), rng.integers(0, SEG_CLASSES, (SEG_N, 32, 32)).astype(np.int64))
    elif model == "lbfgs":  # a smooth function of the inputs; throughput counts a step's rows once
        samples, unit = LBFGS_N, ("samples", 1)
        x = rng.standard_normal((LBFGS_N, LBFGS_FEATURES)).astype(np.float32)
        np.save(os.path.join(work, "x.npy"), x)
        np.save(os.path.join(work, "y.npy"), (np.sin(x.sum(axis=1, keepdims=True)) + 0.1 * x[:, :1] ** 2).astype(np.float32))
    else:
        samples, unit = N, ("samples", 1)
        np.save(os.path.join(work, "x.npy"), rng.standard_normal((N, FEATURES)).astype(np.float32))
        np.save(os.path.join(work, "y.npy"), rng.integers(0, CLASSES, N).astype(np.int64))
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)  # OpenBLAS's own kernels for this CPU (bench/README.md),
    # or those the programs advise where OpenBLAS does not recognise the CPU
    coretype = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts",
                                                            "openblas_coretype.py")],
                              env=env, stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    peers = []  # (label, command for max_epochs=E)
    for devices, precision, threads, dropout in configs:
        flag = ("_dropout" if model != "cnn" else AUGMENTATION_FLAGS[dropout][0]) if dropout else ""
        name = f"cpu_bench_{model}_{devices}_{precision.replace('-', '_')}" + flag
        path = os.path.join(work, name + ".json")
        with open(path, "w") as f:
            if model == "gpt":
                json.dump(gpt_spec(name, precision, dropout), f, indent=1)
            elif model == "lbfgs":
                json.dump(lbfgs_spec(name), f, indent=1)
            elif model == "cnn":
                json.dump(cnn_spec(name, dropout), f, indent=1)
            elif model == "unet":
                json.dump(unet_spec(name), f, indent=1)
            else:
                json.dump(lstm_spec(name, precision) if model == "lstm" else spec(name, devices, precision), f, indent=1)
        program = common.generate(args.ltgen, path, os.path.join(work, name))
        script = os.path.join(work, name + ".py")
        subprocess.run([args.ltgen, path, "--emit", "lightning", "-o", script], check=True, capture_output=True)
        said = (f", dropout {dropout}" if model != "cnn" else AUGMENTATION_FLAGS[dropout][1]) if dropout else ""
        for t in threads:
            peers.append((f"ltgen, {precision}{said}, {devices} process{'es' if devices > 1 else ''}, "
                          f"{t} BLAS thread{'s' if t > 1 else ''} each",
                          lambda e, p=program, d=devices: common.launcher(d) + [p, "fit", f"--trainer.max_epochs={e}"],
                          {"OPENBLAS_NUM_THREADS": str(t)}, devices))
        # The emitted script takes max_epochs from the spec: a copy per epoch count.
        for e in epochs:
            with open(script) as f:
                text = f.read()
            with open(script.replace(".py", f"_e{e}.py"), "w") as f:
                f.write(text.replace("max_epochs=1,", f"max_epochs={e},"))
        peers.append((f"Lightning, {precision}{said}, devices={devices}" + (" (DDP, gloo)" if devices > 1 else ""),
                      lambda e, s=script: [args.lightning_python, s.replace(".py", f"_e{e}.py")], {}, devices))
        if model == "lbfgs":  # and torch's LBFGS in a plain loop, without Lightning's closure around it
            loop = os.path.join(work, "lbfgs_loop.py")
            with open(loop, "w") as f:
                f.write(LBFGS_LOOP)
            peers.append(("PyTorch loop (torch.optim.LBFGS), 32-true",
                          lambda e, s=loop: [args.lightning_python, s, str(e)], {}, devices))
    rows = []
    for label, command, extra_env, devices in peers:
        rates = []
        for _ in range(args.repeats):
            run_env = dict(env, **extra_env)
            t1 = timed(command(epochs[0]), run_env, work)
            t2 = timed(command(epochs[1]), run_env, work)
            rates.append((epochs[1] - epochs[0]) * samples * unit[1] / (t2 - t1))
        rows.append((label, statistics.median(rates), rates))
        print(f"{label}: {statistics.median(rates):,.0f} {unit[0]}/s (runs: {', '.join(f'{r:,.0f}' for r in rates)})",
              flush=True)
    base = rows[0][1]
    print(f"\n| peer | {unit[0]}/s (median) | vs {rows[0][0]} |\n|---|---|---|")
    for label, rate, _ in rows:
        print(f"| {label} | {rate:,.0f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
