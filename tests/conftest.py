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


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 3-s synthetic face MP4 at 30 fps with its true landmarks as .npy (no MediaPipe needed)."""
    import numpy as np

    from melab.data.synthetic import generate_video
    from melab.data.video import write_video

    folder = tmp_path_factory.mktemp("clip")
    video = generate_video(1, 0, 0, duration_s=3.0, n_me=0, n_mae=0)
    path = write_video(video.frames, folder / "clip.mp4", video.fps)
    np.save(folder / "clip.npy", video.landmarks)
    return dict(video=path, landmarks=folder / "clip.npy", frames=video.frames, truth=video.landmarks,
                fps=video.fps)
