"""Annotation readers: fixture spreadsheets in each dataset's real layout, read back to the events table."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from melab.data.annotations import (
    EVENT_COLUMNS,
    AnnotationWarning,
    Rejection,
    normalize_emotion,
    read_casme2,
    read_casme3,
    read_events_csv,
    read_megc_csv,
    read_samm,
    read_samm_lv,
    read_smic,
    validate_events,
    write_megc_csv,
)

STRS_SAMPLE = Path(__file__).resolve().parent / "data" / "strs-sample"  # vendored: see its README


def write_xlsx(path: Path, rows, *, sheet: str = "Sheet1", before: dict | None = None) -> Path:
    """Write ``rows`` (lists of cells; [] is a blank row) to ``path``; ``before`` adds sheets in front."""
    wb = openpyxl.Workbook()
    first = wb.active
    for name, other_rows in (before or {}).items():
        ws = wb.create_sheet(name)
        for r in other_rows:
            ws.append(list(r))
    ws = wb.create_sheet(sheet)
    for r in rows:
        ws.append(list(r))
    wb.remove(first)
    wb.save(path)
    return path


def frames_of(events: pd.DataFrame) -> list[tuple]:
    return list(events[["video", "onset", "apex", "offset", "emotion", "kind"]].itertuples(index=False, name=None))


# ------------------------------------------------------------------------------------------------
# Fixture spreadsheets
# ------------------------------------------------------------------------------------------------

CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]


@pytest.fixture
def casme3_xlsx(tmp_path) -> Path:
    return write_xlsx(tmp_path / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", [
        CASME3_HEADER,
        ["spNO.1", "a", 131, 135, 140, "L4+L10", 1, "disgust"],
        ["spNO.1", "B", 20, None, 30, "12", 2, "Happy"],     # mixed case letter, missing apex
        ["spNO.2", "c", 5, 8, 0, "1+2", 3, "Others"],        # offset = 0
        ["spno.3", "a", 300, 310, 320, "4", 1, " sad "],
    ], sheet="label")


@pytest.fixture
def casme3_macro_xlsx(tmp_path) -> Path:
    return write_xlsx(tmp_path / "cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx", [
        ["sub", "seq", "onset", "apex", "offset", "emotion"],
        ["spNO.1", "a", 500, 520, 560, "happy"],
    ])


SAMM_NOTES = [["SAMM: Spontaneous Micro-Facial Movement Dataset"], ["Micro-movement FACS codes, version 2"], [],
              ["Onset, apex and offset are frame numbers of the session recording."]]
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]


@pytest.fixture
def samm_xlsx(tmp_path) -> Path:
    notes = SAMM_NOTES + [[]] * (13 - len(SAMM_NOTES))      # header on spreadsheet row 14
    return write_xlsx(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", notes + [
        SAMM_HEADER,
        [6, "006_1_2", 1, 5562, 5588, 5605, 44, "Micro - 1/2", "4+7", "Anger", 3, ""],
        [7, "007_3_1", 3, 4100, 4120, 4150, 51, "Micro - 1/2", "12", "Happiness", 1, ""],
        [6, "006_1_3", 1, 7000, None, 7040, 41, "Micro - 1/2", "14", "Other", 7, ""],   # missing apex
        [11, "011_2_4", 2, 900, 905, 930, 31, "Micro - 1/2", "R14", "Contempt", 4, "unilateral"],
    ])


LV_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
             "Action Units", "Notes"]
LV_NOTES = [["SAMM Long Videos"], ["Release V3"], [], ["Offset 0: the offset could not be coded."]] + [[]] * 6


@pytest.fixture
def samm_lv_xlsx(tmp_path) -> Path:
    return write_xlsx(tmp_path / "SAMM_LongVideos_V3_Release.xlsx", LV_NOTES + [   # header on row 11
        LV_HEADER,
        [6, "006_1_1", 1, 567, 621, 0, 0, "Macro", "12", ""],              # row 12: offset = 0
        [6, "006_1_2", 1, 3205, 3219, 3250, 46, "Micro - 1/2", "4", ""],    # row 13: FACS says Anger
        [],
        [7, "007_3_1", 3, 1001, 1030, 1065, 65, "Micro - 1/2", "12", ""],   # row 15: Happiness
        [7, "007_3_2", 3, 2000, 2100, 2300, 301, "Macro", "1+2", ""],
        [6, "006_1_3", 1, 100, 110, 120, 21, "micro - 1/2", "14", ""],      # row 17: Other
    ])


CASME2_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                 "Estimated Emotion"]


@pytest.fixture
def casme2_xlsx(tmp_path) -> Path:
    return write_xlsx(tmp_path / "CASME2-coding-20140508.xlsx", [
        CASME2_HEADER,
        [1, "EP02_01f", None, 46, 59, 86, None, "12", "happiness"],
        [1, "EP03_02", None, 131, 139, 161, None, "18", "others"],
        [2, "EP01_11f", None, 46, "/", 96, None, "15", "repression"],      # row 4: apex "/"
        [17, "EP05_03", None, 26, 66, 106, None, "4+R10", "Disgust"],
        [26, "EP18_51", None, 101, 121, 141, None, "1+2", "fear"],
    ])


SMIC_HEADER = ["Subject", "Filename", "OnsetF", "OffsetF", "TotalMF1", "Onset2F", "Offset2F", "TotalMF2",
               "Onset3F", "Offset3F", "TotalMF3", "Emotion", "FirstF", "LastF", "TotalVL"]


@pytest.fixture
def smic_xlsx(tmp_path) -> Path:
    vis = [SMIC_HEADER, [1, "s1_ne_01", 1, 5, 5, None, None, None, None, None, None, "negative", 1, 9, 9]]
    return write_xlsx(tmp_path / "SMIC-E_HS_annotation.xlsx", [
        SMIC_HEADER,
        [1, "s1_ne_01", 116021, 116040, 20, None, None, None, None, None, None, "negative", 116000, 116060, 61],
        [2, "s2_po_03", 53011, 53030, 20, 53101, 53125, 25, None, None, None, "Positive", 53000, 53150, 151],
        [3, "s3_sur_01", 2001, 2030, 30, None, None, None, None, None, None, "surprise", 1990, 2040, 51],
    ], sheet="HS", before={"VIS": vis})


# ------------------------------------------------------------------------------------------------
# Readers, read back
# ------------------------------------------------------------------------------------------------


def test_casme3_fixture_reads_back(casme3_xlsx, casme3_macro_xlsx):
    with pytest.warns(AnnotationWarning) as caught:
        events = read_casme3(casme3_xlsx, macro_path=casme3_macro_xlsx)
    assert list(events.columns[:8]) == list(EVENT_COLUMNS)
    assert frames_of(events) == [
        ("spNO.1_a", 130, 134, 139, "disgust", "micro"),
        ("spNO.1_b", 19, 24, 29, "happiness", "micro"),     # apex = middle of 20..30 = 25, minus 1
        ("spNO.2_c", 4, 7, 7, "others", "micro"),           # offset 0 -> apex
        ("spNO.3_a", 299, 309, 319, "sadness", "micro"),
        ("spNO.1_a", 499, 519, 559, "happiness", "macro"),
    ]
    assert events["subject"].tolist() == ["spNO.1", "spNO.1", "spNO.2", "spNO.3", "spNO.1"]
    assert (events["fps"] == 30.0).all()
    assert events["aus"].tolist()[:2] == ["L4+L10", "12"]
    messages = [str(w.message) for w in caught]
    assert any("row 3" in m and "apex is missing" in m and casme3_xlsx.name in m for m in messages)
    assert any("row 4" in m and "offset is 0" in m for m in messages)


def test_samm_fixture_reads_back(samm_xlsx):
    with pytest.warns(AnnotationWarning, match=r"row 17: apex is missing"):
        events = read_samm(samm_xlsx)
    assert frames_of(events) == [
        ("006_1_2", 5561, 5587, 5604, "anger", "micro"),
        ("007_3_1", 4099, 4119, 4149, "happiness", "micro"),
        ("006_1_3", 6999, 7019, 7039, "others", "micro"),
        ("011_2_4", 899, 904, 929, "contempt", "micro"),
    ]
    assert events["subject"].tolist() == ["006", "007", "006", "011"]
    assert (events["fps"] == 200.0).all()
    assert events["objective_class"].tolist() == ["3", "1", "7", "4"]


def test_samm_lv_merges_facs_emotions_on_filename(samm_lv_xlsx, samm_xlsx):
    with pytest.warns(AnnotationWarning) as caught:
        events = read_samm_lv(samm_lv_xlsx, facs_path=samm_xlsx)
    assert frames_of(events) == [
        ("006_1", 566, 620, 620, "others", "macro"),         # offset 0 -> apex; macro has no emotion
        ("006_1", 3204, 3218, 3249, "anger", "micro"),
        ("007_3", 1000, 1029, 1064, "happiness", "micro"),
        ("007_3", 1999, 2099, 2299, "others", "macro"),
        ("006_1", 99, 109, 119, "others", "micro"),          # "Other" in the FACS sheet
    ]
    assert events["filename"].tolist() == ["006_1_1", "006_1_2", "007_3_1", "007_3_2", "006_1_3"]
    assert events["subject"].tolist() == ["006", "006", "007", "007", "006"]
    assert any("row 12: offset is 0" in str(w.message) for w in caught)


def test_samm_lv_without_facs_sheet_warns_once_and_labels_others(samm_lv_xlsx):
    with pytest.warns(AnnotationWarning) as caught:
        events = read_samm_lv(samm_lv_xlsx)
    assert set(events["emotion"]) == {"others"}
    assert sum("facs_path" in str(w.message) for w in caught) == 1


def test_samm_lv_micro_missing_from_facs_sheet_warns(samm_lv_xlsx, tmp_path):
    facs = write_xlsx(tmp_path / "facs.xlsx", [SAMM_HEADER,
                                               [6, "006_1_2", 1, 10, 12, 14, 5, "", "4", "Fear", 2, ""]])
    with pytest.warns(AnnotationWarning) as caught:
        events = read_samm_lv(samm_lv_xlsx, facs_path=facs)
    assert any("row 15: micro-expression 007_3_1 is not in" in str(w.message) for w in caught)
    assert events["emotion"].tolist() == ["others", "fear", "others", "others", "others"]


def test_casme2_fixture_reads_back(casme2_xlsx):
    with pytest.warns(AnnotationWarning, match=r"CASME2-coding-20140508.xlsx, row 4: apex is missing"):
        events = read_casme2(casme2_xlsx)
    assert frames_of(events) == [
        ("EP02_01f", 45, 58, 85, "happiness", "micro"),
        ("EP03_02", 130, 138, 160, "others", "micro"),
        ("EP01_11f", 45, 70, 95, "repression", "micro"),     # apex "/" -> (46 + 96) // 2 - 1
        ("EP05_03", 25, 65, 105, "disgust", "micro"),
        ("EP18_51", 100, 120, 140, "fear", "micro"),
    ]
    assert events["subject"].tolist() == ["1", "1", "2", "17", "26"]
    assert (events["fps"] == 200.0).all()


def test_casme2_frames_match_megc_ground_truth(casme2_xlsx):
    """The MEGC sample ground truth lists CASME II clips by subject number, 0-based: OnsetFrame - 1."""
    with pytest.warns(AnnotationWarning):
        events = read_casme2(casme2_xlsx)
    gt = read_megc_csv(STRS_SAMPLE / "gt.csv")
    cols = ["subject", "video", "onset", "offset", "emotion"]
    ours = events[cols].iloc[:2]
    assert ours.merge(gt[cols]).equals(ours)                 # both rows of subject 1 are in the ground truth


def test_smic_second_interval_errors_name_its_own_column(tmp_path):
    path = write_xlsx(tmp_path / "SMIC.xlsx", [
        SMIC_HEADER, [2, "s2_po_03", 53011, 53030, 20, 53101, 53005, 25, None, None, None, "positive", 1, 2, 3]])
    with pytest.raises(ValueError, match=r"row 2, column 'Offset2F': offset 53005 is before onset 53101"):
        read_smic(path)


def test_smic_prefers_hs_sheet_and_splits_extra_intervals(smic_xlsx):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # SMIC's missing apex is by design: no warning
        events = read_smic(smic_xlsx)
    assert frames_of(events) == [
        ("s1_ne_01", 116020, 116029, 116039, "negative", "micro"),
        ("s2_po_03", 53010, 53019, 53029, "positive", "micro"),
        ("s2_po_03", 53100, 53112, 53124, "positive", "micro"),
        ("s3_sur_01", 2000, 2014, 2029, "surprise", "micro"),
    ]
    assert events["subject"].tolist() == ["s1", "s2", "s2", "s3"]
    assert (events["fps"] == 100.0).all()


# ------------------------------------------------------------------------------------------------
# Malformed rows
# ------------------------------------------------------------------------------------------------


def test_apex_after_offset_names_file_row_and_column(tmp_path):
    path = write_xlsx(tmp_path / "CASME2-coding-20140508.xlsx", [
        CASME2_HEADER,
        [1, "EP02_01f", None, 46, 59, 86, None, "12", "happiness"],
        [1, "EP03_02", None, 131, 199, 161, None, "18", "others"],
    ])
    with pytest.raises(ValueError, match=r"CASME2-coding-20140508\.xlsx, row 3, column 'ApexFrame': "
                                         r"apex 199 lies outside onset\.\.offset 131\.\.161"):
        read_casme2(path)


def test_unknown_emotion_names_file_row_and_column(tmp_path):
    path = write_xlsx(tmp_path / "labels.xlsx", [CASME3_HEADER, ["spNO.1", "a", 1, 2, 3, "4", 1, "boredom"]])
    with pytest.raises(ValueError, match=r"labels\.xlsx, row 2, column 'emotion': unknown emotion 'boredom'"):
        read_casme3(path)


def test_text_in_a_frame_cell_names_file_row_and_column(tmp_path, samm_xlsx):
    path = write_xlsx(tmp_path / "SAMM_LongVideos_V3_Release.xlsx", LV_NOTES + [
        LV_HEADER, [6, "006_1_2", 1, "abc", 3219, 3250, 46, "Micro - 1/2", "4", ""]])
    with pytest.warns(AnnotationWarning), pytest.raises(
            ValueError, match=r"SAMM_LongVideos_V3_Release\.xlsx, row 12, column 'Onset': 'abc' is not a frame number"):
        read_samm_lv(path, facs_path=samm_xlsx)


def test_unknown_type_names_the_type_column(tmp_path):
    path = write_xlsx(tmp_path / "lv.xlsx", LV_NOTES + [
        LV_HEADER, [6, "006_1_2", 1, 10, 12, 14, 5, "Mezzo", "4", ""]])
    with pytest.warns(AnnotationWarning), pytest.raises(ValueError, match=r"lv\.xlsx, row 12, column 'Type'"):
        read_samm_lv(path)


def test_unknown_subject_names_the_subject_column(tmp_path):
    path = write_xlsx(tmp_path / "CASME2-coding.xlsx", [
        CASME2_HEADER, [27, "EP02_01f", None, 46, 59, 86, None, "12", "happiness"]])
    with pytest.raises(ValueError, match=r"CASME2-coding\.xlsx, row 2, column 'Subject': unknown subject '27'"):
        read_casme2(path)


def test_file_name_of_another_subject_is_rejected(tmp_path):
    path = write_xlsx(tmp_path / "SAMM.xlsx", [SAMM_HEADER, [6, "007_1_2", 1, 1, 2, 3, 3, "", "4", "Fear", 2, ""]])
    with pytest.raises(ValueError, match=r"SAMM\.xlsx, row 2, column 'Filename': file name '007_1_2'"):
        read_samm(path)


def test_offset_zero_without_apex_is_an_error(tmp_path):
    path = write_xlsx(tmp_path / "SAMM.xlsx", [SAMM_HEADER, [6, "006_1_2", 1, 10, None, 0, 3, "", "4", "Fear", 2, ""]])
    with pytest.raises(ValueError, match=r"row 2, column 'Offset Frame': the offset is missing \(or 0\)"):
        read_samm(path)


def test_onset_zero_is_not_a_frame_of_a_one_based_file(tmp_path):
    path = write_xlsx(tmp_path / "c2.xlsx", [CASME2_HEADER, [1, "EP02_01f", None, 0, 5, 9, None, "12", "happiness"]])
    with pytest.raises(ValueError, match=r"row 2, column 'OnsetFrame': onset 0 is not a frame"):
        read_casme2(path)


def test_onset_zero_rows_of_samm_lv_and_casme3_are_skipped_as_the_reference_loaders_do(tmp_path, samm_xlsx):
    lv = write_xlsx(tmp_path / "SAMM_LongVideos_V3_Release.xlsx", LV_NOTES + [
        LV_HEADER, [6, "006_1_1", 1, 0, 621, 5000, 5000, "Macro", "12", ""],
        [6, "006_1_2", 1, 3205, 3219, 3250, 46, "Micro - 1/2", "4", ""]])
    with pytest.warns(AnnotationWarning) as caught:
        events = read_samm_lv(lv, facs_path=samm_xlsx)
    assert events["filename"].tolist() == ["006_1_2"]
    skipped = [w.message for w in caught if "onset is 0" in str(w.message)]
    assert len(skipped) == 1 and (skipped[0].file, skipped[0].row) == (str(lv), 12)
    assert "row skipped" in skipped[0].repair
    c3 = write_xlsx(tmp_path / "labels.xlsx", [CASME3_HEADER, ["spNO.216", "e", 0, 0, 25, "14", "VII", "others"]])
    with pytest.warns(AnnotationWarning, match=r"labels\.xlsx, row 2: onset is 0"):
        assert read_casme3(c3).empty


def test_rejected_list_collects_every_malformed_row_and_keeps_the_rest(tmp_path):
    path = write_xlsx(tmp_path / "c2.xlsx", [
        CASME2_HEADER,
        [1, "EP02_01f", None, 46, 59, 86, None, "12", "happiness"],
        [1, "EP03_02", None, 131, 199, 161, None, "18", "others"],
        [],
        [2, "EP01_11f", None, 46, 50, 96, None, "15", "boredom"],
        [3, "EP01_12", None, "x", 50, 96, None, "15", "fear"],
    ])
    rejected = []
    events = read_casme2(path, rejected=rejected)
    assert events["video"].tolist() == ["EP02_01f"]
    assert sorted((r.row, r.column) for r in rejected) == [(3, "ApexFrame"), (5, "Estimated Emotion"),
                                                          (6, "OnsetFrame")]
    assert all(isinstance(r, Rejection) and r.file == str(path) for r in rejected)
    assert {r.value for r in rejected} == {"199", "boredom", "x"}


def test_missing_header_says_what_it_looked_for(tmp_path):
    path = write_xlsx(tmp_path / "c2.xlsx", [["Subject", "Filename", "OnsetFrame", "OffsetFrame"], [1, "a", 1, 2]])
    with pytest.raises(ValueError, match=r"c2\.xlsx: no header row with the CASME II columns .*ApexFrame"):
        read_casme2(path)


def test_a_broken_xls_file_is_named(tmp_path):
    path = tmp_path / "SAMM_LongVideos_V3_Release.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ValueError, match=r"not an Excel 97-2003 workbook although it ends in \.xls.*save it as \.xlsx"):
        read_samm_lv(path)
    other = tmp_path / "labels.ods"
    other.write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"as \.xlsx, \.xls or \.csv"):
        read_casme2(other)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="CASME II spreadsheet"):
        read_casme2(tmp_path / "nope.xlsx")


# ------------------------------------------------------------------------------------------------
# Emotions and validation
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "emotion"), [
    ("Happiness", "happiness"), ("happy", "happiness"), ("ANGER", "anger"), ("  sad ", "sadness"),
    ("Others", "others"), ("Other", "others"), ("repression", "repression"), ("Surprise", "surprise"),
    ("Contempt", "contempt"), ("negative", "negative"), ("Positive", "positive"), ("fear", "fear"),
])
def test_normalize_emotion(label, emotion):
    assert normalize_emotion(label) == emotion


def test_normalize_emotion_rejects_unknown_and_blank():
    for label in ("boredom", "", float("nan")):
        with pytest.raises(ValueError, match="unknown emotion"):
            normalize_emotion(label)


def test_validate_events_types_order_and_in_memory_rows():
    table = pd.DataFrame({"fps": [30, 30], "kind": ["Micro", "macro"], "emotion": ["Happy", "others"],
                          "offset": [9.0, 20], "apex": ["5", 15], "onset": [1, 10], "video": ["v1", "v2"],
                          "subject": ["s1", "s2"], "aus": ["12", "4"]})
    events = validate_events(table, subjects={"s1", "s2"})
    assert list(events.columns) == [*EVENT_COLUMNS, "aus"]
    assert events[["onset", "apex", "offset"]].to_numpy().tolist() == [[1, 5, 9], [10, 15, 20]]
    assert events["onset"].dtype == np.int64 and events["fps"].dtype == np.float64
    assert events["emotion"].tolist() == ["happiness", "others"] and events["kind"].tolist() == ["micro", "macro"]
    bad = table.assign(subject=["s1", "s9"])
    with pytest.raises(ValueError, match=r"events table, row 3, column 'subject': unknown subject 's9'"):
        validate_events(bad, subjects={"s1", "s2"})
    with pytest.raises(ValueError, match=r"missing column\(s\) fps"):
        validate_events(table.drop(columns="fps"))


def test_validate_events_rejects_negative_frames_unless_allowed():
    table = pd.DataFrame({"subject": ["1"], "video": ["v"], "onset": [-3], "apex": [0], "offset": [5],
                          "emotion": ["others"], "kind": ["micro"], "fps": [float("nan")]})
    with pytest.raises(ValueError, match=r"column 'onset': onset -3 is before the first frame"):
        validate_events(table)
    assert validate_events(table, min_frame=None)["onset"].tolist() == [-3]


# ------------------------------------------------------------------------------------------------
# MEGC CSV
# ------------------------------------------------------------------------------------------------


def test_megc_csv_round_trip(casme2_xlsx, tmp_path):
    with pytest.warns(AnnotationWarning):
        events = read_casme2(casme2_xlsx)
    out = write_megc_csv(events, tmp_path / "sub" / "gt.csv")
    assert out.read_text().splitlines()[:2] == ["subject,video,onset,offset,emotion", "1,EP02_01f,45,85,happiness"]
    back = read_megc_csv(out, fps=200)
    cols = ["subject", "video", "onset", "offset", "emotion"]
    pd.testing.assert_frame_equal(back[cols], events[cols])
    assert back["apex"].tolist() == ((events["onset"] + events["offset"]) // 2).tolist()
    assert set(back["kind"]) == {"micro"} and set(back["fps"]) == {200.0}
    again = write_megc_csv(back, tmp_path / "again.csv")
    assert again.read_bytes() == out.read_bytes()
    assert not list(tmp_path.glob("**/*.tmp*"))


def test_write_megc_csv_rejects_reversed_interval(tmp_path):
    events = pd.DataFrame({"subject": ["1"], "video": ["v"], "onset": [9], "offset": [3], "emotion": ["fear"]})
    with pytest.raises(ValueError, match=r"events row 0 \(0-based\)"):
        write_megc_csv(events, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_megc_csv_malformed_row_names_file_row_and_column(tmp_path):
    path = tmp_path / "pred.csv"
    path.write_text("subject,video,onset,offset,emotion\n1,EP02_01f,7,75,happiness\n1,EP03_02,100,90,others\n")
    with pytest.raises(ValueError, match=r"pred\.csv, row 3, column 'offset': offset 90 is before onset 100"):
        read_megc_csv(path)


def test_reads_the_official_strs_sample():
    gt = read_megc_csv(STRS_SAMPLE / "gt.csv")
    pred = read_megc_csv(STRS_SAMPLE / "pred.csv")
    assert len(gt) == len(pred) == 244
    assert gt.iloc[0][["subject", "video", "onset", "apex", "offset", "emotion", "kind"]].tolist() == \
        ["1", "EP02_01f", 45, 65, 85, "happiness", "micro"]
    assert math.isnan(gt["fps"].iloc[0])
    assert gt["subject"].nunique() == 26
    assert gt["emotion"].value_counts().to_dict() == {"others": 99, "disgust": 61, "happiness": 32,
                                                      "repression": 27, "surprise": 25}
    assert pred["onset"].min() == -19 and (pred["onset"] < 0).sum() == 8   # kept as written
    assert pred.loc[3, ["video", "onset", "offset"]].tolist() == ["EP04_03", -3, 65]


def test_strs_sample_writes_back_byte_identical(tmp_path):
    for name in ("gt.csv", "pred.csv"):
        out = write_megc_csv(read_megc_csv(STRS_SAMPLE / name), tmp_path / name)
        assert out.read_bytes() == (STRS_SAMPLE / name).read_bytes()


def test_events_csv_keeps_aus_as_text_and_numbers_as_numbers(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("subject,video,onset,apex,offset,emotion,kind,fps,aus,amplitude_px\n"
                    "sub01,sub01_1,50,55,60,fear,micro,30.0,20,1.07\n"
                    "\n"
                    "sub01,sub01_1,70,75,60,fear,micro,30.0,1+2,0.5\n")
    with pytest.raises(ValueError, match=r"events\.csv, row 4, column 'offset'"):
        read_events_csv(path)
    rejected = []
    events = read_events_csv(path, rejected=rejected)
    assert events["aus"].tolist() == ["20"] and events["amplitude_px"].tolist() == [1.07]
    assert rejected[0].row == 4
