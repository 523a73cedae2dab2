"""Adversarial attacks: PGD-10 on a batch of 256 against the 10 forward+backward passes it cannot do without."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from cnnviz.bench import Options, Result, entry, paired_medians
from cnnviz.core.model import load_model
from cnnviz.methods import adversarial as A


@entry("adversarial")
def pgd_batch(opts: Options) -> list[Result]:
    """PGD-10 (L-inf, eps 0.15, random start) on 256 bundled test digits.

    Baseline, in the same run and interleaved: 10 forward passes and 10 input-gradient backward passes of the same
    batch through the same module (what any 10-step gradient attack must compute). Ratio = PGD / baseline; the
    difference is the attack's own work (sign, projection, clipping, normalisation in pixel space).
    """
    out = []
    names = ["lenet5-mnist"] if opts.quick else ["lenet5-mnist", "simple-cnn-mnist"]
    for name in names:
        m = load_model(name, device=opts.device)
        b = A.test_batch(m, 256)
        x, y = b.pixels, b.labels
        spec = A.AttackSpec("pgd", epsilon=0.15, steps=10)
        inp = m.normalize(x)

        def attack(m=m, x=x, y=y, spec=spec):
            return A.perturb(m, x, y, spec)

        def passes(m=m, inp=inp, y=y):
            for _ in range(10):
                p = inp.detach().requires_grad_(True)
                torch.autograd.grad(F.cross_entropy(m.module(p), y, reduction="sum"), p)

        pgd, base = paired_medians([attack, passes], opts.device,
                                   repeat=3 if opts.quick else 9, warmup=1 if opts.quick else 2)
        out.append(Result(f"PGD-10 {name} batch 256", pgd, baseline="10 forward+backward passes of the batch",
                          baseline_value=base, ratio=pgd / base, target="ratio <= 1.3",
                          note=f"{256 / pgd:.0f} images/s attacked"))
    return out
