"""``melab data check``: does melab read your copy of a dataset, and what does it find?

:func:`check_dataset` reads a dataset the way :class:`~melab.data.dataset.Dataset` does, but collects
every problem instead of stopping at the first: malformed annotation rows (with file, row, column and
reason), annotated videos missing on disk, and events left out because they lie outside their video's
images. It also lists every repair melab made (each :class:`~melab.data.annotations.AnnotationWarning`:
file, row and what was done), every choice it made about the layout (which label file, which copy of the
frames), and the images it padded. Printing the :class:`CheckReport` shows the counts per subject and
per emotion, then all of that.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from melab.data import synthetic
from melab.data.annotations import AnnotationWarning, Rejection, read_events_csv, read_megc_csv
from melab.data.dataset import KINDS, DatasetWarning, _load, _natural, data_root, read_labels
from melab.data.splits import SEVEN_CLASSES
from melab.data.video import IMAGE_SUFFIXES

__all__ = ["CHECK_KINDS", "CheckReport", "check_dataset", "synthetic_difficulty"]

CHECK_KINDS = (*KINDS, "megc")
_NAMES = {"synthetic": "synthetic corpus", "casme3": "CAS(ME)^3", "samm_lv": "SAMM Long Videos",
          "casme2": "CASME II", "samm": "SAMM", "smic": "SMIC", "dfme": "DFME", "megc": "MEGC CSV"}


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
    difficulty : a synthetic corpus's :func:`synthetic_difficulty` (None for other datasets).
    repairs : every documented repair: ``file, row, repair`` (row empty for a file-wide one).
    notes : what melab chose about the layout, and what it left aside (the DatasetWarnings), in words.
    padded : videos with padded frames (CAS(ME)^3's missing images): ``subject, video, n_frames, padded``.
    label_files : the label files read.
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
    difficulty: dict | None = None
    repairs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["file", "row", "repair"]))
    notes: tuple[str, ...] = ()
    padded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["subject", "video", "n_frames",
                                                                               "padded"]))
    label_files: tuple[Path, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing was rejected, missing or out of range."""
        return not (len(self.rejected) or len(self.missing_videos) or len(self.outside_frames))

    def __str__(self) -> str:
        kinds = self.events["kind"].value_counts()
        where = f" in {self.n_videos} videos" if self.n_videos is not None else ""
        lines = [f"{_NAMES[self.kind]} at {self.path}"]
        if self.label_files:
            lines.append(f"Labels read from: {', '.join(map(str, self.label_files))}")
        lines += [f"{len(self.events)} events ({kinds.get('micro', 0)} micro, {kinds.get('macro', 0)} macro){where}"
                  f" of {len(self.per_subject)} subjects", "",
                  "Events per subject:", self.per_subject.to_string(), "",
                  "Events per emotion:", self.per_emotion.to_string(), ""]
        if self.notes:
            lines += ["Layout:", *(f"- {note}" for note in self.notes), ""]
        if len(self.repairs):
            with pd.option_context("display.max_colwidth", None, "display.width", 250):
                lines += [f"Repairs ({len(self.repairs)}):", self.repairs.to_string(index=False), ""]
        if len(self.padded):
            lines += [f"Videos with padded frames ({len(self.padded)}, {int(self.padded['padded'].sum())} frames: "
                      "frame k shows image k+1, or the next image present):",
                      self.padded.to_string(index=False), ""]
        if len(self.rejected):
            lines += [f"Rejected rows ({len(self.rejected)}; --drop-malformed skips them):",
                      self.rejected.to_string(index=False), ""]
        else:
            lines += ["No rows rejected.", ""]
        if len(self.missing_videos):
            lines += [f"Annotated videos not found on disk ({len(self.missing_videos)}):",
                      self.missing_videos.to_string(index=False), ""]
        if len(self.outside_frames):
            columns = ["subject", "video", "onset", "offset", "first_image", "last_image"]
            lines += [f"Events left out, mostly outside their video's images ({len(self.outside_frames)}):",
                      self.outside_frames[columns].to_string(index=False), ""]
        if self.difficulty is not None:
            lines += [format_difficulty(self.difficulty)]
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
                  seed: int = 0, difficulty: str | None = None, labels: str | os.PathLike | None = None,
                  frames: str | os.PathLike | None = None) -> CheckReport:
    """Read a dataset as melab would and report counts and every problem found.

    Parameters
    ----------
    kind : one of :data:`CHECK_KINDS` (the :class:`~melab.data.dataset.Dataset` kinds, and ``"megc"``
        for a MEGC CSV file).
    path : the dataset folder (labels found by name, videos scanned), or one label file (only it is
        read). Default: the synthetic corpus of ``preset``/``seed``, or ``$MELAB_DATA/<kind>``.
    preset, seed, difficulty : the synthetic corpus to check when ``path`` is None (difficulty: default
        :data:`melab.data.synthetic.DEFAULT_DIFFICULTY`). A synthetic corpus folder also gets its
        :func:`synthetic_difficulty`.
    labels, frames : as :class:`~melab.data.dataset.Dataset`'s (``--labels``, ``--frames``).

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
        path = synthetic.make_corpus(preset, seed, difficulty=difficulty) if kind == "synthetic" else \
            data_root(kind)
    path = Path(path)
    rejected: list[Rejection] = []
    files: tuple[Path, ...] = ()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if path.is_file() or kind == "megc":
            events = _read_file(kind, path, rejected)
            missing = outside = pd.DataFrame(columns=["subject", "video"])
            videos = n_videos = None
            files = (path,)
        else:
            loaded = _load(kind, path, labels=labels, frames=frames, rejected=rejected)
            events, missing, outside, videos = loaded.events, loaded.missing, loaded.outside, loaded.videos
            files = loaded.label_files
            if kind == "synthetic":
                rejected += _short_videos(path)
            n_videos = len(videos)
    repairs = pd.DataFrame([(w.message.file, w.message.row, w.message.repair) for w in caught
                            if isinstance(w.message, AnnotationWarning)], columns=["file", "row", "repair"])
    repairs["row"] = [int(r) if r is not None else "" for r in repairs["row"]]  # "" for a file-wide repair
    notes = tuple(str(w.message) for w in caught if issubclass(w.category, DatasetWarning))
    padded = pd.DataFrame(columns=["subject", "video", "n_frames", "padded"])
    if videos is not None and "padded" in videos.columns:
        padded = videos.loc[videos["padded"] > 0, ["subject", "video", "n_frames", "padded"]].reset_index(drop=True)
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
    difficulty_report = None
    if kind == "synthetic" and path.is_dir() and not len(rejected_table) and \
            "amplitude_px" in pd.read_csv(path / "events.csv", nrows=0).columns:  # made by make_corpus
        difficulty_report = synthetic_difficulty(path, similarity=False)
    return CheckReport(kind, path, events, per_subject, _counts(events, "emotion"), rejected_table, missing,
                       outside, n_videos, difficulty_report, repairs, notes, padded, files)


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


# ---- how hard is a synthetic corpus? ----------------------------------------------------------------

_QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def _quantiles(values: pd.Series) -> dict[str, float]:
    if not len(values):
        return {}
    q = values.astype(float).quantile(list(_QUANTILES))
    return {("min" if p == 0 else "max" if p == 1 else f"p{int(p * 100)}"): round(float(v), 4) for p, v in q.items()}


def amplitude_histogram(amplitudes: np.ndarray, *, bins: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Share of ``amplitudes`` (px) in each of ``bins`` log-spaced bins from 0.05 to 20 px (values outside are clipped
    into the end bins): ``(share (bins,), edges (bins + 1,))``, shares summing to 1 (all 0 for no amplitudes)."""
    edges = np.geomspace(0.05, 20.0, bins + 1)
    counts = np.histogram(np.clip(amplitudes, 0.05, 20), edges)[0]
    return counts / max(len(amplitudes), 1), edges


def amplitude_overlap(me: np.ndarray, mae: np.ndarray, *, bins: int = 40) -> float:
    """Overlap coefficient of two amplitude distributions: the shared area of their histograms on log-spaced bins
    (:func:`amplitude_histogram`).

    0 means the amplitudes never meet (size alone separates MEs from MaEs), 1 means identical distributions.
    """
    if not len(me) or not len(mae):
        return 0.0
    p, q = amplitude_histogram(me, bins=bins)[0], amplitude_histogram(mae, bins=bins)[0]
    return float(np.minimum(p, q).sum())


def oracle_window_coverage(events: pd.DataFrame, *, max_k: int = 30) -> dict[str, float]:
    """Best share of events that a window ``apex ± k`` (one k for all) matches with IoU >= 0.5.

    Parameters
    ----------
    events : rows with ``onset, apex, offset`` (0-based inclusive frames).

    Returns
    -------
    ``{"k": best half-width in frames, "coverage": share of events matched, "by_k": {k: share}}``.
    """
    on, apex, off = (events[c].to_numpy(int) for c in ("onset", "apex", "offset"))
    by_k = {}
    for k in range(1, max_k + 1):
        inter = np.minimum(off, apex + k) - np.maximum(on, apex - k) + 1
        union = np.maximum(off, apex + k) - np.minimum(on, apex - k) + 1
        by_k[k] = float(np.mean(inter / union >= 0.5)) if len(events) else 0.0
    best = max(by_k, key=lambda k: (by_k[k], -k))
    return {"k": best, "coverage": round(by_k[best], 4), "by_k": {k: round(v, 4) for k, v in by_k.items()}}


def _au_presence(truth: pd.DataFrame) -> dict:
    """Per emotion, the share of its events that carry each prototype AU, and the stray-AU rate."""
    out: dict[str, dict[str, float]] = {}
    stray = []
    for emotion, group in truth.groupby("emotion"):
        if emotion not in synthetic.EMOTION_AUS:
            continue
        sets = [{f"AU{a}" for a in str(aus).split("+")} for aus in group["aus"]]
        proto = synthetic.EMOTION_AUS[emotion]
        out[emotion] = {au: round(float(np.mean([au in s for s in sets])), 4) for au in proto}
        stray += [bool(s - set(proto)) for s in sets]
    rates = [v for e in out.values() for v in e.values()]
    return {"per_emotion": out, "mean": round(float(np.mean(rates)), 4) if rates else None,
            "stray_rate": round(float(np.mean(stray)), 4) if stray else None}


def _mean_field_similarity(corpus: Path, truth: pd.DataFrame) -> pd.DataFrame:
    """Cosine similarity of the emotions' mean apex displacement fields (true fields, annotated labels)."""
    sums: dict[str, np.ndarray] = {}
    for row in truth.itertuples():
        with np.load(corpus / row.subject / row.video / "truth.npz", allow_pickle=False) as z:
            s = z["au_intensity"][int(np.clip(row.apex, 0, len(z["au_intensity"]) - 1))]
            subject = synthetic.make_subject(int(z["seed"]), int(z["subject_index"]), size=int(z["size"]))
        basis = synthetic.lateral_basis(subject) if len(s) == len(synthetic.LATERAL_CODES) else \
            synthetic.au_basis(subject)
        field = np.tensordot(s, basis, axes=1).ravel().astype(np.float64)
        sums[row.label] = sums.get(row.label, 0) + field
    names = [e for e in SEVEN_CLASSES if e in sums]
    fields = np.stack([sums[e] / np.linalg.norm(sums[e]) for e in names])
    return pd.DataFrame(fields @ fields.T, index=names, columns=names).round(3)


def synthetic_difficulty(corpus: str | os.PathLike | synthetic.CorpusPlan, *, similarity: bool = True) -> dict:
    """How hard a synthetic corpus is, in numbers that can be compared with real datasets.

    Reads the corpus tables (and, for the emotion similarity, the ``truth.npz`` files); renders nothing.
    A realistic corpus's exact events come from ``truth_events.csv``; an easy corpus's events are exact.
    ``corpus`` may also be a :func:`~melab.data.synthetic.plan_corpus` plan: the same tables, never written to disk,
    so the same figures.

    Returns
    -------
    dict (JSON-ready) with: ``n_videos, minutes, n_me, n_mae``; ``me_per_minute`` and ``me_free_video_share``;
    ``amplitude_px`` (quantiles of ME and MaE apex amplitudes), ``amplitude_overlap`` (histogram overlap
    coefficient, :func:`amplitude_overlap`), ``mae_below_1_5px`` and ``me_above_min_mae`` shares; ``mae_per_me``
    and ``distractors_per_me`` by kind; ``me_duration_frames`` histograms (annotated and exact, at the corpus's
    main frame rate); ``oracle_window`` (:func:`oracle_window_coverage` on the annotated MEs); ``au_presence``,
    ``asymmetric_share`` (|asymmetry| >= 0.3), ``label_noise`` among the four negative emotions and
    ``class_shares`` of the MEs; for a clips corpus (``split.csv``) also ``emotion_similarity`` of the mean
    apex fields when ``similarity``.
    """
    if isinstance(corpus, synthetic.CorpusPlan):
        name, clips = corpus.name, False
        events, videos, truth, distractors = corpus.events, corpus.video_table, corpus.truth, corpus.distractors
    else:
        corpus = Path(corpus)
        name, clips = corpus.name, (corpus / "split.csv").exists()
        events = pd.read_csv(corpus / "events.csv", dtype={"subject": str, "video": str})
        videos = pd.read_csv(corpus / "videos.csv", dtype={"subject": str, "video": str})
        exact = corpus / "truth_events.csv"
        truth = pd.read_csv(exact, dtype={"subject": str, "video": str}) if exact.exists() else events
        dist_path = corpus / "distractors.csv"
        distractors = pd.read_csv(dist_path) if dist_path.exists() else pd.DataFrame(columns=["kind"])
    if "label" not in truth.columns:  # an easy corpus: its events are exact, their labels true, all symmetric
        truth = truth.assign(label=truth["emotion"], asymmetry=0.0)
    me, mae = (events[events["kind"] == k] for k in ("micro", "macro"))
    minutes = float((videos["n_frames"] / videos["fps"]).sum() / 60)
    fps = float(videos["fps"].mode().iloc[0])
    me_main = me[me["fps"] == fps]
    true_me = truth[(truth["kind"] == "micro") & (truth["fps"] == fps)]
    n_me = max(len(me), 1)
    negatives = truth[truth["emotion"].isin(synthetic.NEGATIVE_EMOTIONS)]
    report = {
        "corpus": name, "clips": clips, "n_videos": len(videos), "minutes": round(minutes, 2),
        "n_me": len(me), "n_mae": len(mae),
        "me_per_minute": round(len(me) / minutes, 3),
        "me_free_video_share": round(float(1 - videos["video"].isin(me["video"]).mean()), 4),
        "amplitude_px": {"micro": _quantiles(me["amplitude_px"]), "macro": _quantiles(mae["amplitude_px"])},
        "amplitude_overlap": round(amplitude_overlap(me["amplitude_px"].to_numpy(), mae["amplitude_px"].to_numpy()),
                                   4),
        "mae_below_1_5px": round(float((mae["amplitude_px"] < 1.5).mean()), 4) if len(mae) else None,
        "me_above_min_mae": round(float((me["amplitude_px"] >= mae["amplitude_px"].min()).mean()), 4)
        if len(mae) else None,
        "mae_per_me": round(len(mae) / n_me, 3),
        "distractors_per_me": {str(k): round(v / n_me, 3) for k, v in distractors["kind"].value_counts().items()},
        "subtle_per_me": round(float(distractors["kind"].isin(synthetic.SUBTLE_KINDS).sum()) / n_me, 3),
        "main_fps": fps,
        "me_duration_frames": {
            "annotated": {int(k): int(v) for k, v in
                          (me_main["offset"] - me_main["onset"] + 1).value_counts().sort_index().items()},
            "exact": {int(k): int(v) for k, v in
                      (true_me["offset"] - true_me["onset"] + 1).value_counts().sort_index().items()},
            "median_s": round(float((me_main["offset"] - me_main["onset"] + 1).median() / fps), 4)
            if len(me_main) else None},
        "oracle_window": oracle_window_coverage(me_main),
        "au_presence": _au_presence(truth[truth["kind"] == "micro"]),
        "asymmetric_share": round(float((truth["asymmetry"].abs() >= 0.3).mean()), 4),
        "label_noise": round(float((negatives["label"] != negatives["emotion"]).mean()), 4) if len(negatives) else
        None,
        "class_shares": {str(k): round(float(v), 4) for k, v in me["emotion"].value_counts(normalize=True).items()},
    }
    if clips and similarity:
        report["emotion_similarity"] = _mean_field_similarity(corpus, truth).to_dict()
    return report


def format_difficulty(report: dict) -> str:
    """The headline figures of :func:`synthetic_difficulty`, a few lines of text."""
    amp = report["amplitude_px"]
    ow = report["oracle_window"]
    lines = ["Difficulty:",
             f"  MEs: {report['n_me']} ({report['me_per_minute']:.2f} per minute), MaEs: {report['n_mae']} "
             f"({report['mae_per_me']:.2f} per ME); ME-free videos: {report['me_free_video_share']:.0%}",
             f"  apex amplitude (px) ME median {amp['micro'].get('p50', float('nan'))}, range "
             f"{amp['micro'].get('min')}-{amp['micro'].get('max')}; MaE median {amp['macro'].get('p50')}, range "
             f"{amp['macro'].get('min')}-{amp['macro'].get('max')}; overlap {report['amplitude_overlap']:.2f}",
             "  unlabelled movements per ME: " + ", ".join(f"{k} {v}" for k, v in
                                                            report["distractors_per_me"].items()),
             f"  oracle window apex±{ow['k']}: IoU>=0.5 on {ow['coverage']:.0%} of MEs; ME median "
             f"{report['me_duration_frames']['median_s']} s",
             f"  AU presence {report['au_presence']['mean']}, stray AU {report['au_presence']['stray_rate']}, "
             f"asymmetric {report['asymmetric_share']:.0%}, negative label noise {report['label_noise']}"]
    return "\n".join(lines) + "\n"
