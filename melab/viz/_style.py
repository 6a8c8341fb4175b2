"""Shared figure conventions: about 6 inches wide at dpi 90, so committed notebooks stay small."""

from __future__ import annotations

import matplotlib.pyplot as plt

FIG_WIDTH = 6.0
DPI = 90


def new_figure(nrows: int = 1, ncols: int = 1, *, height: float = 3.0, **subplot_kw):
    """Return ``(fig, axes)`` sized to the house style (``FIG_WIDTH`` x ``height`` inches)."""
    return plt.subplots(nrows, ncols, figsize=(FIG_WIDTH, height), dpi=DPI, **subplot_kw)


def setup_notebook() -> None:
    """Inline figures as JPEG at the house dpi: face images compress ten times better than as PNG, and
    nbval never compares images, so committed notebooks stay small."""
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("jpeg")
    plt.rcParams["figure.dpi"] = DPI
    plt.rcParams["savefig.dpi"] = DPI
