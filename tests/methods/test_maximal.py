"""Dataset examples index, receptive-field patches and synthesized images (cnnviz.methods.maximal,
cnnviz.methods.synthesis)."""
import threading

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from cnnviz.core.model import ModelHandle
from cnnviz.core.paths import SAMPLES_DIR
from cnnviz.methods import maximal as maximal
from cnnviz.methods.maximal import ArrayImageSet, build_index, bundled_images, crop_box, top_patches, unit_box
from cnnviz.methods.synthesis import (
    channel,
    class_logit,
    deepdream,
    evaluate,
    neuron,
    random_transforms,
    render_channels,
    render_diverse,
    synthesize,
)

# A cross of +1 with -1 corners: a cross scores 5, the four corners alone score -4.
KERNEL = torch.tensor([[-1.0, 1.0, -1.0], [1.0, 1.0, 1.0], [-1.0, 1.0, -1.0]])


def planted_model() -> ModelHandle:
    conv = nn.Conv2d(1, 2, 3, bias=False)
    with torch.no_grad():
        conv.weight[0, 0] = KERNEL
        conv.weight[1, 0] = -KERNEL
    net = nn.Sequential(conv, nn.ReLU()).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return ModelHandle("planted", net, torch.device("cpu"), ["x"], (1, 8, 8), (0.0,), (1.0,), "planted")


def planted_images() -> np.ndarray:
    """12 black 8x8 images; #6 holds a cross with its box's top-left at (2, 3), #8 the four
    corners of a 3x3 box whose top-left is (4, 1), #3 a single pixel at (0, 7)."""
    imgs = np.zeros((12, 8, 8), np.uint8)
    cross = (KERNEL > 0).numpy().astype(np.uint8) * 255
    imgs[6, 2:5, 3:6] = cross
    imgs[8, 4:7, 1:4] = (KERNEL < 0).numpy().astype(np.uint8) * 255
    imgs[3, 0, 7] = 255
    return imgs


def test_planted_feature_top_and_bottom(tmp_path):
    m = planted_model()
    ds = ArrayImageSet("planted", planted_images())
    idx = build_index(m, ds, k=4, batch_size=5, cache_dir=tmp_path)  # planted images in different batches
    assert idx.layers == ["0"] and idx.shapes["0"] == (2, 6, 6)
    top = idx.top("0", 0, k=4)
    # by hand: the cross matches the kernel exactly: 5 ones, at the box's top-left (2, 3)
    assert (top[0].image, top[0].y, top[0].x) == (6, 2, 3)
    assert top[0].value == pytest.approx(5.0)
    bottom = idx.bottom("0", 0, k=4)
    # by hand: the four corners meet the four -1 weights at (4, 1): -4
    assert (bottom[0].image, bottom[0].y, bottom[0].x) == (8, 4, 1)
    assert bottom[0].value == pytest.approx(-4.0)
    # channel 1 is the negated kernel: its best is channel 0's worst
    assert (idx.top("0", 1, 1)[0].image, idx.top("0", 1, 1)[0].y, idx.top("0", 1, 1)[0].x) == (8, 4, 1)
    # second method: per-image maxima and minima by F.conv2d, sorted
    out = F.conv2d(torch.from_numpy(planted_images()).float()[:, None] / 255, m.module[0].weight)
    per_max = out.flatten(2).amax(2)  # [N, C]
    per_min = out.flatten(2).amin(2)
    for c in range(2):
        assert torch.allclose(idx.top_values["0"][c], per_max[:, c].sort(descending=True).values[:4])
        assert torch.allclose(idx.bottom_values["0"][c], per_min[:, c].sort().values[:4])
        for hit in idx.top("0", c, 4):
            assert out[hit.image, c, hit.y, hit.x].item() == pytest.approx(hit.value)


def test_planted_patch_is_the_receptive_field():
    m = planted_model()
    ds = ArrayImageSet("planted", planted_images())
    idx = build_index(m, ds, k=2, cache=False)
    patch = top_patches(m, idx, ds, "0", 0, k=1)[0]
    assert patch.box == (2, 3, 5, 6)  # a 3x3 conv without padding: unit (2, 3) sees rows 2-4, cols 3-5
    assert np.array_equal(patch.pixels, (KERNEL > 0).numpy().astype(np.uint8) * 255)


def test_cache_hit_is_identical_and_runs_no_forward(tmp_path):
    m = planted_model()
    ds = ArrayImageSet("planted", planted_images())
    first = build_index(m, ds, k=3, cache_dir=tmp_path)
    assert not first.from_cache and list(tmp_path.glob("*.safetensors"))
    maximal._MEMORY.clear()  # force the disk path
    calls = []
    h = m.module.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        second = build_index(m, ds, k=3, cache_dir=tmp_path)
    finally:
        h.remove()
    assert second.from_cache and calls == []
    for part in ("top_values", "top_where", "bottom_values", "bottom_where"):
        assert torch.equal(getattr(first, part)["0"], getattr(second, part)["0"])
    # another layer set, k or data set is another key
    other = ArrayImageSet("planted", planted_images()[:10])
    assert maximal.cache_key(m, ds, ["0"], 3) != maximal.cache_key(m, other, ["0"], 3)
    assert maximal.cache_key(m, ds, ["0"], 3) != maximal.cache_key(m, ds, ["0", "1"], 3)


def test_stop_flag_interrupts_and_does_not_cache(tmp_path):
    m = planted_model()
    ds = ArrayImageSet("planted", planted_images())
    ev = threading.Event()
    seen = []

    def progress(fraction, text):
        seen.append((fraction, text))
        ev.set()  # stop after the first batch

    idx = build_index(m, ds, k=2, batch_size=4, progress=progress, stop=ev, cache_dir=tmp_path)
    assert not idx.complete and idx.n_images == 4 and seen == [(4 / 12, "4 / 12 images")]
    assert not list(tmp_path.glob("*.safetensors"))


def test_an_unreadable_cache_file_is_rebuilt(tmp_path, caplog):
    m = planted_model()
    ds = ArrayImageSet("planted", planted_images())
    key = maximal.cache_key(m, ds, ["0"], 2)
    (tmp_path / f"{key}.safetensors").write_bytes(b"not a safetensors file")
    maximal._MEMORY.clear()
    assert maximal.load_index(tmp_path, key) is None and f"{key}.safetensors is unreadable" in caplog.text
    idx = build_index(m, ds, k=2, cache_dir=tmp_path)
    assert idx.complete and not idx.from_cache
    again = maximal.load_index(tmp_path, key)  # the rebuilt index replaced the broken file
    assert again is not None and torch.equal(again.top_values["0"], idx.top_values["0"])


def test_a_flat_layer_cannot_be_indexed():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()).eval()
    m = ModelHandle("flat", net, torch.device("cpu"), ["x"], (1, 8, 8), (0.0,), (1.0,), "flat")
    with pytest.raises(maximal.MaximalError, match=r"only \[N,C,H,W\] maps"):
        build_index(m, ArrayImageSet("planted", planted_images()), layers=["1"], k=2, cache=False)


def test_images_to_batch_normalises_by_hand():
    net = nn.Sequential(nn.Conv2d(1, 1, 1))
    m = ModelHandle("half", net, torch.device("cpu"), ["x"], (1, 1, 3), (0.5,), (0.25,), "half")
    # (pixel / 255 - 0.5) / 0.25: 0 -> -2, 51 -> (0.2 - 0.5) / 0.25 = -1.2, 255 -> 2
    x = maximal.images_to_batch(m, np.array([[[0, 51, 255]]], np.uint8))
    assert x.shape == (1, 1, 1, 3) and torch.allclose(x[0, 0, 0], torch.tensor([-2.0, -1.2, 2.0]))


def test_crop_box_pads_outside_the_image():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    out = crop_box(img, (-1, 2, 2, 5), fill=99)
    expected = np.array([[99, 99, 99], [2, 3, 99], [6, 7, 99]], np.uint8)
    assert np.array_equal(out, expected)


def test_lenet_patches_have_the_receptive_field_size(lenet):
    # by hand: conv 5x5 pad 2 (r 5, start -2) -> pool 2 (r 6, jump 2) -> conv 5x5 (r 6 + 4*2 = 14)
    assert unit_box(lenet, "features.3", 0, 0) == (-2, -2, 12, 12)
    assert unit_box(lenet, "features.3", 3, 1) == (4, 0, 18, 14)
    ds = bundled_images("mnist")
    idx = build_index(lenet, ds, layers=["features.3"], k=4)
    for p in top_patches(lenet, idx, ds, "features.3", 5, k=4):
        assert p.pixels.shape == (14, 14)
        t, left, b, r = p.box
        assert (b - t, r - left) == (14, 14) and (t, left) == (-2 + 2 * p.hit.y, -2 + 2 * p.hit.x)
        inner = ds.image(p.hit.image)[max(t, 0):b, max(left, 0):r]
        assert np.array_equal(p.pixels[max(t, 0) - t:, max(left, 0) - left:][:inner.shape[0], :inner.shape[1]], inner)
    # the recorded value is the channel's map at that position (PyTorch's own forward as second method)
    hit = idx.top("features.3", 5, 1)[0]
    acts = lenet.activations(torch.from_numpy(ds.image(hit.image).copy()).float()[None, None].div(255)
                             .sub(lenet.mean[0]).div(lenet.std[0]), ["features.3"])["features.3"]
    assert acts[0, 5, hit.y, hit.x].item() == pytest.approx(hit.value, rel=1e-4, abs=1e-4)
    assert acts[0, 5].max().item() == pytest.approx(hit.value, rel=1e-4, abs=1e-4)


def test_identity_transform_changes_nothing():
    x = torch.rand(3, 1, 9, 9)
    y = random_transforms(x, pad=0.0, jitter=0.0, scale=(1.0, 1.0), degrees=0.0)
    assert torch.allclose(x, y, atol=1e-5)


def test_evaluate_matches_activations(lenet):
    x = torch.rand(2, 1, 28, 28)
    vals = evaluate(lenet, [channel("features.3", 5), -neuron("features.0", 2, 3, 4)], x)
    acts = lenet.activations((x - lenet.mean[0]) / lenet.std[0], ["features.0", "features.3"])
    assert vals[0].item() == pytest.approx(acts["features.3"][0, 5].mean().item(), rel=1e-4)
    assert vals[1].item() == pytest.approx(-acts["features.0"][1, 2, 3, 4].item(), rel=1e-4)
    dd = evaluate(lenet, [deepdream("features.3")], x[:1])
    assert dd[0].item() == pytest.approx(acts["features.3"][0].pow(2).mean().item(), rel=1e-4)


def test_synthesis_raises_channel_objectives_well_above_random(lenet):
    steps = []
    res = render_channels(lenet, "features.3", range(4), steps=40, progress=lambda p: steps.append(p.step), every=10)
    noise = evaluate(lenet, [channel("features.3", c) for c in range(4)] * 1, torch.rand(4, 1, 28, 28))
    assert res.images.shape == (4, 1, 28, 28) and 0 <= res.images.min() and res.images.max() <= 1
    assert steps == [0, 10, 20, 30, 40] and res.steps_done == 40  # 0: the starting noise, at once and not res.stopped
    assert (res.values > res.start_values + 1.0).all(), (res.values, res.start_values)
    assert (res.values > noise + 1.0).all(), (res.values, noise)
    # minimising: the negative objective drives the channel below where it started
    neg = synthesize(lenet, [-channel("features.3", 0)], steps=40)
    assert neg.values[0] > neg.start_values[0] + 1.0


def test_class_logit_synthesis_makes_the_model_predict_it(lenet):
    res = synthesize(lenet, [class_logit(3), class_logit(7)], steps=60)
    x = (res.images - lenet.mean[0]) / lenet.std[0]
    assert lenet.logits(x).argmax(1).tolist() == [3, 7]


def test_naive_stop_and_diversity(lenet):
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 5

    res = synthesize(lenet, [channel("features.0", 1)], steps=100, naive=True, stop=stop)
    assert res.stopped and res.steps_done == 5 and res.naive
    div = render_diverse(lenet, channel("features.3", 5), n=3, steps=40, diversity=3.0)
    same = render_diverse(lenet, channel("features.3", 5), n=3, steps=40, diversity=0.0)

    def spread(r):
        return torch.pdist(r.images.flatten(1)).mean().item()

    assert spread(div) > spread(same)


def test_bad_objectives_explain_the_fix(lenet):
    with pytest.raises(ValueError, match="needs a layer"):
        channel("", 0)
    with pytest.raises(IndexError, match="has 16 channels"):
        synthesize(lenet, [channel("features.3", 99)], steps=1)
    with pytest.raises(KeyError, match="conv_layer_names"):
        synthesize(lenet, [channel("nope", 0)], steps=1)


def test_folder_and_sample_photo_sets(tmp_path):
    from PIL import Image

    rgb = ModelHandle("tiny-rgb", nn.Sequential(nn.Conv2d(3, 2, 3)).eval(), torch.device("cpu"), ["x"], (3, 16, 16),
                      (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "tiny")
    photos = maximal.sample_photo_images(rgb, crops_per_photo=3)
    n_photos = len(list(SAMPLES_DIR.glob("photo-*")))
    assert photos.images.shape == (3 * n_photos, 16, 16, 3) and "TINY" in photos.note
    assert photos.key == maximal.sample_photo_images(rgb, crops_per_photo=3).key  # seeded: same set, same cache key
    # a folder in ImageFolder layout: two classes, one file each; values chosen so the prepared pixels are known
    for cls, value in (("a", 10), ("b", 200)):
        (tmp_path / cls).mkdir()
        Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(tmp_path / cls / "x.png")
    (tmp_path / "notes.txt").write_text("not an image")
    ds = maximal.FolderImageSet(tmp_path, rgb)
    assert len(ds) == 2 and ds.caption(1) == "#1 b/x.png"
    arr = ds.arrays(0, 2)
    assert arr.shape == (2, 16, 16, 3) and arr[0].max() == 10 and arr[1].min() == 200
    idx = build_index(rgb, ds, k=2, cache=False)
    assert idx.n_images == 2 and idx.shapes["0"] == (2, 14, 14)
    with pytest.raises(FileNotFoundError, match="ImageFolder"):
        maximal.FolderImageSet(tmp_path / "missing", rgb)


def _lock_free_from_other_thread(m) -> bool:
    got = []

    def probe():
        ok = m.lock.acquire(timeout=2)
        got.append(ok)
        if ok:
            m.lock.release()

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return got == [True]


def test_lock_is_taken_per_batch_and_step_and_hooks_are_released(lenet):
    m = planted_model()
    free = []
    build_index(m, ArrayImageSet("planted", planted_images()), k=2, batch_size=4, cache=False,
                progress=lambda f, text: free.append(_lock_free_from_other_thread(m)))
    assert free == [True, True, True]  # between batches another session can use the model
    free.clear()
    synthesize(lenet, [channel("features.3", 0)], steps=4, every=2,
               progress=lambda p: free.append(_lock_free_from_other_thread(lenet)))
    assert free == [True, True, True]  # the start, step 2, step 4
    with pytest.raises(IndexError):
        synthesize(lenet, [channel("features.3", 99)], steps=1)
    for mod in list(m.module.modules()) + list(lenet.module.modules()):
        assert not mod._forward_hooks and not mod._forward_pre_hooks


def test_index_matches_brute_force_on_random_data():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3)).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    m = ModelHandle("rand", net, torch.device("cpu"), ["x"], (1, 12, 12), (0.0,), (1.0,), "rand")
    imgs = np.random.default_rng(1).integers(0, 256, (23, 12, 12), dtype=np.uint8)
    idx = build_index(m, ArrayImageSet("rand", imgs), k=5, batch_size=4, cache=False)  # 23 = 5 batches of 4 + 3
    x = torch.from_numpy(imgs).float()[:, None] / 255
    for layer, out in (("0", net[0](x)), ("3", net[3](net[2](net[1](net[0](x)))))):
        flat = out.flatten(2)
        for c in range(out.shape[1]):
            for largest in (True, False):
                per_image = flat[:, c].amax(1) if largest else flat[:, c].amin(1)
                want = per_image.sort(descending=largest)
                hits = idx.hits(layer, c, 5, largest)
                assert [h.image for h in hits] == want.indices[:5].tolist()
                for h in hits:
                    assert out[h.image, c, h.y, h.x].item() == pytest.approx(h.value)


def test_objectives_for_one_request_and_their_captions():
    from cnnviz.methods.synthesis import SynthesisError, make_objectives

    objs = make_objectives("channel", "features.3", [4, 5], negative=True, variants=2)
    assert [(o.index, o.sign) for o in objs] == [(4, -1.0), (4, -1.0), (5, -1.0), (5, -1.0)]
    assert [o.short() for o in objs[::2]] == ["−ch 4", "−ch 5"]
    assert make_objectives("neuron", "features.3", [1], y=2, x=3)[0].short() == "ch 1 @(2,3)"
    assert [o.short(["zero", "one"]) for o in make_objectives("prob", indices=[1])] == ["P one"]
    assert [o.kind for o in make_objectives("layer", "features.0", [7, 8])] == ["layer"]  # one DeepDream
    with pytest.raises(SynthesisError, match="pick at least one class"):
        make_objectives("logit", indices=[])


def test_synthesis_summary_and_size_error(lenet):
    from cnnviz.methods.synthesis import SynthesisError

    res = synthesize(lenet, [channel("features.3", 0)], steps=4)
    gain = float(res.values[0] - res.start_values[0])
    text = res.summary("CPU")
    assert text.startswith(f"4 steps in {res.seconds:.1f} s on CPU, 1 image in one batch.")
    assert f"({gain:+.2f})" in text and ("up from" if gain >= 0 else "DOWN from") in text
    with pytest.raises(SynthesisError, match="use its input size 28×28"):  # LeNet's classifier needs 28x28
        synthesize(lenet, [class_logit(3)], steps=1, size=(40, 40))


def test_page_rules_layers_sets_and_cost(lenet):
    layers, shapes = maximal.index_layers(lenet)
    assert layers == ["features.0", "features.3"] and shapes["features.3"] == (16, 10, 10)
    # a spatial non-conv layer asked for by a link joins in forward order; a flat one does not
    assert maximal.index_layers(lenet, "features.2")[0] == ["features.0", "features.2", "features.3"]
    assert maximal.index_layers(lenet, "classifier.0")[0] == layers
    assert maximal.image_set_choices(lenet) == ["mnist", "fashion-mnist", "folder"]
    macs = sum(i.macs for i in lenet.layers())
    assert maximal.index_macs(lenet, 10) == 10 * macs
    assert not maximal.needs_confirmation(lenet, 2000) and maximal.needs_confirmation(lenet, int(2e11 / macs) + 1)


def test_channel_map_is_the_layer_output(lenet):
    img = bundled_images("mnist").image(0)
    z = maximal.channel_map(lenet, img, "features.0", 2)
    x = maximal.images_to_batch(lenet, img[None])
    with torch.no_grad():
        ref = lenet.module.features[0](x)[0, 2]
    assert z.shape == (28, 28) and np.allclose(z, ref.numpy(), atol=1e-5)
    with pytest.raises(maximal.ChannelError, match="has 6 channels"):
        maximal.channel_map(lenet, img, "features.0", 6)


def test_the_weights_digest_memo_does_not_keep_models_alive():
    """The memo of weights digests is weakly keyed: a model nobody uses any more is freed (it once held every
    model it had hashed)."""
    import gc
    import weakref

    from cnnviz.core.model import wrap
    from cnnviz.methods.maximal import weights_digest

    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.LazyLinear(3))
    net(torch.zeros(1, 1, 8, 8))
    m = wrap(net, (1, 8, 8), 3)
    d = weights_digest(m)
    assert weights_digest(m) == d and len(d) == 16
    other = wrap(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 3)), (1, 8, 8), 3)
    assert weights_digest(other) != d  # other weights, another digest
    alive = weakref.ref(m.module)
    del m
    gc.collect()
    assert alive() is None
