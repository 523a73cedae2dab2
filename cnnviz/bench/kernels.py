"""Filter rendering cost: every first-layer filter as an RGB grid and a deep layer's whole
concatenated weight map, against one forward pass of the same network (target: < 5 passes)."""
from __future__ import annotations

import torch

from cnnviz.bench import Options, Result, entry, median_time
from cnnviz.core.model import load_model
from cnnviz.figures.kernels import filter_grid_rgb, weight_map
from cnnviz.figures.render import to_uint8
from cnnviz.methods.kernels import best_matches, first_conv_layer, learned_filters


def _conv_3x3(m, last: bool = True) -> str:
    """The last (or first) conv layer with a 3x3 kernel; the last is the largest weight map a page would draw."""
    mods = dict(m.module.named_modules())
    names = [n for n in m.conv_layer_names() if tuple(mods[n].kernel_size) == (3, 3)]
    return names[-1] if last else names[0]


@entry("kernels")
def render_filters(opts: Options) -> list[Result]:
    # quick (smoke test): ResNet-18, its first 3x3 layer (64x64), one timed run
    name = "resnet18" if opts.quick else "resnet50"
    repeat, warmup = (1, 0) if opts.quick else (7, 2)
    m = load_model(name, device=opts.device, untrained=True)
    first, deep = first_conv_layer(m), _conv_3x3(m, last=not opts.quick)
    w1, wd = learned_filters(m, first), learned_filters(m, deep)
    x = torch.randn(1, *m.input_size, device=opts.device)
    forward = median_time(lambda: m.logits(x), opts.device, repeat=repeat, warmup=warmup + 1)

    def grid():
        img, _ = filter_grid_rgb(w1, "per")
        return to_uint8(img)

    def deep_map():
        return weight_map(wd, scale="per_filter").to_image("gray")

    t_grid = median_time(grid, opts.device, repeat=repeat, warmup=warmup)
    t_map = median_time(deep_map, opts.device, repeat=repeat, warmup=warmup)
    t_both = median_time(lambda: (grid(), deep_map()), opts.device, repeat=repeat, warmup=warmup)
    t_bridge = median_time(lambda: best_matches(w1), opts.device, repeat=repeat, warmup=warmup)
    px = deep_map().shape
    base = f"one forward pass of {name} (1x{'x'.join(map(str, m.input_size))})"
    return [
        Result(f"{name} forward pass", forward, note="the baseline"),
        Result(f"{name} first-layer RGB grid ({tuple(w1.shape)})", t_grid, baseline=base, baseline_value=forward,
               ratio=t_grid / forward),
        Result(f"{name} {deep} concatenated map ({tuple(wd.shape)} -> {px[1]}x{px[0]} px)", t_map, baseline=base,
               baseline_value=forward, ratio=t_map / forward),
        Result(f"{name} grid + deep map (the bench target)", t_both, baseline=base, baseline_value=forward,
               ratio=t_both / forward, target="< 5"),
        Result(f"{name} best classic match of {len(w1)} first-layer filters", t_bridge, baseline=base,
               baseline_value=forward, ratio=t_bridge / forward),
    ]
