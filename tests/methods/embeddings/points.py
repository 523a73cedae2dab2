"""Point sets whose right embedding is known: well-separated blobs and line segments."""
import numpy as np


def clusters(k=4, per=60, d=20, sep=30.0, seed=0):
    """k Gaussian blobs (sd 1) whose centres are ``sep`` apart along separate axes."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 1, (per, d)) + sep * np.eye(d)[c] for c in range(k)]).astype(np.float32)
    return x, np.repeat(np.arange(k), per)


def curves(k=3, per=50, d=20, sep=30.0, seed=0):
    """k well-separated line segments (length 10) with a little noise: clusters whose points have
    meaningful neighbours along the segment, unlike the structureless blobs above."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 10, per)[:, None]
    x = np.concatenate([sep * np.eye(d)[c] + t * np.eye(d)[(c + k) % d] + rng.normal(0, 0.05, (per, d))
                        for c in range(k)]).astype(np.float32)
    return x, np.repeat(np.arange(k), per)
