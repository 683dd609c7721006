"""The model, data and check of the trainer.sync_batchnorm tests: ddp_sync_batchnorm
(tests/e2e/ddp.py, DDP on the CPU) and cuda_emulated_ddp_sync_batchnorm
(tests/cuda/ddp_sync_batchnorm.py, DDP on emulated GPUs).

torch's SyncBatchNorm normalises each rank's batch with the statistics of every rank's batch
together, and its backward sums dy and dy * xhat over the ranks: 2 ranks with batch B then train
exactly as 1 process with batch 2B (DistributedSampler gives rank r every second sample from r, so
batch b of the one process holds batch b of both ranks), running statistics included, up to float
rounding. Without synchronisation each rank normalises its own half and they differ. The one
process trains plain BatchNorms (sync_batchnorm false), so the reference shares no code with
the synchronisation it checks.

The model puts a BatchNorm2d on the input (which needs no gradient: no sums in its backward), a
Conv2d and a BatchNorm2d with momentum None (the cumulative average), a BatchNorm1d without
affine parameters after a Linear and one without running statistics (which normalises each
rank's own batch in evaluation); the inputs' channels are far from zero mean and unit variance,
so each rank's batch has statistics of its own.
"""
import os

import numpy as np
from safetensors.numpy import load_file, save_file

from common import check

N, B, EPOCHS = 64, 8, 4
SHAPE = (2, 4, 4)
CHANNELS, HIDDEN = 3, 6


def spec(name, accelerator, devices, batch_size, sync):
    return {
        "name": name, "seed_everything": 11,
        "model": {"inputs": {"x": list(SHAPE)}, "target": {"shape": [1]},
                  "layers": [{"type": "BatchNorm2d", "momentum": 0.3},
                             {"type": "Conv2d", "out_channels": CHANNELS, "kernel_size": 3, "padding": 1},
                             {"type": "BatchNorm2d", "momentum": None}, {"type": "ReLU"}, {"type": "Flatten"},
                             {"type": "Linear", "out_features": HIDDEN}, {"type": "BatchNorm1d", "affine": False},
                             {"type": "Tanh"}, {"type": "BatchNorm1d", "track_running_stats": False},
                             {"type": "Linear", "out_features": 1}],
                  "loss": {"type": "MSELoss"}},
        "data": {"batch_size": batch_size,
                 "train": {"source": "npy", "x": "sbn_x.npy", "y": "sbn_y.npy"},
                 "val": {"source": "npy", "x": "sbn_vx.npy", "y": "sbn_vy.npy"}},
        "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9},
        "trainer": {"accelerator": accelerator, "devices": devices, "strategy": "ddp", "max_epochs": EPOCHS,
                    "log_every_n_steps": 1, "accumulate_grad_batches": 2, "sync_batchnorm": sync,
                    "enable_progress_bar": False, "enable_model_summary": False,
                    "callbacks": [{"class_path": "ModelCheckpoint", "init_args": {"save_top_k": -1}}]},
    }


def write_data(work):
    """The data (sbn_*.npy) and the initial weights (sbn_init.safetensors) in `work`."""
    rng = np.random.default_rng(17)
    offset = np.array([-2.0, 1.5]).reshape(2, 1, 1)
    scale = np.array([0.5, 3.0]).reshape(2, 1, 1)
    for prefix, rows in (("", N), ("v", 23)):
        x = (rng.standard_normal((rows,) + SHAPE) * scale + offset).astype(np.float32)
        np.save(os.path.join(work, f"sbn_{prefix}x.npy"), x)
        y = np.tanh(x[:, 0].mean(axis=(1, 2)) + 0.3 * x[:, 1, 0, 0]).reshape(rows, 1)
        np.save(os.path.join(work, f"sbn_{prefix}y.npy"), y.astype(np.float32))
    flat = CHANNELS * SHAPE[1] * SHAPE[2]
    f32 = lambda *shape, s=0.4: (rng.standard_normal(shape) * s).astype(np.float32)
    save_file({"layers.0.weight": 1 + f32(2, s=0.2), "layers.0.bias": f32(2, s=0.2),
               "layers.0.running_mean": np.zeros(2, np.float32), "layers.0.running_var": np.ones(2, np.float32),
               "layers.0.num_batches_tracked": np.zeros((), np.int64),
               "layers.1.weight": f32(CHANNELS, 2, 3, 3), "layers.1.bias": f32(CHANNELS),
               "layers.2.weight": 1 + f32(CHANNELS, s=0.2), "layers.2.bias": f32(CHANNELS, s=0.2),
               "layers.2.running_mean": np.zeros(CHANNELS, np.float32),
               "layers.2.running_var": np.ones(CHANNELS, np.float32),
               "layers.2.num_batches_tracked": np.zeros((), np.int64),
               "layers.5.weight": f32(HIDDEN, flat), "layers.5.bias": f32(HIDDEN),
               "layers.6.running_mean": np.zeros(HIDDEN, np.float32), "layers.6.running_var": np.ones(HIDDEN, np.float32),
               "layers.6.num_batches_tracked": np.zeros((), np.int64),
               "layers.8.weight": 1 + f32(HIDDEN, s=0.2), "layers.8.bias": f32(HIDDEN, s=0.2),
               "layers.9.weight": f32(1, HIDDEN), "layers.9.bias": f32(1)},
              os.path.join(work, "sbn_init.safetensors"))


def weights(path):
    return {k: v for k, v in load_file(path).items() if k.startswith("state_dict.")}


def worst_difference(checkpoints, reference, work):
    """Every epoch's checkpoint in the folder `checkpoints` against `reference`'s: the largest
    difference of a tensor as a fraction of its largest value. The running variances must have moved."""
    initial = {"state_dict." + k: v for k, v in load_file(os.path.join(work, "sbn_init.safetensors")).items()}
    worst = 0.0
    for epoch in range(EPOCHS):
        name = f"epoch={epoch}-step={2 * (epoch + 1)}.safetensors"  # 4 batches of a rank: 2 steps an epoch
        a, b = weights(os.path.join(checkpoints, name)), weights(os.path.join(reference, name))
        check(sorted(a) == sorted(b) == sorted(initial), f"{name}: tensors {sorted(a)} vs {sorted(b)}")
        for k in a:
            worst = max(worst, float(np.abs(a[k] - b[k]).max()) / max(float(np.abs(b[k]).max()), 1e-3))
        for k in ("state_dict.layers.2.running_var", "state_dict.layers.6.running_var"):
            moved = float(np.abs(a[k] - initial[k]).max())
            check(moved > 0.05, f"{name}: {k} hardly moved ({moved:.3g}): the test would not see a difference")
    return worst
