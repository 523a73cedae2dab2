"""The repository layout and the installable package: app.py, pages/ and assets/ at the top, carried by the
wheel inside the package; the `cnnviz` command answers."""
import subprocess
import sys
import zipfile

from .conftest import ROOT


def test_the_top_level_is_the_layout_a_streamlit_app_is_deployed_from():
    for name in ("app.py", "pages", "cnnviz", "assets", "tests", "requirements.txt", "README.md"):
        assert (ROOT / name).exists(), name
    assert (ROOT / "requirements.txt").read_text().split("\n")[-2:] == [".", ""]  # installs pyproject's package
    # every page file is named after its URL path: a fresh server's first request looks it up by file name
    from cnnviz.ui.nav import PAGES

    for p in PAGES:
        assert p.exists and p.file == f"{p.url_path or 'home'}.py", p.file
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if ".egg-info/" in f or f.startswith(("build/", "dist/"))]


def test_paths_read_the_checkout_here():
    from cnnviz.core import paths

    assert paths.ROOT == ROOT and paths.APP_SCRIPT == ROOT / "app.py" and paths.PAGES_DIR == ROOT / "pages"
    assert (paths.MODELS_DIR / "lenet5-mnist.safetensors").is_file()


def test_every_bundled_file_ships_in_the_wheel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    want = ["app.py"] + [p.relative_to(ROOT).as_posix() for top in ("pages", "assets")
                         for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    missing = [f for f in want if f"cnnviz/_bundle/{f}" not in names]
    assert missing == [], f"files an installed package would lack: {missing[:10]}"
    assert "cnnviz/core/paths.py" in names and "cnnviz/ui/views/activations.py" in names


def test_an_unpacked_wheel_finds_its_files_in_the_package(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path)
    code = ("from cnnviz.core import paths; import cnnviz; print(paths.ROOT); print(paths.APP_SCRIPT.is_file(), "
            "(paths.MODELS_DIR / 'lenet5-mnist.safetensors').is_file(), "
            "(paths.PAGES_DIR / 'activations.py').is_file())")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    root, flags = r.stdout.split("\n")[:2]
    assert root == str(tmp_path / "cnnviz" / "_bundle") and flags == "True True True"


def test_cnnviz_command_lists_its_subcommands():
    out = subprocess.run([sys.executable, "-m", "cnnviz", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for cmd in ("run", "bench", "train"):
        assert f"  {cmd}" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "cnnviz", "frobnicate"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown command 'frobnicate'" in bad.stderr


def test_cnnviz_run_serves_with_the_checkouts_streamlit_settings():
    """`cnnviz run` from a wheel has no .streamlit/config.toml beside it: its flags carry the same settings, so a
    class served from an install behaves (and is as fast) as `streamlit run app.py` in the checkout."""
    import tomllib

    from cnnviz.appserver import app_command
    from cnnviz.cli import SERVER_FLAGS

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    from_config = {f"--{section}.{k}": str(v).lower() if isinstance(v, bool) else str(v)
                   for section, opts in config.items() for k, v in opts.items()}
    flags = dict(zip(SERVER_FLAGS[::2], SERVER_FLAGS[1::2], strict=True))
    assert flags == from_config
    # no full garbage collection after every script run (it cost 0.4-0.5 s of each slider step), in the
    # servers the tests and the benchmarks start too
    assert flags["--runner.postScriptGC"] == "false"
    cmd = app_command(8501)
    assert cmd[cmd.index("--runner.postScriptGC") + 1] == "false"
