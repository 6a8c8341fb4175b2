"""Shared figure conventions: about 6 inches wide at dpi 90, text at least 9 pt, so committed notebooks stay small
and every label stays readable at the committed size.

Importing :mod:`melab.viz` applies :data:`RC` to matplotlib's defaults once; the plot functions then give no font
size below :data:`MIN_FONT_PT` (tests check every text of every figure).
"""

from __future__ import annotations

import matplotlib.pyplot as plt

FIG_WIDTH = 6.0
DPI = 90
MIN_FONT_PT = 9.0
TITLE_PT = 10.0

RC = {
    "font.size": MIN_FONT_PT,
    "axes.titlesize": TITLE_PT,
    "axes.labelsize": MIN_FONT_PT,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": TITLE_PT,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}
plt.rcParams.update(RC)


def new_figure(nrows: int = 1, ncols: int = 1, *, height: float = 3.0, **subplot_kw):
    """Return ``(fig, axes)`` sized to the house style (``FIG_WIDTH`` x ``height`` inches)."""
    return plt.subplots(nrows, ncols, figsize=(FIG_WIDTH, height), dpi=DPI, **subplot_kw)


def setup_notebook() -> None:
    """Inline figures as JPEG at the house dpi: face images compress ten times better than as PNG, and
    nbval never compares images, so committed notebooks stay small."""
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("jpeg")
    plt.rcParams.update(RC)
