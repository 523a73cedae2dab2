"""``cnnviz.show(module)``: serve the app on an in-memory model, from a notebook or a script.

The model reaches the server as an ONNX export in a private temporary folder, and the app runs in
a subprocess (``streamlit run``) that loads it the way an ONNX upload is loaded. Why a subprocess:
Streamlit's server owns an event loop, signal handlers and a process-wide runtime, which do not
belong inside a notebook kernel; a separate process also keeps a crash of either side from taking
down the other. Why ONNX: the server needs the architecture, not just a state_dict, and ONNX carries
it with no code and no pickle (the same path as a user's upload).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from cnnviz.appserver import free_port, wait_healthy
from cnnviz.core.model import ModelHandle, wrap
from cnnviz.core.paths import APP_SCRIPT
from cnnviz.errors import CnnvizError, foreign

SHOW_MODEL_ENV = "CNNVIZ_SHOW_MODEL"  # path of the ONNX file the app offers first (and opens on)
SHOW_META_ENV = "CNNVIZ_SHOW_META"  # path of its JSON: name, input_size, mean, std, classes


class ShowError(CnnvizError):
    """The model could not be exported, or the server did not start (the message says which)."""


@dataclass
class ShownApp:
    """A running app on your model: ``url``, and ``stop()`` to end it (also when the object is collected)."""

    url: str
    process: subprocess.Popen = field(repr=False)
    folder: tempfile.TemporaryDirectory = field(repr=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.folder.cleanup()

    def __str__(self) -> str:
        return self.url

    def _repr_html_(self) -> str:  # a link in Jupyter
        return f'<a href="{self.url}" target="_blank">cnnviz on your model: {self.url}</a>'


def export_onnx(m: ModelHandle, path: Path) -> None:
    """Write ``m.module`` as ONNX for a ``[1, *m.input_size]`` input (dynamic batch)."""
    x = torch.zeros(1, *m.input_size, device=m.device)
    # the exporter raises many types on a module it cannot follow (RuntimeError, TorchExportError, ...)
    with foreign(ShowError, "the module could not be exported to ONNX ({why}); use cnnviz.wrap(module, ...) and "
                 "the library API instead"):
        torch.onnx.export(m.module, (x,), str(path), input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)


def show(module: nn.Module | ModelHandle, input_size: Sequence[int] | None = None,
         classes: Sequence[str] | int | None = None, *, mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,),
         name: str | None = None, port: int | None = None, timeout: float = 120.0) -> ShownApp:
    """Serve the cnnviz app on ``module`` and return its URL (a :class:`ShownApp`; ``.stop()`` ends it).

    Args:
        module: an ``nn.Module`` (class scores out) or a handle from :func:`cnnviz.wrap`.
        input_size, classes, mean, std, name: as for :func:`cnnviz.wrap` (not needed for a handle).
        port: where to listen (loopback only; default a free port).
        timeout: seconds to wait for the server to answer.

    Examples::

        >>> app = cnnviz.show(my_net, (1, 28, 28), 10, mean=(0.1307,), std=(0.3081,))
        >>> app.url
        'http://127.0.0.1:8712'
    """
    m = module if isinstance(module, ModelHandle) else wrap(module, input_size, classes, mean=mean, std=std, name=name)
    folder = tempfile.TemporaryDirectory(prefix="cnnviz-show-")
    onnx_path = Path(folder.name) / f"{(name or m.name).replace('/', '_')}.onnx"
    export_onnx(m, onnx_path)
    meta = Path(folder.name) / "meta.json"
    meta.write_text(json.dumps({"name": name or m.name, "input_size": list(m.input_size), "mean": list(m.mean),
                                "std": list(m.std), "classes": list(m.classes)}))
    port = port or free_port()
    env = dict(os.environ, **{SHOW_MODEL_ENV: str(onnx_path), SHOW_META_ENV: str(meta)})
    log = open(Path(folder.name) / "server.log", "w")
    from cnnviz.cli import SERVER_FLAGS

    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT), "--server.port", str(port),
                             "--server.address", "127.0.0.1", *SERVER_FLAGS], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if wait_healthy(url, timeout, proc):
        return ShownApp(url, proc, folder)
    proc.kill()
    text = (Path(folder.name) / "server.log").read_text()[-800:]
    folder.cleanup()
    raise ShowError(f"the app did not start within {timeout:.0f} s. Its log ends:\n{text}")


def shown_model_spec() -> dict | None:
    """The model handed to this server by :func:`show` (from the environment), or None."""
    path, meta = os.environ.get(SHOW_MODEL_ENV), os.environ.get(SHOW_META_ENV)
    if not path or not meta or not Path(path).is_file():
        return None
    return dict(json.loads(Path(meta).read_text()), path=path)
