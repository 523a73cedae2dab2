"""Augmentation: 64 augmented samples plus their predictions vs one forward pass of 64 images."""
from __future__ import annotations

from functools import partial

import torch

from cnnviz.bench import Options, Result, entry, median_time
from cnnviz.core.images import load_image
from cnnviz.core.model import load_model
from cnnviz.core.paths import SAMPLES_DIR as SAMPLES
from cnnviz.methods import augmentation as A

# a typical training pipeline: geometric, colour, kernel, erasing and noise steps
PIPELINE = (A.step("hflip"), A.step("rotate", degrees=20), A.step("rcrop", scale=(0.6, 1.0)), A.step("bright"),
            A.step("blur"), A.step("erase"), A.step("noise", sigma=0.05))


@entry("augment")
def augmented_batch(opts: Options) -> list[Result]:
    out = []
    for name, sample in (("small-vgg-fashion", "fashion-sneaker.png"), ("resnet18", "photo-cat.jpg")):
        m = load_model(name, device=opts.device, untrained=(name == "resnet18"))
        n = 4 if opts.quick else 64
        img = load_image(SAMPLES / sample)
        x = torch.randn(n, *m.input_size, device=opts.device)
        repeat, warmup = (1, 0) if opts.quick else (7, 1)
        seeds = iter(range(10_000))

        def sample(m=m, img=img, n=n, seeds=seeds):
            return A.sample_batch(m, img, PIPELINE, n=n, seed=next(seeds))

        ours = median_time(sample, opts.device, repeat=repeat, warmup=warmup)
        base = median_time(partial(m.logits, x), opts.device, repeat=repeat, warmup=warmup)
        out.append(Result(f"{n} augmented samples + predictions, {name}{' [untrained]' if name == 'resnet18' else ''}",
                          ours, baseline=f"one forward pass of {n}", baseline_value=base, ratio=ours / base,
                          target="ratio as low as the per-sample transforms allow",
                          note=f"{len(PIPELINE)} transforms per sample, one batched forward pass; "
                               f"{n / ours:.3g} samples/s; the clean image rides along in the same pass"))
    return out
