"""Build ``tests/data/realdata/``: the licensed datasets' layouts and known errors, in a few rows and tiny frames.

Run from the repository root (it rewrites the folder)::

    .venv/bin/python tests/data/make_realdata_fixtures.py

Nothing here comes from a licensed dataset, and no published file is copied: every label file is written row
by row from the facts below (column names, header rows, file names and formats, and the shape of each known
error, with frame numbers scaled down to clips of a few dozen frames), and every frame is rendered: a public
domain photograph (``skimage.data.astronaut``, NASA) with a small local warp for CAS(ME)^3, whose spotter is
trained end to end through MediaPipe, and melab's own synthetic faces (:func:`melab.data.synthetic.generate_clip`)
for the clip datasets.

Facts, and where they come from
-------------------------------
CAS(ME)^3 part A (``casme3/``)
    The official annotation folder (github.com/jingtingEmmaLi/CAS-ME-3, ``annotation/partA/``) holds
    ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` (sheet ``label`` with columns Subject, Filename, Onset, Apex,
    Offset, AU, Objective class, emotion; two empty sheets ``Sheet1``, ``Sheet3``) beside the older
    ``cas(me)3_part_A_ME_label_JpgIndex_v1.xls`` (one sheet, numbers stored as text, two unnamed numeric columns
    at the end). Known rows of v2: offset before onset (row 751: 3647 .. 2694), onset 0 (row 752: 0, 0, 25),
    apex outside the interval (row 130: 83 in 112..358), offset 0 (rows 798, 800), ``Others`` capitalised.
    Frames ``spNO.<n>/<letter>/color/<n>.jpg`` counting from 1; most videos miss their first 7-8 images and a
    few inside (the dataset's issue #3); the official loader repeats the next image into each gap. The pre-cut
    distribution is ``Part_A_ME_clip/frame/<Subject>_<Filename>_<Onset>/<n>.jpg`` (``casme3_clips/``).
SAMM Long Videos (``samm_lv/``)
    ``SAMM_LongVideos_V3_Release.xlsx``: title and notes rows (one says an unannotated apex is -1), the header on
    row 10 (Subject, Filename, Inducement Code, Onset, Apex, Offset, Duration, Type, Action Units, Notes);
    emotions in ``SAMM_Micro_FACS_Codes_v2.xlsx`` (header on row 14); frames ``SAMM_longvideos/006_1/006_1_0001.jpg``
    (BoostingVRME's mock labels and public loaders). Onset 0 marks very long macro-expressions, which SoftNet,
    ME-TST and BoostingVRME skip; public code reports offsets after the last image (``020_6_5``: 5476 vs 5001
    images).
CASME II (``casme2/``)
    MEAN's ``CASME2_label_Ver_2.xls`` (Excel 97-2003; Subject written ``01``, Filename, OnsetFrame, ApexFrame,
    OffsetFrame, Action Units, Estimated Emotion; an apex written ``/``); frames in both
    ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` and ``Cropped/sub01/EP02_01f/reg_img46.jpg``. Subject 4's
    ``EP12_01f`` (disgust) is one of the samples MEGC 2019's list leaves out.
SAMM (``samm/``)
    ``SAMM_Micro_FACS_Codes_v2.xlsx``; frames ``SAMM/006/006_1_2/006_05562.jpg``; ``028_4_1`` has its apex after
    its offset (1143 after 1134 in the public sheet), and MEGC 2019 lists it.
SMIC (``smic_e/``, ``smic_hs/``)
    SMIC-E as MEAN lays it out: ``SMIC-E_raw image/HS_long/SMIC-HS-E_annotation.xlsx`` beside
    ``VIS_long/SMIC-VIS-E_annotation.xlsx`` and ``NIR_long/SMIC-NIR-E_annotation.xlsx`` (columns Subject,
    Filename, OnsetF, OffsetF, ..., Emotion, FirstF, LastF, TotalVL; data rows, then text rows that public
    readers cut off). SMIC-HS as MEGC 2019's composite uses it: ``HS/s1/micro/negative/s1_ne_01/image046287.bmp``,
    the class in the folder name, no label file, with ``VIS/`` and ``NIR/`` copies of the same clips.
DFME (``dfme/``)
    No public description of its label files exists (see :func:`melab.data.annotations.read_dfme`): a labelled
    training file as melab assumes it, and a test set as the CCAC 2024 page says it was handed out (sample names
    and frame rates only), as CSV.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import xlwt

OUT = Path(__file__).resolve().parent / "realdata"


# ---- writers ---------------------------------------------------------------------------------------------------


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> None:
    """An .xlsx with the given sheets in order; a row is a list of cells (None: empty), [] a blank row."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def write_xls(path: Path, sheets: dict[str, list[list]]) -> None:
    """An Excel 97-2003 .xls (xlwt), cells written as given: text stays text, numbers numbers."""
    book = xlwt.Workbook()
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                if cell is not None:
                    sheet.write(r, c, cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(str(path))


def write_image(path: Path, rgb: np.ndarray, quality: int = 85) -> None:
    """A JPEG (at ``quality``) or, by its suffix, another image format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix == ".jpg" else []
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), options)


def grey(path: Path, shade: int) -> None:
    """A 8 x 8 flat image: for folders whose content no test reads, only their layout."""
    write_image(path, np.full((8, 8, 3), shade % 256, np.uint8))


# ---- frames ----------------------------------------------------------------------------------------------------


def astronaut_face(size: int = 64) -> np.ndarray:
    """The face of ``skimage.data.astronaut`` (public domain), ``(size, size, 3)`` uint8 RGB."""
    from skimage import data

    return cv2.resize(data.astronaut()[20:260, 100:340], (size, size), interpolation=cv2.INTER_AREA)


def warped(face: np.ndarray, strength: float) -> np.ndarray:
    """The face with its mouth region pulled up by ``strength`` pixels (a Gaussian bump of displacement)."""
    size = face.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    bump = strength * np.exp(-((xx - 0.5 * size) ** 2 + (yy - 0.72 * size) ** 2) / (2 * (0.12 * size) ** 2))
    return cv2.remap(face, xx, yy + bump.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def face_video(n_frames: int, events: list[tuple[int, int, int]], seed: int) -> list[np.ndarray]:
    """``n_frames`` face images (index k = image k + 1) with a rise and fall at each (onset, apex, offset), given
    as 1-based image numbers, and a little sensor noise."""
    face, rng = astronaut_face(), np.random.default_rng(seed)
    strength = np.zeros(n_frames + 1)
    for onset, apex, offset in events:
        for n in range(onset, offset + 1):
            if 1 <= n <= n_frames:
                strength[n] = 1.5 * ((n - onset + 1) / (apex - onset + 1) if n <= apex else
                                     (offset - n + 1) / (offset - apex + 1))
    return [np.clip(warped(face, strength[n]) + rng.normal(0, 1.5, face.shape), 0, 255).astype(np.uint8)
            for n in range(1, n_frames + 1)]


def expression_clip(emotion: str, subject: int, size: int = 48):
    """Frames of one synthetic micro-expression (melab's generator) and its (onset, apex, offset) positions."""
    from melab.data.synthetic import generate_clip

    render = {"repression": "disgust", "negative": "sadness", "positive": "happiness"}.get(emotion, emotion)
    clip = generate_clip(1, subject, render, duration_s=0.2, fps=30, pad_s=0.1, size=size, amplitude_px=1.2)
    ev = clip.events.iloc[0]
    return clip.frames, (int(ev.onset), int(ev.apex), int(ev.offset))


# ---- CAS(ME)^3 ---------------------------------------------------------------------------------------------------

CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
# (subject, letter, last image, missing images): leading 7-8 images missing, and one gap inside spNO.1/a.
# 52-56 frames: melab's ROI series at 30 fps needs a window of k = 50 frames.
CASME3_VIDEOS = [("spNO.1", "a", 56, [*range(1, 9), 30]), ("spNO.2", "a", 52, range(1, 8)), ("spNO.3", "c", 52, [])]
CASME3_ROWS = [  # spreadsheet rows 2..: each known case of the published v2 file, scaled to these videos
    ["spNO.1", "a", 4, 6, 10, "4+10", "II", "disgust"],        # 2: inside the missing leading images (padded)
    ["spNO.1", "a", 14, 17, 21, "12", "III", "happy"],
    ["spNO.1", "a", 27, 30, 34, "1+2", "I", "surprise"],       # 4: across the gap at image 30
    ["spNO.2", "a", 12, 14, 17, "L14", "VII", "Others"],       # 5: capitalised, as 3 rows of v2
    ["spNO.2", "a", 30, 33, 0, "4", "VII", "fear"],            # 6: offset 0 (v2 rows 798, 800) -> apex
    ["spNO.3", "c", 9, 7, 15, "T28+14", "VII", "fear"],        # 7: apex outside the interval (v2 row 130)
    ["spNO.3", "c", 30, 20, 24, "38", "VII", "others"],        # 8: offset before onset (v2 row 751)
    ["spNO.3", "c", 0, 0, 6, "14", "VII", "others"],           # 9: onset 0 (v2 row 752): skipped
    ["spNO.3", "c", 45, 48, 58, "R1+R2", "II", "surprise"],    # 10: ends after the last image 52: clipped
    ["spNO.3", "c", 18, 20, 25, "12", "II", "sad"],
]


def build_casme3(root: Path) -> None:
    annotation = root / "annotation"
    write_xlsx(annotation / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
               {"label": [CASME3_HEADER, *CASME3_ROWS], "Sheet1": [], "Sheet3": []})
    # v1: older, numbers as text, two unnamed numeric columns; it has a row v2 dropped (anger in spNO.1/a)
    v1 = [[*row[:2], *(str(v) for v in row[2:5]), *row[5:], float(i), 0.0] for i, row in enumerate(CASME3_ROWS[:5])]
    write_xls(annotation / "cas(me)3_part_A_ME_label_JpgIndex_v1.xls",
              {"Sheet1": [CASME3_HEADER, *v1, ["spNO.1", "a", "31", "32", "34", "4", "V", "anger", 1.0, 0.0]]})
    data = root / "part_A" / "data" / "part_A"
    for seed, (subject, letter, last, missing) in enumerate(CASME3_VIDEOS):
        events = [(r[2], r[3], r[4] or r[3]) for r in CASME3_ROWS if (r[0], r[1]) == (subject, letter)
                  and 0 < r[2] <= r[4] and r[2] <= r[3]]
        for n, frame in enumerate(face_video(last, events, seed), start=1):
            if n not in missing:
                write_image(data / subject / letter / "color" / f"{n}.jpg", frame)
        depth = data / subject / letter / "depth"  # the depth stream beside color/: not read
        depth.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(depth / "1.png"), np.zeros((4, 4), np.uint16))


def build_casme3_clips(root: Path) -> None:
    """The pre-cut distribution alone: one folder of images per expression, named <Subject>_<Filename>_<Onset>."""
    write_xlsx(root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
               {"label": [CASME3_HEADER, CASME3_ROWS[1], CASME3_ROWS[2]]})
    for subject, letter, onset, _, offset, *_ in (CASME3_ROWS[1], CASME3_ROWS[2]):
        for n in range(onset, offset + 1):
            grey(root / "Part_A_ME_clip" / "frame" / f"{subject}_{letter}_{onset}" / f"{n}.jpg", n)


# ---- SAMM Long Videos, SAMM ----------------------------------------------------------------------------------------

SAMM_NOTES = [["SAMM Long Videos Dataset - FACS Codes"], [], ["Symbol Key:"], ['"/" = or'], [], ["AU Help:"],
              ['"L2 or R2" = Unilateral AU 2', None, None, None, None,
               "NOTE: Subjects with Apex Frame not annotated were labelled as -1."], ['"A2" = Asymmetric AU 2'], []]
LV_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type", "Action Units",
             "Notes"]
LV_ROWS = [  # spreadsheet rows 11..; videos 006_1 (60 images) and 007_3 (50 images)
    ["006", "006_1_1", 1, 0, 25, 59, 59, "Macro", "12", None],             # 11: onset 0: skipped
    ["006", "006_1_2", 1, 10, 12, 15, 6, "Micro - 1/2", "4", None],         # 12: Anger (FACS sheet)
    ["006", "006_1_3", 1, 30, -1, 35, 6, "Micro - 1/2", "14", None],        # 13: apex -1 -> middle
    ["006", "006_1_4", 1, 50, 55, 70, 21, "Macro", "12", None],             # 14: 50..70 of 60 images: clipped
    ["007", "007_3_1", 3, 20, 22, 0, 0, "Macro", "1+2", None],              # 15: offset 0 -> apex
    ["007", "007_3_2", 3, 45, 47, 80, 36, "Macro", "4", None],              # 16: mostly after image 50: left out
    ["007", "007_3_3", 3, 5, 7, 9, 5, "Micro - 1/2", "12", None],           # 17: Happiness
]
FACS_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
FACS_NOTES = [["SAMM Dataset - Master FACS Codes"], [], ["9/9/17 - New updates with Emotional and Objective Classes"],
              [], [], ["Symbol Key:"], ['"/" = or'], ['"?" = some AU\'s continue for a long time'], [], ["AU Help:"],
              ['"L2 or R2" = Unilateral AU 2'], ['"A2" = Asymmetric AU 2'], []]  # the header is on row 14


def build_samm_lv(root: Path) -> None:
    write_xlsx(root / "SAMM_LongVideos_V3_Release.xlsx", {"FACS_Movement_Only": [*SAMM_NOTES, LV_HEADER, *LV_ROWS]})
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", {"MICRO_ONLY": [*FACS_NOTES, FACS_HEADER,
        ["006", "006_1_2", 1, 10, 12, 15, 6, "Micro - 1/2", "4", "Anger", 3, None],
        ["006", "006_1_3", 1, 30, 32, 35, 6, "Micro - 1/2", "14", "Other", 7, None],
        ["007", "007_3_3", 3, 5, 7, 9, 5, "Micro - 1/2", "12", "Happiness", 1, None]]})
    for video, last in (("006_1", 60), ("007_3", 50)):
        for n in range(1, last + 1):
            grey(root / "SAMM_longvideos" / video / f"{video}_{n:04d}.jpg", 2 * n)


SAMM_CLIPS = [("006", "006_1_2", "Anger", 5562), ("006", "006_1_3", "Happiness", 3912),
              ("007", "007_3_1", "Surprise", 4100), ("007", "007_5_3", "Other", 700),
              ("028", "028_4_1", "Disgust", 1071)]  # 028_4_1: apex after offset, as in the public sheet


def build_samm(root: Path) -> None:
    rows = []
    for i, (subject, clip, emotion, first) in enumerate(SAMM_CLIPS):
        frames, (onset, apex, offset) = expression_clip(emotion.lower().replace("other", "others"), 10 + i)
        apex = offset + 5 if clip == "028_4_1" else apex
        rows.append([subject, clip, 1, first + onset, first + apex, first + offset, offset - onset + 1,
                     "Micro - 1/2", "4", emotion, 3, None])
        for t, frame in enumerate(frames):
            write_image(root / "SAMM" / subject / clip / f"{subject}_{first + t:05d}.jpg", frame)
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", {"MICRO_ONLY": [*FACS_NOTES, FACS_HEADER, *rows]})


# ---- CASME II --------------------------------------------------------------------------------------------------------

CASME2_CLIPS = [("01", "EP02_01f", "happiness", 46), ("01", "EP19_05f", "disgust", 100),
                ("02", "EP01_11f", "repression", 46), ("02", "EP13_04", "surprise", 20),
                ("04", "EP12_01f", "disgust", 260), ("04", "EP03_02", "others", 131)]


def build_casme2(root: Path) -> None:
    rows = [["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion"]]
    for i, (subject, clip, emotion, first) in enumerate(CASME2_CLIPS):
        frames, (onset, apex, offset) = expression_clip(emotion, i)
        # the 2014 coding writes one apex as "/"; MEAN's file keeps numbers as numbers
        rows.append([subject, clip, float(first + onset), "/" if clip == "EP01_11f" else float(first + apex),
                     float(first + offset), "4", emotion])
        for t, frame in enumerate(frames):
            write_image(root / "CASME2_RAW_selected" / f"sub{subject}" / clip / f"img{first + t}.jpg", frame)
            small = cv2.resize(frame[4:-4, 4:-4], (32, 32), interpolation=cv2.INTER_AREA)
            write_image(root / "Cropped" / f"sub{subject}" / clip / f"reg_img{first + t}.jpg", small)
    write_xls(root / "CASME2_label_Ver_2.xls", {"Sheet1": rows})


# ---- SMIC ----------------------------------------------------------------------------------------------------------

SMIC_HEADER = ["Subject", "Filename", "OnsetF", "OffsetF", "TotalMF1", "Onset2F", "Offset2F", "TotalMF2", "Onset3F",
               "Offset3F", "TotalMF3", "Emotion", "FirstF", "LastF", "TotalVL"]
SMIC_CLIPS = [(1, "s1_ne_01", "negative", 46287), (1, "s1_po_01", "positive", 50120),
              (2, "s2_sur_01", "surprise", 3301), (2, "s2_ne_02", "negative", 7410)]


def build_smic_e(root: Path) -> None:
    base = root / "SMIC-E_raw image"
    rows = []
    for subject, clip, emotion, first in SMIC_CLIPS:
        rows.append([subject, clip, first + 3, first + 9, 7, None, None, None, None, None, None, emotion, first,
                     first + 12, 13])
        for camera in ("HS", "VIS"):
            for n in range(first, first + 13):
                grey(base / f"{camera}_long" / f"SMIC-{camera}-E" / camera / f"s{subject}" / clip
                     / f"image{n:06d}.bmp", n)
    notes = [[], ["TotalMF: number of frames of the micro-expression"],
             ["FirstF, LastF: first and last frame of the clip"]]
    write_xlsx(base / "HS_long" / "SMIC-HS-E_annotation.xlsx", {"Sheet1": [SMIC_HEADER, *rows, *notes]})
    for camera in ("VIS", "NIR"):  # 25 fps cameras: other frame numbers
        write_xlsx(base / f"{camera}_long" / f"SMIC-{camera}-E_annotation.xlsx",
                   {"Sheet1": [SMIC_HEADER, *[[*r[:2], r[2] // 4, r[3] // 4, *r[4:]] for r in rows], *notes]})


def build_smic_hs(root: Path) -> None:
    for i, (subject, clip, emotion, first) in enumerate(SMIC_CLIPS):
        frames, _ = expression_clip(emotion, 20 + i, size=32)
        for t, frame in enumerate(frames):
            write_image(root / "HS" / f"s{subject}" / "micro" / emotion / clip / f"image{first + t:06d}.bmp", frame)
        for camera in ("VIS", "NIR"):  # the release's other cameras (25 fps), same clip names: not read
            for t in range(0, len(frames), 6):
                grey(root / camera / f"s{subject}" / "micro" / emotion / clip / f"image{first // 4 + t:06d}.bmp", t)


# ---- DFME ----------------------------------------------------------------------------------------------------------

DFME_TRAIN = [("p001", "p001_01", "happiness", 500), ("p001", "p001_02", "disgust", 500),
              ("p002", "p002_01", "surprise", 200), ("p002", "p002_02", "sadness", 200),
              ("p003", "p003_01", "anger", 300), ("p003", "p003_02", "fear", 300), ("p003", "p003_03", "contempt", 300)]
DFME_TEST_A = [("t_0001", "happiness", 500), ("t_0002", "surprise", 200)]  # emotions only render the frames


def build_dfme(root: Path) -> None:
    rows = [["Subject", "Filename", "Onset", "Apex", "Offset", "Emotion", "AU", "fps"]]
    for i, (subject, clip, emotion, fps) in enumerate(DFME_TRAIN):
        frames, (onset, apex, offset) = expression_clip(emotion, 30 + i)
        rows.append([subject, clip, onset + 1, apex + 1, offset + 1, emotion, "4", fps])
        for t, frame in enumerate(frames, start=1):
            write_image(root / "clips" / clip / f"{t:04d}.jpg", frame)
    write_xlsx(root / "DFME_train.xlsx", {"Sheet1": rows})
    lines = ["Filename,fps"]
    for i, (clip, emotion, fps) in enumerate(DFME_TEST_A):
        frames, _ = expression_clip(emotion, 40 + i)
        lines.append(f"{clip},{fps}")
        for t, frame in enumerate(frames, start=1):
            write_image(root / "clips" / clip / f"{t:04d}.jpg", frame)
    (root / "DFME_test_A.csv").write_text("\n".join(lines) + "\n")


BUILDERS = {"casme3": build_casme3, "casme3_clips": build_casme3_clips, "samm_lv": build_samm_lv,
            "samm": build_samm, "casme2": build_casme2, "smic_e": build_smic_e, "smic_hs": build_smic_hs,
            "dfme": build_dfme}


def build(out: Path = OUT) -> Path:
    """Write every fixture dataset under ``out`` (its previous datasets are removed first)."""
    for name, builder in BUILDERS.items():
        shutil.rmtree(out / name, ignore_errors=True)
        builder(out / name)
    return out


if __name__ == "__main__":
    print(f"wrote {build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)}")
