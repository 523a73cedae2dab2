"""The network overview of ResNet-50 for one image: one forward pass that records every node, plus the thumbnails."""
from __future__ import annotations

import time

import cnnviz
from cnnviz.bench import Options, Result, entry, paired_medians
from cnnviz.core.paths import SAMPLES_DIR
from cnnviz.figures.network import graph_figure, node_thumbnails
from cnnviz.methods import network as nw


@entry("network")
def resnet50_overview(opts: Options) -> list[Result]:
    """``node_values`` + ``node_thumbnails`` for the page's default view of ResNet-50 (every node recorded in one
    pass, its strongest channels rendered), against one bare forward pass, interleaved in the same run.

    The graph and its layout are computed once per model (timed apart, first call) and cached.
    """
    name = "resnet18" if opts.quick else "resnet50"
    m = cnnviz.load_model(name, untrained=True, device=opts.device)
    x = m.preprocess(cnnviz.load_image(SAMPLES_DIR / "photo-cat.jpg"))
    t0 = time.perf_counter()
    g = nw.network_graph(m)
    detail, fold, opened = nw.default_view(g)
    view = nw.graph_view(m, detail, opened, fold)
    layout_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    assert nw.graph_view(m, detail, opened, fold) is view  # laid out once per model and view
    cached_s = time.perf_counter() - t1
    every = nw.graph_view(m, "layers", fold=True)  # every layer drawn: the largest view

    def overview(v=view):
        node_thumbnails(nw.node_values(m, x, v), k=2)

    def overview_every():
        overview(every)

    def forward():
        m.logits(x)

    repeat, warmup = (2, 1) if opts.quick else (9, 2)
    t_view, t_every, t_fwd = paired_medians([overview, overview_every, forward], opts.device, repeat, warmup)
    fig_s = min(_timed(lambda: graph_figure(view, node_thumbnails(nw.node_values(m, x, view), 2))) for _ in range(3))
    note = (f"{len(view.nodes)} nodes ({detail}, open {opened}); layout {layout_s:.2f} s once, "
            f"{cached_s * 1e6:.0f} µs cached")
    return [Result(f"overview {name}, default view (values + thumbnails)", t_view, baseline=f"one {name} forward pass",
                   baseline_value=t_fwd, ratio=t_view / t_fwd, target="<= 3x one forward pass", note=note),
            Result(f"overview {name}, every layer folded ({len(every.nodes)} nodes)", t_every,
                   baseline=f"one {name} forward pass", baseline_value=t_fwd, ratio=t_every / t_fwd,
                   target="<= 3x one forward pass"),
            Result(f"overview {name} incl. the Plotly figure", fig_s, baseline=f"one {name} forward pass",
                   baseline_value=t_fwd, ratio=fig_s / t_fwd, note="graph_figure with PNG thumbnails, not a target"),
            Result(f"network_graph + layout {name} (first call)", layout_s, unit="s", target="once per model")]


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
