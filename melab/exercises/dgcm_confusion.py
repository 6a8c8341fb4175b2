"""Checkers of notebook 05, confusion matrices: UAR and UF1 from a matrix (a coding exercise and a value), and the
most confused negative pair."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from melab.data.splits import FINE_CLASSES
from melab.exercises._feedback import (
    EMOTION_SYNONYMS,
    Case,
    Feedback,
    _describe,
    _say,
    _single,
    _unanswered,
    as_array,
    check_function,
    check_number,
    match_choice,
    read_numbers,
    read_text,
)
from melab.metrics import recognition_scores

__all__ = ["check_uar", "check_recognition_function", "check_most_confused"]


def _labels_from(confusion, labels: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    values = as_array(confusion, "confusion")
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.size == 0:
        raise ValueError(f"confusion must be a square (K, K) table of counts, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0) or not np.array_equal(values, np.round(values)):
        raise ValueError("confusion must hold sample counts (whole numbers >= 0), not row fractions; "
                         "pass metrics.confusion(...) without normalize")
    m = values.astype(np.int64)
    if labels is None:
        labels = list(confusion.index) if isinstance(confusion, pd.DataFrame) else [str(i) for i in range(len(m))]
    labels = [str(label) for label in labels]
    if len(labels) != len(m) or len(set(labels)) != len(labels):
        raise ValueError(f"labels must name the {len(m)} classes of confusion once each, got {labels}")
    return m, labels


def _samples(m: np.ndarray, labels: list[str]) -> tuple[list[str], list[str]]:
    y_true = [labels[i] for i in range(len(m)) for j in range(len(m)) for _ in range(m[i, j])]
    y_pred = [labels[j] for i in range(len(m)) for j in range(len(m)) for _ in range(m[i, j])]
    return y_true, y_pred


def _scores(m: np.ndarray, labels: list[str]):
    return recognition_scores(*_samples(m, labels), labels)


def check_uar(value, confusion, labels: Sequence[str] | None = None) -> Feedback:
    """Exercise 05: the unweighted average recall (UAR) of a count confusion matrix (rows true).

    The reference is :func:`melab.metrics.recognition_scores` on the samples the matrix counts.

    Parameters
    ----------
    value : float or None
        UAR as a fraction.
    confusion : pd.DataFrame or np.ndarray
        (K, K) counts, rows true, columns predicted.
    labels : sequence of str, optional
        Class names (default: the DataFrame's index).
    """
    m, labels = _labels_from(confusion, labels)
    if value is None:
        return _unanswered("the recall of a class is its diagonal cell over its row's total (the samples of that "
                           "true class); UAR is the plain mean of those recalls over the classes")
    s = _scores(m, labels)
    mistakes = {
        "that is the accuracy (trace / total), which weighs classes by their size; UAR averages per-class recalls":
            s.acc,
        "you divided by the column sums: that is the mean precision (the official STRS script's 'UAR'); recall "
        "divides by the row (true class) sums": s.precision,
        "that is UF1, the mean per-class F1; UAR is the mean per-class recall": s.uf1,
        "give a fraction, not a percentage": 100 * s.uar,
    }
    return check_number(value, s.uar, what="one number, a fraction between 0 and 1", correct=f"UAR {s.uar:.3f}",
                        mistakes={msg: v for msg, v in mistakes.items() if abs(v - s.uar) > 1e-12},
                        fallback="compute each class's recall (diagonal / row sum) and average them with equal "
                                 "weight")


@functools.lru_cache(maxsize=1)
def _confusion_cases() -> tuple[Case, ...]:
    rng = np.random.default_rng(2605)
    cases = []
    for names in (["negative", "positive", "surprise"], ["anger", "disgust", "fear", "sadness"],
                  ["a", "b"], ["anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise"]):
        k = len(names)
        m = rng.integers(0, 6, size=(k, k)) + np.diag(rng.integers(1, 12, size=k))
        if k >= 3:
            m[:, 1] = 0  # a class nobody predicts: precision 0/0 counts as 0, so its F1 is 0
            m[1, 1] = 0
            m[1, 0] += 3
        cases.append(Case((pd.DataFrame(m, index=names, columns=names),), f"{k} classes {names[:3]}"
                          + ("..." if k > 3 else "") + (f", '{names[1]}' never predicted" if k >= 3 else "")))
    return tuple(cases)


def _pair_reference(confusion: pd.DataFrame) -> tuple[float, float]:
    s = _scores(*_labels_from(confusion, None))
    return s.uar, s.uf1


def _pair_compare(got, expected: tuple[float, float]) -> str | None:
    if isinstance(got, Mapping):
        keys = {str(k).lower(): v for k, v in got.items()}
        got = (keys.get("uar"), keys.get("uf1"))
    values = read_numbers(got, n=2)
    if values is None:
        return f"return two numbers, (uar, uf1), not {_describe(got)}"
    if np.allclose(values, expected, rtol=1e-6, atol=1e-9):
        return None
    if np.allclose(values, expected[::-1], rtol=1e-6, atol=1e-9):
        return "the two are swapped: return (uar, uf1)"
    return "the values differ"


def check_recognition_function(fn) -> Feedback:
    """Coding exercise 05: a function ``fn(confusion)`` that returns ``(uar, uf1)`` of a count confusion matrix.

    The reference is :func:`melab.metrics.recognition_scores` (scikit-learn's per-class precision and recall
    with ``zero_division=0``: a class that is never predicted has precision 0 and F1 0). The function runs on
    four hidden matrices of 2 to 7 classes, three with a class that is never predicted.

    Parameters
    ----------
    fn : callable or None
        ``fn(confusion: pd.DataFrame (K, K) counts, rows true) -> (uar, uf1)``.
    """
    def accuracy_pair(confusion):
        s = _scores(*_labels_from(confusion, None))
        return s.acc, s.uf1

    def precision_pair(confusion):
        s = _scores(*_labels_from(confusion, None))
        return s.precision, s.uf1

    def f1_of_means(confusion):
        s = _scores(*_labels_from(confusion, None))
        return s.uar, s.f1

    return check_function(
        fn, name="uar_uf1", cases=_confusion_cases(), reference=_pair_reference, compare=_pair_compare,
        source="melab.metrics.recognition_scores",
        show=lambda value: "(uar {:.4f}, uf1 {:.4f})".format(*(float(x) for x in np.asarray(
            list(value.values()) if isinstance(value, Mapping) else value, dtype=float).ravel()[:2])),
        mistakes={"that UAR is the accuracy (trace / total); UAR averages per-class recalls": accuracy_pair,
                  "that UAR divides by the column sums (mean precision); recall divides by the row sums":
                      precision_pair,
                  "that UF1 is the F1 of the mean precision and mean recall (the STRS F1); UF1 is the mean of the "
                  "per-class F1 scores": f1_of_means},
        hint="per class: recall = diagonal / row sum, precision = diagonal / column sum (0 when the column is "
             "empty), F1 = 2PR / (P + R) (0 when both are 0); UAR and UF1 are the plain means over the classes")


def _read_pair(answer) -> tuple[str, str] | str | None:
    """(true, predicted) from a pair, a mapping, or a string such as "anger, fear" or "anger -> fear";
    the string "none"; or None."""
    text = read_text(answer)
    if text is not None:
        if text == "none":
            return "none"
        raw = str(_single(answer)).strip().strip("()[]{}")
        parts = [p.strip(" '\"") for p in re.split(r"->|→|=>|,|;|/|\bto\b|\bas\b", raw, flags=re.IGNORECASE)]
        parts = [p for p in parts if p]
        return (parts[0], parts[1]) if len(parts) == 2 else None
    if isinstance(answer, Mapping):
        keys = {str(k).lower(): v for k, v in answer.items()}
        answer = (keys.get("true"), keys.get("predicted", keys.get("pred")))
    if isinstance(answer, (pd.DataFrame, pd.Series, pd.Index, np.ndarray)):
        answer = list(np.asarray(answer, dtype=object).ravel())
    if isinstance(answer, (list, tuple)) and len(answer) == 2 and all(isinstance(x, (str, np.str_)) for x in answer):
        return str(answer[0]), str(answer[1])
    return None


def check_most_confused(answer, confusion, labels: Sequence[str] | None = None, *,
                        among: Sequence[str] | None = None) -> Feedback:
    """Exercise 05: the most frequent mistake among the negative emotions, as ``(true, predicted)``.

    The reference is the largest off-diagonal count of ``confusion`` restricted to the classes ``among``
    (default :data:`melab.data.splits.FINE_CLASSES`); ties are all accepted. When no negative is taken for
    another negative, the answer is ``"none"``.

    Parameters
    ----------
    answer : (str, str), "none" or None
        (true class, predicted class), any case; a string "anger, fear" or "anger -> fear" is read too.
    confusion : pd.DataFrame or np.ndarray
        (K, K) counts, rows true, columns predicted.
    labels : sequence of str, optional
        Class names (default: the DataFrame's index).
    among : sequence of str, optional
        The classes to look within.
    """
    m, labels = _labels_from(confusion, labels)
    wanted = [str(c) for c in (among or FINE_CLASSES)]
    among = [c for c in wanted if c in labels]
    if len(among) < 2:
        raise ValueError(f"the confusion matrix's classes {labels} hold fewer than two of {wanted}; "
                         "pass labels= or a DataFrame indexed by class")
    if answer is None:
        return _unanswered("look only at the rows and columns of the negative emotions, skip the diagonal (the "
                           "correct predictions), and give the (true, predicted) cell with the largest count")
    idx = [labels.index(c) for c in among]
    sub = m[np.ix_(idx, idx)].copy()
    np.fill_diagonal(sub, -1)
    top = int(sub.max())
    best = {(among[i], among[j]) for i, j in zip(*np.nonzero(sub == top), strict=True)} if top > 0 else set()
    pair = _read_pair(answer)
    if pair == "none":
        return (_say("correct", "no negative emotion was taken for another negative") if not best else
                _say("wrong", "some negatives are taken for other negatives here: give the (true, predicted) pair"))
    if pair is None:
        return _say("wrong", f"give a pair (true class, predicted class); got {_describe(answer)}")
    names = [match_choice(p, labels, EMOTION_SYNONYMS) for p in pair]
    unknown = [p for p, n in zip(pair, names, strict=True) if n is None]
    if unknown:
        return _say("wrong", f"{unknown[0]!r} is not a class of this matrix; its classes are {', '.join(labels)}")
    true, pred = names
    if (true, pred) in best:
        return _say("correct", f"{top} {true} samples were predicted as {pred}")
    if not best:
        return _say("wrong", "no negative is confused with another here; answer 'none'")
    outside = [c for c in (true, pred) if c not in among]
    if outside:
        return _say("wrong", f"{', '.join(outside)} is not among {', '.join(among)}: look only at the negatives")
    if true == pred:
        return _say("wrong", "that cell is on the diagonal: correct predictions, not a confusion")
    if (pred, true) in best:
        return _say("wrong", "the order is reversed: rows are the true class, columns the predicted one")
    count = int(m[labels.index(true), labels.index(pred)])
    return _say("wrong", f"{count} {true} samples were predicted as {pred}, but another negative pair has {top}")
