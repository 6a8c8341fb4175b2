"""Checkers of notebook 05, confusion matrices: UAR from a matrix, and the most confused negative pair."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from melab.data.splits import FINE_CLASSES
from melab.exercises._feedback import Feedback, _close, _diagnose, _number, _say, _unanswered


def _labels_from(confusion, labels: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    values = np.asarray(confusion, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(values < 0) or not np.array_equal(values, np.round(values)):
        raise ValueError("confusion must hold sample counts (whole numbers >= 0), not row fractions; "
                         "pass metrics.confusion(...) without normalize")
    m = values.astype(np.int64)
    if labels is None:
        labels = list(confusion.index) if isinstance(confusion, pd.DataFrame) else [str(i) for i in range(len(m))]
    if m.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix of shape {m.shape} does not fit {len(labels)} labels")
    return m, [str(label) for label in labels]


def check_uar(value, confusion, labels: Sequence[str] | None = None) -> Feedback:
    """Exercise 05: the unweighted average recall (UAR) of a count confusion matrix (rows true).

    The reference is :func:`sklearn.metrics.recall_score` ``(average="macro")`` on the samples the matrix
    counts.

    Parameters
    ----------
    value : float or None
        UAR as a fraction.
    confusion : pd.DataFrame or np.ndarray
        (K, K) counts, rows true, columns predicted.
    labels : sequence of str, optional
        Class names (default: the DataFrame's index).
    """
    if value is None:
        return _unanswered("recall of a class = diagonal cell / its row sum; UAR is the plain mean over classes")
    got = _number(value)
    if got is None:
        return _say("wrong", "give one number, a fraction between 0 and 1")
    m, labels = _labels_from(confusion, labels)
    y_true = [labels[i] for i in range(len(m)) for j in range(len(m)) for _ in range(m[i, j])]
    y_pred = [labels[j] for i in range(len(m)) for j in range(len(m)) for _ in range(m[i, j])]
    kw = dict(labels=labels, average="macro", zero_division=0)
    ref = float(recall_score(y_true, y_pred, **kw))
    if _close(got, ref, rel=1e-3, abs_tol=2e-3):
        return _say("correct", f"UAR {ref:.3f}")
    mistakes = {
        "that is the accuracy (trace / total), which weighs classes by their size; UAR averages per-class recalls":
            accuracy_score(y_true, y_pred),
        "you divided by the column sums: that is the mean precision (the official STRS script's 'UAR'); recall "
        "divides by the row (true class) sums": precision_score(y_true, y_pred, **kw),
        "that is UF1, the mean per-class F1; UAR is the mean per-class recall": f1_score(y_true, y_pred, **kw),
        "give a fraction, not a percentage": 100 * ref,
    }
    message = _diagnose(got, ref, mistakes, rel=1e-3, abs_tol=2e-3)
    if message:
        return _say("wrong", message)
    return _say("wrong", "compute each class's recall (diagonal / row sum) and average them with equal weight")


def check_most_confused(answer, confusion, labels: Sequence[str] | None = None, *,
                        among: Sequence[str] | None = None) -> Feedback:
    """Exercise 05: the most frequent mistake among the negative emotions, as ``(true, predicted)``.

    The reference is the largest off-diagonal count of ``confusion`` restricted to the classes ``among``
    (default :data:`melab.data.splits.FINE_CLASSES`); ties are all accepted. When no negative is taken for
    another negative, the answer is ``"none"``.

    Parameters
    ----------
    answer : (str, str), "none" or None
        (true class, predicted class).
    confusion : pd.DataFrame or np.ndarray
        (K, K) counts, rows true, columns predicted.
    labels : sequence of str, optional
        Class names (default: the DataFrame's index).
    among : sequence of str, optional
        The classes to look within.
    """
    if answer is None:
        return _unanswered("look only at rows and columns of the negative emotions, skip the diagonal, and give the "
                           "(true, predicted) cell with the largest count")
    m, labels = _labels_from(confusion, labels)
    wanted = list(among or FINE_CLASSES)
    among = [c for c in wanted if c in labels]
    if len(among) < 2:
        raise ValueError(f"the confusion matrix's classes {labels} hold fewer than two of {wanted}; "
                         "pass labels= or a DataFrame indexed by class")
    idx = [labels.index(c) for c in among]
    sub = m[np.ix_(idx, idx)].copy()
    np.fill_diagonal(sub, -1)
    top = int(sub.max())
    best = {(among[i], among[j]) for i, j in zip(*np.nonzero(sub == top), strict=True)} if top > 0 else set()
    if isinstance(answer, str):
        if answer.lower() == "none" and not best:
            return _say("correct", "no negative emotion was taken for another negative")
        return _say("wrong", "give a pair (true class, predicted class)" if best else
                    "no negative is confused with another here; answer 'none'")
    try:
        true, pred = (str(x) for x in answer)
    except (TypeError, ValueError):
        return _say("wrong", "give a pair (true class, predicted class)")
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
        return _say("wrong", f"the order is reversed: rows are the true class, so the cell is ({pred}, {true})")
    count = int(m[labels.index(true), labels.index(pred)])
    return _say("wrong", f"{count} {true} samples were predicted as {pred}, but another negative pair has {top}")
