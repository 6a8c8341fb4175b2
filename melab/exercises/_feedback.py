"""The feedback core of every checker: a verdict (:class:`Feedback`), the one line it prints, and the shared,
forgiving reading and comparison of answers.

Forgiving in form, exact in substance:

- a number is read from a scalar, a string (``"0.55"``, ``"55%"``, ``"6/11"``), or any container that holds exactly
  one number (list, tuple, array, Series, one-cell DataFrame), and it is right when it agrees with the reference to
  the precision the student gave (``0.55`` for 6/11, ``0.1`` for 0.1054), at least one significant digit;
- a word is compared without case, surrounding spaces or the difference between spaces, hyphens and underscores,
  with synonyms where natural ("decrease" for "lower");
- a list is read from any container (a DataFrame by the column that names its rows);
- a mistake's diagnosis fires only for an answer that is not also right within rounding.

A checker never raises on a student's answer, whatever its type: it prints feedback. Only the inputs a notebook
passes along with the answer (a confusion matrix, a flow field) are validated with a ``ValueError`` that names the
argument.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
import pandas as pd


class Feedback(NamedTuple):
    """The verdict of a checker: ``status`` is "unanswered", "correct" or "wrong"."""

    status: str
    message: str

    def __bool__(self) -> bool:
        return self.status == "correct"


def _say(status: str, message: str) -> Feedback:
    prefix = {"unanswered": "not answered yet", "correct": "correct", "wrong": "not quite"}[status]
    message = " ".join(message.split())  # one line, whatever the pieces held
    print(f"{prefix}: {message}")
    return Feedback(status, message)


def _unanswered(hint: str) -> Feedback:
    return _say("unanswered", f"replace None with your answer. Hint: {hint}")


# ---------------------------------------------------------------------------------------------- numbers


class Number(NamedTuple):
    """A number read from an answer, with the decimals the student wrote (None: computed, full precision)."""

    value: float
    decimals: int | None


def _decimals_of(text: str) -> int | None:
    """Decimal places a number written as ``text`` carries (``"0.50"`` → 2, ``"1e-05"`` → 5, ``"12"`` → 0)."""
    match = re.fullmatch(r"[+-]?(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?", text.strip().lower())
    if not match:
        return None
    fraction = len(match.group(2) or "")
    return fraction - int(match.group(3) or 0)


def _float_decimals(value: float, dtype=np.float64) -> int | None:
    """The decimals of the shortest text that gives back ``value`` in ``dtype``; None when it looks computed."""
    text = np.format_float_positional(np.asarray(value, dtype)[()], unique=True, trim="-")
    decimals = _decimals_of(text)
    significant = len(text.replace("-", "").replace(".", "").lstrip("0"))
    # a hand-typed number has a few digits; a computed one (6/11 = 0.5454545454545454) has the dtype's all
    return None if decimals is None or significant > np.finfo(dtype).precision - 3 else decimals


_MINUS = str.maketrans({"−": "-", "–": "-", "—": "-", ",": "."})


def _parse_number(text: str) -> Number | None:
    text = unicodedata.normalize("NFKC", text).translate(_MINUS).strip().lower().replace(" ", "")
    percent = text.endswith("%")
    text = text.rstrip("%")
    if re.fullmatch(r"[+-]?\d+/\d+", text):
        numerator, denominator = text.split("/")
        if int(denominator) == 0:
            return None
        value, decimals = float(Fraction(int(numerator), int(denominator))), None
    else:
        try:
            value = float(text)
        except ValueError:
            return None
        decimals = _decimals_of(text)
    if percent:
        value, decimals = value / 100, None if decimals is None else decimals + 2
    return Number(value, decimals) if math.isfinite(value) else None


def _single(answer) -> Any:
    """The one element of a container that holds exactly one (else ``answer`` itself)."""
    for _ in range(4):  # nested one-element containers: [[0.5]], a one-cell DataFrame
        if isinstance(answer, pd.DataFrame):
            answer = answer.to_numpy().ravel()
        if isinstance(answer, (pd.Series, pd.Index)):
            answer = answer.to_numpy()
        if isinstance(answer, np.ndarray):
            if answer.size != 1:
                return answer
            answer = answer.reshape(-1)[0]
        elif isinstance(answer, (list, tuple)) and len(answer) == 1:
            answer = answer[0]
        else:
            return answer
    return answer


def _never_raises(read: Callable) -> Callable:
    """A reader returns None for an answer it cannot read, whatever the answer's type does when converted."""
    @functools.wraps(read)
    def safe(answer, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return read(answer, **kwargs)
        except (TypeError, ValueError, OverflowError, ArithmeticError, IndexError, KeyError, AttributeError,
                RecursionError):
            return None
    return safe


@_never_raises
def read_number(answer) -> Number | None:
    """``answer`` as one finite number with the precision given, or None if it is not one number."""
    answer = _single(answer)
    if isinstance(answer, (bool, np.bool_, np.datetime64, np.timedelta64)):
        return None
    if isinstance(answer, (str, np.str_)):
        return _parse_number(str(answer))
    if isinstance(answer, Integral):
        try:
            value = float(answer)
        except OverflowError:
            return None
        return Number(value, 0) if math.isfinite(value) else None
    if isinstance(answer, Fraction):
        return Number(float(answer), None)
    if isinstance(answer, (np.floating, float, Real)):
        try:
            value = float(answer)
        except (OverflowError, TypeError, ValueError):
            return None
        if not math.isfinite(value):
            return None
        dtype = answer.dtype if isinstance(answer, np.floating) else np.float64
        return Number(value, _float_decimals(value, dtype))
    return None


def agrees(number: Number, ref: float, *, rel: float = 1e-6, abs_tol: float = 1e-12) -> bool:
    """Whether ``number`` is ``ref`` to the precision the student gave (at least one significant digit of
    ``ref``), or within ``rel`` (relative) / ``abs_tol`` of it for a computed value."""
    ref = float(ref)
    if not math.isfinite(ref):
        return False
    tol = max(rel * abs(ref), abs_tol)
    if number.decimals is not None:
        needed = -math.floor(math.log10(abs(ref))) if ref != 0 else 0  # decimals of ref's first significant digit
        if number.decimals >= needed:
            tol = max(tol, 0.5 * 10.0 ** -number.decimals * (1 + 1e-9))
    return abs(number.value - ref) <= tol


def diagnose(number: Number, mistakes: Mapping[str, float], **tolerance) -> str | None:
    """The message of the typical mistake whose value ``number`` agrees with (the nearest one), if any."""
    near = [(abs(number.value - value), message) for message, value in mistakes.items()
            if value is not None and math.isfinite(value) and agrees(number, value, **tolerance)]
    return min(near)[1] if near else None


def check_number(answer, ref: float, *, what: str, mistakes: Mapping[str, float] | None = None,
                 fallback: str, correct: str, rel: float = 1e-6, abs_tol: float = 1e-12) -> Feedback:
    """The verdict on a one-number answer: right within rounding, else the matching mistake, else ``fallback``.

    Parameters
    ----------
    answer : anything
        The student's answer.
    ref : float
        The reference value.
    what : str
        What to give, for the message when ``answer`` is not one number (e.g. "one number, a fraction").
    mistakes : mapping, optional
        Message -> the value that mistake gives.
    fallback : str
        The message when the answer is wrong and no mistake matches.
    correct : str
        The message when the answer is right.
    rel, abs_tol : float
        Extra tolerance for a computed answer (e.g. a timing measured twice).
    """
    number = read_number(answer)
    if number is None:
        return _say("wrong", f"give {what}; got {_describe(answer)}")
    if agrees(number, ref, rel=rel, abs_tol=abs_tol):
        return _say("correct", correct)
    message = diagnose(number, mistakes or {}, rel=rel, abs_tol=abs_tol)
    return _say("wrong", message or fallback)


# ---------------------------------------------------------------------------------------------- words


def norm_text(text: str) -> str:
    """Lower case, no surrounding spaces or quotes, and one ``_`` for any run of spaces, hyphens and underscores."""
    text = unicodedata.normalize("NFKC", text).casefold().strip().strip("'\"`").strip()
    return re.sub(r"[\s_\-]+", "_", text)


@_never_raises
def read_text(answer) -> str | None:
    """``answer`` as one normalised word (:func:`norm_text`), or None if it is not one string."""
    answer = _single(answer)
    return norm_text(str(answer)) if isinstance(answer, (str, np.str_)) else None


def match_choice(answer, choices: Iterable[str], synonyms: Mapping[str, str] | None = None) -> str | None:
    """The choice ``answer`` names (any case or spacing, or a synonym), or None."""
    text = read_text(answer)
    if text is None:
        return None
    canonical = {norm_text(c): c for c in choices}
    canonical.update({norm_text(word): choice for word, choice in (synonyms or {}).items()})
    return canonical.get(text)


DIRECTIONS = ("higher", "lower", "same")
DIRECTION_SYNONYMS = {
    "higher": "higher", "increase": "higher", "increases": "higher", "up": "higher", "more": "higher",
    "larger": "higher", "bigger": "higher", "rise": "higher", "rises": "higher", "goes up": "higher",
    "lower": "lower", "decrease": "lower", "decreases": "lower", "down": "lower", "less": "lower",
    "smaller": "lower", "fall": "lower", "falls": "lower", "drop": "lower", "drops": "lower", "goes down": "lower",
    "same": "same", "unchanged": "same", "no change": "same", "equal": "same", "the same": "same",
}
EMOTION_SYNONYMS = {
    "angry": "anger", "happy": "happiness", "joy": "happiness", "sad": "sadness", "disgusted": "disgust",
    "afraid": "fear", "scared": "fear", "fearful": "fear", "surprised": "surprise", "contemptuous": "contempt",
}


# ---------------------------------------------------------------------------------------------- lists


@_never_raises
def read_numbers(answer, *, n: int | None = None) -> np.ndarray | None:
    """``answer`` as a flat float64 vector (from a list, tuple, array, Series, one-row or one-column DataFrame,
    a mapping's values, or a string of numbers), or None; ``n`` fixes its length."""
    if isinstance(answer, (str, np.str_)):
        found = re.findall(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?",
                           unicodedata.normalize("NFKC", str(answer)).translate(_MINUS).lower())
        values = [float(x) for x in found]
    else:
        if isinstance(answer, Mapping):
            answer = list(answer.values())
        if isinstance(answer, pd.DataFrame):
            if 1 not in answer.shape:
                return None
            answer = answer.to_numpy().ravel()
        if isinstance(answer, (set, frozenset)) or not isinstance(answer, (list, tuple, np.ndarray, pd.Series,
                                                                          pd.Index)):
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                array = np.asarray(answer if not isinstance(answer, (pd.Series, pd.Index)) else answer.to_numpy())
                if array.dtype.kind not in "biuf" and array.dtype != object:
                    return None
                values = array.astype(np.float64).ravel()
        except (TypeError, ValueError, OverflowError):
            return None
        if array.dtype.kind == "b" or any(isinstance(x, (bool, np.bool_)) for x in np.asarray(answer,
                                                                                              object).ravel()):
            return None
    values = np.asarray(values, np.float64)
    if (n is not None and values.size != n) or not np.all(np.isfinite(values)):
        return None
    return values


@_never_raises
def read_names(answer, *, column: str) -> list[str] | None:
    """``answer`` as a list of names: any container of strings; a DataFrame by its ``column`` (or its only
    column, or its index when that is named ``column``). None if it is not a list of names."""
    if isinstance(answer, pd.DataFrame):
        if column in answer.columns:
            answer = answer[column]
        elif answer.shape[1] == 1:
            answer = answer.iloc[:, 0]
        elif answer.index.name == column:
            answer = answer.index
        else:
            return None
    if isinstance(answer, Mapping):
        answer = list(answer)
    if isinstance(answer, (str, np.str_, bytes)) or not isinstance(answer, (list, tuple, set, frozenset,
                                                                           np.ndarray, pd.Series, pd.Index)):
        return None
    items = list(np.asarray(answer, dtype=object).ravel()) if isinstance(answer, np.ndarray) else list(answer)
    if not all(isinstance(x, (str, np.str_)) for x in items):
        return None
    return [str(x) for x in items]


def as_array(value, name: str, *, dtype=np.float64) -> np.ndarray:
    """A notebook's input as an array, or a ValueError that names the argument."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError, OverflowError, np.exceptions.ComplexWarning):
        raise ValueError(f"{name} must be an array of numbers, got {_describe(value)}") from None


def _describe(answer) -> str:
    """A short description of an answer's type and shape, for a message (never its full content)."""
    if answer is None:
        return "None"
    if isinstance(answer, (str, np.str_)):
        text = str(answer)
        return repr(text if len(text) <= 30 else text[:27] + "...")
    if isinstance(answer, (pd.DataFrame, np.ndarray)):
        return f"a {type(answer).__name__} of shape {tuple(answer.shape)}"
    if isinstance(answer, (list, tuple, set, frozenset, dict, pd.Series, pd.Index)):
        return f"a {type(answer).__name__} of {len(answer)} items"
    if isinstance(answer, (bool, np.bool_)):
        return f"the boolean {bool(answer)}"
    if isinstance(answer, (Real, np.number)):
        return f"the number {answer!r}" if len(repr(answer)) <= 30 else "a number"
    return f"a {type(answer).__name__}"


# ---------------------------------------------------------------------------------------------- functions


class Case(NamedTuple):
    """One hidden case of a coding exercise: the arguments, and how to show them in a message."""

    args: tuple
    shown: str


def _copy(value):
    if isinstance(value, (np.ndarray, pd.DataFrame, pd.Series)):
        return value.copy()
    if isinstance(value, (list, dict)):
        return type(value)(value)
    return value


def check_function(fn, *, name: str, hint: str, cases: Sequence[Case], reference: Callable,
                   compare: Callable[[Any, Any], str | None], show: Callable[[Any], str],
                   mistakes: Mapping[str, Callable] | None = None, source: str) -> Feedback:
    """Run a student's function on hidden cases against melab's own implementation.

    Parameters
    ----------
    fn : callable or None
        The student's function; None, or a stub that returns None on the first case, is "not answered yet".
    name : str
        The function's name in the notebook, for the messages.
    hint : str
        What to write (never the code).
    cases : sequence of Case
        The hidden cases, in order; the first failing one is named.
    reference : callable
        ``reference(*args)``: melab's answer.
    compare : callable
        ``compare(got, expected)``: None when ``got`` is right, else what is wrong with it.
    show : callable
        Formats an expected or returned value for a message.
    mistakes : mapping, optional
        Message -> ``mistake(*args)`` giving that mistake's result; named when the student's result matches it.
    source : str
        What the reference is, for the correct message (e.g. "melab.flow.flow_epe").
    """
    if fn is None:
        return _say("unanswered", f"write the body of {name} and pass the function itself. Hint: {hint}")
    if not callable(fn):
        return _say("wrong", f"pass the function itself ({name}, without parentheses), not {_describe(fn)}")
    for i, case in enumerate(cases, start=1):
        expected = reference(*case.args)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                got = fn(*(_copy(a) for a in case.args))
        except Exception as err:  # noqa: BLE001 - whatever the student's code raises is feedback, not a crash
            text = str(err).splitlines()[0][:120] if str(err) else ""
            return _say("wrong", f"on hidden case {i} of {len(cases)} ({case.shown}) your {name} raised "
                                 f"{type(err).__name__}{': ' + text if text else ''}")
        if got is None:
            if i == 1:
                return _say("unanswered", f"{name} returns None: write its body and return the result. Hint: "
                                          f"{hint}")
            return _say("wrong", f"on hidden case {i} of {len(cases)} ({case.shown}) your {name} returned None")
        try:
            problem = compare(got, expected)
        except Exception:  # noqa: BLE001 - a result of an unexpected type is a wrong result, said plainly
            problem = f"it returned {_describe(got)}"
        if problem:
            for message, mistake in (mistakes or {}).items():
                try:
                    if compare(got, mistake(*case.args)) is None:
                        problem = message
                        break
                except Exception:  # noqa: BLE001, S112 - a mistake that does not apply to this case is skipped
                    continue
            return _say("wrong", f"hidden case {i} of {len(cases)} ({case.shown}): expected {show(expected)}, "
                                 f"got {_show_safely(show, got)}. {problem}")
    return _say("correct", f"{name} agrees with {source} on all {len(cases)} hidden cases")


def _show_safely(show: Callable, value) -> str:
    try:
        return show(value)
    except Exception:  # noqa: BLE001 - a student's result that cannot be formatted is described by its type
        return _describe(value)


def same_number(got, expected: float, *, rel: float = 1e-6, abs_tol: float = 1e-9) -> str | None:
    """None when ``got`` is the number ``expected`` (a computed value: tight tolerance), else what is wrong."""
    number = read_number(got)
    if number is None:
        return f"return one number, not {_describe(got)}"
    return None if agrees(Number(number.value, None), expected, rel=rel, abs_tol=abs_tol) else "the values differ"
