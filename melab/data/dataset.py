"""One object over synthetic or licensed data: the videos, their events, and frames loaded on demand.

``Dataset(kind="synthetic")`` and ``Dataset(root, kind="casme3")`` expose the same things, so a notebook
moves to real data by changing one argument:

- ``.events``: the validated events table (``DESIGN.md``), frames numbered as the dataset numbers them
  (0-based, see :mod:`melab.data.annotations`);
- ``.videos``: one row per video found: ``subject, video, fps, n_frames, first_frame, n_events, padded, path``;
- ``len(ds)``, ``ds[i]``, ``ds["sub01_1"]``, ``ds["1", "EP02_01f"]`` (subject, video: CASME II reuses
  video names across subjects), ``for item in ds``: :class:`VideoItem` objects whose ``events`` index
  the item's own frames (``item.frames()[item.events.onset[0]]`` is the onset image).

Where the data lives
--------------------
``root`` defaults to ``$MELAB_DATA/<kind>`` (e.g. ``$MELAB_DATA/casme3``). For ``kind="synthetic"`` the
root is a corpus directory made by :func:`melab.data.synthetic.make_corpus`; with ``root=None`` that
corpus is made (or reused from its cache) for ``preset`` and ``seed``.

For licensed data the label spreadsheet is found under ``root`` by its file name (``labels=`` overrides;
on the command line ``--data KIND:PATH,labels=FILE``), and video folders anywhere under ``root``
(``frames=`` narrows the search; ``--data KIND:PATH,frames=DIR``) by the end of their path:

=========  ===================================================  ============================================
kind       label file (searched 3 levels deep)                  a video's image folder ends with
=========  ===================================================  ============================================
casme3     ``cas(me)3_part_A_ME_label*.xlsx|xls`` (+ ``MaE``)   ``spNO.<n>/<letter>/color/<n>.jpg``
samm_lv    ``SAMM_LongVideos*.xlsx`` (+ FACS codes)             ``<sss>_<k>/<sss>_<k>_<nnnn>.jpg``
casme2     ``CASME2-coding*.xlsx``, ``CASME2_label*.xls``       ``sub<nn>/<EPxx_yy>/img<n>.jpg``
samm       ``*Micro_FACS_Codes*.xlsx``                          ``<sss>_<k>_<m>/<sss>_<nnnnn>.jpg``
smic       ``*SMIC*.xlsx`` (HS), or the SMIC-HS folders         ``s<n>_<ne|po|sur>_<mm>/image<n>.bmp``
dfme       ``*DFME*.xlsx|csv`` (one or several)                 ``<Filename>/<anything><n>.jpg``
=========  ===================================================  ============================================

Layouts as they are distributed, and the rule melab follows for each (each choice is said in a
:class:`DatasetWarning`; ``melab data check`` lists them):

- **Several versions of a label file** (CAS(ME)^3's annotation folder keeps the v1 ``.xls`` beside the v2
  ``.xlsx``): the newest is read, by the version (``v2``, ``Ver_2``) or date (``20140508``) in its name.
  Files of different names are not guessed between: pass ``labels=``.
- **SMIC-E with its VIS and NIR annotations beside the HS one**: the HS file is read (100 fps; VIS and
  NIR are other cameras). **The SMIC-HS clip release** (``HS/s<n>/micro/<negative|positive|surprise>/<clip>/``,
  no label file, the class in the folder name: the SMIC of MEGC 2019's composite) is read from its folders
  (:func:`melab.data.annotations.read_smic_folders`) when no SMIC label file is there, or with
  ``labels="folders"``.
- **Two copies of the frames** (CASME II's ``CASME2_RAW_selected/`` and ``Cropped/``; SMIC's ``HS/``,
  ``VIS/``, ``NIR/``): the uncropped copy (a folder whose name holds "raw"; melab finds and crops the face
  itself), or the HS copy, is read. Any other pair is an error: pass ``frames=``.
- **CAS(ME)^3's missing images**: most part A videos miss their first 7-8 images, some a few in the middle
  (the dataset's issue #3). The official loader pads them, and so does melab: frame k of a video shows image
  ``k + 1``, or the next image present when that one is missing. ``.videos["padded"]`` counts the frames
  that show another image. **The pre-cut ``Part_A_ME_clip`` distribution** (one short clip per expression)
  cannot be spotted in and is refused with what melab needs instead.
- **Events beyond their video's images** (a SAMM-LV offset after the last image; a clip that ends early):
  clipped to the images when at least half of the event remains, dropped otherwise, each with an
  :class:`~melab.data.annotations.AnnotationWarning` naming the label file and row. (A synthetic corpus
  is generated, so there such an event is an error: the corpus is damaged.)
- **DFME test sets without labels** (sample names and frame rates only): their clips are listed in
  ``.unlabelled`` (and in ``.videos``), for prediction.

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
    AnnotationWarning,
    Rejection,
    dfme_set_of_name,
    is_unlabelled_dfme,
    read_casme2,
    read_casme3,
    read_dfme,
    read_dfme_samples,
    read_events_csv,
    read_samm,
    read_samm_lv,
    read_smic,
    read_smic_folders,
    smic_hs_clip_folders,
)
from melab.data.video import IMAGE_SUFFIXES, read_frames

__all__ = ["KINDS", "Dataset", "VideoItem", "DatasetWarning", "data_root", "label_files", "read_labels"]

KINDS = ("synthetic", "casme3", "samm_lv", "casme2", "samm", "smic", "dfme")
_LABEL_DEPTH = 3
_LABEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv")
# kind -> (patterns of the label file, patterns of the optional second file), lower-case file stems.
_LABEL_PATTERNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "casme3": (("*part_a_me_label*",), ("*part_a_mae_label*",)),
    "samm_lv": (("samm_longvideos*",), ("*micro_facs_codes*",)),
    "casme2": (("casme2-coding*", "casme2_label*"), ()),
    "samm": (("*micro_facs_codes*",), ()),
    "smic": (("*smic*",), ()),
    "dfme": (("*dfme*",), ()),
}
_LABEL_EXAMPLES = {"casme3": "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
                   "samm_lv": "SAMM_LongVideos_V3_Release.xlsx", "casme2": "CASME2-coding-20140508.xlsx",
                   "samm": "SAMM_Micro_FACS_Codes_v2.xlsx", "smic": "SMIC-HS-E_annotation.xlsx",
                   "dfme": "DFME_train.xlsx"}
_NUMBER = re.compile(r"(\d+)$")
# CAS(ME)^3's pre-cut distribution: Part_A_ME_clip/frame/<Subject>_<Filename>_<Onset>/<n>.jpg
_CASME3_CLIP = re.compile(r"spno\.?\d+_[a-z]+_\d+", flags=re.IGNORECASE)
# a copy of a dataset's frames that melab prefers when there are two: (kind, what the folder name holds, why)
_PREFERRED_COPY = {"casme2": ("raw", "uncropped: melab finds and crops the face itself"),
                   "smic": ("hs", "the 100 fps high-speed camera that the labels describe")}


class DatasetWarning(UserWarning):
    """What melab chose or left out while opening a dataset: the label file and frame copy read, padded
    images, videos missing on disk, malformed rows (when dropped)."""


def _say(message: str) -> None:
    warnings.warn(message, DatasetWarning, stacklevel=3)


def data_root(kind: str) -> Path:
    """``$MELAB_DATA/<kind>``, the default root of a licensed dataset."""
    base = os.environ.get("MELAB_DATA")
    if not base:
        raise ValueError(f"no root given for kind={kind!r} and MELAB_DATA is not set; pass "
                         f"Dataset('/path/to/{kind}', kind={kind!r}) (command line: --data {kind}:PATH) or set "
                         f"MELAB_DATA to the folder that holds {kind}/")
    return Path(base) / kind


@dataclass(frozen=True, eq=False)
class VideoItem:
    """One video: who, where, its events in its own frame positions, and its frames on demand.

    ``events`` has the events-table columns with onset/apex/offset as 0-based positions into
    :meth:`frames`; ``first_frame`` is the dataset frame number of ``frames()[0]``. ``image_index`` (CAS(ME)^3
    videos with missing images, else None) gives, for each frame, the position of the image it shows among
    the folder's images sorted by number: a missing image is replaced by the next one, as the official loader
    does.
    """

    subject: str
    video: str
    fps: float
    n_frames: int
    path: Path
    events: pd.DataFrame = field(repr=False)
    first_frame: int = 0
    image_index: np.ndarray | None = field(default=None, repr=False)

    def frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start .. stop - 1`` as uint8 ``(T, H, W, 3)`` RGB (read from disk on each call)."""
        if self.image_index is None:
            frames, _ = read_frames(self.path, fps=self.fps, start=start, stop=stop)
            return frames
        index = self.image_index[start:stop]
        if not len(index):
            raise ValueError(f"{self.video}: no frames in {start}..{stop} (the video has {self.n_frames})")
        frames, _ = read_frames(self.path, fps=self.fps, start=int(index[0]), stop=int(index[-1]) + 1)
        return frames[index - index[0]]


@dataclass(frozen=True)
class _Loaded:
    events: pd.DataFrame  # events of the videos found, inside their frames; dataset numbering
    videos: pd.DataFrame  # subject, video, fps, n_frames, first_frame, n_events, padded, path (+ extras)
    numbers: dict[tuple[str, str], np.ndarray]  # (subject, video) -> file numbers of its images, in frame order
    missing: pd.DataFrame  # subject, video: annotated, not on disk
    outside: pd.DataFrame  # events left out: not enough of them within their video's images
    base: int  # file number of dataset frame 0
    index: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # padded videos: frame -> image position
    label_files: tuple[Path, ...] = ()
    unlabelled: pd.DataFrame | None = None  # DFME clips without labels, found on disk


class Dataset:
    """Videos and events of the synthetic corpus or of a licensed ME dataset (see the module docstring).

    Parameters
    ----------
    root : corpus directory (synthetic) or dataset folder. Default: the synthetic corpus for
        ``preset``/``seed``, or ``$MELAB_DATA/<kind>``.
    kind : one of :data:`KINDS`.
    preset, seed : which synthetic corpus to make when ``root`` is None (ignored for real data).
    labels : the label spreadsheet, when the file-name search under ``root`` does not find it or finds
        several; for ``kind="smic"``, ``"folders"`` reads the SMIC-HS class folders instead.
    frames : folder to search for video folders (default ``root``), e.g. ``root / "Cropped"`` to read
        CASME II's cropped copy.
    drop_malformed : False: a malformed annotation row raises a ValueError naming it (and, in a synthetic
        corpus, an event outside its video's images). True: such rows are left out with a
        :class:`DatasetWarning`, and kept in ``.rejected`` (a list of
        :class:`~melab.data.annotations.Rejection`) and ``.outside``. The command line's ``--drop-malformed``.
    bad_apex : ``"error"`` or ``"unknown"``: keep rows whose apex alone lies outside onset..offset, with an
        unknown apex (:func:`melab.data.annotations.validate_events`).

    Attributes
    ----------
    events, videos, rejected, missing, outside : see the module docstring and ``drop_malformed``.
    repairs : every documented repair made while reading (the :class:`~melab.data.annotations.AnnotationWarning`
        objects, with ``file``, ``row`` and ``repair``), in order; each was also raised as a warning.
    label_files : the label files read.
    unlabelled : DFME clips listed without labels and found on disk (``subject, video, fps, set, n_frames,
        first_frame, path``); empty for other kinds.

    Raises
    ------
    FileNotFoundError : root, label file or corpus missing.
    ValueError : unknown kind, malformed labels (see ``drop_malformed``), ambiguous files, a layout melab
        cannot read (the message says what it expects).
    """

    def __init__(self, root: str | os.PathLike | None = None, kind: str = "synthetic", *, preset: str = "lab",
                 seed: int = 0, labels: str | os.PathLike | None = None, frames: str | os.PathLike | None = None,
                 drop_malformed: bool = False, bad_apex: str = "error"):
        if kind not in KINDS:
            raise ValueError(f"unknown dataset kind {kind!r}; choose one of {', '.join(KINDS)}")
        if root is None:
            root = synthetic.make_corpus(preset, seed) if kind == "synthetic" else data_root(kind)
        self.kind, self.root = kind, Path(root)
        self.rejected: list[Rejection] = []
        # every repair is kept (for .repairs and summary()) and passed on to the caller as it was raised
        raised: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    loaded = _load(kind, self.root, labels=labels, frames=frames, bad_apex=bad_apex,
                                   rejected=self.rejected if drop_malformed else None)
                finally:
                    raised = list(caught)
        finally:  # also when reading stopped at an error: the repairs before it are news too
            for w in raised:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.repairs: list[AnnotationWarning] = [w.message for w in raised if isinstance(w.message, AnnotationWarning)]
        self.rejected.sort(key=lambda r: (r.file, r.row))
        if len(loaded.outside) and not drop_malformed and kind == "synthetic":  # real data: left out, warned
            first = loaded.outside.iloc[0]
            raise ValueError(f"{len(loaded.outside)} event(s) lie outside their video's images, e.g. "
                             f"{first.subject}/{first.video} frames {first.onset}..{first.offset} (images "
                             f"{first.first_image}..{first.last_image} in {first.path}); the corpus is damaged: "
                             "make it again, or leave such events out with --drop-malformed (Python: "
                             "drop_malformed=True)")
        if self.rejected or (len(loaded.outside) and kind == "synthetic"):
            rows = ", ".join(f"{Path(r.file).name} row {r.row}" for r in self.rejected[:8])
            more = f" and {len(self.rejected) - 8} more" if len(self.rejected) > 8 else ""
            warnings.warn(f"{self.root}: left out {len(self.rejected)} malformed annotation row(s)"
                          + (f" ({rows}{more})" if rows else "")
                          + (f" and {len(loaded.outside)} event(s) outside their video's images"
                             if kind == "synthetic" else "")
                          + f"; see .rejected and .outside, or run `melab data check --kind {kind} {self.root}`",
                          DatasetWarning, stacklevel=2)
        if len(loaded.missing):
            examples = ", ".join(f"{s}/{v}" for s, v in loaded.missing.head(3).itertuples(index=False))
            warnings.warn(f"{len(loaded.missing)} annotated video(s) are not on disk under "
                          f"{Path(frames or self.root)} (e.g. {examples}); their events are left out",
                          DatasetWarning, stacklevel=2)
        self.events, self.videos = loaded.events, loaded.videos
        self.missing, self.outside = loaded.missing, loaded.outside
        self.label_files = loaded.label_files
        self.unlabelled = loaded.unlabelled if loaded.unlabelled is not None else pd.DataFrame(
            columns=["subject", "video", "fps", "set", "n_frames", "first_frame", "path"])
        self._numbers, self._base, self._index = loaded.numbers, loaded.base, loaded.index
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
        name = (row.subject, row.video)
        events = self.events[(self.events["subject"] == row.subject) & (self.events["video"] == row.video)]
        events = events.reset_index(drop=True)
        index = self._index.get(name)
        if index is None:  # positions among the images present
            numbers = self._numbers[name]
            for column in ("onset", "apex", "offset"):
                side = "right" if column == "offset" else "left"
                positions = np.searchsorted(numbers, events[column].to_numpy() + self._base, side=side)
                events[column] = positions - (column == "offset")
        return VideoItem(row.subject, row.video, float(row.fps), int(row.n_frames), Path(row.path), events,
                         int(row.first_frame), index)

    def summary(self) -> str:
        """A few lines: what was read, and every repair, choice and omission, counted."""
        padded = int(self.videos["padded"].sum()) if "padded" in self.videos.columns else 0
        lines = [f"{self.kind} at {self.root}: {len(self.events)} events in {len(self)} videos of "
                 f"{len(self.subjects)} subjects"
                 + (f"; labels from {', '.join(p.name for p in self.label_files)}" if self.label_files else "")]
        if self.rejected:
            rows = "; ".join(f"{Path(r.file).name} row {r.row} ({r.reason})" for r in self.rejected)
            lines.append(f"skipped {len(self.rejected)} malformed row(s) (--drop-malformed): {rows}")
        if self.repairs:
            shown = "; ".join(f"{Path(w.file).name}{f' row {w.row}' if w.row else ''}: {w.repair}"
                              for w in self.repairs[:10])
            extra = len(self.repairs) - 10
            more = f"; and {extra} more (melab data check lists them)" if extra > 0 else ""
            lines.append(f"repaired {len(self.repairs)} row(s): {shown}{more}")
        if len(self.outside):
            lines.append(f"left out {len(self.outside)} event(s) mostly outside their video's images")
        if padded:
            n = int((self.videos["padded"] > 0).sum())
            lines.append(f"padded {padded} missing image(s) in {n} video(s), as the official loader does")
        if len(self.missing):
            lines.append(f"{len(self.missing)} annotated video(s) not on disk")
        if len(self.unlabelled):
            lines.append(f"{len(self.unlabelled)} unlabelled clip(s) to predict")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Dataset(kind={self.kind!r}, root='{self.root}', videos={len(self)}, events={len(self.events)}, "
                f"subjects={len(self.subjects)})")


# ---------------------------------------------------------------------------------------------------
# Loading (shared with melab.data.check)
# ---------------------------------------------------------------------------------------------------


def _natural(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


def _load(kind: str, root: Path, *, labels=None, frames=None, rejected: list | None,
          bad_apex: str = "error") -> _Loaded:
    if not root.exists():
        raise FileNotFoundError(f"dataset root {root} does not exist")
    if kind == "synthetic":
        return _load_synthetic(root, rejected)
    where = Path(frames) if frames else root
    unlabelled = None
    if kind == "dfme":
        events, unlabelled, files = _read_dfme_files(root, labels, rejected)
    elif kind == "smic" and _smic_folder_labels(root, labels):
        if labels is None:
            _say(f"{root}: no SMIC label file; the labels are the SMIC-HS class folders "
                 "(HS/s<n>/micro/<class>/<clip>/), as MEGC 2019 used them")
        events, files = read_smic_folders(where, rejected=rejected), (where,)
    else:
        main, companion = _label_paths(kind, root, labels)
        events = _read_label_files(kind, main, companion, rejected, bad_apex)
        files = tuple(p for p in (main, companion) if p is not None)
    named = events if unlabelled is None else pd.concat([events[["subject", "video"]],
                                                         unlabelled[["subject", "video"]]], ignore_index=True)
    folders = _scan_folders(kind, where, named)
    # DFME clips run at 200, 300 or 500 fps: each video keeps the rate of its label row
    rates = None
    if kind == "dfme":
        listed = pd.concat([events[["subject", "video", "fps"]], unlabelled[["subject", "video", "fps"]]])
        rates = dict(zip(zip(listed["subject"], listed["video"], strict=True), listed["fps"], strict=True))
    loaded = _match(kind, events, folders, base=1, fps=rates, pad=kind == "casme3")
    loaded = _Loaded(loaded.events, loaded.videos, loaded.numbers, loaded.missing, loaded.outside, loaded.base,
                     loaded.index, files)
    return _with_unlabelled(loaded, unlabelled, folders) if unlabelled is not None else loaded


def _load_synthetic(root: Path, rejected: list | None) -> _Loaded:
    if not (root / "events.csv").is_file() or not (root / "videos.csv").is_file():
        raise FileNotFoundError(f"{root} is not a melab corpus (no events.csv and videos.csv); make one with "
                                "melab.data.synthetic.make_corpus(), or pass kind= for a licensed dataset "
                                "(--data KIND:PATH)")
    videos = pd.read_csv(root / "videos.csv", dtype={"subject": str, "video": str})
    events = read_events_csv(root / "events.csv", subjects=set(videos["subject"]), rejected=rejected)
    folders = {(row.subject, row.video): (root / row.subject / row.video, np.arange(int(row.n_frames)))
               for row in videos.itertuples(index=False)}
    rates = {(row.subject, row.video): float(row.fps) for row in videos.itertuples(index=False)}
    loaded = _match("synthetic", events, folders, base=0, fps=rates, clip=False)
    extras = videos.drop(columns=[c for c in ("fps", "n_frames") if c in videos.columns])
    return _Loaded(loaded.events, loaded.videos.merge(extras, on=["subject", "video"], how="left"), loaded.numbers,
                   loaded.missing, loaded.outside, loaded.base, label_files=(root / "events.csv",))


# ---- label files -------------------------------------------------------------------------------------------


def _find_files(root: Path, patterns: tuple[str, ...], depth: int = _LABEL_DEPTH) -> list[Path]:
    """Spreadsheets under ``root`` (at most ``depth`` folders deep) whose lower-case stem matches a pattern."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        if len(Path(dirpath).relative_to(root).parts) + 1 >= depth:
            dirnames.clear()
        for name in filenames:
            stem, suffix = os.path.splitext(name.lower())
            if suffix in _LABEL_SUFFIXES and not name.startswith("~$") and \
                    any(fnmatch.fnmatch(stem, p) for p in patterns):
                found.append(Path(dirpath) / name)
    return sorted(found)


def _version(path: Path) -> tuple[str, tuple[int, int]]:
    """(the name without its version, (version, date)): ``..._v2`` -> 2, ``..._Ver_2`` -> 2, ``-20140508`` -> date."""
    stem = path.stem.lower()
    versions = [int(m) for m in re.findall(r"(?<![a-z])v(?:er)?[_ ]?(\d+)(?!\d)", stem)]
    dates = [int(m) for m in re.findall(r"(?<!\d)((?:19|20)\d{6})(?!\d)", stem)]
    lineage = re.sub(r"(?<![a-z])v(?:er)?[_ ]?\d+(?!\d)|(?<!\d)(?:19|20)\d{6}(?!\d)", "", stem)
    return lineage, (max(versions, default=-1), max(dates, default=-1))


def _token(path: Path, word: str) -> bool:
    return re.search(rf"(?<![a-z]){word}(?![a-z])", path.stem.lower()) is not None


def _choose(kind: str, root: Path, files: list[Path], what: str) -> Path | None:
    """One of several candidate label files by melab's documented rule, said in a DatasetWarning; else an error."""
    if len(files) <= 1:
        return files[0] if files else None
    candidates, because = files, ""
    if kind == "smic":
        hs = [f for f in files if _token(f, "hs")]
        others = [f for f in files if not (_token(f, "vis") or _token(f, "nir"))]
        candidates, because = (hs, "the high-speed (HS) annotation") if hs else (others, "not a VIS/NIR annotation")
    if len(candidates) > 1:
        versions = {f: _version(f) for f in candidates}
        if len({lineage for lineage, _ in versions.values()}) == 1:
            best = max(version for _, version in versions.values())
            newest = [f for f in candidates if versions[f][1] == best]
            if len(newest) == 1 and best > (-1, -1):
                candidates, because = newest, "the newest version"
    if len(candidates) != 1:
        raise ValueError(f"several {kind} {what} files under {root}: {', '.join(map(str, files))}; melab reads the "
                         f"newest version of one file name{' (the HS one for SMIC)' if kind == 'smic' else ''} and "
                         f"cannot tell here. Pass the one to read: --data {kind}:{root},labels=FILE (Python: "
                         "labels=FILE), or move the others away")
    chosen = candidates[0]
    _say(f"several {kind} {what} files under {root}: reading {chosen.name} ({because}); not "
         f"{', '.join(f.name for f in files if f != chosen)}. --data {kind}:PATH,labels=FILE reads another")
    return chosen


def label_files(kind: str, root: str | os.PathLike) -> tuple[Path, Path | None]:
    """The label spreadsheet of a licensed dataset under ``root``, and its optional companion file.

    The companion is CAS(ME)^3's macro-expression file or SAMM's FACS codes for SAMM-LV (None if absent).
    Files are matched by name (see the module docstring), at most 3 folders deep; among several versions
    of one file the newest is chosen, and for SMIC the HS annotation (each choice said in a
    :class:`DatasetWarning`).

    Raises
    ------
    FileNotFoundError : no label file; ValueError : several candidates melab cannot choose between (pass
        ``labels=``).
    """
    root = Path(root)
    main, companion = _LABEL_PATTERNS[kind]
    found = _choose(kind, root, _find_files(root, main), "label")
    if found is None:
        raise FileNotFoundError(f"no {kind} label file (like {_LABEL_EXAMPLES[kind]}) under {root}; put it "
                                f"there, or pass it: --data {kind}:{root},labels=FILE (Python: labels=FILE)")
    return found, _choose(kind, root, _find_files(root, companion), "companion") if companion else None


def _label_paths(kind: str, root: Path, labels) -> tuple[Path, Path | None]:
    if labels is None:
        return label_files(kind, root)
    main, pattern = Path(labels), _LABEL_PATTERNS[kind][1]
    if not main.is_file():
        raise FileNotFoundError(f"no label file {main} (labels=)")
    return main, _choose(kind, main.parent, _find_files(main.parent, pattern, 1), "companion") if pattern else None


def _read_label_files(kind: str, main: Path, companion: Path | None, rejected: list | None,
                      bad_apex: str) -> pd.DataFrame:
    if kind == "casme3":
        return read_casme3(main, macro_path=companion, rejected=rejected, bad_apex=bad_apex)
    if kind == "samm_lv":
        return read_samm_lv(main, facs_path=companion, rejected=rejected, bad_apex=bad_apex)
    if kind == "smic":
        return read_smic(main, rejected=rejected)
    reader: Callable = {"casme2": read_casme2, "samm": read_samm}[kind]
    return reader(main, rejected=rejected, bad_apex=bad_apex)


def read_labels(kind: str, root: str | os.PathLike, *, labels: str | os.PathLike | None = None,
                rejected: list | None = None, bad_apex: str = "error") -> pd.DataFrame:
    """Read a licensed dataset's events with its reader; the files come from :func:`label_files`.

    ``labels`` names the main spreadsheet directly; the companion file is then looked for beside it. For
    SMIC, a root without a label file but with the SMIC-HS class folders (or ``labels="folders"``) is read
    from its folders. DFME's unlabelled files are not events: see :class:`Dataset`'s ``.unlabelled``.
    """
    root = Path(root)
    if kind == "dfme":
        return _read_dfme_files(root, labels, rejected)[0]
    if kind == "smic" and _smic_folder_labels(root, labels):
        return read_smic_folders(root, rejected=rejected)
    main, companion = _label_paths(kind, root, labels)
    return _read_label_files(kind, main, companion, rejected, bad_apex)


def _smic_folder_labels(root: Path, labels) -> bool:
    """Whether SMIC's labels come from the SMIC-HS class folders: asked for, or no SMIC label file is there."""
    if labels is not None:
        return str(labels) == "folders"
    if _find_files(root, _LABEL_PATTERNS["smic"][0]):
        if smic_hs_clip_folders(root):
            _say(f"{root} holds a SMIC label file and the SMIC-HS class folders; reading the label file. "
                 "--data smic:PATH,labels=folders (Python: labels='folders') reads the folders, as MEGC 2019 did")
        return False
    return bool(smic_hs_clip_folders(root))


def _read_dfme_files(root: Path, labels, rejected: list | None) -> tuple[pd.DataFrame, pd.DataFrame, tuple]:
    """Every DFME label file (or ``labels``), each read with the set its name announces: the events of the
    labelled ones, the samples of the unlabelled ones (test sets as handed out), and the files; video names
    unique across all of them."""
    files = [Path(labels)] if labels is not None else _find_files(root, _LABEL_PATTERNS["dfme"][0])
    if not files:
        raise FileNotFoundError(f"no dfme label file (a .xlsx or .csv whose name holds 'dfme', like "
                                f"{_LABEL_EXAMPLES['dfme']}) under {root}; put it there, or pass it: "
                                f"--data dfme:{root},labels=FILE (Python: labels=FILE)")
    labelled, samples, owner = [], [], {}
    for f in files:
        split = dfme_set_of_name(f.name)
        table = read_dfme_samples(f, split=split, rejected=rejected) if is_unlabelled_dfme(f) else \
            read_dfme(f, split=split, rejected=rejected)
        (samples if "onset" not in table.columns else labelled).append(table)
        for video in table["video"]:
            if video in owner:
                raise ValueError(f"DFME video {video!r} is listed in more than one place ({owner[video]}, {f}); "
                                 "keep one label file per set")
            owner[video] = f
    events = pd.concat(labelled, ignore_index=True) if labelled else _empty_dfme_events()
    unlabelled = pd.concat(samples, ignore_index=True) if samples else \
        pd.DataFrame(columns=["subject", "video", "fps", "set", "label_file", "label_row"])
    return events, unlabelled, tuple(files)


def _empty_dfme_events() -> pd.DataFrame:
    """An empty DFME events table (the columns :func:`~melab.data.annotations.read_dfme` gives)."""
    columns = [*EVENT_COLUMNS, "apex_labelled", "label_row", "set", "aus", "label_file"]
    return pd.DataFrame({c: [] for c in columns}).astype({"onset": "int64", "apex": "int64", "offset": "int64",
                                                          "fps": "float64", "subject": str, "video": str})


def _with_unlabelled(loaded: _Loaded, unlabelled: pd.DataFrame, folders: dict) -> _Loaded:
    """DFME's unlabelled clips found on disk, with their frames; those missing join ``missing``."""
    keys = list(zip(unlabelled["subject"], unlabelled["video"], strict=True))
    found = [k in folders for k in keys]
    on_disk = unlabelled[found].reset_index(drop=True)
    on_disk["n_frames"] = [len(folders[k][1]) for k, f in zip(keys, found, strict=True) if f]
    on_disk["first_frame"] = [int(folders[k][1][0]) - 1 for k, f in zip(keys, found, strict=True) if f]
    on_disk["path"] = [str(folders[k][0]) for k, f in zip(keys, found, strict=True) if f]
    absent = unlabelled.loc[[not f for f in found], ["subject", "video"]]
    missing = pd.concat([loaded.missing, absent], ignore_index=True)
    return _Loaded(loaded.events, loaded.videos, loaded.numbers, missing, loaded.outside, loaded.base, loaded.index,
                   loaded.label_files, on_disk)


# ---- video folders -------------------------------------------------------------------------------------------


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


def _image_numbers(folder: str, images: list[str]) -> np.ndarray:
    numbers = []
    for name in images:
        m = _NUMBER.search(os.path.splitext(name)[0])
        if not m:
            raise ValueError(f"image {Path(folder) / name} has no frame number at the end of its name, "
                             "so its frame cannot be matched to the labels; move it out of the folder")
        numbers.append(int(m[1]))
    return np.sort(np.asarray(numbers, dtype=np.int64))


def _scan_folders(kind: str, where: Path, events: pd.DataFrame) -> dict[tuple[str, str], tuple[Path, np.ndarray]]:
    """Every video folder under ``where``: (subject, video) -> (folder, file numbers in frame order).

    Two copies of one video are resolved by :data:`_PREFERRED_COPY` (said in a DatasetWarning) or refused.
    CAS(ME)^3's pre-cut clip folders are counted, and refused when they are all there is.
    """
    if not where.is_dir():
        raise FileNotFoundError(f"no folder {where} to search for {kind} videos (frames=)")
    annotated = dict(zip(events["video"], events["subject"], strict=True))
    rule = _folder_rule(kind, annotated)
    copies: dict[tuple[str, str], list[tuple[Path, np.ndarray]]] = {}
    clips = []
    for dirpath, dirnames, filenames in os.walk(where, followlinks=True):
        dirnames.sort()
        images = [n for n in filenames if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES]
        if not images:
            continue
        key = rule(Path(dirpath).parts)
        if key is None:
            if kind == "casme3" and _CASME3_CLIP.fullmatch(Path(dirpath).name):
                clips.append(Path(dirpath))
            continue
        copies.setdefault(key, []).append((Path(dirpath), _image_numbers(dirpath, images)))
    if kind == "casme3" and clips:
        _casme3_clips(where, clips, bool(copies))
    return _one_copy(kind, where, copies)


def _casme3_clips(where: Path, clips: list[Path], whole: bool) -> None:
    example = clips[0].relative_to(where) if clips[0].is_relative_to(where) else clips[0]
    if whole:
        _say(f"{where}: {len(clips)} pre-cut clip folder(s) of CAS(ME)^3's Part_A_ME_clip distribution (e.g. "
             f"{example}) are not read; melab reads the whole videos beside them")
        return
    raise ValueError(f"{where} holds CAS(ME)^3's pre-cut Part_A_ME_clip distribution ({len(clips)} clip folders "
                     f"like {example}): one short clip per expression, with no frames around it to spot in. melab "
                     "reads part A's whole videos, spNO.<n>/<letter>/color/<n>.jpg (the part_A data archive); unpack "
                     "them under this folder, or pass their folder: --data casme3:PATH,frames=DIR (Python: frames=)")


def _one_copy(kind: str, where: Path, copies: dict) -> dict[tuple[str, str], tuple[Path, np.ndarray]]:
    """One folder per video: where a video has two, keep the preferred copy's (see the module docstring)."""
    doubled = {key: found for key, found in copies.items() if len(found) > 1}
    if not doubled:
        return {key: found[0] for key, found in copies.items()}

    # a copy is named by the first folder where the paths of one video's copies part
    common = len(os.path.commonpath([str(p) for found in doubled.values() for p, _ in found]).split(os.sep))
    common = min(common, *(len(p.parts) - 1 for found in doubled.values() for p, _ in found))

    def copy_of(path: Path) -> str:
        return path.parts[common] if len(path.parts) > common else str(path)

    names = sorted({copy_of(p) for found in doubled.values() for p, _ in found})
    word, why = _PREFERRED_COPY.get(kind, (None, ""))
    preferred = [n for n in names if word and re.search(rf"(?<![a-z]){word}(?![a-z])", n.lower())]
    key, found = next(iter(doubled.items()))
    if len(preferred) != 1 or any(sum(copy_of(p) == preferred[0] for p, _ in f) != 1 for f in doubled.values()):
        raise ValueError(f"two folders for {kind} video {key[1]}: {found[0][0]} and {found[1][0]} "
                         f"({len(doubled)} videos have several copies); keep one copy, or pass the folder to read: "
                         f"--data {kind}:PATH,frames=DIR (Python: frames=), e.g. the cropped copy")
    base = Path(*next(iter(doubled.values()))[0][0].parts[:common])
    other = next(n for n in names if n != preferred[0])
    _say(f"{len(names)} copies of the {kind} frames under {base}: {', '.join(n + '/' for n in names)}; reading "
         f"{preferred[0]}/ ({why}). --data {kind}:PATH,frames={base / other} reads another")
    return {key: next(f for f in found if copy_of(f[0]) == preferred[0]) if len(found) > 1 else found[0]
            for key, found in copies.items()}


# ---- events against images -----------------------------------------------------------------------------------


def _padding(numbers: np.ndarray) -> np.ndarray:
    """The official CAS(ME)^3 loader's frames: frame k shows image k + 1, or the next image present.

    ``numbers`` are the images' numbers (from 1), sorted; returns, for each of the ``numbers[-1]`` frames, the
    position of its image in ``numbers``.
    """
    return np.searchsorted(numbers, np.arange(1, int(numbers[-1]) + 1), side="left")


def _match(kind: str, events: pd.DataFrame, folders: dict, *, base: int, fps: dict | None = None,
           pad: bool = False, clip: bool = True) -> _Loaded:
    """Join events with the folders found on (subject, video): videos table, missing videos, events beyond
    their images (clipped or left out with a warning when ``clip``, else returned in ``outside``)."""
    keys = pd.Series(list(zip(events["subject"], events["video"], strict=True)), index=events.index, dtype=object)
    on_disk = keys.isin(list(folders))
    missing = events.loc[~on_disk, ["subject", "video"]].drop_duplicates().reset_index(drop=True)
    events, keys = events[on_disk].copy(), keys[on_disk]
    index = {key: _padding(numbers) for key, (_, numbers) in folders.items() if pad and len(numbers)
             and numbers[0] >= 1 and len(numbers) < numbers[-1]}
    # the dataset frames each video covers: all of 0..last for a padded video, first..last image otherwise
    starts = {key: 0 if key in index else int(numbers[0]) - base for key, (_, numbers) in folders.items()}
    first = keys.map(starts)
    last = keys.map({key: int(numbers[-1]) - base for key, (_, numbers) in folders.items()})
    events, keys, outside = _fit_to_images(events, keys, first, last, base, folders, clip)
    counts = keys.value_counts()
    rows = []
    for (subject, video), (path, numbers) in sorted(folders.items(), key=lambda kv: _natural("/".join(kv[0]))):
        padded = index.get((subject, video))
        rows.append(dict(subject=subject, video=video,
                         fps=float((fps or {}).get((subject, video), FPS.get(kind, np.nan))),
                         n_frames=len(padded) if padded is not None else len(numbers),
                         first_frame=starts[subject, video], n_events=int(counts.get((subject, video), 0)),
                         padded=len(padded) - len(numbers) if padded is not None else 0, path=str(path)))
    columns = ["subject", "video", "fps", "n_frames", "first_frame", "n_events", "padded", "path"]
    videos = pd.DataFrame(rows, columns=columns).astype({"subject": str, "video": str, "path": str})
    if pad and index:
        total, n = int(videos["padded"].sum()), len(index)
        _say(f"{n} of {len(videos)} {kind} videos miss images ({total} frames in all, most at the start: the "
             "dataset's known frame drop); padded as the official loader does: frame k shows image k+1, or the next "
             "image present. .videos['padded'] (melab data check) counts them per video")
    numbers = {key: numbers for key, (_, numbers) in folders.items()}
    return _Loaded(events.reset_index(drop=True), videos, numbers, missing, outside.reset_index(drop=True), base,
                   index)


def _fit_to_images(events: pd.DataFrame, keys: pd.Series, first: pd.Series, last: pd.Series, base: int,
                   folders: dict, clip: bool) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Events within their video's frames ``first..last``; the others clipped (at least half of the event
    within) or left out, each with an AnnotationWarning; with ``clip`` False, all others are left out."""
    onset, offset = events["onset"], events["offset"]
    within = (np.minimum(offset, last) - np.maximum(onset, first) + 1).clip(lower=0)
    length = offset - onset + 1
    inside = within == length
    keep = inside | (clip & (2 * within >= length))
    paths = keys.map({key: str(path) for key, (path, _) in folders.items()})
    if clip:
        for i in events.index[~inside]:
            row = events.loc[i]
            where = f"{row.subject}/{row.video} images {int(first[i]) + base}..{int(last[i]) + base} ({paths[i]})"
            span = f"frames {row.onset + base}..{row.offset + base}"
            if keep[i]:
                lo, hi = max(int(row.onset), int(first[i])), min(int(row.offset), int(last[i]))
                repair = (f"{span} reach beyond {where}; clipped to {lo + base}..{hi + base} ({int(within[i])} of "
                          f"{int(length[i])} frames remain)")
                events.loc[i, ["onset", "offset", "apex"]] = [lo, hi, int(np.clip(row.apex, lo, hi))]
            else:
                repair = (f"{span} lie mostly outside {where} (only {int(within[i])} of {int(length[i])} frames "
                          "within); event left out")
            source, line = _provenance(row)
            warnings.warn(AnnotationWarning(f"{source}{f', row {line}' if line else ''}: {repair}", file=source,
                                            row=line, repair=repair), stacklevel=4)
    outside = events.loc[~keep, list(EVENT_COLUMNS)].assign(first_image=first[~keep] + base,
                                                            last_image=last[~keep] + base, path=paths[~keep])
    return events[keep], keys[keep], outside


def _provenance(row: pd.Series) -> tuple[str, int | None]:
    """The label file and 1-based row an event came from, where the reader recorded them."""
    source = str(row.get("label_file", "") or "the labels")
    line = row.get("label_row")
    return source, int(line) if line is not None and not pd.isna(line) and int(line) > 0 else None
