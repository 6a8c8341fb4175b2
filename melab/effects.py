"""Paired effects with a bootstrap confidence interval: is B better than A, and by how much?

A comparison is an effect ``B − A`` measured on the same units (videos for spotting, samples for recognition),
over several training seeds. The confidence interval comes from :func:`scipy.stats.bootstrap` resampling the
*units*; both arms are recomputed on the same resample, which is what makes the comparison paired. Seeds are
pooled inside each unit (a video keeps all its seeds' counts when it is drawn), so the interval reflects the
spread over units, the thing a new dataset would change, with seed noise included.

Why a statistic over unit *indices*: spotting F1 and UF1 are not means of per-unit values (a micro F1 is a
ratio of counts summed over videos), so the statistic takes the resampled indices, sums each arm's counts over
them and recomputes both metrics. One index sample holds both arms, so ``paired`` needs no second sample.
The interval is BCa (bias-corrected and accelerated): the F1 difference is a ratio statistic whose bootstrap
distribution can be biased and skewed, which BCa corrects for; where BCa is undefined (a degenerate bootstrap
distribution, e.g. identical arms) the percentile interval is used.

Verdict: ``"supported"`` if the whole interval is above 0, ``"reversed"`` if below, else ``"not separated"``.

Units are not always independent: the videos of one subject share a face, and a model that fails on a face fails
on all its videos. ``clusters=`` (every effect function passes it on to :func:`bootstrap_effect`) resamples whole
clusters (subjects) instead, each with all its units; that interval is a percentile interval (BCa's jackknife
over clusters of unequal size is not what scipy computes) and is the one to trust when a subject's units move
together.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

from melab.tuning import micro_f1

__all__ = [
    "Effect",
    "verdict",
    "bootstrap_effect",
    "mean_difference",
    "f1_difference",
    "uf1_difference",
    "strs_difference",
    "strs_from_counts",
    "claim_rows",
    "recompute_row",
]


@dataclass(frozen=True)
class Effect:
    """A paired effect ``B − A`` with its confidence interval and verdict."""

    effect: float
    ci_low: float
    ci_high: float
    verdict: str
    n_units: int
    confidence: float
    method: str

    def as_dict(self) -> dict:
        return asdict(self)


def verdict(ci_low: float, ci_high: float) -> str:
    """``"supported"`` if the CI lies above 0, ``"reversed"`` if below 0, else ``"not separated"``."""
    if ci_low > 0:
        return "supported"
    if ci_high < 0:
        return "reversed"
    return "not separated"


def _cluster_bootstrap(statistic: Callable[[np.ndarray], np.ndarray], clusters, n_units: int, *, seed: int,
                       confidence: float, n_resamples: int) -> tuple[float, float]:
    """Percentile CI of ``statistic`` over resamples of whole clusters (each drawn with all its units)."""
    clusters = np.asarray(clusters)
    if clusters.shape != (n_units,):
        raise ValueError(f"clusters must give one cluster per unit ({n_units}), got shape {clusters.shape}")
    _, inverse = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(inverse == c) for c in range(inverse.max() + 1)]
    if len(members) < 2:
        raise ValueError(f"a cluster bootstrap needs at least 2 clusters, got {len(members)}")
    draws = np.random.default_rng(seed).integers(0, len(members), (n_resamples, len(members)))
    values = np.array([float(statistic(np.concatenate([members[c] for c in draw]))) for draw in draws])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_effect(
    statistic: Callable[[np.ndarray], np.ndarray],
    n_units: int,
    *,
    seed: int = 0,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    clusters: Sequence | np.ndarray | None = None,
) -> Effect:
    """Bootstrap CI of a paired effect computed from unit indices.

    Parameters
    ----------
    statistic : callable
        ``statistic(idx)`` with ``idx`` an int array ``(..., m)`` of unit indices (a resample along the last
        axis, possibly batched) returns the effect ``B − A`` on those units, shape ``(...)``.
    n_units : int
        Number of units (>= 2).
    seed : int
        Seed of the resampling: the same seed gives the same interval.
    confidence : float
        Confidence level of the interval.
    n_resamples : int
        Bootstrap resamples.
    clusters : sequence, optional
        One label per unit (e.g. each video's subject): resample whole clusters instead of units (percentile
        interval, method ``"cluster percentile"``; the module docstring says when to prefer it).

    Returns
    -------
    Effect
    """
    if n_units < 2:
        raise ValueError(f"a bootstrap needs at least 2 units, got {n_units}")
    idx = np.arange(n_units)
    effect = float(statistic(idx))
    if clusters is not None:
        low, high = _cluster_bootstrap(statistic, clusters, n_units, seed=seed, confidence=confidence,
                                       n_resamples=n_resamples)
        return Effect(effect, low, high, verdict(low, high), n_units, confidence, "cluster percentile")

    def on_indices(sample: np.ndarray, axis: int = -1) -> np.ndarray:  # scipy passes axis=-1 (resamples last)
        return statistic(sample)

    kwargs = dict(vectorized=True, axis=-1, confidence_level=confidence, n_resamples=n_resamples)
    method = "BCa"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate distribution warns; it is handled just below
        res = bootstrap((idx,), on_indices, method="BCa", rng=np.random.default_rng(seed), **kwargs)
    low, high = res.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):
        method = "percentile"
        res = bootstrap((idx,), on_indices, method="percentile", rng=np.random.default_rng(seed), **kwargs)
        low, high = res.confidence_interval
    low, high = float(low), float(high)
    return Effect(effect, low, high, verdict(low, high), n_units, confidence, method)


def _pool(values, name: str, ndim: int) -> np.ndarray:
    """Sum (counts) over a leading seed axis: (S, V, ...) -> (V, ...); (V, ...) stays."""
    arr = np.asarray(values)
    if arr.ndim == ndim + 1:
        return arr.sum(axis=0)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dims (units first) or {ndim + 1} (seeds first), got {arr.shape}")
    return arr


def mean_difference(a, b, **kwargs) -> Effect:
    """Paired effect ``mean(b) − mean(a)`` of per-unit values, shape (V,) or (seeds, V) (averaged over seeds)."""
    a, b = (np.asarray(x, np.float64) for x in (a, b))
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape (paired units), got {a.shape} and {b.shape}")
    if a.ndim == 2:
        a, b = a.mean(axis=0), b.mean(axis=0)
    diff = b - a
    return bootstrap_effect(lambda idx: diff[idx].mean(axis=-1), len(diff), **kwargs)


def f1_difference(counts_a, counts_b, **kwargs) -> Effect:
    """Paired effect on micro spotting F1: ``F1(B) − F1(A)`` over videos.

    Parameters
    ----------
    counts_a, counts_b : array_like, shape (V, 3) or (S, V, 3)
        TP, FP, FN per video (and seed) of each arm; seeds are summed inside each video.
    """
    a, b = _pool(counts_a, "counts_a", 2), _pool(counts_b, "counts_b", 2)
    if a.shape != b.shape:
        raise ValueError(f"counts_a and counts_b must cover the same videos, got {a.shape} and {b.shape}")
    return bootstrap_effect(lambda idx: micro_f1(b[idx]) - micro_f1(a[idx]), len(a), **kwargs)


def _one_vs_rest(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(..., N, K, 3) per-sample TP/FP/FN of each class (one-vs-rest) from class indices."""
    classes = np.arange(n_classes)
    t, p = y_true[..., None] == classes, y_pred[..., None] == classes
    return np.stack([t & p, ~t & p, t & ~p], axis=-1).astype(np.int64)


def _uf1(counts: np.ndarray) -> np.ndarray:
    """Mean per-class F1 of (..., N, K, 3) counts summed over N; a class with no sample and no prediction is 0."""
    total = counts.sum(axis=-3)
    tp, fp, fn = total[..., 0], total[..., 1], total[..., 2]
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return f1.mean(axis=-1)


def uf1_difference(y_true, pred_a, pred_b, labels: Sequence[str], **kwargs) -> Effect:
    """Paired effect on UF1 (mean per-class F1 over ``labels``): ``UF1(B) − UF1(A)`` over samples.

    Parameters
    ----------
    y_true : sequence of str, length N
    pred_a, pred_b : array_like of str, shape (N,) or (S, N)
        Predictions of each arm per sample (and seed); the seeds' confusion counts are pooled per sample.
    labels : sequence of str
        Classes to average over (as sklearn's ``f1_score(average="macro", labels=...)``).
    """
    index = {name: i for i, name in enumerate(labels)}
    code = np.vectorize(lambda name: index.get(name, -1), otypes=[np.int64])
    t = code(np.asarray(y_true))
    a, b = code(np.atleast_2d(pred_a)), code(np.atleast_2d(pred_b))
    if a.shape != b.shape or a.shape[-1] != len(t):
        raise ValueError(f"pred_a {a.shape} and pred_b {b.shape} must both be (seeds, {len(t)})")
    ca = _one_vs_rest(t, a, len(labels)).sum(axis=0)  # (N, K, 3), seeds pooled per sample
    cb = _one_vs_rest(t, b, len(labels)).sum(axis=0)
    return bootstrap_effect(lambda idx: _uf1(cb[idx]) - _uf1(ca[idx]), len(t), **kwargs)


def strs_from_counts(spot: np.ndarray, recog: np.ndarray) -> np.ndarray:
    """STRS from (..., V, 3) spotting counts and (..., V, K, 3) recognition counts (official F1 of macro P, R)."""
    total = recog.sum(axis=-3)
    tp, fp, fn = total[..., 0], total[..., 1], total[..., 2]
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0).mean(axis=-1)
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0).mean(axis=-1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return micro_f1(spot) * f1


def strs_difference(spot_a, recog_a, spot_b, recog_b, **kwargs) -> Effect:
    """Paired effect on STRS over videos.

    Parameters
    ----------
    spot_a, spot_b : array_like, shape (V, 3) or (S, V, 3)
        Spotting TP/FP/FN per video (and seed).
    recog_a, recog_b : array_like, shape (V, K, 3) or (S, V, K, 3)
        Per video, the one-vs-rest TP/FP/FN of each recognition class over its spotted TPs.
    """
    sa, sb = _pool(spot_a, "spot_a", 2), _pool(spot_b, "spot_b", 2)
    ra, rb = _pool(recog_a, "recog_a", 3), _pool(recog_b, "recog_b", 3)
    if not (sa.shape == sb.shape and ra.shape == rb.shape and len(sa) == len(ra)):
        raise ValueError("both arms must cover the same videos and classes")

    def gap(idx: np.ndarray) -> np.ndarray:
        return strs_from_counts(sb[idx], rb[idx]) - strs_from_counts(sa[idx], ra[idx])

    return bootstrap_effect(gap, len(sa), **kwargs)


def claim_rows(report: Mapping | str | os.PathLike, claim: str) -> pd.DataFrame:
    """The rows of a claims report whose claim starts with ``claim``, as a lesson shows them.

    Parameters
    ----------
    report : mapping or path
        The JSON written by ``benchmarks/claims.py`` (``benchmarks/results/claims.json``), or its path.
    claim : str
        Start of the claim text, e.g. ``"SISS beats"`` or ``"DGCM"``.

    Returns
    -------
    pd.DataFrame
        One row per matching comparison: ``claim``, ``metric``, ``A -> B`` (both arms' pooled values),
        ``effect [95% CI]`` (B − A), ``verdict`` and ``seeds x units``, to 3 decimals.
    """
    source = "the report" if isinstance(report, Mapping) else str(report)
    if not isinstance(report, Mapping):
        report = json.loads(Path(report).read_text())
    rows = [r for r in report["rows"] if r["claim"].startswith(claim)]
    if not rows:
        known = sorted({r["claim"] for r in report["rows"]})
        raise ValueError(f"no claim in {source} starts with {claim!r}; its claims are {known}")
    return pd.DataFrame([{
        "claim": r["claim"], "metric": r["metric"],
        "A -> B": f"{r['arm_a']} {r['value_a']:.3f} -> {r['arm_b']} {r['value_b']:.3f}",
        "effect [95% CI]": f"{r['effect']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]",
        "verdict": r["verdict"], "seeds x units": f"{r['n_seeds']} x {r['n_units']}"} for r in rows])


def recompute_row(report: Mapping | str | os.PathLike, row: Mapping | int, *,
                  clusters: bool = False) -> Effect:
    """Recompute one row of a claims report from its per-unit records, without training anything.

    ``benchmarks/claims.py`` stores, under ``units``, every video's spotting TP/FP/FN per seed and arm (and the
    recognition counts behind STRS), every test sample's predicted class per seed and variant, and each unit's
    subject; each row names the records it compares in ``recompute``. This function reads them back and runs the
    same paired bootstrap (same seed), so a reader can check any row, or bootstrap it another way.

    Parameters
    ----------
    report : mapping or path
        ``benchmarks/results/claims.json`` (or its contents).
    row : mapping or int
        A row of ``report["rows"]``, or its index.
    clusters : bool
        Resample subjects (the row's ``cluster_ci_*``) instead of units (its ``ci_*``).

    Returns
    -------
    Effect
    """
    if not isinstance(report, Mapping):
        report = json.loads(Path(report).read_text())
    row = report["rows"][row] if isinstance(row, int) else row
    how = row.get("recompute")
    if how is None or "units" not in report:
        raise ValueError("this report keeps no per-unit records (written before claims.py stored them); rerun "
                         "benchmarks/claims.py")
    kind = how["kind"]
    if kind in ("f1", "strs"):
        units = report["units"]["spotting"]
        keep = np.asarray(units["has_me"]) if how.get("protocol") == "megc_official" else \
            np.ones(len(units["videos"]), bool)
        people = np.asarray(units["subject"])[keep] if clusters else None
        a, b = (np.asarray(units["counts"][name])[..., keep, :] for name in (how["a"], how["b"]))
        if kind == "f1":
            return f1_difference(np.broadcast_to(a, b.shape) if a.ndim < b.ndim else a, b, clusters=people)
        ra, rb = (np.asarray(units["recognition"][f"{name}_{how['protocol']}"])[:, keep]
                  for name in (how["a_recognition"], how["b_recognition"]))
        return strs_difference(a, ra, b, rb, clusters=people)
    if kind == "uf1":
        units = report["units"]["recognition"]
        y_true = np.asarray(units["y_true"])
        keep = np.isin(y_true, how["labels"]) if how.get("samples") == "labelled" else np.ones(len(y_true), bool)
        pa, pb = (np.asarray(units["predictions"][name])[:, keep] for name in (how["a"], how["b"]))
        people = np.asarray(units["subject"])[keep] if clusters else None
        return uf1_difference(y_true[keep], pa, pb, how["labels"], clusters=people)
    raise ValueError(f"unknown recompute kind {kind!r} in row {row['claim']!r}")
