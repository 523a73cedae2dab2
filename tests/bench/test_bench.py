"""The benchmark command runs every registered entry (quick mode) and reports each one."""
import json
import os
import subprocess
import sys

from ..conftest import ROOT


def test_bench_quick_json_has_every_entry():
    device = os.environ.get("CNNVIZ_DEVICE", "cpu")
    out = subprocess.run([sys.executable, "-m", "cnnviz.bench", "--quick", "--json", "--device", device],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert not report["failures"]
    names = [r["name"] for r in report["results"]]
    for model in ("lenet5-mnist", "small-vgg-fashion", "resnet18"):
        for batch in (1, 64):
            assert f"forward {model} batch {batch}" in names
    assert all(r["value"] > 0 for r in report["results"] if r["unit"] in ("ms", "s"))
    # values are in the unit they name: the forward entries' notes give the throughput worked out
    # from the same timing, so milliseconds per batch = 1000 * batch / (images per second)
    for r in report["results"]:
        if r["name"].startswith("forward ") and r["unit"] == "ms":
            batch, per_s = int(r["name"].split()[-1]), float(r["note"].split()[0])
            assert abs(r["value"] - 1000 * batch / per_s) <= 0.02 * r["value"] + 1e-3, r


def test_bench_table_prints():
    """The table form, on one quick entry (every entry runs in the JSON test above)."""
    device = os.environ.get("CNNVIZ_DEVICE", "cpu")
    out = subprocess.run([sys.executable, "-m", "cnnviz.bench", "--quick", "--only", "grid_snapping", "--device",
                          device], cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and lines[0].startswith("# cnnviz benchmarks on"), out.stderr[-2000:]
    assert [c.strip() for c in lines[1].split("|")][:3] == ["topic", "entry", "ours"]
    row = [c.strip() for c in lines[3].split("|")]
    assert row[0] == "embeddings" and row[1].startswith("grid snap") and row[2].endswith(" ms") and "| ms" not in \
        out.stdout


def test_a_broken_entry_is_reported_and_the_others_still_run(monkeypatch, capsys):
    import cnnviz.bench as bench
    from cnnviz.bench import __main__ as bench_main

    def broken(opts):
        raise ZeroDivisionError("division by zero in the entry")

    def fine(opts):
        return [bench.Result("fine entry", 0.001, unit="s")]

    monkeypatch.setattr(bench_main, "load_all", lambda: None)
    monkeypatch.setattr(bench, "ENTRIES", [bench.Entry("t", "broken", broken), bench.Entry("t", "fine", fine)])
    assert bench_main.main(["--json", "--device", "cpu"]) == 1  # a failure is the exit status too
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["failures"] == [{"topic": "t", "entry": "broken",
                                   "error": "ZeroDivisionError: division by zero in the entry"}]
    assert [r["name"] for r in report["results"]] == ["fine entry"]
    assert "Traceback" in out.err and "division by zero in the entry" in out.err
