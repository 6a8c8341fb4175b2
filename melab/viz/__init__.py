"""Every plot the notebooks show. Each function returns a matplotlib Figure with a title, labels and units.

One module per topic; every plot is also a name of this package (``viz.plot_flow``), imported when first used,
so that importing one topic (``melab.viz.spot`` for ``melab spot --plot``) does not import the others (the
training plots import :mod:`melab.train`). A name two topics share is the later topic's, in the order below.
"""

import importlib

from melab.viz._style import is_photo, mark_photo, new_figure, setup_notebook

# topic -> its plots (the topic module's __all__; tests/test_imports.py checks that they agree)
_TOPICS = {
    "confusion": ("plot_confusion", "plot_confusion_diff", "plot_per_class"),
    "decode": ("plot_timeline", "plot_baseline_vs_spotter", "plot_sensitivity", "plot_window_iou"),
    "difficulty": ("plot_amplitude_overlap", "plot_event_motion", "plot_duration_amplitude", "motion_group"),
    "effects": ("plot_paired_effect",),
    "flow": ("plot_face_rois", "plot_flow", "plot_flow_methods", "plot_flow_quiver", "plot_head_motion",
             "plot_onset_apex", "plot_roi_series", "plot_stitching"),
    "scan": ("plot_scan_paths", "plot_scan_step", "plot_state_decay", "plot_windows"),
    "spot": ("plot_spotting",),
    "synthetic": ("subject_gallery", "contact_sheet", "plot_au_field", "plot_event_timeline",
                  "plot_displacement_over_time", "plot_frames"),
    "train": ("plot_history", "plot_spot_scores", "plot_windows"),
}
_WHERE = {name: topic for topic, names in _TOPICS.items() for name in names}  # later topics win

__all__ = ["is_photo", "mark_photo", "new_figure", "setup_notebook", *_WHERE]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    elif name in _TOPICS:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_TOPICS})
