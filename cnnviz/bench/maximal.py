"""Maximally activating inputs: index throughput vs. a bare forward pass, and batched vs. one-at-a-time synthesis.

(a) ``build_index`` over a data set against the same batches through the bare model (no hooks, no
    top-k): ratio = forward time / index time (1.0 = indexing is free; target >= 0.75).
(b) 32 channels of one layer, 256 steps: one optimisation with a batch slot per channel against
    32 optimisations of one channel each, as Lucent renders them (same code, batch 1):
    ratio = one-at-a-time time / batched time (target >= 8x on the same device).
"""
from __future__ import annotations

from functools import partial

import torch

from cnnviz.bench import Options, Result, entry, median_time, paired_medians
from cnnviz.core.model import load_model
from cnnviz.methods.maximal import ArrayImageSet, build_index, bundled_images, images_to_batch, sample_photo_images
from cnnviz.methods.synthesis import channel, synthesize


def _forward_pass(m, images, batch_size: int) -> None:
    for start in range(0, len(images), batch_size):
        x = images_to_batch(m, images.arrays(start, min(len(images), start + batch_size)))
        with torch.inference_mode():
            m.module(x)


@entry("maximal")
def index_throughput(opts: Options) -> list[Result]:
    out = []
    cases = [("small-vgg-fashion", False), ("resnet18", True)]
    for name, untrained in cases:
        m = load_model(name, device=opts.device, untrained=untrained)
        if m.grayscale:
            images = bundled_images(m.dataset or "fashion-mnist")
            bs = 256
        else:
            images = sample_photo_images(m, crops_per_photo=4 if opts.quick else 16)
            bs = 16 if opts.device.type == "cpu" else 64
        if opts.quick:
            images = ArrayImageSet(images.name, images.images[: 128 if m.grayscale else 4])
        repeat = 1 if opts.quick else 3
        # interleaved rounds (forward, index, forward, index, ...) so a change in machine load hits both alike
        t_fwd, t_idx = paired_medians([partial(_forward_pass, m, images, bs),
                                       partial(build_index, m, images, batch_size=bs, cache=False)],
                                      opts.device, repeat, warmup=1)
        n_layers = len(m.conv_layer_names())
        out.append(Result(f"index {name} ({len(images)} images, {n_layers} conv layers)", t_idx, unit="s",
                          baseline="bare forward pass, same batches", baseline_value=t_fwd, ratio=t_fwd / t_idx,
                          target=">= 0.75",
                          note=f"{len(images) / t_idx:.0f} img/s indexed vs {len(images) / t_fwd:.0f} img/s forward"))
    return out


@entry("maximal")
def synthesis_batched_vs_sequential(opts: Options) -> list[Result]:
    out = []
    cpu = opts.device.type == "cpu"
    cases = [("small-vgg-fashion", False, "features.7", None), ("resnet18", True, "layer2.0.conv1", None)]
    for name, untrained, layer, size in cases:
        m = load_model(name, device=opts.device, untrained=untrained)
        n_ch = 3 if opts.quick else 32
        # the figure is 256 steps at full size; a 2-core CPU gets 32 steps (and 128 px for ResNet),
        # which leaves the per-step ratio unchanged
        steps = 3 if opts.quick else (256 if not cpu else 32)
        if not m.grayscale and (opts.quick or cpu):
            size = (48, 48) if opts.quick else (128, 128)
        objs = [channel(layer, c) for c in range(n_ch)]
        batched = partial(synthesize, m, objs, steps=steps, size=size)

        def sequential(m=m, objs=objs, steps=steps, size=size):
            return [synthesize(m, [o], steps=steps, size=size) for o in objs]

        t_b = median_time(batched, opts.device, repeat=1, warmup=1)
        t_s = median_time(sequential, opts.device, repeat=1, warmup=0)
        hw = size or m.input_size[1:]
        out.append(Result(f"synthesize {name} {layer}: {n_ch} channels x {steps} steps at {hw[0]}x{hw[1]}", t_b,
                          unit="s",
                          baseline="one channel at a time (Lucent's way)", baseline_value=t_s, ratio=t_s / t_b,
                          target=">= 8x (same device)",
                          note=f"{n_ch * steps / t_b:.1f} image-steps/s batched"
                          + ("; CPU: fewer steps" if cpu and not opts.quick else "")))
    return out
