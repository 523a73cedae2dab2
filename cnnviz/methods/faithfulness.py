"""Faithfulness: does removing what a map points at really lower the score? (no Streamlit here)

* :func:`perturbation_curve` -- deletion and insertion (Petsiuk et al., RISE, 2018): pixels are replaced
  by a baseline (a blurred copy or the data set's mean colour), most important first, and the class
  probability is read after each step. Deletion should fall fast (low area under the curve), insertion
  should rise fast (high area). All steps of a curve run as batches on the device.
* :func:`confidence_change` -- Average Drop and Increase in Confidence (Chattopadhay et al., 2018): the
  image kept only where the map is high (``baseline + heat * (x - baseline)``).
* :func:`leaderboard` -- every method of :data:`cnnviz.methods.attribution.METHODS` scored on one image,
  ranked by ``insertion AUC - deletion AUC``, next to random maps; a method whose score does not beat the
  random maps' is flagged.
* :func:`dataset_leaderboard` -- the same, averaged over N bundled test images, with a progress callback,
  a stop flag and a cache.

A module beside the :mod:`cnnviz.methods.attribution` package, not in it: it scores any map (a hand-made one
as well as a method's), and its leaderboards run the package's registry, so it depends on the package and
the package never on it.

Examples::

    >>> import cnnviz
    >>> from cnnviz.methods.faithfulness import leaderboard
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> lb = leaderboard(m, cnnviz.load_image("assets/samples/digit-7.png"), ["gradcam", "saliency"])
    >>> [r.method for r in lb.rows][-1]
    'random'
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from cnnviz.core.runtime import Progress, ResultCache, StopFlag, report, stopped
from cnnviz.methods.adversarial import dataset_for, test_batch
from cnnviz.methods.attribution import (
    METHODS,
    AttributionError,
    attribute,
    batched_logits,
    default_params,
    model_input,
    resolve_target,
)

if TYPE_CHECKING:
    from cnnviz.core.model import ModelHandle

BASELINES = ("blur", "mean")
SCORES = ("prob", "logit")
RANDOM = "random"


@dataclass
class Curve:
    """A deletion or insertion curve: the score after removing/adding ``fractions`` of the pixels."""

    mode: str
    fractions: list[float]
    scores: list[float]
    auc: float


@dataclass
class Row:
    """One method's faithfulness on one image (or the mean over a data set).

    Attributes:
        deletion_auc: area under the deletion curve (lower is better).
        insertion_auc: area under the insertion curve (higher is better).
        avg_drop: Average Drop in %, ``max(0, p - p_kept) / p`` (lower is better).
        increase: Increase in Confidence in % of images (``p_kept > p``; higher is better).
        score: ``insertion_auc - deletion_auc``, the ranking key.
        beats_random: whether ``score`` is above the random maps' score (None for the random row).
    """

    method: str
    label: str
    deletion_auc: float
    insertion_auc: float
    avg_drop: float
    increase: float
    score: float = 0.0
    beats_random: bool | None = None


@dataclass
class Leaderboard:
    """Rows best first, the random-map row last; ``curves``: method -> (deletion, insertion) (one image)."""

    rows: list[Row]
    target: int | None
    baseline: str
    curves: dict[str, tuple[Curve, Curve]] = field(default_factory=dict)
    images: int = 1
    stopped: bool = False


# ============================================================== the measurements
def baseline_image(x: torch.Tensor, kind: str = "blur") -> torch.Tensor:
    """What removed pixels become: ``"mean"`` (0 in normalised space: the data set's mean colour) or
    ``"blur"`` (a Gaussian blur with sigma = side / 14, which keeps colours but no detail).

    Examples::

        >>> baseline_image(torch.ones(1, 1, 4, 4), "mean").sum()
        tensor(0.)
    """
    if kind == "mean":
        return torch.zeros_like(x)
    if kind == "blur":
        from torchvision.transforms.functional import gaussian_blur

        side = min(x.shape[-2:])
        sigma = max(0.5, side / 14)
        k = min(2 * int(2 * sigma) + 1, 2 * ((side - 1) // 2) + 1)
        return gaussian_blur(x, [k, k], [sigma, sigma])
    raise AttributionError(f"baseline {kind!r}: expected one of {list(BASELINES)}")


def _check_score(score: str) -> None:
    if score not in SCORES:
        raise AttributionError(f"score {score!r}: expected one of {list(SCORES)}")


def _scores(m: ModelHandle, xs: torch.Tensor, target: int, score: str) -> torch.Tensor:
    z = batched_logits(m, xs, 64)
    return z.softmax(1)[:, target] if score == "prob" else z[:, target]


def _order(attr: torch.Tensor, size: Sequence[int], seed: int = 0) -> torch.Tensor:
    """Pixel indices, most important first; the map is resized to ``size`` if needed.

    Ties (the zeros of a CAM after its ReLU) come in a random order (seeded), not in raster order,
    which would favour or punish a map by where its zeros are.
    """
    a = attr.float()
    if tuple(a.shape) != tuple(size):
        a = F.interpolate(a[None, None], size=tuple(size), mode="bilinear", align_corners=False)[0, 0]
    flat = a.flatten()
    perm = torch.randperm(len(flat), generator=torch.Generator().manual_seed(seed)).to(flat.device)
    return perm[torch.sort(flat[perm], descending=True, stable=True).indices]


def _curve_inputs(x: torch.Tensor, attr: torch.Tensor, mode: str, base: torch.Tensor,
                  steps: int) -> tuple[torch.Tensor, list[float]]:
    """The ``steps + 1`` perturbed copies of ``x`` along a deletion or insertion curve, and their fractions."""
    if mode not in ("deletion", "insertion"):
        raise AttributionError(f"mode {mode!r}: expected 'deletion' or 'insertion'")
    h, w = x.shape[-2:]
    order = _order(attr.to(x.device), (h, w))
    ks = [round(i * h * w / steps) for i in range(steps + 1)]
    rank = torch.empty(h * w, dtype=torch.long, device=x.device)
    rank[order] = torch.arange(h * w, device=x.device)
    k = torch.tensor(ks, device=x.device)
    mask = (rank[None] < k[:, None]).to(x.dtype).view(-1, 1, h, w)  # steps+1, 1, H, W: 1 where changed
    src, dst = (x, base) if mode == "deletion" else (base, x)
    return src * (1 - mask) + dst * mask, [kk / (h * w) for kk in ks]


def _curve(mode: str, fractions: list[float], s: torch.Tensor) -> Curve:
    auc = float(torch.trapezoid(s.double(), torch.tensor(fractions, dtype=torch.float64)))
    return Curve(mode, fractions, s.tolist(), auc)


def _kept_input(x: torch.Tensor, attr: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """``base + heat * (x - base)``: the image kept where the map's positive part (scaled to 0..1) is high."""
    heat = attr.float().clamp_min(0).to(x.device)
    if tuple(heat.shape) != tuple(x.shape[-2:]):
        heat = F.interpolate(heat[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    heat = heat / heat.max().clamp_min(1e-12)
    return base + heat * (x - base)


def _base(x: torch.Tensor, baseline: str | torch.Tensor) -> torch.Tensor:
    return baseline_image(x, baseline) if isinstance(baseline, str) else baseline


def perturbation_curve(m: ModelHandle, x: torch.Tensor, attr: torch.Tensor, target: int, mode: str = "deletion",
                       baseline: str | torch.Tensor = "blur", steps: int = 16, score: str = "prob") -> Curve:
    """Deletion or insertion curve of one map ``attr`` [H, W] for one input ``x`` [1, C, H, W].

    Step i of ``steps`` replaces the ``round(i * H * W / steps)`` most important pixels (all channels):
    deletion puts the baseline there, insertion starts from the baseline and puts the image there.
    Ties (a CAM's zeros) come in a seeded random order. The AUC is the trapezoid rule over the
    fraction of pixels (0..1).

    Args:
        baseline: ``"blur"``, ``"mean"`` or a tensor like ``x``.
        score: ``"prob"`` (softmax probability of ``target``, as in RISE) or ``"logit"``.

    Examples::

        >>> perturbation_curve(m, x, a.map, a.target, "deletion", steps=4).fractions
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    _check_score(score)
    xs, fr = _curve_inputs(x, attr, mode, _base(x, baseline), steps)
    return _curve(mode, fr, _scores(m, xs, target, score).float().cpu())


def confidence_change(m: ModelHandle, x: torch.Tensor, attr: torch.Tensor, target: int,
                      baseline: str | torch.Tensor = "mean") -> tuple[float, bool]:
    """Drop in confidence (%) and whether confidence increased, when only the map's evidence is kept.

    The kept image is ``baseline + heat * (x - baseline)``, ``heat`` the positive part of the map
    scaled to 0..1; with the mean baseline that is ``heat * x`` in normalised space (as in
    Chattopadhay et al. and pytorch-grad-cam's ``CamMultImageConfidenceChange``).

    Examples::

        >>> drop, up = confidence_change(m, x, a.map, a.target)
    """
    p, q = _scores(m, torch.cat([x, _kept_input(x, attr, _base(x, baseline))]), target, "prob").tolist()
    return _drop(p, q)


def _drop(p: float, q: float) -> tuple[float, bool]:
    return 100 * max(0.0, p - q) / max(p, 1e-12), q > p


def random_maps(shape: Sequence[int], draws: int = 3, seed: int = 0, device=None) -> list[torch.Tensor]:
    """``draws`` maps of uniform noise (reproducible): the baseline every method should beat."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(tuple(shape), generator=gen).to(device) for _ in range(draws)]


def _measure(m: ModelHandle, jobs: list[tuple[torch.Tensor, list[torch.Tensor], int, torch.Tensor]], steps: int,
             score: str) -> list[list[tuple[Curve, Curve, float, bool]]]:
    """Deletion, insertion and confidence change of several maps of several images ``(x, maps, target,
    baseline)``; every perturbed copy of every job goes through the model in batches of 256."""
    parts, rows, fr = [], [], []
    for x, attrs, t, base in jobs:
        parts.append(x)
        rows.append(t)
        for attr in attrs:
            d, fr = _curve_inputs(x, attr, "deletion", base, steps)
            i, _ = _curve_inputs(x, attr, "insertion", base, steps)
            parts += [d, i, _kept_input(x, attr, base)]
            rows += [t] * (len(d) + len(i) + 1)
    z = batched_logits(m, torch.cat(parts), 256).float()
    pick = torch.tensor(rows, device=z.device)[:, None]
    prob = z.softmax(1).gather(1, pick)[:, 0].cpu()
    val = prob if score == "prob" else z.gather(1, pick)[:, 0].cpu()
    out, n, j = [], steps + 1, 0
    for _, attrs, _, _ in jobs:
        p0, j, res = float(prob[j]), j + 1, []
        for _ in attrs:
            dele, ins = _curve("deletion", fr, val[j:j + n]), _curve("insertion", fr, val[j + n:j + 2 * n])
            res.append((dele, ins, *_drop(p0, float(prob[j + 2 * n]))))
            j += 2 * n + 1
        out.append(res)
    return out


def _rank(rows: list[Row], rand: Row) -> list[Row]:
    for r in rows:
        r.score = r.insertion_auc - r.deletion_auc
        r.beats_random = r.score > rand.insertion_auc - rand.deletion_auc
    rand.score = rand.insertion_auc - rand.deletion_auc
    return [*sorted(rows, key=lambda r: -r.score), rand]


def _label(key: str) -> str:
    return METHODS[key].label if key in METHODS else key


# ============================================================== one image
def leaderboard(m: ModelHandle, img, methods: Sequence[str] | None = None, target: int | str | None = None,
                baseline: str = "blur", steps: int = 16, score: str = "prob", draws: int = 3, seed: int = 0,
                maps: dict[str, torch.Tensor] | None = None, progress: Progress | None = None) -> Leaderboard:
    """Every method's deletion/insertion AUC, Average Drop and Increase in Confidence on one image, ranked.

    Args:
        methods: keys of :data:`METHODS` (default all); each runs with :func:`default_params`.
        target: the class explained (default the predicted one).
        baseline: ``"blur"`` or ``"mean"`` (what removed pixels become).
        steps: points per curve after the first (each a forward pass, batched).
        draws: random maps averaged into the random row.
        maps: precomputed maps ``{method: [H, W]}`` (the page passes the ones it has drawn) instead of running them.
        progress: ``progress(fraction, text)`` after each method's map (:func:`cnnviz.core.runtime.report`).

    Examples::

        >>> lb = leaderboard(m, img, ["gradcam"], baseline="mean")
        >>> lb.rows[0].method, lb.rows[0].beats_random
        ('gradcam', True)
    """
    _check_score(score)
    x = model_input(m, img)
    t = resolve_target(m, x, target)
    keys = list(maps) if maps is not None else list(methods or METHODS)
    base = baseline_image(x, baseline)
    attrs = []
    for i, key in enumerate(keys):
        attrs.append(maps[key] if maps is not None else attribute(m, x, key, t, **default_params(m, key)).map)
        report(progress, (i + 1) / (len(keys) + 1), f"{_label(key)}: map ready")
    res = _measure(m, [(x, [*attrs, *random_maps(x.shape[-2:], draws, seed, x.device)], t, base)], steps,
                   score)[0]
    rows, curves = [], {}
    for key, (dele, ins, drop, up) in zip(keys, res[:len(keys)], strict=True):
        rows.append(Row(key, _label(key), dele.auc, ins.auc, drop, 100.0 * up))
        curves[key] = (dele, ins)
    rnd = res[len(keys):]
    rand = Row(RANDOM, "Random map", sum(r[0].auc for r in rnd) / draws, sum(r[1].auc for r in rnd) / draws,
               sum(r[2] for r in rnd) / draws, 100.0 * sum(r[3] for r in rnd) / draws)
    curves[RANDOM] = rnd[0][:2]
    report(progress, 1.0, "scored")
    return Leaderboard(_rank(rows, rand), t, baseline, curves)


# ============================================================== a data set
_DATASET_TABLES = ResultCache(maxsize=32)  # finished tables per (model, settings); a stopped run is not kept


def dataset_leaderboard(m: ModelHandle, n: int = 100, methods: Sequence[str] | None = None, baseline: str = "blur",
                        steps: int = 16, score: str = "prob", draws: int = 1, images: torch.Tensor | None = None,
                        progress: Progress | None = None, stop: StopFlag = None, group: int = 8) -> Leaderboard:
    """:func:`leaderboard` over ``n`` images (the first ``n`` bundled test images, or ``images``), averaged.

    Each image explains its predicted class. Finished tables are cached per (model, settings); a stopped
    run returns the images done so far (``stopped=True``) and is not cached.

    Args:
        images: model inputs ``[N, C, H, W]`` (normalised) instead of the bundled test set.
        progress: ``progress(fraction, text)`` after each group of images (:func:`cnnviz.core.runtime.report`).
        stop: a ``threading.Event`` or a callable (:data:`cnnviz.core.runtime.StopFlag`); checked before each
            group of images.
        group: images whose perturbed copies share the model's batches.

    Examples::

        >>> lb = dataset_leaderboard(m, 20, ["gradcam", "saliency"], baseline="mean")
        >>> lb.images, lb.rows[-1].method
        (20, 'random')
    """
    _check_score(score)
    keys = list(methods or METHODS)
    if images is None:
        ck = (m.key, n, tuple(keys), baseline, steps, score, draws)
        cached = _DATASET_TABLES.get(ck)
        if cached is not None:
            return cached
        xs = m.normalize(test_batch(m, n).pixels)
    else:
        xs, ck = images[:n].to(m.device), None
    sums: dict[str, list[float]] = {}
    done = 0
    for g in range(0, len(xs), group):
        if stopped(stop):
            break
        jobs = []
        for i in range(g, min(len(xs), g + group)):
            x = xs[i:i + 1]
            t = resolve_target(m, x, None)
            attrs = [attribute(m, x, k, t, **default_params(m, k)).map for k in keys]
            jobs.append((x, [*attrs, *random_maps(x.shape[-2:], draws, i, x.device)], t, baseline_image(x, baseline)))
        for res in _measure(m, jobs, steps, score):
            vals = [(r[0].auc, r[1].auc, r[2], 100.0 * r[3]) for r in res]
            rnd = [sum(v[j] for v in vals[len(keys):]) / draws for j in range(4)]
            for key, v in [*zip(keys, vals[:len(keys)], strict=True), (RANDOM, rnd)]:
                acc = sums.setdefault(key, [0.0, 0.0, 0.0, 0.0])
                for j in range(4):
                    acc[j] += v[j]
        done += len(jobs)
        report(progress, done / len(xs), f"{done} of {len(xs)} images")
    if done == 0:
        return Leaderboard([], None, baseline, images=0, stopped=True)
    rows = [Row(k, _label(k), *(v / done for v in sums[k])) for k in keys]
    rand = Row(RANDOM, "Random map", *(v / done for v in sums[RANDOM]))
    out = Leaderboard(_rank(rows, rand), None, baseline, images=done, stopped=done < len(xs))
    if ck is not None and not out.stopped:
        return _DATASET_TABLES.get_or_compute(ck, lambda: out)  # a table another session finished first wins
    return out


def dataset_name(m: ModelHandle) -> str | None:
    """The bundled data set :func:`dataset_leaderboard` scores ``m`` on (None: the model has none; pass ``images``).

    Examples::

        >>> dataset_name(load_model("lenet5-mnist"))
        'mnist'
    """
    return dataset_for(m)
