"""``melab data check``: does melab read your copy of a dataset, and what does it find?

:func:`check_dataset` reads a dataset the way :class:`~melab.data.dataset.Dataset` does, but collects
every problem instead of stopping at the first: malformed annotation rows (with file, row, column and
reason), annotated videos missing on disk, and events outside their video's images. Printing the
:class:`CheckReport` shows the counts per subject and per emotion, then the problems.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from melab.data import synthetic
from melab.data.annotations import Rejection, read_events_csv, read_megc_csv
from melab.data.dataset import KINDS, _load, _natural, data_root, read_labels
from melab.data.video import IMAGE_SUFFIXES

__all__ = ["CHECK_KINDS", "CheckReport", "check_dataset"]

CHECK_KINDS = (*KINDS, "megc")
_NAMES = {"synthetic": "synthetic corpus", "casme3": "CAS(ME)^3", "samm_lv": "SAMM Long Videos",
          "casme2": "CASME II", "samm": "SAMM", "smic": "SMIC-E", "dfme": "DFME", "megc": "MEGC CSV"}


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_dataset` found.

    Attributes
    ----------
    kind, path : what was checked.
    events : the events melab reads (malformed rows left out).
    per_subject : index subject; columns ``micro``, ``macro``, ``total`` (events) and ``videos``.
    per_emotion : index emotion; columns ``micro``, ``macro``, ``total``.
    rejected : malformed annotation rows: ``file, row, column, value, reason``.
    missing_videos : ``subject, video`` annotated but not found on disk.
    outside_frames : events (dataset numbering) beyond their video's images, with ``first_image``,
        ``last_image`` and ``path``.
    n_videos : video folders found (None when only a label file was checked).
    """

    kind: str
    path: Path
    events: pd.DataFrame
    per_subject: pd.DataFrame
    per_emotion: pd.DataFrame
    rejected: pd.DataFrame
    missing_videos: pd.DataFrame
    outside_frames: pd.DataFrame
    n_videos: int | None

    @property
    def ok(self) -> bool:
        """True when nothing was rejected, missing or out of range."""
        return not (len(self.rejected) or len(self.missing_videos) or len(self.outside_frames))

    def __str__(self) -> str:
        kinds = self.events["kind"].value_counts()
        where = f" in {self.n_videos} videos" if self.n_videos is not None else ""
        lines = [f"{_NAMES[self.kind]} at {self.path}",
                 f"{len(self.events)} events ({kinds.get('micro', 0)} micro, {kinds.get('macro', 0)} macro){where}"
                 f" of {len(self.per_subject)} subjects", "",
                 "Events per subject:", self.per_subject.to_string(), "",
                 "Events per emotion:", self.per_emotion.to_string(), ""]
        if len(self.rejected):
            lines += [f"Rejected rows ({len(self.rejected)}):", self.rejected.to_string(index=False), ""]
        else:
            lines += ["No rows rejected.", ""]
        if len(self.missing_videos):
            lines += [f"Annotated videos not found on disk ({len(self.missing_videos)}):",
                      self.missing_videos.to_string(index=False), ""]
        if len(self.outside_frames):
            columns = ["subject", "video", "onset", "offset", "first_image", "last_image"]
            lines += [f"Events outside their video's images ({len(self.outside_frames)}):",
                      self.outside_frames[columns].to_string(index=False), ""]
        return "\n".join(lines).rstrip() + "\n"


def _counts(events: pd.DataFrame, by: str) -> pd.DataFrame:
    table = pd.crosstab(events[by], events["kind"]).reindex(columns=["micro", "macro"], fill_value=0)
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    return table.astype("int64")


def _read_file(kind: str, path: Path, rejected: list) -> pd.DataFrame:
    """Read one label file of ``kind``; a companion file (FACS codes, macro labels) is looked for beside it."""
    if kind == "megc":
        return read_megc_csv(path, rejected=rejected)
    if kind == "synthetic":
        return read_events_csv(path, rejected=rejected)
    return read_labels(kind, path.parent, labels=path, rejected=rejected)


def _image_count(folder: Path) -> int:
    return sum(1 for e in os.scandir(folder) if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES) \
        if folder.is_dir() else 0


def check_dataset(kind: str, path: str | os.PathLike | None = None, *, preset: str = "lab",
                  seed: int = 0) -> CheckReport:
    """Read a dataset as melab would and report counts and every problem found.

    Parameters
    ----------
    kind : one of :data:`CHECK_KINDS` (the :class:`~melab.data.dataset.Dataset` kinds, and ``"megc"``
        for a MEGC CSV file).
    path : the dataset folder (labels found by name, videos scanned), or one label file (only it is
        read). Default: the synthetic corpus of ``preset``/``seed``, or ``$MELAB_DATA/<kind>``.
    preset, seed : the synthetic corpus to check when ``path`` is None.

    Raises
    ------
    ValueError : unknown kind, or a file that is not the kind's spreadsheet at all (no header row).
    FileNotFoundError : path or label file missing.
    """
    if kind not in CHECK_KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; choose one of {', '.join(CHECK_KINDS)}")
    if path is None:
        if kind == "megc":
            raise ValueError("kind 'megc' needs the path of a MEGC CSV file")
        path = synthetic.make_corpus(preset, seed) if kind == "synthetic" else data_root(kind)
    path = Path(path)
    rejected: list[Rejection] = []
    if path.is_file() or kind == "megc":
        events = _read_file(kind, path, rejected)
        missing = outside = pd.DataFrame(columns=["subject", "video"])
        videos = n_videos = None
    else:
        loaded = _load(kind, path, rejected=rejected)
        events, missing, outside, videos = loaded.events, loaded.missing, loaded.outside, loaded.videos
        if kind == "synthetic":
            rejected += _short_videos(path)
        n_videos = len(videos)
    per_subject = _counts(events, "subject")
    if videos is not None:
        subjects = set(per_subject.index) | set(videos["subject"])
        per_subject = per_subject.reindex(sorted(subjects, key=_natural), fill_value=0)
        per_subject["videos"] = videos.groupby("subject")["video"].count().reindex(per_subject.index,
                                                                                  fill_value=0)
    else:
        per_subject = per_subject.reindex(sorted(per_subject.index, key=_natural))
    rejected_table = pd.DataFrame(rejected, columns=list(Rejection._fields))
    rejected_table = rejected_table.sort_values(["file", "row"], kind="stable").reset_index(drop=True)
    return CheckReport(kind, path, events, per_subject, _counts(events, "emotion"), rejected_table, missing,
                       outside, n_videos)


def _short_videos(corpus: Path) -> list[Rejection]:
    """Rows of a synthetic corpus's videos.csv whose folder does not hold ``n_frames`` images."""
    source = corpus / "videos.csv"
    videos = pd.read_csv(source, dtype=str)
    problems = []
    for i, row in enumerate(videos.itertuples(index=False)):
        count = _image_count(corpus / row.subject / row.video)
        if count != int(row.n_frames):
            problems.append(Rejection(str(source), i + 2, "n_frames", row.n_frames,
                                      f"the folder {row.subject}/{row.video} holds {count} images"))
    return problems
