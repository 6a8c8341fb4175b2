"""Checkers of notebook 02, scan orders and the selective scan: a scan by hand, the state's memory, redundancy."""

from __future__ import annotations

import math

import numpy as np
import torch

from melab.exercises._feedback import Feedback, _close, _diagnose, _number, _say, _unanswered
from melab.scan import SCAN_KINDS, redundancy, scan_order
from melab.ssm import selective_scan


def check_scan_order(order, h: int = 3, w: int = 4, kind: str = "v_zigzag") -> Feedback:
    """Exercise 02: the visiting order of a scan as row-major token indices.

    The reference is :func:`melab.scan.scan_order` ``(h, w, kind)``.

    Parameters
    ----------
    order : sequence of int or None
        Row-major indices ``r * w + c`` in visiting order.
    h, w : int
        Grid rows and columns.
    kind : str
        Scan kind.
    """
    if order is None:
        return _unanswered(f"number the {h} × {w} grid row-major (token (r, c) is r * {w} + c), then list the "
                           f"indices in the order {kind} visits them; every scan starts at token 0 (top-left)")
    truth = scan_order(h, w, kind).tolist()
    try:
        got = [int(i) for i in order]
    except (TypeError, ValueError):
        if all(np.ndim(t) == 1 and len(t) == 2 for t in order):
            return _say("wrong", f"give row-major indices r * {w} + c, not (row, column) pairs")
        return _say("wrong", "give a list of whole numbers")
    if got == truth:
        return _say("correct", f"{kind} on {h}×{w} is {truth}")
    if len(got) != h * w:
        return _say("wrong", f"{len(got)} tokens given, {h * w} expected: every token is visited exactly once")
    if sorted(got) != list(range(h * w)):
        missing = sorted(set(range(h * w)) - set(got))
        return _say("wrong", f"each token must appear once; missing {missing}")
    column_major = [(i % h) * w + i // h for i in got]
    if column_major == truth:
        return _say("wrong", f"you numbered the tokens column-major (c * {h} + r); melab numbers them row-major, "
                             f"r * {w} + c")
    for other in SCAN_KINDS:
        if other != kind and scan_order(h, w, other).tolist() == got:
            line = "column" if kind.startswith("v_") else "row"
            extra = f" In a zigzag every other {line} runs backwards." if "raster" in other and "zigzag" in kind else ""
            return _say("wrong", f"that is the order of {other}, not {kind}.{extra}")
    i = next(i for i, (a, t) in enumerate(zip(got, truth, strict=True)) if a != t)
    return _say("wrong", f"position {i} should be token {truth[i]} (row {truth[i] // w}, column {truth[i] % w}), "
                         f"not {got[i]}")


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
    if answer is None:
        return _unanswered("each token multiplies the state by exp(Δ·A); after t tokens it has been multiplied t "
                           "times")
    value = _number(answer)
    if value is None:
        return _say("wrong", "give one number, a fraction between 0 and 1")
    length = steps + 1
    u = torch.zeros(1, 1, length, dtype=torch.float64)
    u[..., 0] = 1.0
    h = selective_scan(u, torch.full((1, 1, length), float(delta), dtype=torch.float64),
                       torch.full((1, 1), float(a), dtype=torch.float64), torch.ones(1, 1, length, dtype=torch.float64),
                       torch.ones(1, 1, length, dtype=torch.float64), backend="ref")[0, 0]
    ref = float(h[steps] / h[0])
    if _close(value, ref, rel=0.01, abs_tol=5e-4):
        return _say("correct", f"exp({a:g} · {delta:g} · {steps}) = {ref:.3f} of the state is left")
    mistakes = {
        "that is the share after one step; the decay applies at every one of the steps": math.exp(a * delta),
        "the decay multiplies the state at each step; it does not subtract Δ each time":
            max(0.0, 1 + a * delta * steps),
        "Δ multiplies the time in the exponent, it does not divide it": math.exp(a * steps / delta),
        "give a fraction, not a percentage": 100 * ref,
        "that is the share forgotten; the question asks for the share kept": 1 - ref,
    }
    message = _diagnose(value, ref, mistakes, rel=0.01, abs_tol=5e-4)
    if message:
        return _say("wrong", message)
    return _say("wrong", "write h_t / h_0 with the decay exp(Δ·A) applied once per token")


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
    if answer is None:
        return _unanswered(f"list the {h * w - 1} pairs {{t_i, t_i+1}} of each scan as sets and count the common "
                           "ones; divide by the number of pairs")
    value = _number(answer)
    if value is None:
        return _say("wrong", "give one number, a fraction between 0 and 1")
    a, b = scan_order(h, w, kind_a), scan_order(h, w, kind_b)
    ref = redundancy(a, b, h, w)
    if _close(value, ref, rel=1e-3, abs_tol=2e-3):
        return _say("correct", f"{kind_a} and {kind_b} share {ref:.3f} of their consecutive pairs")
    directed = redundancy(a, b, h, w, directed=True)
    if _close(value, directed, abs_tol=5e-3) and not _close(directed, ref, abs_tol=5e-3):
        return _say("wrong", "you counted ordered pairs (t_i → t_i+1); the undirected measure treats {t_i, t_i+1} "
                             "as a set, so a reversed pair still counts")
    if _close(value, 100 * ref, abs_tol=0.5):
        return _say("wrong", "give a fraction, not a percentage")
    if _close(value, ref * (h * w - 1), abs_tol=0.5):
        return _say("wrong", f"that is the number of shared pairs; divide by the {h * w - 1} pairs of a scan")
    return _say("wrong", f"count pairs of consecutive tokens, on a {h} × {w} grid")
