"""Training: throughput of the live loop (the page's settings) against a bare PyTorch loop over the same tensors.

The live loop is :class:`cnnviz.methods.training.Trainer` as the Training page runs it: a progress report every
10 batches (loss, accuracy, every layer's gradient norm, a filter snapshot), a quick test on 500 images every
50 batches, the stop flag checked before every batch. The baseline is the textbook loop (permute, forward,
cross-entropy, backward, step) over the same normalised tensors on the same device, with the same network,
optimizer and batch size. Both run in turn (live, bare, live, bare, ...) and the medians are compared:
ratio = live images/s / bare images/s (target >= 0.9). A second row counts the live loop's evaluation
time too (the whole test split after every epoch, the quick tests), which the bare loop does not do.
"""
from __future__ import annotations

import statistics
import time

import torch
from torch.nn import functional as F

from cnnviz.bench import Options, Result, entry
from cnnviz.core.device import synchronize
from cnnviz.methods.training import TrainConfig, Trainer, build_module


def _bare_epoch(cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        module = build_module(cfg).to(device)
    opt = torch.optim.Adam(module.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    module.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(x), generator=gen).to(device)
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            loss = F.cross_entropy(module(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    synchronize(device)


@entry("training")
def live_loop_throughput(opts: Options) -> list[Result]:
    n = 512 if opts.quick else 4000
    repeat = 1 if opts.quick else 5
    cfg = TrainConfig("lenet5", "mnist", optimizer="adam", lr=2e-3, batch_size=32, epochs=1, train_size=n,
                      log_every=10, test_every=50)
    probe = Trainer(cfg, device=opts.device)
    x, y = probe.normalize(probe._xtr), probe._ytr  # the same tensors the live loop trains on
    live_total, live_train, bare = [], [], []
    for r in range(repeat + 1):  # round 0 warms both up
        t = Trainer(cfg, device=opts.device)
        synchronize(opts.device)
        t0 = time.perf_counter()
        t.run()
        synchronize(opts.device)
        t_live = time.perf_counter() - t0
        t0 = time.perf_counter()
        _bare_epoch(cfg, x, y, opts.device)
        t_bare = time.perf_counter() - t0
        if r:
            live_total.append(t_live)
            live_train.append(t.train_seconds)
            bare.append(t_bare)
    bare_ips = n / statistics.median(bare)
    train_ips = n / statistics.median(live_train)
    total_ips = n / statistics.median(live_total)
    what = f"LeNet-5, {n} MNIST images, batch 32, Adam"
    return [
        Result(f"live training loop, training steps ({what})", train_ips, unit="images/s",
               baseline="bare PyTorch loop, same tensors", baseline_value=bare_ips, ratio=train_ips / bare_ips,
               target=">= 0.9", note="progress every 10 batches with per-layer gradient norms and filter snapshots"),
        Result(f"live training loop incl. its test evaluations ({what})", total_ips, unit="images/s",
               baseline="bare PyTorch loop, same tensors", baseline_value=bare_ips, ratio=total_ips / bare_ips,
               note="adds the 2,000-image test split after the epoch and 500-image quick tests every 50 batches"),
    ]
