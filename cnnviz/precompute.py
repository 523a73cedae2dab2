"""Dataset-wide work done once as a batch job, shared by every replica: ``cnnviz precompute index|features``.

``index`` builds the maximal-activation index (:mod:`cnnviz.methods.maximal`) of an image folder (or a
bundled split) and writes it to ``OUT/maximal/<key>.safetensors``, the very file and format the app's
:func:`~cnnviz.methods.maximal.build_index` reads when ``CNNVIZ_CACHE=OUT``: the page then loads it instead
of rebuilding it. ``features`` writes pooled layer features (:mod:`cnnviz.methods.embeddings`) to
``OUT/features/<key>.safetensors`` (:func:`load_features` reads them).

The work is cut into shards of whole batches; every shard is written to ``OUT/<topic>/<key>.parts/`` as
soon as it is done (temp file + ``os.replace``, so a reader never sees half a file), and a rerun skips the
shards already there: an interrupted job resumes. The final file replaces the old one atomically too, so
replicas may read while a new build lands.

Scaling out uses ``torch.distributed`` (gloo on CPU, NCCL-free): ``--workers K`` spawns K processes with
``torch.multiprocessing``, or ``torchrun --nproc-per-node K -m cnnviz.precompute index ...`` starts them
(also across machines sharing ``OUT``). Shard ``i`` goes to rank ``i % K``; rank 0 merges. The merge is
exact: each channel keeps the ``k`` entries first in the order (value, image, position), a total order, so
any split into shards gives the same index as one process, bit for bit (batches are the same images in
every split, so every activation is computed identically).

Examples::

    $ cnnviz precompute index --model lenet5-mnist --data ~/digits --out /srv/cnnviz-cache --workers 2
    $ CNNVIZ_CACHE=/srv/cnnviz-cache cnnviz run     # the Maximal page loads the index, no rebuild
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cnnviz.core.paths import cache_dir
from cnnviz.core.runtime import Progress, StopFlag, report, stopped
from cnnviz.core.weights import read_cache
from cnnviz.errors import CnnvizError

TOPICS = ("index", "features")
FEATURES_VERSION = 1


class PrecomputeError(CnnvizError):
    """A precompute job that cannot run as asked (the message says what to change)."""


@dataclass
class Job:
    """What to precompute (picklable: it travels to every worker process).

    Args:
        topic: ``"index"`` or ``"features"``.
        model: a bundled or zoo model name (:func:`cnnviz.core.model.load_model`).
        data: an image folder, or ``"mnist"`` / ``"fashion-mnist"`` (the bundled test split).
        out: the cache root the replicas read (their ``CNNVIZ_CACHE``).
        limit: at most this many images of a folder (the Maximal page's default is 2000: the same
            number gives the same index key, so the page finds it).
        layers: layer names; default the page's (every spatial conv layer; for features the layer the
            classifier reads).
        k: examples kept per channel and direction (the page uses the library default).
        batch_size: images per forward pass (the page uses 256 for inputs up to 64 px, else 16).
        shard_batches: batches per shard (the unit of resuming and of work per rank).
        pooling: features only, see :func:`cnnviz.methods.embeddings.pool_features`.
    """

    topic: str
    model: str
    data: str
    out: str
    limit: int = 2000
    layers: list[str] | None = None
    k: int = 0
    batch_size: int = 0
    shard_batches: int = 4
    pooling: str = "auto"
    device: str | None = None
    log: list[str] = field(default_factory=list)


def _open(job: Job):
    """The model, image set and layer list of ``job`` (in the calling process)."""
    from cnnviz.core.model import load_model
    from cnnviz.methods import maximal as mx

    model = load_model(job.model, device=job.device)
    if job.data in ("mnist", "fashion-mnist"):
        images = mx.bundled_images(job.data)
    else:
        images = mx.FolderImageSet(job.data, model, limit=job.limit)
    if job.topic == "index":
        layers = job.layers or mx.index_layers(model)[0]
    else:
        from cnnviz.methods.embeddings import penultimate_layer

        layers = job.layers or [penultimate_layer(model)]
    return model, images, list(layers)


def _batch_size(job: Job, model) -> int:
    return job.batch_size or (256 if model.input_size[1] <= 64 else 16)


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, meta: dict) -> None:
    """Write a safetensors file so that readers see the old file or the whole new one, never a part."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    save_file({n: t.contiguous() for n, t in tensors.items()}, str(tmp), metadata={"meta": json.dumps(meta)})
    os.replace(tmp, path)


# --------------------------------------------------------------------------- exact top-k merge
def merge_topk(values: torch.Tensor, where: torch.Tensor, k: int, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the ``k`` entries first in the order (value, then ``where`` ascending): a total order, so
    merging shards in any grouping gives the same result.

    Args:
        values: ``[C, M]`` candidate values.
        where: ``[C, M]`` int64 ``image * H * W + y * W + x`` (distinct within a row).
        largest: descending values (top) or ascending (bottom).

    Examples::

        >>> merge_topk(torch.tensor([[1., 3., 3.]]), torch.tensor([[0, 9, 4]]), 2, True)
        (tensor([[3., 3.]]), tensor([[4, 9]]))
    """
    by_where = where.argsort(dim=1, stable=True)
    v, w = values.gather(1, by_where), where.gather(1, by_where)
    by_value = v.argsort(dim=1, descending=largest, stable=True)[:, :k]
    return v.gather(1, by_value), w.gather(1, by_value)


PARTS = ("top_values", "top_where", "bottom_values", "bottom_where")


def _index_shard(model, images, layers: Sequence[str], k: int, start: int, stop: int, batch: int) -> dict:
    """The top-/bottom-``k`` of images ``start..stop-1`` per channel, as ``{"i.part": tensor}`` on the CPU."""
    from cnnviz.core.capture import capture
    from cnnviz.methods.maximal import images_to_batch

    wanted = set(layers)
    best: dict[str, list[torch.Tensor]] = {}
    shapes: dict[str, list[int]] = {}
    offset = [start]

    def record(name: str, out: torch.Tensor) -> None:
        if name not in wanted:  # 'name#2' is a shared module's second call: not the one asked for
            return
        if out.ndim != 4:
            raise PrecomputeError(f"layer {name} gives outputs of shape {tuple(out.shape)}; only [N,C,H,W] maps "
                                  "can be indexed. Pick convolutional layers (--layers)")
        b, c, h, w = out.shape
        shapes[name] = [c, h, w]
        flat = out.detach().float().reshape(b, c, h * w)
        base = (torch.arange(b, device=flat.device) + offset[0]).view(b, 1) * (h * w)
        merged = []
        for j, (v, i) in enumerate((flat.max(dim=2), flat.min(dim=2))):  # first position of the extreme
            cand_v, cand_w = v.t(), (base + i).t()  # [C, B]
            if name in best:
                cand_v = torch.cat([best[name][2 * j], cand_v], dim=1)
                cand_w = torch.cat([best[name][2 * j + 1], cand_w], dim=1)
            merged += merge_topk(cand_v, cand_w, k, largest=j == 0)
        best[name] = merged

    for s in range(start, stop, batch):
        e = min(stop, s + batch)
        offset[0] = s
        capture(model.module, images_to_batch(model, images.arrays(s, e)), list(layers), on_output=record)
    missing = [n for n in layers if n not in best]
    if missing:
        raise PrecomputeError(f"layer(s) {missing} were not called in the forward pass of {model.name}; "
                              "pick layers on the main path")
    tensors = {f"{i}.{p}": t.cpu() for i, n in enumerate(layers) for p, t in zip(PARTS, best[n], strict=True)}
    return {"tensors": tensors, "shapes": shapes}


def _merge_index(parts: Sequence[dict[str, torch.Tensor]], n_layers: int, k: int) -> dict[str, torch.Tensor]:
    out = {}
    for i in range(n_layers):
        for j, largest in ((0, True), (1, False)):
            v = torch.cat([p[f"{i}.{PARTS[2 * j]}"] for p in parts], dim=1)
            w = torch.cat([p[f"{i}.{PARTS[2 * j + 1]}"] for p in parts], dim=1)
            out[f"{i}.{PARTS[2 * j]}"], out[f"{i}.{PARTS[2 * j + 1]}"] = merge_topk(v, w, k, largest)
    return out


def _features_shard(model, images, layers: Sequence[str], pooling: str, start: int, stop: int, batch: int) -> dict:
    from cnnviz.methods.embeddings import extract_layers

    feats = extract_layers(model, images.arrays(start, stop), layers, pooling, batch)
    tensors = {f"{i}.values": feats[n].values.cpu() for i, n in enumerate(layers)}
    tensors["predictions"] = feats[layers[0]].predictions.cpu()
    return {"tensors": tensors, "shapes": {n: list(feats[n].layer_shape) for n in layers},
            "pooling": {n: feats[n].pooling for n in layers}}


# --------------------------------------------------------------------------- keys and paths
def features_key(model, images, layers: Sequence[str], pooling: str) -> str:
    """The identity of a features file: model, weights digest, image set, layers and pooling."""
    from cnnviz.methods.maximal import weights_digest

    raw = json.dumps([FEATURES_VERSION, model.key, weights_digest(model), images.key, list(layers), pooling])
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def _target(job: Job, model, images, layers: list[str], k: int) -> tuple[Path, str]:
    from cnnviz.methods import maximal as mx

    if job.topic == "index":
        return Path(job.out) / "maximal", mx.cache_key(model, images, layers, k)
    return Path(job.out) / "features", features_key(model, images, layers, job.pooling)


# --------------------------------------------------------------------------- the job, on one rank
def _print_progress(fraction: float, text: str) -> None:
    """The command line's :data:`Progress`: one line per shard on stderr."""
    print(f"[{fraction:4.0%}] {text}", file=sys.stderr, flush=True)


def run_rank(job: Job, rank: int = 0, world: int = 1, progress: Progress | None = None,
             stop: StopFlag = None) -> Path | None:
    """Run ``job``'s shards ``rank, rank + world, ...``; rank 0 merges and returns the final file's path.

    With ``world > 1`` the default process group must be initialised (gloo or NCCL); the ranks'
    results meet in ``all_gather_object`` (index) or in the shard files (features).

    Returns:
        The merged file on rank 0 once every shard is done; None on other ranks, or when ``stop``
        interrupted the job (the finished shards stay for the next run).
    """
    from cnnviz.methods.maximal import DEFAULT_K

    model, images, layers = _open(job)
    k, batch = job.k or DEFAULT_K, _batch_size(job, model)
    folder, key = _target(job, model, images, layers, k)
    n = len(images)
    step = batch * max(1, job.shard_batches)
    shards = [(s, min(n, s + step)) for s in range(0, n, step)]
    parts_dir = folder / f"{key}.b{batch}.parts"
    mine = shards[rank::world]
    t0, done_here = time.perf_counter(), 0
    halted = False
    for i, (s, e) in enumerate(mine):
        path = parts_dir / f"shard-{s:09d}-{e:09d}.safetensors"
        if read_cache(path) is not None:
            report(progress, (i + 1) / len(mine),
                   f"[rank {rank}] shard {i + 1}/{len(mine)} (images {s}..{e - 1}) kept (already on disk)")
            continue
        if stopped(stop):
            halted = True
            break
        if job.topic == "index":
            r = _index_shard(model, images, layers, k, s, e, batch)
        else:
            r = _features_shard(model, images, layers, job.pooling, s, e, batch)
        _atomic_save(r["tensors"], path, {k_: v for k_, v in r.items() if k_ != "tensors"} | {"start": s, "stop": e})
        done_here += e - s
        rate = done_here / max(time.perf_counter() - t0, 1e-9)
        report(progress, (i + 1) / len(mine),
               f"[rank {rank}] shard {i + 1}/{len(mine)} (images {s}..{e - 1}) done, {rate:,.0f} images/s")
    if world > 1:
        import torch.distributed as dist

        flags = [None] * world
        dist.all_gather_object(flags, halted)
        halted = any(flags)
    if halted:
        return None
    if job.topic == "index":
        local = [read_cache(parts_dir / f"shard-{s:09d}-{e:09d}.safetensors") for s, e in mine]
        shapes = {n_: tuple(v) for r in local for n_, v in r[1]["shapes"].items()}
        mine_merged = _merge_index([r[0] for r in local], len(layers), k) if local else None
        if world > 1:
            import torch.distributed as dist

            gathered = [None] * world
            dist.all_gather_object(gathered, (mine_merged, shapes))
        else:
            gathered = [(mine_merged, shapes)]
        if rank != 0:
            return None
        shapes = {n_: s_ for _, sh in gathered for n_, s_ in sh.items()}
        merged = _merge_index([g[0] for g in gathered if g[0] is not None], len(layers), k)
        return _write_index(folder, key, model, images, layers, shapes, merged, k, n, time.perf_counter() - t0)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # every shard is on disk before rank 0 concatenates them
    if rank != 0:
        return None
    return _write_features(folder, key, model, images, layers, job.pooling,
                           [parts_dir / f"shard-{s:09d}-{e:09d}.safetensors" for s, e in shards])


def _write_index(folder: Path, key: str, model, images, layers, shapes, merged, k: int, n: int, seconds: float) -> Path:
    """Save the merged index through maximal's own writer (one format), then check it is readable."""
    from cnnviz.methods import maximal as mx

    idx = mx.MaximalIndex(model.key, images.key, list(layers), {nm: tuple(shapes[nm]) for nm in layers}, k, n,
                          *({nm: merged[f"{i}.{p}"] for i, nm in enumerate(layers)} for p in PARTS),
                          seconds=seconds)
    mx.save_index(folder, key, idx)  # temp file + replace: replicas reading the old one are not disturbed
    if mx.load_index(folder, key) is None:
        raise PrecomputeError(f"could not write the index to {folder}; give an --out folder you can write to")
    return folder / f"{key}.safetensors"


def _write_features(folder: Path, key: str, model, images, layers, pooling: str, paths: Sequence[Path]) -> Path:
    read = [read_cache(p) for p in paths]
    if any(r is None for r in read):
        raise PrecomputeError(f"some feature shards under {paths[0].parent} are missing; run the same command again")
    tensors = {f"{i}.values": torch.cat([r[0][f"{i}.values"] for r in read]) for i in range(len(layers))}
    tensors["predictions"] = torch.cat([r[0]["predictions"] for r in read])
    meta = {"model_key": model.key, "dataset_key": images.key, "layers": list(layers), "pooling": pooling,
            "how": read[0][1]["pooling"], "shapes": read[0][1]["shapes"], "n_images": len(images),
            "version": FEATURES_VERSION}
    path = folder / f"{key}.safetensors"
    _atomic_save(tensors, path, meta)
    return path


def load_features(out: str | Path, model, images, layers: Sequence[str], pooling: str = "auto"):
    """Precomputed features of ``layers`` (``{layer: Features}`` on the model's device), or None if absent.

    Examples::

        >>> fs = load_features("/srv/cnnviz-cache", m, bundled_images("mnist"), ["classifier.4"])
    """
    from cnnviz.methods.embeddings import Features

    got = read_cache(Path(out) / "features" / f"{features_key(model, images, layers, pooling)}.safetensors")
    if got is None:
        return None
    t, meta = got
    pred = t["predictions"].to(model.device)
    return {n: Features(n, meta["how"][n], t[f"{i}.values"].to(model.device), pred, tuple(meta["shapes"][n]))
            for i, n in enumerate(meta["layers"])}


# --------------------------------------------------------------------------- processes
def _spawned(rank: int, world: int, init_file: str, job: Job, threads: int) -> None:
    import torch.distributed as dist

    torch.set_num_threads(threads)
    if job.device is None and torch.cuda.is_available() and torch.cuda.device_count() >= world:
        job.device = f"cuda:{rank}"  # one GPU per rank
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        run_rank(job, rank, world, progress=_print_progress)
    finally:
        dist.destroy_process_group()


def precompute(job: Job, workers: int = 1, progress: Progress | None = None, stop: StopFlag = None) -> Path | None:
    """Run ``job`` on ``workers`` processes (torch.distributed, gloo) and return the merged file.

    One worker runs in this process (``progress`` and ``stop`` apply); more are spawned with
    ``torch.multiprocessing`` and share the cores (``cores // workers`` threads each).

    Examples::

        >>> precompute(Job("index", "lenet5-mnist", "mnist", "/tmp/cache"), workers=2).name
        '5f0c...safetensors'
    """
    if job.topic not in TOPICS:
        raise PrecomputeError(f"unknown topic {job.topic!r}; choose one of {TOPICS}")
    if workers < 1:
        raise PrecomputeError(f"--workers must be at least 1, got {workers}")
    if workers == 1:
        return run_rank(job, 0, 1, progress, stop)
    import torch.multiprocessing as tmp

    from cnnviz.core.device import available_cores

    threads = max(1, available_cores() // workers)
    if sys.platform.startswith("linux"):  # spawned ranks are all on this machine: talk over loopback
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    with tempfile.TemporaryDirectory(prefix="cnnviz-precompute-") as d:
        tmp.spawn(_spawned, args=(workers, str(Path(d) / "rendezvous"), job, threads), nprocs=workers, join=True)
    model, images, layers = _open(job)
    from cnnviz.methods.maximal import DEFAULT_K

    folder, key = _target(job, model, images, layers, job.k or DEFAULT_K)
    path = folder / f"{key}.safetensors"
    return path if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    """``cnnviz precompute index|features --model M --data FOLDER --out DIR [--workers K]``."""
    p = argparse.ArgumentParser(prog="cnnviz precompute", description=__doc__.split("\n\n")[0])
    p.add_argument("topic", choices=TOPICS)
    p.add_argument("--model", required=True, help="bundled or zoo model name, e.g. lenet5-mnist, resnet18")
    p.add_argument("--data", required=True, help="an image folder, or mnist / fashion-mnist (bundled test split)")
    p.add_argument("--out", default=str(cache_dir()), help="cache root the replicas read as CNNVIZ_CACHE "
                   "(default: this machine's cache, %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="processes (torch.distributed, gloo); 1 = this process")
    p.add_argument("--limit", type=int, default=2000, help="at most this many images of a folder (page default 2000)")
    p.add_argument("--layers", default="", help="comma-separated layer names (default: the page's)")
    p.add_argument("--batch-size", type=int, default=0, help="images per forward pass (default: the page's)")
    p.add_argument("--shard-batches", type=int, default=4, help="batches per shard (the unit of resuming)")
    p.add_argument("--pooling", default="auto", help="features: auto, avg, flatten, avg2x2 ...")
    a = p.parse_args(argv)
    job = Job(a.topic, a.model, a.data, a.out, a.limit, [s for s in a.layers.split(",") if s] or None,
              batch_size=a.batch_size, shard_batches=a.shard_batches, pooling=a.pooling)
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # started by torchrun: this process is one rank
        import torch.distributed as dist

        dist.init_process_group("gloo")
        try:
            path = run_rank(job, dist.get_rank(), dist.get_world_size(),
                            progress=_print_progress)
        finally:
            dist.destroy_process_group()
    else:
        try:
            path = precompute(job, a.workers, progress=_print_progress)
        except CnnvizError as e:
            print(f"cnnviz precompute: {e}", file=sys.stderr)
            return 2
    if path is not None:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
