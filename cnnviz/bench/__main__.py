"""Run every registered benchmark and print a table (or JSON)."""
from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import traceback

import torch

import cnnviz.bench as bench
from cnnviz.core.device import describe_device, pick_device
from cnnviz.errors import CnnvizError, foreign


class EntryFailed(CnnvizError):
    """A bench entry that raised: reported with the others' results, not instead of them."""


def load_all() -> None:
    for mod in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: (m.name != "core", m.name)):
        if not mod.name.startswith("_"):
            importlib.import_module(f"cnnviz.bench.{mod.name}")


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return ""
    if unit == "ms":  # as_dict() already gives milliseconds
        return f"{v:.2f} ms"
    if unit == "s":
        return f"{v:.2f} s"
    return f"{v:.4g} {unit}".strip()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m cnnviz.bench", description=bench.__doc__)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--only", default="", help="run entries whose topic or name contains this text")
    p.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes (smoke test)")
    p.add_argument("--device", default=None)
    a = p.parse_args(argv)
    load_all()
    opts = bench.Options(device=pick_device(a.device), quick=a.quick)
    results, failures = [], []
    for e in bench.ENTRIES:
        if a.only and a.only not in e.topic and a.only not in e.name:
            continue
        print(f"running {e.topic}/{e.name} …", file=sys.stderr, flush=True)
        try:  # one broken entry must not hide the others: said in the failures, its traceback printed
            with foreign(EntryFailed, "{why}"):
                rows = list(e.func(opts))
            results += [{"topic": e.topic, **r.as_dict()} for r in rows]
        except CnnvizError as ex:
            failures.append({"topic": e.topic, "entry": e.name,
                             "error": str(ex) if isinstance(ex, EntryFailed) else f"{type(ex).__name__}: {ex}"})
            traceback.print_exception(ex.__cause__ or ex)
    meta = {"device": describe_device(opts.device), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "quick": a.quick}
    if a.json:
        print(json.dumps({"meta": meta, "results": results, "failures": failures}, indent=2))
    else:
        print(f"# cnnviz benchmarks on {meta['device']} (torch {meta['torch']}); medians")
        rows = [("topic", "entry", "ours", "baseline", "baseline value", "ratio", "target", "note")]
        for r in results:
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else ""
            rows.append((r["topic"], r["name"], _fmt(r["value"], r["unit"]), r["baseline"],
                         _fmt(r["baseline_value"], r["unit"]), ratio, r["target"], r["note"]))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        for i, row in enumerate(rows):
            print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
            if i == 0:
                print("-|-".join("-" * w for w in widths))
        for f in failures:
            print(f"FAILED {f['topic']}/{f['entry']}: {f['error']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
