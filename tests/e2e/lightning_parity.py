"""`ltgen SPEC --emit lightning` writes a Lightning script; run with real PyTorch Lightning (the
newest from PyPI) it logs the same rows (epoch, step, metric names) with the same values as the
generated program, from the same initial weights and data: per-step losses within 1e-4.

With --emulator (the cuda_emulated_lightning_* tests) the program's CUDA steps run on the CUDA
emulator (tests/cuda/emulator). A float32 program is compared with Lightning on the CPU. For what
only the GPU program does, "16-mixed", float16 autocast
with a GradScaler. Lightning's CPU would run bf16-mixed instead, so the Lightning script is given
Lightning's own 16-mixed plugin on the CPU, MixedPrecision("16-mixed", "cpu"): torch's CPU
autocast in float16 (the roundings the GPU program makes) and a GradScaler("cpu"), with the
plugin's unscaling, skipped steps and checkpointed scaler state. The GradScaler's state in the
last checkpoint must then be Lightning's, and so must the optimizer's own step count.

DDP on GPUs (--emulator, a spec whose trainer asks for several processes on "gpu"): every rank is
a process with an emulated GPU of its own (LTGEN_CUDA_EMULATOR_DEVICES), the gradients are averaged
over the emulator's NCCL, and the Lightning script runs Lightning's own DDP on the CPU (gloo) with
as many processes: the oracle for what the ranks log, checkpoint and stop on.

--seeded (the lightning_seeded_* tests): no weights file on either side; both start from
seed_everything's weights, and the program's must be the bits of the Lightning module built after
pl.seed_everything(seed) (seeded_weights_agree)."""
import argparse
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file

import common
from common import check

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cuda"))
import gpu_parity  # noqa: E402  (its emulated build, and its comparison of HOOK lines)

# The Lightning script's line (ltgen --emit lightning) after which a test adds Trainer overrides.
OVERRIDES = '    overrides = {"default_root_dir": cli.default_root_dir} if cli.default_root_dir else {}\n'

parser = argparse.ArgumentParser()
parser.add_argument("--ltgen", required=True)
parser.add_argument("--lightning-python", required=True)
parser.add_argument("--work", required=True)
parser.add_argument("--emulator", help="libltgen_cuda_emulator.a: build the program's CUDA steps for the CUDA emulator")
parser.add_argument("--source", help="the ltgen source tree (with --emulator)")
parser.add_argument("--seeded", action="store_true",
                    help="no weights file: both start from seed_everything's weights, which must be the same bits")
parser.add_argument("spec")
args = parser.parse_args()

TOL = 1e-4
# "16-mixed" specs (--emulator): the steps the GradScaler skips (an infinity among the gradients),
# each halving its scale from 65536: what each spec was made to show.
SKIPPED_STEPS = {"fp16_mlp_graph": 1, "fp16_skipped_steps_adam": 7, "fp16_skipped_steps_asgd": 8, "fp16_gpt": 0, "fp16_hooks": 4, "ddp_gpu_fp16": 7,
                 "fp16_backbone_finetuning": 5, "fp16_cnn3d": 0}


def layer_shapes(spec, channels=None):
    """(name, shape) of each parameter: nn.Sequential's names for model.layers, the node's name
    for model.graph (Linear on the last dimension, Embedding, PositionalEmbedding, LayerNorm,
    MultiheadAttention, TransformerEncoderLayer and -DecoderLayer, TransformerEncoder and -Decoder, Transformer, RNN,
    LSTM, GRU, Bilinear, CosineSimilarity, PairwiseDistance, activations, Add, Mul, Concat, Reshape,
    Transpose, Narrow, Select). `channels`, a dict, gets each image layer's input channels."""
    model = spec["model"]
    shape_of = lambda x: list(x["shape"] if isinstance(x, dict) else x)
    features = {name: shape_of(x)[-1] for name, x in model["inputs"].items()}  # the last dimension's size
    # Per-sample shapes, where Reshape and Transpose need them (None: not tracked).
    shapes = {name: shape_of(x) for name, x in model["inputs"].items()}
    out = []
    graph = "graph" in model
    nodes = model["graph"] if graph else [dict(l, name=f"layers.{i}") for i, l in enumerate(model["layers"])]
    # A node that applies an earlier node's module again ("module": name) has that node's type and
    # arguments, and its parameters are the module's (dropped below).
    owners = {n["name"]: n for n in nodes}
    reused = {n["name"] for n in nodes if "module" in n}
    nodes = [dict(owners[n["module"]], name=n["name"], **{k: n[k] for k in ("input", "inputs") if k in n})
             if "module" in n else n for n in nodes]
    last = "x"
    for node in nodes:
        ins = node.get("inputs") or [node.get("input", last)] if graph else [last]
        if node["type"] in SPATIAL:
            out += spatial_params(node, shapes[ins[0]])
            if channels is not None:
                channels[node["name"]] = shapes[ins[0]][0]
            shapes[node["name"]] = spatial_shape(node, shapes[ins[0]])
            features[node["name"]] = shapes[node["name"]][-1]
            last = node["name"]
            continue
        if node["type"] == "Linear":
            n = node["out_features"]
            if "tie_weight" not in node:  # a tied weight is its owner's, named once
                out += [(f"{node['name']}.weight", (n, features[ins[0]]))]
            if node.get("bias", True):
                out += [(f"{node['name']}.bias", (n,))]
            features[node["name"]] = n
        elif node["type"] == "Bilinear":  # weight (out, in1, in2) over both inputs' last dimensions
            n = node["out_features"]
            out += [(f"{node['name']}.weight", (n, features[ins[0]], features[ins[1]]))]
            if node.get("bias", True):
                out += [(f"{node['name']}.bias", (n,))]
            features[node["name"]] = n
        elif node["type"] in ("CosineSimilarity", "PairwiseDistance"):  # no parameters; a dimension reduced
            shape = list(shapes[ins[0]])
            if node["type"] == "PairwiseDistance" and node.get("keepdim", False):
                shape[-1] = 1
            else:
                del shape[(node.get("dim", 1) if node["type"] == "CosineSimilarity" else -1) % (len(shape) + 1) - 1]
            shapes[node["name"]] = shape
            features[node["name"]] = shape[-1] if shape else None  # (batch,): no features
        elif node["type"] == "Embedding":
            n, dim = node["num_embeddings"], node["embedding_dim"]
            out += [(f"{node['name']}.weight", (n, dim))]
            features[node["name"]] = dim
            shapes[node["name"]] = shapes[ins[0]] + [dim]
        elif node["type"] == "EmbeddingBag":  # bags (B) of indices -> (D)
            n, dim = node["num_embeddings"], node["embedding_dim"]
            out += [(f"{node['name']}.weight", (n, dim))]
            features[node["name"]] = dim
            shapes[node["name"]] = [dim]
        elif node["type"] == "PositionalEmbedding":
            out += [(f"{node['name']}.weight", (node["num_positions"], features[ins[0]]))]
            features[node["name"]] = features[ins[0]]
        elif node["type"] == "LayerNorm":
            e = features[ins[0]]
            if node.get("elementwise_affine", True):
                out += [(f"{node['name']}.weight", (e,))] + ([(f"{node['name']}.bias", (e,))] if node.get("bias", True) else [])
            features[node["name"]] = e
        elif node["type"] == "RMSNorm":
            e = features[ins[0]]
            if node.get("elementwise_affine", True):
                out += [(f"{node['name']}.weight", (e,))]
            features[node["name"]] = e
        elif node["type"] == "BatchNorm1d":  # on [N, C]; its buffers come from buffers()
            c = features[ins[0]]
            if node.get("affine", True):
                out += [(f"{node['name']}.weight", (c,)), (f"{node['name']}.bias", (c,))]
            features[node["name"]] = c
        elif node["type"] == "MultiheadAttention":
            e = features[ins[0]]
            bias = node.get("bias", True)
            out += [(f"{node['name']}.in_proj_weight", (3 * e, e))] + ([(f"{node['name']}.in_proj_bias", (3 * e,))] if bias else [])
            out += [(f"{node['name']}.out_proj.weight", (e, e))] + ([(f"{node['name']}.out_proj.bias", (e,))] if bias else [])
            features[node["name"]] = e
        elif node["type"] in ("TransformerEncoderLayer", "TransformerDecoderLayer"):  # torch's, in its order
            out += transformer_layer_params(node["name"], features[ins[0]], node, node["type"] == "TransformerDecoderLayer")
            features[node["name"]] = features[ins[0]]
        elif node["type"] in ("TransformerEncoder", "TransformerDecoder"):  # layers.k, then norm
            decoder = node["type"] == "TransformerDecoder"
            layer, e = node["decoder_layer" if decoder else "encoder_layer"], features[ins[0]]
            for k in range(node["num_layers"]):
                out += transformer_layer_params(f"{node['name']}.layers.{k}", e, layer, decoder)
            if node.get("norm") is not None:
                out += layer_norm_params(f"{node['name']}.norm", e, node["norm"])
            features[node["name"]] = e
        elif node["type"] == "Transformer":  # encoder.layers.k, encoder.norm, decoder.layers.k, decoder.norm
            e = features[ins[0]]
            norm = {"bias": node.get("bias", True)}
            for half, decoder in (("encoder", False), ("decoder", True)):
                for k in range(node.get("num_decoder_layers" if decoder else "num_encoder_layers", 6)):
                    out += transformer_layer_params(f"{node['name']}.{half}.layers.{k}", e, node, decoder)
                out += layer_norm_params(f"{node['name']}.{half}.norm", e, norm)
            features[node["name"]] = e
        elif node["type"] in RECURRENT_GATES:  # torch.nn's parameters, layer by layer and direction
            h, width = node["hidden_size"], features[ins[0]]
            p = node.get("proj_size", 0) or h  # an LSTM's h_t is proj_size wide
            gh = RECURRENT_GATES[node["type"]] * h
            directions = ["", "_reverse"] if node.get("bidirectional", False) else [""]
            for k in range(node.get("num_layers", 1)):
                for d in directions:
                    out += [(f"{node['name']}.weight_ih_l{k}{d}", (gh, width if k == 0 else len(directions) * p)),
                            (f"{node['name']}.weight_hh_l{k}{d}", (gh, p))]
                    if node.get("bias", True):
                        out += [(f"{node['name']}.bias_ih_l{k}{d}", (gh,)), (f"{node['name']}.bias_hh_l{k}{d}", (gh,))]
                    if p != h:
                        out += [(f"{node['name']}.weight_hr_l{k}{d}", (p, h))]
            features[node["name"]] = len(directions) * p
            # "<node>.h_n" and ".c_n": (num_layers * directions, proj_size or hidden_size) per sample
            for extra, width in ((".h_n", p), (".c_n", h)):
                features[node["name"] + extra] = width
                shapes[node["name"] + extra] = [node.get("num_layers", 1) * len(directions), width]
        elif node["type"] == "GLU":  # halves its dim (counting the batch; the last by default)
            shape = list(shapes[ins[0]])
            dim = node.get("dim", -1)
            shape[dim if dim < 0 else dim - 1] //= 2
            shapes[node["name"]] = shape
            features[node["name"]] = shape[-1]
        elif node["type"] == "Concat":
            features[node["name"]] = sum(features[i] for i in ins)
            if all(shapes.get(i) for i in ins):  # a U-Net's skip: its channels, the dimension after the batch's
                rank = len(shapes[ins[0]])
                d = node.get("dim", 1)  # (ltgen's Concat default)
                d = d + rank + 1 if d < 0 else d
                shape = list(shapes[ins[0]])
                shape[d - 1] = sum(shapes[i][d - 1] for i in ins)
                shapes[node["name"]] = shape
                features[node["name"]] = shape[-1]
        elif node["type"] == "Reshape":
            want = node["shape"] if isinstance(node["shape"], list) else [node["shape"]]
            total = math.prod(shapes[ins[0]])
            known = math.prod(d for d in want if d != -1)
            shapes[node["name"]] = [total // known if d == -1 else d for d in want]
        elif node["type"] == "Transpose":
            shape = list(shapes[ins[0]])
            d0, d1 = (d % (len(shape) + 1) - 1 for d in (node["dim0"], node["dim1"]))  # without the batch
            shape[d0], shape[d1] = shape[d1], shape[d0]
            shapes[node["name"]] = shape
        elif node["type"] in ("Mean", "Sum") and shapes.get(ins[0]) is not None:  # dims reduced (1 with keepdim)
            shape = list(shapes[ins[0]])
            dims = node["dim"] if isinstance(node["dim"], list) else [node["dim"]]
            for d in sorted((d % (len(shape) + 1) - 1 for d in dims), reverse=True):  # without the batch
                if node.get("keepdim", False):
                    shape[d] = 1
                else:
                    del shape[d]
            shapes[node["name"]] = shape
        elif node["type"] in ("Narrow", "Select"):
            shape = list(shapes[ins[0]])
            d = node["dim"] % (len(shape) + 1) - 1  # without the batch
            if node["type"] == "Narrow":
                shape[d] = node["length"]
            else:
                del shape[d]
            shapes[node["name"]] = shape
        else:
            features[node["name"]] = features[ins[0]]
        if node["type"] in ("Reshape", "Transpose", "Narrow", "Select") or (
                node["type"] in ("Mean", "Sum") and shapes.get(node["name"]) is not None):
            features[node["name"]] = shapes[node["name"]][-1] if shapes[node["name"]] else None
        elif node["type"] in ("CosineSimilarity", "PairwiseDistance"):
            pass  # shapes and features set above
        elif (node["type"] in ("Linear", "Bilinear") or node["type"] in RECURRENT_GATES) and shapes.get(ins[0]) is not None:
            shapes[node["name"]] = shapes[ins[0]][:-1] + [features[node["name"]]]
        elif node["type"] == "Transformer":  # the decoder's output: tgt's shape
            shapes[node["name"]] = shapes.get(ins[1])
        elif node["type"] in ("Add", "Mul") and shapes.get(ins[0]) is not None and shapes.get(ins[1]) is not None:
            shapes[node["name"]] = [max(a, b) for a, b in zip(shapes[ins[0]], shapes[ins[1]])]  # torch's broadcast
            features[node["name"]] = shapes[node["name"]][-1] if shapes[node["name"]] else None  # (batch,): none
        elif node["type"] in ("Add", "Mul") or node["type"] not in ("Concat", "Embedding", "EmbeddingBag", "Linear", "GLU",
                                                                    *RECURRENT_GATES):
            shapes[node["name"]] = shapes.get(ins[0])
        last = node["name"]
    return [(name, shape) for name, shape in out if name.split(".")[0] not in reused]


def layer_norm_params(n, e, args):
    """A LayerNorm's weight and bias over the last dimension e."""
    if not args.get("elementwise_affine", True):
        return []
    return [(f"{n}.weight", (e,))] + ([(f"{n}.bias", (e,))] if args.get("bias", True) else [])


def transformer_layer_params(n, e, args, decoder):
    """A TransformerEncoderLayer's (DecoderLayer's) parameters in torch's order, d_model e."""
    ff, bias = args.get("dim_feedforward", 2048), args.get("bias", True)
    b = lambda name, size: [(f"{n}.{name}", (size,))] if bias else []
    out = []
    for attention in ("self_attn", "multihead_attn") if decoder else ("self_attn",):
        out += [(f"{n}.{attention}.in_proj_weight", (3 * e, e))] + b(f"{attention}.in_proj_bias", 3 * e)
        out += [(f"{n}.{attention}.out_proj.weight", (e, e))] + b(f"{attention}.out_proj.bias", e)
    out += [(f"{n}.linear1.weight", (ff, e))] + b("linear1.bias", ff)
    out += [(f"{n}.linear2.weight", (e, ff))] + b("linear2.bias", e)
    for norm in ("norm1", "norm2", "norm3") if decoder else ("norm1", "norm2"):
        out += [(f"{n}.{norm}.weight", (e,))] + b(f"{norm}.bias", e)
    return out


RECURRENT_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}  # weight rows per hidden unit
SPATIAL = ("Conv1d", "Conv2d", "Conv3d", "Upsample", "ConvTranspose3d", "MaxPool3d", "AdaptiveMaxPool3d",
           "AvgPool3d", "AdaptiveAvgPool3d", "ConvTranspose1d", "ConvTranspose2d", "BatchNorm2d", "BatchNorm3d",
           "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "ZeroPad1d", "ZeroPad2d", "ConstantPad1d",
           "ConstantPad2d", "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d",
           "ZeroPad3d", "ConstantPad3d", "ReflectionPad3d", "ReplicationPad3d", "CircularPad3d", "PixelShuffle",
           "PixelUnshuffle", "Softmax2d", "PReLU", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "MaxPool1d",
           "AvgPool1d", "AdaptiveAvgPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool1d", "UpsamplingNearest2d",
           "UpsamplingBilinear2d", "Unfold", "Fold", "Flatten")


def tuple_of(v, n):
    return list(v) if isinstance(v, list) else [v] * n


def spatial_params(node, shape):
    """Parameters of an image layer on a per-sample shape (C, [[D,] H,] W): torch's layouts."""
    kind = node["type"]
    if kind.startswith("Conv"):
        dims = int(kind[-2])
        k = tuple_of(node["kernel_size"], dims)
        out, groups = node["out_channels"], node.get("groups", 1)
        # ConvTranspose's weight is (in, out / groups, k...), Conv's (out, in / groups, k...)
        io = (shape[0], out // groups) if kind.startswith("ConvTranspose") else (out, shape[0] // groups)
        w = [(f"{node['name']}.weight", (*io, *k))]
        return w + ([(f"{node['name']}.bias", (node["out_channels"],))] if node.get("bias", True) else [])
    if kind in ("BatchNorm2d", "BatchNorm3d", "GroupNorm") and node.get("affine", True):
        return [(f"{node['name']}.weight", (shape[0],)), (f"{node['name']}.bias", (shape[0],))]
    if kind.startswith("InstanceNorm") and node.get("affine", False):  # torch's default: no parameters
        return [(f"{node['name']}.weight", (shape[0],)), (f"{node['name']}.bias", (shape[0],))]
    if kind == "PReLU":
        return [(f"{node['name']}.weight", (node.get("num_parameters", 1),))]
    return []


def spatial_shape(node, shape):
    """The per-sample output shape of an image layer (torch's size formulas)."""
    kind = node["type"]
    if kind == "Flatten":  # from start_dim (counting the batch) to the end
        start = node.get("start_dim", 1)
        return list(shape[:start - 1]) + [math.prod(shape[start - 1:])]
    if kind in ("BatchNorm2d", "BatchNorm3d", "GroupNorm", "PReLU", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
                "Softmax2d"):
        return list(shape)
    if kind == "PixelShuffle":
        r = node["upscale_factor"]
        return [shape[0] // (r * r), shape[1] * r, shape[2] * r]
    if kind == "PixelUnshuffle":
        r = node["downscale_factor"]
        return [shape[0] * r * r, shape[1] // r, shape[2] // r]
    if "Pad1d" in kind or "Pad2d" in kind or "Pad3d" in kind:  # (left, right[, top, bottom[, front, back]])
        dims = int(kind[-2])
        pads = tuple_of(node["padding"], 2 * dims)
        out = list(shape)
        for d in range(dims):  # the last dimension first
            out[-1 - d] += pads[2 * d] + pads[2 * d + 1]
        return out
    if kind.startswith("Adaptive"):  # AdaptiveAvgPool, AdaptiveMaxPool
        return [shape[0], *tuple_of(node["output_size"], len(shape) - 1)]
    if kind in ("Unfold", "Fold"):  # (C, H, W) <-> (C kh kw, L)
        k, s, p, d = (tuple_of(node.get(a, dflt), 2) for a, dflt in
                      (("kernel_size", 1), ("stride", 1), ("padding", 0), ("dilation", 1)))
        if kind == "Fold":
            return [shape[0] // (k[0] * k[1]), *tuple_of(node["output_size"], 2)]
        blocks = math.prod((shape[1 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))
        return [shape[0] * k[0] * k[1], blocks]
    if kind in ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"):  # whole factors
        if "size" in node:
            return [shape[0], *tuple_of(node["size"], len(shape) - 1)]
        return [shape[0], *(int(d * f) for d, f in zip(shape[1:], tuple_of(node["scale_factor"], len(shape) - 1)))]
    dims = len(shape) - 1
    k = tuple_of(node["kernel_size"], dims)
    if kind.startswith("ConvTranspose"):
        s, p, d = (tuple_of(node.get(a, dflt), dims) for a, dflt in (("stride", 1), ("padding", 0), ("dilation", 1)))
        op = tuple_of(node.get("output_padding", 0), dims)
        return [node["out_channels"], *((shape[1 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1
                                        for i in range(dims))]
    s = tuple_of(node.get("stride") or node["kernel_size"] if "Pool" in kind else node.get("stride", 1), dims)
    p = node.get("padding", 0)
    d = tuple_of(node.get("dilation", 1), dims)
    if p == "same":
        return [node["out_channels"], *shape[1:]]
    p = tuple_of(0 if p == "valid" else p, dims)
    size = [(shape[1 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(dims)]
    if node.get("ceil_mode", False):  # torch's pooling_output_shape: rounded up, unless that window starts past the input
        size = [-(-(shape[1 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i]) + 1 for i in range(dims)]
        size = [n - 1 if (n - 1) * s[i] >= shape[1 + i] + p[i] else n for i, n in enumerate(size)]
    return [node["out_channels"] if kind.startswith("Conv") else shape[0], *size]


def buffers(spec):
    """BatchNorm's (and a tracking InstanceNorm's) buffers as a fresh torch module has them (running
    statistics 0 and 1, no batches)."""
    out = {}
    model = spec["model"]
    nodes = model.get("graph") or [dict(l, name=f"layers.{i}") for i, l in enumerate(model["layers"])]
    channels = {}
    widths = dict(layer_shapes(spec, channels))
    for node in nodes:
        tracking = node.get("type", "").startswith("InstanceNorm") and node.get("track_running_stats", False)
        if node.get("type") in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d") or tracking:  # (a module applied again has no "type")
            c = channels[node["name"]] if tracking else widths[f"{node['name']}.weight"][0]
            out[f"{node['name']}.running_mean"] = np.zeros(c, np.float32)
            out[f"{node['name']}.running_var"] = np.ones(c, np.float32)
            out[f"{node['name']}.num_batches_tracked"] = np.zeros((), np.int64)
    return out


def write_idx(path, shape, data):
    """An IDX file of unsigned bytes (MNIST's format); gzip-compressed when the name ends in .gz."""
    import gzip
    raw = bytes([0, 0, 8, len(shape)]) + b"".join(int(d).to_bytes(4, "big") for d in shape) + data.astype(np.uint8).tobytes()
    with (gzip.open if path.endswith(".gz") else open)(path, "wb") as f:
        f.write(raw)


# Losses whose targets, 1 and -1, say whether each pair ranks (or matches) one way or the other.
PAIR_LOSSES = ("MarginRankingLoss", "CosineEmbeddingLoss", "HingeEmbeddingLoss")


def pair_targets(model, rows, rng):
    """1 and -1 of the target's shape, and some 0 (which torch's CosineEmbeddingLoss counts as neither)."""
    return rng.choice(np.array([1.0, -1.0, 1.0, -1.0, 0.0], dtype=np.float32), size=(rows, *model["target"]["shape"]))


def class_lists(model, rows, rng):
    """MultiLabelMarginLoss's targets: each row some distinct classes, then -1, then leftovers that
    torch ignores (classes or -1); row 0 lists every class (no -1), row 1 one class twice."""
    c = model["target"]["num_classes"]
    y = rng.integers(-1, c, size=(rows, c)).astype(np.int64)
    for r in range(rows):
        k = int(rng.integers(0, c))
        y[r, :k] = rng.permutation(c)[:k]
        y[r, k] = -1
    y[0] = rng.permutation(c)
    y[1, :3] = [1, 1, 0]
    y[1, 3] = -1
    return y


def write_csv_data(spec, work, rng):
    """csv sources: each input's values as feature columns (model.inputs' order, each flattened
    row-major; int64 inputs indices below the num_embeddings of the Embedding that reads them),
    then the target columns the source names (a regression target from the first float feature,
    or classes). Every number is written as its float32 value's shortest repr, which both sides
    parse to the same float."""
    model = spec["model"]
    nodes = model.get("graph") or model["layers"]
    for split, rows in (("train", 57), ("val", 23), ("test", 23), ("predict", 23)):
        source = spec["data"].get(split)
        if not source or source.get("source") != "csv":
            continue
        names, columns = [], []
        for name, x in model["inputs"].items():
            shape = x["shape"] if isinstance(x, dict) else x
            if isinstance(x, dict) and x.get("dtype") == "int64":
                vocab = min(n["num_embeddings"] for n in nodes if n.get("type") == "Embedding" and
                            name in (n.get("inputs") or [n.get("input", name)]))
                values = rng.integers(0, vocab, size=(rows, math.prod(shape))).astype(np.float64)
            else:
                values = rng.standard_normal((rows, math.prod(shape))).astype(np.float32).astype(np.float64)
            names += [f"{name}_{j}" for j in range(values.shape[1])]
            columns.append(values)
        features = np.concatenate(columns, axis=1)
        targets = [t.strip() for t in source.get("target_column", "").split(",") if t.strip()]
        if targets and model["target"].get("dtype") == "int64":
            y = rng.integers(0, model["target"]["num_classes"], size=(rows, len(targets))).astype(np.float64)
        elif targets:
            first = next(c for c in columns if np.any(c != np.round(c)))
            y = (first[:, :1] * 0.7 + np.sin(first[:, 1:2])).astype(np.float32).astype(np.float64)
            y = np.repeat(y, len(targets), axis=1)
        else:
            y = np.zeros((rows, 0))
        with open(os.path.join(work, source["path"]), "w") as f:
            f.write(",".join(names + targets) + "\n")
            for row in np.concatenate([features, y], axis=1):
                f.write(",".join(repr(float(np.float32(v))) for v in row) + "\n")


def measured_time(column):
    """ThroughputMonitor's time and rates (train/time, validate/device/samples_per_sec, ...): clock
    readings, which no two runs share; DeviceStatsMonitor's CPU statistics (percentages of the
    machine's CPU, RAM and swap in use), the machine's own at that moment."""
    return re.search(r"(\W|_)time$|_per_sec$", column) is not None or column.startswith("DeviceStatsMonitor.")


def write_data(spec, work, rng):
    model = spec["model"]
    if spec["data"]["train"]["source"] == "csv":
        write_csv_data(spec, work, rng)
        return
    if spec["data"]["train"]["source"] == "idx":
        # Images [N, rows, cols] of random bytes whose rows * cols is the model's input size,
        # labels [N]; the spec names the files (plain or .gz) of each split.
        rows, cols = 4, 5
        for split, n in (("train", 57), ("val", 23)):
            source = spec["data"].get(split)
            if source:
                write_idx(os.path.join(work, source["images"]), (n, rows, cols), rng.integers(0, 256, size=(n, rows, cols)))
                write_idx(os.path.join(work, source["labels"]), (n,),
                          rng.integers(0, model["target"]["num_classes"], size=n))
        return
    if spec["data"]["train"]["source"] == "text":
        # Character-level corpora over num_classes distinct bytes, every one present in the training one.
        alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz ."[:model["target"]["num_classes"]], dtype=np.uint8)
        for split, rows in (("train", 700), ("val", 300)):
            if split not in spec["data"]:
                continue
            text = np.concatenate([alphabet, rng.choice(alphabet, size=rows)])
            with open(os.path.join(work, spec["data"][split]["path"]), "wb") as f:
                f.write(text.tobytes())
        return
    if len(model["inputs"]) > 1:
        # A model with several inputs: <name>.npy (v<name>.npy for validation) for each, float32, or
        # int64 indices below the num_embeddings of the Embedding that reads it.
        def padding(rows, keys, validation):
            # Each sample's last positions padded (True), at least one left; in training every third
            # sample's first positions instead (a long one's first key tiles padded on the GPU), and
            # sample 5 is all padding (torch's attention gives it zeros). The validation's second batch of 8
            # pads at random places, so torch's TransformerEncoder skips its nested-tensor path there
            # (never position 0: a causal first query would see no key, where torch's evaluation
            # fast path gives NaN).
            lengths = rng.integers(1, keys + 1, size=rows)
            mask = np.arange(keys)[None, :] >= lengths[:, None]
            if validation:
                mask[8:16] = rng.random((min(rows, 16) - 8, keys)) < 0.4
                mask[8:16, 0] = False
            else:
                mask[1::3] = mask[1::3, ::-1]
                if rows > 5:
                    mask[5] = True
            return mask

        def values(name, x, rows, validation):
            if isinstance(x, dict) and x.get("dtype") == "bool":  # a key padding mask
                return padding(rows, x["shape"][0], validation)
            if name.endswith("_mask"):  # a float key padding mask: -inf where padded, else 0
                return np.where(padding(rows, x[0], validation), -np.inf, 0.0).astype(np.float32)
            if isinstance(x, dict) and x.get("dtype") == "int64":
                vocab = min(n["num_embeddings"] for n in model["graph"]
                            if n.get("type") == "Embedding" and name in (n.get("inputs") or [n.get("input")]))
                return rng.integers(0, vocab, size=(rows, *x["shape"])).astype(np.int64)
            return rng.standard_normal((rows, *(x["shape"] if isinstance(x, dict) else x))).astype(np.float32)
        for prefix, rows in (("", 57), ("v", 23)):
            xs = {name: values(name, x, rows, prefix == "v") for name, x in model["inputs"].items()}
            for name, x in xs.items():
                np.save(os.path.join(work, prefix + name + ".npy"), x)
            if "target" not in model:  # a loss over the predictions alone (TripletMarginLoss)
                continue
            first = next(x for x in xs.values() if x.dtype == np.float32).reshape(rows, -1)
            if model["loss"]["type"] in PAIR_LOSSES:
                y = pair_targets(model, rows, rng)
            elif model["target"].get("dtype") == "int64":  # a label per sample, or per position (target.shape)
                y = rng.integers(0, model["target"]["num_classes"],
                                 size=(rows, *model["target"].get("shape", []))).astype(np.int64)
            else:
                y = (first[:, :1] * 0.7 + np.sin(first[:, 1:2])).astype(np.float32)
            np.save(os.path.join(work, prefix + "y.npy"), y)
        return
    x_spec = model["inputs"]["x"]
    tokens = isinstance(x_spec, dict) and x_spec.get("dtype") == "int64"  # token indices of a sequence model
    for prefix, rows in (("", 57), ("v", 23)):
        # Images that the split's transforms crop or resize are larger than the model's input: 3 rows and 2
        # columns more for training, 1 and 3 for validation.
        split = spec["data"].get("train" if prefix == "" else "val", {})
        if any(t["type"].split(".")[-1] in ("RandomCrop", "CenterCrop", "Resize") for t in split.get("transforms", [])):
            more = (3, 2) if prefix == "" else (1, 3)
            x_spec = [*model["inputs"]["x"][:-2], model["inputs"]["x"][-2] + more[0], model["inputs"]["x"][-1] + more[1]]
        else:
            x_spec = model["inputs"]["x"]
        if tokens:
            nodes = model.get("graph") or model["layers"]
            vocab = next(n["num_embeddings"] for n in nodes if n.get("type") in ("Embedding", "EmbeddingBag"))
            x = rng.integers(0, vocab, size=(rows, *x_spec["shape"])).astype(np.int64)
            y = rng.integers(0, model["target"]["num_classes"], size=(rows, *model["target"].get("shape", []))).astype(np.int64)
            np.save(os.path.join(work, prefix + "x.npy"), x)
            np.save(os.path.join(work, prefix + "y.npy"), y)
            continue
        x = rng.standard_normal((rows, *x_spec)).astype(np.float32)
        if spec["model"]["loss"]["type"] == "MultiLabelMarginLoss":
            y = class_lists(model, rows, rng)
        elif spec["model"]["loss"]["type"] == "CTCLoss":
            y = label_sequences(model, spec["model"]["loss"], rows, rng)
        elif model["target"].get("dtype") == "int64":
            y = rng.integers(0, model["target"]["num_classes"], size=rows).astype(np.int64)
        elif spec["model"]["loss"]["type"] == "KLDivLoss":  # a distribution over the target's classes, from x
            classes = model["target"]["shape"][-1]
            z = x[:, :classes] * 0.7 + np.sin(x[:, ::-1][:, :classes])
            log_p = z - z.max(axis=1, keepdims=True)
            log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
            log_target = spec["model"]["loss"].get("log_target", False)
            y = (log_p if log_target else np.exp(log_p)).astype(np.float32)
        elif spec["model"]["loss"]["type"] == "CrossEntropyLoss":  # class probabilities (soft labels) from x
            shape = model["target"]["shape"]
            z = np.tile(x.reshape(rows, -1), -(-math.prod(shape) // math.prod(x_spec)))[:, :math.prod(shape)]
            z = z.reshape(rows, -1, shape[-1]) * 1.5
            p = np.exp(z - z.max(axis=-1, keepdims=True))
            y = (p / p.sum(axis=-1, keepdims=True)).reshape(rows, *shape).astype(np.float32)
        elif list(model["target"].get("shape", [])) == list(x_spec) and len(x_spec) > 1:  # an image to an image
            y = (x * 0.7 + np.sin(x)).astype(np.float32)
        elif len(model["target"].get("shape", [])) > 1 or math.prod(model["target"].get("shape", [])) > 1:
            # another float target shape: from x's features
            size = math.prod(model["target"]["shape"])
            flat = x.reshape(rows, -1)
            z = np.tile(flat, -(-size // flat.shape[1]))[:, :size]
            y = (z * 0.7 + np.sin(z[:, ::-1])).reshape(rows, *model["target"]["shape"]).astype(np.float32)
        else:
            y = (x[:, :1] * 0.7 + np.sin(x[:, 1:2])).astype(np.float32)
            if model["target"].get("shape") == []:  # one number a sample: (rows,)
                y = y.reshape(rows)
            if spec["model"]["loss"]["type"] in ("BCELoss", "BCEWithLogitsLoss"):  # probabilities as targets
                y = (1 / (1 + np.exp(-y))).astype(np.float32)
        np.save(os.path.join(work, prefix + "x.npy"), x)
        np.save(os.path.join(work, prefix + "y.npy"), y)


def label_sequences(model, loss, rows, rng):
    """CTCLoss's targets: each row up to S labels other than blank, then -1 to the row's end; row 0
    is full and repeats a label (a path needs a blank between), row 1 has no labels."""
    c, s = model["target"]["num_classes"], model["target"]["shape"][0]
    blank = loss.get("blank", 0)
    labels = [k for k in range(c) if k != blank]
    y = np.full((rows, s), -1, dtype=np.int64)
    for r in range(rows):
        k = s if r == 0 else 0 if r == 1 else int(rng.integers(0, s + 1))
        y[r, :k] = rng.choice(labels, size=k)
    if s > 1:
        y[0, 1] = y[0, 0]
    return y


def version_dir(root):
    logs = os.path.join(root, "lightning_logs")
    versions = sorted(os.listdir(logs))
    check(versions == ["version_0"], f"{logs} holds {versions}")
    return os.path.join(logs, "version_0")


def run():
    with open(args.spec) as f:
        spec = __import__("json").load(f)
    work_spec = os.path.join(args.work, "spec.json")
    shutil.copy(args.spec, work_spec)
    if "hooks" in spec:
        # The C++ hooks (named relative to the spec), beside the spec's copy, and the same hooks as a
        # Lightning Callback (X.cpp's X.py).
        hooks = os.path.join(os.path.dirname(args.spec), spec["hooks"])
        shutil.copy(hooks, os.path.join(args.work, os.path.basename(hooks)))
        with open(work_spec, "w") as f:
            json.dump({**spec, "hooks": os.path.basename(hooks)}, f, indent=1)
        callback = os.path.splitext(hooks)[0] + ".py"
        check(os.path.isfile(callback), f"{callback}: the Lightning Callback of {hooks} is missing")
    if args.seeded:
        check("hooks" not in spec and not averaging_callback(spec) and not args.emulator,
              "--seeded is for specs without hooks or weight averaging, off the emulator (their extra runs take weights)")
    rng = np.random.default_rng(5)
    write_data(spec, args.work, rng)
    anomaly = spec.get("trainer", {}).get("detect_anomaly", False)
    if anomaly:
        # trainer.detect_anomaly: a NaN in the third training batch's last sample (unshuffled; its
        # gradients are NaN from the loss's backward on), so that both fits stop in their third backward.
        x = np.load(os.path.join(args.work, "x.npy"))
        x[3 * spec["data"]["batch_size"] - 1].flat[0] = np.nan
        np.save(os.path.join(args.work, "x.npy"), x)
    weights = os.path.join(args.work, "init.safetensors")
    save_file({**{name: (rng.standard_normal(shape) * 0.4).astype(np.float32) for name, shape in layer_shapes(spec)},
               **buffers(spec)}, weights)

    # The generated program (paths in the spec are relative to it; it runs from there).
    fp16 = str(spec.get("trainer", {}).get("precision", "32-true")) in ("16", "16-mixed")
    if args.emulator:
        # gpu_parity.py's build for the emulator, of the spec copied beside the data it names.
        program = gpu_parity.build_emulated(argparse.Namespace(**{**vars(args), "spec": work_spec}), spec["name"],
                                            os.path.join(args.work, "program"))
    else:
        # Off the emulator the program is built without CUDA steps: "auto" runs bf16-mixed on the
        # CPU, as Lightning's "auto" does where it finds no GPU (with the same warning).
        check(not fp16 or spec["trainer"].get("accelerator", "auto") in ("cpu", "auto"),
              "a 16-mixed spec with accelerator \"gpu\" runs its GPU program: test it with --emulator")
        program = common.generate(args.ltgen, work_spec, os.path.join(args.work, "program"))
    gpu_ddp = bool(args.emulator) and common.processes(spec) > 1 and spec["trainer"].get("accelerator", "auto") != "cpu"
    if gpu_ddp:  # a GPU for each rank (mpirun passes the environment on)
        os.environ["LTGEN_CUDA_EMULATOR_DEVICES"] = str(common.processes(spec))
    init_weights = [] if args.seeded else ["--init_weights=" + weights]
    rc, out, err = common.run_program(program, init_weights + ["--trainer.default_root_dir=" + os.path.join(args.work, "ltgen")],
                                      launch=common.launcher(common.processes(spec)))
    if anomaly:
        check(rc != 0 and "detect_anomaly: the backward of" in err,
              f"the program did not stop at the NaN gradient (exit {rc}):\n{err}")
        print(err.strip().splitlines()[-1])
    else:
        check(rc == 0, f"the program failed:\n{err}")

    # The same spec as a Lightning script, run by Lightning.
    script = os.path.join(args.work, "model.py")
    proc = subprocess.run([args.ltgen, work_spec, "--emit", "lightning", "-o", script], capture_output=True, text=True)
    check(proc.returncode == 0, f"ltgen --emit lightning failed:\n{proc.stderr}")
    if fp16 and args.emulator:
        give_fp16_plugin_on_cpu(script)
        check("Using 16bit Automatic Mixed Precision (AMP)" in err, f"the program does not say it uses 16bit AMP:\n{err}")
    if gpu_ddp:
        refused_by_one_rank(program, weights)
        if "hooks" in spec:
            error_after_first_steps(program, weights)
        validates_alike(program)
        give_cpu_ddp(script, common.processes(spec))
        said = f"GPU available: True (cuda), used: True: {common.processes(spec)} processes, one a GPU"
        check(said in err, f"the program does not say it trains its ranks on GPUs ({said!r}):\n{err}")
        check(len(re.findall(r"Initializing distributed: GLOBAL_RANK: \d", err)) == common.processes(spec),
              f"not every rank started:\n{err}")
    if args.emulator and not fp16 and not gpu_ddp:
        check("GPU available: True (cuda), used: True: training on" in err,
              f"the program does not say it trains on the (emulated) GPU:\n{err}")
        give_cpu(script)  # a float32 GPU program: Lightning's CPU run is its oracle
        if averaging_callback(spec) == "WeightAveraging":
            give_gpu_running_mean(script)
    if "hooks" in spec:
        give_callback(script, callback)
    proc = common.run_ending_all([args.lightning_python, script] + ([] if args.seeded else ["--init_weights", weights]) +
                                 ["--default_root_dir", os.path.join(args.work, "lightning")], 600, cwd=os.getcwd())
    if anomaly:
        check(proc.returncode != 0 and "returned nan values" in proc.stderr,
              f"the Lightning script did not stop at the NaN gradient:\n{proc.stderr[-3000:]}")
        said = [line for line in proc.stderr.splitlines() if "returned nan values" in line]
        print("Lightning: " + said[-1].strip())
        # Both logged the two steps before it, alike, and saved no checkpoint.
        cells = [common.metric_cells(os.path.join(version_dir(os.path.join(args.work, side)), "metrics.csv"))
                 for side in ("ltgen", "lightning")]
        check([k for k, _ in cells[0]] == [k for k, _ in cells[1]] and len(cells[0]) == 2,
              f"logged before the NaN: ltgen {cells[0]}, Lightning {cells[1]}")
        for (key, mine), (_, v) in zip(*cells):
            check(abs(mine - v) <= TOL * max(abs(v), 1e-6), f"{key}: ltgen {mine} vs Lightning {v}")
        for side in ("ltgen", "lightning"):
            root = os.path.join(args.work, side)
            check(not glob.glob(os.path.join(root, "**", "*.ckpt"), recursive=True) and
                  not glob.glob(os.path.join(root, "**", "*.safetensors"), recursive=True), f"{side} saved a checkpoint")
        print("both stopped at the third backward, after the same two logged steps")
        return
    check(proc.returncode == 0, f"the Lightning script failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    # What Lightning says of the precision (its warnings on an old alias or on fp16 AMP on the CPU,
    # the AMP line), and torch's warning when a GradScaler skipped every step before the first
    # scheduler step: the program says it too.
    for line in proc.stderr.splitlines():
        said = re.search(r"(`precision=\S+` is supported.*|You passed `Trainer\(accelerator=.*|"
                         r"Using \S+ Automatic Mixed Precision \(AMP\)|Detected call of `lr_scheduler.step\(\)`.*)$", line)
        if said:
            check(said.group(1) in err, f"Lightning said {said.group(1)!r}, the program did not:\n{err}")
    # Under DDP, in Lightning's order: the Trainer's precision line when it is made, before fit's
    # "Initializing distributed" (rank 0's).
    first = lambda text, pattern: next((i for i, line in enumerate(text.splitlines()) if re.search(pattern, line)), None)
    started, amp = r"Initializing distributed: GLOBAL_RANK: 0,", r"Using \S+ Automatic Mixed Precision"
    if first(proc.stderr, started) is not None and first(proc.stderr, amp) is not None:
        check(first(err, started) is not None and first(err, amp) is not None and
              (first(err, amp) < first(err, started)) == (first(proc.stderr, amp) < first(proc.stderr, started)),
              f"the precision line and 'Initializing distributed' are not in Lightning's order:\n{err}")

    if "hooks" in spec:
        gpu_parity.compare_hook_lines(proc.stdout, out, names=("Lightning", "ltgen"))
        with open(os.path.join(args.work, "hook_lines.txt"), "w") as f:  # the GPU kit's reference
            f.write("".join(line + "\n" for line in out.splitlines() if line.startswith("HOOK ")))

    ours = common.metric_cells(os.path.join(version_dir(os.path.join(args.work, "ltgen")), "metrics.csv"))
    theirs = common.metric_cells(os.path.join(version_dir(os.path.join(args.work, "lightning")), "metrics.csv"))
    keys = lambda cells: [k for k, _ in cells]
    check(keys(ours) == keys(theirs),
          f"logged cells differ:\n ltgen     {keys(ours)[:12]}\n Lightning {keys(theirs)[:12]}")
    worst = 0.0
    for (key, mine), (_, v) in zip(ours, theirs):
        if key[2].startswith("DeviceStatsMonitor."):  # percentages of the machine's state, rounded to 0.1
            check(0 <= mine <= 100 and 0 <= v <= 100 and round(mine, 1) == mine,
                  f"{key}: ltgen {mine}, Lightning {v} (both should be percentages, to one decimal)")
            continue
        if measured_time(key[2]):  # ThroughputMonitor's clock readings and rates: each run's own
            check(mine > 0 and math.isfinite(mine) and v > 0, f"{key}: ltgen {mine}, Lightning {v} (both should be > 0)")
            continue
        rel = abs(mine - v) / max(abs(v), 1e-6)
        worst = max(worst, rel)
        check(rel <= TOL or (math.isnan(v) and math.isnan(mine)), f"{key}: ltgen {mine} vs Lightning {v}")
    print(f"{len(theirs)} logged values agree with Lightning; worst relative difference {worst:.2e}")

    # TensorBoard's own reader sees every scalar of the generated program's event file, at the
    # steps and with the values of its metrics.csv (the Lightning venv has tensorboard).
    reader = os.path.join(args.work, "read_events.py")
    with open(reader, "w") as f:
        f.write(
            "import json, sys\n"
            "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n"
            "acc = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0}); acc.Reload()\n"
            "print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()['scalars']}))\n")
    proc = subprocess.run([args.lightning_python, reader, version_dir(os.path.join(args.work, "ltgen"))],
                          capture_output=True, text=True, timeout=300)
    check(proc.returncode == 0, f"TensorBoard's reader failed:\n{proc.stderr[-2000:]}")
    scalars = __import__("json").loads(proc.stdout)
    for (epoch, step, column), value in ours:
        check(column in scalars, f"TensorBoard has no scalar {column!r} (it has {sorted(scalars)})")
        check(any(s == step and (abs(v - value) <= 1e-6 * max(1.0, abs(value)) or (math.isnan(v) and math.isnan(value)))
                  for s, v in scalars[column]),
              f"TensorBoard has no {column} = {value} at step {step}")
    print(f"TensorBoard's reader sees all {len(ours)} values")

    # Checkpoint files: the same names (Lightning's .ckpt is ltgen's .safetensors).
    ckpts = lambda root: sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(version_dir(root), "checkpoints")))
    a, b = ckpts(os.path.join(args.work, "ltgen")), ckpts(os.path.join(args.work, "lightning"))
    check(a == b, f"checkpoints differ: ltgen {a}, Lightning {b}")
    if args.seeded:
        seeded_weights_agree(program, script, spec)

    # `last` holds the step it was saved at (Lightning 2.6 saves it only with another checkpoint).
    if "last" in a:
        meta = common.checkpoint_metadata(
            os.path.join(version_dir(os.path.join(args.work, "ltgen")), "checkpoints", "last.safetensors"))
        reader = os.path.join(args.work, "read_ckpt.py")
        with open(reader, "w") as f:
            f.write("import sys, torch\nprint(torch.load(sys.argv[1], weights_only=False)['global_step'])\n")
        proc = subprocess.run([args.lightning_python, reader, os.path.join(version_dir(os.path.join(args.work, "lightning")),
                                                                           "checkpoints", "last.ckpt")],
                              capture_output=True, text=True, timeout=300)
        check(proc.returncode == 0, f"reading Lightning's last.ckpt failed:\n{proc.stderr[-2000:]}")
        check(int(meta["global_step"]) == int(proc.stdout), f"last: ltgen's is from step {meta['global_step']}, "
              f"Lightning's from step {proc.stdout.strip()}")

    if profiler_filename(spec):
        profiles_alike(profiler_filename(spec))

    if averaging_callback(spec):
        compare_averaged_checkpoints(a, averaging_callback(spec))
        averaging_resumes_alike(program, weights, ours, common.launcher(common.processes(spec)))
        if args.emulator and averaging_callback(spec) == "WeightAveraging" and has_batch_norm(spec):
            buffers_refused_on_gpu(program, weights)
        if not args.emulator and common.processes(spec) == 1:
            elsewhere_is_refused(program, weights)
            # Epoch-end updates come between an epoch's validation and a checkpoint saved at its end.
            if not averaging_updates_at_epoch_end(spec):
                validates_averaged(program, ours)
    if has_swa(spec):
        compare_swa_checkpoints(a)
        epoch_checkpoints_resume_alike(program, ours, a, spec)
    if has_callback(spec, "BackboneFinetuning") and not args.emulator:
        epoch_checkpoints_resume_alike(program, ours, a, spec)
    if spec["optimizer"]["type"] == "LBFGS":  # its state (history, step length, counts) travels in checkpoints
        lbfgs_states_alike(a[-1])
        resumes_alike(program, weights, ours, common.launcher(common.processes(spec)))
    # Random transforms move torch's generator, whose state a checkpoint keeps: a resumed fit flips,
    # crops, shuffles and drops out as the uninterrupted one did.
    # (LearningRateFinder refuses --ckpt_path.)
    if any(t["type"].split(".")[-1] not in ("Normalize", "CenterCrop", "Resize", "Grayscale")
           for t in spec["data"]["train"].get("transforms", [])) and not has_callback(spec, "LearningRateFinder"):
        resumes_alike(program, weights, ours, common.launcher(common.processes(spec)))
        resumes_mid_epoch_alike(program, weights, spec, common.launcher(common.processes(spec)))
    if fp16 and args.emulator:
        compare_grad_scaler(a[-1], spec["name"], spec["optimizer"]["type"])
        resumes_alike(program, weights, ours, common.launcher(common.processes(spec)), grad_scaler=True)
        # The GPU kit (scripts/gpu_kit.sh) takes this run as the reference of a GPU's only if it passed.
        open(os.path.join(args.work, "passed"), "w").close()


def lbfgs_states_alike(name):
    """The last checkpoint's LBFGS state: the closure evaluations and iterations counted, the history's
    length as Lightning's (torch's state of the first parameter), its step length, H_diag and last loss
    within TOL."""
    reader = os.path.join(args.work, "read_lbfgs.py")
    with open(reader, "w") as f:
        f.write("import json, sys, torch\n"
                "s = torch.load(sys.argv[1], weights_only=False)['optimizer_states'][0]['state'][0]\n"
                "print(json.dumps({'func_evals': s['func_evals'], 'n_iter': s['n_iter'], 't': float(s['t']), "
                "'H_diag': float(s['H_diag']), 'prev_loss': float(s['prev_loss']), 'history': len(s['old_dirs'])}))\n")
    proc = subprocess.run([args.lightning_python, reader, os.path.join(
        version_dir(os.path.join(args.work, "lightning")), "checkpoints", name + ".ckpt")],
                          capture_output=True, text=True, timeout=300)
    check(proc.returncode == 0, f"reading Lightning's LBFGS state failed:\n{proc.stderr[-2000:]}")
    want = json.loads(proc.stdout)
    mine = json.loads(common.checkpoint_metadata(os.path.join(
        version_dir(os.path.join(args.work, "ltgen")), "checkpoints", name + ".safetensors"))["optimizer"])["lbfgs"]
    for key, v in want.items():
        exact = key in ("func_evals", "n_iter", "history")
        check(mine[key] == v if exact else abs(mine[key] - v) <= TOL * max(abs(v), 1e-6),
              f"LBFGS state in {name}: {key} is {mine[key]}, Lightning's {v}")
    print(f"LBFGS state in {name} as Lightning's: {want}")


def profiler_filename(spec):
    """A SimpleProfiler's filename (its report goes to <log_dir>/fit-<filename>.txt), or None."""
    p = spec.get("trainer", {}).get("profiler")
    return p.get("init_args", {}).get("filename") if isinstance(p, dict) else None


def profile_rows(path):
    """The action rows of a SimpleProfiler report: {action: calls}, with the Total row's calls."""
    check(os.path.exists(path), f"no profiler report {path}")
    with open(path) as f:
        lines = f.read().split("\n")
    check(lines[0] == "FIT Profiler Report", f"{path} starts {lines[0]!r}")
    rows = {}
    for line in lines:
        if not line.startswith("|  "):
            continue
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if cells[0] != "Action":
            rows[cells[0]] = int(cells[2])
    return lines, rows


def profiles_alike(filename):
    """The program's SimpleProfiler report has Lightning's layout (its header and rule lines, for
    the program's longest action name) and each of its actions is one of Lightning's, called as
    many times; the Total row counts the program's calls."""
    name = f"fit-{filename}.txt"
    ours, mine = profile_rows(os.path.join(version_dir(os.path.join(args.work, "ltgen")), name))
    _, theirs = profile_rows(os.path.join(version_dir(os.path.join(args.work, "lightning")), name))
    actions = [a for a in mine if a != "Total"]
    check(actions, "the program's report has no actions")
    for action in actions:
        check(action in theirs, f"profiler action {action!r} is not in Lightning's report")
        check(mine[action] == theirs[action],
              f"profiler action {action!r}: {mine[action]} calls, Lightning's {theirs[action]}")
    check(mine["Total"] == sum(mine[a] for a in actions), "the Total row's calls are not the actions' sum")
    width = max(len(a) for a in mine)
    header = f"|  {'Action':<{width}s}\t|  {'Mean duration (s)':<15}\t|  {'Num calls':<15}\t|  {'Total time (s)':<15}\t|  {'Percentage %':<15}\t|"
    check(ours[1:5] == ["", "-" * len(("\n" + header).expandtabs()), header, "-" * len(("\n" + header).expandtabs())],
          f"the report's head is not Lightning's layout:\n{ours[:5]}")
    print(f"profiler: {len(actions)} actions with Lightning's call counts ({', '.join(f'{a}: {mine[a]}' for a in actions)})")


def seeded_weights_agree(program, script, spec):
    """Without a weights file the program starts from the bits of Lightning's module built after
    pl.seed_everything(seed) (torch's draws in torch's order). Lightning's script saves that
    module's state_dict instead of fitting; the program fits again from that file, and its
    checkpoints must hold the same bits as those of its seeded fit (the same program on the same
    data: any initial weight that differed would still differ after the steps)."""
    with open(script) as f:
        text = f.read()
    fit = "    trainer(**overrides).fit(model, datamodule=Data())\n"
    check(text.count(fit) == 1, f"{script} has no line {fit.strip()!r} to save the initial weights instead")
    tied = [l.get("name", f"layers.{i}") + ".weight" for i, l in
            enumerate(spec["model"].get("graph") or spec["model"]["layers"]) if "tie_weight" in l]
    theirs = os.path.join(args.work, "init_lightning.safetensors")
    init_script = os.path.join(args.work, "model_init.py")
    with open(init_script, "w") as f:
        f.write(text.replace(fit, "    from safetensors.torch import save_file\n"
                                  f"    tied = {tied!r}  # one tensor under two names: ltgen's files name it once\n"
                                  "    save_file({k: v.contiguous() for k, v in model.state_dict().items() if k not in tied},\n"
                                  f"              {theirs!r})\n"))
    proc = common.run_ending_all([args.lightning_python, init_script], 600, cwd=os.getcwd())
    check(proc.returncode == 0, f"the Lightning script failed to save its initial weights:\n{proc.stderr[-3000:]}")
    root = os.path.join(args.work, "ltgen_from_lightning")
    rc, _, err = common.run_program(program, ["--init_weights=" + theirs, "--trainer.default_root_dir=" + root],
                                    launch=common.launcher(common.processes(spec)))
    check(rc == 0, f"the program failed from Lightning's initial weights:\n{err}")
    from safetensors.numpy import load_file
    folder = lambda r: os.path.join(version_dir(r), "checkpoints")
    seeded = sorted(os.listdir(folder(os.path.join(args.work, "ltgen"))))
    check(seeded and seeded == sorted(os.listdir(folder(root))), f"checkpoints differ: {seeded} and {os.listdir(folder(root))}")
    tensors = 0
    for name in seeded:
        a = load_file(os.path.join(folder(os.path.join(args.work, "ltgen")), name))
        b = load_file(os.path.join(folder(root), name))
        check(sorted(a) == sorted(b), f"{name}: the tensors differ")
        for key in a:
            if not key.startswith("state_dict."):
                continue
            same = a[key].reshape(-1).view(np.uint8) == b[key].reshape(-1).view(np.uint8)  # (0-d: a batch count)
            check(same.all(), f"{name}: {key} differs from the fit from Lightning's initial weights in "
                              f"{int((~same).sum())} bytes: the seeded weights are not Lightning's")
            tensors += 1
    print(f"seed_everything({spec.get('seed_everything')}): the fit from Lightning's initial weights saves the same "
          f"bits ({tensors} tensors in {len(seeded)} checkpoints) as the seeded fit")


def last_checkpoint(root):
    """The path of the last checkpoint (by name) a fit under `root` wrote."""
    return os.path.join(version_dir(root), "checkpoints", common.checkpoint_files(version_dir(root))[-1])


def resumes_mid_epoch_alike(program, weights, spec, launch):
    """A fit stopped inside its second epoch (max_steps, at a validation whose checkpoint it keeps)
    and resumed from that checkpoint ends with the uninterrupted run's weights and optimizer state,
    bit for bit: the random transforms' draws go on where they were, from torch's generator in the
    checkpoint or, under DataLoader workers, from each worker's generator again (the epoch's batches
    done drawn again from its _base_seed)."""
    from safetensors.numpy import load_file
    train = spec["data"]["train"]
    samples = train["num_samples"] if train["source"] == "randn" else len(np.load(os.path.join(args.work, train["x"])))
    per_rank = -(-samples // common.processes(spec))  # DistributedSampler's share
    batches = -(-per_rank // spec["data"]["batch_size"])
    limit = spec["trainer"].get("limit_train_batches", 1.0)  # Lightning's _parse_num_batches
    batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
    every = max(1, batches // 2)
    check(batches >= 2 and spec["trainer"].get("max_epochs", 0) >= 2, "a mid-epoch resume needs 2 epochs of 2 batches")
    init = [] if args.seeded else ["--init_weights=" + weights]
    runs = {name: os.path.join(args.work, name) for name in ("whole_fit", "until_mid_epoch", "from_mid_epoch")}
    validate = "--trainer.val_check_interval=" + str(every)
    for name, extra in (("whole_fit", []), ("until_mid_epoch", ["--trainer.max_steps=" + str(batches + every)])):
        rc, _, err = common.run_program(program, init + [validate, "--trainer.default_root_dir=" + runs[name]] + extra,
                                        launch=launch)
        check(rc == 0, f"{name} failed:\n{err}")
    mid = os.path.join(version_dir(runs["until_mid_epoch"]), "checkpoints", f"epoch=1-step={batches + every}.safetensors")
    check(os.path.isfile(mid), f"no checkpoint {mid}")
    rc, _, err = common.run_program(program, [validate, "--trainer.default_root_dir=" + runs["from_mid_epoch"],
                                              "--ckpt_path=" + mid], launch=launch)
    check(rc == 0, f"the resumed run failed:\n{err}")
    want, got = load_file(last_checkpoint(runs["whole_fit"])), load_file(last_checkpoint(runs["from_mid_epoch"]))
    check(sorted(want) == sorted(got), f"the resumed run's last checkpoint holds {sorted(got)}, the whole fit's {sorted(want)}")
    for name in want:
        check(want[name].tobytes() == got[name].tobytes(),
              f"resumed at step {batches + every}: {name} ends unlike the whole fit's")
    print(f"resumed inside epoch 1 (step {batches + every}): the last checkpoint's {len(want)} tensors are the whole fit's")


def resumes_alike(program, weights, uninterrupted, launch, grad_scaler=False):
    """Fit stopped after its first epoch and resumed from that checkpoint logs what the
    uninterrupted run logged after it, and ends with the same optimizer and GradScaler state: the
    scale and growth tracker travel in the checkpoint (Lightning's "MixedPrecision" entry), as does
    LBFGS's state (its history, step length and counts)."""
    first, second = os.path.join(args.work, "first_epoch"), os.path.join(args.work, "resumed")
    init = [] if args.seeded else ["--init_weights=" + weights]  # as the uninterrupted run started
    rc, _, err = common.run_program(program, init + ["--trainer.default_root_dir=" + first, "--trainer.max_epochs=1"],
                                    launch=launch)
    check(rc == 0, f"the first epoch failed:\n{err}")
    (ckpt,) = common.checkpoint_files(version_dir(first))
    rc, _, err = common.run_program(program, ["--trainer.default_root_dir=" + second, "--ckpt_path=" +
                                              os.path.join(version_dir(first), "checkpoints", ckpt)], launch=launch)
    check(rc == 0, f"the resumed run failed:\n{err}")
    # The values in order, by epoch and column (the logging step a resumed run goes on from is
    # trainer_semantics.py's subject).
    cells = lambda rows: [((epoch, column), value) for (epoch, _, column), value in rows]
    resumed = cells(common.metric_cells(os.path.join(version_dir(second), "metrics.csv")))
    want = cells([cell for cell in uninterrupted if cell[0][0] >= 1])
    check([k for k, _ in resumed] == [k for k, _ in want],
          f"the resumed run logged {[k for k, _ in resumed][:6]}..., the uninterrupted one {[k for k, _ in want][:6]}...")
    for (key, got), (_, value) in zip(resumed, want):
        check(got == value, f"resumed after epoch 0: {key} is {got}, uninterrupted {value}")
    # The state at the end: the optimizer's (LBFGS's counters and scalars among it) and, under
    # 16-mixed, the GradScaler's, which must be there.
    resumed = common.checkpoint_metadata(last_checkpoint(second))
    uninterrupted_end = common.checkpoint_metadata(last_checkpoint(os.path.join(args.work, "ltgen")))
    if grad_scaler:
        check("MixedPrecision" in resumed and "MixedPrecision" in uninterrupted_end,
              "a 16-mixed checkpoint without its GradScaler state (MixedPrecision)")
    check(resumed.get("MixedPrecision") == uninterrupted_end.get("MixedPrecision"),
          f"GradScaler after the resumed run {resumed.get('MixedPrecision')}, after the uninterrupted one "
          f"{uninterrupted_end.get('MixedPrecision')}")
    check(json.loads(resumed["optimizer"]) == json.loads(uninterrupted_end["optimizer"]),
          f"optimizer after the resumed run {resumed['optimizer']}, after the uninterrupted one "
          f"{uninterrupted_end['optimizer']}")
    print(f"stopped after epoch 0 ({ckpt}) and resumed: the same {len(want)} values and optimizer state")


def give_fp16_plugin_on_cpu(script):
    """The Lightning script's Trainer gets MixedPrecision("16-mixed", "cpu") on the CPU (in place of
    precision="16-mixed", which Lightning's CPU would turn into bf16-mixed)."""
    with open(script) as f:
        text = f.read()
    anchor = OVERRIDES
    check(text.count(anchor) == 1, f"{script} has no line {anchor.strip()!r} to add the plugin after")
    text = text.replace(anchor, anchor + (
        "    from lightning.pytorch.plugins.precision import MixedPrecision\n"
        "    overrides.update(precision=None, accelerator=\"cpu\", plugins=[MixedPrecision(\"16-mixed\", \"cpu\")])\n"))
    with open(script, "w") as f:
        f.write(text)


def refused_by_one_rank(program, weights):
    """A rank whose GPU is too small (rank 1's emulated GPU has 100 KB: MPICH's mpirun gives each
    part of a launch its own environment) refuses it before NCCL starts, says so, and ends every
    rank: the launch fails instead of waiting forever in the other rank's collective."""
    run_args = ["--init_weights=" + weights, "--trainer.default_root_dir=" + os.path.join(args.work, "refused")]
    launch = ["mpirun", "-n", "1", program, *run_args, ":", "-n", "1", "-env", "LTGEN_CUDA_EMULATOR_DEVICE_MEMORY", "100000"]
    try:
        rc, out, err = common.run_program(program, run_args, launch=launch, timeout=60)
    except subprocess.TimeoutExpired:
        raise common.Failure("a rank whose GPU is too small refused it, and the launch hung instead of ending")
    # (MPI_Abort(1) ends the launch; the exit code mpirun reports may be that 1 or the signal that
    # ended the other rank)
    check(rc != 0 and "error (rank 1 of 2): cuda:" in err and "KiB free of" in err,
          f"a rank whose GPU is too small must end the launch with an error and say why; exit {rc}:\n{err}\n"
          f"(stdout, where mpirun says how a rank ended:)\n{out}")


def validates_alike(program):
    """`validate` of fit's latest checkpoint under mpirun, each rank its shard on its GPU: rank 0
    prints the val_loss fit logged last. Every ddp_gpu_* spec ends fit with a validation (an
    epoch's, or EarlyStopping's), whose weights that checkpoint holds."""
    version = version_dir(os.path.join(args.work, "ltgen"))
    step = lambda name: int(common.checkpoint_metadata(os.path.join(version, "checkpoints", name))["global_step"])
    latest = max(common.checkpoint_files(version), key=step)
    rc, out, err = common.run_program(program, ["validate", "--ckpt_path=" + os.path.join(version, "checkpoints", latest),
                                                "--trainer.default_root_dir=" + os.path.join(args.work, "validated")],
                                      launch=common.launcher(2))
    check(rc == 0, f"validate under mpirun exited with {rc}:\n{err}")
    printed = re.search(r"^\s*val_loss\s+(\S+)$", out, re.M)
    check(printed, f"validate printed no val_loss:\n{out}")
    cells = common.metric_cells(os.path.join(version, "metrics.csv"))
    check(cells and cells[-1][0][2].startswith("val_"), "fit did not end with a validation: make the spec end with one")
    logged = [v for k, v in cells if k[2] == "val_loss"][-1]
    check(abs(float(printed.group(1)) - logged) <= 1e-9 * abs(logged),  # (printed with %.10g)
          f"validate of {latest} printed val_loss {printed.group(1)}, fit's last validation logged {logged}")
    print(f"validate under mpirun: val_loss {printed.group(1)}, as fit's last validation logged")


def error_after_first_steps(program, weights):
    """Every rank's hook throws at step 2, after the step's graphs captured NCCL's collectives: the
    launch ends with that error, not in NCCL's teardown (which waits for the graphs that captured
    the communicator's collectives to be destroyed; the emulator's NCCL stops the run there)."""
    run_args = ["--init_weights=" + weights, "--trainer.default_root_dir=" + os.path.join(args.work, "thrown")]
    os.environ["DDP_GPU_HOOKS_THROW_AT_STEP"] = "2"
    try:
        rc, out, err = common.run_program(program, run_args, launch=common.launcher(2), timeout=60)
    except subprocess.TimeoutExpired:
        raise common.Failure("a hook threw under DDP on GPUs, and the launch hung instead of ending")
    finally:
        del os.environ["DDP_GPU_HOOKS_THROW_AT_STEP"]
    check(rc != 0 and "stopped by the test at step 2" in err and "NCCL:" not in err,
          f"a hook's error at step 2 must end the launch with that error; exit {rc}:\n{err}\n"
          f"(stdout, where mpirun says how a rank ended:)\n{out[-3000:]}")


def give_cpu_ddp(script, processes):
    """The Lightning script's Trainer runs its DDP on the CPU, with as many processes as the spec's
    GPUs (Lightning's "gpu" would need them)."""
    with open(script) as f:
        text = f.read()
    anchor = OVERRIDES
    check(text.count(anchor) == 1, f"{script} has no line {anchor.strip()!r} to add the CPU's DDP after")
    text = text.replace(anchor, anchor + f'    overrides.update(accelerator="cpu", devices={processes})\n')
    with open(script, "w") as f:
        f.write(text)


def give_cpu(script):
    """The Lightning script's Trainer runs on the CPU (its "gpu" would need one)."""
    with open(script) as f:
        text = f.read()
    check(text.count(OVERRIDES) == 1, f"{script} has no line {OVERRIDES.strip()!r} to add the CPU after")
    with open(script, "w") as f:
        f.write(text.replace(OVERRIDES, OVERRIDES + '    overrides.update(accelerator="cpu")\n'))


def give_callback(script, callback):
    """The Lightning script's Trainer gets the hooks' Callback (class Hooks in `callback`)."""
    with open(script) as f:
        text = f.read()
    check("callbacks=" not in text, f"{script} has callbacks of its own: the Hooks callback is not added to them")
    anchor = OVERRIDES
    check(text.count(anchor) == 1, f"{script} has no line {anchor.strip()!r} to add the callback after")
    with open(callback) as f:
        hooks = f.read()
    check(text.count("\n\ndef trainer(") == 1, f"{script} has no 'def trainer(' to put the callback before")
    text = text.replace("\n\ndef trainer(", "\n\n" + hooks + "\n\ndef trainer(", 1)
    # (no progress bar: Lightning writes it to stdout, between the HOOK lines)
    text = text.replace(anchor, anchor + "    overrides.update(callbacks=[Hooks()], enable_progress_bar=False)\n")
    with open(script, "w") as f:
        f.write(text)


def give_gpu_running_mean(script):
    """The Lightning script's WeightAveraging averages as it would on a GPU. Without an avg_fn,
    AveragedModel takes torch's get_swa_multi_avg_fn on a device with foreach kernels (CUDA):
    torch._foreach_lerp_(average, model, 1 / (n + 1)), where the CPU divides by n + 1. Given that
    function, the CPU runs the same arithmetic: ATen's CPU lerp is one fused multiply-add, as the
    CUDA kernel's expression becomes under nvcc (ltrt/lerp.hpp)."""
    with open(script) as f:
        text = f.read()
    call = "callbacks.WeightAveraging("
    check(text.count(call) == 1, f"{script} has no one {call!r} to give get_swa_multi_avg_fn")
    with open(script, "w") as f:
        f.write(text.replace(call, call + "multi_avg_fn=__import__('torch').optim.swa_utils.get_swa_multi_avg_fn(), "))


def averaging_callback(spec):
    """The class name of the spec's WeightAveraging or EMAWeightAveraging callback, or None."""
    callbacks = spec.get("trainer", {}).get("callbacks", [])
    for cb in callbacks if isinstance(callbacks, list) else [callbacks]:
        name = cb["class_path"].rsplit(".", 1)[-1]
        if name in ("WeightAveraging", "EMAWeightAveraging"):
            return name
    return None


def read_checkpoint_pairs(script, names, helpers, setup, entry):
    """One `entry` (a Python expression) per checkpoint of `names`, as JSON, from a script the
    Lightning venv's Python runs over each pair: `t` ltgen's tensors (`part(prefix)` those under a
    prefix), `meta` its metadata, `c` Lightning's checkpoint, `values(d)` a state dict's tensors as
    flat lists (without the loss's buffers), after the `helpers` definitions and each pair's
    `setup` lines."""
    reader = os.path.join(args.work, script)
    with open(reader, "w") as f:
        f.write("import json, sys, torch\n"
                "from safetensors.torch import load_file\n"
                "from safetensors import safe_open\n"
                "def values(d):\n"
                "    return {k: v.double().flatten().tolist() for k, v in d.items() if not k.startswith('loss.')}\n" +
                helpers +
                "out = []\n"
                "for ours, theirs in zip(sys.argv[1::2], sys.argv[2::2]):\n"
                "    c = torch.load(theirs, weights_only=False)\n"
                "    t = load_file(ours)\n"
                "    with safe_open(ours, 'pt') as f: meta = f.metadata()\n"
                "    part = lambda p: {k[len(p):]: v for k, v in t.items() if k.startswith(p)}\n" +
                "".join("    " + line + "\n" for line in setup.splitlines()) +
                "    out.append(" + entry.replace("\n", "\n        ") + ")\n"
                "print(json.dumps(out))\n")
    root = lambda side: os.path.join(version_dir(os.path.join(args.work, side)), "checkpoints")
    pairs = []
    for name in names:
        pairs += [os.path.join(root("ltgen"), name + ".safetensors"), os.path.join(root("lightning"), name + ".ckpt")]
    proc = subprocess.run([args.lightning_python, reader] + pairs, capture_output=True, text=True, timeout=300)
    check(proc.returncode == 0, f"reading the checkpoints failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def compare_tensors(what, ours, theirs, floor_share):
    """The same tensors (name: flat values) on both sides, each value within TOL relative to
    Lightning's, or below `floor_share` of its tensor's largest value (at least 1e-3) to that;
    returns the worst relative difference."""
    check(sorted(ours) == sorted(theirs), f"{what} holds {sorted(ours)} in ltgen's, {sorted(theirs)} in Lightning's")
    worst = 0.0
    for key, want in theirs.items():
        floor = floor_share * max(max(abs(v) for v in want), 1e-3)
        for got, v in zip(ours[key], want):
            rel = abs(got - v) / max(abs(v), floor)
            worst = max(worst, rel)
            check(rel <= TOL, f"{what}.{key}: ltgen {got} vs Lightning {v}")
    return worst


def has_callback(spec, name):
    callbacks = spec.get("trainer", {}).get("callbacks", [])
    return any(cb["class_path"].rsplit(".", 1)[-1] == name
               for cb in (callbacks if isinstance(callbacks, list) else [callbacks]))


def has_swa(spec):
    return has_callback(spec, "StochasticWeightAveraging")


def compare_swa_checkpoints(names):
    """Every checkpoint of a StochasticWeightAveraging fit holds the model as its state_dict and, as
    the callback's state_dict has them, the averaged model (average_model_state), n_averaged,
    latest_update_epoch and the SWALR's state (step count, last_epoch, each group's lr and base lr),
    all Lightning's."""
    helpers = ("def scheduler(s):\n"
               "    if s is None: return None\n"
               "    groups = s if isinstance(s, list) else [s]\n"
               "    return {'_step_count': groups[0]['_step_count'], 'last_epoch': groups[0]['last_epoch'],\n"
               "            'lr': [g['lr'] for g in groups], 'base_lr': [g['base_lr'] for g in groups]}\n"
               "def lightning_scheduler(s):\n"
               "    if s is None: return None\n"
               "    return {'_step_count': s['_step_count'], 'last_epoch': s['last_epoch'], 'lr': s['_last_lr'],\n"
               "            'base_lr': s['base_lrs']}\n")
    entry = ("{'ltgen': {'state_dict': values(part('state_dict.')),\n"
             "           'average_model_state': values(part('average_model_state.')),\n"
             "           'n_averaged': mine['n_averaged'], 'latest_update_epoch': mine['latest_update_epoch'],\n"
             "           'scheduler': scheduler(mine['scheduler_state'])},\n"
             " 'lightning': {'state_dict': values(c['state_dict']),\n"
             "               'average_model_state': values(swa['average_model_state']),\n"
             "               'n_averaged': swa['n_averaged'], 'latest_update_epoch': swa['latest_update_epoch'],\n"
             "               'scheduler': lightning_scheduler(swa['scheduler_state'])}}")
    setup = ("mine = json.loads(meta['callbacks'])['StochasticWeightAveraging']\n"
             "swa = c['callbacks']['StochasticWeightAveraging']\n")
    worst = 0.0
    for name, both in zip(names, read_checkpoint_pairs("read_swa.py", names, helpers, setup, entry)):
        ours, theirs = both["ltgen"], both["lightning"]
        for part in ("state_dict", "average_model_state"):
            # Weights after dozens of steps: float32's differences relative to each tensor's scale.
            worst = max(worst, compare_tensors(f"{name}: {part}", ours[part], theirs[part], floor_share=1e-2))
        for key in ("n_averaged", "latest_update_epoch", "scheduler"):
            check(ours[key] == theirs[key], f"{name}: {key} is {ours[key]} in ltgen's, {theirs[key]} in Lightning's")
    print(f"{len(names)} checkpoints hold Lightning's model and SWA average (worst relative difference {worst:.2e}), "
          "n_averaged, latest_update_epoch and SWALR state")


def epoch_checkpoints_resume_alike(program, uninterrupted, names, spec):
    """A fit resumed from each epoch=E checkpoint logs what the uninterrupted fit logged after it and
    ends with the same last checkpoint, bit for bit. StochasticWeightAveraging: before SWA starts, and
    inside it, where the SWALR replaces the spec's scheduler and its state travels in the callback's;
    not from the one before a BatchNorm epoch: unless a validation has released them, its one
    optimizer step uses the gradients the last backward left, which a checkpoint does not hold (a
    resumed Lightning has none there either, and steps nothing). BackboneFinetuning: before and after
    the backbone's group joined (its step count and lr travel in the checkpoint)."""
    folder = os.path.join(version_dir(os.path.join(args.work, "ltgen")), "checkpoints")
    saved = sorted((int(common.checkpoint_metadata(os.path.join(folder, n + ".safetensors"))["global_step"]), n)
                   for n in names if n.startswith("epoch="))
    if len(saved) < 2:
        return
    final = saved[-1][1]
    layers = spec["model"].get("layers") or spec["model"].get("graph", [])
    if has_swa(spec) and any(l.get("type", "").startswith("BatchNorm") for l in layers):  # the epoch before SWA's BatchNorm one
        last_epoch = spec["trainer"]["max_epochs"] - 1
        saved = [(step, name) for step, name in saved
                 if int(common.checkpoint_metadata(os.path.join(folder, name + ".safetensors"))["epoch"]) != last_epoch]
    check(len(saved) >= 2, f"no checkpoint of {names} to resume from")
    for step, name in saved[:-1]:
        root = os.path.join(args.work, "resumed_" + name)
        rc, _, err = common.run_program(program, ["--trainer.default_root_dir=" + root,
                                                  "--ckpt_path=" + os.path.join(folder, name + ".safetensors")],
                                        launch=common.launcher(common.processes(spec)))
        check(rc == 0, f"resuming from {name} failed:\n{err}")
        logs_alike_after(root, step, uninterrupted, f"resumed from {name}")
        checkpoints_alike(os.path.join(version_dir(root), "checkpoints", final + ".safetensors"),
                          os.path.join(folder, final + ".safetensors"), f"resumed from {name}: {final}")
    print(f"resumed from {', '.join(n for _, n in saved[:-1])}: the same values and {final} as uninterrupted")


def averaging_updates_at_epoch_end(spec):
    callbacks = spec["trainer"]["callbacks"]
    return any(cb.get("init_args", {}).get("update_starting_at_epoch") is not None
               for cb in (callbacks if isinstance(callbacks, list) else [callbacks]))


def compare_averaged_checkpoints(names, callback):
    """Every checkpoint of a WeightAveraging fit holds, as Lightning's on_save_checkpoint writes them,
    the averaged model as its state_dict, the model's own values as current_model_state, the
    averaged model's n_averaged and the callback's latest_update_step: all Lightning's."""
    entry = ("{'ltgen': {'state_dict': values(part('state_dict.')),\n"
             "           'current_model_state': values(part('current_model_state.')),\n"
             "           'averaging_state': json.loads(meta.get('averaging_state', 'null')),\n"
             "           'callbacks': json.loads(meta.get('callbacks', 'null'))},\n"
             " 'lightning': {'state_dict': values(c['state_dict']),\n"
             "               'current_model_state': values(c.get('current_model_state', {})),\n"
             "               'averaging_state': {k: int(v) for k, v in c['averaging_state'].items()}\n"
             "                                  if 'averaging_state' in c else None,\n"
             "               'callbacks': {k: v for k, v in c.get('callbacks', {}).items()\n"
             "                             if k.endswith('WeightAveraging')}}}")
    worst = 0.0
    for name, both in zip(names, read_checkpoint_pairs("read_averaging.py", names, "", "", entry)):
        ours, theirs = both["ltgen"], both["lightning"]
        check(theirs["current_model_state"], f"Lightning's {name}.ckpt has no current_model_state: not a "
                                             "WeightAveraging checkpoint")
        for part in ("state_dict", "current_model_state"):
            # Weights after dozens of steps: float32's differences relative to each tensor's largest
            # value, parity.py's standard (on an AMD EPYC, where torch takes other MKL kernels, a bias
            # element crossing zero, 4e-3 of its tensor's largest, differed by 1.5e-7: 1e-6 of the scale).
            worst = max(worst, compare_tensors(f"{name}: {part}", ours[part], theirs[part], floor_share=1.0))
        check(ours["averaging_state"] == theirs["averaging_state"],
              f"{name}: averaging_state {ours['averaging_state']} in ltgen's, {theirs['averaging_state']} in Lightning's")
        check(ours["callbacks"].get(callback) == theirs["callbacks"].get(callback),
              f"{name}: {callback}'s state {ours['callbacks'].get(callback)} in ltgen's, "
              f"{theirs['callbacks'].get(callback)} in Lightning's")
    print(f"{len(names)} checkpoints hold Lightning's averaged and current models (worst relative difference "
          f"{worst:.2e}), n_averaged and {callback} state")


def averaging_resumes_alike(program, weights, uninterrupted, launch):
    """A WeightAveraging fit stopped after its first epoch and resumed from its last checkpoint logs
    what the uninterrupted fit logged after that checkpoint, bit for bit, and ends with the same
    averaged and current models: both travel in the checkpoint."""
    first, second = os.path.join(args.work, "first_epoch"), os.path.join(args.work, "resumed")
    rc, _, err = common.run_program(program, ["--init_weights=" + weights, "--trainer.default_root_dir=" + first,
                                              "--trainer.max_epochs=1"], launch=launch)
    check(rc == 0, f"the first epoch failed:\n{err}")
    last = os.path.join(version_dir(first), "checkpoints", "last.safetensors")
    check(os.path.isfile(last), f"the first epoch wrote no {last}")
    step = int(common.checkpoint_metadata(last)["global_step"])
    rc, out, err = common.run_program(program, ["--trainer.default_root_dir=" + second, "--ckpt_path=" + last],
                                      launch=launch)
    check(rc == 0, f"the resumed run failed:\n{err}")
    check("Found current_model_state in the checkpoint" in out + err, f"the resumed run does not say it found "
          f"current_model_state:\n{out}\n{err}")
    count = logs_alike_after(second, step, uninterrupted, f"resumed at step {step}")
    last = lambda root: os.path.join(version_dir(root), "checkpoints", "last.safetensors")
    # (ModelCheckpoint does not reload its best checkpoints from another dirpath, as Lightning's
    # does not, so with a save_top_k the two runs can write `last` at different steps.)
    steps = [common.checkpoint_metadata(last(root))["global_step"] for root in (second, os.path.join(args.work, "ltgen"))]
    check(steps[0] == steps[1], f"the resumed run wrote last at step {steps[0]}, the uninterrupted one at step "
          f"{steps[1]}: a spec tested so needs a ModelCheckpoint that saves at every validation (save_top_k -1)")
    tensors = checkpoints_alike(last(second), last(os.path.join(args.work, "ltgen")), "the resumed run's last checkpoint")
    print(f"resumed at step {step}: the same {count} values and last checkpoint ({tensors} tensors) as uninterrupted")


def logs_alike_after(root, step, uninterrupted, what):
    """The metrics a resumed fit under `root` logged after `step` are the uninterrupted fit's, bit for
    bit; returns how many."""
    after = lambda cells: [(key, value) for key, value in cells if key[1] > step]
    resumed = after(common.metric_cells(os.path.join(version_dir(root), "metrics.csv")))
    want = after(uninterrupted)
    check([k for k, _ in resumed] == [k for k, _ in want],
          f"{what}: logged {[k for k, _ in resumed][:6]}..., uninterrupted {[k for k, _ in want][:6]}...")
    for (key, got), (_, value) in zip(resumed, want):
        check(got == value, f"{what}: {key} is {got}, uninterrupted {value}")
    return len(want)


def checkpoints_alike(ours, uninterrupted, what):
    """Two checkpoint files hold the same tensors, bit for bit; returns how many."""
    load = __import__("safetensors.numpy", fromlist=["load_file"]).load_file
    a, b = load(ours), load(uninterrupted)
    check(sorted(a) == sorted(b), f"{what} holds {sorted(a)}, the uninterrupted run's {sorted(b)}")
    for key in a:
        check(np.array_equal(a[key], b[key]), f"{what}: {key} differs from the uninterrupted run's")
    return len(a)


def validates_averaged(program, logged):
    """`validate --ckpt_path` of the newest epoch=E-step=S checkpoint (saved when a validation ended)
    evaluates its state_dict, the averaged model that validation ran on: the same val_loss, bit for
    bit, with Lightning's warning that the averaging state is not restored outside fit. (`last` may
    be saved again when fit ends, after a later update of the averaged model; with epoch-end updates
    a checkpoint saved at the epoch's end holds the model updated after its validation.)"""
    folder = os.path.join(version_dir(os.path.join(args.work, "ltgen")), "checkpoints")
    saved = [f for f in os.listdir(folder) if f.startswith("epoch=")]
    check(saved, f"{folder} holds no epoch=E-step=S checkpoint")
    newest = max((int(common.checkpoint_metadata(os.path.join(folder, f))["global_step"]), f) for f in saved)
    step, ckpt = newest[0], os.path.join(folder, newest[1])
    at_save = [v for (_, s, column), v in logged if column == "val_loss" and s == step - 1]
    check(at_save, f"no val_loss was logged at step {step - 1}, where {ckpt} was saved")
    root = os.path.join(args.work, "validate_saved")
    rc, _, err = common.run_program(program, ["validate", "--ckpt_path=" + ckpt, "--trainer.default_root_dir=" + root])
    check(rc == 0, f"validate --ckpt_path={ckpt} failed:\n{err}")
    check("You're using the WeightAveraging callback, but loading a checkpoint outside the 'fit' stage" in err,
          f"validate does not give Lightning's warning about the averaging state:\n{err}")
    (value,) = [v for (_, _, column), v in common.metric_cells(os.path.join(version_dir(root), "metrics.csv"))
                if column == "val_loss"]
    check(value == at_save[-1], f"validate from {newest[1]}: val_loss {value}, fit's validation at step "
                                f"{step - 1}: {at_save[-1]}")
    print(f"validate from {newest[1]} gives fit's val_loss at step {step - 1} ({value})")


def elsewhere_is_refused(program, weights):
    """An averaged model on another device than the steps' (a command line's callbacks) is refused
    before fit starts, with the reason; on the steps' own it trains."""
    for device, ok in (("cuda", False), ("cpu", True)):
        root = os.path.join(args.work, "device_" + device)
        callbacks = json.dumps([{"class_path": "EMAWeightAveraging", "init_args": {"device": device,
                                                                                   "use_buffers": False}}])
        rc, _, err = common.run_program(program, ["--init_weights=" + weights, "--trainer.default_root_dir=" + root,
                                                  "--trainer.max_epochs=1", "--trainer.callbacks=" + callbacks])
        if ok:
            check(rc == 0, f"EMAWeightAveraging(device=\"cpu\") on the CPU failed:\n{err}")
        else:
            check(rc == 1 and 'device "cuda" is not where the steps run (cpu)' in err,
                  f"EMAWeightAveraging(device=\"cuda\") on the CPU: exit {rc}, stderr:\n{err}")
            check(not os.path.exists(os.path.join(root, "lightning_logs", "version_0", "checkpoints")),
                  "the refused fit wrote checkpoints")
    print("an averaged model on another device is refused before fit, on the steps' own it trains")


def has_batch_norm(spec):
    layers = spec["model"].get("layers") or spec["model"].get("graph", [])
    return any(layer.get("type", "").startswith("BatchNorm") for layer in layers)


def buffers_refused_on_gpu(program, weights):
    """WeightAveraging with use_buffers over BatchNorm (a command line's callbacks) is refused on the
    GPU before fit starts: torch's running mean there fails on num_batches_tracked."""
    root = os.path.join(args.work, "use_buffers")
    callbacks = json.dumps([{"class_path": "WeightAveraging"}])
    rc, _, err = common.run_program(program, ["--init_weights=" + weights, "--trainer.default_root_dir=" + root,
                                              "--trainer.callbacks=" + callbacks])
    check(rc == 1 and "averages the int64 buffer" in err and "Integer division with addcdiv" in err,
          f"WeightAveraging(use_buffers=True) over BatchNorm on the GPU: exit {rc}, stderr:\n{err}")
    check(not os.path.exists(os.path.join(root, "lightning_logs", "version_0", "checkpoints")),
          "the refused fit wrote checkpoints")
    print("WeightAveraging with use_buffers over BatchNorm is refused on the GPU before fit")


def compare_grad_scaler(name, json_name, spec_optimizer):
    """The GradScaler's state and the optimizer's step count in the last checkpoint, both sides."""
    ours = common.checkpoint_metadata(os.path.join(version_dir(os.path.join(args.work, "ltgen")), "checkpoints",
                                                   name + ".safetensors"))
    check("MixedPrecision" in ours, f"ltgen's checkpoint {name} has no MixedPrecision (GradScaler) state")
    mine = __import__("json").loads(ours["MixedPrecision"])
    reader = os.path.join(args.work, "read_scaler.py")
    with open(reader, "w") as f:
        f.write("import json, sys, torch\n"
                "c = torch.load(sys.argv[1], weights_only=False)\n"
                "o = c['optimizer_states'][0]\n"
                "steps = [float(s['step']) for s in o['state'].values() if 'step' in s]\n"
                "etas = [sorted({float(o['state'][i]['eta']) for i in g['params'] if 'eta' in o['state'].get(i, {})})\n"
                "        for g in o['param_groups']]\n"
                "print(json.dumps({'scaler': c['MixedPrecision'], 'steps': sorted(set(steps)), 'etas': etas}))\n")
    proc = subprocess.run([args.lightning_python, reader, os.path.join(version_dir(os.path.join(args.work, "lightning")),
                                                                       "checkpoints", name + ".ckpt")],
                          capture_output=True, text=True, timeout=300)
    check(proc.returncode == 0, f"reading Lightning's {name}.ckpt failed:\n{proc.stderr[-2000:]}")
    theirs = __import__("json").loads(proc.stdout)
    for key in ("scale", "_growth_tracker", "growth_factor", "backoff_factor", "growth_interval"):
        check(mine.get(key) == theirs["scaler"][key],
              f"GradScaler {key}: ltgen {mine.get(key)}, Lightning {theirs['scaler'][key]}")
    skipped = SKIPPED_STEPS[json_name]
    check(mine["scale"] == 65536.0 / 2 ** skipped, f"the scale is {mine['scale']}: {skipped} skipped steps were expected")
    if spec_optimizer in ("Adam", "AdamW", "Adamax", "RAdam", "NAdam"):
        check(theirs["steps"], "Lightning's checkpoint holds no Adam step count")
    said = f"GradScaler: scale {mine['scale']}, growth tracker {mine['_growth_tracker']}"
    optimizer_state = __import__("json").loads(ours["optimizer"])
    step = int(optimizer_state["step"])
    # BackboneFinetuning's group counts its steps from when it joined.
    added = optimizer_state.get("backbone_added_at")
    steps = sorted({float(step)} | ({float(step - added)} if added is not None else set()))
    if theirs["steps"]:  # optimizers that count their steps (Adam's state['step'])
        check(theirs["steps"] == steps, f"optimizer steps taken: ltgen {steps}, Lightning {theirs['steps']}")
        said += f", {step} optimizer steps taken"
    if spec_optimizer == "ASGD":  # eta moves with the steps taken only: each group's, exactly
        etas = __import__("json").loads(ours["optimizer"])["eta"]
        check([[e] for e in etas] == theirs["etas"], f"ASGD's eta per group: ltgen {etas}, Lightning {theirs['etas']}")
        said += f", ASGD's eta per group {etas}"
    print(said + ", as Lightning's")


args.work = os.path.abspath(args.work)
args.spec = os.path.abspath(args.spec)
shutil.rmtree(args.work, ignore_errors=True)
os.makedirs(args.work)
os.chdir(args.work)  # the spec's data paths are relative to it
common.main(run)
