"""Random layer settings for the sweeps against PyTorch, and the module PyTorch builds from them."""
import random

import torch

from cnnviz.methods.arithmetic import LayerSpec


def random_spec(rng: random.Random, mode: str) -> LayerSpec:
    """Settings drawn around the edges of validity: strides of 0, kernels larger than the input, odd groups."""
    groups = rng.choice([1, 1, 1, 2, 3])
    cin = rng.choice([1, 2, 3, 4, 6])
    cout = rng.choice([1, 2, 3, 4, 6])
    pad = rng.choice([0, 0, 1, 2, 3, "same", "valid"]) if mode == "conv" else rng.choice([0, 0, 1, 2, 3])
    return LayerSpec(mode, rng.randint(1, 12), rng.randint(1, 12), cin, cout, kernel=rng.randint(1, 6),
                     stride=rng.choice([0, 1, 1, 2, 3, 4]) if mode == "conv" else rng.randint(1, 4),
                     padding=pad, dilation=rng.choice([1, 1, 2, 3]) if mode != "avgpool" else 1, groups=groups,
                     output_padding=rng.choice([0, 0, 1, 2]) if mode == "transposed" else 0,
                     ceil_mode=rng.random() < 0.4 if mode in ("maxpool", "avgpool") else False)


def torch_outcome(spec: LayerSpec):
    """PyTorch's output shape for the spec, or None when PyTorch refuses it (or returns an empty map)."""
    x = torch.zeros(1, spec.in_channels, spec.height, spec.width)
    try:
        with torch.no_grad():
            y = spec.torch_module()(x)
    except (RuntimeError, ValueError):
        return None
    return tuple(y.shape[1:]) if y.numel() else None
