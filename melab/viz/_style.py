"""Shared figure conventions: about 6 inches wide, text at least 9 pt, line and matrix figures as PNG at 110 dpi
(sharp text and underscores on a projector), photographs of faces and images of measured fields (flow colour maps)
as JPEG at 110 dpi (several times smaller than PNG),
so committed notebooks stay small and every label stays readable at the committed size.

Importing :mod:`melab.viz` applies :data:`RC` to matplotlib's defaults once; the plot functions then give no font
size below :data:`MIN_FONT_PT` (tests check every text of every figure). A plot function whose figure is mostly a
photograph marks it with :func:`mark_photo`; :func:`setup_notebook` makes the notebook embed each figure in the
format its kind calls for.
"""

from __future__ import annotations

import base64
import io
import weakref

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

FIG_WIDTH = 6.0
DPI = 110
JPEG_QUALITY = 85
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

_PHOTOS: weakref.WeakSet = weakref.WeakSet()


def new_figure(nrows: int = 1, ncols: int = 1, *, height: float = 3.0, **subplot_kw):
    """Return ``(fig, axes)`` sized to the house style (``FIG_WIDTH`` x ``height`` inches)."""
    return plt.subplots(nrows, ncols, figsize=(FIG_WIDTH, height), dpi=DPI, **subplot_kw)


def mark_photo(fig: Figure) -> Figure:
    """Mark ``fig`` as mostly a photograph (faces): a notebook embeds it as JPEG, not PNG."""
    _PHOTOS.add(fig)
    return fig


def is_photo(fig: Figure) -> bool:
    """Whether ``fig`` was marked by :func:`mark_photo`."""
    return fig in _PHOTOS


def png_bytes(fig: Figure) -> bytes:
    """``fig`` as a PNG at :data:`DPI` with a 256-colour palette: line, text and matrix figures look the same as in
    full colour and take about half the bytes (the dpi is kept in the file's pHYs chunk)."""
    from IPython.core.pylabtools import print_figure
    from PIL import Image

    image = Image.open(io.BytesIO(print_figure(fig, "png", dpi=DPI))).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True, dpi=(DPI, DPI))
    return out.getvalue()


def _png(fig: Figure) -> str | None:
    return None if is_photo(fig) else base64.b64encode(png_bytes(fig)).decode("ascii")


def _jpeg(fig: Figure) -> tuple[str, dict] | None:
    from IPython.core.pylabtools import print_figure

    if not is_photo(fig):
        return None
    data = print_figure(fig, "jpeg", base64=True, dpi=DPI, pil_kwargs={"quality": JPEG_QUALITY})
    return data, {"photo": True}  # the output says why it is a JPEG: tests/test_lessons.py checks it


def setup_notebook() -> None:
    """Embed each figure in one format: PNG at :data:`DPI` for lines, text and matrices, JPEG at :data:`DPI` for
    the figures marked as photographs. nbval never compares images, so committed notebooks only carry their size."""
    from IPython import get_ipython
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    plt.rcParams.update(RC)
    shell = get_ipython()
    if shell is None:  # a plain Python session: nothing is embedded
        return
    set_matplotlib_formats("png", "jpeg")  # both formatters on, then each declines the other kind of figure
    formatters = shell.display_formatter.formatters
    formatters["image/png"].for_type(Figure, _png)
    formatters["image/jpeg"].for_type(Figure, _jpeg)
