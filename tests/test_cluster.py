"""LOSO on a real Ray cluster: a head and a worker node started with ``ray start`` on 127.0.0.1.

The scores must equal the local run's bit for bit, also when the worker running a fold is killed mid-fold
(Ray re-runs the task, and the fold resumes from its checkpoint). Every process the cluster starts is
killed by PID at the end, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'melab[cluster]' (make install does)")

from melab.cli import main  # noqa: E402
from melab.features import roi_corpus  # noqa: E402
from melab.train import (  # noqa: E402
    LocalExecutor,
    RayExecutor,
    SpotterTrainConfig,
    load_scores,
    loso,
    read_checkpoint,
    save_scores,
)

pytestmark = pytest.mark.cluster

EPOCHS = 6  # long enough that a fold can be killed between two checkpoints
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_members(sessions: set[int]) -> list[int]:
    """PIDs of every live (not zombie) process in one of ``sessions`` (``ray start`` and all it spawned)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z" and os.getsid(int(entry.name)) in sessions:
                    pids.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return pids


def _kill(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class Cluster:
    """A head (1 CPU) and a worker node (1 CPU) as separate ``ray start --block`` processes."""

    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        self.logs: list = []
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1",
                    # a busy machine starts the node's Python agents slowly; the raylet must not give up on them
                    "RAY_agent_register_timeout_ms": "300000",
                    "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                   os.environ.get("PYTHONPATH", "")])}

    def start(self, *args: str, name: str) -> None:
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--block", "--disable-usage-stats",
                  f"--temp-dir={self.root}"]
        self.logs.append(open(self.root / f"{name}.log", "w"))  # closed in stop()
        self.processes.append(subprocess.Popen([RAY, "start", *args, *common], env=self.env, stdout=self.logs[-1],
                                               stderr=subprocess.STDOUT, start_new_session=True))

    def wait_for_nodes(self, n: int, timeout: float = 180) -> None:
        ray.init(address=self.address, logging_level="ERROR")
        try:
            deadline = time.monotonic() + timeout
            while sum(node["Alive"] for node in ray.nodes()) < n:
                for p in self.processes:
                    if p.poll() is not None:
                        raise RuntimeError(f"`{' '.join(p.args[:3])}` exited with {p.returncode}; see {self.root}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the Ray cluster at {self.address} has not {n} nodes after {timeout} s")
                time.sleep(0.5)
        finally:
            ray.shutdown()

    def stop(self) -> None:
        """Kill every process of the cluster by PID: each ``ray start`` and every process of its session (its
        process group, and the raylet's workers, which get process groups of their own)."""
        sessions = {p.pid for p in self.processes}
        for p in self.processes:
            _kill(p.pid, signal.SIGTERM)
        for _ in range(3):
            for pid in _session_members(sessions):
                _kill(pid)
            time.sleep(0.2)
        for p in self.processes:
            p.wait(timeout=30)
        for log in self.logs:
            log.close()
        left = _session_members(sessions)
        shutil.rmtree(self.root, ignore_errors=True)
        assert not left, f"processes of the test cluster still alive: {left}"


@pytest.fixture(scope="module")
def cluster(monkeypatch_module):
    monkeypatch_module.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch_module.setenv("RAY_AUTH_MODE", "disabled")
    root = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit in 107 bytes
    c = Cluster(root)
    try:
        c.start("--head", f"--port={c.port}", "--include-dashboard=false", f"--dashboard-port={_free_port()}",
                name="head")
        c.start(f"--address={c.address}", name="worker")
        c.wait_for_nodes(2)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def local_run(tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    assert main(["train", "spotter", "--data", f"corpus:{tiny_corpus}", "--folds", "2", "--epochs", str(EPOCHS),
                 "--out", str(out), "--executor", "local", "--device", "cpu"]) == 0  # bit-identity is a CPU promise
    return out


def _same_scores(a: Path, b: Path) -> None:
    scores_a, k_a = load_scores(a)
    scores_b, k_b = load_scores(b)
    assert k_a == k_b and list(scores_a) == list(scores_b) and len(scores_a) > 0
    for video in scores_a:
        assert np.array_equal(scores_a[video].spot, scores_b[video].spot), video
        assert np.array_equal(scores_a[video].probs, scores_b[video].probs), video


def test_ray_cluster_run_is_bit_identical_to_local(cluster, local_run, tiny_corpus, tmp_path):
    code = main(["train", "spotter", "--data", f"corpus:{tiny_corpus}", "--folds", "2", "--epochs", str(EPOCHS),
                 "--out", str(tmp_path), "--executor", "ray", "--address", cluster.address, "--device", "cpu"])
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in local_run.iterdir())
    _same_scores(local_run / "scores.npz", tmp_path / "scores.npz")
    pd.testing.assert_frame_equal(pd.read_csv(local_run / "history.csv"), pd.read_csv(tmp_path / "history.csv"))


def _kill_mid_fold(checkpoints: Path, killed: dict, stop: threading.Event) -> None:
    """Wait for a fold's first checkpoint, then SIGKILL the Ray worker whose title names that fold."""
    while not stop.is_set():
        for ckpt in sorted(checkpoints.glob("fold_*.pt")):
            try:
                epoch = read_checkpoint(ckpt)["epoch"]
            except (OSError, RuntimeError, ValueError, EOFError):
                continue  # being replaced right now
            subject = ckpt.stem.removeprefix("fold_")
            if 1 <= epoch < EPOCHS:
                for entry in Path("/proc").iterdir():
                    try:
                        title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                    except (OSError, ValueError):
                        continue
                    if title == f"ray::melab fold {subject}":
                        _kill(int(entry.name))
                        killed.update(subject=subject, pid=int(entry.name), epoch=epoch)
                        return
        time.sleep(0.02)


def test_a_killed_worker_resumes_its_fold_bit_identically(cluster, local_run, tiny_corpus, tmp_path):
    roi = roi_corpus(tiny_corpus, progress=False)
    killed: dict = {}
    stop = threading.Event()
    killer = threading.Thread(target=_kill_mid_fold, args=(tmp_path, killed, stop), daemon=True)
    killer.start()
    try:
        result = loso(roi.series, roi.events, roi.videos, folds=2, train=SpotterTrainConfig(epochs=EPOCHS),
                      checkpoint_dir=tmp_path, progress=False,
                      executor=RayExecutor(address=cluster.address, cpus_per_fold=1, max_retries=2))
    finally:
        stop.set()
        killer.join()
    assert killed, "no fold was caught mid-training"
    # resumed, not restarted
    assert result.resumed_from[killed["subject"]] >= killed["epoch"], (killed, result.resumed_from)
    save_scores(tmp_path / "scores.npz", result)
    _same_scores(local_run / "scores.npz", tmp_path / "scores.npz")


def test_merba_folds_on_the_cluster_match_local(cluster, tmp_path):
    from melab.data.splits import SEVEN_CLASSES
    from melab.models.merba import MERbaConfig
    from melab.train import MERbaTrainConfig, loso_merba

    rng = np.random.default_rng(0)
    labels = np.array([SEVEN_CLASSES.index(e) for e in ["anger", "happiness", "surprise", "fear"] * 6])
    flows = rng.normal(0, 0.1, size=(len(labels), 3, 32, 32)).astype(np.float32)
    flows[:, 1, :16] += labels[:, None, None] / 3
    samples = pd.DataFrame({"subject": [f"s{i % 3}" for i in range(len(labels))], "label": labels})
    config = MERbaConfig.tiny(img_size=32, window=2, dim=8, patch_dim=4, heads=(1, 1, 1), head="dgcm")
    kw = dict(folds=2, config=config, train=MERbaTrainConfig(epochs=2, batch_size=8), progress=False)
    local, local_history = loso_merba(flows, samples, checkpoint_dir=tmp_path / "local",
                                      executor=LocalExecutor(threads=1), **kw)
    remote, remote_history = loso_merba(flows, samples, checkpoint_dir=tmp_path / "ray",
                                        executor=RayExecutor(address=cluster.address), **kw)
    pd.testing.assert_frame_equal(local, remote)
    pd.testing.assert_frame_equal(local_history, remote_history)


def test_a_failing_fold_on_ray_raises_its_own_error_with_the_fold_named(cluster, tmp_path):
    from melab.train import run_folds

    def fold(subject, *, checkpoint, progress, data):  # sent to the workers by value (it is not importable there)
        if subject == "S02":
            raise ValueError(f"no windows in {data}")
        return subject

    with pytest.raises(ValueError, match=r"^fold S02: no windows in corpus X$") as info:
        run_folds(fold, ["S01", "S02"], shared={"data": "corpus X"}, checkpoint_dir=tmp_path, progress=False,
                  executor=RayExecutor(address=cluster.address))
    assert "Traceback" not in str(info.value)  # Ray's wrapper (and its remote traceback) is not what the user sees
