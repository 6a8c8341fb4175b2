"""The shape of the package: no import circle, inference apart from training, and lean start-up imports.

melab's modules are read with ``ast`` (every ``import`` and ``from ... import``, also inside functions, since a
lazy import is still a dependency) into a directed graph of module -> imported module; an import circle is a
strongly connected component of more than one module. What a command really loads is checked in a fresh
interpreter, in ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

REPO = Path(__file__).resolve().parents[1]


def import_graph(root: Path, package: str = "melab") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports, read from the sources under ``root / package``.

    ``from a.b import c`` points at ``a.b.c`` when that is a module, else at ``a.b``; a module's own parent
    packages, which Python imports first anyway, count only when a name is taken from them.
    """
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package that holds this module
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            else:
                continue
            for target in targets:
                target = known(target) if target.split(".")[0] == package else None
                if target is not None and target != name:
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted."""
    names = sorted(graph)
    index = {n: i for i, n in enumerate(names)}
    rows, cols = zip(*[(index[a], index[b]) for a in names for b in graph[a]], strict=True)
    adjacency = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(names), len(names)))
    _, label = connected_components(adjacency, directed=True, connection="strong")
    groups = [[n for n, g in zip(names, label, strict=True) if g == k] for k in np.unique(label)]
    return [g for g in groups if len(g) > 1]


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module that ``start`` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for other in graph[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    return seen


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(REPO)


def test_melab_has_no_import_circle(graph):
    assert len(graph) > 40 and "melab.data.synthetic.corpus" in graph["melab.data.synthetic"]
    assert circles(graph) == []


def test_the_guard_finds_a_circle_through_a_lazy_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg.sub.b import B\n")
    (package / "a.py").write_text("import os\nfrom pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("B = 1\n\ndef later():\n    from ..c import C\n")
    (package / "c.py").write_text("from pkg import a\nC = 2\n")
    found = import_graph(tmp_path, "pkg")
    assert found["pkg.a"] == {"pkg.sub.b"} and found["pkg.sub.b"] == {"pkg.c"}
    assert circles(found) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_inference_imports_nothing_from_train(graph):
    assert not {m for m in reachable(graph, "melab.inference") if m.startswith("melab.train")}
    assert not {m for m in reachable(graph, "melab.spot") if m.startswith("melab.train")}


def _loaded_after(code: str) -> dict[str, bool]:
    """Which of ray, matplotlib and melab.train a fresh interpreter has loaded after running ``code``."""
    probe = code + ("\nimport json, sys\nprint(json.dumps({m: m in sys.modules for m in "
                    "('ray', 'matplotlib', 'melab.train', 'melab.reproduce')}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


NOTHING = {"ray": False, "matplotlib": False, "melab.train": False, "melab.reproduce": False}


def test_the_plots_are_names_of_melab_viz_imported_when_used():
    import importlib

    from melab import viz

    for topic, names in viz._TOPICS.items():
        module = importlib.import_module(f"melab.viz.{topic}")
        assert tuple(module.__all__) == names, topic
        for name in names:
            assert getattr(viz, name) is getattr(importlib.import_module(f"melab.viz.{viz._WHERE[name]}"), name)
    assert viz.plot_windows is viz.train.plot_windows  # a shared name is the later topic's, as `import *` gave it


@pytest.mark.parametrize("code", [
    "import melab.viz.spot",
    "import melab.cli",
    "import contextlib, io, melab.cli\nwith contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):"
    "\n    melab.cli.main(['--help'])",
    "import contextlib, io, melab.cli\nwith contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):"
    "\n    melab.cli.main(['spot', '--help'])",
    "import melab.spot",
    "import melab.inference",
])
def test_start_up_loads_no_ray_no_matplotlib_no_training_code(code):
    assert _loaded_after(code) == {**NOTHING, "matplotlib": "viz" in code}


def test_a_whole_spot_run_loads_no_ray_no_matplotlib_no_training_code(tmp_path):
    """``melab spot`` end to end, with given landmarks (MediaPipe's own package imports matplotlib); with ``--plot``
    matplotlib, and still no training code."""
    from melab.data.synthetic import generate_video
    from melab.data.video import write_video

    clip = generate_video(1, 0, 0, duration_s=3.0, n_me=1, n_mae=0)
    write_video(clip.frames, tmp_path / "clip.mp4", clip.fps)
    np.save(tmp_path / "clip.npy", clip.landmarks)
    command = ["spot", str(tmp_path / "clip.mp4"), "--out", str(tmp_path / "spots.csv"), "--landmarks",
               str(tmp_path / "clip.npy")]
    assert _loaded_after(f"import melab.cli\nassert melab.cli.main({command!r}) == 0") == NOTHING
    assert (tmp_path / "spots.csv").read_text().startswith("video,onset,offset,emotion,score")
    command += ["--plot", str(tmp_path / "p.png")]
    plotted = _loaded_after(f"import melab.cli\nassert melab.cli.main({command!r}) == 0")
    assert plotted == {**NOTHING, "matplotlib": True} and (tmp_path / "p.png").stat().st_size > 0
