"""The conda environment and pyproject name the same packages; the CLI answers --help."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(s) for s in project["dependencies"] + project["optional-dependencies"]["lab"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda, pip = set(), set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip |= {_name(s) for s in dep["pip"] if not s.startswith("-e")}
        else:
            conda.add(_name(dep))
    conda -= {"python", "pip"}
    assert conda | pip == wanted
    assert any(s.startswith("-e .[lab]") for d in env["dependencies"] if isinstance(d, dict) for s in d["pip"])


def test_exactly_one_opencv_package():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [_name(s) for s in project["dependencies"]]
    assert [n for n in names if "opencv" in n] == ["opencv-contrib-python-headless"]


@pytest.mark.parametrize("args", [[], ["synth"], ["demo"], ["flow"], ["train"], ["spot"], ["evaluate"],
                                  ["data", "check"]])
def test_cli_help(args):
    out = subprocess.run([sys.executable, "-m", "melab", *args, "--help"], capture_output=True, text=True,
                         check=True)
    assert "usage:" in out.stdout
