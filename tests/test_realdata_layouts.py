"""The licensed datasets as they are published: their layouts, their known errors, and the command line on them.

The fixtures are ``tests/data/realdata/``, written by ``tests/data/make_realdata_fixtures.py`` from public facts
(see its docstring): a few rows per label file in the dataset's own format and tiny frames. Each test copies the
datasets it uses to a temporary folder, since melab writes its caches beside the data.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlrd
from hypothesis import given, settings
from hypothesis import strategies as st

from melab.cli import main
from melab.data.annotations import (
    AnnotationWarning,
    read_casme3,
    read_dfme,
    read_dfme_samples,
    read_smic,
    read_smic_folders,
)
from melab.data.check import check_dataset
from melab.data.dataset import Dataset, DatasetWarning, _fit_to_images, _padding
from melab.data.splits import MEGC2019_COUNTS, MEGC2019_EXCLUDE, composite_3db, composite_counts, loso_folds
from melab.data.video import list_images, read_frames
from melab.train import resolve_data

FIXTURES = Path(__file__).resolve().parent / "data" / "realdata"
V2 = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"


def copy(tmp_path: Path, *names: str) -> dict[str, Path]:
    """Copies of the named fixture datasets under ``tmp_path``."""
    return {name: Path(shutil.copytree(FIXTURES / name, tmp_path / name)) for name in names}


def caught(action):
    """Run ``action()`` and return (its result, the warnings it raised)."""
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        result = action()
    return result, [w.message for w in raised]


def repairs(messages, path=None) -> list[tuple[int | None, str]]:
    return [(w.row, w.repair) for w in messages if isinstance(w, AnnotationWarning)
            and (path is None or Path(w.file).name == path)]


# ---- the fixtures are what the script writes ---------------------------------------------------------------


def _cells(path: Path) -> list:
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path)
        return [(s.title, [list(r) for r in s.iter_rows(values_only=True)]) for s in book.worksheets]
    if path.suffix == ".xls":
        book = xlrd.open_workbook(path)
        return [(s.name, [s.row_values(r) for r in range(s.nrows)]) for s in book.sheets()]
    return list(csv.reader(path.open()))


def test_committed_fixtures_are_what_the_script_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES.parent / "make_realdata_fixtures.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    fresh = script.build(tmp_path)
    listed = sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.is_file() and p.name != "README.md")
    assert listed == sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    for name in listed:
        if name.suffix in (".xlsx", ".xls", ".csv"):
            assert _cells(FIXTURES / name) == _cells(fresh / name), name
    folder = Path("casme3/part_A/data/part_A/spNO.1/a/color")  # images: the same pictures (JPEG may differ a bit)
    ours, theirs = read_frames(FIXTURES / folder, fps=30)[0], read_frames(fresh / folder, fps=30)[0]
    assert ours.shape == theirs.shape and np.abs(ours.astype(int) - theirs).mean() < 1.0


# ---- CAS(ME)^3 -----------------------------------------------------------------------------------------------


def test_casme3_strict_reading_stops_at_the_first_malformed_row_and_names_the_flag(tmp_path):
    root = copy(tmp_path, "casme3")["casme3"]
    with pytest.warns(AnnotationWarning), pytest.raises(
            ValueError, match=rf"{re.escape(V2)}, row 8, column 'Offset': offset 24 is before onset 30.*"
                              "--drop-malformed"):
        Dataset(root, kind="casme3")


def test_casme3_as_published_reads_with_every_repair_reported(tmp_path):
    root = copy(tmp_path, "casme3")["casme3"]
    ds, raised = caught(lambda: Dataset(root, kind="casme3", drop_malformed=True))
    assert [p.name for p in ds.label_files] == [V2]  # v2, not the v1 .xls beside it
    assert any(isinstance(w, DatasetWarning) and "reading " + V2 in str(w) and "newest version" in str(w)
               for w in raised)
    assert [(r.row, r.column) for r in ds.rejected] == [(7, "Apex"), (8, "Offset")]
    assert repairs(raised, V2) == [
        (6, "offset is 0; using the apex 33 as offset"),
        (9, "onset is 0 (no image 0 exists); row skipped, as the reference loaders (ME-TST, BoostingVRME, "
            "SoftNet) skip onset-0 rows"),
        (10, f"frames 45..58 reach beyond spNO.3/spNO.3_c images 1..52 ({root}/part_A/data/part_A/spNO.3/c/color); "
             "clipped to 45..52 (8 of 14 frames remain)"),
    ]
    assert [(w.row, w.repair) for w in ds.repairs] == repairs(raised)
    assert ds.events[["video", "onset", "apex", "offset", "emotion"]].values.tolist() == [
        ["spNO.1_a", 3, 5, 9, "disgust"], ["spNO.1_a", 13, 16, 20, "happiness"], ["spNO.1_a", 26, 29, 33, "surprise"],
        ["spNO.2_a", 11, 13, 16, "others"], ["spNO.2_a", 29, 32, 32, "fear"], ["spNO.3_c", 44, 47, 51, "surprise"],
        ["spNO.3_c", 17, 19, 24, "sadness"]]
    assert ds.events["label_row"].tolist() == [2, 3, 4, 5, 6, 10, 11]
    summary = ds.summary()
    assert "skipped 2 malformed row(s) (--drop-malformed)" in summary and f"{V2} row 7 (apex 7 lies outside" in summary
    assert "repaired 3 row(s)" in summary and "padded 16 missing image(s) in 2 video(s)" in summary


def official_loader_frames(folder: Path) -> list[str]:
    """The official CAS(ME)^3 loader's frame list, written from its rule: walk the images in number order and
    append each one until the frame count reaches its number (so index k holds image k + 1, or the next one)."""
    frames, count = [], 0
    for image in sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem)):
        while int(image.stem) != count:
            frames.append(image.name)
            count += 1
    return frames


def test_casme3_missing_images_are_padded_as_the_official_loader_does(tmp_path):
    root = copy(tmp_path, "casme3")["casme3"]
    with pytest.warns(DatasetWarning, match=r"2 of 3 casme3 videos miss images \(16 frames in all"):
        ds = Dataset(root, kind="casme3", drop_malformed=True)
    assert ds.videos[["video", "n_frames", "first_frame", "padded"]].values.tolist() == \
        [["spNO.1_a", 56, 0, 9], ["spNO.2_a", 52, 0, 7], ["spNO.3_c", 52, 0, 0]]
    item = ds["spNO.1_a"]
    images = [p.name for p in list_images(item.path)]
    assert [images[i] for i in item.image_index] == official_loader_frames(item.path)
    assert official_loader_frames(item.path)[:9] == ["9.jpg"] * 9 and official_loader_frames(item.path)[29] == "31.jpg"
    frames = item.frames()
    assert len(frames) == 56 and np.array_equal(frames[0], frames[8]) and np.array_equal(frames[29], frames[30])
    np.testing.assert_array_equal(item.frames(28, 31), frames[28:31])
    assert item.events[["onset", "offset"]].values.tolist()[0] == [3, 9]  # JpgIndex 4..10: frames 3..9 padded
    assert ds["spNO.3_c"].image_index is None


@settings(max_examples=60, deadline=None)
@given(present=st.sets(st.integers(1, 40), min_size=1))
def test_padding_is_the_official_loaders_rule_for_any_missing_images(present):
    numbers = np.array(sorted(present))
    frames, count = [], 0  # the official loop, over image numbers
    for n in numbers:
        while n != count:
            frames.append(n)
            count += 1
    assert numbers[_padding(numbers)].tolist() == frames  # frame k shows image k + 1, or the next one present


@settings(max_examples=80, deadline=None)
@given(first=st.integers(0, 30), span=st.integers(0, 30), onset=st.integers(0, 80), length=st.integers(1, 40),
       apex_at=st.floats(0, 1))
def test_an_event_is_clipped_when_half_of_it_is_within_the_images_and_left_out_otherwise(first, span, onset, length,
                                                                                        apex_at):
    last, offset = first + span, onset + length - 1
    apex = onset + int(apex_at * (length - 1))
    events = pd.DataFrame(dict(subject=["s"], video=["v"], onset=[onset], apex=[apex], offset=[offset],
                               emotion=["fear"], kind=["micro"], fps=[30.0], label_file=["labels.xlsx"],
                               label_row=[7]))
    keys = pd.Series([("s", "v")])
    within = max(0, min(offset, last) - max(onset, first) + 1)
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        kept, _, outside = _fit_to_images(events, keys, pd.Series([first]), pd.Series([last]), 1,
                                          {("s", "v"): (Path("v"), None)}, clip=True)
    assert len(kept) == (2 * within >= length) and len(outside) == 1 - len(kept)
    if len(kept):
        row = kept.iloc[0]
        assert max(onset, first) == row.onset <= row.apex <= row.offset == min(offset, last)
    assert len(raised) == (within < length) and all(w.message.row == 7 for w in raised)


def test_casme3_older_xls_label_file_reads_when_asked(tmp_path):
    root = copy(tmp_path, "casme3")["casme3"]
    v1 = root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v1.xls"
    ds, _ = caught(lambda: Dataset(root, kind="casme3", labels=v1))
    assert ds.label_files == (v1,) and "anger" in set(ds.events["emotion"]) and len(ds.events) == 6
    assert read_casme3(v1)["onset"].dtype == np.int64  # its numbers are text cells


def test_casme3_clip_distribution_is_refused_with_what_melab_needs(tmp_path):
    root = copy(tmp_path, "casme3_clips")["casme3_clips"]
    with pytest.raises(ValueError, match=r"pre-cut Part_A_ME_clip distribution \(2 clip folders like "
                                         r"Part_A_ME_clip/frame/spNO\.1_a_14\).*spNO\.<n>/<letter>/color/<n>\.jpg"):
        Dataset(root, kind="casme3")


def test_data_check_lists_repairs_padding_and_rejected_rows(tmp_path, capsys):
    root = copy(tmp_path, "casme3")["casme3"]
    assert main(["data", "check", "--kind", "casme3", str(root)]) == 1
    printed = capsys.readouterr().out
    assert "7 events (7 micro, 0 macro) in 3 videos of 3 subjects" in printed
    assert f"Labels read from: {root / 'annotation' / V2}" in printed
    assert "Repairs (3):" in printed and "clipped to 45..52 (8 of 14 frames remain)" in printed
    assert "Videos with padded frames (2, 16 frames" in printed
    assert "Rejected rows (2; --drop-malformed skips them):" in printed
    report = check_dataset("casme3", root, labels=root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v1.xls")
    assert report.label_files[0].suffix == ".xls" and report.rejected.empty


def test_train_spotter_on_casme3_end_to_end(tmp_path, capsys, one_thread):
    pytest.importorskip("mediapipe")
    root = copy(tmp_path, "casme3")["casme3"]
    out = tmp_path / "run"
    assert main(["train", "spotter", "--data", f"casme3:{root}", "--epochs", "1", "--out", str(out)]) == 2
    assert "row 8, column 'Offset'" in capsys.readouterr().err and not out.exists()
    assert main(["train", "spotter", "--data", f"casme3:{root}", "--drop-malformed", "--epochs", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"data: casme3 at {root}: 7 events in 3 videos of 3 subjects" in printed
    assert f"skipped 2 malformed row(s) (--drop-malformed): {V2} row 7" in printed
    assert "padded 16 missing image(s) in 2 video(s)" in printed and "scores:" in printed
    series = [np.load(p)["series"] for p in (root / "melab_cache").glob("*.npz")]
    assert sorted(len(s) for s in series) == [52, 52, 56]  # the ROI series run over the padded frames
    assert len(pd.read_csv(out / "history.csv")) >= 3  # a fold per subject


# ---- SAMM Long Videos, SAMM ---------------------------------------------------------------------------------


def test_samm_lv_onset_zero_unknown_apex_and_offsets_past_the_last_image(tmp_path):
    root = copy(tmp_path, "samm_lv")["samm_lv"]
    ds, raised = caught(lambda: Dataset(root, kind="samm_lv"))
    sheet = "SAMM_LongVideos_V3_Release.xlsx"
    rows = dict(repairs(raised, sheet))
    assert rows[11].startswith("onset is 0") and "row skipped" in rows[11]
    assert rows[13] == "apex is missing; using the middle frame 32 of 30..35"          # apex -1
    assert rows[15] == "offset is 0; using the apex 22 as offset"
    assert "clipped to 50..60 (11 of 21 frames remain)" in rows[14]
    assert "only 6 of 36 frames within); event left out" in rows[16]
    assert ds.events[["filename", "onset", "apex", "offset", "emotion", "kind"]].values.tolist() == [
        ["006_1_2", 9, 11, 14, "anger", "micro"], ["006_1_3", 29, 31, 34, "others", "micro"],
        ["006_1_4", 49, 54, 59, "others", "macro"], ["007_3_1", 19, 21, 21, "others", "macro"],
        ["007_3_3", 4, 6, 8, "happiness", "micro"]]
    assert ds.outside[["video", "onset", "offset", "last_image"]].values.tolist() == [["007_3", 44, 79, 50]]
    assert not ds.events.set_index("filename").loc["006_1_3", "apex_labelled"]


def test_samm_apex_outside_the_interval_stays_an_error_unless_kept_unknown(tmp_path):
    root = copy(tmp_path, "samm")["samm"]
    with pytest.raises(ValueError, match=r"row 19, column 'Apex Frame': apex 1084 lies outside onset\.\.offset "
                                         r"1074\.\.1079"):
        Dataset(root, kind="samm")
    ds, raised = caught(lambda: Dataset(root, kind="samm", bad_apex="unknown"))
    kept = ds.events.set_index("video").loc["028_4_1"]
    assert (kept.apex, kept.apex_labelled) == ((1073 + 1078) // 2, False)
    assert "kept with the middle frame 1076 as its apex" in dict(repairs(raised))[19]


# ---- CASME II -------------------------------------------------------------------------------------------------


def test_casme2_label_ver_2_xls_and_two_copies_of_the_frames(tmp_path):
    root = copy(tmp_path, "casme2")["casme2"]
    ds, raised = caught(lambda: Dataset(root, kind="casme2"))
    assert [p.name for p in ds.label_files] == ["CASME2_label_Ver_2.xls"]
    assert ds.events["subject"].tolist() == ["1", "1", "2", "2", "4", "4"]  # written "01" in the file
    assert repairs(raised) == [(4, "apex is missing; using the middle frame 51 of 49..54")]  # the "/" apex
    note = next(str(w) for w in raised if isinstance(w, DatasetWarning))
    assert "2 copies of the casme2 frames" in note and "reading CASME2_RAW_selected/" in note
    assert ds.videos["path"].str.contains("CASME2_RAW_selected").all()
    spec = resolve_data(f"casme2:{root},frames={root / 'Cropped'}")
    cropped, _ = caught(lambda: Dataset(spec.root, kind=spec.kind, labels=spec.labels, frames=spec.frames))
    assert cropped.videos["path"].str.contains("Cropped").all() and cropped[0].frames().shape[1:] == (32, 32, 3)


# ---- SMIC -----------------------------------------------------------------------------------------------------


def test_smic_e_reads_the_hs_annotation_up_to_its_notes(tmp_path):
    root = copy(tmp_path, "smic_e")["smic_e"]
    ds, raised = caught(lambda: Dataset(root, kind="smic"))
    assert [p.name for p in ds.label_files] == ["SMIC-HS-E_annotation.xlsx"]
    notes = [str(w) for w in raised if isinstance(w, DatasetWarning)]
    assert any("reading SMIC-HS-E_annotation.xlsx (the high-speed (HS) annotation)" in n for n in notes)
    assert any("reading HS_long/" in n for n in notes)
    assert repairs(raised) == [(None, "2 row(s) after the first blank 'Subject' (row 6) skipped, rows 7-8: the "
                                      "table ends there and they are notes, not expressions")]
    assert ds.videos["path"].str.contains("HS_long").all() and len(ds.events) == 4
    hs = root / "SMIC-E_raw image" / "HS_long" / "SMIC-HS-E_annotation.xlsx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnnotationWarning)
        assert read_smic(hs)["video"].tolist() == ["s1_ne_01", "s1_po_01", "s2_sur_01", "s2_ne_02"]


def test_smic_hs_clips_are_labelled_by_their_folders(tmp_path):
    root = copy(tmp_path, "smic_hs")["smic_hs"]
    events = read_smic_folders(root)
    assert events[["subject", "video", "emotion", "onset", "offset"]].values.tolist() == [
        ["s1", "s1_ne_01", "negative", 46286, 46297], ["s1", "s1_po_01", "positive", 50119, 50130],
        ["s2", "s2_ne_02", "negative", 7409, 7420], ["s2", "s2_sur_01", "surprise", 3300, 3311]]
    assert not events["apex_labelled"].any() and (events["fps"] == 100).all()
    with pytest.warns(DatasetWarning, match="the labels are the SMIC-HS class folders"):
        ds = Dataset(root, kind="smic")
    assert len(ds) == 4 and ds.videos["path"].str.contains("/HS/").all()
    wrong = root / "HS" / "s2" / "micro" / "positive" / "s2_sur_01"
    shutil.move(root / "HS" / "s2" / "micro" / "surprise" / "s2_sur_01", wrong)
    with pytest.raises(ValueError, match=r"clip s2_sur_01 sits in positive/ but its name says surprise"):
        read_smic_folders(root)
    rejected = []
    assert len(read_smic_folders(root, rejected=rejected)) == 3 and rejected[0].column == "folder"


# ---- the MEGC 2019 composite ------------------------------------------------------------------------------------


def test_composite_builds_megc2019s_samples_by_rule(tmp_path):
    roots = copy(tmp_path, "casme2", "samm", "smic_hs")
    samples, raised = caught(lambda: composite_3db(casme2=roots["casme2"], samm=roots["samm"],
                                                    smic=roots["smic_hs"]))
    assert ("casme2", "4", "EP12_01f") in MEGC2019_EXCLUDE
    assert sorted(samples.loc[samples["dataset"] == "casme2", "video"]) == ["EP01_11f", "EP02_01f", "EP13_04",
                                                                            "EP19_05f"]
    samm = samples[samples["dataset"] == "samm"].set_index("video")
    assert sorted(samm.index) == ["006_1_2", "006_1_3", "007_3_1", "028_4_1"]  # "Other" left out
    assert not samm.loc["028_4_1", "apex_labelled"] and samm.loc["006_1_2", "apex_labelled"]
    assert "kept with the middle frame" in dict(repairs(raised, "SAMM_Micro_FACS_Codes_v2.xlsx"))[19]
    assert samples.loc[samples["dataset"] == "smic", "label"].tolist() == ["negative", "positive", "negative",
                                                                          "surprise"]
    assert not samples.loc[samples["video"] == "EP01_11f", "apex_labelled"].item()  # its "/" apex
    counts = composite_counts(samples)
    assert counts.loc["all", ["total", "subjects", "published_total", "published_subjects"]].tolist() == \
        [12, 7, 442, 68]
    assert len(loso_folds(samples)) == 7
    everything, _ = caught(lambda: composite_3db(casme2=roots["casme2"], exclude=()))
    kept, _ = caught(lambda: composite_3db(casme2=roots["casme2"], include=[("casme2", "4", "EP12_01f")]))
    assert len(everything) == len(kept) == 5 and "EP12_01f" in set(kept["video"])


def test_megc2019_published_counts():
    assert MEGC2019_COUNTS["total"].tolist() == [145, 133, 164] and MEGC2019_COUNTS["subjects"].sum() == 68
    assert (MEGC2019_COUNTS[["negative", "positive", "surprise"]].sum(axis=1) == MEGC2019_COUNTS["total"]).all()
    assert all(d == "casme2" for d, _, _ in MEGC2019_EXCLUDE) and len(MEGC2019_EXCLUDE) == 5


def test_train_merba_on_the_composite_as_distributed(tmp_path, capsys, one_thread, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    roots = copy(tmp_path, "casme2", "samm", "smic_hs")
    spec = (f"composite:casme2={roots['casme2']},samm={roots['samm']},smic={roots['smic_hs']},"
            f"casme2_frames={roots['casme2'] / 'Cropped'},landmarks=center")
    out = tmp_path / "run"
    assert main(["train", "merba", "--data", spec, "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "samples: 12" in printed and "subjects: 7" in printed and "all_uf1:" in printed
    predictions = pd.read_csv(out / "predictions.csv")
    detected = predictions.loc[predictions["apex_mode"] == "detect", "video"]
    assert sorted(detected) == ["028_4_1", "EP01_11f", "s1_ne_01", "s1_po_01", "s2_ne_02", "s2_sur_01"]
    assert predictions.loc[predictions["dataset"] == "casme2", "path"].str.contains("Cropped").all()


# ---- DFME -----------------------------------------------------------------------------------------------------


def test_dfme_test_set_without_labels_is_a_set_to_predict(tmp_path):
    root = copy(tmp_path, "dfme")["dfme"]
    unlabelled = root / "DFME_test_A.csv"
    with pytest.raises(ValueError, match=r"lists DFME samples without labels .*read_dfme_samples"):
        read_dfme(unlabelled)
    samples = read_dfme_samples(unlabelled, split="test_a")
    assert samples[["subject", "video", "fps", "set"]].values.tolist() == [["", "t_0001", 500.0, "test_a"],
                                                                          ["", "t_0002", 200.0, "test_a"]]
    ds = Dataset(root, kind="dfme")
    assert len(ds.events) == 7 and set(ds.events["set"]) == {"train"}
    assert ds.unlabelled[["video", "set", "n_frames"]].values.tolist() == [["t_0001", "test_a", 12],
                                                                          ["t_0002", "test_a", 12]]
    assert len(ds) == 9 and "2 unlabelled clip(s) to predict" in ds.summary()


def test_train_merba_on_dfme_predicts_the_unlabelled_test_set(tmp_path, capsys, one_thread):
    root = copy(tmp_path, "dfme")["dfme"]
    out = tmp_path / "run"
    assert main(["train", "merba", "--data", f"dfme:{root},landmarks=center", "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "samples: 7" in printed and "unlabelled_predicted: 2" in printed
    predictions = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    assert predictions[["video", "part", "true"]].values.tolist() == [["t_0001", "test_a", ""],
                                                                      ["t_0002", "test_a", ""]]
    assert predictions["predicted"].isin(["anger", "contempt", "disgust", "fear", "happiness", "sadness",
                                          "surprise"]).all()
    assert pd.read_csv(out / "scores.csv").empty
