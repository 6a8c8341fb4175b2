"""The plain pip route of the README, without make: a copy of the repository's tracked files is installed with pip alone
(``pip install -c constraints.txt -e ".[lab]"``) into a fresh virtual environment, and a notebook runs there.

Offline and quick: the new environment sees the packages of the environment running the tests (as
``--system-site-packages`` would show a system's), pip runs with ``--no-index`` (so it must find every requirement
already installed, and never downloads anything, let alone a CUDA torch), and only melab itself is installed. The
copy holds only the files git tracks, as a fresh clone would, so an untracked file the notebooks need would fail here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "02_scan_order.ipynb"  # the fastest notebook that uses torch, the scan and the exercise checkers

pytestmark = pytest.mark.slow


def _tracked_copy(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def pip_env(tmp_path_factory):
    """(python of a fresh venv with melab pip-installed from a tracked-files copy, the copy)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs the git checkout to list the tracked files")
    root = tmp_path_factory.mktemp("pip_route")
    clone = _tracked_copy(root / "melab")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])  # pip (and a recent setuptools) come from below
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(purelib, "_tests_parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(python), "-m", "pip", "install", "--no-index", "--no-build-isolation", "-c", "constraints.txt", "-e",
          ".[lab]"], cwd=clone)
    return python, clone


def _execute(python: Path, notebook: Path, out_dir: Path) -> dict:
    _run([str(python), "-m", "nbconvert", "--to", "notebook", "--execute", "--output-dir", str(out_dir),
          "--ExecutePreprocessor.timeout=600", str(notebook)], env={**os.environ, "TQDM_DISABLE": "1"})
    return json.loads((out_dir / notebook.name).read_text())


def test_pip_installs_melab_and_a_notebook_runs_in_the_new_environment(pip_env, tmp_path):
    python, clone = pip_env
    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, melab\nprint(sys.prefix)\nprint(melab.__file__)\nprint(melab.ARTEFACTS)")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(probe, tmp_path / "probe.ipynb")
    printed = _execute(python, tmp_path / "probe.ipynb", tmp_path / "out")["cells"][0]["outputs"][0]["text"]
    prefix, module, data = "".join(printed).split()
    assert Path(prefix) == python.parents[1]  # the kernel runs in the new environment
    assert Path(module).is_relative_to(clone) and Path(data) == clone / "data"  # melab and data/ from the copy

    executed = _execute(python, clone / "notebooks" / NOTEBOOK, tmp_path / "out")
    outputs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    checks = [line for o in outputs if o["output_type"] == "stream" for line in "".join(o["text"]).splitlines()
              if line.startswith(("correct:", "not answered yet:", "not quite:"))]
    assert checks and not [line for line in checks if line.startswith("not quite:")]
