"""Annotation readers: every micro-expression dataset's spreadsheet -> melab's one events table.

The events table (``DESIGN.md``) is a DataFrame with one row per annotated expression and the columns
``subject, video, onset, apex, offset, emotion, kind, fps``; extra columns (``aus``, ...) may follow.
Inside melab frames are **0-based and inclusive**: an expression covers frames ``onset..offset``.
Each reader below says how its dataset numbers frames and how it converts them.

Rules shared by every reader
----------------------------
- **Header rows.** The header is the first row (of the first sheet that has one, within 30 rows) that
  holds the reader's required column names. Names match without regard to case, spaces or punctuation
  (``Onset Frame`` = ``OnsetFrame`` = ``onset frame``), so notes above the header and small spelling
  differences between releases do not matter. Blank rows are skipped.
- **Formats.** ``.xlsx`` (openpyxl), ``.xls`` (Excel 97-2003, read with xlrd: CAS(ME)^3's v1 labels, MEAN's
  ``CASME2_label_Ver_2.xls``) and ``.csv``.
- **Frame numbers.** Spreadsheets number frames like their image files, counting from 1; melab's frame
  is that number minus 1.
- **Onset = 0** in SAMM-LV (its mark for very long macro-expressions) and CAS(ME)^3 (one v2 row): the row is
  skipped with an :class:`AnnotationWarning`, as the reference loaders (ME-TST, BoostingVRME, SoftNet) skip
  it. In the other datasets no image 0 exists and nothing says what 0 means: an error, like a negative onset.
- **Offset = 0 or blank** (SAMM-LV marks an unknown offset so): the apex is used as the offset, and an
  :class:`AnnotationWarning` names the file and row. This is what the reference code does; it keeps the
  expression (dropping it would score a correct detection of it as a false positive).
- **Missing apex** (blank, ``/``, ``-`` or 0): the apex becomes the middle frame
  ``(onset + offset) // 2``, with an :class:`AnnotationWarning` naming the file and row. The middle frame
  always lies inside the interval, and is what published pipelines use where no apex is known.
- **Emotions** are normalised by :func:`normalize_emotion`: case and spaces are ignored and spelling
  variants mapped (``Happy`` -> happiness, ``sad`` -> sadness, ``Other``/``Others`` -> others,
  ``repression`` stays repression). Datasets that only label valence (SMIC) keep ``negative`` /
  ``positive``: :data:`EMOTIONS` lists the whole vocabulary.
- **Validation** (:func:`validate_events`): onset <= apex <= offset, frames >= 0, a known subject,
  a known emotion and kind. A malformed row raises a ValueError naming the file, the 1-based
  spreadsheet row and the column. Pass ``rejected=[]`` to a reader to skip malformed rows instead: each
  is appended to that list as a :class:`Rejection` (``melab data check`` prints them; the command line's
  ``--drop-malformed`` does this). Offset before onset and an apex outside onset..offset cannot be repaired
  (which of the numbers is wrong is unknown); ``bad_apex="unknown"`` keeps a row whose apex alone is wrong,
  with the middle frame as its apex and ``apex_labelled`` False (the MEGC 2019 composite does, since it
  lists such samples and detects their apex from optical flow).
- **Every repair is reported**: an :class:`AnnotationWarning` whose message names the file, the row and the
  repair (the warning's ``file``, ``row`` and ``repair`` attributes hold them for programs).
- **Provenance.** The spreadsheet readers add ``label_file`` and ``label_row`` (the 1-based spreadsheet
  row) to each event, and ``apex_labelled`` (False where the apex is the middle frame because the file
  has none), so that later repairs (:class:`melab.data.Dataset` clipping an event to its video's images)
  can name the row too.
"""

from __future__ import annotations

import math
import os
import re
import warnings
import zipfile
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from melab.atomic import atomic_path

__all__ = [
    "EVENT_COLUMNS", "EMOTIONS", "KINDS", "FPS", "MEGC_COLUMNS", "SUBJECT_PATTERNS",
    "AnnotationWarning", "Rejection", "normalize_emotion", "validate_events",
    "read_casme3", "read_samm_lv", "read_casme2", "read_samm", "read_smic", "read_smic_folders", "read_dfme",
    "SMIC_HS_CLASSES", "smic_hs_clip_folders",
    "DFME_SETS", "DFME_FPS", "dfme_set_of_name", "read_dfme_samples", "is_unlabelled_dfme",
    "read_megc_csv", "write_megc_csv", "read_events_csv",
]

EVENT_COLUMNS = ("subject", "video", "onset", "apex", "offset", "emotion", "kind", "fps")
# The seven basic emotions, "others", CASME II's "repression", and SMIC's valence-only labels.
EMOTIONS = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise", "others",
            "repression", "negative", "positive")
KINDS = ("micro", "macro")
FPS = {"casme3": 30.0, "samm_lv": 200.0, "casme2": 200.0, "samm": 200.0, "smic": 100.0}
# DFME records at one of three rates; the rate is per sample (see read_dfme).
DFME_FPS = (200.0, 300.0, 500.0)
DFME_SETS = ("train", "test_a", "test_b")
MEGC_COLUMNS = ("subject", "video", "onset", "offset", "emotion")
# Subjects each dataset has (the released participant numbers), in melab's spelling.
SUBJECT_PATTERNS = {
    "casme3": re.compile(r"spNO\.[1-9]\d{0,2}"),
    "samm_lv": re.compile(r"0(0[6-9]|[12]\d|3[0-7])"),
    "samm": re.compile(r"0(0[6-9]|[12]\d|3[0-7])"),
    "casme2": re.compile(r"[1-9]|1\d|2[0-6]"),
    "smic": re.compile(r"s([1-9]|1\d|20)"),
    "dfme": None,  # DFME's participant ids are not documented publicly: any non-blank name
}

_EMOTION_SPELLINGS = {
    "anger": "anger", "angry": "anger",
    "contempt": "contempt",
    "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "fearful": "fear",
    "happiness": "happiness", "happy": "happiness",
    "sadness": "sadness", "sad": "sadness",
    "surprise": "surprise", "surprised": "surprise", "suprise": "surprise", "sur": "surprise",
    "others": "others", "other": "others",
    "repression": "repression", "repressed": "repression",
    "negative": "negative", "ne": "negative",
    "positive": "positive", "po": "positive",
}
_NO_FRAME = {"", "/", "-", "–", "—", "n/a", "na", "nan", "none"}
# image files of a clip folder (melab.data.video.IMAGE_SUFFIXES; not imported, to keep this module below video.py)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
_HEADER_SEARCH_ROWS = 30


class AnnotationWarning(UserWarning):
    """A row was read with a documented repair (offset = 0, missing apex, onset = 0 skipped, an event clipped to
    its video's images, ...). ``file``, ``row`` (1-based spreadsheet row, or None) and ``repair`` say where and
    what; the message says the same in words."""

    def __init__(self, message: str, *, file: str = "", row: int | None = None, repair: str = ""):
        super().__init__(message)
        self.file, self.row, self.repair = file, row, repair or message


class Rejection(NamedTuple):
    """One malformed row: where it is, the offending cell, and why it was rejected."""

    file: str
    row: int
    column: str
    value: str
    reason: str


def normalize_emotion(label: object) -> str:
    """Map a dataset's emotion label to melab's vocabulary (:data:`EMOTIONS`).

    Case, surrounding spaces and repeated spaces are ignored; spelling variants map to one name
    (``"Happy"`` -> ``"happiness"``, ``"Others"`` -> ``"others"``, ``" Sad "`` -> ``"sadness"``).

    Raises
    ------
    ValueError : the label is blank or not a known spelling.
    """
    key = re.sub(r"\s+", " ", str(label)).strip().lower()
    if key not in _EMOTION_SPELLINGS:
        raise ValueError(f"unknown emotion {label!r}; melab knows {', '.join(EMOTIONS)} "
                         f"(and the spellings {', '.join(sorted(set(_EMOTION_SPELLINGS) - set(EMOTIONS)))})")
    return _EMOTION_SPELLINGS[key]


def _normalize_kind(label: object) -> str:
    key = str(label).strip().lower()
    for kind in KINDS:
        if key.startswith(kind):
            return kind
    raise ValueError(f"unknown expression type {label!r}; expected micro or macro "
                     "(e.g. 'Micro - 1/2', 'Macro')")


# ---------------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------------


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: object) -> str:
    """A cell as text: '' for blank; whole floats lose their '.0' (Excel stores 6 as 6.0)."""
    if _blank(value):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _frame(value: object) -> int | None:
    """A frame-number cell as int; None for blank or a 'no value' mark; ValueError for anything else."""
    text = _text(value)
    if text.lower() in _NO_FRAME:
        return None
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{value!r} is not a frame number")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a frame number") from None
    if not math.isfinite(number) or not number.is_integer():
        raise ValueError(f"{text!r} is not a whole frame number")
    if abs(number) > 1e9:  # no video has 10^9 frames (a day at 10,000 fps is 8.6e8); beyond int64 it would overflow
        raise ValueError(f"{text!r} is beyond the frames of any video")
    return int(number)


class _Problems:
    """Raise on the first malformed row, or collect every one into ``rejected``."""

    def __init__(self, source: str, rejected: list | None):
        self.source, self.rejected = source, rejected

    def __call__(self, row: int, column: str, value: object, reason: str) -> None:
        if self.rejected is None:
            raise ValueError(f"{self.source}, row {row}, column {column!r}: {reason}. Fix that cell, or skip "
                             "malformed rows with --drop-malformed (Python: Dataset(..., drop_malformed=True), "
                             "readers: rejected=[]); `melab data check` lists them all")
        self.rejected.append(Rejection(self.source, int(row), column, _text(value), reason))


def _warn(source: str, row: int | None, message: str) -> None:
    where = f"{source}, row {row}" if row is not None else source
    warnings.warn(AnnotationWarning(f"{where}: {message}", file=source, row=row, repair=message), stacklevel=4)


# ---------------------------------------------------------------------------------------------------
# The events table
# ---------------------------------------------------------------------------------------------------


def _empty_events() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: [] for c in EVENT_COLUMNS}))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    return table.astype({"subject": str, "video": str, "onset": "int64", "apex": "int64", "offset": "int64",
                         "emotion": str, "kind": str, "fps": "float64"})


def validate_events(events: pd.DataFrame, *, source: str = "events table",
                    subjects: Collection[str] | re.Pattern | None = None,
                    columns: Mapping[str, str] | None = None, frame_base: int = 0,
                    min_frame: int | None = 0, rejected: list | None = None,
                    bad_apex: str = "error") -> pd.DataFrame:
    """Check an events table row by row and return it with canonical types and column order.

    Parameters
    ----------
    events : DataFrame with at least :data:`EVENT_COLUMNS`. An optional ``_row`` column gives each
        row's 1-based spreadsheet row for messages; without it, row = position + 2 (the line of that
        row in a CSV file with one header line).
    source : the file name, quoted in every message.
    subjects : the known subjects: a collection of names, or a regex a name must match in full.
        None accepts any non-empty name.
    columns : for messages, the source file's name of each canonical column (e.g. ``{"apex": "ApexFrame"}``).
    frame_base : what the source file calls melab's frame 0 (1 for spreadsheets counting from 1);
        messages quote frame values as the file writes them.
    min_frame : smallest allowed frame (0); None allows negative frames (predictions may start early).
    rejected : None to raise on the first malformed row; a list to drop malformed rows and append a
        :class:`Rejection` for each.
    bad_apex : ``"error"`` (an apex outside onset..offset is a malformed row) or ``"unknown"`` (the row is
        kept with the middle frame as its apex, ``apex_labelled`` False and an :class:`AnnotationWarning`).

    Returns
    -------
    DataFrame : :data:`EVENT_COLUMNS` first (subject, video, emotion, kind as str; onset, apex, offset
        int64; fps float64, NaN when unknown), then the extra columns; emotions normalised, kind
        ``"micro"`` or ``"macro"``, index 0..n-1.

    Raises
    ------
    ValueError : a column is missing, or (``rejected`` is None) a row is malformed; the message names
        the file, the row and the column.
    """
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}; an events table needs "
                         f"{', '.join(EVENT_COLUMNS)}")
    if bad_apex not in ("error", "unknown"):
        raise ValueError(f"bad_apex must be 'error' or 'unknown', got {bad_apex!r}")
    names = {c: c for c in EVENT_COLUMNS} | dict(columns or {})
    report = _Problems(source, rejected)
    rows = events["_row"].tolist() if "_row" in events.columns else range(2, len(events) + 2)
    kept, clean, guessed = [], [], []
    for position, (row, record) in enumerate(zip(rows, events.to_dict("records"), strict=True)):
        problem, values = _check_row(record, subjects, frame_base, min_frame)
        if problem and problem[0] == "apex" and bad_apex == "unknown" and "lies outside" in problem[2]:
            middle = (values[2] + values[4]) // 2
            _warn(source, row, f"{problem[2]}; kept with the middle frame {middle + frame_base} as its apex "
                               "(apex_labelled False)")
            values, problem = values[:3] + (middle,) + values[4:], None
            guessed.append(len(clean))
        if problem:
            column, value, reason = problem
            report(row, names[column], value, reason)
            continue
        kept.append(position)
        clean.append(values)
    table = _typed(pd.DataFrame(clean, columns=list(EVENT_COLUMNS))) if clean else _empty_events()
    extras = [c for c in events.columns if c not in EVENT_COLUMNS and c != "_row"]
    if extras:
        table = pd.concat([table, events.iloc[kept][extras].reset_index(drop=True)], axis=1)
    if guessed:
        labelled = table["apex_labelled"] if "apex_labelled" in table.columns else pd.Series(True, index=table.index)
        table["apex_labelled"] = labelled.astype(bool)
        table.loc[guessed, "apex_labelled"] = False
    return table


def _check_row(record: dict, subjects, frame_base: int, min_frame: int | None):
    """Return ``(None, values)`` for a good row, else ``((column, value, reason), values or None)``: the values
    come along only when the apex alone is wrong."""
    subject, video = _text(record["subject"]), _text(record["video"])
    if not subject:
        return ("subject", record["subject"], "the subject is blank"), None
    if isinstance(subjects, re.Pattern):
        if not subjects.fullmatch(subject):
            return ("subject", subject, f"unknown subject {subject!r} (expected a name matching "
                                        f"{subjects.pattern})"), None
    elif subjects is not None and subject not in subjects:
        known = ", ".join(sorted(subjects))
        return ("subject", subject, f"unknown subject {subject!r} (known: {known})"), None
    if not video:
        return ("video", record["video"], "the video name is blank"), None
    frames = {}
    for name in ("onset", "offset", "apex"):
        try:
            frames[name] = _frame(record[name])
        except ValueError as err:
            return (name, record[name], str(err)), None
        if frames[name] is None:
            return (name, record[name], f"the {name} frame is missing"), None
        if min_frame is not None and frames[name] < min_frame:
            return (name, frames[name] + frame_base, f"{name} {frames[name] + frame_base} is before the "
                                                     f"first frame ({min_frame + frame_base})"), None
    # Frames as the source file writes them, for messages.
    onset, apex, offset = (frames[name] + frame_base for name in ("onset", "apex", "offset"))
    if offset < onset:
        return ("offset", offset, f"offset {offset} is before onset {onset}"), None
    apex_problem = None
    if not onset <= apex <= offset:
        apex_problem = ("apex", apex, f"apex {apex} lies outside onset..offset {onset}..{offset}")
    try:
        emotion = normalize_emotion(record["emotion"])
    except ValueError as err:
        return ("emotion", record["emotion"], str(err)), None
    try:
        kind = _normalize_kind(record["kind"])
    except ValueError as err:
        return ("kind", record["kind"], str(err)), None
    try:
        fps = float(record["fps"]) if not _blank(record["fps"]) else math.nan
    except (TypeError, ValueError):
        return ("fps", record["fps"], f"fps {record['fps']!r} is not a number"), None
    if fps <= 0 or math.isinf(fps):
        return ("fps", record["fps"], f"fps must be positive, got {fps}"), None
    # an apex outside the interval comes with the other values, for bad_apex="unknown"
    return apex_problem, (subject, video, frames["onset"], frames["apex"], frames["offset"], emotion, kind, fps)


# ---------------------------------------------------------------------------------------------------
# Spreadsheets
# ---------------------------------------------------------------------------------------------------


def _key(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", _text(name).lower())


class _Table(NamedTuple):
    source: str
    headers: dict[str, str]  # field -> the header text in the file
    rows: list[tuple[int, dict[str, object]]]  # (1-based spreadsheet row, field -> cell)


def _grids(path: Path) -> Iterator[tuple[str, pd.DataFrame]]:
    """(sheet name, raw cells) of every sheet; row i of a grid is spreadsheet row i + 1."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield path.name, _csv_cells(path, header=None)
    elif suffix in (".xlsx", ".xlsm"):
        try:
            sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=object, engine="openpyxl")
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
            raise ValueError(f"{path} is not an Excel workbook although it ends in {suffix} ({type(err).__name__}: "
                             f"{err}); open it in a spreadsheet program and save it as .xlsx, or as .csv") from None
        yield from sheets.items()
    elif suffix == ".xls":
        yield from _xls_grids(path)
    else:
        raise ValueError(f"{path}: melab reads annotation spreadsheets as .xlsx, .xls or .csv; "
                         f"open this {suffix or 'file'} in a spreadsheet program and save it as .xlsx")


def _xls_grids(path: Path) -> Iterator[tuple[str, pd.DataFrame]]:
    """Sheets of an Excel 97-2003 workbook, read with xlrd (pandas' own xlrd engine is deprecated)."""
    import xlrd

    try:
        book = xlrd.open_workbook(path, on_demand=True)
    except (xlrd.XLRDError, xlrd.compdoc.CompDocError, OSError, ValueError, AssertionError) as err:
        raise ValueError(f"{path} is not an Excel 97-2003 workbook although it ends in .xls ({type(err).__name__}: "
                         f"{err}); open it in a spreadsheet program and save it as .xlsx, or as .csv") from None
    try:
        for sheet in book.sheets():
            rows = [[None if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK) else cell.value
                     for cell in sheet.row(r)] for r in range(sheet.nrows)]
            yield sheet.name, pd.DataFrame(rows, dtype=object)
    finally:
        book.release_resources()


def _read_table(path: str | os.PathLike, fields: Mapping[str, tuple[str, ...]], required: tuple[str, ...], *,
                dataset: str, sheet: str | None = None, stop_at_blank: str | None = None) -> _Table:
    """Find the header row holding ``required`` fields and return every non-blank row below it.

    ``fields`` maps a field name to its accepted header spellings (compared by :func:`_key`).
    ``stop_at_blank`` names a field: the table ends at the first row where it is blank (SMIC-E's notes below
    the data); the non-blank rows left below are reported with one :class:`AnnotationWarning`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no annotation file {path}; pass the path of the {dataset} spreadsheet")
    source = str(path)
    grids = sorted(_grids(path), key=lambda item: item[0] != sheet)
    for _, grid in grids:
        for r in range(min(_HEADER_SEARCH_ROWS, len(grid))):
            keys = [_key(cell) for cell in grid.iloc[r]]
            where = {}
            for name, spellings in fields.items():
                hits = [keys.index(_key(s)) for s in spellings if _key(s) in keys]
                if hits:
                    where[name] = hits[0]
            if all(name in where for name in required):
                headers = {name: _text(grid.iat[r, col]) for name, col in where.items()}
                rows = []
                for i in range(r + 1, len(grid)):
                    cells = grid.iloc[i]
                    if stop_at_blank is not None and _blank(cells.iloc[where[stop_at_blank]]):
                        rest = [j + 1 for j in range(i, len(grid)) if not all(_blank(c) for c in grid.iloc[j])]
                        if rest:
                            _warn(source, None, f"{len(rest)} row(s) after the first blank "
                                                f"{headers[stop_at_blank]!r} (row {i + 1}) skipped, rows "
                                                f"{_spans(rest)}: the table ends there and they are notes, not "
                                                "expressions")
                        break
                    if all(_blank(c) for c in cells):
                        continue
                    rows.append((i + 1, {name: cells.iloc[col] for name, col in where.items()}))
                return _Table(source, headers, rows)
    wanted = "; ".join(f"{name} ({' / '.join(fields[name])})" for name in required)
    raise ValueError(f"{source}: no header row with the {dataset} columns {wanted} in the first "
                     f"{_HEADER_SEARCH_ROWS} rows of sheet(s) {', '.join(name for name, _ in grids)}; "
                     f"is this the {dataset} annotation file?")


def _spans(numbers: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in spans)


def _frames(table: _Table, row: int, cells: dict, report: _Problems, *, base: int = 1,
            apex_known: bool = True, onset: str = "onset", offset: str = "offset",
            skip_onset_zero: bool = False) -> tuple[int, int, int] | None:
    """Onset, apex, offset of one row in melab's 0-based numbering, with the offset and apex rules; None for a
    row that is left out (reported as malformed, or skipped with a warning: onset 0)."""
    numbers = {}
    for name in (onset, "apex", offset) if apex_known else (onset, offset):
        try:
            numbers[name] = _frame(cells[name])
        except ValueError as err:
            report(row, table.headers[name], cells[name], str(err))
            return None
    first, peak, last = numbers[onset], numbers.get("apex"), numbers[offset]
    if first is None:
        report(row, table.headers[onset], cells[onset], "the onset frame is missing")
        return None
    if first == 0 and base == 1 and skip_onset_zero:
        _warn(table.source, row, "onset is 0 (no image 0 exists); row skipped, as the reference loaders "
                                 "(ME-TST, BoostingVRME, SoftNet) skip onset-0 rows")
        return None
    if first < base:
        report(row, table.headers[onset], cells[onset], f"onset {first} is not a frame: this file counts "
                                                        f"frames from {base}")
        return None
    if peak is not None and peak < base:
        peak = None
    if not last:
        if peak is None:
            report(row, table.headers[offset], cells[offset],
                   "the offset is missing (or 0) and so is the apex that would replace it")
            return None
        written = _text(cells[offset]) or "blank"
        _warn(table.source, row, f"offset is {written}; using the apex {peak} as offset")
        last = peak
    if last < first:
        report(row, table.headers[offset], cells[offset], f"offset {last} is before onset {first}")
        return None
    if peak is None:
        peak = (first + last) // 2
        if apex_known:
            _warn(table.source, row, f"apex is missing; using the middle frame {peak} of {first}..{last}")
    return first - base, peak - base, last - base


def _record(row: int, subject: str, video: str, frames: tuple[int, int, int], emotion: object, kind: object,
            fps: float, *, apex_labelled: bool = True, **extra: object) -> dict:
    onset, apex, offset = frames
    return dict(_row=row, subject=subject, video=video, onset=onset, apex=apex, offset=offset,
                emotion=emotion, kind=kind, fps=fps, **extra, apex_labelled=apex_labelled, label_row=row)


def _apex_given(cells: dict, base: int = 1) -> bool:
    """Whether a row writes an apex frame (not blank, ``/``, ``-``, or below the first frame: SAMM-LV's -1)."""
    try:
        apex = _frame(cells.get("apex"))
    except ValueError:
        return False
    return apex is not None and apex >= base


def _empty_reader_table() -> pd.DataFrame:
    return _empty_events().assign(apex_labelled=pd.Series(dtype=bool), label_row=pd.Series(dtype="int64"),
                                  label_file=pd.Series(dtype=str))


def _finish(records: list[dict], table: _Table, *, dataset: str, rejected: list | None,
            bad_apex: str = "error") -> pd.DataFrame:
    """Validate the converted rows; messages quote the file's own column names and frame numbers."""
    if not records:
        return _empty_reader_table()
    columns = {name: table.headers.get(name, name) for name in EVENT_COLUMNS}
    events = validate_events(pd.DataFrame(records), source=table.source, subjects=SUBJECT_PATTERNS[dataset],
                             columns=columns, frame_base=1, rejected=rejected, bad_apex=bad_apex)
    return events.assign(label_file=table.source)


def _subject_number(text: str, prefix: str = "") -> int | None:
    m = re.fullmatch(rf"(?:{prefix})?\s*0*(\d+)", text, flags=re.IGNORECASE)
    return int(m[1]) if m else None


# ---------------------------------------------------------------------------------------------------
# CAS(ME)^3
# ---------------------------------------------------------------------------------------------------

_CASME3_FIELDS = {
    "subject": ("Subject", "sub"), "video": ("Filename", "seq"),
    "onset": ("Onset", "Onset Frame"), "apex": ("Apex", "Apex Frame"), "offset": ("Offset", "Offset Frame"),
    "emotion": ("emotion", "Estimated Emotion"), "aus": ("AU", "Action Units"),
    "objective_class": ("Objective class", "Objective classes"), "kind": ("Expression type", "Type"),
}


def read_casme3(path: str | os.PathLike, *, macro_path: str | os.PathLike | None = None,
                rejected: list | None = None, bad_apex: str = "error") -> pd.DataFrame:
    """Read CAS(ME)^3 part A labels (``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx``).

    Columns expected
        ``Subject`` (``spNO.1``), ``Filename`` (the video letter, ``a`` ... ``m``), ``Onset``, ``Apex``,
        ``Offset``, ``emotion``; optional ``AU`` and ``Objective class`` (kept as ``aus`` and
        ``objective_class``) and ``Expression type``. The macro-expression file
        (``cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx``, columns ``sub, seq, onset, apex, offset,
        emotion``) is read too when ``macro_path`` is given.
    Subjects and videos
        ``subject`` is ``spNO.<n>`` (``spno.7`` and ``7`` are accepted). Video letters are lower-cased,
        because the folders are, and ``video`` is ``<subject>_<letter>`` (``spNO.1_a``): letters repeat
        across subjects, and melab needs video names unique in a dataset. The frames live in
        ``<subject>/<letter>/color/``.
    Frames
        The *JpgIndex* numbers are the names of the ``color/<n>.jpg`` images, counting from 1:
        melab frame = number - 1.
    fps
        30.
    Micro or macro
        Rows of ``path`` are micro-expressions, rows of ``macro_path`` macro-expressions, unless an
        ``Expression type`` column says otherwise (its text starts with "micro" or "macro").
    Emotions
        ``happy`` -> happiness, ``sad`` -> sadness, ``Others`` -> others; the others as written
        (anger, disgust, fear, surprise), any case.
    Missing apex / offset = 0
        Apex -> middle frame; offset -> apex; each with an :class:`AnnotationWarning` naming file and row.
    Known errors of the published v2 file (``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx``, 860 rows)
        Row 751 has its offset before its onset (3647 .. 2694) and row 130 its apex outside the interval
        (83 in 112..358): malformed, skipped only with ``rejected=[]`` (``--drop-malformed``). Row 752 has
        onset 0: skipped with a warning, as the reference loaders do. Rows 798 and 800 have offset 0 (->
        apex). The v1 ``.xls`` beside it is older; :class:`melab.data.Dataset` reads the newest version.

    Returns the events table (see the module docstring for ``rejected``, ``bad_apex`` and the errors raised).
    """
    parts = [_read_casme3_file(path, "micro", rejected, bad_apex)]
    if macro_path is not None:
        parts.append(_read_casme3_file(macro_path, "macro", rejected, bad_apex))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _read_casme3_file(path, kind: str, rejected: list | None, bad_apex: str) -> pd.DataFrame:
    table = _read_table(path, _CASME3_FIELDS, ("subject", "video", "onset", "apex", "offset", "emotion"),
                        dataset="CAS(ME)^3", sheet="label")
    report = _Problems(table.source, rejected)
    records = []
    for row, cells in table.rows:
        raw = _text(cells["subject"])
        number = _subject_number(raw, r"spno\.?")
        subject = f"spNO.{number}" if number else raw
        letter = _text(cells["video"]).lower()
        frames = _frames(table, row, cells, report, skip_onset_zero=True)
        if frames is None:
            continue
        video = f"{subject}_{letter}" if letter else ""
        records.append(_record(row, subject, video, frames, cells["emotion"],
                               _text(cells.get("kind")) or kind, FPS["casme3"], apex_labelled=_apex_given(cells),
                               aus=_text(cells.get("aus")), objective_class=_text(cells.get("objective_class"))))
    return _finish(records, table, dataset="casme3", rejected=rejected, bad_apex=bad_apex)


# ---------------------------------------------------------------------------------------------------
# SAMM and SAMM Long Videos
# ---------------------------------------------------------------------------------------------------

_SAMM_FIELDS = {
    "subject": ("Subject",), "video": ("Filename",),
    "onset": ("Onset Frame", "Onset"), "apex": ("Apex Frame", "Apex"), "offset": ("Offset Frame", "Offset"),
    "emotion": ("Estimated Emotion", "Emotion"), "aus": ("Action Units",),
    "objective_class": ("Objective Classes", "Classes"),
}
_SAMM_LV_FIELDS = {
    "subject": ("Subject",), "video": ("Filename",),
    "onset": ("Onset", "Onset Frame"), "apex": ("Apex", "Apex Frame"), "offset": ("Offset", "Offset Frame"),
    "kind": ("Type",), "aus": ("Action Units",),
}


def _samm_subject(text: str) -> str:
    number = _subject_number(text)
    return f"{number:03d}" if number is not None else text


def _samm_name(table: _Table, row: int, cells: dict, subject: str, report: _Problems) -> str | None:
    """Check that a SAMM file name (``006_1_2``) has three fields and belongs to its subject."""
    name = _text(cells["video"])
    fields = name.split("_")
    if len(fields) < 3 or _samm_subject(fields[0]) != subject:
        report(row, table.headers["video"], name, f"file name {name!r} does not look like "
                                                  f"{subject}_<session>_<n> for subject {subject}")
        return None
    return name


def read_samm_lv(path: str | os.PathLike, facs_path: str | os.PathLike | None = None, *,
                 rejected: list | None = None, bad_apex: str = "error") -> pd.DataFrame:
    """Read SAMM Long Videos labels (``SAMM_LongVideos_V3_Release.xlsx``), emotions from SAMM's FACS codes.

    Columns expected
        A block of title and notes rows, then the header ``Subject, Filename, Inducement Code, Onset,
        Apex, Offset, Duration, Type, Action Units, Notes``. ``Filename`` names the expression
        (``006_1_2``: subject 006, video ``006_1``, expression 2); it is kept as column ``filename``,
        ``Action Units`` as ``aus``.
    Emotions
        The long-video sheet has none. They come from SAMM's ``SAMM_Micro_FACS_Codes_v2.xlsx``
        (``facs_path``; read like :func:`read_samm`), merged on ``Filename``. Macro-expressions, which
        SAMM does not label, get ``others``; so does a micro-expression missing from the FACS sheet
        (with an :class:`AnnotationWarning`), and every row when ``facs_path`` is None (one warning).
        SAMM writes ``Happiness``, ``Anger``, ``Other``, ...: normalised to lower case, ``Other`` -> others.
    Subjects
        ``006`` (3 digits, as in the file names); ``Subject`` 6 is read as ``006``. The file name must
        start with the subject.
    Frames
        Image numbers of the long video (``006_1_0001.jpg`` ...), counting from 1: melab frame = number - 1.
    fps
        200.
    Micro or macro
        ``Type``: text starting with "Micro" (``Micro - 1/2``) is micro, "Macro" is macro; anything else
        is an error.
    Missing apex / offset = 0 / onset = 0
        Offset 0 (used in SAMM-LV for an unknown offset) -> the apex; missing apex (blank, or -1 as the sheet's
        note says) -> middle frame; onset 0 (very long macro-expressions) -> the row is skipped, as SoftNet,
        ME-TST and BoostingVRME skip it; each with an :class:`AnnotationWarning` naming file and row.
    Offsets after the last image
        Public code reports two for V2 (``020_6_5``: offset 5476, last image 5001; ``036_7_4``: 8298 vs 8201):
        :class:`melab.data.Dataset` clips such an event to the images when at least half of it remains.
    """
    emotions: dict[str, object] = {}
    if facs_path is not None:
        facs = read_samm(facs_path, rejected=rejected, bad_apex=bad_apex)
        emotions = dict(zip(facs["video"], facs["emotion"], strict=True))
    table = _read_table(path, _SAMM_LV_FIELDS, ("subject", "video", "onset", "apex", "offset", "kind"),
                        dataset="SAMM Long Videos")
    if facs_path is None:
        warnings.warn(f"{table.source}: no SAMM FACS code sheet given, so every emotion is 'others'; pass "
                      "facs_path='SAMM_Micro_FACS_Codes_v2.xlsx' to read SAMM's estimated emotions",
                      AnnotationWarning, stacklevel=2)
    report = _Problems(table.source, rejected)
    records = []
    for row, cells in table.rows:
        subject = _samm_subject(_text(cells["subject"]))
        name = _samm_name(table, row, cells, subject, report)
        frames = _frames(table, row, cells, report, skip_onset_zero=True) if name else None
        if frames is None:
            continue
        micro = _text(cells["kind"]).lower().startswith("micro")
        emotion = emotions.get(name, "others")
        if micro and facs_path is not None and name not in emotions:
            _warn(table.source, row, f"micro-expression {name} is not in {facs_path}; emotion 'others'")
        video = "_".join(name.split("_")[:2])
        records.append(_record(row, subject, video, frames, emotion, cells["kind"], FPS["samm_lv"],
                               apex_labelled=_apex_given(cells), filename=name, aus=_text(cells.get("aus"))))
    return _finish(records, table, dataset="samm_lv", rejected=rejected, bad_apex=bad_apex)


def read_samm(path: str | os.PathLike, *, rejected: list | None = None, bad_apex: str = "error") -> pd.DataFrame:
    """Read SAMM labels (``SAMM_Micro_FACS_Codes_v2.xlsx``).

    Columns expected
        Some title and notes rows, then the header ``Subject, Filename, Inducement Code, Onset Frame,
        Apex Frame, Offset Frame, Duration, Micro, Action Units, Estimated Emotion, Objective Classes,
        Notes`` (``Onset``/``Apex``/``Offset``/``Emotion`` are accepted too). ``Action Units`` is kept as
        ``aus``, ``Objective Classes`` as ``objective_class``.
    Subjects and videos
        ``subject`` is ``006`` (3 digits); ``video`` is the clip's ``Filename`` (``006_1_2``), which must
        start with the subject.
    Frames
        Numbers of the clip's images (``006_05562.jpg``: frame numbers of the whole recording), counting
        from 1: melab frame = number - 1. :class:`melab.data.Dataset` shifts them to the clip's first image.
    fps
        200.
    Micro or macro
        All micro: the sheet lists SAMM's micro-movements only.
    Emotions
        ``Anger``, ``Contempt``, ``Disgust``, ``Fear``, ``Happiness``, ``Sadness``, ``Surprise`` -> lower
        case; ``Other`` -> others.
    Missing apex / offset = 0
        Apex -> middle frame; offset -> apex; each with an :class:`AnnotationWarning` naming file and row.
    Known errors
        Two rows of the public ``SAMM_Micro_FACS_Codes_v2.xlsx`` have their apex outside onset..offset
        (``028_4_1``: apex 1143 after offset 1134; ``032_3_1``: apex 1930 in 4896..4970). MEGC 2019 lists both;
        ``bad_apex="unknown"`` keeps them with an unknown apex (what :func:`melab.data.splits.composite_3db` does).
    """
    table = _read_table(path, _SAMM_FIELDS, ("subject", "video", "onset", "apex", "offset", "emotion"),
                        dataset="SAMM")
    report = _Problems(table.source, rejected)
    records = []
    for row, cells in table.rows:
        subject = _samm_subject(_text(cells["subject"]))
        name = _samm_name(table, row, cells, subject, report)
        frames = _frames(table, row, cells, report) if name else None
        if frames is None:
            continue
        records.append(_record(row, subject, name, frames, cells["emotion"], "micro", FPS["samm"],
                               apex_labelled=_apex_given(cells), aus=_text(cells.get("aus")),
                               objective_class=_text(cells.get("objective_class"))))
    return _finish(records, table, dataset="samm", rejected=rejected, bad_apex=bad_apex)


# ---------------------------------------------------------------------------------------------------
# CASME II
# ---------------------------------------------------------------------------------------------------

_CASME2_FIELDS = {
    "subject": ("Subject",), "video": ("Filename",),
    "onset": ("OnsetFrame", "Onset"), "apex": ("ApexFrame", "Apex"), "offset": ("OffsetFrame", "Offset"),
    "emotion": ("Estimated Emotion", "Emotion"), "aus": ("Action Units",),
}


def read_casme2(path: str | os.PathLike, *, rejected: list | None = None, bad_apex: str = "error") -> pd.DataFrame:
    """Read CASME II labels (``CASME2-coding-20140508.xlsx``, later codings, or MEAN's ``CASME2_label_Ver_2.xls``).

    Columns expected
        ``Subject`` (1 ... 26), ``Filename`` (``EP02_01f``), ``OnsetFrame``, ``ApexFrame``,
        ``OffsetFrame``, ``Action Units`` (kept as ``aus``), ``Estimated Emotion``; unnamed columns are
        ignored, so the 2014 layout (with two unnamed columns) and ``CASME2_label_Ver_2.xls`` (without them,
        Excel 97-2003) read alike.
    Subjects and videos
        ``subject`` is the spreadsheet's number as text, ``"1"`` ... ``"26"`` (the MEGC ground-truth
        files write it so; the frame folders are ``sub01`` ...); ``sub01`` is accepted too. ``video`` is
        ``Filename``. CASME II reuses file names across subjects (EP02_01f exists for several), so a
        video is identified by (subject, video), as :mod:`melab.metrics` and
        :class:`melab.data.Dataset` do.
    Frames
        Numbers of the ``img<n>.jpg`` images (frame numbers of the whole recording), counting from 1:
        melab frame = number - 1. This matches the MEGC ground truth (EP02_01f of subject 1: OnsetFrame
        46 -> onset 45). :class:`melab.data.Dataset` shifts them to the clip's first image.
    fps
        200.
    Micro or macro
        All micro.
    Emotions
        happiness, surprise, disgust, fear, sadness, repression, others (any case).
    Missing apex / offset = 0
        An apex written ``/`` (the 2014 release has one) -> middle frame; offset 0 -> apex; each with
        an :class:`AnnotationWarning` naming file and row.
    """
    table = _read_table(path, _CASME2_FIELDS, ("subject", "video", "onset", "apex", "offset", "emotion"),
                        dataset="CASME II")
    report = _Problems(table.source, rejected)
    records = []
    for row, cells in table.rows:
        raw = _text(cells["subject"])
        number = _subject_number(raw, "sub")
        subject = str(number) if number is not None else raw
        frames = _frames(table, row, cells, report)
        if frames is None:
            continue
        records.append(_record(row, subject, _text(cells["video"]), frames, cells["emotion"], "micro",
                               FPS["casme2"], apex_labelled=_apex_given(cells), aus=_text(cells.get("aus"))))
    return _finish(records, table, dataset="casme2", rejected=rejected, bad_apex=bad_apex)


# ---------------------------------------------------------------------------------------------------
# SMIC-E
# ---------------------------------------------------------------------------------------------------

_SMIC_FIELDS = {
    "subject": ("Subject",), "video": ("Filename",),
    "onset": ("OnsetF", "Onset", "Onset Frame"), "offset": ("OffsetF", "Offset", "Offset Frame"),
    "onset2": ("Onset2F",), "offset2": ("Offset2F",), "onset3": ("Onset3F",), "offset3": ("Offset3F",),
    "emotion": ("Emotion",),
}


def read_smic(path: str | os.PathLike, *, rejected: list | None = None) -> pd.DataFrame:
    """Read SMIC-E labels (the high-speed annotation, ``SMIC-HS-E_annotation.xlsx``, or an ``HS`` sheet).

    Columns expected
        ``Subject`` (1 ... 20), ``Filename`` (``s1_ne_01``), ``OnsetF``, ``OffsetF``, optionally a second
        and third expression of the same clip in ``Onset2F``/``Offset2F`` and ``Onset3F``/``Offset3F``,
        ``Emotion``; the other columns (``TotalMF1``, ``FirstF``, ``LastF``, ``TotalVL``, ...) are
        ignored. A sheet named ``HS`` is preferred; the plain SMIC-HS sheet (one interval per row) reads
        the same way.
    Where the table ends
        The published SMIC-E annotation ends in notes (text rows) below its data. The table ends at the first
        row whose ``Subject`` is blank, as public readers cut it (MEAN keeps its first 157 rows); the rows below
        are skipped with one :class:`AnnotationWarning` that counts and lists them.
    Subjects and videos
        ``subject`` is ``s<n>`` (``s1`` ... ``s20``); ``video`` is ``Filename``. A row with a second or
        third interval gives one event per interval.
    Frames
        Image numbers of the recording (``image<n>.bmp``), counting from 1: melab frame = number - 1.
        :class:`melab.data.Dataset` shifts them to the clip's first image.
    fps
        100 (SMIC-HS; the VIS and NIR parts run at 25 fps and are not read: :class:`melab.data.Dataset` picks
        the HS file when ``SMIC-VIS-E`` / ``SMIC-NIR-E`` annotations sit beside it).
    Micro or macro
        All micro.
    Emotions
        SMIC labels valence only: ``negative``, ``positive``, ``surprise`` (any case), kept as they are.
    Missing apex / offset = 0
        SMIC has no apex: it is the middle frame ``(onset + offset) // 2`` for every row, silently (it is
        the dataset's design, not a gap), and ``apex_labelled`` is False. Offset 0 is an error, since there
        is no apex to use.
    """
    table = _read_table(path, _SMIC_FIELDS, ("subject", "video", "onset", "offset", "emotion"),
                        dataset="SMIC-E", sheet="HS", stop_at_blank="subject")
    report = _Problems(table.source, rejected)
    records = []
    for row, cells in table.rows:
        raw = _text(cells["subject"])
        number = _subject_number(raw, "s")
        subject = f"s{number}" if number is not None else raw
        for onset, offset in (("onset", "offset"), ("onset2", "offset2"), ("onset3", "offset3")):
            if onset not in cells or (onset != "onset" and _blank(cells[onset]) and _blank(cells[offset])):
                continue
            frames = _frames(table, row, cells, report, apex_known=False, onset=onset, offset=offset)
            if frames is not None:
                records.append(_record(row, subject, _text(cells["video"]), frames, cells["emotion"], "micro",
                                       FPS["smic"], apex_labelled=False))
    return _finish(records, table, dataset="smic", rejected=rejected)


SMIC_HS_CLASSES = ("negative", "positive", "surprise")
_SMIC_HS_CLIP = re.compile(r"s0*(\d+)_(ne|po|sur)_\d+", flags=re.IGNORECASE)


def smic_hs_clip_folders(root: str | os.PathLike) -> list[Path]:
    """The clip folders of the SMIC-HS release under ``root``: ``.../HS/s<n>/micro/<class>/<clip>/`` holding
    images, ``<class>`` one of :data:`SMIC_HS_CLASSES` (the layout MEGC 2019's composite uses), sorted. The
    release's ``VIS/`` and ``NIR/`` copies of the same clips are not listed."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        parts = Path(dirpath).parts
        if (len(parts) >= 5 and parts[-5].lower() == "hs" and parts[-2].lower() in SMIC_HS_CLASSES
                and parts[-3].lower() == "micro"
                and re.fullmatch(r"s0*\d+", parts[-4], flags=re.IGNORECASE)
                and any(os.path.splitext(n)[1].lower() in _IMAGE_SUFFIXES for n in filenames)):
            found.append(Path(dirpath))
    return found


def read_smic_folders(root: str | os.PathLike, *, rejected: list | None = None) -> pd.DataFrame:
    """Events of the SMIC-HS clip release, labelled only by its folders: ``HS/s<n>/micro/<class>/<clip>/image*.bmp``.

    This is the SMIC that MEGC 2019's composite uses (164 clips of 16 subjects): no label file, one
    micro-expression per clip, its class in the folder name.

    Subjects and videos
        ``subject`` is the ``s<n>`` folder (``s1``); ``video`` the clip folder (``s1_ne_01``).
    Emotion
        The class folder: ``negative``, ``positive`` or ``surprise``. A clip whose name says another class
        (``s1_po_01`` under ``negative/``) is malformed: an error, or skipped into ``rejected``.
    Frames
        The clip is the expression: onset = its first image number - 1, offset = its last image number - 1
        (image numbers of the recording, counting from 1, as in SMIC-E); apex = the middle frame,
        ``apex_labelled`` False (SMIC has no apex; the composite detects it from optical flow).
    fps
        100.

    Columns of the result: the events table plus ``apex_labelled``, ``label_file`` (the clip folder) and
    ``label_row`` (0: a folder has no rows).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no SMIC folder {root}")
    records, problems = [], []
    for folder in smic_hs_clip_folders(root):
        label = folder.parent.name.lower()
        m = _SMIC_HS_CLIP.fullmatch(folder.name)
        abbreviation = {"ne": "negative", "po": "positive", "sur": "surprise"}.get(m[2].lower()) if m else None
        if abbreviation not in (None, label):
            problems.append((folder, f"clip {folder.name} sits in {label}/ but its name says {abbreviation}"))
            continue
        numbers = sorted(int(n[1]) for f in os.listdir(folder)
                         if os.path.splitext(f)[1].lower() in _IMAGE_SUFFIXES
                         and (n := re.search(r"(\d+)$", os.path.splitext(f)[0])))
        if not numbers or numbers[0] < 1:
            problems.append((folder, "its images carry no frame numbers (image<n>.bmp, counting from 1)"))
            continue
        subject = f"s{int(re.sub(r'[^0-9]', '', folder.parents[2].name))}"
        first, last = numbers[0] - 1, numbers[-1] - 1
        records.append(dict(subject=subject, video=folder.name, onset=first, apex=(first + last) // 2,
                            offset=last, emotion=label, kind="micro", fps=FPS["smic"], apex_labelled=False,
                            label_file=str(folder), label_row=0))
    for folder, reason in problems:
        if rejected is None:
            raise ValueError(f"{folder}: {reason}. Move the clip, or skip such clips with --drop-malformed "
                             "(Python: drop_malformed=True)")
        rejected.append(Rejection(str(folder), 0, "folder", folder.name, reason))
    if not records:
        return _empty_reader_table()
    return validate_events(pd.DataFrame(records), source=str(root), subjects=SUBJECT_PATTERNS["smic"],
                           rejected=rejected)


# ---------------------------------------------------------------------------------------------------
# DFME
# ---------------------------------------------------------------------------------------------------

_DFME_FIELDS = {
    "subject": ("Subject", "sub", "Participant"), "video": ("Filename", "Sample", "Video", "Sample Name"),
    "onset": ("Onset", "OnsetFrame", "Onset Frame"), "apex": ("Apex", "ApexFrame", "Apex Frame"),
    "offset": ("Offset", "OffsetFrame", "Offset Frame"), "emotion": ("Emotion", "Estimated Emotion", "Label"),
    "fps": ("fps", "Frame Rate", "FrameRate"), "set": ("Set", "Split", "Partition", "Subset"),
    "aus": ("AU", "AUs", "Action Units"),
}
_DFME_SET_SPELLINGS = {"train": "train", "training": "train", "trainset": "train",
                       "testa": "test_a", "a": "test_a", "testseta": "test_a",
                       "testb": "test_b", "b": "test_b", "testsetb": "test_b"}
_SEVEN = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")


def _dfme_set(value: object) -> str | None:
    return _DFME_SET_SPELLINGS.get(_key(value))


def dfme_set_of_name(name: str) -> str | None:
    """The DFME set a label file's name announces: ``train``, ``test_a``, ``test_b``, or None.

    Matched on the lower-case name without punctuation: ``train`` -> train; ``testa`` / ``test_a`` /
    ``Test A`` -> test_a; likewise test_b. A name that mentions more than one set gives None.
    """
    key = _key(Path(name).stem)
    found = {s for s, k in (("train", "train"), ("test_a", "testa"), ("test_b", "testb")) if k in key}
    return found.pop() if len(found) == 1 else None


def read_dfme(path: str | os.PathLike, *, split: str | None = None, fps: float | None = None,
              frame_base: int = 1, rejected: list | None = None) -> pd.DataFrame:
    """Read DFME labels (DFME-public: the CCAC 2024 challenge release) as an events table.

    Sources, and what they fix
        Zhao et al., "DFME: A New Benchmark for Dynamic Facial Micro-expression Recognition", IEEE
        TAFFC 2023, and the CCAC 2024 challenge page (github.com/MEA-LAB-421/CCAC-page, cited by MERba
        as [25]): DFME-public is 2629 ME clips of 259 participants, recorded at 200, 300 or 500 fps,
        labelled with onset, apex and offset frames, AUs and one of seven emotions (happiness, anger,
        contempt, disgust, fear, sadness, surprise). It is split by participant into a training set
        (1856 clips of 176 participants) and two test sets, A and B, with no participant in two sets.
        MERba's Table II gives the per-class counts (:data:`melab.data.splits.DFME_PUBLIC_COUNTS`).
    What is NOT verified (no public copy of the label files was found)
        The file's column names, how subjects and samples are written, and how frames are numbered.
        The reader therefore assumes as little as it can and refuses what it cannot read:

        - the header row holds ``Subject``, ``Filename`` (or ``Sample``), ``Onset``, ``Apex``,
          ``Offset``, ``Emotion`` (spellings as in the other readers: case, spaces and punctuation
          are ignored); optional ``fps`` (or ``Frame Rate``), ``Set`` (or ``Split``), ``AU``;
        - frames are image numbers counting from ``frame_base`` (1, like every other ME dataset;
          pass 0 if the release counts from 0): melab frame = number - ``frame_base``.
          :class:`melab.data.Dataset` checks every event against the images on disk, which catches a
          wrong base at the clip's end;
        - ``subject`` and ``video`` are kept as written (any non-blank text); a video name may appear
          once per file only;
        - the set comes from the ``Set`` column (``train``, ``Test A``/``A``, ``Test B``/``B``) or from
          ``split=`` for the whole file (when both are there they must agree row by row); neither
          leaves ``set`` blank (then :func:`melab.data.splits.dfme_public_split` refuses the table).

    Columns of the result
        The events table plus ``set`` (one of :data:`DFME_SETS`, or "") and ``aus``.
    fps
        Per sample, from the ``fps`` column, or ``fps=`` for the whole file; it must be 200, 300 or
        500 (:data:`DFME_FPS`). A file with neither is an error, because the rate differs between clips.
    Micro or macro
        All micro.
    Emotions
        Only the seven classes (any case or spelling :func:`normalize_emotion` knows); anything else,
        including "others", is a malformed row.
    Missing apex / offset = 0
        As in every reader (apex -> middle frame, offset -> apex, each with a warning).

    Unlabelled test sets
        The test sets were handed out with sample names and frame rates only: so the CCAC 2024 challenge page
        says, as melab's issue 24 quotes it (an assumption here too: melab has not seen the page's files). Such a
        file (a header with ``Filename``/``Sample``, optionally ``fps``, and no emotion or frame columns) is not
        an events table: read it with :func:`read_dfme_samples`. :class:`melab.data.Dataset` does, and keeps its
        clips in ``.unlabelled`` for prediction.

    Raises
    ------
    ValueError : a malformed row (file, row and column named), no fps, a repeated video name, a label-less
        file (pointing to :func:`read_dfme_samples`), or a bad ``split`` / ``fps`` / ``frame_base`` argument.
    """
    _check_dfme_arguments(split, fps)
    if frame_base not in (0, 1):
        raise ValueError(f"frame_base must be 0 or 1 (what the file calls the first image), got {frame_base!r}")
    try:
        table = _read_table(path, _DFME_FIELDS, ("subject", "video", "onset", "apex", "offset", "emotion"),
                            dataset="DFME")
    except ValueError:
        if is_unlabelled_dfme(path):
            raise ValueError(f"{path} lists DFME samples without labels (sample names and frame rates, as the "
                             "test sets were handed out); read it with melab.data.annotations.read_dfme_samples, "
                             "or open the folder with melab.data.Dataset(kind='dfme'), which predicts them") from None
        raise
    report = _Problems(table.source, rejected)
    records = []
    for row, cells, video, rate, part in _dfme_clips(table, split, fps, report, check_split=True):
        try:
            emotion = normalize_emotion(cells["emotion"])
        except ValueError as err:
            report(row, table.headers["emotion"], cells["emotion"], str(err))
            continue
        if emotion not in _SEVEN:
            report(row, table.headers["emotion"], cells["emotion"],
                   f"DFME labels one of the seven emotions {', '.join(_SEVEN)}, not {emotion!r}")
            continue
        frames = _frames(table, row, cells, report, base=frame_base)
        if frames is None:
            continue
        records.append(_record(row, _text(cells["subject"]), video, frames, emotion, "micro", rate,
                               apex_labelled=_apex_given(cells, frame_base), set=part, aus=_text(cells.get("aus"))))
    if not records:
        return _empty_reader_table().assign(set=pd.Series(dtype=str), aus=pd.Series(dtype=str))
    columns = {name: table.headers.get(name, name) for name in EVENT_COLUMNS}
    events = validate_events(pd.DataFrame(records), source=table.source, subjects=None, columns=columns,
                             frame_base=frame_base, rejected=rejected)
    return events.assign(label_file=table.source)


def _dfme_clips(table, split: str | None, fps: float | None, report, *, check_split: bool):
    """The rows of a DFME table that pass the checks both DFME readers make, as ``(row, cells, video, rate,
    set)``: a rate from the column or ``fps=`` (one of :data:`DFME_FPS`), no video listed twice, a known set
    (and, with ``check_split``, the one ``split`` asks for). Other rows go to ``report``."""
    if "fps" not in table.headers and fps is None:
        raise ValueError(f"{table.source}: no fps column (fps / Frame Rate) and no fps= given; DFME clips run at "
                         f"200, 300 or 500 fps, so melab needs the rate of each clip")
    seen = {}
    for row, cells in table.rows:
        video = _text(cells["video"])
        if video in seen:
            report(row, table.headers["video"], video, f"video {video!r} is listed again (first in row {seen[video]})")
            continue
        seen[video] = row
        rate = fps
        if "fps" in table.headers:
            try:
                rate = float(_text(cells["fps"]))
            except ValueError:
                rate = None
            if rate not in DFME_FPS:
                report(row, table.headers["fps"], cells["fps"], f"fps must be one of {DFME_FPS}")
                continue
        part = split or ""
        if "set" in table.headers:
            part = _dfme_set(cells["set"])
            if part is None:
                report(row, table.headers["set"], cells["set"], "unknown set; expected train, Test A or Test B")
                continue
            if check_split and split is not None and part != split:
                report(row, table.headers["set"], cells["set"], f"this file was read as set {split!r}")
                continue
        yield row, cells, video, rate, part


def _check_dfme_arguments(split: str | None, fps: float | None) -> None:
    if split is not None and split not in DFME_SETS:
        raise ValueError(f"split must be one of {', '.join(DFME_SETS)}, got {split!r}")
    if fps is not None and float(fps) not in DFME_FPS:
        raise ValueError(f"fps must be one of DFME's rates {DFME_FPS}, got {fps!r}")


def is_unlabelled_dfme(path: str | os.PathLike) -> bool:
    """Whether a DFME file lists samples without labels: a header with the sample name and no emotion column."""
    try:
        table = _read_table(path, _DFME_FIELDS, ("video",), dataset="DFME")
    except ValueError:
        return False
    return "emotion" not in table.headers and "onset" not in table.headers


def read_dfme_samples(path: str | os.PathLike, *, split: str | None = None, fps: float | None = None,
                      rejected: list | None = None) -> pd.DataFrame:
    """Read an unlabelled DFME file (a test set as handed out: sample names and frame rates) as a sample list.

    Columns expected
        ``Filename`` (or ``Sample``, ``Video``, ``Sample Name``); ``fps`` (or ``Frame Rate``) unless ``fps=``
        is given; optional ``Subject`` and ``Set`` (spellings as in :func:`read_dfme`).
    Returns
        One row per sample: ``subject`` ("" when the file names none: the test sets hide who is who),
        ``video``, ``fps`` (200, 300 or 500), ``set`` (from the column, ``split=``, or ""), ``label_file``,
        ``label_row``. There are no frames and no emotion: a clip is predicted whole (onset its first image,
        offset its last, apex detected from optical flow; see :func:`melab.reproduce.load_real_data`).

    Raises
    ------
    ValueError : no sample-name column, no rate, a repeated sample, a rate that is not DFME's, an unknown set
        (each naming the file, row and column, unless ``rejected`` collects them).
    """
    _check_dfme_arguments(split, fps)
    table = _read_table(path, _DFME_FIELDS, ("video",), dataset="DFME")
    report = _Problems(table.source, rejected)
    rows = []
    for row, cells, video, rate, part in _dfme_clips(table, split, fps, report, check_split=False):
        rows.append(dict(subject=_text(cells.get("subject")), video=video, fps=float(rate), set=part,
                         label_file=table.source, label_row=row))
    columns = ["subject", "video", "fps", "set", "label_file", "label_row"]
    return pd.DataFrame(rows, columns=columns).astype({"subject": str, "video": str, "fps": "float64", "set": str,
                                                       "label_file": str, "label_row": "int64"})


# ---------------------------------------------------------------------------------------------------
# CSV files: MEGC ground truth / predictions, and melab's own events.csv
# ---------------------------------------------------------------------------------------------------


def _csv_cells(path: Path, **options) -> pd.DataFrame:
    """``pd.read_csv`` of every cell as text, with an error naming the file when it is not a CSV."""
    try:
        return pd.read_csv(path, dtype=object, skip_blank_lines=False, **options)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path} is not a CSV file ({type(err).__name__}: {err}); melab reads comma-separated "
                         "text with a header row") from None


def _read_csv(path: str | os.PathLike, what: str) -> tuple[str, pd.DataFrame]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} file {path}")
    table = _csv_cells(path, keep_default_na=False)
    table.columns = [str(c).strip() for c in table.columns]
    table.insert(0, "_row", np.arange(2, len(table) + 2))
    blank = table.drop(columns="_row").map(_blank).all(axis=1)
    return str(path), table[~blank].reset_index(drop=True)


def read_megc_csv(path: str | os.PathLike, *, fps: float | None = None, kind: str = "micro",
                  rejected: list | None = None) -> pd.DataFrame:
    """Read a MEGC spot-then-recognise CSV (ground truth or predictions) as an events table.

    Columns expected
        ``subject, video, onset, offset, emotion`` (those the official STRS script reads), in any order;
        optional ``apex``, ``kind``, ``fps``; any other column (e.g. ``score``) is kept.
    Frames
        Already 0-based and inclusive (the MEGC sample ground truth of CASME II EP02_01f is 45..85, its
        OnsetFrame 46 minus 1): kept as written. Negative frames are allowed, because predictions may
        start before the video (the public STRS sample has onset -3) and must be scored as written.
    Defaults for missing columns
        apex: the middle frame ``(onset + offset) // 2``; kind: ``kind`` (``"micro"``: MEGC spots
        micro-expressions); fps: ``fps``, or NaN (unknown) when None.
    Emotions
        Normalised like every reader (``Others`` -> others, ...); MEGC's 3-class names negative /
        positive / surprise are in the vocabulary.
    Subjects
        Read as text (``1`` stays ``"1"``); any non-blank name is accepted.
    """
    source, table = _read_csv(path, "MEGC CSV")
    missing = [c for c in MEGC_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}; a MEGC CSV has the columns "
                         f"{', '.join(MEGC_COLUMNS)}")
    if "apex" not in table.columns:
        table["apex"] = [_middle(a, b) for a, b in zip(table["onset"], table["offset"], strict=True)]
    if "kind" not in table.columns:
        table["kind"] = kind
    if "fps" not in table.columns:
        table["fps"] = math.nan if fps is None else float(fps)
    return validate_events(table, source=source, min_frame=None, rejected=rejected)


def _middle(onset: object, offset: object) -> object:
    """The middle frame, or the onset cell as is when either cell is not a number (validation reports it)."""
    try:
        first, last = _frame(onset), _frame(offset)
    except ValueError:
        return onset
    return onset if first is None or last is None else (first + last) // 2


def read_events_csv(path: str | os.PathLike, *, subjects: Collection[str] | re.Pattern | None = None,
                    rejected: list | None = None) -> pd.DataFrame:
    """Read melab's own events CSV (e.g. the synthetic corpus's ``events.csv``): canonical columns, 0-based.

    Extra columns are kept; ``aus`` stays text (``"12"`` is not turned into a number).
    ``subjects`` and ``rejected`` work as in :func:`validate_events`.
    """
    source, table = _read_csv(path, "events CSV")
    events = validate_events(table, source=source, subjects=subjects, rejected=rejected)
    for column in events.columns[len(EVENT_COLUMNS):]:
        events[column] = events[column].astype(str) if column == "aus" else _maybe_numeric(events[column])
    return events


def _maybe_numeric(values: pd.Series) -> pd.Series:
    """A CSV text column as numbers when every non-blank value is one, else as text."""
    numbers = pd.to_numeric(values.replace("", np.nan), errors="coerce")
    return numbers if numbers.notna().sum() == (values != "").sum() else values.astype(str)


def write_megc_csv(events: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write events as a MEGC CSV: ``subject, video, onset, offset, emotion``, one row per expression.

    Those are the columns the official STRS script reads; frames are written as they are (0-based,
    inclusive) and emotions normalised. The file is written to a temporary sibling and renamed into
    place, so a reader never sees half a file.

    Raises
    ------
    ValueError : a column is missing, a frame is not a whole number, offset < onset, or an emotion is
        unknown; the message names the row (0-based position in ``events``) and the column.
    """
    missing = [c for c in MEGC_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"write_megc_csv: events lack column(s) {', '.join(missing)}; "
                         f"a MEGC CSV needs {', '.join(MEGC_COLUMNS)}")
    rows = []
    for position, record in enumerate(events[list(MEGC_COLUMNS)].to_dict("records")):
        try:
            onset, offset = _frame(record["onset"]), _frame(record["offset"])
            if onset is None or offset is None or offset < onset:
                raise ValueError(f"onset..offset {record['onset']}..{record['offset']} is not an interval")
            emotion = normalize_emotion(record["emotion"])
        except ValueError as err:
            raise ValueError(f"write_megc_csv: events row {position} (0-based): {err}") from None
        rows.append((_text(record["subject"]), _text(record["video"]), onset, offset, emotion))
    table = pd.DataFrame(rows, columns=list(MEGC_COLUMNS))
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, lineterminator="\n")
    return path
