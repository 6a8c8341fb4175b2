"""Hostile input, round 3 (issue 25): each bad and weak outcome the reviewer found, as a test that failed before its
fix. Every refusal is checked for its message (the file, flag or row it names) and for leaving every file as it was.

Sections follow the issue: data loss, silently wrong results, tracebacks, late checks, concurrency, weak messages;
the last section holds the classes of failure found by the sweep that followed (``sweep_*``).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
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

from melab.cli import main
from melab.data.synthetic import generate_video
from melab.data.video import write_video

REPO = Path(__file__).resolve().parents[1]
SPOTTER = REPO / "data" / "spotter_lab.pt"
PYTHON = sys.executable


def corpus_copy(tiny_corpus: Path, where: Path) -> Path:
    """A copy of the tiny corpus whose flow cache is the original's (unchanged videos are not computed again)."""
    copy = where / "corpora" / "tiny"
    shutil.copytree(tiny_corpus, copy)
    (copy.parent / "cache").symlink_to(tiny_corpus.parent / "cache", target_is_directory=True)
    return copy


# ---- data loss ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folds, name", [("none", "model.pt"), ("1", "fold_sub01.pt"), ("none", "checkpoint.pt")])
def test_init_among_the_files_of_out_is_refused_before_any_work(tmp_path, tiny_corpus, capsys, folds, name):
    from melab.train import run as train_run

    out = tmp_path / "R"
    out.mkdir()
    init = Path(shutil.copy(SPOTTER, out / name))
    before = snapshot(tmp_path)
    code, err = run(["train", "spotter", "--data", f"corpus:{tiny_corpus}", "--folds", folds, "--epochs", "1",
                     "--init", init, "--out", out], capsys)
    assert code == 2 and f"--init {init} is among the files this command writes or deletes in --out {out}" in err
    with pytest.raises(ValueError, match="it would be lost"):
        train_run("spotter", f"corpus:{tiny_corpus}", folds=folds if folds == "none" else 1, init=init, out=out)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("row, problem", [("30,10", "line 3: onset 30 is after offset 10"),
                                          (",20", "line 3: onset (blank) is not a frame number"),
                                          ("72.5,80", "line 3: onset 72.5 is not a frame number"),
                                          ("abc,80", "line 3: onset 'abc' is not a frame number"),
                                          ("10,99999999999999999999",
                                           "line 3: offset 99999999999999999999 is not a frame number")])
def test_spot_refuses_a_bad_truth_row_before_writing(tmp_path, clip, capsys, row, problem):
    out, plot, truth = tmp_path / "keep.csv", tmp_path / "p.png", tmp_path / "rev.csv"
    out.write_text("old results\n")
    plot.write_bytes(b"old plot")
    truth.write_text(f"video,onset,offset\nclip,10,20\nclip,{row}\n")
    before = snapshot(tmp_path)
    code, err = run(["spot", clip["video"], "--out", out, "--plot", plot, "--truth", truth,
                     "--landmarks", clip["landmarks"]], capsys)
    assert code == 2 and f"--truth {truth}, {problem}" in err
    assert snapshot(tmp_path) == before


def test_outputs_inside_inputs_are_refused(tmp_path, clip, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, frame in enumerate(clip["frames"][:60]):
        cv2.imwrite(str(frames / f"img_{i:05d}.png"), frame[..., ::-1])
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "videos.csv").write_text("subject,video,n_frames,fps\n")
    truth = tmp_path / "truth.csv"
    truth.write_text("video,onset,offset\nclip,10,20\n")
    (tmp_path / "link.csv").symlink_to(truth)
    model = Path(shutil.copy(SPOTTER, tmp_path / "model.pt"))
    before = snapshot(tmp_path)
    cases = [
        (["flow", frames, "--out", frames / "series"], f"--out {frames / 'series'} lies inside INPUT {frames}"),
        (["flow", corpus, "--out", corpus], f"--out {corpus} is also the INPUT folder"),
        (["spot", frames, "--fps", "30", "--out", frames / "s.csv"], f"--out {frames / 's.csv'} lies inside VIDEO"),
        (["train", "spotter", "--data", f"corpus:{corpus}", "--out", corpus / "runs"],
         f"--out {corpus / 'runs'} lies inside --data {corpus}"),
        (["spot", clip["video"], "--truth", truth, "--out", tmp_path / "link.csv"],
         f"--out {tmp_path / 'link.csv'} is also the --truth file {truth}"),
        (["spot", clip["video"], "--checkpoint", model, "--out", model],
         f"--out {model} is also the --checkpoint file"),
    ]
    for argv, message in cases:
        code, err = run(argv, capsys)
        assert code == 2 and message in err, (argv, err)
    assert snapshot(tmp_path) == before


def test_a_loop_of_symbolic_links_is_refused_by_name(tmp_path, clip, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    code, err = run(["spot", clip["video"], "--out", tmp_path / "a" / "s.csv"], capsys)
    assert code == 2 and f"--out {tmp_path / 'a' / 's.csv'}: a loop of symbolic links" in err


# ---- silently wrong -------------------------------------------------------------------------------------------


def test_resume_refuses_checkpoints_made_from_other_data(tmp_path, tiny_corpus):
    from melab.train import run as train_run

    other = corpus_copy(tiny_corpus, tmp_path)
    events = pd.read_csv(other / "events.csv")
    events.loc[0, "onset"] += 2  # one annotation moved: other data, same count of events
    events.to_csv(other / "events.csv", index=False)
    out = tmp_path / "R"
    train_run("spotter", f"corpus:{tiny_corpus}", out=out, folds=1, epochs=1, progress=False)
    before = snapshot(out)
    with pytest.raises(ValueError, match=rf"--resume: the checkpoints in {out} were made by another run: data: "
                                         rf"corpus:{tiny_corpus} then \(content \w+\), corpus:{other} now"):
        train_run("spotter", f"corpus:{other}", out=out, folds=1, epochs=1, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"train\.epochs: 1 then, 2 now"):
        train_run("spotter", f"corpus:{tiny_corpus}", out=out, folds=1, epochs=2, resume=True, progress=False)
    assert snapshot(out) == before
    train_run("spotter", f"corpus:{tiny_corpus}", out=out, folds=1, epochs=1, resume=True, progress=False)
    (out / "run.json").unlink()
    with pytest.raises(ValueError, match=r"holds fold_sub01\.pt but no run\.json"):
        train_run("spotter", f"corpus:{tiny_corpus}", out=out, folds=1, epochs=1, resume=True, progress=False)
    # a fresh run clears the earlier run's checkpoints, so that a later --resume cannot take them for its own
    shutil.copy(out / "fold_sub01.pt", out / "fold_sub02.pt")
    with pytest.warns(UserWarning, match=r"removed 2 checkpoint\(s\) of an earlier run .*fold_sub01\.pt, fold_sub02"):
        train_run("spotter", f"corpus:{other}", out=out, folds=1, epochs=1, progress=False)
    assert not (out / "fold_sub02.pt").exists()


def _bmp_folder(folder: Path, frames: np.ndarray) -> Path:
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"img_{i:05d}.bmp"), frame[..., ::-1])  # BMP: the size depends on the shape only
    return folder


def test_the_flow_cache_knows_a_video_by_its_content(tmp_path):
    from melab.flow import extract_roi_series

    first, second = (generate_video(seed, 0, 0, duration_s=1.0, n_me=0, n_mae=0) for seed in (1, 2))
    folder = _bmp_folder(tmp_path / "video", first.frames)
    other = _bmp_folder(tmp_path / "other", second.frames)
    options = dict(k=10, size=32, method="dis", progress=False)
    old = extract_roi_series([(folder, first.landmarks)], cache_dir=tmp_path / "cache", **options)[0]
    for f in sorted(folder.iterdir()):  # `cp -p` of the other video: same names, sizes and time stamps
        stat = f.stat()
        shutil.copyfile(other / f.name, f)
        os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert f.stat().st_size == stat.st_size
    new = extract_roi_series([(folder, first.landmarks)], cache_dir=tmp_path / "cache", **options)[0]
    fresh = extract_roi_series([(folder, first.landmarks)], cache_dir=tmp_path / "fresh", **options)[0]
    assert np.array_equal(new, fresh) and not np.array_equal(new, old)


def test_the_onset_apex_cache_follows_the_annotations(tmp_path, tiny_corpus):
    from melab.features import merba_corpus

    corpus = corpus_copy(tiny_corpus, tmp_path)
    flows, samples = merba_corpus(corpus, size=32, cache_dir=tmp_path / "cache", progress=False)
    assert len(samples) >= 2
    events = pd.read_csv(corpus / "events.csv")
    first = events.index[(events.video == samples.video[0]) & (events.onset == samples.onset[0])][0]
    events.loc[first, "apex"] = events.loc[first, "onset"] + 1  # same number of MEs, another apex
    events.to_csv(corpus / "events.csv", index=False)
    again, _ = merba_corpus(corpus, size=32, cache_dir=tmp_path / "cache", progress=False)
    assert not np.array_equal(again[0], flows[0]) and np.array_equal(again[1:], flows[1:])


def test_evaluate_matches_subject_01_with_1_and_names_both_spellings_otherwise(tmp_path, capsys):
    columns = "subject,video,onset,offset,emotion\n"
    (tmp_path / "truth.csv").write_text(columns + "1,EP01_01,10,20,happiness\n2,EP02_03,40,50,surprise\n")
    (tmp_path / "pred.csv").write_text(columns + "01,ep01_01,10,20,happiness\n002,EP02_03,41,50,surprise\n")
    code = main(["evaluate", str(tmp_path / "pred.csv"), str(tmp_path / "truth.csv")])
    assert code == 0 and "TP 2  FP 0  FN 0" in capsys.readouterr().out
    (tmp_path / "pred.csv").write_text(columns + "s1,EP01_01,10,20,happiness\n")
    with pytest.warns(UserWarning, match=r"never for the same subject \(predicted subjects e\.g\. 's1', annotated "
                                         r"e\.g\. '1', '2'\)"):
        main(["evaluate", str(tmp_path / "pred.csv"), str(tmp_path / "truth.csv")])


def test_flow_of_a_corpus_uses_the_landmarks_flag(tmp_path, tiny_corpus, monkeypatch, capsys):
    import melab.flow

    seen = []

    def record(items, **options):
        seen.extend(items)
        return [np.zeros((5, 36), np.float32) for _ in seen]

    monkeypatch.setattr(melab.flow, "extract_roi_series", record)
    assert main(["flow", str(tiny_corpus), "--landmarks", "mediapipe", "--out", str(tmp_path / "out")]) == 0
    assert len(seen) == 6 and all(isinstance(item, tuple) and item[1] == "mediapipe" for item in seen)


# ---- tracebacks -----------------------------------------------------------------------------------------------


def _noise_video(path: Path, n: int = 40) -> Path:
    return write_video(np.random.default_rng(0).integers(0, 255, (n, 64, 64, 3), dtype=np.uint8), path, 30.0)


def test_a_worker_error_in_flow_is_the_workers_message_naming_the_video(tmp_path, clip, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    good = Path(shutil.copy(clip["video"], tmp_path / "good.mp4"))
    noise = _noise_video(tmp_path / "noface.mp4")
    out = tmp_path / "out"
    code, err = run(["flow", good, bad, "--landmarks", "mediapipe", "--processes", "2", "--out", out], capsys)
    assert code == 2 and f"cannot open video {bad}: the file is unreadable" in err and "Traceback" not in err
    code, err = run(["flow", good, noise, "--landmarks", "mediapipe", "--processes", "2", "--out", out], capsys)
    assert code == 2 and f"video {noise}: " in err and "no face" in err and "Traceback" not in err
    assert not list(out.rglob("*.tmp-*")) and not multiprocessing.active_children()


def test_a_worker_error_in_train_names_the_damaged_frame(tmp_path, tiny_corpus, capsys):
    corpus = corpus_copy(tiny_corpus, tmp_path)
    damaged = [corpus / "sub01" / "sub01_1" / "img_00007.jpg", corpus / "sub02" / "sub02_1" / "img_00100.jpg"]
    for f in damaged:
        f.write_bytes(b"\xff\xd8 not a jpeg any more")
    code, err = run(["train", "spotter", "--data", f"corpus:{corpus}", "--folds", "1", "--epochs", "1", "--out",
                     tmp_path / "R"], capsys)
    assert code == 2 and "Traceback" not in err
    assert any(f"cannot decode image {f}" in err for f in damaged), err
    assert not multiprocessing.active_children()


def _failing_fold(subject, *, checkpoint, progress, data):
    if subject == "S02":
        raise ValueError(f"no windows in {data}")
    return subject


def test_a_failing_fold_is_raised_as_itself_with_the_fold_named(tmp_path):
    from melab.train import run_folds

    with pytest.raises(ValueError, match=r"^fold S02: no windows in corpus X$"):
        run_folds(_failing_fold, ["S01", "S02"], shared={"data": "corpus X"}, checkpoint_dir=tmp_path, progress=False)


def test_a_full_disk_names_the_file_and_leaves_no_temporary(tmp_path):
    """RLIMIT_FSIZE makes every write beyond 20 kB fail (EFBIG), the way a full disk fails them (ENOSPC)."""
    path = tmp_path / "model.pt"
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000));"
            "from melab.models.spotter import Spotter, SpotterConfig; from melab.train import save_model;"
            "save_model(sys.argv[1], Spotter(SpotterConfig.tiny()))")
    done = subprocess.run([PYTHON, "-c", code, str(path)], capture_output=True, text=True, cwd=REPO)
    assert done.returncode != 0 and f"OSError: [Errno 27] cannot write {path}: File too large" in done.stderr
    assert "RuntimeError" not in done.stderr and list(tmp_path.iterdir()) == []


def test_no_space_left_is_named(tmp_path, monkeypatch):
    from melab import atomic

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError, match=rf"\[Errno 28\] cannot write {tmp_path / 'a.csv'}: No space left on device"):
        atomic.write_text(tmp_path / "a.csv", "x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change, message", [
    ({"kind": "banana"}, "its kind 'banana' is not one of spotter, merba"),
    ({"kind": None}, "its kind None is not one of spotter, merba"),
    ({"config": "big"}, "its config is not a mapping"),
    ({"config": {"d_fast": "wide"}}, "its config gives d_fast='wide', which is not a whole number"),
    ({"config": {"d_fast": 10**9}}, "its config gives d_fast=1000000000, which is not a whole number from 0 to 2^20"),
    ({"config": {"colour": 3}}, "its config has fields that SpotterConfig does not know (colour)"),
    ({"config": {"layout": "sideways"}}, "unknown spotter layout 'sideways'"),
    ({"model": [1, 2]}, "does not hold a state dict (a mapping of names to tensors)"),
    ({"train": {"fps": "fast"}}, "train.fps='fast' is not a rate"),
    ({"train": {"fps": 30.0, "k": 2.5}}, "train.k=2.5 is not a whole number"),
    ({"train": {"fps": 30.0, "dataset": "imagenet"}}, "train.dataset 'imagenet' is not a dataset melab knows"),
    ({"epoch": "five"}, "its epoch 'five' is not a whole number"),
])
def test_a_malformed_checkpoint_is_named_not_a_traceback(tmp_path, capsys, change, message):
    ckpt = torch.load(SPOTTER, weights_only=True)
    for key, value in change.items():
        ckpt[key] = value if key != "config" or not isinstance(value, dict) else {**ckpt["config"], **value}
    torch.save(ckpt, tmp_path / "bad.pt")
    code, err = run(["spot", "any.mp4", "--out", tmp_path / "s.csv", "--checkpoint", tmp_path / "bad.pt"], capsys)
    assert code == 2 and f"{tmp_path / 'bad.pt'}" in err and message in err, err
    assert snapshot(tmp_path).keys() == {"bad.pt"}


def test_a_manifest_that_parses_but_is_malformed_rebuilds_the_corpus(tmp_path, tiny_corpus):
    from melab.data.synthetic import make_corpus

    root = tmp_path / "root"
    corpus = root / "synthetic" / tiny_corpus.name
    shutil.copytree(tiny_corpus, corpus)
    (corpus / "manifest.json").write_text('{"files": ["events.csv", 12]}')
    with pytest.warns(UserWarning, match=r"is damaged or incomplete \(malformed manifest\.json"):
        assert make_corpus("tiny", 0, root, processes=1, progress=False) == corpus
    assert snapshot(corpus) == snapshot(tiny_corpus)


def test_evaluate_frame_numbers_beyond_int64_are_named(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("subject,video,onset,offset,emotion\n1,EP01,10,20,happiness\n")
    (tmp_path / "p.csv").write_text("subject,video,onset,offset,emotion\n1,EP01,10,99999999999999999999,happiness\n")
    code, err = run(["evaluate", tmp_path / "p.csv", tmp_path / "t.csv"], capsys)
    assert code == 2 and f"{tmp_path / 'p.csv'}, row 2, column 'offset'" in err and "beyond the frames" in err


# ---- late checks ----------------------------------------------------------------------------------------------


def test_init_is_checked_before_the_corpus_is_made(tmp_path, melab_data, capsys):
    (tmp_path / "bad.pt").write_bytes(b"not weights")
    started = time.monotonic()
    code, err = run(["train", "spotter", "--data", "synthetic:bench", "--init", tmp_path / "bad.pt", "--out",
                     tmp_path / "R"], capsys)
    assert code == 2 and f"checkpoint {tmp_path / 'bad.pt'}" in err and time.monotonic() - started < 30
    assert not list((melab_data / "synthetic").glob("bench-*")) and not (tmp_path / "R").exists()


def test_demo_writes_nothing_when_a_later_step_fails(tmp_path, tiny_corpus, monkeypatch, capsys):
    import melab.spot

    def fail(*args, **kwargs):
        raise ValueError("no face found in frames 0–49 of sample")

    monkeypatch.setattr(melab.spot, "spot", fail)
    out = tmp_path / "demo"
    code, err = run(["demo", "--preset", "tiny", "--out", out], capsys)
    assert code == 2 and "no face found" in err
    assert not out.exists() or snapshot(out) == {}


def test_spot_decoding_flags_are_checked_before_the_video_is_read(tmp_path, capsys):
    started = time.monotonic()
    code, err = run(["spot", tmp_path / "missing.mp4", "--out", tmp_path / "s.csv", "--low", "0.5", "--high", "0.2"],
                    capsys)
    assert code == 2 and "--low 0.5 is above --high 0.2" in err and time.monotonic() - started < 10
    code, err = run(["spot", tmp_path / "missing.mp4", "--out", tmp_path / "s.csv", "--low", "0.95"], capsys)
    assert code == 2 and "--low 0.95 is above --high" in err and "(the default from spot_decoding.json)" in err
    assert snapshot(tmp_path) == {}


def test_the_streamed_spot_checks_its_decoding_before_the_first_frame(clip, monkeypatch):
    """spot_video (the API under melab spot) streams: SISS's settings are used after the last frame, and checked
    before the first one is read."""
    import melab.spot

    monkeypatch.setattr(melab.spot, "FaceMeshTracker", None)  # a frame tracked would fail with a TypeError
    with pytest.raises(ValueError, match=r"--low 0\.5 is above --high 0\.2"):
        melab.spot.spot_video(clip["video"], low=0.5, high=0.2, workers=0, progress=False)


# ---- concurrency ----------------------------------------------------------------------------------------------


def test_two_synth_runs_of_one_corpus_wait_for_each_other(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    argv = [PYTHON, "-m", "melab", "synth", "--preset", "tiny", "--out", str(tmp_path), "--processes", "1"]
    runs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [r.communicate(timeout=600) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], results
    assert any("waiting for another melab synth" in err for _, err in results)
    corpora = [p for p in (tmp_path / "synthetic").iterdir() if not p.name.startswith(".")]
    assert len(corpora) == 1 and (corpora[0] / "manifest.json").exists()


@pytest.mark.parametrize("command", [["train", "spotter", "--data", "corpus:/nonexistent"], ["flow", "{clip}"]])
def test_a_second_run_into_one_out_is_refused(tmp_path, clip, capsys, command):
    from melab.atomic import output_lock

    out = tmp_path / "out"
    with output_lock(out):
        before = snapshot(tmp_path)
        code, err = run([a.format(clip=clip["video"]) for a in command] + ["--out", out], capsys)
    assert code == 2 and f"--out {out} is in use by another melab" in err
    assert snapshot(tmp_path) == before


# ---- weak: messages and warnings ------------------------------------------------------------------------------


def test_melab_data_that_is_a_file_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").write_text("x")
    monkeypatch.setenv("MELAB_DATA", str(tmp_path / "data"))
    code, err = run(["synth", "--preset", "tiny"], capsys)
    assert code == 2 and f"MELAB_DATA={tmp_path / 'data'}: {tmp_path / 'data'} is a file" in err


def test_an_implausible_frame_rate_is_warned(tmp_path, clip):
    from melab.spot import read_resampled

    stamped = write_video(clip["frames"][:40], tmp_path / "slow.mp4", 1.0)
    with pytest.warns(UserWarning, match=r"slow\.mp4: its file states 1 fps, an implausible rate .* pass the true "
                                         r"rate with --fps"):
        read_resampled(stamped, 30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_resampled(stamped, 30.0, fps=30.0)


def test_an_image_folder_is_streamed_without_a_made_up_frame_rate(tmp_path, clip):
    """ROI series need no frame rate and an image folder has none: melab flow's streamed read takes a plausible one
    (house's stream took 1 fps, which the implausible-rate check would then have warned about)."""
    from melab.flow import extract_roi_series

    folder = _bmp_folder(tmp_path / "frames", clip["frames"][:20])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extract_roi_series([(folder, clip["truth"][:20])], cache_dir=tmp_path / "cache", k=10, size=32,
                           method="dis", progress=False)


def _astronaut() -> np.ndarray:
    from skimage.data import astronaut

    return astronaut()[:300, 60:360]  # the face and shoulders, 300 x 300


@pytest.mark.slow
def test_a_second_face_and_a_tiny_face_are_warned():
    from melab.face import FaceMeshTracker, mediapipe_landmarks

    pair = np.concatenate([_astronaut(), _astronaut()[:, ::-1]], axis=1)
    with pytest.warns(UserWarning, match=r"a second face is in view in frames 0 of the video \(2 frames"):
        lm = mediapipe_landmarks(np.stack([pair, pair]))
    assert np.isfinite(lm).all()
    small = cv2.resize(_astronaut(), (80, 80), interpolation=cv2.INTER_AREA)
    with pytest.warns(UserWarning, match=r"the face is only \d+ px wide in the 80x80 frames"):
        mediapipe_landmarks(np.stack([small] * 2))
    # the streamed path (melab spot, melab flow) tracks frame by frame with the same checks, naming video frames
    with pytest.warns(UserWarning, match=r"a second face is in view in frames 90 of clip \(1 frames"), \
            FaceMeshTracker(name="clip") as track:
        track(pair, 90)


def test_duplicate_truth_rows_are_warned(tmp_path):
    from melab.metrics import evaluate_csv
    from melab.spot import _read_truth

    columns = "subject,video,onset,offset,emotion\n"
    (tmp_path / "truth.csv").write_text(columns + "1,EP01,10,20,happiness\n1,EP01,10,20,happiness\n")
    with pytest.warns(UserWarning, match=r"repeats 1 expression\(s\)"):
        evaluate_csv(tmp_path / "truth.csv", tmp_path / "truth.csv")
    with pytest.warns(UserWarning, match=rf"--truth {tmp_path / 'truth.csv'} repeats 1 row\(s\) \(line 3\)"):
        _read_truth(tmp_path / "truth.csv")


def test_tqdm_disable_silences_synth_and_spot(tmp_path, clip):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    synth = subprocess.run([PYTHON, "-m", "melab", "synth", "--preset", "tiny", "--out", str(tmp_path / "root"),
                            "--processes", "1"], env=env, capture_output=True, text=True, timeout=600)
    assert synth.returncode == 0 and "synth tiny" not in synth.stderr
    spot = subprocess.run([PYTHON, "-m", "melab", "spot", str(clip["video"]), "--landmarks", str(clip["landmarks"]),
                           "--out", str(tmp_path / "s.csv")], env=env, capture_output=True, text=True, timeout=600)
    assert spot.returncode == 0 and "spot clip" not in spot.stderr


def test_history_records_the_learning_rate_that_was_used():
    from melab.models.spotter import Spotter, SpotterConfig
    from melab.train import fit

    model = Spotter(SpotterConfig.tiny(in_channels=4, d_fast=8, d_slow=16, n_stages=2, d_state=4))
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    used = []

    def step(model, batch, epoch):
        used.append(optimizer.param_groups[0]["lr"])
        return model(batch).spot.mean(), {}

    history = fit(model, lambda epoch: [torch.zeros(2, 8, 4)] * 3, step, optimizer=optimizer, epochs=2,
                  scheduler=scheduler, progress=False)
    assert used == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125]
    assert history["lr"].tolist() == [0.25, 0.03125]


# ---- the sweep: classes of failure found after the listed ones ------------------------------------------------


@pytest.mark.parametrize("command", [["flow", "{c}"], ["train", "spotter", "--data", "corpus:{c}"],
                                     ["train", "merba", "--data", "corpus:{c}"]])
def test_sweep_a_corpus_with_malformed_tables_is_named_before_work(tmp_path, capsys, command):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "videos.csv").write_text("a,b\n1,2\n")
    (corpus / "events.csv").write_text("subject,video,onset,apex,offset,emotion,kind,fps\n")
    before = snapshot(tmp_path)
    code, err = run([a.format(c=corpus) for a in command] + ["--out", tmp_path / "out"], capsys)
    assert code == 2 and f"{corpus / 'videos.csv'} lacks the column(s) subject, video, n_frames, fps" in err
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_sweep_folds_beyond_the_subjects_are_refused_before_the_features(tmp_path, tiny_corpus, monkeypatch, capsys):
    import melab.train.artefacts

    def no_features(*args, **kwargs):
        raise AssertionError("the ROI series were computed before --folds was checked")

    monkeypatch.setattr(melab.train.artefacts, "roi_corpus", no_features)
    code, err = run(["train", "spotter", "--data", f"corpus:{tiny_corpus}", "--folds", "9", "--out", tmp_path / "R"],
                    capsys)
    assert code == 2 and "--folds 9, but the data has 3 subjects; pass 1..3" in err
    assert not (tmp_path / "R").exists()


def test_sweep_merba_on_a_corpus_without_labelled_mes_is_named(tmp_path, tiny_corpus):
    from melab.features import merba_corpus

    corpus = corpus_copy(tiny_corpus, tmp_path)
    events = pd.read_csv(corpus / "events.csv")
    events[events.kind != "micro"].to_csv(corpus / "events.csv", index=False)
    with pytest.raises(ValueError, match=r"events\.csv holds no micro-expression with one of the seven emotions"):
        merba_corpus(corpus, size=32, cache_dir=tmp_path / "cache", progress=False)



def test_sweep_flow_stride_not_below_k_is_refused_before_work(tmp_path, clip, capsys):
    code, err = run(["flow", clip["video"], "--k", "20", "--stride", "20", "--out", tmp_path / "out"], capsys)
    assert code == 2 and "--stride 20 must be below --k 20" in err and not (tmp_path / "out").exists()


def test_sweep_a_huge_smoothing_width_is_refused_not_allocated():
    """A box filter of 10^9 frames took 8 GB and 20 s in scipy (a width of 10^19 killed the process)."""
    from melab.decode import fixed_window, smooth_scores

    started = time.monotonic()
    with pytest.raises(ValueError, match=r"smooth must be an integer >= 1 and <= 1000001, got 1000000001"):
        smooth_scores(np.zeros(80), 10**9 + 1)
    with pytest.raises(ValueError, match=r"k must be an integer >= 1 and <= 1000000000"):
        fixed_window(np.zeros(80), 10**19)  # scipy's find_peaks wraps such a distance and answers wrongly
    assert time.monotonic() - started < 1


def test_sweep_frame_columns_held_as_objects_are_numbers():
    """A table edited in pandas can hold its frames as Python objects: they are numbers, not an error."""
    from melab.metrics import spotting_scores

    pred = pd.DataFrame({"video": ["a"], "onset": [3], "offset": [9]}).astype(object)
    truth = pd.DataFrame({"video": ["a"], "onset": [3], "offset": [9]})
    assert spotting_scores(pred, truth).tp == 1
    with pytest.raises(TypeError, match=r"pred rows of \('a',\) must be an array of numbers"):
        spotting_scores(pred.assign(onset=["3"]), truth)


@pytest.mark.slow
def test_a_face_too_small_in_its_frame_says_so(tmp_path, capsys):
    """The reviewer's 4000x3000 video lost its face to the shrink to 640 px, they thought; MediaPipe's detector sees
    every frame at 128 px, so a face this small in its frame is missed at any resolution. The message says that."""
    from melab.face import mediapipe_landmarks

    folder = tmp_path / "frames"
    folder.mkdir()
    frame = np.full((1500, 2000, 3), 128, np.uint8)
    frame[700:760, 950:1010] = cv2.resize(_astronaut()[20:220, 50:250], (60, 60))  # a 60-px face
    assert np.isnan(mediapipe_landmarks(frame[None])).all()  # not found at full resolution either
    for i in range(50):
        cv2.imwrite(str(folder / f"img_{i:05d}.png"), frame[..., ::-1])
    code, err = run(["spot", folder, "--fps", "30", "--out", tmp_path / "s.csv"], capsys)
    assert code == 2 and "no face found in frames 0–49" in err
    assert "a face under about a quarter of the frame's height is missed, whatever the resolution" in err
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("table, column, value, message", [
    ("videos.csv", "fps", 0, "videos.csv, line 2: video 'sub01_1' has fps 0.0"),
    ("videos.csv", "n_frames", 12.5, "videos.csv, line 2: video 'sub01_1' has fps 30.0 and n_frames 12.5"),
    ("events.csv", "apex", 10**6, "events.csv, line 2: video 'sub01_1', onset 134, apex 1000000"),
    ("events.csv", "kind", "Micro ", "events.csv, line 2: video 'sub01_1', onset 134, apex 175, offset 243, kind "
                                     "'Micro '"),
])
def test_sweep_corpus_values_are_checked_before_work(tmp_path, tiny_corpus, capsys, table, column, value, message):
    corpus = corpus_copy(tiny_corpus, tmp_path)
    frame = pd.read_csv(corpus / table, dtype={"subject": str, "video": str})
    frame[column] = frame[column].astype(object)
    frame.loc[0, column] = value
    frame.to_csv(corpus / table, index=False)
    code, err = run(["train", "spotter", "--data", f"corpus:{corpus}", "--folds", "1", "--out", tmp_path / "R"],
                    capsys)
    assert code == 2 and f"--data: {corpus / message.split(',')[0]}" in err and message.split(", ", 1)[1] in err, err
    assert not (tmp_path / "R").exists()


def test_sweep_spot_frame_maps_refuse_fractional_frames():
    from melab.spot import resample_index, to_video_intervals

    with pytest.raises(ValueError, match=r"intervals must hold whole numbers"):
        to_video_intervals([(0.2, 0.9)], 30.0, 30.0, 100)  # times in [0, 1], not frames
    with pytest.raises(ValueError, match=r"n_frames must be an integer >= 1"):
        resample_index(10.5, 30.0, 30.0)
