"""Forward-pass latency of the bundled models and ResNet-18 at batch 1 and 64."""
from __future__ import annotations

import torch

from cnnviz.bench import Options, Result, entry, median_time
from cnnviz.core.model import load_model


@entry("core")
def forward_latency(opts: Options) -> list[Result]:
    out = []
    for name in ("lenet5-mnist", "small-vgg-fashion", "resnet18"):
        m = load_model(name, device=opts.device, untrained=(name == "resnet18"))
        for batch in (1, 64):
            x = torch.randn(batch, *m.input_size, device=opts.device)
            t = median_time(lambda: m.logits(x), opts.device, repeat=3 if opts.quick else 11)
            out.append(Result(f"forward {name} batch {batch}", t, note=f"{batch / t:.0f} img/s"))
    return out
