"""One object over synthetic or licensed data: the videos, their events, and frames loaded on demand.

``Dataset(kind="synthetic")`` and ``Dataset(root, kind="casme3")`` expose the same things, so a notebook
moves to real data by changing one argument:

- ``.events``: the validated events table (``DESIGN.md``), frames numbered as the dataset numbers them
  (0-based, see :mod:`melab.data.annotations`);
- ``.videos``: one row per video found: ``subject, video, fps, n_frames, first_frame, n_events, path``;
- ``len(ds)``, ``ds[i]``, ``ds["sub01_1"]``, ``ds["1", "EP02_01f"]`` (subject, video: CASME II reuses
  video names across subjects), ``for item in ds``: :class:`VideoItem` objects whose ``events`` index
  the item's own frames (``item.frames()[item.events.onset[0]]`` is the onset image).

Where the data lives
--------------------
``root`` defaults to ``$MELAB_DATA/<kind>`` (e.g. ``$MELAB_DATA/casme3``). For ``kind="synthetic"`` the
root is a corpus directory made by :func:`melab.data.synthetic.make_corpus`; with ``root=None`` that
corpus is made (or reused from its cache) for ``preset`` and ``seed``.

For licensed data the label spreadsheet is found under ``root`` by its file name (``labels=`` overrides),
and video folders anywhere under ``root`` (``frames=`` narrows the search) by the end of their path:

=========  ==============================================  ============================================
kind       label file (searched 3 levels deep)             a video's image folder ends with
=========  ==============================================  ============================================
casme3     ``cas(me)3_part_A_ME_label*.xlsx`` (+ ``MaE``)  ``spNO.<n>/<letter>/color/<n>.jpg``
samm_lv    ``SAMM_LongVideos*.xlsx`` (+ FACS codes)        ``<sss>_<k>/<sss>_<k>_<nnnn>.jpg``
casme2     ``CASME2-coding*.xlsx``                         ``sub<nn>/<EPxx_yy>/img<n>.jpg``
samm       ``*Micro_FACS_Codes*.xlsx``                     ``<sss>_<k>_<m>/<sss>_<nnnnn>.jpg``
smic       ``*SMIC*.xlsx`` (sheet ``HS``)                  ``s<n>_<ne|po|sur>_<mm>/image<n>.bmp``
dfme       ``*DFME*.xlsx|csv`` (one or several)            ``<Filename>/<anything><n>.jpg``
=========  ==============================================  ============================================

DFME's release layout is not public (see :func:`melab.data.annotations.read_dfme`); melab reads every
label file whose name holds "dfme" (e.g. ``DFME_train.xlsx``, ``DFME_test_A.xlsx``), takes a file's set
from its ``Set`` column or else from its name (``train`` / ``test_a`` / ``test_b``, see
:func:`~melab.data.annotations.dfme_set_of_name`), and finds a clip's images in a folder named as the
clip's ``Filename``, anywhere under ``root``. Each clip keeps its own fps (200, 300 or 500).

Image files are ordered by the number at the end of their names, which is the frame number the labels
use; an item's events are mapped to positions in that order (``first_frame`` is the dataset frame of
``frames()[0]``: clips of CASME II, SAMM and SMIC start mid-recording). Long-video datasets list every
video found, with or without events. Annotated videos missing on disk are left out with a warning.
"""

from __future__ import annotations

import fnmatch
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from melab.data import synthetic
from melab.data.annotations import (
    EVENT_COLUMNS,
    FPS,
    Rejection,
    dfme_set_of_name,
    read_casme2,
    read_casme3,
    read_dfme,
    read_events_csv,
    read_samm,
    read_samm_lv,
    read_smic,
)
from melab.data.video import IMAGE_SUFFIXES, read_frames

__all__ = ["KINDS", "Dataset", "VideoItem", "DatasetWarning", "data_root"]

KINDS = ("synthetic", "casme3", "samm_lv", "casme2", "samm", "smic", "dfme")
_LABEL_DEPTH = 3
_LABEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv")
# kind -> (pattern of the label file, pattern of the optional second file), lower-case file stems.
_LABEL_PATTERNS = {
    "casme3": ("*part_a_me_label*", "*part_a_mae_label*"),
    "samm_lv": ("samm_longvideos*", "*micro_facs_codes*"),
    "casme2": ("casme2-coding*", None),
    "samm": ("*micro_facs_codes*", None),
    "smic": ("*smic*", None),
    "dfme": ("*dfme*", None),
}
_LABEL_EXAMPLES = {"casme3": "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
                   "samm_lv": "SAMM_LongVideos_V3_Release.xlsx", "casme2": "CASME2-coding-20140508.xlsx",
                   "samm": "SAMM_Micro_FACS_Codes_v2.xlsx", "smic": "the SMIC-E annotation .xlsx",
                   "dfme": "DFME_train.xlsx"}
_NUMBER = re.compile(r"(\d+)$")


class DatasetWarning(UserWarning):
    """Data left out while opening a dataset: videos missing on disk, malformed rows (when dropped)."""


def data_root(kind: str) -> Path:
    """``$MELAB_DATA/<kind>``, the default root of a licensed dataset."""
    base = os.environ.get("MELAB_DATA")
    if not base:
        raise ValueError(f"no root given for kind={kind!r} and MELAB_DATA is not set; pass "
                         f"Dataset('/path/to/{kind}', kind={kind!r}) or set MELAB_DATA to the folder "
                         f"that holds {kind}/")
    return Path(base) / kind


@dataclass(frozen=True, eq=False)
class VideoItem:
    """One video: who, where, its events in its own frame positions, and its frames on demand.

    ``events`` has the events-table columns with onset/apex/offset as 0-based positions into
    :meth:`frames`; ``first_frame`` is the dataset frame number of ``frames()[0]``.
    """

    subject: str
    video: str
    fps: float
    n_frames: int
    path: Path
    events: pd.DataFrame = field(repr=False)
    first_frame: int = 0

    def frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start .. stop - 1`` as uint8 ``(T, H, W, 3)`` RGB (read from disk on each call)."""
        frames, _ = read_frames(self.path, fps=self.fps, start=start, stop=stop)
        return frames


@dataclass(frozen=True)
class _Loaded:
    events: pd.DataFrame  # events of the videos found, inside their frames; dataset numbering
    videos: pd.DataFrame  # subject, video, fps, n_frames, first_frame, n_events, path (+ extras)
    numbers: dict[tuple[str, str], np.ndarray]  # (subject, video) -> file numbers of its images, in frame order
    missing: pd.DataFrame  # subject, video: annotated, not on disk
    outside: pd.DataFrame  # events whose frames are not all among their video's images
    base: int  # file number of dataset frame 0


class Dataset:
    """Videos and events of the synthetic corpus or of a licensed ME dataset (see the module docstring).

    Parameters
    ----------
    root : corpus directory (synthetic) or dataset folder. Default: the synthetic corpus for
        ``preset``/``seed``, or ``$MELAB_DATA/<kind>``.
    kind : one of :data:`KINDS`.
    preset, seed : which synthetic corpus to make when ``root`` is None (ignored for real data).
    labels : the label spreadsheet, when the file-name search under ``root`` does not find it.
    frames : folder to search for video folders (default ``root``), e.g. ``root / "Cropped"`` when a
        dataset keeps raw and cropped copies.
    drop_malformed : False: a malformed annotation row, or an event outside its video's images, raises
        a ValueError naming it. True: such rows are left out with a :class:`DatasetWarning`, and kept in
        ``.rejected`` (a list of :class:`~melab.data.annotations.Rejection`) and ``.outside``.

    Raises
    ------
    FileNotFoundError : root, label file or corpus missing.
    ValueError : unknown kind, malformed labels (see ``drop_malformed``), ambiguous files.
    """

    def __init__(self, root: str | os.PathLike | None = None, kind: str = "synthetic", *, preset: str = "lab",
                 seed: int = 0, labels: str | os.PathLike | None = None, frames: str | os.PathLike | None = None,
                 drop_malformed: bool = False):
        if kind not in KINDS:
            raise ValueError(f"unknown dataset kind {kind!r}; choose one of {', '.join(KINDS)}")
        if root is None:
            root = synthetic.make_corpus(preset, seed) if kind == "synthetic" else data_root(kind)
        self.kind, self.root = kind, Path(root)
        self.rejected: list[Rejection] = []
        loaded = _load(kind, self.root, labels=labels, frames=frames,
                       rejected=self.rejected if drop_malformed else None)
        if len(loaded.outside) and not drop_malformed:
            first = loaded.outside.iloc[0]
            raise ValueError(f"{len(loaded.outside)} event(s) lie outside their video's images, e.g. "
                             f"{first.subject}/{first.video} frames {first.onset}..{first.offset} (images "
                             f"{first.first_image}.."
                             f"{first.last_image} in {first.path}); check the folder, or pass drop_malformed=True")
        if self.rejected or len(loaded.outside):
            warnings.warn(f"{self.root}: left out {len(self.rejected)} malformed annotation row(s) and "
                          f"{len(loaded.outside)} event(s) outside their video's images; see .rejected and "
                          f".outside, or run `melab data check --kind {kind} {self.root}`",
                          DatasetWarning, stacklevel=2)
        if len(loaded.missing):
            examples = ", ".join(f"{s}/{v}" for s, v in loaded.missing.head(3).itertuples(index=False))
            warnings.warn(f"{len(loaded.missing)} annotated video(s) are not on disk under "
                          f"{Path(frames or self.root)} (e.g. {examples}); their events are left out",
                          DatasetWarning, stacklevel=2)
        self.events, self.videos = loaded.events, loaded.videos
        self.missing, self.outside = loaded.missing, loaded.outside
        self._numbers, self._base = loaded.numbers, loaded.base
        self._position = {key: i for i, key in enumerate(zip(self.videos["subject"], self.videos["video"],
                                                             strict=True))}

    @property
    def subjects(self) -> tuple[str, ...]:
        """Subjects with at least one video, in the order of :attr:`videos`."""
        return tuple(dict.fromkeys(self.videos["subject"]))

    def __len__(self) -> int:
        return len(self.videos)

    def __iter__(self) -> Iterator[VideoItem]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, key: int | str | tuple[str, str]) -> VideoItem:
        """The video at a position, or by name: ``ds["sub01_1"]``, or ``ds["1", "EP02_01f"]`` (subject, video)
        where a dataset reuses video names across subjects (CASME II)."""
        if isinstance(key, str):
            matches = [k for k in self._position if k[1] == key]
            if len(matches) != 1:
                where = f"subjects {', '.join(s for s, _ in matches)}" if matches else "no subject"
                raise KeyError(f"video {key!r} belongs to {where} of this {self.kind} dataset; index by "
                               "(subject, video) or position (see .videos)")
            key = matches[0]
        if isinstance(key, tuple):
            if key not in self._position:
                raise KeyError(f"no video {key[1]!r} of subject {key[0]!r} in this {self.kind} dataset")
            key = self._position[key]
        row = self.videos.iloc[key]
        numbers = self._numbers[row.subject, row.video]
        events = self.events[(self.events["subject"] == row.subject) & (self.events["video"] == row.video)]
        events = events.reset_index(drop=True)
        for column in ("onset", "apex", "offset"):
            side = "right" if column == "offset" else "left"
            positions = np.searchsorted(numbers, events[column].to_numpy() + self._base, side=side)
            events[column] = positions - (column == "offset")
        return VideoItem(row.subject, row.video, float(row.fps), int(row.n_frames), Path(row.path), events,
                         int(row.first_frame))

    def __repr__(self) -> str:
        return (f"Dataset(kind={self.kind!r}, root='{self.root}', videos={len(self)}, events={len(self.events)}, "
                f"subjects={len(self.subjects)})")


# ---------------------------------------------------------------------------------------------------
# Loading (shared with melab.data.check)
# ---------------------------------------------------------------------------------------------------


def _natural(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


def _load(kind: str, root: Path, *, labels=None, frames=None, rejected: list | None) -> _Loaded:
    if not root.exists():
        raise FileNotFoundError(f"dataset root {root} does not exist")
    if kind == "synthetic":
        return _load_synthetic(root, rejected)
    events = read_labels(kind, root, labels=labels, rejected=rejected)
    folders = _scan_folders(kind, Path(frames) if frames else root, events)
    # DFME clips run at 200, 300 or 500 fps: each video keeps the rate of its label row
    keys = zip(events["subject"], events["video"], strict=True)
    rates = dict(zip(keys, events["fps"], strict=True)) if kind == "dfme" else None
    return _match(kind, events, folders, base=1, fps=rates)


def _load_synthetic(root: Path, rejected: list | None) -> _Loaded:
    if not (root / "events.csv").is_file() or not (root / "videos.csv").is_file():
        raise FileNotFoundError(f"{root} is not a melab corpus (no events.csv and videos.csv); make one with "
                                "melab.data.synthetic.make_corpus(), or pass kind= for a licensed dataset")
    videos = pd.read_csv(root / "videos.csv", dtype={"subject": str, "video": str})
    events = read_events_csv(root / "events.csv", subjects=set(videos["subject"]), rejected=rejected)
    folders = {(row.subject, row.video): (root / row.subject / row.video, np.arange(int(row.n_frames)))
               for row in videos.itertuples(index=False)}
    rates = {(row.subject, row.video): float(row.fps) for row in videos.itertuples(index=False)}
    loaded = _match("synthetic", events, folders, base=0, fps=rates)
    extras = videos.drop(columns=[c for c in ("fps", "n_frames") if c in videos.columns])
    return _Loaded(loaded.events, loaded.videos.merge(extras, on=["subject", "video"], how="left"), loaded.numbers,
                   loaded.missing, loaded.outside, loaded.base)


def _find_files(root: Path, pattern: str, depth: int = _LABEL_DEPTH) -> list[Path]:
    """Spreadsheets under ``root`` (at most ``depth`` folders deep) whose lower-case stem matches ``pattern``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        if len(Path(dirpath).relative_to(root).parts) + 1 >= depth:
            dirnames.clear()
        for name in filenames:
            stem, suffix = os.path.splitext(name.lower())
            if suffix in _LABEL_SUFFIXES and not name.startswith("~$") and fnmatch.fnmatch(stem, pattern):
                found.append(Path(dirpath) / name)
    return sorted(found)


def _at_most_one(kind: str, root: Path, files: list[Path]) -> Path | None:
    if len(files) > 1:
        raise ValueError(f"several {kind} label files under {root}: {', '.join(map(str, files))}; keep one, "
                         "or pass labels=PATH")
    return files[0] if files else None


def label_files(kind: str, root: str | os.PathLike) -> tuple[Path, Path | None]:
    """The label spreadsheet of a licensed dataset under ``root``, and its optional companion file.

    The companion is CAS(ME)^3's macro-expression file or SAMM's FACS codes for SAMM-LV (None if absent).
    Files are matched by name (see the module docstring), at most 3 folders deep.

    Raises
    ------
    FileNotFoundError : no label file; ValueError : several candidates (pass ``labels=`` to choose).
    """
    root = Path(root)
    main, companion = _LABEL_PATTERNS[kind]
    found = _at_most_one(kind, root, _find_files(root, main))
    if found is None:
        raise FileNotFoundError(f"no {kind} label file (like {_LABEL_EXAMPLES[kind]}) under {root}; put it "
                                "there, or pass labels=PATH")
    return found, _at_most_one(kind, root, _find_files(root, companion)) if companion else None


def read_labels(kind: str, root: str | os.PathLike, *, labels: str | os.PathLike | None = None,
                rejected: list | None = None) -> pd.DataFrame:
    """Read a licensed dataset's events with its reader; the files come from :func:`label_files`.

    ``labels`` names the main spreadsheet directly; the companion file is then looked for beside it.
    """
    if kind == "dfme":
        return _read_dfme_files(root, labels, rejected)
    if labels is None:
        main, companion = label_files(kind, root)
    else:
        main, pattern = Path(labels), _LABEL_PATTERNS[kind][1]
        companion = _at_most_one(kind, main.parent, _find_files(main.parent, pattern, 1)) if pattern else None
    if kind == "casme3":
        return read_casme3(main, macro_path=companion, rejected=rejected)
    if kind == "samm_lv":
        return read_samm_lv(main, facs_path=companion, rejected=rejected)
    reader: Callable = {"casme2": read_casme2, "samm": read_samm, "smic": read_smic}[kind]
    return reader(main, rejected=rejected)


def _read_dfme_files(root, labels, rejected: list | None) -> pd.DataFrame:
    """Every DFME label file (or ``labels``), each read with the set its name announces; video names unique."""
    files = [Path(labels)] if labels is not None else _find_files(Path(root), _LABEL_PATTERNS["dfme"][0])
    if not files:
        raise FileNotFoundError(f"no dfme label file (a .xlsx or .csv whose name holds 'dfme', like "
                                f"{_LABEL_EXAMPLES['dfme']}) under {root}; put it there, or pass labels=PATH")
    tables = [read_dfme(f, split=dfme_set_of_name(f.name), rejected=rejected) for f in files]
    events = pd.concat(tables, ignore_index=True)
    repeated = events["video"][events["video"].duplicated()]
    if len(repeated):
        where = [str(f) for f, t in zip(files, tables, strict=True) if repeated.iloc[0] in set(t["video"])]
        raise ValueError(f"DFME video {repeated.iloc[0]!r} is labelled in more than one place ({', '.join(where)}); "
                         "keep one label file per set")
    return events


def _folder_rule(kind: str, annotated: dict[str, str]) -> Callable[[tuple[str, ...]], tuple[str, str] | None]:
    """A function from a folder's path parts to its (subject, video), or None if it is not a video folder."""

    def casme3(parts):
        m = re.fullmatch(r"spno\.?0*(\d+)", parts[-3], flags=re.IGNORECASE) if len(parts) >= 3 else None
        if parts[-1].lower() != "color" or not m:
            return None
        subject = f"spNO.{int(m[1])}"
        return subject, f"{subject}_{parts[-2].lower()}"

    def by_name(pattern: str, subject_of: Callable[[re.Match], str]):
        def rule(parts):
            if parts[-1] in annotated:
                return annotated[parts[-1]], parts[-1]
            m = re.fullmatch(pattern, parts[-1], flags=re.IGNORECASE)
            return (subject_of(m), parts[-1]) if m else None
        return rule

    def casme2(parts):
        m = re.fullmatch(r"sub0*(\d+)", parts[-2], flags=re.IGNORECASE) if len(parts) >= 2 else None
        return (str(int(m[1])), parts[-1]) if m else None

    return {
        "casme3": casme3,
        "samm_lv": by_name(r"(\d{3})_\d+", lambda m: m[1]),
        "casme2": casme2,
        "samm": by_name(r"(\d{3})_\d+_\d+", lambda m: m[1]),
        "smic": by_name(r"s0*(\d+)_(ne|po|sur)_\d+", lambda m: f"s{int(m[1])}"),
        "dfme": lambda parts: (annotated[parts[-1]], parts[-1]) if parts[-1] in annotated else None,
    }[kind]


def _scan_folders(kind: str, where: Path, events: pd.DataFrame) -> dict[tuple[str, str], tuple[Path, np.ndarray]]:
    """Every video folder under ``where``: (subject, video) -> (folder, file numbers in frame order)."""
    if not where.is_dir():
        raise FileNotFoundError(f"no folder {where} to search for {kind} videos")
    annotated = dict(zip(events["video"], events["subject"], strict=True))
    rule = _folder_rule(kind, annotated)
    folders: dict[tuple[str, str], tuple[Path, np.ndarray]] = {}
    for dirpath, dirnames, filenames in os.walk(where, followlinks=True):
        dirnames.sort()
        images = [n for n in filenames if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES]
        key = rule(Path(dirpath).parts) if images else None
        if key is None:
            continue
        if key in folders:
            raise ValueError(f"two folders for {kind} video {key[1]}: {folders[key][0]} and {dirpath}; keep one "
                             "copy, or pass frames= the folder to read (e.g. the cropped copy)")
        numbers = []
        for name in images:
            m = _NUMBER.search(os.path.splitext(name)[0])
            if not m:
                raise ValueError(f"image {Path(dirpath) / name} has no frame number at the end of its name, "
                                 "so its frame cannot be matched to the labels; move it out of the folder")
            numbers.append(int(m[1]))
        folders[key] = (Path(dirpath), np.sort(np.asarray(numbers, dtype=np.int64)))
    return folders


def _match(kind: str, events: pd.DataFrame, folders: dict, *, base: int, fps: dict | None = None) -> _Loaded:
    """Join events with the folders found on (subject, video): videos table, missing videos, events out of range."""
    keys = pd.Series(list(zip(events["subject"], events["video"], strict=True)), index=events.index, dtype=object)
    on_disk = keys.isin(list(folders))
    missing = events.loc[~on_disk, ["subject", "video"]].drop_duplicates().reset_index(drop=True)
    events, keys = events[on_disk], keys[on_disk]
    first = keys.map({key: numbers[0] for key, (_, numbers) in folders.items()})
    last = keys.map({key: numbers[-1] for key, (_, numbers) in folders.items()})
    inside = (events["onset"] + base >= first) & (events["offset"] + base <= last)
    outside = events.loc[~inside, list(EVENT_COLUMNS)].assign(
        first_image=first[~inside], last_image=last[~inside],
        path=keys[~inside].map({key: str(path) for key, (path, _) in folders.items()}))
    events, keys = events[inside].reset_index(drop=True), keys[inside]
    counts = keys.value_counts()
    rows = [dict(subject=subject, video=video, fps=float((fps or {}).get((subject, video), FPS.get(kind, np.nan))),
                 n_frames=len(numbers), first_frame=int(numbers[0]) - base,
                 n_events=int(counts.get((subject, video), 0)), path=str(path))
            for (subject, video), (path, numbers) in sorted(folders.items(), key=lambda kv: _natural("/".join(kv[0])))]
    columns = ["subject", "video", "fps", "n_frames", "first_frame", "n_events", "path"]
    videos = pd.DataFrame(rows, columns=columns).astype({"subject": str, "video": str, "path": str})
    numbers = {key: numbers for key, (_, numbers) in folders.items()}
    return _Loaded(events, videos, numbers, missing, outside.reset_index(drop=True), base)
