"""No cache keeps a model alive: handles that are dropped after real use are garbage-collected, and the
process does not grow with each one."""
import gc
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.core.datasets import load_dataset
from cnnviz.methods.maximal import ArrayImageSet, build_index


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _use_and_drop(images: ArrayImageSet, x: torch.Tensor) -> tuple[weakref.ref, weakref.ref]:
    """Load a handle, use it the ways the app does (predict, capture, maximal index), and drop it."""
    m = cnnviz.load_model("small-vgg-fashion")
    m.predict(x)
    idx = build_index(m, images, k=4, batch_size=100, cache=False)
    assert idx.complete and idx.top_values
    refs = weakref.ref(m), weakref.ref(m.module)
    del m, idx
    return refs


@pytest.mark.slow
def test_twenty_handles_are_freed_and_memory_stays_flat():
    ds = load_dataset("fashion-mnist", "test")
    images = ArrayImageSet("fashion-mnist-100", np.ascontiguousarray(ds.images[:100]))
    x = torch.zeros(1, 1, 28, 28)
    refs = [_use_and_drop(images, x) for _ in range(4)]  # warm-up: allocator pools, lazy imports
    gc.collect()
    before = _rss_mib()
    for _ in range(20):
        refs += [_use_and_drop(images, x)]
    gc.collect()
    after = _rss_mib()
    alive = [i for i, (h, mod) in enumerate(refs) if h() is not None or mod() is not None]
    assert alive == [], f"handles {alive} are still referenced after use"
    # a leaked small VGG with its captures and index would be >= 2 MiB each: 20 of them >= 40 MiB
    assert after - before < 25, f"RSS grew {after - before:.1f} MiB over 20 loaded-and-dropped handles"
