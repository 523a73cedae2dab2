"""Packaging glue: a wheel carries the top-level ``app.py``, ``pages/`` and ``assets/`` inside the package.

The repository keeps the layout a Streamlit app is deployed from (``app.py``, ``pages/``, ``assets/`` at the
top, beside ``cnnviz/``). ``pip install .`` builds a wheel in which the three are copied to
``cnnviz/_bundle/``, where ``cnnviz.core.paths`` finds them; an editable install reads the checkout itself.
Everything else is declared in ``pyproject.toml``.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ["app.py", "pages", "assets"]


class BuildPyWithBundle(build_py):
    """``build_py`` that also copies the app's entry, pages and assets into ``cnnviz/_bundle``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's own files
        target = Path(self.build_lib) / "cnnviz" / "_bundle"
        for name in BUNDLED:
            src, dst = HERE / name, target / name
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildPyWithBundle})
