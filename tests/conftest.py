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
from cnnviz.core.paths import APP_SCRIPT, SAMPLES_DIR as SAMPLES  # noqa: E402, F401 (re-exported to the tests)



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
