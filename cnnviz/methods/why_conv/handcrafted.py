"""Handcrafted features and a linear SVM (the pipeline CNNs replaced) against a CNN that learns its features.

Before 2012 an image classifier was two stages: fixed features designed by hand (HOG: histograms of gradient
orientations in small cells; or the responses of a bank of Gabor filters, pooled over regions), then a linear
classifier (an SVM) trained on them. A CNN learns both stages from the data. Here both are trained on the
same growing sets of bundled digits and tested on the same held-out ones; so is a linear SVM on the raw pixels,
the baseline the features are there to beat.

Examples::

    >>> import numpy as np
    >>> hog_features(np.zeros((2, 28, 28), np.uint8)).shape
    (2, 324)
    >>> gabor_features(np.zeros((2, 28, 28), np.uint8)).shape
    (2, 128)
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from cnnviz.core.networks import LeNet5
from cnnviz.core.runtime import Progress, StopFlag, report, stopped
from cnnviz.methods.why_conv.data import Digits, WhyConvError, accuracy, build, fit, load_digits

SIZES = (50, 200, 1000, 4000, 8000)
SMALL_SIZES = (50, 100, 200, 500, 1000)
SVM_C = 0.1
FEATURES = ("hog", "gabor")
PIPELINES = ("features", "pixels", "cnn")  # the three lines of the curve
CNN_STEPS = 200  # the CNN's least number of Adam steps (batches of 50) ...
CNN_EPOCHS = 5  # ... and its least number of passes over the training set


def _uint8(images: np.ndarray) -> np.ndarray:
    a = np.asarray(images)
    return a if a.dtype == np.uint8 else np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


def hog_features(images: np.ndarray, cell: int = 7, bins: int = 9) -> np.ndarray:
    """HOG descriptors (Dalal & Triggs 2005) of 28x28 images (uint8, or floats in [0, 1]), written here in NumPy
    (OpenCV 5 no longer ships ``cv2.HOGDescriptor``): centred-difference gradients, each pixel's magnitude voted
    into ``bins`` unsigned orientation bins (0..180°, split between the two nearest bin centres) of its
    ``cell`` x ``cell`` cell, blocks of 2x2 cells sliding by one cell, each block L2-Hys normalised (L2, clipped at
    0.2, L2 again). For 28x28 images: 3·3 blocks · 4 cells · 9 bins = 324 numbers per image."""
    x = _uint8(images).astype(np.float32) / 255.0
    gx, gy = np.zeros_like(x), np.zeros_like(x)
    gx[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    gy[:, 1:-1, :] = x[:, 2:, :] - x[:, :-2, :]
    mag = np.hypot(gx, gy)
    pos = np.rad2deg(np.arctan2(gy, gx)) % 180.0 / (180.0 / bins) - 0.5  # in bin units, centres at integers
    lo = np.floor(pos)
    frac = pos - lo
    n, h, w = x.shape
    ch, cw = h // cell, w // cell
    hist = np.zeros((n, ch, cw, bins), np.float32)
    cells = (np.arange(ch * cell)[:, None] // cell) * cw + np.arange(cw * cell)[None, :] // cell  # [h', w']
    for b, weight in ((lo % bins, 1.0 - frac), ((lo + 1) % bins, frac)):
        v = (mag * weight)[:, :ch * cell, :cw * cell]
        idx = (cells[None] * bins + b[:, :ch * cell, :cw * cell].astype(np.int64)).reshape(n, -1)
        for i in range(n):
            hist[i].reshape(-1)[:] += np.bincount(idx[i], v[i].ravel(), minlength=ch * cw * bins)
    blocks = np.stack([hist[:, r:r + 2, c:c + 2].reshape(n, -1) for r in range(ch - 1) for c in range(cw - 1)], 1)
    blocks = blocks / np.sqrt((blocks ** 2).sum(-1, keepdims=True) + 1e-6)
    blocks = np.minimum(blocks, 0.2)
    blocks = blocks / np.sqrt((blocks ** 2).sum(-1, keepdims=True) + 1e-6)
    return blocks.reshape(n, -1).astype(np.float32)


def gabor_bank(orientations: int = 4, wavelengths: tuple[float, ...] = (4.0, 8.0), size: int = 9) -> list[np.ndarray]:
    """Fixed Gabor kernels (``cv2.getGaborKernel``): every orientation (0..180°) at every wavelength, zero mean."""
    bank = []
    for lam in wavelengths:
        for k in range(orientations):
            g = cv2.getGaborKernel((size, size), sigma=0.5 * lam, theta=math.pi * k / orientations, lambd=lam,
                                   gamma=0.5, psi=0.0, ktype=cv2.CV_32F)
            bank.append(g - g.mean())
    return bank


def gabor_features(images: np.ndarray, pool: int = 7) -> np.ndarray:
    """The magnitude of each Gabor response of :func:`gabor_bank`, averaged over ``pool`` x ``pool`` regions:
    8 filters x 4x4 regions = 128 numbers per 28x28 image."""
    bank = gabor_bank()
    out = []
    for img in _uint8(images).astype(np.float32) / 255.0:
        maps = [np.abs(cv2.filter2D(img, cv2.CV_32F, k)) for k in bank]
        out.append(np.concatenate([_avg_pool(m, pool).ravel() for m in maps]))
    return np.stack(out).astype(np.float32)


def _avg_pool(m: np.ndarray, pool: int) -> np.ndarray:
    h, w = (m.shape[0] // pool) * pool, (m.shape[1] // pool) * pool
    return m[:h, :w].reshape(h // pool, pool, w // pool, pool).mean(axis=(1, 3))


def features(kind: str, images: np.ndarray) -> np.ndarray:
    """The handcrafted features ``kind`` (``"hog"`` or ``"gabor"``) of images in [0, 1] or uint8."""
    if kind == "hog":
        return hog_features(images)
    if kind == "gabor":
        return gabor_features(images)
    raise WhyConvError(f"unknown features {kind!r}; choose one of {FEATURES}")


def svm_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 c: float = SVM_C) -> float:
    """Test accuracy of scikit-learn's ``LinearSVC`` with regularisation ``c`` on the features as they are (HOG
    blocks are normalised already, pixels are in [0, 1]; standardising them made the solver hundreds of times
    slower and was no more accurate)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    if len(np.unique(train_y)) < 2:
        raise WhyConvError("a linear SVM needs at least two classes among the training images; use more images")
    clf = LinearSVC(C=c, max_iter=2000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(train_x, train_y)
    return float((clf.predict(test_x) == test_y).mean())


@dataclass
class HandcraftedCurve:
    """Test accuracy against training-set size for each pipeline.

    Attributes:
        sizes: the training-set sizes measured so far.
        accuracy: ``{"features": [...], "pixels": [...], "cnn": [...]}``, one value per size (in a partial curve
            the CNN's value at the newest size may be NaN: not trained yet).
        features: the handcrafted features used (``"hog"`` or ``"gabor"``).
    """

    features: str
    n_test: int
    sizes: list[int] = field(default_factory=list)
    accuracy: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PIPELINES})

    def snapshot(self, n: int | None = None, **more: float) -> HandcraftedCurve:
        """A copy whose lists do not change when this curve grows; with ``n``, one more size whose accuracies are
        ``more`` (``features=``, ``pixels=``, ``cnn=``), NaN for those not given."""
        out = HandcraftedCurve(self.features, self.n_test, list(self.sizes),
                               {k: list(v) for k, v in self.accuracy.items()})
        if n is not None:
            out.sizes.append(n)
            for k, v in out.accuracy.items():
                v.append(more.get(k, math.nan))
        return out


def cnn_epochs(n: int, steps: int = CNN_STEPS, min_epochs: int = CNN_EPOCHS) -> int:
    """The epochs LeNet-5 trains on ``n`` digits: at least ``steps`` steps (batches of 50) and ``min_epochs``."""
    return max(min_epochs, math.ceil(steps / max(1, math.ceil(n / 50))))


def cnn_accuracy(train: Digits, test: Digits, steps: int = CNN_STEPS, min_epochs: int = CNN_EPOCHS, seed: int = 0,
                 stop: StopFlag = None) -> float:
    """LeNet-5 trained from a seeded initialisation on ``train`` (Adam, batches of 50) for at least ``steps``
    steps and at least ``min_epochs`` epochs, then tested on ``test``."""
    net = build(LeNet5, seed)
    fit(net, train, epochs=cnn_epochs(len(train), steps, min_epochs), lr=2e-3, seed=seed, stop=stop)
    return accuracy(net, test)


def handcrafted_curve(kind: str = "hog", sizes: tuple[int, ...] = SIZES, n_test: int = 2000, seed: int = 0,
                      cnn_steps: int = CNN_STEPS, progress: Progress | None = None, stop: StopFlag = None,
                      on_partial: Callable[[HandcraftedCurve], None] | None = None) -> HandcraftedCurve:
    """Accuracy against training-set size: handcrafted ``kind`` features + linear SVM, raw pixels + linear SVM,
    and LeNet-5 learning its own features (at least ``cnn_steps`` steps and 5 epochs at every size).

    The training sets are nested: each is the first ``n`` of one seeded shuffle of the largest. They are measured
    smallest first; ``on_partial`` is called twice at each with a copy of the curve so far: once the SVMs are
    measured (the CNN's accuracy at that size NaN) and once the CNN is (the last call's value equals the one
    returned).
    """
    if kind not in FEATURES:
        raise WhyConvError(f"unknown features {kind!r}; choose one of {FEATURES}")
    pool = load_digits("train", max(sizes), seed)
    test = load_digits("test", n_test, seed + 1)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(pool)))
    pool_px, test_px = pool.pixels()[order.numpy()], test.pixels()
    test_f = features(kind, test_px)
    pool_f = np.zeros((0, test_f.shape[1]), np.float32)  # the pool's features, as far as the sizes so far need
    ys, test_y = pool.y[order].numpy(), test.y.numpy()
    curve = HandcraftedCurve(kind, n_test)
    sizes = tuple(sorted(sizes))
    cost = [cnn_epochs(n, cnn_steps) * math.ceil(n / 50) for n in sizes]  # the CNN's steps: most of the time
    for i, n in enumerate(sizes):
        if stopped(stop):
            break
        report(progress, sum(cost[:i]) / sum(cost), f"{n} training digits")
        if n > len(pool_f):  # features are per image: the first size does not wait for the largest
            pool_f = np.concatenate([pool_f, features(kind, pool_px[len(pool_f):n])])
        feats = svm_accuracy(pool_f[:n], ys[:n], test_f, test_y)
        pixels = svm_accuracy(pool_px[:n].reshape(n, -1), ys[:n], test_px.reshape(len(test_px), -1), test_y)
        if on_partial is not None:  # the SVMs take a fraction of a second, the CNN seconds: show them first
            on_partial(curve.snapshot(n, features=feats, pixels=pixels))
        cnn = cnn_accuracy(Digits(pool.x[order[:n]], pool.y[order[:n]]), test, cnn_steps, seed=seed, stop=stop)
        if stopped(stop):  # the CNN was cut off: its number would not be comparable
            break
        curve.sizes.append(n)
        for name, v in zip(PIPELINES, (feats, pixels, cnn), strict=True):
            curve.accuracy[name].append(v)
        if on_partial is not None:
            on_partial(curve.snapshot())
    report(progress, 1.0, "done")
    return curve
