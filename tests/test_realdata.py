"""Recognition on real data: DFME labels, the MEGC 2019 composite, apex detection, the onset-apex flow cache,
and ``melab train merba --data composite:...|dfme:...`` end to end.

Every dataset is a fixture folder in its real layout, built here in a tmp dir: label spreadsheets in the
dataset's own format and short image folders rendered by the synthetic generator (64 x 64 faces with one
expression each, so the true apex is known). MediaPipe does not find the synthetic faces reliably, so the
flow tests use ``landmarks="center"`` (the centre square of the clip, resized); the MediaPipe path is
tested for its error on a face-less clip.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pandas as pd
import pytest

from melab import clips
from melab.cli import main
from melab.clips import apex_curve, clip_flow, clip_flows, detect_apex, onset_landmarks
from melab.data.annotations import AnnotationWarning, normalize_emotion, read_dfme
from melab.data.check import check_dataset
from melab.data.dataset import Dataset
from melab.data.splits import (
    DFME_PUBLIC_COUNTS,
    MEGC2019_COUNTS,
    MEGC2019_MAP,
    composite_3db,
    composite_counts,
    dfme_counts,
    dfme_public_split,
    loso_folds,
)
from melab.data.synthetic import generate_clip
from melab.data.video import read_frames
from melab.reproduce import load_real_data, parse_spec, run_real_merba

# Rendered emotions of labels the generator has no AUs for.
RENDER_AS = {"repression": "disgust", "negative": "sadness", "positive": "happiness", "others": "others"}


@functools.cache
def rendered(subject: int, emotion: str, duration_s: float = 0.3):
    """Frames (T, 64, 64, 3) and the 0-based (onset, apex, offset) of one synthetic ME clip, padded 3 frames."""
    emotion = normalize_emotion(emotion)
    clip = generate_clip(0, subject, RENDER_AS.get(emotion, emotion), duration_s=duration_s, fps=30, pad_s=0.1,
                         size=64, amplitude_px=1.2, jpeg_quality=90)
    ev = clip.events.iloc[0]
    return clip.frames, (int(ev.onset), int(ev.apex), int(ev.offset))


def write_clip(folder: Path, name, first: int, subject: int, emotion: str, tail: int = 0) -> tuple[int, int, int]:
    """Write a clip's frames as ``name(number)`` images numbered from ``first``; return the numbers of its
    onset, apex and offset. ``tail`` still frames are added after the clip and counted into the offset."""
    frames, (onset, apex, offset) = rendered(subject, emotion)
    if tail:
        frames = np.concatenate([frames, np.repeat(frames[-1:], tail, axis=0)])
        offset = len(frames) - 1
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / name(first + t)), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return first + onset, first + apex, first + offset


def write_xlsx(path: Path, rows, sheet: str | None = None) -> Path:
    wb = openpyxl.Workbook()
    if sheet:
        wb.active.title = sheet
    for r in rows:
        wb.active.append(list(r))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# ---- fixture datasets --------------------------------------------------------------------------

# (subject, clip, emotion, rendered face) per dataset; "others"/"fear" rows are left out of the composite.
CASME2_ROWS = [(1, "EP01_01", "happiness", 0), (1, "EP02_02f", "disgust", 0), (1, "EP03_01", "others", 0),
               (2, "EP01_01", "repression", 1), (2, "EP04_03", "surprise", 1), (2, "EP05_02", "fear", 1)]
SAMM_ROWS = [(6, "006_1_1", "Anger", 2), (6, "006_1_2", "Other", 2), (6, "006_2_5", "Sadness", 2),
             (7, "007_1_1", "Happiness", 3), (7, "007_2_3", "Surprise", 3), (7, "007_1_2", "Contempt", 3)]
SMIC_ROWS = [(1, "s1_ne_01", "negative", 4), (1, "s1_po_01", "positive", 4),
             (2, "s2_sur_01", "surprise", 5), (2, "s2_ne_02", "negative", 5)]


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("realdata")
    casme2 = base / "CASME2"
    rows = [["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
             "Estimated Emotion"]]
    for subject, clip, emotion, face in CASME2_ROWS:
        numbers = write_clip(casme2 / "CASME2_RAW_selected" / f"sub{subject:02d}" / clip, lambda n: f"img{n}.jpg",
                             40 + 7 * face, face, emotion)
        rows.append([subject, clip, None, *numbers, None, "12", emotion])
    write_xlsx(casme2 / "CASME2-coding-20140508.xlsx", rows)

    samm = base / "SAMM"
    rows = [["SAMM micro-movements, FACS codes v2"], [],
            ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
             "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]]
    for subject, clip, emotion, face in SAMM_ROWS:
        numbers = write_clip(samm / "SAMM" / f"{subject:03d}" / clip, lambda n, s=subject: f"{s:03d}_{n:05d}.jpg",
                             5000 + 11 * face, face, emotion)
        rows.append([subject, clip, 1, *numbers, numbers[2] - numbers[0] + 1, "Micro - 1/2", "4", emotion, 3, ""])
    write_xlsx(samm / "SAMM_Micro_FACS_Codes_v2.xlsx", rows)

    smic = base / "SMIC"
    rows = [["Subject", "Filename", "OnsetF", "OffsetF", "TotalMF1", "Emotion", "FirstF", "LastF", "TotalVL"]]
    for subject, clip, emotion, face in SMIC_ROWS:
        # SMIC labels no apex; a still tail puts the middle frame 5 frames after the true apex
        onset, _, offset = write_clip(smic / "HS" / f"s{subject}" / clip, lambda n: f"image{n:06d}.bmp",
                                      2000 + 100 * face, face, emotion, tail=8)
        rows.append([subject, clip, onset, offset, offset - onset + 1, emotion, 0, 0, 0])
    write_xlsx(smic / "SMIC-E_HS_annotation.xlsx", rows, sheet="HS")
    return {"casme2": casme2, "samm": samm, "smic": smic, "base": base}


DFME_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "Emotion", "AU", "fps"]
# (subject, clip, emotion, rendered face, fps) per set
DFME_SETS_ROWS = {
    "train": [("dfme_p001", "dfme_p001_01", "happiness", 0, 500), ("dfme_p001", "dfme_p001_02", "Disgust", 0, 500),
              ("dfme_p002", "dfme_p002_01", "surprise", 1, 200), ("dfme_p002", "dfme_p002_02", "sad", 1, 200),
              ("dfme_p003", "dfme_p003_01", "anger", 2, 300), ("dfme_p003", "dfme_p003_02", "fear", 2, 300)],
    "test_A": [("dfme_p004", "dfme_p004_01", "Contempt", 3, 500), ("dfme_p004", "dfme_p004_02", "happy", 3, 500)],
    "test_B": [("dfme_p005", "dfme_p005_01", "surprise", 4, 200), ("dfme_p005", "dfme_p005_02", "anger", 4, 200)],
}


@pytest.fixture(scope="module")
def dfme_root(roots) -> Path:
    """DFME-public as melab reads it: one label file per set (set from the file name), a folder per clip."""
    root = roots["base"] / "DFME"
    for part, rows in DFME_SETS_ROWS.items():
        table = [DFME_HEADER]
        for subject, clip, emotion, face, fps in rows:
            numbers = write_clip(root / "frames" / part / clip, lambda n: f"{n:04d}.jpg", 1, face, emotion)
            table.append([subject, clip, *numbers, emotion, "4+7", fps])
        write_xlsx(root / f"DFME_{part}.xlsx", table)
    return root


# ---- DFME labels ---------------------------------------------------------------------------------

def test_dfme_reads_back_zero_based_with_sets_and_rates(tmp_path):
    path = write_xlsx(tmp_path / "dfme_labels.xlsx", [
        ["DFME-public labels"], [],
        ["Subject", "Filename", "Onset", "Apex", "Offset", "Emotion", "AU", "Frame Rate", "Set"],
        ["p1", "p1_a", 1, 30, 80, "Happy", "6+12", 500, "train"],
        ["p2", "p2_a", 11, 20, 41, "Disgust", "9", 200, "Test A"],
        ["p3", "p3_a", 5, None, 25, "sadness", "15", 300, "B"],
    ])
    with pytest.warns(UserWarning, match="row 6: apex is missing"):
        events = read_dfme(path)
    assert events[["subject", "video", "onset", "apex", "offset", "emotion", "kind", "fps", "set"]].values.tolist() == [
        ["p1", "p1_a", 0, 29, 79, "happiness", "micro", 500.0, "train"],
        ["p2", "p2_a", 10, 19, 40, "disgust", "micro", 200.0, "test_a"],
        ["p3", "p3_a", 4, 14, 24, "sadness", "micro", 300.0, "test_b"]]
    assert events["aus"].tolist() == ["6+12", "9", "15"]
    with pytest.warns(AnnotationWarning):
        zero_based = read_dfme(path, frame_base=0)
    assert zero_based.loc[0, ["onset", "apex", "offset"]].tolist() == [1, 30, 80]


@pytest.mark.parametrize("row, column, reason", [
    (["p1", "p1_a", 1, 3, 5, "others", 500], "Emotion", "seven emotions"),
    (["p1", "p1_a", 1, 3, 5, "fear", 250], "fps", "fps must be one of"),
    (["p1", "p1_a", 1, 9, 5, "fear", 500], "Apex", "outside onset..offset"),
    (["p1", "p1_a", 0, 3, 5, "fear", 500], "Onset", "counts frames from 1"),
])
def test_dfme_malformed_rows_name_file_row_and_column(tmp_path, row, column, reason):
    path = write_xlsx(tmp_path / "DFME_train.xlsx", [["Subject", "Filename", "Onset", "Apex", "Offset", "Emotion",
                                                      "fps"], row])
    with pytest.raises(ValueError, match=rf"DFME_train.xlsx, row 2, column '{column}': .*{reason}"):
        read_dfme(path)


def test_dfme_is_strict_about_rates_repeats_and_sets(tmp_path):
    header = ["Subject", "Filename", "Onset", "Apex", "Offset", "Emotion"]
    no_rate = write_xlsx(tmp_path / "a.xlsx", [header, ["p1", "p1_a", 1, 2, 3, "fear"]])
    with pytest.raises(ValueError, match=r"a.xlsx: no fps column .* 200, 300 or 500"):
        read_dfme(no_rate)
    assert read_dfme(no_rate, fps=300)["fps"].tolist() == [300.0]
    with pytest.raises(ValueError, match="fps must be one of DFME's rates"):
        read_dfme(no_rate, fps=25)
    repeated = write_xlsx(tmp_path / "b.xlsx", [header, ["p1", "p1_a", 1, 2, 3, "fear"],
                                                ["p1", "p1_a", 4, 5, 6, "fear"]])
    with pytest.raises(ValueError, match=r"b.xlsx, row 3, column 'Filename': .*listed again \(first in row 2\)"):
        read_dfme(repeated, fps=200)
    disagree = write_xlsx(tmp_path / "c.xlsx", [header + ["Set"], ["p1", "p1_a", 1, 2, 3, "fear", "Test B"]])
    with pytest.raises(ValueError, match=r"row 2, column 'Set': this file was read as set 'test_a'"):
        read_dfme(disagree, fps=200, split="test_a")


def test_dfme_public_split_is_read_from_the_labels(dfme_root):
    ds = Dataset(dfme_root, kind="dfme")
    split = dfme_public_split(ds.events)
    assert split.train == ("dfme_p001", "dfme_p002", "dfme_p003")
    assert split.test_a == ("dfme_p004",) and split.test_b == ("dfme_p005",)
    assert sorted(ds.videos["fps"].unique()) == [200.0, 300.0, 500.0]
    counts = dfme_counts(ds.events)
    assert counts.loc["train", "total"] == 6 and counts.loc["test_a", "contempt"] == 1
    assert list(counts.columns[:-1]) == list(DFME_PUBLIC_COUNTS.columns)
    mixed = ds.events.copy()
    mixed.loc[mixed["subject"] == "dfme_p004", "set"] = ["test_a", "test_b"]
    with pytest.raises(ValueError, match="dfme_p004 appear in both test_a and test_b"):
        dfme_public_split(mixed)
    with pytest.raises(ValueError, match="belong to no set"):
        dfme_public_split(ds.events.assign(set=""))


def test_published_dfme_counts_add_up():
    # MERba's Table II: 1856 training clips; test A 474, test B 299; 2629 in all (the CCAC 2024 page).
    assert DFME_PUBLIC_COUNTS["total"].tolist() == [1856, 474, 299]
    assert (DFME_PUBLIC_COUNTS.drop(columns="total").sum(axis=1) == DFME_PUBLIC_COUNTS["total"]).all()
    assert DFME_PUBLIC_COUNTS["total"].sum() == 2629


def test_data_check_reads_dfme(dfme_root, capsys):
    report = check_dataset("dfme", dfme_root)
    assert report.ok and len(report.events) == 10 and report.n_videos == 10
    assert main(["data", "check", "--kind", "dfme", str(dfme_root)]) == 0
    assert "DFME at" in capsys.readouterr().out


# ---- the MEGC 2019 composite ----------------------------------------------------------------------

def test_megc2019_table_and_published_counts():
    assert MEGC2019_MAP["casme2"] == {"happiness": "positive", "disgust": "negative", "repression": "negative",
                                      "surprise": "surprise"}
    assert {e for e, c in MEGC2019_MAP["samm"].items() if c == "negative"} == \
        {"anger", "contempt", "disgust", "fear", "sadness"}
    assert MEGC2019_MAP["smic"] == {c: c for c in ("negative", "positive", "surprise")}
    assert MEGC2019_COUNTS["total"].to_dict() == {"casme2": 145, "samm": 133, "smic": 164}
    assert MEGC2019_COUNTS["subjects"].to_dict() == {"casme2": 24, "samm": 28, "smic": 16}
    assert MEGC2019_COUNTS["total"].sum() == 442 and MEGC2019_COUNTS["subjects"].sum() == 68
    # MERba's Table III, column "Combined"
    assert MEGC2019_COUNTS[["negative", "positive", "surprise"]].sum().tolist() == [250, 109, 83]


def test_composite_on_fixtures_counts_prefixes_and_loso(roots):
    samples = composite_3db(casme2=roots["casme2"], samm=roots["samm"], smic=roots["smic"])
    table = samples.groupby("dataset")["label"].value_counts().unstack(fill_value=0)
    assert table.to_dict("index") == {
        "casme2": {"negative": 2, "positive": 1, "surprise": 1},
        "samm": {"negative": 3, "positive": 1, "surprise": 1},
        "smic": {"negative": 2, "positive": 1, "surprise": 1}}
    assert sorted(samples["subject"].unique()) == ["casme2_sub01", "casme2_sub02", "samm_006", "samm_007",
                                                   "smic_s1", "smic_s2"]
    assert not samples.query("dataset == 'casme2'")["emotion"].isin(["others", "fear"]).any()
    assert samples.query("dataset == 'smic'")["apex_labelled"].eq(False).all()
    assert samples.query("dataset != 'smic'")["apex_labelled"].all()
    # positions in the clip's own frames: every clip was written with 3 padding frames before its onset
    assert samples["onset"].eq(3).all() and (samples["onset"] <= samples["apex"]).all()
    folds = loso_folds(samples)
    assert [f.subject for f in folds] == sorted(samples["subject"].unique())
    assert sum(len(f.test) for f in folds) == len(samples) == 13
    counts = composite_counts(samples)
    assert counts.loc["all", ["total", "subjects", "published_total", "published_subjects"]].tolist() == \
        [13, 6, 442, 68]
    assert counts.loc["samm", ["negative", "total", "published_total"]].tolist() == [3, 5, 133]
    fewer = composite_3db(samm=roots["samm"], exclude=[("samm", "006", "006_1_1")])
    assert len(fewer) == 4 and "006_1_1" not in set(fewer["video"])


# SAMM's micro-movements per estimated emotion (Davison et al., IEEE TAFFC 2018) and SMIC-HS's per class.
SAMM_EMOTIONS = {"Anger": 57, "Contempt": 12, "Disgust": 9, "Fear": 8, "Happiness": 26, "Sadness": 6,
                 "Surprise": 15, "Other": 26}
SMIC_CLASSES = {"negative": 70, "positive": 51, "surprise": 43}


def test_full_size_samm_and_smic_labels_give_the_published_composite_counts(tmp_path):
    """Label files with the datasets' real class counts (subjects invented, 2-image clips) -> 133 and 164."""
    image = cv2.imencode(".jpg", np.full((16, 16, 3), 99, np.uint8))[1].tobytes()

    def clip(folder: Path, names):
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_bytes(image)

    rows = [["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
             "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]]
    emotions = [e for e, n in SAMM_EMOTIONS.items() for _ in range(n)]
    for i, emotion in enumerate(emotions):
        subject = 6 + i % 32
        name = f"{subject:03d}_1_{i}"
        clip(tmp_path / "samm" / name, [f"{subject:03d}_{n:05d}.jpg" for n in (10, 11)])
        rows.append([subject, name, 1, 10, 11, 11, 2, "Micro - 1/2", "4", emotion, 1, ""])
    write_xlsx(tmp_path / "samm" / "SAMM_Micro_FACS_Codes_v2.xlsx", rows)
    rows = [["Subject", "Filename", "OnsetF", "OffsetF", "Emotion"]]
    for i, label in enumerate(c for c, n in SMIC_CLASSES.items() for _ in range(n)):
        subject = 1 + i % 16
        name = f"s{subject}_{label[:2] if label != 'surprise' else 'sur'}_{i:03d}"
        clip(tmp_path / "smic" / name, [f"image{n}.bmp" for n in (5, 6, 7)])
        rows.append([subject, name, 5, 7, label])
    write_xlsx(tmp_path / "smic" / "SMIC-E_HS.xlsx", rows, sheet="HS")
    counts = composite_counts(composite_3db(samm=tmp_path / "samm", smic=tmp_path / "smic"))
    assert counts.loc[["samm", "smic"], ["negative", "positive", "surprise", "total"]].values.tolist() == \
        MEGC2019_COUNTS.loc[["samm", "smic"], ["negative", "positive", "surprise", "total"]].values.tolist()
    assert counts.loc["all", "total"] == counts.loc["all", "published_total"] == 133 + 164


def test_composite_needs_a_dataset_of_the_right_kind(roots):
    with pytest.raises(ValueError, match="at least one of"):
        composite_3db()
    with pytest.raises(ValueError, match="samm= got a 'casme2' dataset"):
        composite_3db(samm=Dataset(roots["casme2"], kind="casme2"))


# ---- apex detection ---------------------------------------------------------------------------------

def test_detect_apex_finds_the_true_apex_of_synthetic_clips():
    errors = []
    for subject in range(3):
        for emotion in ("anger", "happiness", "surprise", "sadness", "disgust", "fear"):
            frames, (onset, apex, offset) = rendered(subject, emotion, 0.35)
            errors.append(detect_apex(frames[onset:offset + 1]) - (apex - onset))
    errors = np.abs(errors)
    assert errors.max() <= 1, errors
    assert (errors == 0).mean() >= 0.75, errors


def test_apex_curve_ignores_a_global_shift():
    frames, (onset, apex, offset) = rendered(1, "surprise", 0.35)
    clip = frames[onset:offset + 1].copy()
    shifted = np.concatenate([clip[:1], np.roll(clip[1:], 2, axis=2)])  # head moves 2 px right after the onset
    assert detect_apex(shifted) == apex - onset
    curve = apex_curve(clip)
    assert curve[0] == 0 and curve.argmax() == apex - onset


# ---- onset-apex flow of real clips, cached ---------------------------------------------------------

@pytest.fixture
def smic_samples(roots) -> pd.DataFrame:
    return composite_3db(smic=roots["smic"])


def test_clip_flows_detects_smic_apex_and_caches(smic_samples, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    flows, used = clip_flows(smic_samples, cache_dir=cache, size=32, landmarks="center", apex={"smic": "detect"},
                             progress=False)
    assert flows.shape == (4, 3, 32, 32) and flows.dtype == np.float32
    truth = [rendered(face, emotion)[1][1] for _, clip, emotion, face in sorted(SMIC_ROWS, key=lambda r: r[1])]
    assert used["apex"].tolist() == truth  # the true apex, though SMIC labels none
    assert (smic_samples["apex"] - used["apex"]).ge(3).all()  # not the middle frame the reader filled in
    assert used["apex_mode"].eq("detect").all()
    assert len(list(cache.glob("*.npz"))) == 4 and not list(cache.glob(".*"))

    def no_flow(*args, **kwargs):
        raise AssertionError("a cached sample was recomputed")

    monkeypatch.setattr(clips, "clip_flow", no_flow)
    again, used_again = clip_flows(smic_samples, cache_dir=cache, size=32, landmarks="center",
                                   apex={"smic": "detect"}, progress=False)
    np.testing.assert_array_equal(again, flows)
    assert used_again["apex"].tolist() == used["apex"].tolist()
    with pytest.raises(AssertionError, match="recomputed"):  # another setting is another key
        clip_flows(smic_samples, cache_dir=cache, size=64, landmarks="center", progress=False)


def test_clip_flows_resume_after_a_crash_and_recompute_broken_entries(smic_samples, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    real_flow, calls = clips.clip_flow, []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_flow(*args, **kwargs)

    monkeypatch.setattr(clips, "clip_flow", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        clip_flows(smic_samples, cache_dir=cache, size=32, landmarks="center", progress=False)
    assert len(list(cache.glob("*.npz"))) == 2 and not list(cache.glob(".*"))  # whole entries only
    calls.clear()
    monkeypatch.setattr(clips, "clip_flow", lambda *a, **k: (calls.append(1), real_flow(*a, **k))[1])
    entries = sorted(cache.glob("*.npz"))
    entries[0].write_bytes(b"not an npz")  # a broken entry is recomputed, not trusted
    flows, _ = clip_flows(smic_samples, cache_dir=cache, size=32, landmarks="center", progress=False)
    assert len(calls) == 3 and len(list(cache.glob("*.npz"))) == 4
    first = smic_samples.iloc[0]  # apex: the middle frame, as SMIC's reader fills it in
    frames, _ = read_frames(first.path, fps=100.0)
    expected = clip_flow(frames, int(first.onset), int(first.apex), size=32, landmarks="center")
    np.testing.assert_allclose(flows[0], expected, atol=1e-5)


def test_mediapipe_path_crops_the_face_and_detects_the_apex(tmp_path):
    pytest.importorskip("mediapipe")
    clip = generate_clip(0, 2, "surprise", duration_s=0.3, fps=30, pad_s=0.1, size=128, amplitude_px=1.5)
    ev, truth = clip.events.iloc[0], clip.landmarks[clip.events.iloc[0].onset]
    found = onset_landmarks(clip.frames[ev.onset], name="synthetic clip")
    g = 0.5 * np.linalg.norm(truth[42] - truth[39])
    assert (np.linalg.norm(found[[39, 42]] - truth[[39, 42]], axis=1) < 0.6 * g).all()  # the same eyes
    by_mediapipe = clip_flow(clip.frames, ev.onset, ev.apex, size=64, landmarks="mediapipe")
    by_truth = clip_flow(clip.frames, ev.onset, ev.apex, size=64, landmarks=truth)
    assert np.corrcoef(by_mediapipe[:2].ravel(), by_truth[:2].ravel())[0, 1] > 0.7
    folder = tmp_path / "s9_sur_01"  # a SMIC-like clip: no apex label, a still tail after the expression
    folder.mkdir()
    for t, frame in enumerate(np.concatenate([clip.frames, np.repeat(clip.frames[-1:], 8, axis=0)])):
        cv2.imwrite(str(folder / f"image{t:04d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    last = len(clip.frames) + 7
    samples = pd.DataFrame([dict(dataset="smic", subject="smic_s9", video="s9_sur_01", path=str(folder),
                                 onset=int(ev.onset), apex=(int(ev.onset) + last) // 2, offset=last, fps=100.0)])
    _, used = clip_flows(samples, cache_dir=tmp_path / "cache", size=64, apex={"smic": "detect"}, progress=False)
    assert abs(int(used.loc[0, "apex"]) - int(ev.apex)) <= 1


def test_clip_flow_without_a_face_says_what_to_do():
    pytest.importorskip("mediapipe")
    blobs = np.full((3, 64, 64, 3), 128, np.uint8)
    with pytest.raises(ValueError, match=r"no face found .* pass landmarks='center'"):
        clip_flow(blobs, 0, 2, size=32, landmarks="mediapipe", name="s1/s1_ne_01")
    with pytest.raises(ValueError, match="landmarks must be one of"):
        clip_flow(blobs, 0, 2, size=32, landmarks="dlib")


# ---- the protocols, end to end ------------------------------------------------------------------

def test_parse_spec():
    assert parse_spec("dfme:/data/DFME") == ("dfme", {"path": "/data/DFME"})
    assert parse_spec("dfme:/data/DFME,labels=/data/DFME/DFME_train.xlsx,landmarks=center") == \
        ("dfme", {"path": "/data/DFME", "labels": "/data/DFME/DFME_train.xlsx", "landmarks": "center"})
    assert parse_spec("composite:casme2=/a,smic=/c,landmarks=center,smic_apex=label") == \
        ("composite", {"casme2": "/a", "smic": "/c", "landmarks": "center", "smic_apex": "label"})
    assert parse_spec("composite:casme2=/a,casme2_labels=/a/CASME2_label_Ver_2.xls,casme2_frames=/a/Cropped")[1] == \
        {"casme2": "/a", "casme2_labels": "/a/CASME2_label_Ver_2.xls", "casme2_frames": "/a/Cropped"}
    for bad, message in (("composite:", "at least one of"), ("composite:casme=/a", "not one of"),
                         ("composite:smic=/a,smic=/b", "given twice"), ("dfme:path=/a,landmarks=dlib", "landmarks"),
                         ("casme2:/a", "not a real benchmark"), ("composite:samm=/b,casme2_frames=/a", "need casme2="),
                         ("dfme:labels=/a", "give the DFME folder")):
        with pytest.raises(ValueError, match=message):
            parse_spec(bad)


def test_train_merba_on_the_composite_fixture_end_to_end(roots, tmp_path, capsys, one_thread, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = (f"composite:casme2={roots['casme2']},samm={roots['samm']},smic={roots['smic']},landmarks=center")
    out = tmp_path / "run"
    assert main(["train", "merba", "--data", spec, "--config", "tiny", "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "samples: 13" in printed and "subjects: 6" in printed and "all_uf1:" in printed
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 13 and predictions["subject"].nunique() == 6
    assert set(predictions["predicted"]) <= {"negative", "positive", "surprise"}
    subjects = predictions["subject"].unique()
    assert sorted(p.name for p in out.glob("fold_*.pt")) == sorted(f"fold_{s}.pt" for s in subjects)
    scores = pd.read_csv(out / "scores.csv", index_col=0)
    assert scores.index.tolist() == ["all", "casme2", "samm", "smic"] and scores.loc["all", "n"] == 13
    counts = pd.read_csv(out / "counts.csv", index_col=0)
    assert counts.loc["all", "total"] == 13 and counts.loc["all", "published_total"] == 442
    smic = predictions[predictions["dataset"] == "smic"]
    assert smic["apex_mode"].eq("detect").all() and smic["apex"].eq(7).all()  # every fixture clip's true apex


def test_dfme_protocol_trains_on_train_and_scores_both_test_sets(dfme_root, tmp_path, one_thread):
    real = load_real_data(f"dfme:path={dfme_root},landmarks=center", size=32, cache_dir=tmp_path / "cache",
                          progress=False)
    assert real.classes[0] == "anger" and len(real.samples) == 10
    result = run_real_merba(f"dfme:path={dfme_root},landmarks=center", epochs=1, out=tmp_path / "run",
                            progress=False)
    scores = pd.read_csv(result["scores"], index_col=0)
    assert scores.index.tolist() == ["test_a", "test_b", "test_ab"] and scores["n"].tolist() == [2, 2, 4]
    predictions = pd.read_csv(result["predictions"])
    assert set(predictions["set"]) == {"test_a", "test_b"} and len(predictions) == 4
    assert predictions["part"].tolist() == predictions["set"].tolist()
    assert {"test_a_uf1", "test_b_acc", "model"} <= set(result)
    with pytest.raises(ValueError, match="one fixed split"):
        run_real_merba(f"dfme:{dfme_root}", folds=2, out=tmp_path / "run2")
