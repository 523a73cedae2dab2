"""The installable package: every data file is declared as package data, and the `cnnviz` command answers."""
import fnmatch
import subprocess
import sys
import tomllib
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "cnnviz"


def test_every_data_file_ships_in_the_wheel():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = conf["tool"]["setuptools"]["package-data"]["cnnviz"]
    data = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            and (p.suffix != ".py" or not (p.parent / "__init__.py").exists())]
    missing = [f for f in data if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)]
    assert missing == [], f"files an installed package would lack (add them to package-data): {missing}"
    assert any(f.startswith("assets/models/") for f in data) and "ui/app_pages/home.py" in data


def test_cnnviz_command_lists_its_subcommands():
    out = subprocess.run([sys.executable, "-m", "cnnviz", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for cmd in ("run", "bench", "train"):
        assert f"  {cmd}" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "cnnviz", "frobnicate"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown command 'frobnicate'" in bad.stderr


def test_assets_are_found_from_the_package_not_the_checkout():
    from cnnviz.core import paths

    assert paths.ASSETS == Path(paths.__file__).resolve().parents[1] / "assets"
    assert (paths.MODELS_DIR / "lenet5-mnist.safetensors").is_file() and paths.APP_SCRIPT.is_file()
    assert not (paths.APP_SCRIPT.parent / "pages").exists(), "a pages/ folder beside the entry: legacy multipage mode"
