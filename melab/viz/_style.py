"""Shared figure conventions: about 6 inches wide at dpi 90, so committed notebooks stay small."""

from __future__ import annotations

import matplotlib.pyplot as plt

FIG_WIDTH = 6.0
DPI = 90


def new_figure(nrows: int = 1, ncols: int = 1, *, height: float = 3.0, **subplot_kw):
    """Return ``(fig, axes)`` sized to the house style (``FIG_WIDTH`` x ``height`` inches)."""
    return plt.subplots(nrows, ncols, figsize=(FIG_WIDTH, height), dpi=DPI, **subplot_kw)
