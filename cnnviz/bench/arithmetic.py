"""Layer table of ResNet-50 (one forward pass, counted) and the arithmetic page's sliding-window figure."""
from __future__ import annotations

import time

import torch

from cnnviz.bench import Options, Result, entry, median_time
from cnnviz.core.model import load_model
from cnnviz.methods.architecture import layer_table, receptive_fields_or_none, totals
from cnnviz.methods.arithmetic import LayerSpec


def _count_forward_calls(module: torch.nn.Module, fn) -> tuple[object, int]:
    """Run ``fn()`` and count the forward passes: calls of ``module``'s first leaf layer (a measuring hook,
    released afterwards; the capture engine runs a traced copy, so the top module itself is never called)."""
    calls = []
    first = next(mod for mod in module.modules() if not any(True for _ in mod.children()))
    handle = first.register_forward_hook(lambda *_: calls.append(1))
    try:
        out = fn()
    finally:
        handle.remove()
    return out, len(calls)


@entry("arithmetic")
def resnet50_layer_table(opts: Options) -> list[Result]:
    name = "lenet5-mnist" if opts.quick else "resnet50"
    m = load_model(name, device=opts.device, untrained=True)
    x = torch.zeros(1, *m.input_size, device=opts.device)

    def fresh_table():
        m._layers = None  # drop the handle's cache: time the real build
        return layer_table(m)

    rows, calls = _count_forward_calls(m.module, fresh_table)
    if calls != 1:
        raise AssertionError(f"building the layer table ran {calls} forward passes; it must run exactly one")
    repeat = 2 if opts.quick else 7
    t_table = median_time(fresh_table, opts.device, repeat=repeat, warmup=1)
    t_fwd = median_time(lambda: m.logits(x), opts.device, repeat=repeat, warmup=1)
    tot = totals(rows, m)
    out = [Result(f"layer table {name} ({len(rows)} layer calls, {tot.macs / 1e9:.2f} GMACs)", t_table,
                  baseline=f"one plain forward pass of {name}", baseline_value=t_fwd, ratio=t_table / t_fwd,
                  target="ratio < 2 (the table costs about one forward pass)",
                  note=f"forward passes counted: {calls}")]
    first_conv = next(mod for mod in m.module.modules() if isinstance(mod, torch.nn.Conv2d))
    t0 = time.perf_counter()
    (fields, why), rf_calls = _count_forward_calls(first_conv, lambda: receptive_fields_or_none(m))
    t_rf = time.perf_counter() - t0
    out.append(Result(f"receptive fields {name} (cnnviz.methods.receptive_field, first call)", t_rf,
                      baseline="layer table", baseline_value=t_table, ratio=t_rf / t_table,
                      note=(why or f"{len(fields)} entries")
                      + f"; its own traced shape pass ran the first conv {rf_calls}x"))
    return out


@entry("arithmetic")
def sliding_window_figure_build(opts: Options) -> list[Result]:
    from cnnviz.figures.arithmetic import sliding_window_figure

    n = 8 if opts.quick else 32
    x = (torch.arange(n * n, dtype=torch.float64).view(n, n) % 10)
    w = torch.ones(5, 5, dtype=torch.float64)
    spec = LayerSpec("conv", n, n, 1, 1, kernel=5)
    t = median_time(lambda: sliding_window_figure(x, w, 1.0, spec).to_dict(), torch.device("cpu"),
                    repeat=2 if opts.quick else 5, warmup=1)
    frames = spec.output_shape()[1] * spec.output_shape()[2]
    return [Result(f"sliding-window figure {n}x{n}, 5x5 kernel ({frames} frames)", t,
                   target="< 1.5 s (page rerun budget)",
                   note="frames kept as plain dicts; validated go.Frame objects took about 9 s for 784 frames")]
