"""Figures of the /adversarial page (Streamlit-free): the clean / perturbation / adversarial strip, predictions
before and after, accuracy against epsilon beside random noise, transfer bars, first-layer filters side by side.

Each function takes a result of :mod:`cnnviz.methods.adversarial` and returns a uint8 image or a Plotly figure::

    >>> import cnnviz
    >>> from cnnviz.methods import adversarial as adv
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> ex = adv.attack_image(m, "assets/samples/digit-7.png", adv.AttackSpec("fgsm", epsilon=0.2))
    >>> perturbation_image(ex).shape    # the difference, amplified: grey is 0
    (28, 28, 3)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from cnnviz.figures.common import FONT
from cnnviz.figures.render import colormap, normalize_maps, overlay, tile_grid, to_uint8
from cnnviz.methods import adversarial as A

ATTACK_COLOUR, NOISE_COLOUR = "#E45756", "#4C78A8"
COLOURS = ["#E45756", "#4C78A8", "#54A24B", "#F58518", "#B279A2"]


def pixels_image(pixels: torch.Tensor) -> np.ndarray:
    """Pixels ``[C, H, W]`` (0..1) as a uint8 grey or RGB image."""
    return to_uint8(pixels.detach())


def perturbation_image(ex: A.AdversarialExample) -> np.ndarray:
    """The perturbation amplified to fill the colour range: red where pixels were brightened, blue where darkened,
    white unchanged (summed over colour channels); returns uint8 RGB ``[H, W, 3]``.

    Examples::

        >>> perturbation_image(ex)[0, 0]   # an unchanged pixel is the colour map's middle (near white)
    """
    d = ex.perturbation.detach().float().sum(0)
    scaled = normalize_maps(d[None], symmetric=True)[0]  # 0.5 is zero
    return to_uint8(colormap(scaled, "rdbu"))  # rdbu runs blue (low) -> white -> red (high)


def amplification(ex: A.AdversarialExample) -> float:
    """The factor the perturbation image multiplies the largest change by (to reach full colour)."""
    d = ex.perturbation.detach().float().sum(0).abs().max()
    return float(1.0 / d.clamp_min(1e-12)) if float(d) > 0 else 1.0


def predictions_figure(ex: A.AdversarialExample, k: int = 5) -> go.Figure:
    """Top-``k`` probabilities before (blue) and after (red) the attack, on one set of classes (the union of both
    top lists), so a class rising or falling is read across."""
    names = list(dict.fromkeys([c for c, _ in ex.top(False, k)] + [c for c, _ in ex.top(True, k)]))
    idx = [ex.classes.index(c) for c in names]
    clean = [float(ex.clean_probs[i]) for i in idx]
    adv = [float(ex.adversarial_probs[i]) for i in idx]
    order = np.argsort([-max(a, b) for a, b in zip(clean, adv, strict=True)])
    names = [names[i] for i in order][::-1]
    clean, adv = [clean[i] for i in order][::-1], [adv[i] for i in order][::-1]
    # built in one pass (redrawn on every step of the ε slider): update_layout validated again, 40 ms a call
    bars = [dict(type="bar", x=vals, y=names, orientation="h", name=label, marker=dict(color=colour),
                 text=[f"{v:.0%}" for v in vals], textposition="outside", cliponaxis=False,
                 hovertemplate="%{y}: %{x:.2%}<extra>" + label + "</extra>")
            for vals, label, colour in ((adv, "adversarial", ATTACK_COLOUR), (clean, "clean", NOISE_COLOUR))]
    return go.Figure(data=bars, layout=dict(
        barmode="group", title=dict(text="Predictions before and after"), font=FONT,
        xaxis=dict(range=[0, 1.2], tickformat=".0%", tickvals=[0, 0.5, 1]),
        yaxis=dict(type="category", automargin=True), legend=dict(orientation="h", y=-0.15),
        margin=dict(l=10, r=10, t=40, b=10), height=120 + 44 * len(names)))


def curve_figure(curves: Sequence[A.RobustnessCurve], names: Sequence[str] | None = None,
                 noise: bool = True) -> go.Figure:
    """Accuracy against epsilon: a solid line for the attack and a dotted one for random noise of the same size,
    per model (the plain and the robust LeNet side by side when given two).

    Args:
        noise: also draw the random-noise lines (False: the attack's lines only, one per model).

    Examples::

        >>> fig = curve_figure([curve])
        >>> [t.name for t in fig.data]
        ['FGSM L∞', 'random noise, same size']
    """
    first = curves[0]
    ytitle = "accuracy" if first.labelled else "answers unchanged"
    unit = "L∞ (max change per pixel, 0..1)" if first.spec.norm == "linf" else "L2 (length of the change, pixels 0..1)"
    lines = []
    for k, c in enumerate(curves):
        who = "" if len(curves) == 1 else f"{(names or [cc.model for cc in curves])[k]}: "
        colour = COLOURS[k % len(COLOURS)] if len(curves) > 1 else ATTACK_COLOUR
        lines.append(dict(type="scatter", x=c.epsilons, y=c.attack_accuracy, mode="lines+markers",
                          name=f"{who}{c.spec.label}", line=dict(color=colour, width=3)))
        if noise:
            lines.append(dict(type="scatter", x=c.epsilons, y=c.noise_accuracy, mode="lines+markers",
                              name=f"{who}random noise, same size",
                              line=dict(color=colour if len(curves) > 1 else NOISE_COLOUR, width=3, dash="dot")))
    return go.Figure(data=lines, layout=dict(  # one pass: it is redrawn on every step of the ε slider
        title=dict(text=f"{ytitle.capitalize()} against ε on {first.n} images"),
        xaxis=dict(title=dict(text=f"ε, {unit}")),
        yaxis=dict(title=dict(text=ytitle), range=[0, 1.03], tickformat=".0%"),
        font=FONT, height=420, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25)))


def transfer_figure(t: A.TransferResult) -> go.Figure:
    """Accuracy of every model on the clean images, on random noise of the attack's size and on the source's
    adversarial images (the source first: its white-box accuracy)."""
    fig = go.Figure()
    labels = [f"{name} (attacked)" if i == 0 else name for i, name in enumerate(t.targets)]
    for vals, label, colour in ((t.clean, "clean", "#54A24B"), (t.noise, "random noise", NOISE_COLOUR),
                                (t.adversarial, f"{t.spec.label} ε={t.spec.epsilon:g} made on the first model",
                                 ATTACK_COLOUR)):
        fig.add_trace(go.Bar(x=labels, y=vals, name=label, marker_color=colour, text=[f"{v:.0%}" for v in vals],
                             textposition="outside", cliponaxis=False))
    fig.update_layout(barmode="group", title=f"Transfer of adversarial images ({t.n} images)", font=FONT,
                      yaxis=dict(range=[0, 1.12], tickformat=".0%", title="accuracy"), height=420,
                      legend=dict(orientation="h", y=-0.2), margin=dict(l=10, r=10, t=50, b=10))
    return fig


def filters_image(weights: torch.Tensor, cols: int | None = None) -> np.ndarray:
    """First-layer filters ``[out, in, k, k]`` as a grid (RGB when ``in`` is 3, else the first input channel),
    each scaled symmetrically around zero on one shared range: grey is 0, light positive, dark negative; about
    square unless ``cols`` is given."""
    w = weights.detach().float()
    tiles = w if w.shape[1] == 3 else w[:, 0]
    tiles = normalize_maps(tiles, mode="shared", symmetric=True)
    grid, _ = tile_grid(tiles, cols=cols, pad=1, pad_value=1.0)  # default: about square
    return to_uint8(grid)


def attribution_overlay(pixels: torch.Tensor, heat: torch.Tensor, alpha: float = 0.5) -> np.ndarray:
    """A 0..1 attribution map (``Attribution.heat()``) in ``jet`` over pixels ``[C, H, W]``; uint8 RGB.

    Examples::

        >>> attribution_overlay(ex.adversarial, at.grad_cam(m, m.normalize(ex.adversarial[None])).heat())
    """
    return overlay(pixels_image(pixels), heat, alpha=alpha)
