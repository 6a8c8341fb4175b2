"""Arguments of the public API, checked where a function starts: a clear error that names the argument.

A notebook passes whatever it has: a float where a frame count belongs, a list of lists where an array
belongs, NaN, an empty array, a tensor of the wrong rank. Without a check, such input fails deep inside numpy,
OpenCV or torch ("too many values to unpack", "(-215:Assertion failed)") or, worse, gives a plausible wrong
answer (a window size of 4.7 truncated to 4). The functions of :mod:`melab.flow`, :mod:`melab.decode`,
:mod:`melab.metrics` and :mod:`melab.scan` check their arguments with these helpers first, so every bad value is
a ``TypeError`` (wrong kind) or ``ValueError`` (wrong value) whose message starts with the argument's name
(tests/test_properties.py generates such input with Hypothesis).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

__all__ = ["OutOfRange", "integer", "number", "array"]


class OutOfRange(IndexError, ValueError):
    """An index (a frame number) beyond the data it indexes: an ``IndexError`` as for any sequence, and a
    ``ValueError`` like every other bad argument value."""


def integer(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int: a whole number (Python or numpy int; not a bool, not a float) within the bounds.

    Raises
    ------
    TypeError : not a number at all (a string, None, an array).
    ValueError : a float (``4.0`` too: a count or a frame number is never a float, and ``4.7`` must not become
        4 unseen), a bool, or a whole number outside ``minimum .. maximum``.
    """
    bounds = " and".join(part for part in (f" >= {minimum}" if minimum is not None else "",
                                            f" <= {maximum}" if maximum is not None else "") if part)
    if not isinstance(value, (numbers.Number, np.bool_)) or isinstance(value, numbers.Complex) and \
            not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an integer{bounds}, got {value!r} ({type(value).__name__})")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or \
            minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer{bounds}, got {value!r}")
    return int(value)


def number(name: str, value: object, low: float | None = None, high: float | None = None, *,
           low_open: bool = False) -> float:
    """``value`` as a finite float within ``[low, high]`` (``(low, high]`` with ``low_open``).

    Raises
    ------
    TypeError : not a real number (a string, None, an array, a complex number).
    ValueError : a bool, NaN, infinite, or outside the bounds.
    """
    where = ("" if low is None and high is None else
             f" in {'(' if low_open else '['}{low}, {high}]" if low is not None and high is not None else
             f" > {low}" if low_open else f" >= {low}" if low is not None else f" <= {high}")
    rule = f"{name} must lie{where}" if where else f"{name} must be a finite number"
    if not isinstance(value, (numbers.Real, np.bool_)):
        raise TypeError(f"{rule}, got {value!r} ({type(value).__name__})")
    below = low is not None and (value <= low if low_open else value < low)
    if isinstance(value, (bool, np.bool_)) or not math.isfinite(value) or below or high is not None and value > high:
        raise ValueError(f"{rule}, got {value!r}")
    return float(value)


def array(name: str, value: object, *, ndim: int | Sequence[int] | None = None,
          shape: Sequence[int | None] | None = None, dtype: str = "real", finite: bool = True,
          min_size: int = 0) -> np.ndarray:
    """``value`` as a numpy array of a kind, rank and shape, with a message naming ``name`` otherwise.

    Parameters
    ----------
    name : the argument, for messages.
    value : array-like (a list, a tuple, an array; torch tensors convert too).
    ndim : the rank, or the ranks allowed.
    shape : the size of each axis, None for any (implies ``ndim``).
    dtype : ``"real"`` (ints or floats, no bools), ``"integer"`` (ints, or floats that are whole numbers), or
        ``"uint8"`` (8-bit image values; ints or floats in 0..255 are not converted, only checked).
    finite : refuse NaN and infinities.
    min_size : fewest elements (e.g. 1: not empty).

    Raises
    ------
    TypeError : not numeric (strings, objects, None, ragged nesting, complex numbers, bools).
    ValueError : wrong rank or shape, too few elements, or non-finite values.
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of numbers; a {type(value).__name__} like this does not convert "
                        f"({err})") from None
    if arr.dtype == object:  # numbers held as Python objects (a pandas column after edits): take them as numbers
        flat = arr.ravel().tolist()
        if all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in flat):
            try:
                numeric = np.array(flat, dtype=np.float64 if any(isinstance(v, float) for v in flat) else np.int64)
            except OverflowError:
                raise ValueError(f"{name} holds numbers beyond 64 bits") from None
            arr = numeric.reshape(arr.shape)  # an empty one keeps its shape: (0, 0) is not (0,)
    if arr.dtype.kind not in "iuf":
        got = "true/false values" if arr.dtype.kind == "b" else f"{arr.dtype} values"
        raise TypeError(f"{name} must be an array of numbers, got {got} (shape {arr.shape})")
    if shape is not None:
        ndim = len(shape)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape {arr.shape}")
    if shape is not None:
        for axis, (size, want) in enumerate(zip(arr.shape, shape, strict=True)):
            if want is not None and size != want:
                expected = "(" + ", ".join("·" if s is None else str(s) for s in shape) + ")"
                raise ValueError(f"{name} must have shape {expected}, got {arr.shape} (axis {axis} is {size})")
    if arr.size < min_size:
        raise ValueError(f"{name} must hold at least {min_size} value(s), got shape {arr.shape}")
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        first = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} holds NaN or infinite values (the first at index {tuple(int(i) for i in first)})")
    if dtype == "integer" and arr.dtype.kind == "f" and arr.size and np.abs(arr).max(initial=0) > 2**53:
        raise ValueError(f"{name} holds numbers beyond 2^53, which floats cannot hold as whole numbers")
    if dtype == "integer" and arr.dtype.kind == "f" and arr.size and not np.array_equal(arr, np.round(arr)):
        first = arr.ravel()[np.flatnonzero(arr.ravel() != np.round(arr.ravel()))[0]]
        raise ValueError(f"{name} must hold whole numbers (frame numbers, counts), got {first!r}")
    if dtype == "uint8" and arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"{name} must hold 8-bit image values in 0..255, got {arr.min()}..{arr.max()}")
    return arr
