"""The feedback core of every checker: a verdict (:class:`Feedback`), the one line it prints, and the number
handling that the checkers share (closeness, reading one number, naming the typical mistake)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np


class Feedback(NamedTuple):
    """The verdict of a checker: ``status`` is "unanswered", "correct" or "wrong"."""

    status: str
    message: str

    def __bool__(self) -> bool:
        return self.status == "correct"


def _say(status: str, message: str) -> Feedback:
    prefix = {"unanswered": "not answered yet", "correct": "correct", "wrong": "not quite"}[status]
    print(f"{prefix}: {message}")
    return Feedback(status, message)


def _unanswered(hint: str) -> Feedback:
    return _say("unanswered", f"replace None with your answer. Hint: {hint}")


def _close(a: float, b: float, *, rel: float = 0.02, abs_tol: float = 1e-3) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_tol)


def _number(answer) -> float | None:
    """``answer`` as a float, or None if it is not one number."""
    try:
        value = float(np.asarray(answer, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _diagnose(value: float, ref: float, mistakes: Mapping[str, float], *, rel: float = 0.01,
              abs_tol: float = 5e-4) -> str | None:
    """The message of the typical mistake whose value is nearest ``value`` (within tolerance), if any.

    A mistake that happens to give the reference value is skipped: it cannot be told apart.
    """
    near = [(abs(value - wrong), message) for message, wrong in mistakes.items()
            if _close(value, wrong, rel=rel, abs_tol=abs_tol) and not _close(wrong, ref, rel=rel, abs_tol=abs_tol)]
    return min(near)[1] if near else None
