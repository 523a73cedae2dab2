"""Forward-pass latency of the bundled models and ResNet-18 at batch 1 and 64."""
from __future__ import annotations

import torch

from cnnviz.bench import Options, Result, entry, median_time
from cnnviz.core.model import load_model


@entry("core")
def forward_latency(opts: Options) -> list[Result]:
    out = []
    for name in ("lenet5-mnist", "small-vgg-fashion", "resnet18"):
        m = load_model(name, device=opts.device, untrained=(name == "resnet18"))
        for batch in (1, 64):
            x = torch.randn(batch, *m.input_size, device=opts.device)
            t = median_time(lambda m=m, x=x: m.logits(x), opts.device,  # quick (smoke test): one timed call
                            repeat=1 if opts.quick else 11, warmup=1 if opts.quick else 2)
            out.append(Result(f"forward {name} batch {batch}", t, note=f"{batch / t:.4g} img/s"))
    return out


def _threaded(fn, threads: int, calls: int) -> float:
    """Wall seconds for ``threads`` threads each calling ``fn()`` ``calls`` times, all started together."""
    import threading
    import time

    start = threading.Barrier(threads + 1)

    def work():
        start.wait()
        for _ in range(calls):
            fn()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    return time.perf_counter() - t0


@entry("core")
def concurrent_predict(opts: Options) -> list[Result]:
    """Two sessions calling ``predict`` on one shared small VGG at once, against the same calls in one thread.

    With one intra-op thread per call, two threads on two cores should take well under the serial
    time when nothing serialises them (target <= 0.85x; a bare module call is the floor).
    """
    from cnnviz.core.images import load_image
    from cnnviz.core.paths import SAMPLES_DIR

    m = load_model("small-vgg-fashion", device=opts.device)
    img = load_image(SAMPLES_DIR / "fashion-sneaker.png")
    x = m.preprocess(img)
    calls = 20 if opts.quick else 200
    rounds = 1 if opts.quick else 5
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        def bare():
            with torch.inference_mode():
                m.module(x)

        for fn in (lambda: m.predict(img, k=5), bare):  # warm-up
            _threaded(fn, 2, 5)
        serial, threaded, bare_serial, bare_threaded = [], [], [], []
        for _ in range(rounds):  # interleaved rounds, medians: the machine's load drifts
            serial.append(_threaded(lambda: m.predict(img, k=5), 1, 2 * calls))
            threaded.append(_threaded(lambda: m.predict(img, k=5), 2, calls))
            bare_serial.append(_threaded(bare, 1, 2 * calls))
            bare_threaded.append(_threaded(bare, 2, calls))
    finally:
        torch.set_num_threads(before)
    import statistics as st

    s, t2, bs, bt = (st.median(v) for v in (serial, threaded, bare_serial, bare_threaded))
    return [Result(f"predict small-vgg-fashion, 2 threads x {calls} calls (1 intra-op thread)", t2, unit="s",
                   baseline=f"the same {2 * calls} calls in one thread", baseline_value=s, ratio=t2 / s,
                   target="<= 0.85x", note=f"bare module call: {bt / bs:.2f}x (the floor)")]
