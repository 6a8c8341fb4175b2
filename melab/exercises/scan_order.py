"""Checkers of notebook 02, scan orders and the selective scan: a scan by hand, a scan order for any grid (a coding
exercise), the state's memory, redundancy."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from melab.exercises._feedback import (
    Case,
    Feedback,
    _describe,
    _say,
    _unanswered,
    check_function,
    check_number,
    read_number,
    read_numbers,
)
from melab.scan import BASE_KINDS, SCAN_KINDS, redundancy, scan_order
from melab.ssm import selective_scan

__all__ = ["check_scan_order", "check_scan_function", "check_memory", "check_redundancy"]


def _grid(h, w) -> tuple[int, int]:
    numbers = [read_number(x) for x in (h, w)]
    if any(n is None or n.value != int(n.value) or not 1 <= n.value <= 1000 for n in numbers):
        raise ValueError(f"h and w must be whole numbers of tokens from 1 to 1000, got h={h!r}, w={w!r}")
    return int(numbers[0].value), int(numbers[1].value)


def _kind(kind, name: str = "kind") -> str:
    if kind not in SCAN_KINDS:
        raise ValueError(f"{name} must be one of {', '.join(SCAN_KINDS)}, got {kind!r}")
    return kind


def _read_order(order) -> list[int] | None:
    """Token indices from a list, tuple, array, Series or a string of numbers; None unless all are whole."""
    if isinstance(order, (list, tuple, np.ndarray)):
        try:
            if np.asarray(order, dtype=float).ndim > 1:  # (row, column) pairs or a grid, not a flat order
                return None
        except (TypeError, ValueError, OverflowError):
            return None
    values = read_numbers(order)
    if values is None or not np.array_equal(values, np.round(values)):
        return None
    return [int(v) for v in values]


def _path_mistake(got: list[int], h: int, w: int, kind: str) -> str:
    """What kind of mistake a permutation of the tokens makes, without saying which token comes where."""
    rows, cols = np.divmod(np.asarray(got), w)
    steps = np.abs(np.diff(rows)) + np.abs(np.diff(cols))
    vertical = kind.startswith("v_")
    line = "column" if vertical else "row"
    if "zigzag" in kind and np.any(steps > 1):
        return (f"your path jumps between tokens that are not neighbours; a zigzag never jumps: every other {line} "
                "runs backwards, so each step goes to a 4-neighbour")
    if len(got) > 1 and h > 1 and w > 1:
        first_down = rows[1] == rows[0] + 1 and cols[1] == cols[0]
        if vertical and not first_down:
            return f"{kind} goes down the first column first (column by column, top to bottom)"
        if not vertical and first_down:
            return f"{kind} goes along the first row first (row by row, left to right)"
    if "raster" in kind:
        return f"a raster reads every {line} in the same direction, from its start to its end, then jumps to the next"
    return f"the path visits every token once, but not in {kind}'s order; retrace it {line} by {line}"


def check_scan_order(order, h: int = 4, w: int = 3, kind: str = "v_zigzag") -> Feedback:
    """Exercise 02: the visiting order of a scan as row-major token indices.

    The reference is :func:`melab.scan.scan_order` ``(h, w, kind)``. Feedback names the kind of mistake (a jump,
    the wrong first direction, column-major numbering, another scan kind), never the token at a position.

    Parameters
    ----------
    order : sequence of int or None
        Row-major indices ``r * w + c`` in visiting order (a list, tuple, array, Series or string of numbers).
    h, w : int
        Grid rows and columns.
    kind : str
        Scan kind.
    """
    h, w = _grid(h, w)
    kind = _kind(kind)
    if order is None:
        return _unanswered(f"number the {h} × {w} grid row-major (token (r, c) is r * {w} + c), then list the "
                           f"numbers in the order {kind} visits them; every scan here starts at the top-left token")
    got = _read_order(order)
    if got is None:
        if isinstance(order, (list, tuple)) and order and all(isinstance(t, (list, tuple)) and len(t) == 2
                                                             for t in order):
            return _say("wrong", f"give row-major indices r * {w} + c, not (row, column) pairs")
        return _say("wrong", f"give a flat list of {h * w} whole numbers; got {_describe(order)}")
    truth = scan_order(h, w, kind).tolist()
    if got == truth:
        return _say("correct", f"that is {kind} on {h} × {w}")
    if len(got) != h * w:
        return _say("wrong", f"{len(got)} tokens given, {h * w} expected: every token is visited exactly once")
    if sorted(got) != list(range(h * w)):
        return _say("wrong", f"each of the tokens 0 .. {h * w - 1} must appear exactly once")
    if got[0] != truth[0]:
        return _say("wrong", "every scan here starts at the top-left token, 0")
    column_major = [(i % h) * w + i // h for i in got]
    if column_major == truth:
        return _say("wrong", f"you numbered the tokens column-major (c * {h} + r); melab numbers them row-major, "
                             f"r * {w} + c")
    for other in SCAN_KINDS:
        if other != kind and scan_order(h, w, other).tolist() == got:
            return _say("wrong", f"that is the order of {other}, not {kind}")
    return _say("wrong", _path_mistake(got, h, w, kind))


@functools.lru_cache(maxsize=1)
def _scan_cases() -> tuple[Case, ...]:
    grids = [(2, 3), (5, 4), (1, 6), (6, 1), (1, 1), (7, 7), (3, 5)]
    cases = [Case((h, w, kind), f"h={h}, w={w}, kind={kind!r}") for h, w in grids for kind in BASE_KINDS]
    return tuple(cases)


def _scan_compare(got, expected: np.ndarray) -> str | None:
    order = _read_order(got)
    if order is None:
        return f"return {expected.size} whole numbers (row-major token indices), not {_describe(got)}"
    if len(order) != expected.size:
        return f"return all {expected.size} tokens, each once"
    if order == expected.tolist():
        return None
    if sorted(order) != list(range(expected.size)):
        return "each token must appear exactly once"
    return "the order differs"


def check_scan_function(fn) -> Feedback:
    """Coding exercise 02: a function ``fn(h, w, kind)`` that returns the visiting order of a base scan on any grid.

    The reference is :func:`melab.scan.scan_order` for the four base kinds (``h_raster, v_raster, h_zigzag,
    v_zigzag``), run on 28 hidden grids from 1 × 1 to 7 × 7, one row or one column included.

    Parameters
    ----------
    fn : callable or None
        ``fn(h: int, w: int, kind: str) -> sequence of int`` (row-major indices ``r * w + c``).
    """
    return check_function(
        fn, name="my_scan_order", cases=_scan_cases(), source="melab.scan.scan_order", reference=scan_order,
        compare=_scan_compare, show=lambda value: str([int(v) for v in np.asarray(value).ravel()]),
        mistakes={"column-major numbering: melab numbers tokens row-major, r * w + c":
                  lambda h, w, kind: [(i % h) * w + i // h for i in scan_order(h, w, kind)],
                  "a zigzag reverses every other row (or column); yours reads them all the same way":
                  lambda h, w, kind: scan_order(h, w, kind.replace("zigzag", "raster")),
                  "h_ scans go row by row and v_ scans column by column; yours is transposed":
                  lambda h, w, kind: scan_order(h, w, kind.replace("h_", "x_").replace("v_", "h_")
                                                .replace("x_", "v_"))},
        hint="lay the row-major indices out as an h × w grid; a v_ scan reads the grid's columns as an h_ scan "
             "reads its rows; a zigzag reverses every other line before the lines are joined")


def _memory_ref(delta: float, steps: int, a: float) -> float:
    length = steps + 1
    u = torch.zeros(1, 1, length, dtype=torch.float64)
    u[..., 0] = 1.0
    h = selective_scan(u, torch.full((1, 1, length), float(delta), dtype=torch.float64),
                       torch.full((1, 1), float(a), dtype=torch.float64), torch.ones(1, 1, length, dtype=torch.float64),
                       torch.ones(1, 1, length, dtype=torch.float64), backend="ref")[0, 0]
    return float(h[steps] / h[0])


def check_memory(answer, delta: float, steps: int, *, a: float = -1.0) -> Feedback:
    """Exercise 02: the share ``h_t / h_0`` of an impulse the state keeps after ``steps`` tokens at constant Δ.

    The reference runs :func:`melab.ssm.selective_scan` (``ref`` backend) on an impulse with ``n = 1``,
    ``A = a``, ``B = C = 1``; in closed form ``exp(a Δ steps)``.

    Parameters
    ----------
    answer : float or None
        A fraction in [0, 1].
    delta : float
        Step size Δ (> 0).
    steps : int
        Tokens after the impulse.
    a : float
        The (negative) state matrix entry A.
    """
    numbers = [read_number(x) for x in (delta, steps, a)]
    if any(n is None for n in numbers) or numbers[0].value <= 0 or numbers[1].value != int(numbers[1].value) \
            or numbers[1].value < 1 or numbers[2].value >= 0:
        raise ValueError(f"delta must be > 0, steps a whole number >= 1 and a < 0; got delta={delta!r}, "
                         f"steps={steps!r}, a={a!r}")
    delta, steps, a = numbers[0].value, int(numbers[1].value), numbers[2].value
    if answer is None:
        return _unanswered("each token multiplies the state by the decay exp(Δ·A); count how many times that "
                           "happens between the impulse and the token you are asked about")
    ref = _memory_ref(delta, steps, a)
    return check_number(
        answer, ref, what="one number, a fraction between 0 and 1", rel=1e-3,
        correct=f"exp({a:g} · {delta:g} · {steps}) = {ref:.3f} of the state is left",
        mistakes={
            "that is the share after one step; the decay applies at every one of the steps": math.exp(a * delta),
            "the decay multiplies the state at each step; it does not subtract Δ each time":
                max(0.0, 1 + a * delta * steps),
            "Δ multiplies the time in the exponent, it does not divide it": math.exp(a * steps / delta),
            "give a fraction, not a percentage": 100 * ref,
            "that is the share forgotten; the question asks for the share kept": 1 - ref,
        },
        fallback="write h_t / h_0 with the decay exp(Δ·A) applied once per token")


def check_redundancy(answer, kind_a: str, kind_b: str, h: int = 7, w: int = 7) -> Feedback:
    """Exercise 02: the share of (unordered) consecutive pairs two scans have in common.

    The reference is :func:`melab.scan.redundancy` with ``directed=False``.

    Parameters
    ----------
    answer : float or None
        A fraction in [0, 1].
    kind_a, kind_b : str
        Scan kinds.
    h, w : int
        Grid size.
    """
    h, w = _grid(h, w)
    a, b = scan_order(h, w, _kind(kind_a, "kind_a")), scan_order(h, w, _kind(kind_b, "kind_b"))
    if h * w < 2:
        raise ValueError(f"a {h} × {w} grid has no consecutive pairs")
    if answer is None:
        return _unanswered(f"write the {h * w - 1} consecutive pairs of each scan as unordered pairs, count the "
                           "pairs the two scans share, and divide by the number of pairs of one scan")
    ref = redundancy(a, b, h, w)
    directed = redundancy(a, b, h, w, directed=True)
    mistakes = {"give a fraction, not a percentage": 100 * ref,
                f"that is the number of shared pairs; divide by the {h * w - 1} pairs of a scan": ref * (h * w - 1)}
    if abs(directed - ref) > 1e-9:
        mistakes["you counted ordered pairs (t_i → t_i+1); the undirected measure treats {t_i, t_i+1} as a set, "
                 "so a reversed pair still counts"] = directed
    return check_number(answer, ref, what="one number, a fraction between 0 and 1", mistakes=mistakes,
                        correct=f"{kind_a} and {kind_b} share {ref:.3f} of their consecutive pairs",
                        fallback=f"count pairs of consecutive tokens, on a {h} × {w} grid")
