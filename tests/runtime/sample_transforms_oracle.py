#!/usr/bin/env python3
"""ltrt::SampleTransforms (ltrt/sample_transforms.hpp) against torchvision's own transforms (and
torchvision.transforms.v2's, with v2's GaussianNoise), bit for bit.

Each case seeds torch's global generator, passes samples one after another through a
transforms.Compose of RandomHorizontalFlip, RandomVerticalFlip, RandomCrop (every padding mode, a
fill, crops that draw and one that cannot, crops smaller and, with pad_if_needed, larger than the
sample), CenterCrop (halves rounded to even, zeros around a small sample), Resize (every mode, with
and without antialias) and Normalize, as a Dataset's __getitem__ does, and the
driver does the same with ltrt::TorchGenerator. Every output element must be torchvision's, bit for
bit, and so must the int64 the generator draws next (the same numbers were drawn, no more, no fewer).
Run with the Lightning venv's Python (PyPI's torch and torchvision).
"""
import argparse
import json
import random
import subprocess
import sys

import numpy as np
import torch
from torchvision import transforms
from torchvision.transforms import v2


def case(seed, shape, items, samples, rng, uniform=False):
    data = (rng.random((samples, *shape)) if uniform else rng.standard_normal((samples, *shape))).astype(np.float32)
    data.reshape(samples, -1)[:, 0] = 0.0  # an exact value among the random ones
    return {"seed": seed, "shape": list(shape), "transforms": items,
            "samples": [x.reshape(-1).view(np.uint32).tolist() for x in data]}


def crop(h, w, pad, mode="constant", fill=0.0, pad_if_needed=False):
    return {"type": "RandomCrop", "size": [h, w], "padding": pad, "padding_mode": mode, "fill": fill,
            "pad_if_needed": pad_if_needed}


def center(h, w):
    return {"type": "CenterCrop", "size": [h, w]}


def resize(size, interpolation="bilinear", antialias=True, max_size=None):
    return {"type": "Resize", "size": size, "interpolation": interpolation, "antialias": antialias, "max_size": max_size}


def make_cases():
    rng = np.random.default_rng(5)
    flips = [{"type": "RandomHorizontalFlip", "p": 0.5}, {"type": "RandomVerticalFlip", "p": 0.5}]
    cases = [
        case(0, (3, 8, 8), flips, 40, rng),
        case(1, (1, 6, 5), [{"type": "RandomHorizontalFlip", "p": p} for p in (0.3, 1 / 3, 0.7, 0.0, 1.0, 0.1)], 30, rng),
        case(2, (7, 4), [{"type": "RandomVerticalFlip", "p": 0.9}, {"type": "RandomHorizontalFlip", "p": 0.25}], 30, rng),
    ]
    for seed, mode in enumerate(("constant", "edge", "reflect", "symmetric")):
        cases.append(case(10 + seed, (2, 6, 7), [crop(6, 7, [2, 1, 3, 2], mode, 0.75)], 40, rng))
        cases.append(case(20 + seed, (3, 5, 5), [crop(5, 5, [1, 1, 1, 1], mode)], 40, rng))
        cases.append(case(30 + seed, (2, 3, 4, 4), [crop(4, 4, [3, 0, 0, 2], mode, -1.5)], 20, rng))
    cases += [
        case(40, (4, 4), [crop(4, 4, [0, 0, 0, 0])], 5, rng),          # the whole sample: nothing drawn
        case(41, (1, 5, 6), [crop(5, 6, [0, 2, 0, 0])], 20, rng),      # a crop of the height only
        case(42, (6, 6), [crop(6, 6, [2, 2, 2, 2], "edge"), crop(6, 6, [1, 1, 1, 1], "reflect")], 20, rng),
        case(43, (3, 4, 5), [{"type": "Normalize", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}], 10, rng),
        case(44, (2, 2, 3, 3), [{"type": "Normalize", "mean": [0.1], "std": [0.3]}], 10, rng),
        case(45, (3, 8, 8), [crop(8, 8, [4, 4, 4, 4], "reflect"), *flips,
                             {"type": "Normalize", "mean": [0.5, -0.25, 1e-3], "std": [0.7, 3.0, 1e-2]},
                             crop(8, 8, [1, 2, 3, 0], "constant", 0.3)], 60, rng),
    ]
    # torchvision.transforms.v2: a crop draws a coordinate only along a dimension it is smaller in.
    v2ed = lambda items: [dict(t, v2=True) for t in items]
    for seed, mode in enumerate(("constant", "edge", "reflect", "symmetric")):
        cases.append(case(50 + seed, (2, 6, 7), v2ed([crop(6, 7, [2, 1, 3, 2], mode, 0.75)]), 30, rng))
        cases.append(case(55 + seed, (1, 5, 5), v2ed([crop(5, 5, [0, 1, 0, 2], mode)]), 30, rng))  # height only
        cases.append(case(60 + seed, (3, 4, 4), v2ed([crop(4, 4, [2, 0, 1, 0], mode)]), 30, rng))  # width only
    noise = lambda mean, sigma, clip: {"type": "GaussianNoise", "v2": True, "noise_mean": mean, "sigma": sigma, "clip": clip}
    cases += [
        case(65, (4, 4), v2ed([crop(4, 4, [0, 0, 0, 0])]), 5, rng),  # nothing drawn
        case(66, (3, 6, 6), v2ed([*flips, {"type": "RandomHorizontalFlip", "p": 1.0}, {"type": "RandomVerticalFlip", "p": 0.0},
                                  {"type": "Normalize", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}]), 30, rng),
        case(67, (10,), [noise(0.0, 0.1, False)], 25, rng),   # under 16 elements: float64 Box-Muller pairs
        case(68, (7,), [noise(0.25, 0.5, True)], 25, rng),
        case(69, (2, 4, 4), [noise(-0.1, 0.3, True)], 25, rng),  # 16 and more: torch's vectorised normal_
        case(70, (3, 5, 7), [noise(0.0, 0.1, False)], 25, rng),  # 105: the last 16 drawn again
        case(71, (3, 8, 8), v2ed([crop(8, 8, [4, 4, 4, 4], "reflect"), *flips]) + [noise(0.0, 0.05, True)] +
             v2ed([{"type": "Normalize", "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}]), 40, rng),
    ]
    # Crops that change the shape: smaller than the sample, and larger with pad_if_needed (v1 pads the
    # padded sample again, the width then the height; v2 adds the shortfall to its padding).
    for seed, mode in enumerate(("constant", "edge", "reflect", "symmetric")):
        cases.append(case(80 + seed, (2, 9, 11), [crop(5, 7, [1, 0, 2, 1], mode, 0.5)], 30, rng))
        cases.append(case(84 + seed, (1, 4, 5), [crop(7, 9, [1, 0, 0, 1], mode, -2.0, True)], 20, rng))
        cases.append(case(88 + seed, (3, 6, 4), [crop(6, 7, [0, 0, 0, 0], mode, 0.25, True)], 20, rng))  # width only
        cases.append(case(92 + seed, (1, 4, 5), v2ed([crop(7, 9, [1, 0, 0, 1], mode, -2.0, True)]), 20, rng))
        cases.append(case(96 + seed, (2, 7, 6), v2ed([crop(3, 6, [0, 0, 0, 0], mode, 0.0, True)]), 20, rng))
    cases += [
        case(100, (8, 9), [crop(8, 4, [0, 0, 0, 0])], 20, rng),   # v1 draws the top too (randint(0, 1))
        case(101, (3, 8, 9), [center(4, 4), center(4, 4)], 5, rng),
        case(102, (1, 7, 10), [center(4, 5)], 5, rng),           # (7 - 4) / 2 = 1.5 and 2.5: halves to even
        case(103, (2, 5, 6), [center(8, 9)], 5, rng),            # zeros around, (3 + 1) // 2 after
        case(104, (2, 5, 6), [center(8, 3)], 5, rng),            # taller, narrower
        case(105, (1, 3, 4), v2ed([center(2, 7), center(6, 7)]), 5, rng),
        case(106, (4, 4), [center(1, 1), center(3, 2)], 5, rng),
        case(107, (3, 12, 12), [crop(10, 10, [0, 0, 0, 0]), *flips, center(8, 8),
                                {"type": "Normalize", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}], 30, rng),
        case(108, (2, 3, 9, 9), v2ed([crop(6, 6, [2, 2, 2, 2], "reflect"), center(5, 4)]) + [noise(0.0, 0.1, True)], 20, rng),
    ]
    # Resize: every mode, with and without antialias, down and up, the smaller edge's size (max_size
    # too), torch's two bilinear kernels (out_h + out_w up to 128 and beyond), images of 1 and 3
    # channels and a batch of them; after and before crops.
    for seed, mode in enumerate(("nearest", "nearest-exact", "bilinear", "bicubic")):
        for aa in (True, False):
            cases.append(case(110 + 2 * seed + aa, (3, 13, 17), [resize([7, 9], mode, aa)], 3, rng))
            cases.append(case(120 + 2 * seed + aa, (1, 5, 4), [resize([11, 13], mode, aa)], 3, rng))
            cases.append(case(130 + 2 * seed + aa, (3, 40, 50), [resize([70, 90], mode, aa)], 1, rng))
    cases += [
        case(140, (2, 9, 14), [resize([6])], 3, rng),                        # smaller edge 6: 6 x int(6 * 14 / 9)
        case(141, (3, 14, 9), [resize([5], "bicubic", True, 6)], 3, rng),    # capped by max_size
        case(142, (3, 12, 12), [resize([12, 12])], 2, rng),                  # unchanged: the image itself
        case(143, (2, 3, 10, 8), [resize([5, 6], "bilinear", False)], 2, rng),  # a batch of 3-channel images
        case(144, (3, 16, 16), [crop(12, 12, [0, 0, 0, 0]), resize([8, 8]), *flips,
                                {"type": "Normalize", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}], 20, rng),
        case(145, (1, 9, 9), v2ed([resize([4]), center(3, 3)]), 5, rng),
        case(146, (3, 1, 1), [resize([3, 5], "nearest-exact")], 2, rng),
    ]
    # Colours: ColorJitter's permutation and factors, each adjustment alone and together, on images in
    # [0, 1] and on normal values (whose hue turns NaN where the largest channel is 0); RandomGrayscale
    # and Grayscale.
    jitter = lambda **kw: {"type": "ColorJitter", **kw}
    for uniform in (True, False):
        u = 150 + 10 * uniform
        cases += [
            case(u, (3, 6, 5), [jitter(brightness=0.4)], 20, rng, uniform),
            case(u + 1, (3, 6, 5), [jitter(contrast=0.5)], 20, rng, uniform),
            case(u + 2, (3, 6, 5), [jitter(saturation=[0.2, 1.7])], 20, rng, uniform),
            case(u + 3, (3, 6, 5), [jitter(hue=0.5)], 40, rng, uniform),
            case(u + 4, (3, 7, 9), [jitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1)], 40, rng, uniform),
            case(u + 5, (1, 9, 8), [jitter(brightness=0.2, contrast=[0.5, 0.9], saturation=0.4, hue=0.2)], 20, rng, uniform),
            case(u + 6, (2, 3, 5, 4), [jitter(brightness=0.2, contrast=0.3, saturation=0.4, hue=[-0.3, 0.1])], 20, rng, uniform),
            case(u + 7, (3, 40, 40), [jitter(contrast=0.8)], 5, rng, uniform),  # a mean over 1600 pixels
            case(u + 8, (3, 6, 5), [{"type": "RandomGrayscale", "p": 0.5}, {"type": "Grayscale", "num_output_channels": 3}], 20, rng, uniform),
        ]
    # v2's (without contrast): fused blends and grayscale, brightness a product alone, its own HSV
    # round trip.
    for uniform in (True, False):
        u = 200 + 10 * uniform
        cases += [
            case(u, (3, 6, 5), v2ed([jitter(brightness=0.4)]), 20, rng, uniform),
            case(u + 2, (3, 6, 5), v2ed([jitter(saturation=[0.2, 1.7])]), 20, rng, uniform),
            case(u + 3, (3, 6, 5), v2ed([jitter(hue=0.5)]), 40, rng, uniform),
            case(u + 4, (3, 7, 9), v2ed([jitter(brightness=0.3, saturation=0.3, hue=0.1)]), 40, rng, uniform),
            case(u + 5, (1, 9, 8), v2ed([jitter(brightness=0.2, saturation=0.4, hue=0.2)]), 20, rng, uniform),
            case(u + 6, (2, 3, 5, 4), v2ed([jitter(brightness=0.2, saturation=0.4, hue=[-0.3, 0.1])]), 20, rng, uniform),
            case(u + 7, (3, 40, 41), v2ed([jitter(saturation=0.8, brightness=0.1)]), 5, rng, uniform),
            case(u + 8, (3, 6, 5), v2ed([{"type": "RandomGrayscale", "p": 0.5}, {"type": "Grayscale", "num_output_channels": 3}]), 20, rng, uniform),
            case(u + 9, (3, 13, 11), v2ed([{"type": "Grayscale", "num_output_channels": 3}]), 5, rng, uniform),
        ]
    cases.append(case(171, (3, 6, 6), [jitter(brightness=0.4, contrast=[0.6, 1.3], saturation=0.4, hue=0.1),
                                       {"type": "RandomGrayscale", "p": 0.3}, *flips, jitter(hue=[-0.5, 0.2])], 60, rng))
    # Pad (RandomCrop's padding alone), RandomInvert, RandomSolarize and RandomAutocontrast (v1 draws
    # compared in double, v2's in float32: p = 0.3 tells them apart now and then).
    padded = lambda pad, mode="constant", fill=0.0: {"type": "Pad", "padding": pad, "padding_mode": mode, "fill": fill}
    for seed, mode in enumerate(("constant", "edge", "reflect", "symmetric")):
        cases.append(case(180 + seed, (2, 5, 6), [padded([1, 2, 3, 0], mode, 0.5)], 5, rng))
        cases.append(case(185 + seed, (3, 4, 4), v2ed([padded([2, 1, 0, 3], mode, -1.0)]), 5, rng))
    for uniform in (True, False):
        for v2_ in (False, True):
            items = [{"type": "RandomInvert", "p": 0.3}, {"type": "RandomSolarize", "threshold": 0.6, "p": 0.3},
                     {"type": "RandomAutocontrast", "p": 0.3}, {"type": "RandomSolarize", "threshold": 0.1, "p": 0.7}]
            cases.append(case(190 + 2 * uniform + v2_, (3, 5, 4), v2ed(items) if v2_ else items, 60, rng, uniform))
    cases.append(case(195, (1, 4, 4), [{"type": "RandomAutocontrast", "p": 1.0}], 3, rng, True))
    cases[-1]["samples"][0] = [np.float32(0.25).view(np.uint32).item()] * 16  # one value: the scale's 1 / 0
    cases.append(case(196, (2, 1, 3, 4), v2ed([{"type": "RandomAutocontrast", "p": 1.0}]), 3, rng))
    # A plane of 32768 pixels and more: torch's mean splits it among its threads.
    cases.append(case(172, (3, 200, 200), [jitter(contrast=0.5)], 2, rng, True))
    cases.append(case(173, (1, 190, 180), [jitter(contrast=[0.2, 0.3], brightness=0.1)], 2, rng, True))
    # A NaN channel: the pixel's hue is NaN throughout (v2's aminmax propagates it).
    nan_pixels = case(174, (3, 2, 2), v2ed([jitter(hue=0.2)]) + [jitter(hue=0.3)], 4, rng, True)
    for k, sample in enumerate(nan_pixels["samples"]):
        sample[4 + k] = np.float32(np.nan).view(np.uint32).item()  # the green (or blue) of pixel k
    cases.append(nan_pixels)
    cases.append(case(175, (1, 4, 5), [{"type": "Grayscale", "num_output_channels": 3}], 2, rng, True))
    cases.append(case(170, (1, 4, 4), [{"type": "RandomGrayscale", "p": 0.5}, jitter(hue=0.0, brightness=[1.0, 1.0])], 10, rng))
    # RandomResizedCrop: boxes of a random area and aspect resized (every mode, antialias or not, down
    # and up), the central crop where 10 attempts fail (a tiny or a wide scale, a narrow image), the
    # box that is the whole image (no resize), one-pixel boxes of 4 channels; RandomErasing: a value,
    # one per channel and "random" (a normal draw of the box before its corner, of fewer than 16
    # elements and of more).
    apply = lambda items, p=0.5, **kw: dict({"type": "RandomApply", "p": p, "transforms": items}, **kw)
    rrc = lambda size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), mode="bilinear", aa=True, **kw: dict(
        {"type": "RandomResizedCrop", "size": size, "scale": list(scale), "ratio": list(ratio), "interpolation": mode,
         "antialias": aa}, **kw)
    erasing = lambda p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=[0.0], **kw: dict(
        {"type": "RandomErasing", "p": p, "scale": list(scale), "ratio": list(ratio), "value": value}, **kw)
    for seed, mode in enumerate(("nearest", "nearest-exact", "bilinear", "bicubic")):
        for aa in (True, False):
            cases.append(case(300 + 2 * seed + aa, (3, 20, 24), [rrc([8, 10], mode=mode, aa=aa)], 15, rng))
            cases.append(case(310 + 2 * seed + aa, (1, 9, 7), [rrc([16, 16], mode=mode, aa=aa, v2=True)], 15, rng))
    cases += [
        case(320, (3, 12, 12), [rrc([12, 12], scale=(1.0, 1.0), ratio=(1.0, 1.0))], 5, rng),   # the whole: no resize
        case(321, (2, 6, 30), [rrc([5, 5], scale=(0.9, 1.0), ratio=(1.0, 1.2))], 10, rng),     # too wide: central crops
        case(322, (1, 30, 6), [rrc([5, 5], scale=(0.9, 1.0), ratio=(0.8, 1.0), v2=True)], 10, rng),  # too tall
        case(323, (3, 8, 8), [rrc([4, 4], scale=(0.0, 0.001))], 10, rng),                      # empty areas: the whole
        case(324, (4, 10, 10), [rrc([3, 3], scale=(0.01, 0.012), ratio=(1.0, 1.0), aa=False)], 10, rng),  # one pixel
        case(325, (4, 10, 10), [rrc([3, 3], scale=(0.01, 0.012), ratio=(1.0, 1.0), mode="nearest-exact")], 10, rng),
        case(326, (2, 3, 16, 16), [rrc([6, 7], scale=(0.2, 0.9), ratio=(0.5, 2.0)), *flips], 15, rng),
        case(327, (3, 40, 50), [rrc([70, 90], mode="bilinear", aa=False)], 3, rng),  # the generic kernel
        case(328, (3, 20, 20), [rrc([9, 1]), rrc([1, 9]), rrc([5, 5], v2=True)], 10, rng),  # one-pixel-wide outputs
        case(329, (3, 24, 24), [{"type": "RandomCrop", "size": [20, 20], "padding": [0, 0, 0, 0], "padding_mode": "constant",
                                 "fill": 0.0, "pad_if_needed": False}, rrc([12, 12]), *flips,
                                {"type": "Normalize", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}], 20, rng),
        case(330, (3, 10, 12), [erasing(p=0.7)], 30, rng),
        case(331, (3, 10, 12), [erasing(p=0.7, value=[0.1, -2.0, 0.5], v2=True)], 30, rng),
        case(332, (3, 10, 12), [erasing(p=0.8, value="random")], 30, rng),  # boxes of fewer and more than 16
        case(333, (1, 5, 5), [erasing(p=1.0, value="random", scale=(0.1, 0.3))], 30, rng),
        case(334, (2, 1, 16, 16), [erasing(p=0.9, value="random", scale=(0.1, 0.5), ratio=(0.5, 2.0), v2=True)], 20, rng),
        case(335, (3, 8, 8), [erasing(p=1.0, scale=(0.9, 1.0))], 10, rng),  # no box fits: the sample as it is
        case(336, (3, 20, 20), [rrc([16, 16]), erasing(p=0.6, value=[0.25]), *flips], 20, rng),
    ]
    # One-pixel boxes of 4 channels resized by the generic kernel, which torch runs on such a view
    # (a whole 1 x 1 image is channels-last contiguous): infinities tell the kernels apart.
    # So are RandomCrop's and CenterCrop's one-pixel crops before a Resize, and the view stays one
    # through the transforms that return it as it is (a flip that did not flip, a Resize to its size,
    # a RandomResizedCrop's box of its size, an erasing without a box in v2).
    one_pixel_views = [
        [rrc([70, 70], scale=(0.02, 0.03), ratio=(1.0, 1.0), aa=False)],
        [crop(1, 1, [0, 0, 0, 0]), resize([60, 70], "bilinear", False)],
        [center(1, 1), resize([70, 60], "bilinear", False)],
        [crop(1, 1, [1, 0, 0, 0], "reflect"), resize([64, 65], "bilinear", False)],
        [center(1, 1), flips[0], resize([70, 60], "bilinear", False)],
        [center(1, 1), resize([1, 1]), resize([70, 60], "bilinear", False)],
        [rrc([1, 1], scale=(0.02, 0.03), ratio=(1.0, 1.0), aa=False), resize([70, 60], "bilinear", False)],
        [center(1, 1), erasing(p=1.0, v2=True), {"type": "Pad", "padding": [0, 0, 0, 0], "padding_mode": "constant",
                                                   "fill": 0.0, "v2": True}, resize([70, 60], "nearest-exact")],
        [center(1, 1), apply([flips[1]], 0.5), resize([70, 66], "bilinear", False)],
        [center(1, 1), erasing(p=1.0), resize([70, 60], "bilinear", False)],  # v1 erases a clone
        [crop(1, 1, [0, 0, 0, 0]), center(1, 1), crop(1, 1, [0, 0, 0, 0], pad_if_needed=True), resize([70, 60], "bilinear", False)],
    ]
    for seed, items in enumerate(one_pixel_views):
        one_pixel = case(360 + seed, (4, 6, 6), items, 12, rng)
        for sample in one_pixel["samples"]:
            sample[::3] = [np.float32(np.inf).view(np.uint32).item()] * len(sample[::3])
        cases.append(one_pixel)
    # RandomApply: its transforms or none (nested ones too; shape-keeping pads and crops inside);
    # v1 applies where the draw equals p, v2 skips there: p is the seed's first draw.
    cases += [
        case(350, (3, 8, 8), [crop(8, 8, [2, 2, 2, 2]), apply([jitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)], 0.8),
                              {"type": "RandomGrayscale", "p": 0.2}, *flips], 40, rng, True),
        case(351, (3, 6, 6), v2ed([apply(flips, 0.5)]) + [apply([padded([2, 2, 2, 2], "reflect"), crop(6, 6, [0, 0, 0, 0])], 0.7)], 30, rng),
        case(352, (1, 5, 5), [apply([apply([flips[0]], 0.5), {"type": "Normalize", "mean": [0.5], "std": [2.0]}], 0.6),
                              apply([], 0.5), apply([{"type": "RandomInvert", "p": 1.0}], 0.0)], 30, rng),
        case(353, (3, 12, 12), [apply([rrc([12, 12]), erasing(p=1.0, value="random")], 0.5, v2=True), *flips], 20, rng),
    ]
    for seed, v2_ in ((354, False), (355, True)):
        torch.manual_seed(seed)
        first = torch.rand(1).item()  # a float32's value: p equal to the draw
        cases.append(case(seed, (1, 2, 2), [apply([{"type": "RandomInvert", "p": 1.0}], first, v2=v2_)], 1, rng))
    # RandomRotation and RandomAffine (v1 and v2): nearest and bilinear, a fill of one value, one per
    # channel and v2's None, a centre of its own, square and other images (one row, one pixel), a
    # batch of images, and every argument of RandomAffine; v2's exact turns by 0, 90, 180 and 270
    # degrees move the pixels (90 and 270 only on square images); infinities and NaNs spread as
    # torch's weights spread them.
    rotation = lambda degrees, mode="nearest", fill=0.0, center=None, **kw: dict(
        {"type": "RandomRotation", "degrees": list(degrees), "interpolation": mode, "fill": fill, "center": center}, **kw)
    affine = lambda degrees, translate=None, scale=None, shear=None, mode="nearest", fill=0.0, center=None, **kw: dict(
        {"type": "RandomAffine", "degrees": list(degrees), "translate": translate, "scale": scale, "shear": shear,
         "interpolation": mode, "fill": fill, "center": center}, **kw)
    for seed, mode in enumerate(("nearest", "bilinear")):
        for v2_ in (False, True):
            kw = {"v2": True} if v2_ else {}
            u = 400 + 20 * seed + 10 * v2_
            cases += [
                case(u, (3, 16, 16), [rotation((-30, 30), mode, **kw)], 20, rng, True),
                case(u + 1, (1, 13, 9), [rotation((-180, 180), mode, 0.5, **kw)], 20, rng),
                case(u + 2, (3, 7, 10), [rotation((5, 60), mode, [0.1, -0.2, 0.3], **kw)], 20, rng, True),
                case(u + 3, (2, 9, 9), [rotation((-45, 45), mode, [1.5], [2, 3.5], **kw)], 20, rng),
                case(u + 4, (1, 1, 7), [rotation((-90, 90), mode, -1.0, **kw)], 20, rng),
                case(u + 5, (2, 3, 6, 5), [rotation((-20, 20), mode, [0.0, 1.0, 0.5], **kw)], 10, rng),
                case(u + 6, (3, 12, 11), [affine((-15, 15), [0.2, 0.1], [0.8, 1.2], [-10, 10], mode, [0.5, 0.25, 0.75],
                                                 **kw)], 20, rng, True),
                case(u + 7, (1, 10, 14), [affine((0, 0), [0.3, 0.3], None, None, mode, 0.0, **kw)], 20, rng),
                case(u + 8, (2, 11, 8), [affine((-40, 40), None, [0.5, 2.0], [-20, 10, -5, 25], mode, 1.0, [3, 4], **kw)],
                     20, rng),
                case(u + 9, (1, 1, 1), [affine((-90, 90), [1.0, 1.0], [0.9, 1.1], [-45, 45], mode, 0.5, **kw)], 10, rng),
            ]
            if v2_:
                cases += [
                    case(u + 50, (3, 8, 8), [rotation((-10, 10), mode, None, **kw), affine((-10, 10), [0.1, 0.1], None,
                                                                                          [5, 5], mode, None, **kw)],
                         20, rng),
                    case(u + 51, (2, 2, 5, 5), [rotation((-30, 30), mode, 0.5, **kw)], 10, rng),  # (..., C, H, W)
                ]
    for v2_ in (False, True):  # v2 moves the pixels for exact turns (of a square only for 90 and 270)
        kw = {"v2": True} if v2_ else {}
        for turn in (0, 90, 180, 270, -90, 450):
            for shape in ((2, 5, 5), (1, 4, 6)):
                cases.append(case(460 + 2 * turn // 90 + v2_, shape, [rotation((turn, turn), "bilinear", 0.5, **kw)], 3, rng))
        cases.append(case(475 + v2_, (1, 5, 5), [rotation((90, 90), "nearest", 0.0, [2, 2], **kw)], 3, rng))
    # v2's rot90 leaves a transposed view, whose contrast mean torch sums in memory order: ltrt counts
    # the sample uncertain (and warns); a sample of 3 x 200 x 200 does round otherwise.
    # torch keeps the view through clones, flips and crops (a 180 turn is a flip), a second 90 turn
    # undoes it, and pads and resizes to another size make new tensors: those are certain and equal.
    turn = lambda degrees: rotation((degrees, degrees), "nearest", 0.0, v2=True)
    for seed, items, uncertain in (
            (477, [turn(90), jitter(contrast=0.5)], True),
            (478, [turn(90), turn(180), flips[0], jitter(contrast=0.5)], True),
            (479, [turn(270), center(190, 190), turn(0), noise(0.0, 0.1, False)], True),
            (482, [turn(90), turn(90), jitter(contrast=0.5)], False),
            (483, [turn(90), resize([190, 190]), jitter(contrast=0.5)], False),
            (484, [turn(-90), {"type": "Pad", "padding": [1, 1, 1, 1], "padding_mode": "constant", "fill": 0.0},
                   jitter(contrast=0.5)], False),
            (485, [turn(90), rrc([150, 150]), noise(0.0, 0.1, False)], False)):
        transposed = case(seed, (3, 200, 200), items, 2, rng, True)
        transposed["expect_uncertain"] = uncertain
        cases.append(transposed)
    # v2's RandomChoice (torch.multinomial: an exponential_ per child, the argmax of p over them) and
    # RandomOrder (torch.randperm): flat and nested, equal and given weights, a weight of 0.
    choice = lambda items, p=None: {"type": "RandomChoice", "transforms": items, "p": p, "v2": True}
    order = lambda items: {"type": "RandomOrder", "transforms": items, "v2": True}
    invert = {"type": "RandomInvert", "p": 1.0}
    solarize = {"type": "RandomSolarize", "threshold": 0.5, "p": 1.0}
    cases += [
        case(490, (3, 6, 5), [choice([*flips, invert])], 40, rng, True),
        case(491, (3, 6, 5), [choice([flips[0], invert, solarize, jitter(brightness=0.3)], [0.1, 2.0, 0.0, 1.5])], 40, rng, True),
        case(492, (3, 6, 6), [order([jitter(hue=0.2), invert, flips[1], rotation((-10, 10), "bilinear", 0.5, v2=True)])], 40, rng, True),
        case(493, (1, 5, 5), [order([choice([invert, apply([solarize, flips[0]], 0.5, v2=True)], [3, 1]),
                                      apply([flips[1]], 0.7), choice([order([invert, solarize]), flips[0]])])], 40, rng, True),
        case(494, (1, 4, 4), [choice([invert]), order([solarize])], 10, rng, True),
        # (GaussianNoise after the turn where the order puts it second: uncertain then)
        dict(case(496, (3, 6, 6), [order([noise(0.0, 0.1, False), turn(90)]), order([turn(90), turn(270), invert])],
                  10, rng, True), expect_uncertain=True),
        case(497, (4, 6, 6), [choice([turn(90), flips[1]]), center(1, 1), choice([flips[0], order([flips[1]])]),
                              resize([70, 60], "bilinear", False)], 20, rng),  # a one-pixel view through them
        case(495, (3, 8, 8), [choice([affine((-10, 10), [0.1, 0.1], mode="bilinear", fill=0.0, v2=True),
                                      rotation((90, 90), "nearest", 0.0, v2=True), center(8, 8)]), *flips], 30, rng),
    ]
    # v1's RandomChoice (random.choices: floor(random() * n), or bisect over the accumulated weights,
    # negative ones and integers too) and RandomOrder (random.shuffle: _randbelow's rejections past
    # 3, 5, 6 and 7 children), flat and nested with v2's and RandomApply; empty and one-child orders.
    choice1 = lambda items, p=None: {"type": "RandomChoice", "transforms": items, "p": p}
    order1 = lambda items: {"type": "RandomOrder", "transforms": items}
    bright = jitter(brightness=0.3)
    cases += [
        case(500, (3, 6, 5), [choice1([*flips, invert])], 40, rng, True),
        case(501, (3, 6, 5), [choice1([flips[0], invert, solarize, bright], [0.1, 2.0, 0.0, 1.5])], 60, rng, True),
        case(502, (3, 6, 5), [choice1([flips[0], invert, solarize], [2, -0.5, 1])], 60, rng, True),
        case(503, (3, 5, 5), [choice1([flips[0], invert, solarize, flips[1], bright, turn(90), center(5, 5),
                                       rotation((-10, 10), "bilinear", 0.5), jitter(hue=0.1)], [3, 1, 4, 1, 5, 9, 2, 6, 5])],
             60, rng, True),
        case(504, (3, 6, 6), [order1([jitter(hue=0.2), invert, flips[1], rotation((-10, 10), "bilinear", 0.5)])], 40, rng, True),
        case(505, (1, 5, 5), [order1([invert, solarize, flips[0], flips[1], apply([invert], 0.5), bright, turn(180)])],
             40, rng, True),
        case(506, (1, 5, 5), [order1([]), order1([invert]), order1([solarize, invert, flips[0]]), choice1([invert], [0.5])],
             20, rng, True),
        case(507, (1, 5, 5), [order1([choice1([invert, apply([solarize, flips[0]], 0.5)], [3, 1]),
                                      choice([flips[1], order1([invert, solarize])], [1, 2]),
                                      order([choice1([flips[0], invert]), solarize])])], 40, rng, True),
    ]
    through = next(c for c in cases if c["seed"] == 497)  # infinities tell torch's resize kernels apart
    for sample in through["samples"]:
        sample[::2] = [np.float32(np.inf).view(np.uint32).item()] * len(sample[::2])
    # torchvision's default fill is 0 (v2's None is another fill: no mixing at the border)
    for seed, kind in enumerate(("RandomRotation", "RandomAffine")):
        item = (rotation if kind == "RandomRotation" else affine)((-20, 20), mode="bilinear", fill=0.0, v2=True)
        item["default_fill"] = True
        cases.append(case(486 + seed, (2, 9, 9), [item], 10, rng))
    inf_pixels = case(480, (2, 6, 6), [rotation((-25, 25), "bilinear", 0.5),
                                       rotation((-25, 25), "bilinear", 0.25, v2=True)], 10, rng)
    for k, sample in enumerate(inf_pixels["samples"]):
        sample[7 + k] = np.float32(np.inf).view(np.uint32).item()
        sample[40 + k] = np.float32(np.nan).view(np.uint32).item()
    cases.append(inf_pixels)
    cases.append(case(481, (3, 10, 10), [affine((-10, 10), [0.1, 0.1], [0.9, 1.1], [-5, 5], "bilinear"), *flips,
                                          rotation((-15, 15), "nearest", 0.5),
                                          {"type": "Normalize", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}], 30, rng, True))
    return cases


def box_cases():
    # get_params alone, many times: the boxes must be torchvision's wherever ltrt's draws are certain.
    cfg = lambda kind, seed, h, w, scale, ratio, draws=20000: {
        "kind": kind, "seed": seed, "height": h, "width": w, "scale": list(scale), "ratio": list(ratio), "draws": draws}
    return [
        cfg("crop", 1, 224, 224, (0.08, 1.0), (3 / 4, 4 / 3)),
        cfg("crop", 2, 32, 32, (0.08, 1.0), (3 / 4, 4 / 3)),
        cfg("crop", 3, 375, 500, (0.08, 1.0), (3 / 4, 4 / 3)),
        cfg("crop", 4, 64, 48, (0.25, 0.75), (0.5, 2.0)),
        cfg("crop", 5, 40, 40, (0.5, 0.5), (1.0, 1.0)),
        cfg("crop", 6, 9, 40, (0.6, 1.0), (2.5, 3.0)),
        cfg("erase", 7, 224, 224, (0.02, 0.33), (0.3, 3.3)),
        cfg("erase", 8, 32, 32, (0.02, 0.33), (0.3, 3.3)),
    ]


def check_boxes(driver):
    configs = box_cases()
    done = subprocess.run([driver], input=json.dumps({"boxes": configs}), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"driver failed on boxes: {done.stderr}")
    results = json.loads(done.stdout)
    failures = certain = uncertain = 0
    for c, rows in zip(configs, results):
        torch.manual_seed(c["seed"])
        img = torch.empty(1, c["height"], c["width"])
        for k, row in enumerate(rows):
            if c["kind"] == "crop":
                want = list(transforms.RandomResizedCrop.get_params(img, c["scale"], c["ratio"]))
            else:
                want = list(transforms.RandomErasing.get_params(img, c["scale"], c["ratio"], [0.0])[:4])
            uncertain += row[4] > 0
            if row[:4] == want:
                certain += row[4] == 0
                continue
            if row[4] == 0:
                print(f"boxes {c}: draw {k}: ltrt {row[:4]} torchvision {want}, a draw ltrt took for certain")
                failures += 1
            else:
                print(f"boxes {c}: draw {k}: an uncertain draw went the other way (ltrt {row[:4]}, torchvision {want})")
            break  # the generators part here
    if failures:
        sys.exit(f"{failures} boxes differ")
    print(f"boxes: {certain} certain draws equal to torchvision's, {uncertain} uncertain")
    return uncertain


def check_refusals(driver):
    # The runtime's own checks (the generator refuses these first): a RandomChoice's transform that
    # changes the shape, though the list as a whole keeps it.
    refused = {"seed": 0, "shape": [1, 8, 8], "samples": [[0] * 64], "transforms": [
        {"type": "RandomChoice", "v2": True, "p": None, "transforms": [
            {"type": "CenterCrop", "size": [6, 6]},
            {"type": "Pad", "padding": [1, 1, 1, 1], "padding_mode": "constant", "fill": 0.0}]}]}
    done = subprocess.run([driver], input=json.dumps({"cases": [refused], "torch_threads": 1}), capture_output=True,
                          text=True)
    if done.returncode == 0 or "RandomChoice or RandomOrder makes samples of another shape" not in done.stderr:
        sys.exit(f"the driver took a RandomChoice whose transform changes the shape: {done.stderr}")
    print("refusals: a RandomChoice's transform that changes the shape is refused")


def check_matrices(driver):
    # _get_inverse_affine_matrix (v1's and v2's formulas) and Python's angle % 360, bit for bit in
    # double, over angles, centres, translations, scales and shears of every size and sign.
    from torchvision.transforms import functional as F1
    from torchvision.transforms.v2 import functional as F2
    rng = np.random.default_rng(11)
    rows = []
    for k in range(20000):
        angle = float(rng.uniform(-720, 720)) if k % 7 else float(rng.choice([0.0, -0.0, 90.0, -360.0, 1e-30, -1e-30, 720.0]))
        cx, cy, tx, ty = (float(x) for x in rng.normal(0, 20, 4))
        scale = float(np.exp(rng.uniform(-3, 3)))
        sx, sy = (float(x) for x in rng.uniform(-89, 89, 2)) if k % 3 else (0.0, 0.0)
        rows.append([cx, cy, angle, tx, ty, scale, sx, sy, bool(k % 2)])
    done = subprocess.run([driver], input=json.dumps({"matrices": rows}), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"driver failed on matrices: {done.stderr}")
    results = json.loads(done.stdout)
    as_double = lambda bits: float(np.int64(bits).view(np.float64))
    for row, got in zip(rows, results):
        f = F2._geometry._get_inverse_affine_matrix if row[8] else F1._get_inverse_affine_matrix
        want = f([row[0], row[1]], row[2], [row[3], row[4]], row[5], [row[6], row[7]])
        mod = row[2] % 360
        have = [as_double(b) for b in got]
        if np.array(want + [mod]).view(np.int64).tolist() != np.array(have).view(np.int64).tolist():
            sys.exit(f"inverse affine matrix of {row}: ltrt {have}, torchvision {want + [mod]}")
    print(f"matrices: {len(rows)} inverse affine matrices and angles modulo 360 equal to torchvision's and Python's")


def torchvision_of(item):
    kind = item["type"]
    api = v2 if item.get("v2") else transforms
    if kind == "GaussianNoise":
        return v2.GaussianNoise(mean=item["noise_mean"], sigma=item["sigma"], clip=item["clip"])
    if kind == "RandomCrop":
        return api.RandomCrop(item["size"], padding=item["padding"], fill=item["fill"], padding_mode=item["padding_mode"],
                              pad_if_needed=item["pad_if_needed"])
    if kind == "CenterCrop":
        return api.CenterCrop(item["size"])
    if kind == "Pad":
        return api.Pad(item["padding"], fill=item["fill"], padding_mode=item["padding_mode"])
    if kind == "RandomSolarize":
        return api.RandomSolarize(item["threshold"], p=item["p"])
    if kind in ("RandomInvert", "RandomAutocontrast"):
        return getattr(api, kind)(p=item["p"])
    if kind == "ColorJitter":
        args = {k: item[k] for k in ("brightness", "contrast", "saturation", "hue") if k in item}
        return api.ColorJitter(**args)
    if kind == "RandomGrayscale":
        return api.RandomGrayscale(p=item["p"])
    if kind == "Grayscale":
        return api.Grayscale(num_output_channels=item["num_output_channels"])
    if kind == "Resize":
        return api.Resize(item["size"], interpolation=transforms.InterpolationMode(item["interpolation"]),
                          max_size=item["max_size"], antialias=item["antialias"])
    if kind == "Normalize":
        return api.Normalize(item["mean"], item["std"])
    if kind == "RandomResizedCrop":
        return api.RandomResizedCrop(item["size"], scale=tuple(item["scale"]), ratio=tuple(item["ratio"]),
                                     interpolation=transforms.InterpolationMode(item["interpolation"]),
                                     antialias=item["antialias"])
    if kind == "RandomApply":
        return api.RandomApply([torchvision_of(t) for t in item["transforms"]], p=item["p"])
    if kind == "RandomChoice":
        return api.RandomChoice([torchvision_of(t) for t in item["transforms"]], p=item["p"])
    if kind == "RandomOrder":
        return api.RandomOrder([torchvision_of(t) for t in item["transforms"]])
    if kind == "RandomErasing":
        return api.RandomErasing(p=item["p"], scale=tuple(item["scale"]), ratio=tuple(item["ratio"]), value=item["value"])
    fill = {} if item.get("default_fill") else {"fill": item.get("fill")}  # (the driver's is then 0)
    if kind == "RandomRotation":
        return api.RandomRotation(item["degrees"], interpolation=transforms.InterpolationMode(item["interpolation"]),
                                  center=item["center"], **fill)
    if kind == "RandomAffine":
        return api.RandomAffine(item["degrees"], translate=item["translate"], scale=item["scale"], shear=item["shear"],
                                interpolation=transforms.InterpolationMode(item["interpolation"]),
                                center=item["center"], **fill)
    return getattr(api, kind)(p=item["p"])


def run_torch(c):
    compose = transforms.Compose([torchvision_of(t) for t in c["transforms"]])
    torch.manual_seed(c["seed"])
    random.seed(c["seed"])  # (v1's RandomChoice and RandomOrder draw from Python's random)
    out = []
    for bits in c["samples"]:
        x = torch.from_numpy(np.array(bits, dtype=np.uint32).view(np.float32).reshape(c["shape"]).copy())
        y = compose(x).contiguous()
        out.append(y.numpy().reshape(-1).view(np.uint32).tolist())
    python_next = np.float64(random.random()).view(np.int64).item()
    return out, int(torch.empty((), dtype=torch.int64).random_().item()), python_next


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--driver", required=True)
    args = parser.parse_args()
    cases = make_cases()
    def walk(items):  # the transforms, and those inside a RandomApply
        for t in items:
            yield t
            yield from walk(t.get("transforms", []))

    for c in cases:  # ColorJitter's ranges as torchvision makes them of its arguments, None for none
        for t in walk(c["transforms"]):
            if t["type"] == "ColorJitter":
                made = torchvision_of(t)
                t["ranges"] = [None if r is None else list(r) for r in (made.brightness, made.contrast, made.saturation, made.hue)]
    # torch's thread count picks its bilinear kernel for 3-channel images (ltrt follows it).
    request = {"cases": cases, "torch_threads": torch.get_num_threads()}
    done = subprocess.run([args.driver], input=json.dumps(request), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"driver failed: {done.stderr}")
    results = json.loads(done.stdout)
    if len(results) != len(cases):
        sys.exit(f"the driver answered {len(results)} cases of {len(cases)}")
    failures = 0
    elements = 0
    uncertain = 0
    for k, (c, r) in enumerate(zip(cases, results)):
        want, next_draw, python_next = run_torch(c)
        if len(want) != len(r["samples"]):
            print(f"case {k}: the driver gave {len(r['samples'])} samples of {len(want)}")
            failures += 1
        # The samples up to the first whose box torch's MKL rounding may have drawn otherwise.
        certain = next((i for i, u in enumerate(r["uncertain"]) if u > 0), len(want))
        # Only a box or a transposed layout may be uncertain: elsewhere an uncertain count would skip
        # the comparison.
        boxes = any(t["type"] in ("RandomResizedCrop", "RandomErasing") for t in walk(c["transforms"]))
        if certain < len(want):
            print(f"case {k}: an uncertain box or layout at sample {certain}: compared up to it")
            uncertain += 1
            if not boxes and not c.get("expect_uncertain"):
                print(f"case {k}: ltrt counted a sample uncertain where nothing may be")
                failures += 1
        elif c.get("expect_uncertain"):
            print(f"case {k}: ltrt counted no sample uncertain where one must be")
            failures += 1
        for i, (a, b) in enumerate(zip(want[:certain], r["samples"])):
            elements += len(a)
            # Bit for bit, but a NaN is any NaN (ColorJitter's hue makes them of values outside [0, 1],
            # and which operand's sign and payload a NaN keeps is the CPU's choice of operand order).
            x, y = np.array(a, dtype=np.uint32).view(np.float32), np.array(b, dtype=np.uint32).view(np.float32)
            differ = (np.array(a) != np.array(b)) & ~(np.isnan(x) & np.isnan(y))
            if differ.any():
                bad = int(np.argmax(differ))
                print(f"case {k} {c['transforms']}: sample {i} element {bad}: ltrt "
                      f"{np.uint32(b[bad]).view(np.float32)} torchvision {np.uint32(a[bad]).view(np.float32)}")
                failures += 1
                break
        if certain == len(want) and r["next"] != next_draw:
            print(f"case {k}: the next draw differs (ltrt {r['next']}, torch {next_draw}): the draws' count or order")
            failures += 1
        if certain == len(want) and r["python_next"] != python_next:
            print(f"case {k}: Python's next random() differs (ltrt {r['python_next']}, Python {python_next}): "
                  "the draws' count or order")
            failures += 1
    if failures:
        sys.exit(f"{failures} mismatches")
    print(f"{len(cases)} cases, {elements} elements and each case's next draw equal to torchvision's"
          f" ({uncertain} cases with an uncertain box or layout)")
    check_boxes(args.driver)
    check_matrices(args.driver)
    check_refusals(args.driver)


main()
