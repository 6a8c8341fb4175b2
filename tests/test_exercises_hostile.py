"""Hostile answers, generated: whatever a student passes (any shape, dtype, NaN, empty, a wrong kind of object, a
function that raises or returns nonsense), every public checker prints one line of feedback and returns a verdict;
it never raises. The inputs a notebook passes along with the answer, when wrong, give a ValueError or TypeError
whose message names the argument, never an error from numpy or pandas internals."""

from __future__ import annotations

import io
import warnings
from contextlib import redirect_stdout

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.extra import pandas as hpd

from melab import exercises as E
from melab import train
from melab.data.splits import FINE_CLASSES

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.complex_numbers(allow_nan=True),
    st.binary(max_size=4), st.fractions(), st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0.5", "55%", "1/0", "nan", "-inf", "AU4", "lower", "anger, fear", "", "   ", "[]", "()"]),
)
arrays = hnp.arrays(dtype=st.one_of(hnp.scalar_dtypes(), hnp.unicode_string_dtypes(max_len=4)),
                    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
frames = hpd.data_frames(columns=hpd.columns(["video", "x"], dtype=float),
                         index=hpd.range_indexes(max_size=4))
series = hpd.series(dtype=float, index=hpd.range_indexes(max_size=4))
containers = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(st.text(max_size=3), inner, max_size=3),
    st.frozensets(st.integers(0, 9), max_size=3)), max_leaves=8)
anything = st.one_of(scalars, arrays, frames, series, containers, st.just(object()), st.just(print))


def _returns(value):
    return lambda *args, **kwargs: value


def _raises(error):
    def fn(*args, **kwargs):
        raise error
    return fn


functions = st.one_of(anything, anything.map(_returns),
                      st.sampled_from([ValueError("bad"), ZeroDivisionError(), KeyError("video"), IndexError(),
                                       TypeError(), RecursionError(), AttributeError("x"), StopIteration()])
                      .map(_raises))


def verdict_of(call, *, student_prints: bool = False) -> E.Feedback:
    """Run a checker: it returns a Feedback and prints one line (the last, after whatever a student's function
    printed)."""
    out = io.StringIO()
    with redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        feedback = call()
    assert isinstance(feedback, E.Feedback)
    assert feedback.status in ("unanswered", "correct", "wrong")
    lines = out.getvalue().splitlines()
    assert student_prints or len(lines) == 1, lines
    assert lines[-1].startswith(("not answered yet: ", "correct: ", "not quite: ")), lines
    return feedback


CM = pd.DataFrame(np.diag([5, 4, 3, 6]) + 1, index=list(FINE_CLASSES), columns=list(FINE_CLASSES))
VIDEOS = pd.DataFrame({"video": ["a1", "a2", "b1", "c1"], "subject": ["a", "a", "b", "c"]})
EVENTS = pd.DataFrame({"video": ["v"], "onset": [3], "apex": [4], "offset": [5], "kind": ["micro"],
                       "emotion": ["anger"], "subject": ["s"], "fps": [30]})
RNG = np.random.default_rng(0)
FLOW, TRUE_FLOW = RNG.normal(size=(6, 6, 2)), RNG.normal(size=(6, 6, 2))
ACCURACY = pd.DataFrame({"ms_per_pair": [4.0, 40.0, 1.0]}, index=["farneback", "tvl1", "dis"])


def _windows():
    series = {"v": np.zeros((120, 4), np.float32), "w": np.zeros((120, 4), np.float32)}
    return train.spotter_windows(series, EVENTS.assign(onset=30, offset=36), k=20)


WINDOWS = _windows()

ANSWER_CHECKERS = {
    "check_au_for_landmark": lambda a: E.check_au_for_landmark(a, 19),
    "check_landmark_motion": lambda a: E.check_landmark_motion(a, "AU9", 31, intensity_px=0.8),
    "check_au_roi": lambda a: E.check_au_roi(a, "AU14"),
    "check_epe": lambda a: E.check_epe(a, FLOW, TRUE_FLOW),
    "check_speed_ratio": lambda a: E.check_speed_ratio(a, ACCURACY),
    "check_scan_order": lambda a: E.check_scan_order(a, 4, 3, "v_zigzag"),
    "check_memory": lambda a: E.check_memory(a, 0.05, 20),
    "check_redundancy": lambda a: E.check_redundancy(a, "h_zigzag", "h_zigzag_mirror"),
    "check_epoch_windows": lambda a: E.check_epoch_windows(a, WINDOWS, 4.0),
    "check_loso_split": lambda a: E.check_loso_split(a, "a", VIDEOS),
    "check_ratio_effect": lambda a: E.check_ratio_effect(a, np.full(20, 0.3), np.full(20, 0.1), EVENTS),
    "check_iou": lambda a: E.check_iou(a, (98, 108), (100, 106)),
    "check_losing_k": lambda a: E.check_losing_k(a, 3),
    "check_uar": lambda a: E.check_uar(a, CM),
    "check_most_confused": lambda a: E.check_most_confused(a, CM),
}
FUNCTION_CHECKERS = {name: getattr(E, name) for name in (
    "check_expression_frames", "check_epe_function", "check_scan_function", "check_loso_function",
    "check_iou_function", "check_paired_bootstrap", "check_recognition_function")}


def test_every_public_checker_is_covered():
    assert set(ANSWER_CHECKERS) | set(FUNCTION_CHECKERS) == {n for n in E.__all__ if n.startswith("check_")}


@pytest.mark.parametrize("name", sorted(ANSWER_CHECKERS))
@SETTINGS
@given(answer=anything)
def test_any_answer_gets_feedback_never_an_exception(name, answer):
    feedback = verdict_of(lambda: ANSWER_CHECKERS[name](answer))
    assert (feedback.status == "unanswered") == (answer is None)


@pytest.mark.parametrize("name", sorted(FUNCTION_CHECKERS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fn=functions)
def test_any_function_gets_feedback_never_an_exception(name, fn):
    feedback = verdict_of(lambda: FUNCTION_CHECKERS[name](fn), student_prints=True)
    assert feedback.status in ("unanswered", "wrong")  # none of these is a right solution


# The inputs a notebook passes along: wrong ones are refused with the argument named.
CONTEXT_CALLS = {
    "confusion": [lambda x: E.check_uar(0.5, x), lambda x: E.check_most_confused(("anger", "fear"), x)],
    "flow": [lambda x: E.check_epe(0.1, x, TRUE_FLOW)],
    "true_flow": [lambda x: E.check_epe(0.1, FLOW, x)],
    "accuracy": [lambda x: E.check_speed_ratio(7.0, x)],
    "a must": [lambda x: E.check_iou(0.5, x, (1, 4))],
    "videos": [lambda x: E.check_loso_split(["a1"], "a", x)],
    "length": [lambda x: E.check_losing_k(3, x)],
    "landmark": [lambda x: E.check_au_for_landmark("AU4", x)],
    "windows": [lambda x: E.check_epoch_windows(10, x, 4.0)],
    "events": [lambda x: E.check_ratio_effect("lower", np.zeros(20), np.zeros(20), x)],
    "h and w": [lambda x: E.check_scan_order([0], x, 3), lambda x: E.check_redundancy(0.5, "h_raster", "v_raster", x)],
}


@pytest.mark.parametrize("argument", sorted(CONTEXT_CALLS))
@SETTINGS
@given(value=anything)
def test_wrong_inputs_name_their_argument(argument, value):
    for call in CONTEXT_CALLS[argument]:
        try:
            verdict_of(lambda call=call: call(value))
        except (ValueError, TypeError) as err:
            assert argument.split()[0] in str(err), (argument, err)
