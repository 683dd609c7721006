#!/usr/bin/env python3
"""bf16_attention_<T>: a bf16-mixed program's attention kernels (ops/multihead_attention.cpp's
bfloat16 path: torch's CPU flash attention, step for step) against torch's own, on the same
bfloat16 q, k, v and output gradient, with nothing else in between.

  bf16_attention.py --ltgen PATH --work DIR --seq T      (run with the Lightning venv's python)

The test generates a causal MultiheadAttention spec under precision "bf16-mixed" with sequence
length T, builds it, adds a small program to the generated project that calls the generated
attn_forward and attn_backward on random bfloat16 values, and compares their output and dq, dk,
dv with torch.nn.functional.scaled_dot_product_attention (float mask, as Lightning's MHA passes
it) forward and backward in bfloat16. The two differ only in the order of float32 sums, which
rounds an element to the neighbouring bfloat16 now and then: at most 0.5% of the elements may
differ, each by at most two bfloat16 steps (dk and dv are sums rounded after each block of query
rows, so one early flip can move the total by a second step). (Whole training runs amplify such differences; this check
does not, so it pins the kernels down where lightning_bf16_gpt cannot.)"""
import argparse
import json
import math
import os
import shutil
import subprocess

import numpy as np
import torch
import torch.nn.functional as F

import common
from common import check

parser = argparse.ArgumentParser()
parser.add_argument("--ltgen", required=True)
parser.add_argument("--work", required=True)
parser.add_argument("--seq", type=int, required=True)
args = parser.parse_args()

N, E, H = 4, 16, 2  # batch, embed_dim, num_heads
T, D = args.seq, E // H

HARNESS = r"""// Calls the generated attention kernels on in.bin; writes their output and dqkv to out.bin.
#include <cstdio>
#include <vector>

#include "model.cpp"

int main() {
  const int n = %(n)d, t = %(t)d, e = %(e)d, heads = %(h)d, d = %(d)d;
  std::vector<float> qkv(n * t * 3 * e), dout(n * t * e), out(n * t * e), lse(n * heads * t), scores(t * t),
      dqkv(n * t * 3 * e), delta(n * heads * t), scratch(2 * t * t + t * d);
  std::FILE* f = std::fopen("in.bin", "rb");
  if (!f || std::fread(qkv.data(), 4, qkv.size(), f) != qkv.size() || std::fread(dout.data(), 4, dout.size(), f) != dout.size())
    return 1;
  std::fclose(f);
  attn_bf16::attn_forward(out.data(), lse.data(), scores.data(), qkv.data(), n);
  attn_bf16::attn_backward(dqkv.data(), delta.data(), scratch.data(), dout.data(), qkv.data(), out.data(), lse.data(), n);
  f = std::fopen("out.bin", "wb");
  std::fwrite(out.data(), 4, out.size(), f);
  std::fwrite(dqkv.data(), 4, dqkv.size(), f);
  std::fclose(f);
  return 0;
}
"""


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def main():
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    spec = {
        "name": "attn_bf16",
        "model": {"inputs": {"x": [T, E]}, "target": {"shape": [T, E]},
                  "graph": [{"name": "attn", "type": "MultiheadAttention", "input": "x", "num_heads": H,
                             "batch_first": True, "is_causal": True}],
                  "output": "attn", "loss": {"type": "MSELoss"}},
        "data": {"batch_size": N, "train": {"source": "randn", "num_samples": N}},
        "optimizer": {"type": "SGD", "lr": 0.1},
        "trainer": {"accelerator": "cpu", "precision": "bf16-mixed", "max_epochs": 1},
    }
    spec_path = os.path.join(args.work, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    project = os.path.join(args.work, "program")
    common.generate(args.ltgen, spec_path, project)
    with open(os.path.join(project, "attention_check.cpp"), "w") as f:
        f.write(HARNESS % {"n": N, "t": T, "e": E, "h": H, "d": D})
    with open(os.path.join(project, "CMakeLists.txt"), "a") as f:
        # Compiled as the program is (its -march=native decides which sums become FMAs).
        f.write("\nadd_executable(attention_check attention_check.cpp)\n"
                "target_link_libraries(attention_check PRIVATE ltgen::runtime)\n"
                "get_target_property(program_options attn_bf16 COMPILE_OPTIONS)\n"
                "if(program_options)\n  target_compile_options(attention_check PRIVATE ${program_options})\nendif()\n")
    build = subprocess.run(["cmake", "--build", os.path.join(project, "build"), "--target", "attention_check"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(build.returncode == 0, "building the check against the generated model.cpp failed:\n" + build.stdout[-3000:])

    torch.manual_seed(T)  # the same draws every run
    qkv = bf16(torch.randn(N, T, 3 * E))
    dout = bf16(torch.randn(N, T, E))
    with open(os.path.join(args.work, "in.bin"), "wb") as f:
        f.write(qkv.numpy().tobytes() + dout.numpy().tobytes())
    run = subprocess.run([os.path.join(project, "attention_check")], cwd=args.work)
    check(run.returncode == 0, f"attention_check exited with {run.returncode}")
    raw = np.fromfile(os.path.join(args.work, "out.bin"), np.float32)
    out_ltgen = torch.from_numpy(raw[:N * T * E].reshape(N, T, E))
    dqkv_ltgen = torch.from_numpy(raw[N * T * E:].reshape(N, T, 3 * E))

    # torch: (N, T, 3E) -> q, k, v of (N, H, T, D) in bfloat16, the float mask of causal attention.
    q, k, v = [qkv[..., i * E:(i + 1) * E].reshape(N, T, H, D).transpose(1, 2).bfloat16().requires_grad_()
               for i in range(3)]
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out.backward(dout.reshape(N, T, H, D).transpose(1, 2).bfloat16())
    to_rows = lambda t: t.float().transpose(1, 2).reshape(N, T, E)  # noqa: E731
    pairs = {"out": (out_ltgen, to_rows(out.detach())), "dq": (dqkv_ltgen[..., :E], to_rows(q.grad)),
             "dk": (dqkv_ltgen[..., E:2 * E], to_rows(k.grad)), "dv": (dqkv_ltgen[..., 2 * E:], to_rows(v.grad))}
    for name, (mine, theirs) in pairs.items():
        differ = mine != theirs
        count = int(differ.sum())
        # One bfloat16 step at the larger of the two magnitudes: 2^(exponent - 7).
        step = torch.exp2(torch.floor(torch.log2(torch.maximum(mine.abs(), theirs.abs()).clamp_min(1e-30))) - 7)
        worst = float(((mine - theirs).abs() / step)[differ].max()) if count else 0.0
        print(f"T={T} {name}: {count} of {mine.numel()} elements differ, by at most {worst:g} bfloat16 steps")
        check(count <= 0.005 * mine.numel(), f"{name}: {count} of {mine.numel()} elements differ from torch's")
        check(worst <= 2.0, f"{name}: an element differs from torch's by {worst:g} bfloat16 steps")
    print("PASSED")


if __name__ == "__main__":
    try:
        main()
    except common.Failure as e:
        print(f"FAILED: {e}")
        raise SystemExit(1)
