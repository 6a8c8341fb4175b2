"""The student release, built as ``make student`` builds it (nbconvert with ``notebooks/student_config.py``): no
solution cell, no output, no line of a solution and no value a solution prints survives in it; no cell of it needs a
name that only a solution cell defines; and it runs top to bottom unanswered, every checker printing its hint."""

from __future__ import annotations

import ast
import builtins
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from melab import scan

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXECUTED = ("02_scan_order", "05_dgcm_confusion")  # the two fastest; the static check below covers the others
# Answers that are not numbers, written as a student would write them down
ANSWER_TOKENS = {
    "00_synthetic_data": ["AU10"],
    "01_flow_extraction": ["mouth_corner_l"],
    "02_scan_order": [", ".join(map(str, scan.scan_order(4, 3, "v_zigzag").tolist())), "42/48"],
    "04_interval_decoding": ["8/14", "4/7"],
    "05_dgcm_confusion": ["('anger', 'fear')", '("anger", "fear")', "anger → fear", "anger -> fear"],
}


def source(cell: dict) -> str:
    return "".join(cell["source"])


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    subprocess.run([sys.executable, "-m", "nbconvert", "--config", str(REPO / "notebooks" / "student_config.py"),
                    "--output-dir", str(out), *map(str, NOTEBOOKS)], check=True, capture_output=True)
    return out


def _significant(token: str) -> int:
    return len(token.lstrip("+-").replace(".", "").lstrip("0"))


def _printed_values(text: str) -> set[str]:
    """Decimal numbers a solution printed (two significant digits or more), as printed and rounded to two."""
    values = set()
    for token in re.findall(r"\d+\.\d+", text):
        if _significant(token) >= 2:
            values.add(token)
            rounded = f"{float(token):.2g}"
            if "." in rounded and _significant(rounded) >= 2:
                values.add(rounded)
    return values


def test_release_has_every_notebook_and_nothing_of_the_solutions(release):
    assert sorted(p.name for p in release.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        instructor = json.loads(path.read_text())
        student_text = (release / path.name).read_text()
        student = json.loads(student_text)
        assert not [c for c in student["cells"] if "solution" in tags(c)]
        assert not [c for c in student["cells"] if c["cell_type"] == "code" and c["outputs"]]
        assert len(student["cells"]) == len(instructor["cells"]) - sum("solution" in tags(c) for c in
                                                                      instructor["cells"])
        assert len(student_text) < 60_000, "widget state or outputs survived"
        shared = "\n".join(source(c) for c in instructor["cells"] if "solution" not in tags(c))  # the stubs too
        forbidden = set(ANSWER_TOKENS.get(path.stem, []))
        for cell in (c for c in instructor["cells"] if "solution" in tags(c)):
            forbidden |= {line.strip() for line in source(cell).splitlines()
                          if len(line.strip()) > 20 and line.strip() not in shared and not line.startswith("# NBVAL")}
            if "NBVAL_IGNORE_OUTPUT" not in source(cell):  # a timing on the instructor's machine is no answer
                printed = "".join("".join(o.get("text", "")) for o in cell["outputs"])
                forbidden |= _printed_values(printed)
        leaks = sorted(value for value in forbidden
                       if re.search(r"(?<![\d.])" + re.escape(json.dumps(value)[1:-1]) + r"(?!\d)", student_text))
        assert leaks == [], (path.name, leaks)


def _names(code: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it reads) at any depth, so a name bound only inside a solution shows."""
    tree = ast.parse(code)
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else read).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound, read


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_of_the_release_needs_a_solution_cell(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    solution_bound, other_bound, other_read = set(), set(), set()
    for cell in cells:
        bound, read = _names(source(cell))
        if "solution" in tags(cell):
            solution_bound |= bound
        else:
            other_bound |= bound
            other_read |= read
    only_in_solutions = solution_bound - other_bound - set(dir(builtins))
    assert not (only_in_solutions & other_read), sorted(only_in_solutions & other_read)


@pytest.mark.parametrize("name", EXECUTED)
def test_release_runs_unanswered(release, name):
    nb = nbformat.read(release / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(release)}}).execute()
    checked = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o.output_type == "error"], source(cell)[:80]
        if "exercises.check_" in source(cell):
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert text.startswith("not answered yet: "), (source(cell)[:80], text)
            checked += 1
    assert checked >= 2
