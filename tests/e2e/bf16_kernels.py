#!/usr/bin/env python3
"""bf16_<kernel>_<size>: a bf16-mixed program's kernels against torch's own on the same bfloat16
values, with nothing else in between (whole training runs amplify the rare one-step differences
of float32 sum order; these checks do not, so they pin the kernels down where the lightning_bf16_*
runs cannot). Run with the Lightning venv's python (PyPI's torch):

  bf16_kernels.py attention --seq T --ltgen PATH --work DIR
  bf16_kernels.py dropout --p P --ltgen PATH --work DIR

Each generates a small spec under precision "bf16-mixed", builds it, adds a program to the
generated project that calls the generated functions on random bfloat16 values (in.bin ->
out.bin), and compares:

- attention: attn_in_proj_forward on one sample and on several (torch's MHA projects a transposed
  view, which rounds the product before the bias only when it is strided: more than one sample),
  and attn_forward and attn_backward (on a partial batch) (ops/multihead_attention.cpp's bfloat16 path: torch's
  CPU flash attention, step for step) with torch.nn.functional.scaled_dot_product_attention
  (float mask, as Lightning's MultiheadAttention passes it), forward and backward (the backward
  given torch's output and lse, as torch's is). They differ
  only in the order of float32 sums, which rounds an element to the neighbouring bfloat16 now and
  then: at most 0.5% of the elements may differ by a bfloat16 step, none by more than two, or
  for dk and dv from T=768 on, where torch's query blocks are 256 rows, one step per block (sums
  rounded after each block's part: a flip in a partial sum larger than the total moves the total
  by a step of the partial's; blocks of 64 rows in place of torch's 256 make 40% of dk differ, by
  up to 33 steps, at T=1030); a step is taken at no less than 1/256 of the tensor's largest
  value, below which sums that cancel (a causal first row's dq) differ in any two orders. These
  bounds hold for OpenBLAS's fused (FMA) kernels under ltgen's sgemm, as torch's are fused; its
  generic Prescott kernels round each product apart, and dq then differs by up to 4 steps at
  T=1030 (scripts/test.sh chooses the CPU's kernels where OpenBLAS does not recognise it).
- dropout: the Dropout layer's forward (its mask, torch's from a TorchGenerator) and backward, each
  rounded as the graph's to_bf16 node after it and autodiff's gradient rounding do, against
  torch's bfloat16 arithmetic with that mask (Dropout.cpp's _dropout_impl: noise = mask / (1 - p)
  in bfloat16, x * noise; the gradient g * noise): exactly equal.
"""
import argparse
import json
import os
import shutil
import subprocess

import numpy as np
import torch
import torch.nn.functional as F

import common
from common import check

parser = argparse.ArgumentParser()
parser.add_argument("kernel", choices=["attention", "dropout"])
parser.add_argument("--ltgen", required=True)
parser.add_argument("--work", required=True)
parser.add_argument("--seq", type=int, default=40, help="attention: the sequence length")
parser.add_argument("--embed", type=int, default=16, help="attention: embed_dim (2 heads)")
parser.add_argument("--p", type=float, default=0.1, help="dropout: the probability")
args = parser.parse_args()

N, E, H = 4, args.embed, 2  # attention: the spec's batch, embed_dim, num_heads
T, D = args.seq, E // H
# torch's CPU flash attention's blocks for this T (FlashAttentionKernel.cpp: q_split_size, kv_split_size)
QUERY_BLOCKS = -(-T // (32 if T < 192 else 64 if T < 768 else 256))
ROWS_RUN = N - 1  # a partial batch, as the last one of an epoch
ROWS, FEATURES = 8, 64  # dropout: batch, features


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def build_check(spec, program_name, harness):
    """Generates and builds `spec`, then builds `harness` (C++ that includes model.cpp) beside the
    program, compiled as the program is; returns a function that runs it on bytes and returns
    the float32 values it writes."""
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    spec_path = os.path.join(args.work, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    project = os.path.join(args.work, "program")
    common.generate(args.ltgen, spec_path, project)
    with open(os.path.join(project, "kernel_check.cpp"), "w") as f:
        f.write(harness)
    with open(os.path.join(project, "CMakeLists.txt"), "a") as f:
        # Compiled as the program is (its -march=native decides which sums become FMAs).
        f.write("\nadd_executable(kernel_check kernel_check.cpp)\n"
                "target_link_libraries(kernel_check PRIVATE ltgen::runtime)\n"
                f"get_target_property(program_options {program_name} COMPILE_OPTIONS)\n"
                "if(program_options)\n  target_compile_options(kernel_check PRIVATE ${program_options})\nendif()\n")
    build = subprocess.run(["cmake", "--build", os.path.join(project, "build"), "--target", "kernel_check"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(build.returncode == 0, "building the check against the generated model.cpp failed:\n" + build.stdout[-3000:])

    def run(data):
        with open(os.path.join(args.work, "in.bin"), "wb") as f:
            f.write(data)
        done = subprocess.run([os.path.join(project, "kernel_check")], cwd=args.work)
        check(done.returncode == 0, f"kernel_check exited with {done.returncode}")
        return np.fromfile(os.path.join(args.work, "out.bin"), np.float32)
    return run


ATTENTION = r"""// Calls the generated attention kernels on in.bin (the backward on torch's output and lse, so that
// a rare one-step difference in the forward's output does not carry into the gradients), then
// the input projection on one sample and on n; writes the attention's output and dqkv, the two
// projections, and the forward's lse, to out.bin.
#include <cstdio>
#include <vector>

#include "model.cpp"

int main() {
  const int n = %(n)d, t = %(t)d, e = %(e)d, heads = %(h)d, d = %(d)d;  // n: this step's samples
  std::vector<float> x(n * t * e), w(3 * e * e), b(3 * e), proj_1(t * 3 * e), proj_n(n * t * 3 * e);
  std::vector<float> qkv(n * t * 3 * e), dout(n * t * e), out(n * t * e), lse(n * heads * t), scores(t * t),
      dqkv(n * t * 3 * e), delta(n * heads * t), scratch(2 * t * t + t * d), torch_out(n * t * e), torch_lse(n * heads * t);
  std::FILE* f = std::fopen("in.bin", "rb");
  if (!f || std::fread(qkv.data(), 4, qkv.size(), f) != qkv.size() || std::fread(dout.data(), 4, dout.size(), f) != dout.size() ||
      std::fread(x.data(), 4, x.size(), f) != x.size() || std::fread(w.data(), 4, w.size(), f) != w.size() ||
      std::fread(b.data(), 4, b.size(), f) != b.size() ||
      std::fread(torch_out.data(), 4, torch_out.size(), f) != torch_out.size() ||
      std::fread(torch_lse.data(), 4, torch_lse.size(), f) != torch_lse.size())
    return 1;
  std::fclose(f);
  attn_bf16::attn_in_proj_forward(proj_1.data(), x.data(), w.data(), b.data(), 1);
  attn_bf16::attn_in_proj_forward(proj_n.data(), x.data(), w.data(), b.data(), n);
  attn_bf16::attn_forward(out.data(), lse.data(), scores.data(), qkv.data(), n);
  attn_bf16::attn_backward(dqkv.data(), delta.data(), scratch.data(), dout.data(), qkv.data(), torch_out.data(),
                           torch_lse.data(), n);
  f = std::fopen("out.bin", "wb");
  std::fwrite(out.data(), 4, out.size(), f);
  std::fwrite(dqkv.data(), 4, dqkv.size(), f);
  std::fwrite(proj_1.data(), 4, proj_1.size(), f);
  std::fwrite(proj_n.data(), 4, proj_n.size(), f);
  std::fwrite(lse.data(), 4, lse.size(), f);
  std::fclose(f);
  return 0;
}
"""

DROPOUT = r"""// Calls the generated Dropout forward (training) and backward on in.bin; writes the output, the
// mask (as floats) and the input gradient to out.bin.
#include <cstdio>
#include <vector>

#include "model.cpp"

int main() {
  const int n = %(n)d, features = %(f)d;
  std::vector<float> inp(n * features), dout(n * features), out(n * features), dinp(n * features);
  std::vector<std::uint8_t> mask(n * features);
  std::FILE* f = std::fopen("in.bin", "rb");
  if (!f || std::fread(inp.data(), 4, inp.size(), f) != inp.size() || std::fread(dout.data(), 4, dout.size(), f) != dout.size())
    return 1;
  std::fclose(f);
  ltrt::TorchGenerator torch_rng(7);
  ltrt::Generator own_rng(7);
  dropout_bf16::layers_1_forward(out.data(), mask.data(), inp.data(), n, true, ltrt::DropoutDraws{torch_rng, own_rng});
  dropout_bf16::layers_1_backward(dinp.data(), dout.data(), mask.data(), n);
  std::vector<float> mask_f(mask.begin(), mask.end());
  f = std::fopen("out.bin", "wb");
  std::fwrite(out.data(), 4, out.size(), f);
  std::fwrite(mask_f.data(), 4, mask_f.size(), f);
  std::fwrite(dinp.data(), 4, dinp.size(), f);
  std::fclose(f);
  return 0;
}
"""


def check_attention():
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
    run = build_check(spec, "attn_bf16", ATTENTION % {"n": ROWS_RUN, "t": T, "e": E, "h": H, "d": D})
    n = ROWS_RUN
    torch.manual_seed(T)  # the same draws every run
    qkv = bf16(torch.randn(n, T, 3 * E))
    dout = bf16(torch.randn(n, T, E))
    x, w, b = bf16(torch.randn(n, T, E)), bf16(torch.randn(3 * E, E) * 0.3), bf16(torch.randn(3 * E))

    # torch: (N, T, 3E) -> q, k, v of (N, H, T, D) in bfloat16, the float mask of causal attention,
    # as Lightning's MultiheadAttention passes it; F.scaled_dot_product_attention runs the CPU
    # flash attention, whose op also gives the lse that the backward reads.
    q, k, v = [qkv[..., i * E:(i + 1) * E].reshape(n, T, H, D).transpose(1, 2).bfloat16().requires_grad_()
               for i in range(3)]
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out.backward(dout.reshape(n, T, H, D).transpose(1, 2).bfloat16())
    flash_out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q.detach(), k.detach(), v.detach(),
                                                                               attn_mask=mask)
    check(torch.equal(flash_out, out.detach()), "F.scaled_dot_product_attention did not run the CPU flash attention")
    to_rows = lambda t: t.float().transpose(1, 2).reshape(n, T, E)  # noqa: E731
    raw = run(b"".join(t.numpy().tobytes() for t in (qkv, dout, x, w, b, to_rows(flash_out), lse.float().contiguous())))
    sizes = [n * T * E, n * T * 3 * E, T * 3 * E, n * T * 3 * E]
    out_ltgen, dqkv_ltgen, proj_1, proj_n, lse_ltgen = (torch.from_numpy(a.copy())
                                                        for a in np.split(raw, np.cumsum(sizes)))
    # The forward's log-sum-exp, which the program's own backward reads (the backward here is given
    # torch's): float32, its sums in another order, so within float32 rounding of torch's.
    lse_diff = float((lse_ltgen.reshape(lse.shape) - lse.float()).abs().max())
    print(f"T={T} D={D} lse: largest difference {lse_diff:.2e}")
    check(lse_diff <= 1e-5 * max(1.0, float(lse.abs().max())), f"lse differs from torch's by {lse_diff:.2e}")
    out_ltgen, dqkv_ltgen = out_ltgen.reshape(n, T, E), dqkv_ltgen.reshape(n, T, 3 * E)

    # The input projection as torch's batch_first MultiheadAttention runs it under autocast: on the
    # (T, batch, E) transposed view, strided unless the batch is one sample.
    for rows, mine in ((1, proj_1), (n, proj_n)):
        with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
            theirs = F.linear(x[:rows].transpose(1, 0), w, b).transpose(1, 0).float()
        differ = int((mine.reshape(rows, T, 3 * E) != theirs).sum())
        print(f"T={T} D={D} in_proj of {rows} sample(s): {differ} of {theirs.numel()} elements differ")
        check(differ <= 0.005 * theirs.numel(), f"in_proj of {rows} sample(s): {differ} elements differ from torch's")

    pairs = {"out": (out_ltgen, to_rows(out.detach())), "dq": (dqkv_ltgen[..., :E], to_rows(q.grad)),
             "dk": (dqkv_ltgen[..., E:2 * E], to_rows(k.grad)), "dv": (dqkv_ltgen[..., 2 * E:], to_rows(v.grad))}
    for name, (mine, theirs) in pairs.items():
        differ = mine != theirs
        count = int(differ.sum())
        # One bfloat16 step at the larger of the two magnitudes, 2^(exponent - 7), and at least at
        # 1/256 of the tensor's largest: values far below that are sums that cancel (a causal first
        # row's dq: p (dp - delta) with dp and delta equal but for rounding), where any two orders
        # of summation disagree in relative terms.
        scale = torch.maximum(torch.maximum(mine.abs(), theirs.abs()), theirs.abs().max() / 256)
        step = torch.exp2(torch.floor(torch.log2(scale.clamp_min(1e-30))) - 7)
        steps = (mine - theirs).abs() / step
        worst = float(steps.max())
        visible = int((steps >= 1).sum())  # a step or more apart; the rest are cancelling sums' dust
        print(f"T={T} D={D} {name}: {count} of {mine.numel()} elements differ, {visible} by a bfloat16 step or "
              f"more, at most {worst:g}")
        check(visible <= 0.005 * mine.numel(), f"{name}: {visible} of {mine.numel()} elements differ from torch's")
        # dk and dv summed over torch's 256-row query blocks (T >= 768): one step per block
        blocks = QUERY_BLOCKS if name in ("dk", "dv") and T >= 768 else 0
        check(worst <= max(2, blocks), f"{name}: an element differs from torch's by {worst:g} bfloat16 steps")


def check_dropout():
    spec = {
        "name": "dropout_bf16",
        "model": {"inputs": {"x": [FEATURES]}, "target": {"shape": [1]},
                  "layers": [{"type": "Linear", "out_features": FEATURES}, {"type": "Dropout", "p": args.p},
                             {"type": "Linear", "out_features": 1}],
                  "loss": {"type": "MSELoss"}},
        "data": {"batch_size": ROWS, "train": {"source": "randn", "num_samples": ROWS}},
        "optimizer": {"type": "SGD", "lr": 0.1},
        "trainer": {"accelerator": "cpu", "precision": "bf16-mixed", "max_epochs": 1},
    }
    run = build_check(spec, "dropout_bf16", DROPOUT % {"n": ROWS, "f": FEATURES})
    torch.manual_seed(11)
    x = bf16(torch.randn(ROWS, FEATURES) * 3)
    g = bf16(torch.randn(ROWS, FEATURES))
    raw = run(x.numpy().tobytes() + g.numpy().tobytes()).reshape(3, ROWS, FEATURES)
    out_ltgen, mask, dinp_ltgen = (torch.from_numpy(a.copy()) for a in raw)
    kept = int(mask.sum())
    check(0 < kept < mask.numel(), f"the mask keeps {kept} of {mask.numel()} elements")
    noise = mask.to(torch.bfloat16).div_(1 - args.p)  # torch's bfloat16 noise for this mask
    for name, mine, theirs in (("out", bf16(out_ltgen), x.bfloat16().mul(noise).float()),
                               ("grad", bf16(dinp_ltgen), g.bfloat16().mul(noise).float())):
        differ = int(((mine != theirs) & ~(mine.isnan() & theirs.isnan())).sum())
        print(f"p={args.p} {name}: {differ} of {mine.numel()} elements differ")
        check(differ == 0, f"{name}: {differ} elements differ from torch's bfloat16 dropout with the same mask")


def main():
    check_attention() if args.kernel == "attention" else check_dropout()
    print("PASSED")


if __name__ == "__main__":
    try:
        main()
    except common.Failure as e:
        print(f"FAILED: {e}")
        raise SystemExit(1)
