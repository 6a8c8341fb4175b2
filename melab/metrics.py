"""MEGC metrics: spotting P/R/F1, recognition UF1/UAR/ACC/F1, STRS, boundary errors.

Spotting compares predicted intervals with annotated ones over inclusive frame sets
(:func:`interval_iou`). A prediction and an expression of the same video match when their
IoU is ``>= 0.5``, one-to-one; TP, FP and FN are summed over videos (micro F1). Recognition
is scored on the spotted true positives only, from each pair's (true, predicted) emotion.
STRS (Spot-Then-Recognize Score, Liong et al. 2023) is spotting F1 × recognition F1, where
recognition F1 is the official ``2·P̄·R̄/(P̄+R̄)`` from macro precision and macro recall.

Differences from the official STRS script
-----------------------------------------
melab implements the definitions; the official script (``genbing99/STRS-Metric``,
``Evaluator.evaluate_STRS``) differs in six ways. On its own sample data (244 CASME II-style
rows) only the first matters: every other figure agrees to four decimals
(``tests/test_metrics_conformance.py``).

1. **"UAR" is a mean precision.** The official "UAR analysis" is the mean per-class
   *precision*. melab's ``uar`` is the unweighted average *recall* (See et al. 2019), which
   the official script prints as "Recall analysis"; melab's ``precision`` is the official
   "UAR". On the sample: official UAR 0.5983, true UAR 0.5872.
2. **One prediction may match several expressions.** The official loop does not stop at
   the first match, so a prediction with IoU ``>= 0.5`` against two overlapping expressions
   counts two TPs. Its pass is also greedy in row order, so a prediction can take an
   expression that a later prediction needed. melab matches one-to-one with an optimal
   assignment (:func:`match_intervals`).
3. **Predictions on videos without ground truth are ignored.** The official script only
   visits videos that have annotations. melab counts every prediction on an unannotated
   video as a FP: a spotter that fires on neutral videos must pay for it.
4. **Expressions of subjects without any prediction are ignored.** The official script
   only visits subjects that appear in the predictions, so a subject whose every expression
   was missed adds no FN. melab counts them as FN.
5. **A class that every spotted TP belongs to scores 0.** The official per-class counts come
   from ``confusion_matrix(...).ravel()``, which fails (and falls back to 0) when the binary
   one-vs-rest vectors hold a single value, e.g. all TPs are "others" and all are predicted
   "others". melab uses scikit-learn's per-class scores, which give precision = recall = 1.
6. **No spotted TP gives NaN.** With no TP (or macro precision = macro recall = 0) the
   official recognition F1 divides 0 by 0 and STRS is NaN; melab returns 0.

The official recognition counts "TP/FP/FN analysis" book a misrecognised TP as a FN of its
*predicted* class; melab books it under its true class (one-vs-rest). The totals agree
whenever predicted emotions are among the labels, as on the sample (96 / 63 / 63).

Protocols
---------
:func:`evaluate` takes ``protocol="melab"`` (default) or ``"megc_official"``; report both to compare with
a paper.

- ``"melab"``: one-to-one matching, predictions on ME-free videos count as FPs (point 3 above),
  recognition over every class (``labels``, default: the emotions in the ground truth).
- ``"megc_official"``: the protocol behind the papers' figures. Predictions on videos without
  ground truth are dropped (point 3), and the STRS recognition F1 is the 3-class one of MEGC:
  when the ground truth uses the STR classes (negative, positive, surprise, others), "others" is
  left out (the default ``labels`` become negative, positive, surprise); with any other vocabulary
  (e.g. the STRS sample's CASME II emotions) the emotions present in the ground truth, as the
  official script does. Matching stays **one-to-one**: the official STRS script's double count
  (point 2) is a bug, not a protocol, and so is the STR scorer shipped with BoostingVRME
  (``Utils/mean_average_precision_str``), whose one-to-one check (``if idx not in matched_ind``)
  is commented out so that one expression can be matched, and counted as a TP, several times.

Other conventions (same as the official script): videos are identified by
``(subject, video)`` when both tables have a ``subject`` column (CASME II reuses video names
across subjects), else by ``video``; the recognition labels default to the emotions present
in the ground truth; a score whose denominator is 0 is 0. Unlike the official script, names are
compared as :func:`melab.data.ids.normalise_id` spells them: subject ``01`` is ``1``, video
``EP01_01`` is ``ep01_01``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from melab import checks
from melab.data.annotations import normalize_emotion, read_megc_csv
from melab.data.ids import normalise_id, spellings
from melab.data.splits import str3_classes
from melab.decode import assign_emotions, fixed_window, siss

__all__ = [
    "interval_iou",
    "iou_matrix",
    "match_intervals",
    "SpottingScores",
    "spotting_scores",
    "RecognitionScores",
    "recognition_scores",
    "strs",
    "decode_corpus",
    "BoundaryScores",
    "boundary_scores",
    "confusion",
    "PROTOCOLS",
    "Evaluation",
    "evaluate",
    "evaluate_csv",
    "decode_video",
    "decode_and_score",
    "sensitivity_grid",
    "FrameAUC",
    "expression_masks",
    "frame_auc",
]

Interval = tuple[int, int]
PROTOCOLS = ("melab", "megc_official")
MATCH_COLUMNS = [
    "key", "pred_row", "true_row", "pred_onset", "pred_offset", "true_onset", "true_offset", "iou"
]


# --------------------------------------------------------------------------- intervals


MAX_FRAME = 10**9  # frame numbers beyond this are no video's (and overflow int64 arithmetic)


def _as_intervals(intervals, name: str) -> np.ndarray:
    """Return ``(n, 2)`` int64 onsets/offsets: whole frame numbers (negative ones allowed: a prediction may start
    before its video), ``onset <= offset``; anything else is an error naming ``name``."""
    arr = checks.array(name, intervals, dtype="integer", finite=False)
    if arr.size == 0:
        return np.zeros((0, 2), np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must be (onset, offset) pairs, an (n, 2) array of frame numbers; got shape "
                         f"{arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all() or arr.min() < -MAX_FRAME or arr.max() > MAX_FRAME:
        raise ValueError(f"{name} must hold whole frame numbers (0-based inclusive onset, offset) within "
                         f"±{MAX_FRAME:.0e}")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero(arr[:, 0] > arr[:, 1])
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name}[{i}] = ({arr[i, 0]}, {arr[i, 1]}) has onset > offset; frames are inclusive")
    return arr


def _as_labels(name: str, values, *, unique: bool = False) -> list[str]:
    """A 1-D sequence of class names (str) as a list, or an error naming ``name``."""
    try:
        flat = isinstance(values, list) and not values or np.ndim(values) == 1
    except ValueError:  # ragged nesting
        flat = False
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable) or not flat:
        raise TypeError(f"{name} must be a 1-D sequence of class names, got {values!r}")
    values = list(values)
    bad = [v for v in values if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{name} must hold class names (str), got {bad[0]!r} ({type(bad[0]).__name__})")
    if unique and len(set(values)) < len(values):
        raise ValueError(f"{name} names a class twice: {values}")
    return values


def _label_triple(y_true, y_pred, labels, verb: str) -> tuple[list[str], list[str], list[str]]:
    """``y_true``, ``y_pred`` (as long as each other) and a non-empty ``labels``, checked, or an error naming the
    argument; ``verb`` says what the classes are for ("score", "count")."""
    y_true, y_pred = _as_labels("y_true", y_true), _as_labels("y_pred", y_pred)
    labels = _as_labels("labels", labels, unique=True)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} samples but y_pred has {len(y_pred)}")
    if not labels:
        raise ValueError(f"labels is empty: pass the classes to {verb}")
    return y_true, y_pred, labels


def interval_iou(a: Interval, b: Interval) -> float:
    """Intersection over union of two inclusive frame intervals.

    ``(onset, offset)`` covers frames ``onset, onset+1, ..., offset``, so ``(3, 3)`` is one
    frame long. Same value as the official script's ``intersect1d``/``union1d`` of
    ``arange(onset, offset + 1)``.

    Examples
    --------
    >>> interval_iou((0, 9), (5, 14))
    0.3333333333333333
    """
    a, b = _as_intervals([a], "a"), _as_intervals([b], "b")
    for name, interval in (("a", a), ("b", b)):
        if len(interval) != 1:
            raise ValueError(f"{name} must be one (onset, offset) pair of frame numbers")
    return float(iou_matrix(a, b)[0, 0])


def iou_matrix(pred, truth) -> np.ndarray:
    """IoU of every predicted interval with every true interval.

    Parameters
    ----------
    pred : array_like, shape (n, 2)
    truth : array_like, shape (m, 2)
        0-based inclusive ``(onset, offset)`` intervals.

    Returns
    -------
    numpy.ndarray, shape (n, m), float64, values in [0, 1]
    """
    p, t = _as_intervals(pred, "pred"), _as_intervals(truth, "truth")
    inter = np.minimum(p[:, None, 1], t[None, :, 1]) - np.maximum(p[:, None, 0], t[None, :, 0]) + 1
    inter = np.clip(inter, 0, None)
    union = (p[:, None, 1] - p[:, None, 0] + 1) + (t[None, :, 1] - t[None, :, 0] + 1) - inter
    return inter / union


def match_intervals(pred, truth, iou: float = 0.5) -> list[tuple[int, int, float]]:
    """Match predictions to expressions one-to-one.

    An edge joins a prediction and an expression when their IoU is ``>= iou``. The matching
    has the largest possible number of pairs and, among those, the largest total IoU
    (:func:`scipy.optimize.linear_sum_assignment` with weight ``W + IoU`` per edge, where
    ``W`` exceeds any possible IoU total). The result does not depend on row order, unlike a
    greedy pass.

    Returns
    -------
    list of (pred_index, truth_index, iou), sorted by pred_index.
    """
    iou = checks.number("iou", iou, 0.0, 1.0, low_open=True)
    ious = iou_matrix(pred, truth)
    if ious.size == 0:
        return []
    edge = ious >= iou
    weight = np.where(edge, min(ious.shape) + 1 + ious, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(int(r), int(c), float(ious[r, c])) for r, c in zip(rows, cols, strict=True) if edge[r, c]]


# --------------------------------------------------------------------------- spotting


@dataclass(frozen=True)
class SpottingScores:
    """Micro spotting counts and scores, with the matched pairs.

    ``matches`` has one row per TP: ``key`` (video, or (subject, video)), ``pred_row`` and
    ``true_row`` (index labels in the input tables, or positions in interval lists),
    ``pred_onset, pred_offset, true_onset, true_offset`` and ``iou``.
    """

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    matches: pd.DataFrame

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k != "matches"}


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _video_keys(pred: pd.DataFrame, truth: pd.DataFrame) -> list[str]:
    for name, table in (("pred", pred), ("truth", truth)):
        missing = {"video", "onset", "offset"} - set(table.columns)
        if missing:
            raise ValueError(f"{name} table lacks column(s) {sorted(missing)}; it needs video, onset, offset")
    return ["subject", "video"] if "subject" in pred.columns and "subject" in truth.columns else ["video"]


def spotting_scores(pred, truth, iou: float = 0.5) -> SpottingScores:
    """Spotting TP/FP/FN, precision, recall and F1, micro-summed over videos.

    Parameters
    ----------
    pred, truth : pandas.DataFrame or sequence of (onset, offset)
        Either two events tables (columns ``video, onset, offset``; ``subject`` too when both
        have it) or two interval lists for one video. Frames are 0-based inclusive; any
        consistent numbering works, since IoU does not change under a shift.
    iou : float
        IoU a prediction needs with an expression to be a TP (MEGC: 0.5).

    Returns
    -------
    SpottingScores

    Notes
    -----
    Matching is one-to-one (:func:`match_intervals`). Predictions on videos without any
    expression are FPs, and expressions on videos without predictions are FNs; the
    official script ignores both (module docstring).
    """
    iou = checks.number("iou", iou, 0.0, 1.0, low_open=True)
    if not isinstance(pred, pd.DataFrame) and not isinstance(truth, pd.DataFrame):
        pred = pd.DataFrame(_as_intervals(pred, "pred"), columns=["onset", "offset"]).assign(video="")
        truth = pd.DataFrame(_as_intervals(truth, "truth"), columns=["onset", "offset"]).assign(video="")
    elif not (isinstance(pred, pd.DataFrame) and isinstance(truth, pd.DataFrame)):
        raise TypeError(f"pass pred and truth as two events tables or two interval lists, not one of each (pred is "
                        f"a {type(pred).__name__}, truth a {type(truth).__name__})")
    keys = _video_keys(pred, truth)
    for name, table in (("pred", pred), ("truth", truth)):
        if not table.index.is_unique:
            raise ValueError(f"{name} table has a repeated index; call .reset_index(drop=True) first")

    # names compared as normalise_id spells them (subject 01 is 1); each group shown as the truth spells it
    pred_groups = dict(tuple(pred.groupby([pred[k].map(normalise_id) for k in keys], sort=False, dropna=False)))
    true_groups = dict(tuple(truth.groupby([truth[k].map(normalise_id) for k in keys], sort=False, dropna=False)))
    tp = fp = fn = 0
    rows = []
    for key in sorted(set(pred_groups) | set(true_groups), key=str):
        p = pred_groups.get(key, pred.iloc[:0])
        t = true_groups.get(key, truth.iloc[:0])
        shown = tuple((t if len(t) else p)[keys].iloc[0])
        p_iv = _as_intervals(p[["onset", "offset"]].to_numpy(), f"pred rows of {shown}")
        t_iv = _as_intervals(t[["onset", "offset"]].to_numpy(), f"truth rows of {shown}")
        pairs = match_intervals(p_iv, t_iv, iou)
        tp += len(pairs)
        fp += len(p_iv) - len(pairs)
        fn += len(t_iv) - len(pairs)
        label = shown[0] if len(keys) == 1 else shown
        for i, j, v in pairs:
            rows.append((label, p.index[i], t.index[j], *p_iv[i], *t_iv[j], v))
    precision, recall, f1 = _prf(tp, fp, fn)
    matches = pd.DataFrame(rows, columns=MATCH_COLUMNS)
    return SpottingScores(tp, fp, fn, precision, recall, f1, matches)


# --------------------------------------------------------------------------- recognition


@dataclass(frozen=True)
class RecognitionScores:
    """Recognition scores over ``labels``.

    ``precision`` and ``recall`` are macro (unweighted class means); ``uar`` equals
    ``recall``; ``f1 = 2·precision·recall/(precision + recall)`` is the official STRS
    recognition F1; ``uf1`` is the mean per-class F1. ``tp, fp, fn`` are summed over
    classes (one-vs-rest), so ``tp`` is the number of correct samples.
    """

    uf1: float
    uar: float
    acc: float
    f1: float
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    n: int
    per_class: pd.DataFrame

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k != "per_class"}


def recognition_scores(y_true, y_pred, labels: Sequence[str]) -> RecognitionScores:
    """UF1, UAR, accuracy and the official STRS F1 of class predictions.

    Per-class precision, recall and F1 come from
    ``sklearn.metrics.precision_recall_fscore_support(labels=labels, average=None,
    zero_division=0)``: a class absent from both ``y_true`` and ``y_pred`` still counts, with
    zeros, as in the official script. Predictions outside ``labels`` count as misses of their
    true class.

    Parameters
    ----------
    y_true, y_pred : sequence of str, length n
        True and predicted emotion of each sample (for STRS: of each spotted TP).
    labels : sequence of str
        The classes to average over.

    Returns
    -------
    RecognitionScores
        All scores are 0 when there are no samples.
    """
    y_true, y_pred, labels = _label_triple(y_true, y_pred, labels, "score")
    if not y_true:
        empty = pd.DataFrame(0.0, index=pd.Index(labels, name="label"),
                             columns=["precision", "recall", "f1", "support"])
        return RecognitionScores(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, empty)
    p, r, f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    counts = multilabel_confusion_matrix(y_true, y_pred, labels=labels).sum(axis=0)
    macro_p, macro_r = float(np.mean(p)), float(np.mean(r))
    f1 = 2 * macro_p * macro_r / (macro_p + macro_r) if macro_p + macro_r else 0.0
    per_class = pd.DataFrame(
        {"precision": p, "recall": r, "f1": f, "support": support}, index=pd.Index(labels, name="label")
    )
    return RecognitionScores(
        uf1=float(np.mean(f)),
        uar=macro_r,
        acc=float(accuracy_score(y_true, y_pred)),
        f1=f1,
        precision=macro_p,
        recall=macro_r,
        tp=int(counts[1, 1]),
        fp=int(counts[0, 1]),
        fn=int(counts[1, 0]),
        n=len(y_true),
        per_class=per_class,
    )


def strs(spot_f1: float, recog_f1: float) -> float:
    """Spot-Then-Recognize Score: spotting F1 × recognition F1 (both in [0, 1]).

    >>> round(strs(0.2906, 0.6882), 4)
    0.2
    """
    return checks.number("spot_f1", spot_f1, 0.0, 1.0) * checks.number("recog_f1", recog_f1, 0.0, 1.0)


def confusion(y_true, y_pred, labels: Sequence[str], normalize: str | None = None) -> pd.DataFrame:
    """Confusion matrix (rows true, columns predicted) as a labelled table.

    Wraps :func:`sklearn.metrics.confusion_matrix`; ``normalize="true"`` divides each row by
    its class count (rows of absent classes stay 0).
    """
    if normalize is not None and (not isinstance(normalize, str) or normalize != "true"):
        raise ValueError(f"normalize must be None or 'true', got {normalize!r}")
    y_true, y_pred, labels = _label_triple(y_true, y_pred, labels, "count")
    if not set(y_true) & set(labels):  # nothing to count (scikit-learn refuses this case)
        return pd.DataFrame(0.0 if normalize else 0, index=pd.Index(labels, name="true"),
                            columns=pd.Index(labels, name="predicted"))
    m = confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    return pd.DataFrame(m, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="predicted"))


# --------------------------------------------------------------------------- boundaries


@dataclass(frozen=True)
class BoundaryScores:
    """How well the matched (TP) intervals fit, in frames; NaN when there is no TP.

    ``onset_mae``/``offset_mae`` are mean absolute errors; ``onset_bias``/``offset_bias``
    are mean signed errors (predicted − true: negative = too early).
    """

    mean_iou: float
    onset_mae: float
    offset_mae: float
    onset_bias: float
    offset_bias: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def boundary_scores(matches: pd.DataFrame) -> BoundaryScores:
    """Boundary metrics from :attr:`SpottingScores.matches`."""
    if len(matches) == 0:
        return BoundaryScores(*(float("nan"),) * 5)
    d_on = (matches["pred_onset"] - matches["true_onset"]).to_numpy(dtype=float)
    d_off = (matches["pred_offset"] - matches["true_offset"]).to_numpy(dtype=float)
    return BoundaryScores(
        mean_iou=float(matches["iou"].mean()),
        onset_mae=float(np.abs(d_on).mean()),
        offset_mae=float(np.abs(d_off).mean()),
        onset_bias=float(d_on.mean()),
        offset_bias=float(d_off.mean()),
    )


# --------------------------------------------------------------------------- everything


@dataclass(frozen=True)
class Evaluation:
    """All metrics of one prediction table against one ground-truth table.

    ``recognition`` and ``strs`` are None when either table has no ``emotion`` column.
    """

    spotting: SpottingScores
    boundary: BoundaryScores
    recognition: RecognitionScores | None
    strs: float | None
    labels: tuple[str, ...]

    def summary(self) -> dict[str, float]:
        """Flat dict of every figure (prefixes ``spot_``, ``recog_``, ``boundary_``)."""
        out = {f"spot_{k}": v for k, v in self.spotting.as_dict().items()}
        if self.recognition is not None:
            out |= {f"recog_{k}": v for k, v in self.recognition.as_dict().items()}
            out["strs"] = self.strs
        out |= {f"boundary_{k}": v for k, v in self.boundary.as_dict().items()}
        return out

    def report(self, digits: int = 4) -> str:
        """Plain-text report, as ``melab evaluate`` prints it."""
        s, b, r, d = self.spotting, self.boundary, self.recognition, digits
        lines = [
            f"Spotting     TP {s.tp}  FP {s.fp}  FN {s.fn}",
            f"             precision {s.precision:.{d}f}  recall {s.recall:.{d}f}  f1 {s.f1:.{d}f}",
            f"Boundaries   mean IoU {b.mean_iou:.{d}f}  onset error {b.onset_mae:.2f} frames"
            f" (bias {b.onset_bias:+.2f})  offset error {b.offset_mae:.2f} frames"
            f" (bias {b.offset_bias:+.2f})",
        ]
        if r is not None:
            lines += [
                f"Recognition  on {r.n} spotted TPs, labels: {', '.join(self.labels)}",
                f"             TP {r.tp}  FP {r.fp}  FN {r.fn}  acc {r.acc:.{d}f}",
                f"             UF1 {r.uf1:.{d}f}  UAR {r.uar:.{d}f}  macro precision "
                f"{r.precision:.{d}f}  F1 {r.f1:.{d}f}",
                f"STRS         {self.strs:.{d}f}",
                "Note: UAR is the mean per-class recall; the official STRS script prints the macro "
                "precision as 'UAR'.",
            ]
        return "\n".join(lines)


def _official_labels(truth_df: pd.DataFrame) -> tuple[str, ...]:
    """MEGC's recognition classes: STR's three without "others", or the emotions present in the ground truth."""
    present = set(truth_df["emotion"].unique())
    str_classes = set(str3_classes("casme3")) | set(str3_classes("synthetic"))
    if present <= str_classes:
        return tuple(c for c in str3_classes("casme3") if c != "others")
    return tuple(sorted(present))


def evaluate(pred_df: pd.DataFrame, truth_df: pd.DataFrame, *, iou: float = 0.5,
             labels: Sequence[str] | None = None, protocol: str = "melab") -> Evaluation:
    """Spotting, boundary and recognition metrics and STRS from two MEGC tables.

    Parameters
    ----------
    pred_df, truth_df : pandas.DataFrame
        Columns ``video, onset, offset`` (+ ``subject``, + ``emotion`` for recognition).
    iou : float
        Match threshold (MEGC: 0.5).
    labels : sequence of str, optional
        Recognition classes; default: the emotions present in ``truth_df``, sorted (``"melab"``), or
        MEGC's (``"megc_official"``, module docstring). Spotted TPs whose true emotion is not a label
        are left out of recognition.
    protocol : {"melab", "megc_official"}
        ``"megc_official"`` drops predictions on videos without ground truth and defaults to MEGC's
        recognition classes; both match one-to-one (module docstring, "Protocols").

    Returns
    -------
    Evaluation
    """
    if not isinstance(protocol, str) or protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    for name, table in (("pred_df", pred_df), ("truth_df", truth_df)):
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"{name} must be an events table (a pandas DataFrame), got {type(table).__name__}")
    if labels is not None:
        labels = _as_labels("labels", labels, unique=True)
    pred_df, truth_df = pred_df.reset_index(drop=True), truth_df.reset_index(drop=True)
    if protocol == "megc_official":
        keys = _video_keys(pred_df, truth_df)
        annotated = pd.MultiIndex.from_frame(truth_df[keys].map(normalise_id)).unique()
        pred_df = pred_df[pd.MultiIndex.from_frame(pred_df[keys].map(normalise_id)).isin(annotated)]
        pred_df = pred_df.reset_index(drop=True)
    spotting = spotting_scores(pred_df, truth_df, iou)
    boundary = boundary_scores(spotting.matches)
    if "emotion" not in pred_df.columns or "emotion" not in truth_df.columns:
        return Evaluation(spotting, boundary, None, None, tuple(labels or ()))
    if labels is None and protocol == "megc_official":
        labels = _official_labels(truth_df)
    labels = tuple(sorted(truth_df["emotion"].unique())) if labels is None else tuple(labels)
    y_true = truth_df.loc[spotting.matches["true_row"], "emotion"].to_numpy()
    y_pred = pred_df.loc[spotting.matches["pred_row"], "emotion"].to_numpy()
    keep = np.isin(y_true, labels)
    recognition = recognition_scores(y_true[keep], y_pred[keep], labels)
    return Evaluation(spotting, boundary, recognition, strs(spotting.f1, recognition.f1), labels)


def evaluate_csv(pred_path: str | Path, truth_path: str | Path, *, iou: float = 0.5,
                 labels: Sequence[str] | None = None, protocol: str = "melab") -> Evaluation:
    """:func:`evaluate` on two MEGC CSV files (columns ``subject, video, onset, offset, emotion``).

    Both are read with :func:`melab.data.annotations.read_megc_csv` (emotions normalised,
    frames kept as written). Both files must use the same frame numbering; IoU does not change
    under a shift, so 0- and 1-based files score alike as long as they agree.
    """
    pred = read_megc_csv(pred_path)
    truth = read_megc_csv(truth_path)
    if labels is not None:  # spelt as the readers spell the files' emotions ("Happy" is happiness)
        labels = [_label(label) for label in labels]
    warn_mismatch(pred, truth, labels, pred_name=str(pred_path), truth_name=str(truth_path))
    return evaluate(pred, truth, iou=iou, labels=labels, protocol=protocol)


def _label(label: str) -> str:
    """A ``--labels`` entry in melab's emotion vocabulary when it is one of its spellings, else lower case."""
    try:
        return normalize_emotion(label)
    except ValueError:
        return str(label).strip().lower()


def warn_mismatch(pred: pd.DataFrame, truth: pd.DataFrame, labels: Sequence[str] | None = None, *,
                  pred_name: str = "predictions", truth_name: str = "truth") -> None:
    """Warn about inputs that score 0 (or less than they should) for a reason that is not the predictions'
    quality: no predicted video is annotated in the truth (named otherwise), and ``labels`` that occur in
    neither table (a misspelt or differently named class)."""
    pred_videos, true_videos = set(pred["video"].map(normalise_id)), set(truth["video"].map(normalise_id))
    if len(pred) and len(truth) and not pred_videos & true_videos:
        warnings.warn(f"no video of {pred_name} is in {truth_name} (predicted e.g. {spellings(pred['video'])}, "
                      f"annotated e.g. {spellings(truth['video'])}): every prediction is a false positive and every "
                      "expression a miss; check that both files name the videos alike", stacklevel=3)
    elif len(pred) and len(truth) and "subject" in pred.columns and "subject" in truth.columns:
        pairs = [set(zip(t["subject"].map(normalise_id), t["video"].map(normalise_id), strict=True))
                 for t in (pred, truth)]
        if not pairs[0] & pairs[1]:
            warnings.warn(f"the videos of {pred_name} are in {truth_name}, but never for the same subject (predicted "
                          f"subjects e.g. {spellings(pred['subject'])}, annotated e.g. {spellings(truth['subject'])}): "
                          "videos are matched by (subject, video), so every prediction is a false positive; check "
                          "that both files name the subjects alike", stacklevel=3)
    key = [c for c in ("subject", "video", "onset", "offset", "kind") if c in truth.columns]
    twice = truth.duplicated(subset=key)
    if twice.any():
        warnings.warn(f"{truth_name} repeats {int(twice.sum())} expression(s) (same {', '.join(key)}; e.g. rows "
                      f"{', '.join(map(str, twice[twice].index[:3]))}): each copy is one more expression to find, so "
                      "recall and F1 are lower; delete the copies", stacklevel=3)
    if labels is not None and "emotion" in pred.columns and "emotion" in truth.columns:
        seen = set(pred["emotion"].astype(str)) | set(truth["emotion"].astype(str))
        absent = [label for label in labels if label not in seen]
        if absent:
            warnings.warn(f"--labels {', '.join(absent)} occur in neither {pred_name} nor {truth_name} (their "
                          f"emotions: {', '.join(sorted(seen))}); those classes score 0 and pull UF1 and UAR "
                          "down", stacklevel=3)


# --------------------------------------------------------------------------- decoders, scored


def decode_video(
    scores,
    *,
    method: str = "siss",
    k: int,
    p: float = 0.55,
    low: float = 0.3,
    high: float = 0.6,
    smooth: int = 1,
    class_probs=None,
    labels: Sequence[str] | None = None,
    penalty: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Decode one video's scores into a table with columns ``onset, offset`` (+ ``emotion, score``).

    ``method`` is ``"fixed_window"`` (uses ``k, p, smooth``) or ``"siss"`` (uses
    ``k, low, high, smooth``). With ``class_probs`` and ``labels``, intervals are labelled by
    :func:`melab.decode.assign_emotions` and those voted neutral are dropped.
    """
    if not isinstance(method, str) or method not in ("fixed_window", "siss"):
        raise ValueError(f"method must be 'fixed_window' or 'siss', got {method!r}")
    if method == "fixed_window":
        intervals = fixed_window(scores, k, p, smooth=smooth)
    else:
        intervals = siss(scores, k, low, high, smooth=smooth)
    if class_probs is None:
        return pd.DataFrame(intervals, columns=["onset", "offset"], dtype="int64")
    if labels is None:
        raise ValueError("pass labels (one name per class_probs column) to label the intervals")
    rows = assign_emotions(class_probs, intervals, labels=labels, penalty=penalty)
    return pd.DataFrame(rows, columns=["onset", "offset", "emotion", "score"])


def _truth_table(truth, kinds: Sequence[str] | None) -> pd.DataFrame:
    if not isinstance(truth, pd.DataFrame):
        truth = pd.DataFrame(_as_intervals(truth, "truth"), columns=["onset", "offset"])
    if kinds is not None and "kind" in truth.columns:
        truth = truth[truth["kind"].isin(kinds)]
    return truth


def decode_and_score(
    scores,
    truth,
    *,
    method: str = "siss",
    k: int,
    p: float = 0.55,
    low: float = 0.3,
    high: float = 0.6,
    smooth: int = 1,
    class_probs=None,
    labels: Sequence[str] | None = None,
    penalty: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = ("micro",),
    iou: float = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode one video and score it: the pure function behind the decoding explorer.

    Parameters
    ----------
    scores : array_like, shape (T,)
        Spotting scores.
    truth : pandas.DataFrame or sequence of (onset, offset)
        The video's expressions (an events table, or intervals). With a ``kind`` column only
        rows whose kind is in ``kinds`` are scored (``None``: all rows).
    method, k, p, low, high, smooth, class_probs, labels, penalty
        As in :func:`decode_video`.
    iou : float
        Match threshold.

    Returns
    -------
    intervals : pandas.DataFrame
        The decoded intervals (``onset, offset`` [+ ``emotion, score``]) and a bool column
        ``tp``.
    table : pandas.DataFrame
        One row: ``tp, fp, fn, precision, recall, f1, strs``. ``strs`` is NaN unless the
        intervals carry emotions and ``truth`` has an ``emotion`` column.
    """
    pred = decode_video(scores, method=method, k=k, p=p, low=low, high=high, smooth=smooth,
                        class_probs=class_probs, labels=labels, penalty=penalty)
    true = _truth_table(truth, kinds).assign(video="").reset_index(drop=True)
    if true.empty:  # a video without MEs: every interval is a FP and there is nothing to recognise (STRS NaN)
        true = true.drop(columns="emotion", errors="ignore")
    ev = evaluate(pred.assign(video=""), true, iou=iou, labels=None)
    pred["tp"] = pred.index.isin(ev.spotting.matches["pred_row"])
    row = ev.spotting.as_dict() | {"strs": float("nan") if ev.strs is None else ev.strs}
    return pred, pd.DataFrame([row])


def decode_corpus(
    scores_by_video: Mapping[str, np.ndarray],
    truth: pd.DataFrame,
    *,
    method: str = "siss",
    k: int,
    p: float = 0.55,
    low: float = 0.3,
    high: float = 0.6,
    smooth: int = 1,
    class_probs: Mapping[str, np.ndarray] | None = None,
    labels: Sequence[str] | None = None,
    penalty: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = ("micro",),
    iou: float = 0.5,
) -> Evaluation:
    """Decode every video with one decoder and score all of them together (micro counts, one-to-one).

    Parameters
    ----------
    scores_by_video : mapping of video name to (T,) scores
        Spotting scores.
    truth : pandas.DataFrame
        Events table (``video, onset, offset`` [+ ``kind``, ``emotion``]). Rows of videos missing from
        ``scores_by_video``, and rows whose kind is not in ``kinds``, are left out.
    method, k, p, low, high, smooth, penalty
        As in :func:`decode_video`.
    class_probs : mapping of video name to (T, K+1) probabilities, optional
        With ``labels``, the intervals are labelled (those voted neutral dropped) and recognition and
        STRS are scored over ``labels`` without its last (neutral) entry.
    labels : sequence of str, optional
        One name per ``class_probs`` column, neutral last.
    iou : float
        Match threshold.

    Returns
    -------
    Evaluation
        ``spotting.matches["true_row"]`` are index labels of ``truth`` when it has a unique index.
    """
    if not isinstance(scores_by_video, Mapping):
        raise TypeError(f"scores_by_video must map video names to (T,) scores, got {type(scores_by_video).__name__}")
    if class_probs is not None and labels is None:
        raise ValueError("pass labels (one name per class_probs column, neutral last) with class_probs")
    missing = [video for video in scores_by_video if class_probs is not None and video not in class_probs]
    if missing:
        raise ValueError(f"class_probs has no entry for video(s) {missing[:3]}")
    tables = [decode_video(s, method=method, k=k, p=p, low=low, high=high, smooth=smooth,
                           class_probs=None if class_probs is None else class_probs[video], labels=labels,
                           penalty=penalty).assign(video=video)
              for video, s in scores_by_video.items()]
    columns = ["video", "onset", "offset"] + ([] if class_probs is None else ["emotion", "score"])
    pred = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    true = _truth_table(truth, kinds)
    true = true[true["video"].isin(list(scores_by_video))]
    if class_probs is None:
        true = true.drop(columns=["emotion"], errors="ignore")
    ev = evaluate(pred, true.reset_index(drop=True), iou=iou, labels=None if labels is None else labels[:-1])
    if true.index.is_unique:  # report matches against the caller's row labels
        ev.spotting.matches["true_row"] = true.index[ev.spotting.matches["true_row"].to_numpy(int)]
    return ev


def sensitivity_grid(
    scores_by_video: Mapping[str, np.ndarray],
    truth: pd.DataFrame,
    *,
    k: int,
    lows: Sequence[float],
    highs: Sequence[float],
    smooth: int = 1,
    kinds: Sequence[str] | None = ("micro",),
    iou: float = 0.5,
) -> pd.DataFrame:
    """Spotting scores of SISS over a grid of (low, high) thresholds.

    Parameters
    ----------
    scores_by_video : mapping of video name to (T,) scores
    truth : pandas.DataFrame
        Events table (``video, onset, offset``; ``kind`` filtered by ``kinds``). Expressions
        of videos missing from ``scores_by_video`` are ignored.
    k, smooth : int
        As in :func:`melab.decode.siss`.
    lows, highs : sequence of float
        Threshold values; pairs with ``low > high`` are skipped.

    Returns
    -------
    pandas.DataFrame
        One row per valid pair: ``low, high, tp, fp, fn, precision, recall, f1``.
    """
    if not isinstance(scores_by_video, Mapping):
        raise TypeError(f"scores_by_video must map video names to (T,) scores, got {type(scores_by_video).__name__}")
    lows = [checks.number("lows", q, 0.0, 1.0) for q in checks.array("lows", lows, ndim=1, min_size=1)]
    highs = [checks.number("highs", q, 0.0, 1.0) for q in checks.array("highs", highs, ndim=1, min_size=1)]
    true = _truth_table(truth, kinds)
    true = true[true["video"].isin(list(scores_by_video))][["video", "onset", "offset"]]
    rows = []
    for low in lows:
        for high in highs:
            if low > high:
                continue
            pred = pd.DataFrame(
                [(video, *iv) for video, s in scores_by_video.items()
                 for iv in siss(s, k, low, high, smooth=smooth)],
                columns=["video", "onset", "offset"],
            )
            rows.append({"low": low, "high": high} | spotting_scores(pred, true, iou).as_dict())
    return pd.DataFrame(rows, columns=["low", "high", "tp", "fp", "fn", "precision", "recall", "f1"])


# --------------------------------------------------------------------------- per-frame ranking


class FrameAUC(NamedTuple):
    """Per-frame ROC AUC of spotting scores (NaN where a class is missing).

    Attributes
    ----------
    auc : ME frames against every other frame: does the score rank MEs above the rest of the video?
    auc_mae : ME frames against macro-expression frames only: does it tell an ME from a larger, longer
        expression, or does it only see motion?
    n_me : ME frames scored.
    """

    auc: float
    auc_mae: float
    n_me: int


def expression_masks(n_frames: int, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Frames inside a micro-expression and inside a macro-expression of one video.

    Parameters
    ----------
    n_frames : T.
    events : the video's events (``onset, offset, kind``; 0-based inclusive).

    Returns
    -------
    me, mae : ``(T,)`` bool each. A frame inside both kinds counts as an ME frame only.
    """
    me = np.zeros(n_frames, bool)
    mae = np.zeros(n_frames, bool)
    for ev in events.itertuples():
        (me if ev.kind == "micro" else mae)[max(int(ev.onset), 0):int(ev.offset) + 1] = True
    return me, mae & ~me


def frame_auc(scores: Mapping[str, np.ndarray], events: pd.DataFrame) -> FrameAUC:
    """Per-frame ROC AUC of spotting scores, frames pooled over videos.

    The decoders turn scores into intervals with thresholds; the AUC asks the question before them, free of
    any threshold: how often does a random ME frame score above a random other frame? 0.5 is chance. Pooling
    over videos (not averaging per video) also asks that scores mean the same thing in every video, which a
    decoder with absolute thresholds needs.

    Parameters
    ----------
    scores : video -> ``(T,)`` per-frame scores.
    events : events table with ``video, onset, offset, kind`` (rows of other videos are ignored).

    Returns
    -------
    FrameAUC

    Examples
    --------
    >>> ev = pd.DataFrame({"video": ["a", "a"], "onset": [2, 6], "offset": [3, 8], "kind": ["micro", "macro"]})
    >>> frame_auc({"a": np.array([0, 0, 1, 1, 0, 0, 0.5, 0.5, 0.5, 0])}, ev)
    FrameAUC(auc=1.0, auc_mae=1.0, n_me=2)
    """
    if not scores:
        raise ValueError("no scores given; pass a mapping video -> (T,) scores")
    by_video = {v: g for v, g in events.groupby("video")}
    parts = []
    for video, s in scores.items():
        s = np.asarray(s, np.float64)
        if s.ndim != 1 or not np.all(np.isfinite(s)):
            raise ValueError(f"scores of {video} must be a finite (T,) array, got shape {s.shape}")
        me, mae = expression_masks(len(s), by_video.get(video, events.iloc[:0]))
        parts.append((s, me, mae))
    s, me, mae = (np.concatenate(a) for a in zip(*parts, strict=True))

    def auc(positive: np.ndarray, keep: np.ndarray) -> float:
        y = positive[keep]
        return float(roc_auc_score(y, s[keep])) if 0 < y.sum() < len(y) else float("nan")

    return FrameAUC(auc(me, np.ones_like(me)), auc(me, me | mae), int(me.sum()))
