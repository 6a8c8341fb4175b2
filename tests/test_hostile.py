"""Hostile input: every case gets a clear error (naming the file, the flag or the frame range) or a loud
warning, and no output is written or overwritten. Numbers ``01``–``22`` are the items of issue 17; the
``sweep_*`` cases are the same classes of failure found in the other subcommands' arguments and inputs."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from cli_probes import run, snapshot

from melab.data.video import VideoError, read_frames, write_video

REPO = Path(__file__).resolve().parents[1]
SPOTTER = REPO / "data" / "spotter_lab.pt"
PYTHON = sys.executable


def small_video(path: Path, n: int = 40) -> Path:
    frames = np.random.default_rng(0).integers(0, 255, (n, 32, 48, 3), dtype=np.uint8)
    return write_video(frames, path, 30.0)


# ---- data loss ----------------------------------------------------------------------------------------


def test_01_flow_refuses_two_inputs_that_would_write_one_file(tmp_path, capsys):
    a = small_video(tmp_path / "in" / "A" / "clip.mp4")
    b = small_video(tmp_path / "in" / "B" / "clip.mp4")
    out = tmp_path / "out"
    code, err = run(["flow", a, b, "--out", out], capsys)
    assert code == 2
    assert str(a) in err and str(b) in err and str(out / "clip.npy") in err
    assert not out.exists()


def test_02_spot_checks_every_output_and_input_before_the_work(tmp_path, clip, capsys):
    out = tmp_path / "k.csv"
    out.write_text("old results\n")
    base = ["spot", clip["video"], "--out", out, "--landmarks", clip["landmarks"]]
    code, err = run([*base, "--plot", "/proc/x/p.png"], capsys)
    assert code == 2 and "--plot /proc/x/p.png" in err
    code, err = run([*base, "--truth", tmp_path / "missing.csv"], capsys)
    assert code == 2 and f"--truth {tmp_path / 'missing.csv'}" in err
    assert out.read_text() == "old results\n" and snapshot(tmp_path) == {"k.csv": b"old results\n"}


# ---- silent wrong results --------------------------------------------------------------------------------


def test_03_an_image_folder_without_frame_numbers_is_refused(tmp_path, clip, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    words = ["apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel"]
    for i, frame in enumerate(clip["frames"][:64]):
        cv2.imwrite(str(folder / f"{words[i % 8]}{'x' * (i // 8)}.png"), frame[..., ::-1])
    before = snapshot(tmp_path)
    with pytest.raises(VideoError, match=r"frames: 64 of 64 file names carry no frame number"):
        read_frames(folder, fps=30)
    code, err = run(["spot", folder, "--fps", "30", "--out", tmp_path / "s.csv"], capsys)
    assert code == 2 and f"image folder {folder}" in err and "no frame number" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["normalised", "off_frame"])
def test_04_landmarks_that_are_not_pixels_of_the_video_are_refused(tmp_path, clip, capsys, kind):
    h, w = clip["frames"].shape[1:3]
    lm = clip["truth"] / [w, h] if kind == "normalised" else clip["truth"] + 5000
    np.save(tmp_path / "lm.npy", lm)
    code, err = run(["spot", clip["video"], "--out", tmp_path / "s.csv", "--landmarks", tmp_path / "lm.npy"], capsys)
    assert code == 2 and f"--landmarks {tmp_path / 'lm.npy'}" in err
    assert ("look normalised" in err) if kind == "normalised" else ("outside the" in err and "frames 0–89" in err)
    assert not (tmp_path / "s.csv").exists()


def test_05_a_truncated_video_is_used_with_a_warning_that_names_the_missing_frames(tmp_path):
    path = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 48))
    for frame in np.random.default_rng(0).integers(0, 255, (120, 48, 64, 3), dtype=np.uint8):
        writer.write(frame)
    writer.release()
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    with pytest.warns(UserWarning, match=r"cut.avi: its header declares 120 frames but only \d+ could be decoded"):
        frames, _ = read_frames(path)
    from melab.spot import read_resampled

    with pytest.warns(UserWarning, match=rf"frames {len(frames)}–119 are missing"):
        read_resampled(path, 30.0)


def test_06_epochs_0_is_refused_not_replaced_by_the_preset(tmp_path, capsys):
    from melab.train import run as train_run

    # (a missing --data corpus keeps the run short if the flag were not checked)
    code, err = run(["train", "spotter", "--epochs", "0", "--data", "corpus:/nonexistent", "--out", tmp_path / "runs"],
                    capsys)
    assert code == 2 and "--epochs" in err and "at least 1" in err
    with pytest.raises(ValueError, match=r"--epochs must be at least 1, got 0"):
        train_run("spotter", "corpus:/nonexistent", epochs=0, out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_07_evaluate_warns_when_nothing_can_match(tmp_path):
    from melab.metrics import evaluate_csv

    columns = "subject,video,onset,offset,emotion\n"
    (tmp_path / "truth.csv").write_text(columns + "1,EP01,10,20,happiness\n1,EP02,30,40,surprise\n")
    (tmp_path / "pred.csv").write_text(columns + "1,ep01.mp4,10,20,happiness\n")
    with pytest.warns(UserWarning, match=r"no video of .*pred.csv is in .*truth.csv"):
        evaluate_csv(tmp_path / "pred.csv", tmp_path / "truth.csv")
    (tmp_path / "pred.csv").write_text(columns + "1,EP01,10,20,happiness\n")
    with pytest.warns(UserWarning, match=r"--labels negative, positive occur in neither"):
        evaluate_csv(tmp_path / "pred.csv", tmp_path / "truth.csv", labels=["negative", "positive", "surprise"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a matching pair is scored without a word
        evaluate_csv(tmp_path / "pred.csv", tmp_path / "truth.csv")


def test_08_intervals_over_interpolated_frames_are_marked_and_warned(tmp_path, clip):
    from melab.spot import OUTPUT_COLUMNS, spot

    frames = clip["frames"].copy()
    frames[40:46] = 128  # the face is hidden for 0.2 s
    video = write_video(frames, tmp_path / "hidden.mp4", clip["fps"])
    lm = clip["truth"].copy()
    lm[40:46] = np.nan
    np.save(tmp_path / "lm.npy", lm)
    with pytest.warns(UserWarning) as record:
        # thresholds under the gap's peak (0.2): the point is how an interval over the gap is marked, whatever
        # the shipped spotter makes of a hidden face
        result = spot(video, tmp_path / "s.csv", checkpoint=SPOTTER, landmarks=tmp_path / "lm.npy", progress=False,
                      low=0.05, high=0.1)
    table = pd.read_csv(tmp_path / "s.csv")
    assert OUTPUT_COLUMNS[:5] == ["video", "onset", "offset", "emotion", "score"] == list(table.columns[:5])
    assert list(table.columns) == OUTPUT_COLUMNS and "interpolated_frames" in table.columns
    overlapping = (table.onset <= 45) & (table.offset >= 40)
    assert overlapping.any()  # the gap itself is spotted
    assert (table.interpolated_frames[overlapping] > 0).all() and (table.interpolated_frames[~overlapping] == 0).all()
    row = table[overlapping].iloc[0]
    shared = f"{max(row.onset, 40)}–{min(row.offset, 45)}"  # the interval's frames inside the gap
    assert any(f"interval {row.onset}–{row.offset} of hidden overlaps frames {shared}" in str(w.message)
               for w in record)
    pd.testing.assert_frame_equal(table, result.intervals, check_dtype=False)


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory):
    from melab.data.synthetic import make_corpus

    root = tmp_path_factory.mktemp("cache")
    return root, make_corpus("tiny", 0, root, processes=1, progress=False)


def test_09_a_damaged_cached_corpus_is_noticed_and_rebuilt(corpus_root):
    from melab.data.synthetic import make_corpus

    root, corpus = corpus_root
    whole = snapshot(corpus)
    victim = sorted(p for p in corpus.glob("*/*") if p.is_dir())[1]
    for f in victim.iterdir():
        f.unlink()
    victim.rmdir()
    n_files = len([p for p in whole if p.startswith(f"{victim.relative_to(corpus)}/")])
    with pytest.warns(UserWarning, match=rf"cached corpus {corpus} is damaged or incomplete \(folder "
                                         rf"{victim.relative_to(corpus)}/ is missing \({n_files} files\)\); "
                                         "generating it again"):
        assert make_corpus("tiny", 0, root, processes=1, progress=False) == corpus
    assert snapshot(corpus) == whole  # rebuilt byte for byte
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a whole corpus is served silently
        make_corpus("tiny", 0, root, processes=1, progress=False)


# ---- tracebacks instead of a clear error ------------------------------------------------------------


def truncated_checkpoint(path: Path) -> Path:
    path.write_bytes(SPOTTER.read_bytes()[:50_000])
    return path


def test_10_a_truncated_checkpoint_is_named_with_what_to_do(tmp_path, capsys):
    ckpt = truncated_checkpoint(tmp_path / "model.pt")
    code, err = run(["spot", "any.mp4", "--out", tmp_path / "s.csv", "--checkpoint", ckpt], capsys)
    assert code == 2 and f"checkpoint {ckpt} (50000 bytes) is truncated or corrupt" in err and "Delete it" in err
    assert not (tmp_path / "s.csv").exists()


def test_10_a_fold_checkpoint_truncated_under_resume_says_delete_or_no_resume(tmp_path):
    from melab.models.spotter import Spotter, SpotterConfig
    from melab.train import fit

    ckpt = truncated_checkpoint(tmp_path / "fold_s01.pt")
    model = Spotter(SpotterConfig.tiny(in_channels=4, d_fast=8, d_slow=16, n_stages=2, d_state=4))
    with pytest.raises(ValueError, match=r"fold_s01.pt \(50000 bytes\) is truncated or corrupt") as info:
        fit(model, lambda epoch: [], lambda *a: None, optimizer=torch.optim.Adam(model.parameters()), epochs=1,
            checkpoint=ckpt, resume=True, progress=False)
    assert "rerun without --resume" in str(info.value) and "Delete it" in str(info.value)


def test_11_a_checkpoint_path_that_is_a_folder(tmp_path, capsys):
    (tmp_path / "ckpt").mkdir()
    code, err = run(["spot", "any.mp4", "--out", tmp_path / "s.csv", "--checkpoint", tmp_path / "ckpt"], capsys)
    assert code == 2 and f"checkpoint {tmp_path / 'ckpt'} is a folder" in err
    assert snapshot(tmp_path) == {}


@pytest.mark.parametrize("command", [["train", "spotter", "--data", "corpus:/nonexistent"], ["flow", "x.mp4"], ["demo"],
                                     ["synth", "--preset", "tiny"]])
def test_12_out_that_is_an_existing_file(tmp_path, capsys, command):
    out = tmp_path / "results"
    out.write_text("keep me")
    code, err = run([*command, "--out", out], capsys)
    assert code == 2 and f"--out {out} is a file, not a folder" in err
    assert snapshot(tmp_path) == {"results": b"keep me"}


def test_13_spot_out_that_is_a_folder(tmp_path, clip, capsys):
    (tmp_path / "out").mkdir()
    code, err = run(["spot", clip["video"], "--out", tmp_path / "out", "--landmarks", clip["landmarks"]], capsys)
    assert code == 2 and f"--out {tmp_path / 'out'} is a folder; give a file name" in err
    assert snapshot(tmp_path) == {}


def test_14_truth_that_is_not_a_csv(tmp_path, clip, capsys):
    (tmp_path / "truth.csv").write_bytes(SPOTTER.read_bytes()[:4000])  # binary
    before = snapshot(tmp_path)
    code, err = run(["spot", clip["video"], "--out", tmp_path / "s.csv", "--landmarks", clip["landmarks"], "--truth",
                     tmp_path / "truth.csv"], capsys)
    assert code == 2 and f"--truth {tmp_path / 'truth.csv'} is not a CSV file" in err
    (tmp_path / "pred.csv").write_text("subject,video,onset,offset,emotion\n1,EP01,10,20,happiness\n")
    code, err = run(["evaluate", tmp_path / "pred.csv", tmp_path / "truth.csv"], capsys)
    assert code == 2 and f"{tmp_path / 'truth.csv'} is not a CSV file" in err
    (tmp_path / "events.csv").write_text("start,end\n1,2\n")  # a CSV, but not an events table
    code, err = run(["spot", clip["video"], "--out", tmp_path / "s.csv", "--landmarks", clip["landmarks"], "--truth",
                     tmp_path / "events.csv"], capsys)
    assert code == 2 and f"--truth {tmp_path / 'events.csv'} has no column(s) onset, offset" in err
    assert not (tmp_path / "s.csv").exists() and snapshot(tmp_path)["truth.csv"] == before["truth.csv"]


def test_15_an_xlsx_that_is_really_text(tmp_path, capsys):
    fake = tmp_path / "CAS(ME)3_part_A_ME_label.xlsx"
    fake.write_text("Subject,Filename,Onset,Apex,Offset\nspNO.1,a,1,2,3\n")
    code, err = run(["data", "check", "--kind", "casme3", fake], capsys)
    assert code == 2 and f"{fake} is not an Excel workbook although it ends in .xlsx" in err
    assert snapshot(tmp_path) == {fake.name: fake.read_bytes()}


class Payload:
    """Unpickling this runs a shell command: what a malicious 'checkpoint' does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_16_a_pickle_that_is_not_weights_is_refused_and_never_run(tmp_path, capsys):
    from melab.train import read_checkpoint

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "melab-checkpoint-1", "model": Payload(marker)}, evil)
    with pytest.raises(ValueError, match=r"refuses to unpickle arbitrary objects") as info:
        read_checkpoint(evil)
    assert "weights_only=False" not in str(info.value) and info.value.__cause__ is None
    with open(tmp_path / "plain.pkl", "wb") as fh:
        pickle.dump(Payload(marker), fh)
    code, err = run(["spot", "any.mp4", "--out", tmp_path / "s.csv", "--checkpoint", tmp_path / "plain.pkl"], capsys)
    assert code == 2 and f"checkpoint {tmp_path / 'plain.pkl'} holds Python objects other than weights" in err
    assert "weights_only=False" not in err
    assert not marker.exists() and not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("argv, flag", [
    (["flow", "x.mp4", "--size", "0"], "--size"),
    (["train", "spotter", "--epochs", "-1", "--data", "corpus:/nonexistent"], "--epochs"),
    (["synth", "--processes", "0", "--preset", "tiny"], "--processes"),
])
def test_17_ranges_are_checked_at_the_cli(tmp_path, capsys, argv, flag):
    code, err = run([*argv, "--out", tmp_path / "out"], capsys)
    assert code == 2 and f"argument {flag}: must be at least" in err
    assert snapshot(tmp_path) == {} and not (tmp_path / "out").exists()


# ---- processes and durability ---------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    try:
        return {int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()}
    except FileNotFoundError:
        return set()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_18_flow_workers_die_with_their_parent(tmp_path, corpus_root):
    _, corpus = corpus_root
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([PYTHON, "-m", "melab", "flow", str(corpus), "--out", str(tmp_path / "out"),
                               "--processes", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and parent.poll() is None:
            seen |= _children(parent.pid)
            workers = [c for c in seen if _alive(c) and _children(c) == set()]
            if len(workers) >= 3:  # two workers and the resource tracker
                time.sleep(2.0)  # let the workers reach their initializer and start working
                break
            time.sleep(0.2)
        seen |= _children(parent.pid)
        assert len(seen) >= 3, f"the pool did not start: children {seen}"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(c) for c in seen):
            time.sleep(0.2)
        assert not [c for c in seen if _alive(c)], "workers outlived their parent"
    finally:
        for pid in [parent.pid, *seen]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def test_19_atomic_writes_fsync_the_file_and_its_folder(tmp_path, monkeypatch):
    from melab import atomic, flow

    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    with atomic.atomic_path(tmp_path / "a.csv") as tmp:
        tmp.write_text("x")
    assert synced == [str(tmp.resolve()), str(tmp_path.resolve())]
    synced.clear()
    flow._save_entry(tmp_path / "entry.npz", series=np.zeros(3))  # the flow cache writes through atomic_path
    assert synced[-1] == str(tmp_path.resolve()) and len(synced) == 2
    assert snapshot(tmp_path).keys() == {"a.csv", "entry.npz"}


def test_20_a_killed_synth_leaves_no_temporary_forever(corpus_root):
    from melab.data.synthetic import make_corpus

    root, corpus = corpus_root
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that is now dead
    live = subprocess.Popen(["sleep", "60"])
    try:
        stale = corpus.with_name(f"{corpus.name}.tmp-{gone.pid}")
        running = corpus.with_name(f"{corpus.name}.tmp-{live.pid}")
        for folder in (stale, running):
            (folder / "S01").mkdir(parents=True)
            (folder / "S01" / "img_00000.jpg").write_bytes(b"half")
        make_corpus("tiny", 0, root, processes=1, progress=False)
        assert not stale.exists()
        assert running.exists()  # a concurrent run's temporary is left alone
    finally:
        live.kill()
        live.wait()
        import shutil

        shutil.rmtree(running, ignore_errors=True)


# ---- the hang ---------------------------------------------------------------------------------------------


def _sleeping_notebook(path: Path, seconds: int) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell(f"import time\ntime.sleep({seconds})")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_21_make_demo_gives_every_cell_a_timeout_that_works(tmp_path):
    makefile = (REPO / "Makefile").read_text()
    demo = makefile[makefile.index("\ndemo:"):].split("\n\n")[0]
    assert "--ExecutePreprocessor.timeout=$(CELL_TIMEOUT)" in demo and "\nCELL_TIMEOUT ?=" in makefile
    nb = _sleeping_notebook(tmp_path / "stuck.ipynb", 120)
    started = time.monotonic()
    done = subprocess.run([str(Path(PYTHON).with_name("jupyter")), "nbconvert", "--to", "notebook", "--execute",
                           "--ExecutePreprocessor.timeout=3", "--output-dir", str(tmp_path / "out"), str(nb)],
                          capture_output=True, text=True, timeout=100)
    assert done.returncode != 0 and time.monotonic() - started < 90
    assert "timed out" in done.stderr and "time.sleep(120)" in done.stderr  # the cell is named


@pytest.mark.slow
def test_21_plain_pytest_nbval_times_out_from_the_ini_setting(tmp_path):
    pyproject = (REPO / "pyproject.toml").read_text()
    assert "nbval_cell_timeout =" in pyproject
    (tmp_path / "conftest.py").write_text((REPO / "conftest.py").read_text())
    (tmp_path / "pytest.ini").write_text("[pytest]\nnbval_cell_timeout = 3\n")
    _sleeping_notebook(tmp_path / "stuck.ipynb", 120)
    started = time.monotonic()
    done = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "stuck.ipynb"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=100)
    assert done.returncode != 0 and time.monotonic() - started < 90
    assert "Timeout of 3 seconds exceeded" in done.stdout


# ---- a fresh clone runs every test ----------------------------------------------------------------------


def test_22_the_strs_sample_is_vendored_with_its_source_and_licence():
    folder = REPO / "tests" / "data" / "strs-sample"
    assert {p.name for p in folder.iterdir()} >= {"gt.csv", "pred.csv", "expected.json", "README.md"}
    readme = (folder / "README.md").read_text()
    assert "genbing99/STRS-Metric" in readme and "licen" in readme.lower()
    assert json.loads((folder / "expected.json").read_text())["official_output"]["STRS"] == 0.3862
    conformance = (REPO / "tests" / "test_metrics_conformance.py").read_text()
    assert 'SAMPLE = Path(__file__).resolve().parent / "data" / "strs-sample"' in conformance
    assert "pytest.skip" not in conformance  # a fresh clone runs it


# ---- the sweep: the same classes of failure in the other arguments and inputs ---------------------------


@pytest.mark.parametrize("argv, flag", [
    (["spot", "v.mp4", "--out", "s.csv", "--fps", "0"], "--fps"),
    (["spot", "v.mp4", "--out", "s.csv", "--fps", "nan"], "--fps"),
    (["evaluate", "p.csv", "t.csv", "--iou", "0"], "--iou"),
    (["evaluate", "p.csv", "t.csv", "--iou", "1.5"], "--iou"),
    (["synth", "--seed", "-1", "--preset", "tiny", "--out", "cache"], "--seed"),
    (["demo", "--seed", "-3", "--preset", "tiny"], "--seed"),
    (["data", "check", "--kind", "synthetic", "--seed", "-1", "--preset", "tiny"], "--seed"),
    (["train", "spotter", "--folds", "0", "--data", "corpus:/nonexistent"], "--folds"),
    (["train", "spotter", "--folds", "some", "--data", "corpus:/nonexistent"], "--folds"),
    (["flow", "x.mp4", "--out", "o", "--k", "1"], "--k"),
    (["flow", "x.mp4", "--out", "o", "--stride", "0"], "--stride"),
    (["flow", "x.mp4", "--out", "o", "--processes", "0"], "--processes"),
    (["spot", "v.mp4", "--out", "s.csv", "--low", "1.5"], "--low"),
    (["spot", "v.mp4", "--out", "s.csv", "--high", "-0.1"], "--high"),
    (["spot", "v.mp4", "--out", "s.csv", "--smooth", "4"], "--smooth"),
    # upper bounds too (issue 25): a value too large to mean anything is refused before any work
    (["flow", "x.mp4", "--out", "o", "--size", "100000"], "--size"),
    (["flow", "x.mp4", "--out", "o", "--k", "10000000"], "--k"),
    (["flow", "x.mp4", "--out", "o", "--processes", "100000"], "--processes"),
    (["spot", "v.mp4", "--out", "s.csv", "--fps", "1e9"], "--fps"),
    (["spot", "v.mp4", "--out", "s.csv", "--workers", "100000"], "--workers"),
    (["synth", "--seed", str(2**40), "--preset", "tiny"], "--seed"),
    (["train", "spotter", "--epochs", "1000000000", "--data", "corpus:/nonexistent"], "--epochs"),
    (["train", "spotter", "--gpus-per-fold", "-1", "--data", "corpus:/nonexistent"], "--gpus-per-fold"),
    (["train", "spotter", "--gpus-per-fold", "nan", "--data", "corpus:/nonexistent"], "--gpus-per-fold"),
])
def test_sweep_numeric_flags_are_range_checked(tmp_path, capsys, monkeypatch, argv, flag):
    monkeypatch.chdir(tmp_path)
    code, err = run(argv, capsys)
    assert code == 2 and f"argument {flag}:" in err
    assert snapshot(tmp_path) == {}


def test_sweep_evaluate_labels_that_name_nothing(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("subject,video,onset,offset,emotion\n1,EP01,10,20,happiness\n")
    code, err = run(["evaluate", tmp_path / "t.csv", tmp_path / "t.csv", "--labels", " , "], capsys)
    assert code == 2 and "--labels ' , ' names no emotion" in err


def test_sweep_flow_checks_its_inputs_before_making_the_output(tmp_path, capsys):
    code, err = run(["flow", tmp_path / "missing.mp4", "--out", tmp_path / "out"], capsys)
    assert code == 2 and f"INPUT {tmp_path / 'missing.mp4'}: no such" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", ["text", "object_array", "folder"])
def test_sweep_spot_landmarks_that_are_not_a_numeric_npy(tmp_path, clip, capsys, content):
    bad = tmp_path / "lm.npy"
    if content == "text":
        bad.write_text("x,y\n1,2\n")
    elif content == "object_array":
        np.save(bad, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    else:
        bad.mkdir()
    code, err = run(["spot", clip["video"], "--out", tmp_path / "s.csv", "--landmarks", bad], capsys)
    assert code == 2 and f"--landmarks {bad}" in err
    assert not (tmp_path / "s.csv").exists()


def test_sweep_image_folder_with_two_frames_of_one_number(tmp_path, clip):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(clip["frames"][:12]):
        cv2.imwrite(str(folder / f"img{i}.png"), frame[..., ::-1])
    cv2.imwrite(str(folder / "img01.png"), clip["frames"][20][..., ::-1])
    with pytest.raises(VideoError, match=r"img0?1.png and img0?1.png carry the same frame number"):
        read_frames(folder, fps=30)


def test_sweep_evaluate_pred_that_is_not_a_csv(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("subject,video,onset,offset,emotion\n1,EP01,10,20,happiness\n")
    (tmp_path / "p.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 50)
    code, err = run(["evaluate", tmp_path / "p.csv", tmp_path / "t.csv"], capsys)
    assert code == 2 and f"{tmp_path / 'p.csv'} is not a CSV file" in err


def test_sweep_flow_landmarks_off_the_frame_through_the_api(clip):
    from melab.flow import roi_flow_series

    with pytest.raises(ValueError, match=r"put the face outside the 128x128 frame in frames 0–89"):
        roi_flow_series(clip["frames"], clip["truth"] - 4000, k=50, name="clip")


@pytest.mark.parametrize("flag, target", [("--out", "video"), ("--plot", "video"), ("--plot", "out"),
                                          ("--out", "truth"), ("--out", "landmarks")])
def test_sweep_spot_never_writes_over_its_own_inputs(tmp_path, clip, capsys, flag, target):
    import shutil

    video = Path(shutil.copy(clip["video"], tmp_path / "clip.mp4"))
    landmarks = Path(shutil.copy(clip["landmarks"], tmp_path / "clip.npy"))
    truth = tmp_path / "truth.csv"
    truth.write_text("video,onset,offset\nclip,10,20\n")
    paths = {"video": video, "out": tmp_path / "s.csv", "truth": truth, "landmarks": landmarks}
    args = {"--out": paths["out"], "--plot": None, "--truth": truth, "--landmarks": landmarks}
    args[flag] = paths[target]
    argv = ["spot", video] + [x for key, value in args.items() if value is not None for x in (key, value)]
    before = snapshot(tmp_path)
    code, err = run(argv, capsys)
    name = {"video": "VIDEO", "out": "--out", "truth": "--truth", "landmarks": "--landmarks"}[target]
    assert code == 2 and f"{flag} {paths[target]} is also the {name} file" in err
    assert snapshot(tmp_path) == before


def test_sweep_spot_truth_for_another_video_is_warned(tmp_path, clip):
    from melab.spot import spot

    truth = pd.DataFrame({"video": ["EP01_01", "EP01_02"], "onset": [10, 20], "offset": [20, 30]})
    result = spot(clip["video"], checkpoint=SPOTTER, landmarks=clip["landmarks"], progress=False)
    with pytest.warns(UserWarning, match=r"no row of the truth table is for video 'clip' \(it names 'EP01_01', "
                                         r"'EP01_02'"):
        result.report(truth)


@pytest.mark.parametrize("argv", [["train", "spotter", "--data", "corpus:{tmp}/empty"], ["flow", "{tmp}/text.mp4"]])
def test_sweep_a_failed_run_leaves_no_empty_output_folders(tmp_path, capsys, argv):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text.mp4").write_text("not a video")
    code, err = run([a.format(tmp=tmp_path) for a in argv] + ["--out", tmp_path / "out"], capsys)
    assert code == 2 and str(tmp_path) in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["synth", "--preset", "tiny", "--out", "/proc/melab"],
                                  ["demo", "--preset", "tiny", "--out", "/proc/melab"],
                                  ["train", "spotter", "--data", "corpus:/nonexistent", "--out", "/proc/melab"],
                                  ["flow", "x.mp4", "--out", "/proc/melab"],
                                  ["spot", "x.mp4", "--out", "/proc/melab/s.csv"]])
def test_sweep_an_output_that_cannot_be_written_is_named_first(capsys, argv):
    code, err = run(argv, capsys)
    assert code == 2 and "--out /proc/melab" in err and "cannot write in /proc" in err


def test_21_no_notebook_draws_through_an_output_widget():
    """``interact`` and ``Output`` widgets make headless runs wait on the shell channel (jupyter/nbclient#312):
    notebook 02's ``interact`` cell stalled nbconvert for exactly the cell timeout in 6 of 300 runs of the cell
    (forever without a timeout), while an Image-widget explorer never did in 360."""
    import nbformat

    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert not any(name in cell.source for name in ("interact(", "interactive(", "Output(")), path.name
