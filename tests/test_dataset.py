"""Dataset over hand-made corpora and real-layout folder trees, and ``melab data check``."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pandas as pd
import pytest

from melab.data import synthetic
from melab.data.check import check_dataset
from melab.data.dataset import Dataset, DatasetWarning, VideoItem, label_files
from melab.data.splits import loso_folds

STRS_SAMPLE = Path(__file__).resolve().parent / "data" / "strs-sample"  # vendored: see its README
EVENTS_HEADER = "subject,video,onset,apex,offset,emotion,kind,fps,aus\n"


def write_frames(folder: Path, names: list[str]) -> Path:
    """One 16x16 JPEG per name; image i is a flat grey of 20 * i, so frame order can be read back."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((16, 16, 3), 20 * i, np.uint8))
    return folder


def write_xlsx(path: Path, rows) -> Path:
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(list(r))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A synthetic-layout corpus: 2 subjects, 3 videos, 3 events."""
    root = tmp_path / "corpus"
    for subject, video, n in (("p01", "p01_a", 8), ("p01", "p01_b", 6), ("p02", "p02_a", 8)):
        write_frames(root / subject / video, [f"img_{t:05d}.jpg" for t in range(n)])
    (root / "videos.csv").write_text("subject,video,n_frames,fps,height,width\n"
                                     "p01,p01_a,8,30.0,16,16\np01,p01_b,6,30.0,16,16\np02,p02_a,8,30.0,16,16\n")
    (root / "events.csv").write_text(EVENTS_HEADER + "p01,p01_a,1,2,4,anger,micro,30.0,4+7\n"
                                                     "p01,p01_a,5,6,7,happiness,macro,30.0,12\n"
                                                     "p02,p02_a,0,3,6,surprise,micro,30.0,1+2\n")
    return root


def test_synthetic_layout_videos_events_and_frames(corpus):
    ds = Dataset(corpus)
    assert len(ds) == 3 and ds.subjects == ("p01", "p02")
    assert ds.videos[["video", "n_frames", "first_frame", "n_events"]].values.tolist() == \
        [["p01_a", 8, 0, 2], ["p01_b", 6, 0, 0], ["p02_a", 8, 0, 1]]
    assert ds.events["aus"].tolist() == ["4+7", "12", "1+2"]
    item = ds["p01_a"]
    assert isinstance(item, VideoItem) and (item.subject, item.fps, item.n_frames) == ("p01", 30.0, 8)
    assert item.events[["onset", "apex", "offset"]].values.tolist() == [[1, 2, 4], [5, 6, 7]]
    frames = item.frames()
    assert frames.shape == (8, 16, 16, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), 20 * np.arange(8), atol=2)
    assert item.frames(2, 4).shape[0] == 2
    assert [it.video for it in ds] == ["p01_a", "p01_b", "p02_a"] and ds[1].video == "p01_b"
    assert ds[1].events.empty
    with pytest.raises(KeyError, match="video 'p09_a' belongs to no subject"):
        ds["p09_a"]
    assert ds["p02", "p02_a"].video == "p02_a"
    with pytest.raises(KeyError, match="no video 'p02_a' of subject 'p01'"):
        ds["p01", "p02_a"]


def test_unknown_subject_in_events_csv_names_row_and_column(corpus):
    with open(corpus / "events.csv", "a") as f:
        f.write("p07,p07_a,1,2,3,fear,micro,30.0,4\n")
    with pytest.raises(ValueError, match=r"events\.csv, row 5, column 'subject': unknown subject 'p07'"):
        Dataset(corpus)
    with pytest.warns(DatasetWarning, match="left out 1 malformed"):
        ds = Dataset(corpus, drop_malformed=True)
    assert len(ds.events) == 3 and ds.rejected[0].row == 5


def test_event_beyond_the_last_frame_is_an_error(corpus):
    with open(corpus / "events.csv", "a") as f:
        f.write("p01,p01_b,3,4,9,fear,micro,30.0,4\n")
    with pytest.raises(ValueError, match=r"outside their video's images, e\.g\. p01/p01_b frames 3\.\.9"):
        Dataset(corpus)
    with pytest.warns(DatasetWarning):
        ds = Dataset(corpus, drop_malformed=True)
    assert ds.outside[["video", "offset", "last_image"]].values.tolist() == [["p01_b", 9, 5]]


def test_root_defaults(corpus, monkeypatch, tmp_path):
    monkeypatch.setattr(synthetic, "make_corpus", lambda preset, seed: corpus if (preset, seed) == ("x", 3) else None)
    assert len(Dataset(preset="x", seed=3)) == 3
    monkeypatch.delenv("MELAB_DATA", raising=False)
    with pytest.raises(ValueError, match="MELAB_DATA is not set"):
        Dataset(kind="casme2")
    monkeypatch.setenv("MELAB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'casme2'} does not exist"):
        Dataset(kind="casme2")
    with pytest.raises(FileNotFoundError, match="not a melab corpus"):
        Dataset(tmp_path)
    with pytest.raises(ValueError, match="unknown dataset kind 'mmew'"):
        Dataset(tmp_path, kind="mmew")


# ------------------------------------------------------------------------------------------------
# Real layouts
# ------------------------------------------------------------------------------------------------

CASME2_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                 "Estimated Emotion"]


@pytest.fixture
def casme2_root(tmp_path) -> Path:
    root = tmp_path / "casme2"
    write_xlsx(root / "CASME2-coding-20140508.xlsx", [
        CASME2_HEADER,
        [1, "EP02_01f", None, 46, 48, 50, None, "12", "happiness"],
        [2, "EP01_11f", None, 10, 11, 12, None, "15", "repression"],
    ])
    raw = root / "CASME2_RAW_selected"
    write_frames(raw / "sub01" / "EP02_01f", [f"img{n}.jpg" for n in range(46, 53)])
    write_frames(raw / "sub02" / "EP01_11f", [f"img{n}.jpg" for n in range(9, 14)])
    return root


def test_casme2_clips_start_mid_recording(casme2_root):
    ds = Dataset(casme2_root, kind="casme2")
    assert ds.events[["video", "onset", "apex", "offset"]].values.tolist() == \
        [["EP02_01f", 45, 47, 49], ["EP01_11f", 9, 10, 11]]
    assert ds.videos[["subject", "video", "fps", "n_frames", "first_frame"]].values.tolist() == \
        [["1", "EP02_01f", 200.0, 7, 45], ["2", "EP01_11f", 200.0, 5, 8]]
    item = ds["EP01_11f"]
    assert item.first_frame == 8
    assert item.events[["onset", "apex", "offset"]].values.tolist() == [[1, 2, 3]]   # img10 is the 2nd image
    frames = item.frames()
    assert frames.shape[0] == 5 and abs(frames[item.events.onset[0]].mean() - 20) < 2
    assert ds["EP02_01f"].events[["onset", "offset"]].values.tolist() == [[0, 4]]


def test_missing_clip_and_duplicate_copies(casme2_root):
    wb = openpyxl.load_workbook(casme2_root / "CASME2-coding-20140508.xlsx")
    wb.active.append([3, "EP03_02", None, 5, 6, 7, None, "4", "fear"])
    wb.save(casme2_root / "CASME2-coding-20140508.xlsx")
    with pytest.warns(DatasetWarning, match=r"1 annotated video\(s\) are not on disk .*3/EP03_02"):
        ds = Dataset(casme2_root, kind="casme2")
    assert ds.missing.values.tolist() == [["3", "EP03_02"]] and len(ds.events) == 2
    write_frames(casme2_root / "Cropped" / "sub01" / "EP02_01f", [f"reg_img{n}.jpg" for n in range(46, 53)])
    with pytest.warns(DatasetWarning, match=r"2 copies of the casme2 frames .*reading CASME2_RAW_selected/ "
                                            r"\(uncropped.*frames=.*Cropped reads another"):
        ds = Dataset(casme2_root, kind="casme2")
    assert ds.videos["path"].str.contains("CASME2_RAW_selected").all() and len(ds) == 2
    with pytest.warns(DatasetWarning):
        ds = Dataset(casme2_root, kind="casme2", frames=casme2_root / "Cropped")
    assert ds.videos["video"].tolist() == ["EP02_01f"]
    (casme2_root / "CASME2_RAW_selected").rename(casme2_root / "first_copy")  # no uncropped copy to prefer
    with pytest.raises(ValueError, match=r"two folders for casme2 video EP02_01f.*--data casme2:PATH,frames=DIR"):
        Dataset(casme2_root, kind="casme2")


def test_video_names_shared_by_subjects(casme2_root):
    """CASME II reuses file names across subjects: videos are told apart by (subject, video)."""
    wb = openpyxl.load_workbook(casme2_root / "CASME2-coding-20140508.xlsx")
    wb.active.append([5, "EP02_01f", None, 3, 4, 5, None, "4", "fear"])
    wb.save(casme2_root / "CASME2-coding-20140508.xlsx")
    write_frames(casme2_root / "CASME2_RAW_selected" / "sub05" / "EP02_01f", [f"img{n}.jpg" for n in range(1, 9)])
    ds = Dataset(casme2_root, kind="casme2")
    assert ds.videos[["subject", "video", "n_events"]].values.tolist() == \
        [["1", "EP02_01f", 1], ["2", "EP01_11f", 1], ["5", "EP02_01f", 1]]
    assert ds["5", "EP02_01f"].events[["onset", "offset", "emotion"]].values.tolist() == [[2, 4, "fear"]]
    assert ds["1", "EP02_01f"].events[["onset", "offset", "emotion"]].values.tolist() == [[0, 4, "happiness"]]
    with pytest.raises(KeyError, match="belongs to subjects 1, 5"):
        ds["EP02_01f"]


def test_casme3_lists_videos_without_events(tmp_path):
    root = tmp_path / "casme3"
    write_xlsx(root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", [
        ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"],
        ["spNO.1", "A", 3, 5, 7, "4", 1, "happy"],
    ])
    write_xlsx(root / "annotation" / "cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx", [
        ["sub", "seq", "onset", "apex", "offset", "emotion"], ["spNO.1", "b", 1, 2, 4, "Others"]])
    data = root / "part_A" / "data" / "part_A"
    write_frames(data / "spNO.1" / "a" / "color", [f"{n}.jpg" for n in range(1, 11)])
    write_frames(data / "spNO.1" / "b" / "color", [f"{n}.jpg" for n in range(1, 6)])
    write_frames(data / "spNO.10" / "a" / "color", [f"{n}.jpg" for n in range(1, 6)])
    (data / "spNO.1" / "a" / "depth").mkdir()
    cv2.imwrite(str(data / "spNO.1" / "a" / "depth" / "1.png"), np.zeros((4, 4), np.uint16))
    ds = Dataset(root, kind="casme3")
    assert ds.videos[["video", "n_frames", "n_events"]].values.tolist() == \
        [["spNO.1_a", 10, 1], ["spNO.1_b", 5, 1], ["spNO.10_a", 5, 0]]
    assert ds.events[["video", "onset", "kind", "emotion"]].values.tolist() == \
        [["spNO.1_a", 2, "micro", "happiness"], ["spNO.1_b", 0, "macro", "others"]]
    assert ds["spNO.1_a"].events[["onset", "apex", "offset"]].values.tolist() == [[2, 4, 6]]
    assert ds["spNO.1_a"].path.parts[-3:] == ("spNO.1", "a", "color")


def test_samm_lv_finds_its_facs_sheet(tmp_path):
    root = tmp_path / "samm_lv"
    write_xlsx(root / "SAMM_LongVideos_V3_Release.xlsx", [["SAMM Long Videos"]] + [[]] * 9 + [
        ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type", "Action Units",
         "Notes"],
        [6, "006_1_2", 1, 3, 4, 6, 4, "Micro - 1/2", "4", ""],
        [6, "006_1_3", 1, 7, 8, 0, 0, "Macro", "12", ""],
    ])
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", [
        ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
         "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"],
        [6, "006_1_2", 1, 5562, 5588, 5605, 44, "", "4+7", "Anger", 3, ""],
    ])
    write_frames(root / "SAMM_longvideos" / "006_1", [f"006_1_{n:04d}.jpg" for n in range(1, 11)])
    with pytest.warns(UserWarning, match="offset is 0"):
        ds = Dataset(root, kind="samm_lv")
    assert ds.events[["video", "onset", "offset", "emotion", "kind"]].values.tolist() == \
        [["006_1", 2, 5, "anger", "micro"], ["006_1", 6, 7, "others", "macro"]]
    assert ds["006_1"].fps == 200.0 and ds["006_1"].n_frames == 10


def test_label_files_errors(tmp_path, casme2_root):
    with pytest.raises(FileNotFoundError, match=r"no samm label file \(like SAMM_Micro_FACS_Codes_v2\.xlsx\)"):
        label_files("samm", tmp_path)
    write_xlsx(casme2_root / "old" / "CASME2-coding-2013.xlsx", [CASME2_HEADER])
    with pytest.raises(ValueError, match="several casme2 label files"):
        Dataset(casme2_root, kind="casme2")
    ds = Dataset(casme2_root, kind="casme2", labels=casme2_root / "CASME2-coding-20140508.xlsx")
    assert len(ds.events) == 2


def test_image_without_a_number_is_an_error(casme2_root):
    write_frames(casme2_root / "CASME2_RAW_selected" / "sub01" / "EP02_01f", ["cover.jpg"])
    with pytest.raises(ValueError, match="cover.jpg has no frame number"):
        Dataset(casme2_root, kind="casme2")


# ------------------------------------------------------------------------------------------------
# The synthetic corpus, and melab data check
# ------------------------------------------------------------------------------------------------


def test_tiny_synthetic_corpus(tiny_corpus):
    ds = Dataset(tiny_corpus)
    events = pd.read_csv(tiny_corpus / "events.csv")
    assert len(ds.events) == len(events) and len(ds) == len(pd.read_csv(tiny_corpus / "videos.csv"))
    assert ds.events["emotion"].isin(["anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise",
                                      "others"]).all()
    for item in ds:
        assert ((item.events["onset"] >= 0) & (item.events["offset"] < item.n_frames)).all()
        assert item.fps == ds.videos.set_index("video").loc[item.video, "fps"]
    assert ds[0].frames(0, 2).shape == (2, 128, 128, 3)
    assert [f.subject for f in loso_folds(ds.events)] == list(ds.subjects)


def test_check_report_on_a_synthetic_layout(corpus):
    with open(corpus / "events.csv", "a") as f:
        f.write("p01,p01_b,3,2,4,fear,micro,30.0,4\n")
    (corpus / "p02" / "p02_a" / "img_00007.jpg").unlink()
    report = check_dataset("synthetic", corpus)
    assert not report.ok
    assert report.rejected[["file", "row", "column"]].values.tolist() == \
        [[str(corpus / "events.csv"), 5, "apex"], [str(corpus / "videos.csv"), 4, "n_frames"]]
    assert report.per_subject.loc["p01"].tolist() == [1, 1, 2, 2]
    assert report.per_emotion["total"].to_dict() == {"anger": 1, "happiness": 1, "surprise": 1}
    text = str(report)
    assert "3 events (2 micro, 1 macro) in 3 videos of 2 subjects" in text
    assert "Rejected rows (2; --drop-malformed skips them):" in text
    assert "apex 2 lies outside onset..offset 3..4" in text


def test_check_report_on_real_layout_and_single_file(casme2_root):
    clean = check_dataset("casme2", casme2_root)
    assert clean.ok and clean.n_videos == 2 and "No rows rejected." in str(clean)
    wb = openpyxl.load_workbook(casme2_root / "CASME2-coding-20140508.xlsx")
    wb.active.append([3, "EP03_02", None, 5, 6, 7, None, "4", "fear"])
    wb.active.append([4, "EP03_03", None, 5, 6, 7, None, "4", "boredom"])
    wb.save(casme2_root / "CASME2-coding-20140508.xlsx")
    report = check_dataset("casme2", casme2_root)
    assert report.missing_videos.values.tolist() == [["3", "EP03_02"]]
    assert report.rejected[["row", "column", "value"]].values.tolist() == [[5, "Estimated Emotion", "boredom"]]
    assert "Annotated videos not found on disk (1):" in str(report)
    single = check_dataset("casme2", casme2_root / "CASME2-coding-20140508.xlsx")
    assert single.n_videos is None and len(single.events) == 3 and single.missing_videos.empty


def test_check_megc_csv():
    report = check_dataset("megc", STRS_SAMPLE / "pred.csv")
    assert report.ok and len(report.per_subject) == 26 and report.per_subject["total"].sum() == 244
    assert report.per_subject.index[:3].tolist() == ["1", "2", "3"]


def test_no_warnings_on_a_clean_dataset(corpus):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Dataset(corpus)
