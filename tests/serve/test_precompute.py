"""`cnnviz precompute`: 2 gloo workers give the 1-process index bit for bit; the app's build_index reads it."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from cnnviz.core.datasets import load_dataset
from cnnviz.core.model import load_model
from cnnviz.core.paths import cache_dir
from cnnviz.methods import maximal as mx
from cnnviz.precompute import Job, load_features, merge_topk, precompute

N_IMAGES, BATCH = 320, 64  # 5 shards of one batch


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """A few hundred bundled test digits as PNG files in ImageFolder layout (one sub-folder per class)."""
    root = tmp_path_factory.mktemp("digits")
    ds = load_dataset("mnist", "test")
    for i in range(N_IMAGES):
        d = root / str(int(ds.labels[i]))
        d.mkdir(exist_ok=True)
        Image.fromarray(ds.images[i]).save(d / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def model():
    return load_model("lenet5-mnist")


def job(data: Path, out: Path, topic: str = "index") -> Job:
    return Job(topic, "lenet5-mnist", str(data), str(out), batch_size=BATCH, shard_batches=1)


@pytest.fixture(scope="module")
def one_worker(digits, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cache1")
    return precompute(job(digits, out), workers=1)


def test_merge_is_a_total_order():
    v = torch.tensor([[1.0, 3.0, 3.0, 2.0]])
    w = torch.tensor([[7, 9, 4, 0]])
    assert merge_topk(v, w, 3, True)[1].tolist() == [[4, 9, 0]]  # equal values: lower image first
    assert merge_topk(v, w, 2, False)[1].tolist() == [[7, 0]]
    perm = torch.tensor([2, 0, 3, 1])  # any order of the candidates gives the same answer
    assert torch.equal(merge_topk(v[:, perm], w[:, perm], 3, True)[1], merge_topk(v, w, 3, True)[1])


def test_two_gloo_workers_equal_one_process(digits, one_worker, tmp_path):
    two = precompute(job(digits, tmp_path), workers=2)
    assert two is not None and two.name == one_worker.name  # same cache key
    a, b = load_file(str(one_worker)), load_file(str(two))
    assert sorted(a) == sorted(b) and len(a) == 4 * 2  # 2 conv layers x top/bottom values/where
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_the_app_reads_it_without_rebuilding(digits, one_worker, model, monkeypatch):
    out_root = one_worker.parents[1]
    monkeypatch.setenv("CNNVIZ_CACHE", str(out_root))
    assert cache_dir("maximal") == one_worker.parent  # --out is what replicas set as CNNVIZ_CACHE
    images = mx.FolderImageSet(digits, model, limit=2000)  # the Maximal page's folder set and default limit
    layers = mx.index_layers(model)[0]
    calls = []
    got = mx.build_index(model, images, layers, cache_dir=one_worker.parent,
                         progress=lambda f, text: calls.append((f, text)))
    assert got.from_cache and calls == [(1.0, f"{N_IMAGES:,} / {N_IMAGES:,} images (from the cache)")]  # not one batch
    fresh = mx.build_index(model, images, layers, batch_size=BATCH, cache=False)
    for n in layers:
        assert torch.equal(got.top_values[n], fresh.top_values[n])
        assert torch.equal(got.bottom_values[n], fresh.bottom_values[n])
    # where the two disagree on the image, it is a tie (equal values, checked above); each hit is real:
    layer = layers[-1]
    for ch in range(3):
        for hit in got.top(layer, ch, k=4) + got.bottom(layer, ch, k=4):
            amap = mx.channel_map(model, images.image(hit.image), layer, ch)
            assert amap[hit.y, hit.x] == pytest.approx(hit.value, abs=1e-5)
            assert hit.value in (amap.max(), amap.min()) or np.isclose(hit.value, [amap.max(), amap.min()]).any()


def test_resumes_after_an_interruption(digits, one_worker, tmp_path):
    said, fractions = [], []

    def progress(fraction, text):
        fractions.append(fraction)
        said.append(text)

    stop_after_two = lambda: sum("done" in s for s in said) >= 2  # noqa: E731
    assert precompute(job(digits, tmp_path), progress=progress, stop=stop_after_two) is None
    parts = list((tmp_path / "maximal").glob("*.parts/shard-*.safetensors"))
    assert len(parts) == 2 and not list((tmp_path / "maximal").glob("*.tmp"))
    said.clear()
    fractions.clear()
    path = precompute(job(digits, tmp_path), progress=progress)
    assert sum("kept" in s for s in said) == 2 and sum("done" in s for s in said) == 3
    assert fractions == pytest.approx([1 / 5, 2 / 5, 3 / 5, 4 / 5, 1.0])  # shard i of 5, kept or done
    a, b = load_file(str(one_worker)), load_file(str(path))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_features_equal_the_library_extraction(digits, model, tmp_path):
    from cnnviz.methods.embeddings import extract_layers, penultimate_layer

    precompute(job(digits, tmp_path, "features"), workers=1)
    images = mx.FolderImageSet(digits, model)
    layer = penultimate_layer(model)
    got = load_features(tmp_path, model, images, [layer])
    want = extract_layers(model, images.arrays(0, len(images)), [layer])[layer]
    assert got[layer].values.shape == (N_IMAGES, want.dims)
    torch.testing.assert_close(got[layer].values, want.values, rtol=0, atol=1e-5)
    assert torch.equal(got[layer].predictions, want.predictions)
    assert load_features(tmp_path, model, images, ["features.0"]) is None  # not precomputed: None, not a guess
