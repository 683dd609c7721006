#!/usr/bin/env python3
"""parity_gpt: a generated transformer program trains like a plain PyTorch loop (DESIGN.md §6).

  parity_gpt.py --ltgen PATH --work DIR SPEC.json

SPEC is a GPT-like `model.graph` spec (tests/e2e/parity_specs_graph/): int64 token inputs
(N, T), int64 next-token targets (N, T), CrossEntropyLoss, an npy training source with
shuffle=false. The test writes token data from a random Markov chain (x and y = x shifted by
one), builds the graph as torch.nn modules under the generated program's names (`<node>.weight`,
MultiheadAttention's `<node>.in_proj_weight` / `.out_proj.weight`, ...; a `tie_weight` head
shares its owner's tensor), saves its initial weights with safetensors.torch.save_file, runs
the program with --init_weights and --data.train.x/y, then trains the same torch model with
torch.optim, the trainer's gradient clipping and the same batches. Checks: per-step
train_loss within 1e-4 relative of torch's on every step, the same number of steps, the final
weights (state_dict.<name>, the tied weight once under its owner's name) and the optimizer
slots within 1e-4 (relative to each tensor's largest magnitude) of torch's.
"""
import argparse
import json
import math
import os

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import common
from common import check

LOSS_RTOL = 1e-4
WEIGHT_RTOL = 1e-4
SLOT_RTOL = 1e-4

# 5 full batches of 8 and one of 4 per epoch: the last batch's mean is over 4 * T tokens.
NUM_SAMPLES = 44


class PositionalEmbedding(torch.nn.Module):
    """ltgen's PositionalEmbedding: x + weight[:T], weight (num_positions, E) ~ N(0, 1)."""

    def __init__(self, num_positions, embedding_dim):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(num_positions, embedding_dim))

    def forward(self, x):
        return x + self.weight[:x.shape[1]]


class GraphNet(torch.nn.Module):
    """The spec's model.graph as torch.nn modules, each registered under its node's name so
    that state_dict() has the generated program's names."""

    KEYS = {  # the node arguments modelled here, besides name / type / input(s)
        "Embedding": {"num_embeddings", "embedding_dim"},
        "PositionalEmbedding": {"num_positions"},
        "LayerNorm": {"eps"},
        "MultiheadAttention": {"num_heads", "batch_first", "is_causal"},
        "Add": set(),
        "Linear": {"out_features", "bias", "tie_weight"},
        "GELU": {"approximate"},
    }

    def __init__(self, model):
        super().__init__()
        check(set(model["inputs"]) == {"x"}, f"parity_gpt.py models one input, x; the spec has {list(model['inputs'])}")
        width = {}  # last dimension of each node's output (None for token ids)
        self.nodes = []
        self.tied = []  # state_dict names that share their owner's tensor
        self.key_biases = []  # (MultiheadAttention node, E)
        last = "x"
        for i, node in enumerate(model["graph"]):
            name, t = node["name"], node["type"]
            where = f"model.graph[{i}] ({name})"
            check(t in self.KEYS, f"{where}: parity_gpt.py does not model type {t}")
            extra = set(node) - self.KEYS[t] - {"name", "type", "input", "inputs"}
            check(not extra, f"{where}: parity_gpt.py does not model {sorted(extra)}")
            ins = node.get("inputs") or [node.get("input", last)]
            e = width.get(ins[0])
            if t == "Embedding":
                m = torch.nn.Embedding(node["num_embeddings"], node["embedding_dim"])
                width[name] = node["embedding_dim"]
            elif t == "PositionalEmbedding":
                m = PositionalEmbedding(node["num_positions"], e)
                width[name] = e
            elif t == "LayerNorm":
                m = torch.nn.LayerNorm(e, eps=node.get("eps", 1e-5))
                width[name] = e
            elif t == "MultiheadAttention":
                check(node.get("batch_first") is True, f"{where}: needs batch_first true")
                m = torch.nn.MultiheadAttention(e, node["num_heads"], batch_first=True)
                self.key_biases.append((name, e))
                width[name] = e
            elif t == "Add":
                m = None
                width[name] = e
            elif t == "Linear":
                m = torch.nn.Linear(e, node["out_features"], bias=node.get("bias", True))
                if "tie_weight" in node:  # GPT's self.head.weight = self.wte.weight
                    m.weight = getattr(self, node["tie_weight"]).weight
                    self.tied.append(f"{name}.weight")
                width[name] = node["out_features"]
            else:  # GELU
                m = torch.nn.GELU(approximate=node.get("approximate", "none"))
                width[name] = e
            if m is not None:
                self.add_module(name, m)
            self.nodes.append((name, t, ins, node.get("is_causal", False)))
            last = name
        self.output = model.get("output", last)

    def forward(self, x):
        values = {"x": x}
        for name, t, ins, causal in self.nodes:
            a = values[ins[0]]
            if t == "Add":
                values[name] = sum(values[k] for k in ins)
            elif t == "MultiheadAttention":
                mask = torch.nn.Transformer.generate_square_subsequent_mask(a.shape[1]) if causal else None
                values[name] = getattr(self, name)(a, a, a, attn_mask=mask, need_weights=False)[0]
            else:
                values[name] = getattr(self, name)(a)
        return values[self.output]


def make_data(vocab, n, t, gen):
    """Token windows from a random Markov chain with a few likely successors per token (so
    that there is something to learn); y is x shifted by one, as nanoGPT's batches."""
    logits = 3.0 * torch.randn(vocab, vocab, generator=gen)
    probs = torch.softmax(logits, dim=1)
    stream = torch.empty(n * t + 1, dtype=torch.int64)
    stream[0] = 0
    for i in range(1, stream.numel()):
        stream[i] = torch.multinomial(probs[stream[i - 1]], 1, generator=gen)
    return stream[:-1].reshape(n, t).clone(), stream[1:].reshape(n, t).clone()


def torch_losses(spec, net, x, y, total_steps, per_epoch):
    b = spec["data"]["batch_size"]
    loss_spec = dict(spec["model"]["loss"])
    check(loss_spec.pop("type") == "CrossEntropyLoss", "parity_gpt.py models CrossEntropyLoss")
    loss_fn = torch.nn.CrossEntropyLoss(**loss_spec)
    o = dict(spec["optimizer"])
    kind = o.pop("type")
    if "betas" in o:
        o["betas"] = tuple(o["betas"])
    opt = getattr(torch.optim, kind)(net.parameters(), **o)  # parameters(): the tied one once
    trainer = spec.get("trainer", {})
    clip = trainer.get("gradient_clip_val")
    algorithm = trainer.get("gradient_clip_algorithm", "norm")
    losses, norms = [], []
    while len(losses) < total_steps:
        for i in range(per_epoch):
            if len(losses) == total_steps:
                break
            xb, yb = x[i * b:(i + 1) * b], y[i * b:(i + 1) * b]
            opt.zero_grad()
            logits = net(xb)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))  # mean over N * T tokens
            loss.backward()
            if clip:  # Lightning clips after backward, before the optimizer step
                if algorithm == "norm":
                    norms.append(torch.nn.utils.clip_grad_norm_(net.parameters(), clip).item())
                else:
                    torch.nn.utils.clip_grad_value_(net.parameters(), clip)
            opt.step()
            losses.append(loss.item())
    return losses, norms, opt


def compare(what, got, want, rtol):
    """Largest |got - want| over largest |want| per tensor; returns (worst, name), raises on any over rtol."""
    worst = (0.0, "")
    bad = []
    for k, w in want.items():
        g = got[k]
        check(g.dtype == w.dtype and g.shape == w.shape,
              f"checkpoint {k}: {g.dtype} {tuple(g.shape)}, expected {w.dtype} {tuple(w.shape)}")
        rel = ((g - w).abs().max() / w.abs().max().clamp_min(1e-30)).item()
        worst = max(worst, (rel, k))
        if rel > rtol:
            bad.append(f"  {k}: max |difference| / max |torch| = {rel:.3g}")
    print(f"{what}: worst relative difference {worst[0]:.3g} ({worst[1]})")
    check(not bad, f"{what} differ by more than {rtol:g}:\n" + "\n".join(bad))


def run(args):
    with open(args.spec) as f:
        spec = json.load(f)
    name = spec["name"]
    model, data = spec["model"], spec["data"]
    check(data["train"]["source"] == "npy", f"{args.spec}: parity specs use an npy training source")
    check(not data.get("shuffle", False), f"{args.spec}: parity specs must have data.shuffle=false")
    (t,) = model["inputs"]["x"]["shape"]
    vocab = model["target"]["num_classes"]
    trainer = spec.get("trainer", {})
    check(trainer.get("accumulate_grad_batches", 1) == 1, "parity_gpt.py models accumulate_grad_batches=1")

    os.makedirs(args.work, exist_ok=True)
    program = common.generate(args.ltgen, args.spec, os.path.join(args.work, name))

    # Data and initial weights.
    gen = torch.Generator().manual_seed(4321)
    torch.manual_seed(common.spec_seed(spec))
    x, y = make_data(vocab, NUM_SAMPLES, t, gen)
    x_path, y_path = os.path.join(args.work, "x.npy"), os.path.join(args.work, "y.npy")
    np.save(x_path, x.numpy())
    np.save(y_path, y.numpy())
    net = GraphNet(model)
    check(net.tied, f"{args.spec}: expected a tie_weight head (the point of this test)")
    init_path = os.path.join(args.work, "init.safetensors")
    # torch's state_dict shows a tied tensor under both names; save_file refuses shared
    # storage, so each name gets its own copy (equal values, which --init_weights accepts).
    save_file({k: v.clone().contiguous() for k, v in net.state_dict().items()}, init_path)
    print(f"data: x {tuple(x.shape)} {x.dtype}, y {tuple(y.shape)} {y.dtype}; init weights: "
          f"{', '.join(f'{k} {tuple(v.shape)}' for k, v in net.state_dict().items())}; tied: {net.tied}")

    # The generated program.
    root = os.path.join(args.work, "root")
    version, rows = common.fit_from(program, init_path, x_path, y_path, root)

    # The PyTorch loop.
    b = data["batch_size"]
    per_epoch = NUM_SAMPLES // b if data.get("drop_last", False) else math.ceil(NUM_SAMPLES / b)
    max_epochs, max_steps = trainer.get("max_epochs", -1), trainer.get("max_steps", -1)
    total = math.inf if max_epochs in (None, -1) else max_epochs * per_epoch
    if max_steps not in (None, -1):
        total = min(total, max_steps)
    check(total != math.inf, "the spec trains forever")
    ref, norms, opt = torch_losses(spec, net, x, y, int(total), per_epoch)
    clip = trainer.get("gradient_clip_val")
    if norms:
        clipped = sum(n > clip for n in norms)
        print(f"gradient norms before clipping to {clip:g}: {', '.join(f'{n:.3g}' for n in norms)} "
              f"({clipped} of {len(norms)} steps clipped)")
        check(clipped > 0, f"no step's gradient norm exceeds gradient_clip_val={clip:g}: clipping is not exercised")

    # Per-step losses.
    common.check_step_losses(rows, ref, per_epoch, LOSS_RTOL)

    # Final weights: the tied tensor once, under its owner's name.
    last_epoch = (len(ref) - 1) // per_epoch
    ckpt_name = f"epoch={last_epoch}-step={len(ref)}.safetensors"
    files = [f for f in common.checkpoint_files(version) if f != "last.safetensors"]
    check(files == [ckpt_name], f"checkpoints/ holds {files}, expected [{ckpt_name!r}]")
    ckpt = load_file(os.path.join(version, "checkpoints", ckpt_name))
    want_sd = {f"state_dict.{k}": v for k, v in net.state_dict().items() if k not in net.tied}
    got_sd = {k: v for k, v in ckpt.items() if k.startswith("state_dict.")}
    check(sorted(got_sd) == sorted(want_sd),
          f"checkpoint weights {sorted(got_sd)}, expected {sorted(want_sd)} (tied {net.tied} named once, by the owner)")
    # MultiheadAttention's key bias (in_proj_bias[E:2E]) adds q.b_k to every score of a query's
    # row, which softmax ignores: its gradient is 0 up to rounding (~1e-10 here), and Adam turns
    # such noise into steps that differ by summation order. So it is left out of the 1e-4
    # comparison, and instead both must stay near their initial values: a real gradient there
    # would move them by about lr per step.
    init = load_file(init_path)
    drift_limit = 0.25 * spec["optimizer"]["lr"] * len(ref)
    for node, e in net.key_biases:
        k, s = f"state_dict.{node}.in_proj_bias", slice(e, 2 * e)
        start = init[f"{node}.in_proj_bias"][s]
        drift = {"program": (got_sd[k][s] - start).abs().max().item(), "torch": (want_sd[k][s] - start).abs().max().item()}
        print(f"{k}[{e}:{2 * e}] (key bias): moved by at most {drift['program']:.3g} (program), "
              f"{drift['torch']:.3g} (torch); limit {drift_limit:.3g}")
        for who, d in drift.items():
            check(d <= drift_limit, f"{k}[{e}:{2 * e}], the key bias, moved by {d:.3g} in the {who} run, "
                                    f"more than {drift_limit:.3g}: its gradient should be 0 up to rounding")
        got_sd[k] = got_sd[k].clone()
        got_sd[k][s] = want_sd[k][s]
    compare("final weights", got_sd, want_sd, WEIGHT_RTOL)

    # Optimizer slots: optimizer.<name>.exp_avg / exp_avg_sq, the tied parameter's under its owner.
    want_slots = {f"optimizer.{k}.{slot}": v for k, p in net.named_parameters()
                  for slot, v in opt.state[p].items() if torch.is_tensor(v) and v.dim() > 0}
    got_slots = {k: v for k, v in ckpt.items() if k.startswith("optimizer.")}
    check(sorted(got_slots) == sorted(want_slots),
          f"checkpoint optimizer slots {sorted(got_slots)}, torch's optimizer state {sorted(want_slots)}")
    compare("optimizer slots", got_slots, want_slots, SLOT_RTOL)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ltgen", required=True)
    p.add_argument("--work", required=True, help="folder for the generated project, the data and the run")
    p.add_argument("spec")
    args = p.parse_args()
    torch.set_num_threads(1)
    common.main(lambda: run(args))
