"""Shared runtime contracts: stop flags, progress, the result cache and the weak memo."""
import gc
import threading
import weakref

import torch

from cnnviz.core.runtime import ResultCache, WeakMemo, report, stopped


def test_stop_flags_of_every_kind():
    e = threading.Event()
    assert not stopped(None) and not stopped(e) and not stopped(lambda: False)
    e.set()
    assert stopped(e) and stopped(lambda: True)


def test_report_clips_the_fraction_and_skips_no_callback():
    seen = []
    report(lambda f, t: seen.append((f, t)), 1.7, "done")
    report(lambda f, t: seen.append((f, t)), -0.2)
    report(None, 0.5, "nobody listens")
    assert seen == [(1.0, "done"), (0.0, "")]


def test_result_cache_computes_once_per_key_under_concurrency_and_evicts_the_oldest():
    c, calls, gate = ResultCache(2), [], threading.Event()

    def slow():
        calls.append(1)
        gate.wait(5)
        return object()

    out = []
    threads = [threading.Thread(target=lambda: out.append(c.get_or_compute("k", slow))) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(out) == 4 and all(o is out[0] for o in out)
    c.get_or_compute("a", lambda: 1)
    c.get_or_compute("b", lambda: 2)
    assert "k" not in c and len(c) == 2 and c.get("a") == 1


def test_weak_memo_keeps_no_owner_alive_and_bounds_each_owner():
    memo = WeakMemo(per_owner=2)
    net = torch.nn.Linear(3, 3)
    ref = weakref.ref(net)
    for k in range(5):
        assert memo.get_or_compute(net, k, lambda k=k: k * 10) == k * 10
    assert memo.get(net, 0) is None and memo.get(net, 4) == 40  # the oldest keys went
    assert memo.get_or_compute(net, 4, lambda: -1) == 40  # cached, not recomputed
    del net
    gc.collect()
    assert ref() is None and len(memo) == 0
