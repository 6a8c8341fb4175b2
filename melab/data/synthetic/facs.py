"""FACS action units as displacement fields, the emotions' AU prototypes, and laterality.

An action unit (AU) is a smooth displacement field anchored on iBUG-68 landmarks: a sum of Gaussians, each
at a landmark (plus an offset in g, half the inner-eye-corner distance) pushing in one direction. The fields
themselves are built on a subject's face in :mod:`melab.data.synthetic.face`; this module holds the tables:
which AUs exist (:data:`AU_TABLE`, and :data:`EXTRA_AU_TABLE` for the realistic corpus's unlabelled movements),
which AUs make up each emotion (:data:`EMOTION_AUS`, :data:`AU_PRESENCE`), and the right/left split of every AU
(:data:`LATERAL_CODES`).
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------------------------------
# Action units: anchors (landmark index, offset in g, direction) and a Gaussian falloff (sigma, in g).
# Directions are in image coordinates (x right, y down); each AU field is normalised to a peak of 1 px.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionUnit:
    """One FACS action unit as a smooth displacement field anchored on landmarks."""

    code: str
    name: str
    anchors: tuple[tuple[int, tuple[float, float], tuple[float, float]], ...]
    sigma: float


def _mirror(anchors):
    """Left-right mirror of a set of anchors on the subject's right side (iBUG index symmetry)."""
    pairs = [(i, 16 - i) for i in range(17)] + [(17 + i, 26 - i) for i in range(5)] + [
        (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46), (31, 35), (32, 34), (33, 33),
        (48, 54), (49, 53), (50, 52), (51, 51), (55, 59), (56, 58), (57, 57), (60, 64), (61, 63), (62, 62),
        (65, 67), (66, 66), (27, 27), (28, 28), (29, 29), (30, 30)]
    mirror_index = {**dict(pairs), **{b: a for a, b in pairs}}
    return tuple((mirror_index[i], (-ox, oy), (-dx, dy)) for i, (ox, oy), (dx, dy) in anchors)


def _both(anchors):
    return tuple(anchors) + _mirror(anchors)


AU_TABLE: dict[str, ActionUnit] = {
    au.code: au
    for au in [
        ActionUnit("AU1", "inner brow raiser", _both([(21, (0, 0), (0, -1)), (20, (0, 0), (0, -0.6))]), 0.6),
        ActionUnit("AU2", "outer brow raiser", _both([(17, (0, 0), (0, -1)), (18, (0, 0), (0, -0.8))]), 0.6),
        ActionUnit("AU4", "brow lowerer",
                   _both([(21, (0, 0), (0.55, 1)), (20, (0, 0), (0.35, 0.8)), (19, (0, 0), (0.2, 0.5))]), 0.6),
        ActionUnit("AU5", "upper lid raiser", _both([(37, (0, 0), (0, -1)), (38, (0, 0), (0, -1))]), 0.35),
        ActionUnit("AU6", "cheek raiser",
                   _both([(41, (0, 1.1), (0, -1)), (40, (0, 0), (0, -0.4)), (41, (0, 0), (0, -0.4))]), 0.7),
        ActionUnit("AU7", "lid tightener", _both([(40, (0, 0), (0, -1)), (41, (0, 0), (0, -1))]), 0.35),
        ActionUnit("AU9", "nose wrinkler",
                   _both([(31, (0, -0.2), (0.2, -1)), (29, (-0.4, 0), (0.1, -0.6)), (21, (0, 0), (0.2, 0.4))]),
                   0.5),
        ActionUnit("AU10", "upper lip raiser",
                   _both([(50, (0, 0), (0, -1)), (49, (0, 0), (0, -0.8))]) + ((51, (0, 0), (0, -1)),), 0.5),
        ActionUnit("AU12", "lip corner puller", _both([(48, (0, 0), (-0.7, -1))]), 0.6),
        ActionUnit("AU14", "dimpler (left side)", ((54, (0, 0), (1, -0.3)), (54, (0.4, 0), (0.6, -0.2))), 0.5),
        ActionUnit("AU15", "lip corner depressor", _both([(48, (0, 0), (-0.2, 1))]), 0.6),
        ActionUnit("AU17", "chin raiser", ((57, (0, 0), (0, -1)), (8, (0, -0.5), (0, -0.8))), 0.6),
        ActionUnit("AU20", "lip stretcher", _both([(48, (0, 0), (-1, 0.2))]), 0.6),
        ActionUnit("AU23", "lip tightener",
                   _both([(48, (0, 0), (0.6, 0)), (50, (0, 0), (0, 0.4)), (58, (0, 0), (0, -0.4))]), 0.4),
        ActionUnit("AU25", "lips part", ((57, (0, 0), (0, 1)), (66, (0, 0), (0, 1))), 0.45),
        ActionUnit("AU26", "jaw drop", ((57, (0, 0), (0, 1)), (8, (0, 0), (0, 1)), (8, (0, -1.2), (0, 1))), 1.0),
        ActionUnit("AU45", "blink", _both([(37, (0, 0), (0, 1)), (38, (0, 0), (0, 1))]), 0.33),
    ]
}
AU_CODES: tuple[str, ...] = tuple(AU_TABLE)

EMOTION_AUS: dict[str, tuple[str, ...]] = {
    "happiness": ("AU6", "AU12"),
    "sadness": ("AU1", "AU4", "AU15"),
    "surprise": ("AU1", "AU2", "AU5", "AU26"),
    "fear": ("AU1", "AU2", "AU4", "AU5", "AU20"),
    "anger": ("AU4", "AU5", "AU7", "AU23"),
    "disgust": ("AU9", "AU10", "AU15"),
    "contempt": ("AU12", "AU14"),
}
# AU15 joins disgust in about half of the events ("9+10(+15)"); contempt's AU12 is unilateral via AU14.
_OPTIONAL_AUS = {"disgust": ("AU15",)}
_OTHERS_POOL = ("AU1", "AU2", "AU4", "AU7", "AU9", "AU10", "AU12", "AU15", "AU17", "AU20", "AU23", "AU25")

# Action units that only the realistic corpus moves (unlabelled movements): appended after AU_CODES, so an easy
# intensity table (T, 17) keeps its meaning. The eye-turn fields move the irises (centre about 1.1 g inside the
# outer eye corner); FACS codes 61/62 are "eyes turn left/right" (the subject's left is image right).
EXTRA_AU_TABLE: dict[str, ActionUnit] = {
    au.code: au
    for au in [
        ActionUnit("AU24", "lip pressor", _both([(50, (0, 0), (0, 0.8)), (58, (0, 0), (0, -0.8))])
                   + ((51, (0, 0), (0, 1)), (57, (0, 0), (0, -1))), 0.4),
        ActionUnit("AU38", "nostril dilator", _both([(31, (0, 0), (-1, 0)), (31, (0, -0.3), (-0.6, 0))]), 0.3),
        ActionUnit("AU61", "eyes turn left", ((36, (1.1, 0), (1, 0)), (45, (-1.1, 0), (1, 0))), 0.3),
        ActionUnit("AU62", "eyes turn right", ((36, (1.1, 0), (-1, 0)), (45, (-1.1, 0), (-1, 0))), 0.3),
    ]
}
ALL_AU_CODES: tuple[str, ...] = AU_CODES + tuple(EXTRA_AU_TABLE)
_ALL_AUS = {**AU_TABLE, **EXTRA_AU_TABLE}
# Realistic intensities drive each AU's field on the subject's right half and on the left half separately
# (columns R1.. then L1..), so that an event can be asymmetric or unilateral.
LATERAL_CODES: tuple[str, ...] = tuple(f"R{c[2:]}" for c in ALL_AU_CODES) + tuple(f"L{c[2:]}" for c in ALL_AU_CODES)


NEGATIVE_EMOTIONS = ("anger", "disgust", "fear", "sadness")

# How often each prototype AU of an emotion shows up in an event of that emotion: the core AU most often, as in
# the FACS coding of CASME II and SAMM, where few MEs carry every AU of their emotion's prototype.
AU_PRESENCE: dict[str, dict[str, float]] = {
    "happiness": {"AU6": 0.7, "AU12": 0.9},
    "sadness": {"AU1": 0.75, "AU4": 0.8, "AU15": 0.7},
    "surprise": {"AU1": 0.8, "AU2": 0.8, "AU5": 0.6, "AU26": 0.7},
    "fear": {"AU1": 0.7, "AU2": 0.65, "AU4": 0.7, "AU5": 0.6, "AU20": 0.75},
    "anger": {"AU4": 0.9, "AU5": 0.6, "AU7": 0.75, "AU23": 0.7},
    "disgust": {"AU9": 0.8, "AU10": 0.75, "AU15": 0.6},
    "contempt": {"AU12": 0.7, "AU14": 0.9},
}
_STRAY_POOL = tuple(c for c in AU_CODES if c != "AU45")
