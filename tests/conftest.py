import os
import sys
import threading
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CNNVIZ_DEVICE", "cpu") if not torch.cuda.is_available() else None

import cnnviz  # noqa: E402
from cnnviz.core.paths import APP_SCRIPT  # noqa: E402, F401 (re-exported to the tests)
from cnnviz.core.paths import SAMPLES_DIR as SAMPLES  # noqa: E402, F401 (re-exported to the tests)


def _apptest_as_a_running_server() -> None:
    """AppTest recomputes Streamlit's v1 multipage flag before every run, and a ``pages/`` folder beside
    ``app.py`` sets it, so every AppTest run would go through the v1 lookup that a real server leaves
    after its first request (``cnnviz.ui.page.legacy_lookup``). Tests run the app as a server does from
    then on; the first request of a fresh server is tested in the browser (tests/browser/test_deep_links)."""
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def __init__(self, *a, **kw):
        init(self, *a, **kw)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = __init__


_apptest_as_a_running_server()


@pytest.fixture(scope="session")
def lenet():
    return cnnviz.load_model("lenet5-mnist")


@pytest.fixture(scope="session")
def small_vgg():
    return cnnviz.load_model("small-vgg-fashion")


@pytest.fixture(scope="session")
def resnet18_untrained():
    return cnnviz.load_model("resnet18", untrained=True)


def run_in_threads(work, n: int = 8) -> list[BaseException]:
    """Call ``work(i)`` for i in 0..n-1, each in its own thread, all at once; the exceptions raised."""
    errors: list[BaseException] = []

    def guarded(i):
        try:
            work(i)
        except BaseException as e:  # noqa: BLE001 - returned to the test
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """One wheel of the checkout for the whole run (the packaging checks and the served-from-the-wheel check)."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def build_wheel(out_dir: Path) -> Path:
    """``pip wheel`` of a copy of the checkout (an in-tree build would leave build/ behind): the wheel's path."""
    import shutil
    import subprocess

    src = out_dir / "src"
    skip = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "test-artifacts", "__pycache__",
                                  ".cache", ".pytest_cache", "_bundle")
    shutil.copytree(ROOT, src, ignore=skip)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                        "-w", str(out_dir / "dist"), "-q"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return next((out_dir / "dist").glob("cnnviz-*.whl"))
