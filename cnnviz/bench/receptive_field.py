"""Receptive fields of a whole residual network: tracing + shape propagation + the graph walk."""
from __future__ import annotations

import torch
import torchvision

from cnnviz.bench import Options, Result, entry, median_time
from cnnviz.methods.receptive_field import receptive_fields


@entry("receptive_field")
def resnet50_fields(opts: Options) -> list[Result]:
    """``receptive_fields`` on ResNet-50 at 224 (no weights needed: the module lives on the meta device).

    Baseline: one forward pass of the same network on a real 224x224 image on the bench device, which is what a
    hook-based tool needs at least to learn the shapes.
    """
    name = "resnet18" if opts.quick else "resnet50"
    with torch.device("meta"):
        meta = getattr(torchvision.models, name)().eval()
    t = median_time(lambda: receptive_fields(meta, (3, 224, 224)), torch.device("cpu"), repeat=1 if opts.quick else 5,
                    warmup=1)
    real = getattr(torchvision.models, name)().eval().to(opts.device)
    x = torch.zeros(1, 3, 224, 224, device=opts.device)

    def forward():
        with torch.inference_mode():
            real(x)

    base = median_time(forward, opts.device, repeat=1 if opts.quick else 5, warmup=1)
    n = len(receptive_fields(meta, (3, 224, 224)))
    return [Result(f"receptive_fields {name} 224 ({n} layers)", t, baseline=f"one {name} forward pass, batch 1",
                   baseline_value=base, ratio=t / base, target="< 2 s; computed once per model and cached",
                   note="torch.fx trace + fake-tensor shapes")]
