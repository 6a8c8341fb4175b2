"""Shared fixtures: every test works on synthetic data generated into a temporary cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def melab_data(tmp_path_factory) -> Path:
    """A private ``MELAB_DATA`` root for the test session, so tests never touch the user's cache."""
    root = tmp_path_factory.mktemp("melab_data")
    old = os.environ.get("MELAB_DATA")
    os.environ["MELAB_DATA"] = str(root)
    yield root
    if old is None:
        os.environ.pop("MELAB_DATA", None)
    else:
        os.environ["MELAB_DATA"] = old


@pytest.fixture(scope="session")
def tiny_corpus(melab_data) -> Path:
    """The ``tiny`` synthetic corpus (3 subjects, 6 videos), generated once per session."""
    from melab.data.synthetic import make_corpus

    return make_corpus("tiny", seed=0, root=melab_data, progress=False)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module: tiny models train as fast on one, and far faster when the machine is busy."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
