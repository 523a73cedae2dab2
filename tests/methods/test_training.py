"""The training loop, its presets, export and the background runs, checked against independent references."""
import dataclasses
import threading
import time

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from cnnviz.core.datasets import load_dataset
from cnnviz.core.model import load_model
from cnnviz.core.networks import DeepCNN, LeNet5
from cnnviz.methods import training_runs
from cnnviz.methods.training import LogPoint, TrainConfig, Trainer, TrainingError, bundled_config, card_of, load_trained
from cnnviz.methods.training_presets import (
    TransferCurve,
    cached_transfer_curve,
    gradient_ratio,
    initial_gradients,
    run_comparison,
    transfer_curve,
    vanishing_configs,
)
from cnnviz.methods.training_runs import RunLimitError, RunManager

from ..conftest import run_in_threads

DEV = "cpu"


def _reference_bundled_loop(limit: int, epochs: int = 1, seed: int = 0, lr: float = 2e-3, bs: int = 64):
    """The bare loop that trained the bundled LeNet before the Trainer existed (from git history), inlined."""
    mean, std = 0.1307, 0.3081
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tr = load_dataset("mnist", "train")
    x = (torch.from_numpy(np.array(tr.images[:limit])).float().div(255).unsqueeze(1) - mean) / std
    y = torch.from_numpy(tr.labels[:limit])
    module = LeNet5()
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * ((len(x) + bs - 1) // bs))
    shift = 2
    for _ in range(epochs):
        module.train()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), bs):
            idx = perm[i:i + bs]
            xb = x[idx]
            n, _, h, w = xb.shape
            padded = F.pad(xb, (shift,) * 4, value=float(xb.min()))
            dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
            dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
            rows = (dy[:, None] + torch.arange(h)[None]).view(n, 1, h, 1).expand(n, 1, h, w + 2 * shift)
            xb = padded.gather(2, rows)
            cols = (dx[:, None] + torch.arange(w)[None]).view(n, 1, 1, w).expand(n, 1, h, w)
            xb = xb.gather(3, cols)
            loss = F.cross_entropy(module(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return module


def test_command_line_recipe_gives_the_reference_loops_weights():
    t = Trainer(bundled_config("lenet5-mnist", epochs=1, limit=640), device=DEV, global_seed=True)
    t.run()
    ref = _reference_bundled_loop(640)
    for (k, a), b in zip(t.module.state_dict().items(), ref.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)


@pytest.mark.slow
def test_one_seeded_epoch_of_lenet_on_8000_digits_reaches_95_percent():
    cfg = TrainConfig("lenet5", "mnist", optimizer="adam", lr=5e-3, batch_size=32, schedule="onecycle", epochs=1,
                      seed=0)
    t = Trainer(cfg, device=DEV)
    h = t.run()
    assert len(t._xtr) == 8000 and len(t._xte) == 2000
    assert h.test_accuracy >= 0.95
    # the confusion matrix is the test split's: its trace over its sum is the accuracy
    conf = h.epochs[-1].confusion
    assert conf.sum() == 2000 and np.trace(conf) / 2000 == pytest.approx(h.test_accuracy)


def test_progress_reports_and_gradient_norms_match_autograd():
    cfg = TrainConfig("lenet5", "mnist", train_size=64, batch_size=64, epochs=1, log_every=1)
    t = Trainer(cfg, device=DEV)
    before = {k: v.clone() for k, v in t.module.state_dict().items()}
    seen = []
    t.run(progress=seen.append)
    point = next(p for p in seen if isinstance(p, LogPoint))
    # the same first batch through a fresh copy of the initial weights: its gradient norms, by autograd
    ref = LeNet5()
    ref.load_state_dict(before)
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    x = t.normalize(t._xtr[perm])
    F.cross_entropy(ref(x), t._ytr[perm]).backward()
    expected = [m.weight.grad.norm().item() for m in ref.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert point.grad_norms == pytest.approx(expected, rel=1e-5)
    assert t.history.layers == ["features.0", "features.3", "classifier.1", "classifier.3", "classifier.5"]
    assert [e.epoch for e in t.history.epochs] == [0, 1]
    assert t.history.epochs[0].filters.shape == (6, 1, 5, 5)
    assert not np.array_equal(t.history.epochs[0].filters, t.history.epochs[1].filters)


def test_stop_then_resume_equals_an_uninterrupted_run():
    cfg = TrainConfig("lenet5", "mnist", train_size=320, batch_size=32, epochs=2, log_every=3)
    whole = Trainer(cfg, device=DEV)
    whole.run()
    parts = Trainer(cfg, device=DEV)
    parts.run(stop=lambda: parts.step >= 13)  # stops mid-epoch 2
    assert parts.step == 13 and not parts.done
    parts.run()
    assert parts.done and parts.step == whole.step == 20
    for a, b in zip(parts.module.parameters(), whole.module.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bad_settings_name_the_fix():
    with pytest.raises(TrainingError, match="2 to 20"):
        TrainConfig("deep-cnn", depth=25).check()
    with pytest.raises(TrainingError, match="at least 10"):
        TrainConfig(train_size=3).check()


def test_residual_deep_cnn_with_zero_convs_is_stem_pools_and_head():
    net = DeepCNN(depth=6, activation="sigmoid", residual=True).eval()
    for unit in net.body:
        torch.nn.init.zeros_(unit.conv.weight)
        torch.nn.init.zeros_(unit.conv.bias)
    x = torch.randn(2, 1, 28, 28)
    expected = net.head(torch.sigmoid(F.max_pool2d(F.max_pool2d(net.stem(x), 2), 2)))
    torch.testing.assert_close(net(x), expected)


@pytest.mark.slow
def test_vanishing_gradient_preset_after_one_epoch():
    trainers = run_comparison(vanishing_configs(labels=("plain sigmoid", "residual BN + ReLU")), device=DEV)
    assert all(t.done and len(t.history.layers) == 21 for t in trainers.values())  # 20 convs + the linear head
    assert gradient_ratio(trainers["plain sigmoid"]) < 1e-3
    assert gradient_ratio(trainers["residual BN + ReLU"]) > 1e-1


def test_initial_gradients_show_the_vanishing_gradient_before_training():
    configs = vanishing_configs(labels=("plain sigmoid", "residual BN + ReLU"))
    hs = initial_gradients(configs, images=32)
    for h in hs.values():
        assert len(h.layers) == 21 and len(h.points) == 1 and h.points[0].step == 0
    ratio = {k: h.points[0].grad_norms[0] / h.points[0].grad_norms[-1] for k, h in hs.items()}
    assert ratio["plain sigmoid"] < 1e-6 < 1e-2 < ratio["residual BN + ReLU"]
    # the same network a Trainer starts from: its first report's gradients are of the same size
    t = Trainer(dataclasses.replace(configs["plain sigmoid"], train_size=32, batch_size=32, log_every=1), device="cpu")
    t.run(stop=lambda: t.step >= 1)
    assert t.history.points[0].grad_norms[-1] == pytest.approx(hs["plain sigmoid"].points[0].grad_norms[-1], rel=1e-4)


def test_cached_transfer_curve_reads_only_a_complete_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))
    assert cached_transfer_curve("lenet5-mnist", ns=(10,)) is None
    curve = TransferCurve("lenet5-mnist", "fashion-mnist", (10,), 200, (0, 1, 2),
                          {m: {10: 0.5} for m in ("from scratch", "frozen features, new head", "fine-tuned, small lr")})
    path = tmp_path / "training" / "transfer-lenet5-mnist-10-s200-seeds0-1-2.json"
    path.parent.mkdir(parents=True)
    path.write_text(__import__("json").dumps(curve.to_json()))
    assert cached_transfer_curve("lenet5-mnist", ns=(10,)).accuracy == curve.accuracy
    assert transfer_curve("lenet5-mnist", ns=(10,)).accuracy == curve.accuracy  # the same file
    path.write_text("{not json")
    assert cached_transfer_curve("lenet5-mnist", ns=(10,)) is None


@pytest.mark.slow
def test_frozen_features_beat_scratch_at_10_per_class(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))
    curve = transfer_curve("lenet5-mnist", ns=(10,), device=DEV)
    acc = curve.accuracy
    assert acc["frozen features, new head"][10] > acc["from scratch"][10]
    assert curve.complete and list(tmp_path.glob("training/transfer-*.json"))
    assert transfer_curve("lenet5-mnist", ns=(10,), device=DEV).accuracy == acc  # from the cache


def test_download_loads_back_with_identical_predictions():
    cfg = TrainConfig("lenet5", "mnist", train_size=200, batch_size=50, epochs=1, dropout=0.3)
    t = Trainer(cfg, device=DEV)
    t.run()
    data, card = t.export()
    assert card_of(data)["test_accuracy"] == card["test_accuracy"]
    x = t._xte[:200]
    with torch.no_grad():
        t.module.eval()
        expected = torch.softmax(t.module(x), 1)
    back = load_trained(data, device=DEV)
    assert back.card["settings"] == cfg.summary() and not back.module.training
    assert not any(p.requires_grad for p in back.module.parameters())
    torch.testing.assert_close(back.predict_batch(x), expected, rtol=0, atol=0)
    # the sidebar's plain path (architecture chosen by hand) reads the same file
    plain = load_model("lenet5-mnist", weights=data, weights_name="run.safetensors", device=DEV)
    torch.testing.assert_close(plain.predict_batch(x), expected, rtol=0, atol=0)
    with pytest.raises(TrainingError, match="no cnnviz training card"):
        load_trained(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")


def test_run_limit_gives_a_clear_message(monkeypatch):
    monkeypatch.setenv("CNNVIZ_MAX_TRAINING_RUNS", "1")
    runs = RunManager()
    go = threading.Event()
    first = runs.start("train", "blocker", lambda run, stop: go.wait(30))
    try:
        with pytest.raises(RunLimitError, match="limit is 1.*CNNVIZ_MAX_TRAINING_RUNS"):
            runs.start("train", "second", lambda run, stop: None)
    finally:
        go.set()
    assert first.wait(10) and first.status == "done"
    assert runs.start("train", "now there is room", lambda run, stop: None).wait(10)


def test_a_run_keeps_going_while_other_sessions_predict(lenet):
    images = [load_dataset("mnist", "test").images[i] for i in range(24)]
    serial = [lenet.predict(img, k=3) for img in images]
    runs = RunManager()
    run = runs.start_training(TrainConfig("lenet5", "mnist", train_size=2000, batch_size=32, epochs=3, log_every=2),
                              device=DEV)
    deadline = time.time() + 60
    while not run.trainers.get("run") or run.trainers["run"].step == 0:
        assert time.time() < deadline and run.status != "failed", run.error
        time.sleep(0.05)
    steps_before = run.trainers["run"].step
    results: dict[int, list] = {}

    def session(i):
        results[i] = [lenet.predict(img, k=3) for img in images for _ in range(2)][::2]

    try:
        errors = run_in_threads(session, n=4)
        steps_during = run.trainers["run"].step
    finally:
        run.stop()
        run.wait(30)
    assert not errors
    assert all(r == serial for r in results.values())
    assert steps_during > steps_before  # the training thread progressed while the sessions predicted
    assert run.status == "stopped"
    run2 = training_runs.RUNS.get(run.id)  # a private manager's runs are not the server's
    assert run2 is None
