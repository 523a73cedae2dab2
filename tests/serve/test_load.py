"""The load benchmark's guards and arithmetic (its browser runs are in test_proxy.py)."""
import os

import numpy as np
import pytest

from cnnviz.bench.load import LoadError, check_url, main, percentile, rss_mb, run_load


@pytest.mark.parametrize("url", ["http://example.com:8501", "http://10.0.0.5:8501", "ftp://127.0.0.1/",
                                 "http://127.0.0.1.example.com/"])
def test_only_loopback_is_a_target(url):
    with pytest.raises(LoadError, match="loopback"):
        check_url(url)
    assert main(["--url", url, "--sessions", "1"]) == 2  # refused before any browser starts


def test_loopback_urls_are_accepted():
    assert check_url("http://127.0.0.1:8501/") == "http://127.0.0.1:8501"
    assert check_url("http://localhost:9/x") == "http://localhost:9/x"


@pytest.mark.parametrize("sessions,passes", [(0, 1), (33, 1), (2, 0), (2, 11)])
def test_runs_are_bounded(sessions, passes):
    with pytest.raises(LoadError, match="sessions must be"):
        run_load("http://127.0.0.1:1", sessions, passes)


def test_percentiles_match_numpy_and_rss_is_read_from_proc():
    ts = [3.0, 1.0, 2.0, 10.0]
    assert percentile(ts, 95) == pytest.approx(np.percentile(ts, 95), abs=1e-3) == pytest.approx(8.95)
    assert percentile([], 50) is None
    own = rss_mb([os.getpid()])
    assert own is not None and own > 10  # a running Python process: megabytes, read from /proc
    assert rss_mb([2**22 + 12345]) is None  # no such process: unknown, not zero
