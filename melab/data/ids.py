"""Identifiers of subjects and videos, compared the way the datasets write them.

One subject is ``01`` in one file and ``1`` in another (CASME II's ``sub01`` folders against its
spreadsheet's ``1``, SAMM's ``006`` against ``6``); a video is ``EP02_01f`` in one file and ``ep02_01f`` in
another. Wherever two tables (or a table and a flag) are joined on such a name, both sides go through
:func:`normalise_id`, so the same thing matches whatever its spelling, and a name that still matches nothing
is reported with both spellings (:func:`spellings`). The display keeps each file's own spelling.

This module imports nothing from melab, so every reader and every scorer can use it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

__all__ = ["normalise_id", "spellings"]

_WHOLE = re.compile(r"[+-]?\d+(\.0*)?")


def normalise_id(value: object) -> str:
    """The comparable form of a subject or video name.

    Surrounding spaces are dropped; a whole number loses its leading zeros and a ``.0`` that a spreadsheet
    or pandas added (``"01"``, ``1``, ``1.0`` and ``" 1 "`` are all ``"1"``); any other name is compared
    without case (``"EP01_01"`` is ``"ep01_01"``). Blank and missing values (None, NaN) are ``""``.

    Examples
    --------
    >>> normalise_id("007"), normalise_id(7.0), normalise_id(" Sub01 ")
    ('7', '7', 'sub01')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip()
    if _WHOLE.fullmatch(text):
        return str(int(text.split(".")[0]))
    return text.casefold()


def spellings(values: Iterable[object], limit: int = 3) -> str:
    """A few distinct values as written, for a message: ``'01', '02', '03', ...``."""
    distinct = sorted({str(v) for v in values})
    shown = ", ".join(repr(v) for v in distinct[:limit])
    return shown + (", ..." if len(distinct) > limit else "")
