"""The class vocabularies and protocols of ME recognition, shared by every reader, the generator and the splits.

Every protocol maps melab's emotion vocabulary (:data:`melab.data.annotations.EMOTIONS`) to the classes
a model is trained on. A label that a protocol cannot represent maps to ``None`` and the sample is left
out of that protocol.

``str3`` -- negative / positive / surprise (MEGC)
    negative = anger, contempt, disgust, fear, sadness, repression (and SMIC's "negative");
    positive = happiness (and SMIC's "positive"); surprise = surprise. This is the MEGC 2019 composite
    protocol: SAMM's 92 negatives are its anger, contempt, disgust, fear and sadness clips, and CASME II's
    repression counts as negative. "others" has no valence, so MEGC handles it per dataset
    (:data:`OTHERS_POLICY`):

    - CASME II, SAMM, SMIC (recognition on short clips, MEGC 2019): "others" clips are left out.
    - CAS(ME)^3, SAMM-LV and the synthetic corpus (spot-then-recognise on long videos, MEGC 2022 on):
      "others" stays as a fourth class, because spotted intervals must all get some label; the
      spotter's recognition head is negative, positive, surprise, others (+ neutral).
      :func:`str3_classes` gives the class list for a dataset.
    The MEGC 2019 *composite* (3DB-Combined) uses its own per-dataset table, stricter than ``str3``:
    :data:`melab.data.splits.MEGC2019_MAP` and :func:`melab.data.splits.composite_3db`.
``seven`` -- :data:`SEVEN_CLASSES`
    The seven basic emotions; others, repression and valence-only labels are left out.
``dgcm`` -- MERba's dual-granularity module
    A coarse head over :data:`COARSE_CLASSES` and a fine head over :data:`FINE_CLASSES`, both defined
    on the seven classes: anger, disgust, fear, sadness -> coarse negative (fine: itself);
    happiness -> positive; surprise -> surprise; contempt -> coarse "others" (the paper's "others
    (contempt)"). The fine label exists only for coarse negatives. :func:`dgcm_to_seven` inverts it.

This module sits below both the synthetic generator and :mod:`melab.data.splits` (LOSO folds, class weights
and the benchmark splits), which re-exports its names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from melab.data.annotations import normalize_emotion

__all__ = [
    "SEVEN_CLASSES", "COARSE_CLASSES", "FINE_CLASSES", "STR3_CLASSES", "OTHERS_POLICY", "PROTOCOLS",
    "str3_classes", "to_str3", "to_seven", "to_coarse", "to_fine", "seven_to_str3", "coarse_to_str3",
    "dgcm_to_seven", "protocol_labels", "encode_labels",
]

SEVEN_CLASSES = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
COARSE_CLASSES = ("negative", "positive", "surprise", "others")
FINE_CLASSES = ("anger", "disgust", "fear", "sadness")
STR3_CLASSES = ("negative", "positive", "surprise")
# What str3 does with "others", per dataset (see the module docstring).
OTHERS_POLICY: dict[str, Literal["drop", "class"]] = {
    "casme2": "drop", "samm": "drop", "smic": "drop",
    "casme3": "class", "samm_lv": "class", "synthetic": "class",
}
PROTOCOLS = ("str3", "seven", "coarse", "fine")

_VALENCE = {"anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative",
            "sadness": "negative", "repression": "negative", "negative": "negative",
            "happiness": "positive", "positive": "positive", "surprise": "surprise"}
_COARSE = {"anger": "negative", "disgust": "negative", "fear": "negative", "sadness": "negative",
           "happiness": "positive", "surprise": "surprise", "contempt": "others"}
_COARSE_TO_SEVEN = {"positive": "happiness", "surprise": "surprise", "others": "contempt"}


def str3_classes(dataset: str) -> tuple[str, ...]:
    """The str3 classes for ``dataset``: :data:`STR3_CLASSES`, plus ``"others"`` where MEGC keeps it."""
    return STR3_CLASSES + (("others",) if _policy(dataset) == "class" else ())


def _policy(dataset: str) -> str:
    if dataset not in OTHERS_POLICY:
        raise ValueError(f"unknown dataset {dataset!r} for str3; choose one of {', '.join(OTHERS_POLICY)}")
    return OTHERS_POLICY[dataset]


def to_str3(emotion: object, *, dataset: str) -> str | None:
    """Negative / positive / surprise of an emotion; "others" per :data:`OTHERS_POLICY` (class or None)."""
    policy, emotion = _policy(dataset), normalize_emotion(emotion)
    if emotion == "others":
        return "others" if policy == "class" else None
    return _VALENCE[emotion]


def to_seven(emotion: object) -> str | None:
    """The emotion if it is one of :data:`SEVEN_CLASSES`, else None."""
    emotion = normalize_emotion(emotion)
    return emotion if emotion in SEVEN_CLASSES else None


def to_coarse(emotion: object) -> str | None:
    """DGCM coarse class (:data:`COARSE_CLASSES`) of a seven-class emotion; None outside the seven."""
    return _COARSE.get(normalize_emotion(emotion))


def to_fine(emotion: object) -> str | None:
    """DGCM fine class (:data:`FINE_CLASSES`): the emotion itself for the four negatives, else None."""
    emotion = normalize_emotion(emotion)
    return emotion if emotion in FINE_CLASSES else None


def seven_to_str3(label: str) -> str:
    """Map a seven-class label to str3 (contempt is negative, as in MEGC 2019)."""
    if label not in SEVEN_CLASSES:
        raise ValueError(f"{label!r} is not one of the seven classes {SEVEN_CLASSES}")
    return _VALENCE[label]


def coarse_to_str3(coarse: str) -> str:
    """Map a DGCM coarse class to str3: coarse "others" is contempt, hence negative."""
    if coarse not in COARSE_CLASSES:
        raise ValueError(f"{coarse!r} is not a coarse class {COARSE_CLASSES}")
    return "negative" if coarse == "others" else coarse


def dgcm_to_seven(coarse: str, fine: str | None = None) -> str:
    """The seven-class label of a DGCM prediction: a coarse negative defers to the fine head.

    ``positive`` -> happiness, ``surprise`` -> surprise, ``others`` -> contempt, ``negative`` -> ``fine``.

    Raises
    ------
    ValueError : unknown coarse class, or a negative without a fine class from :data:`FINE_CLASSES`.
    """
    if coarse == "negative":
        if fine not in FINE_CLASSES:
            raise ValueError(f"a coarse negative needs a fine class from {FINE_CLASSES}, got {fine!r}")
        return fine
    if coarse not in _COARSE_TO_SEVEN:
        raise ValueError(f"{coarse!r} is not a coarse class {COARSE_CLASSES}")
    return _COARSE_TO_SEVEN[coarse]


def protocol_labels(emotions: pd.DataFrame | Iterable[object], protocol: str, *,
                    dataset: str | None = None) -> np.ndarray:
    """The class name of each emotion under ``protocol``, None where the protocol leaves it out.

    Parameters
    ----------
    emotions : an events table (its ``emotion`` column) or emotion labels (any spelling
        :func:`~melab.data.annotations.normalize_emotion` knows).
    protocol : ``"str3"``, ``"seven"``, ``"coarse"`` or ``"fine"`` (the last two: DGCM's heads).
    dataset : required for ``"str3"`` (it decides what happens to "others").

    Returns
    -------
    ndarray of object, shape (N,): class names or None.
    """
    values = emotions["emotion"] if isinstance(emotions, pd.DataFrame) else emotions
    if protocol == "str3":
        if dataset is None:
            raise ValueError("protocol 'str3' needs dataset= (it decides whether 'others' is a class)")
        mapped = [to_str3(e, dataset=dataset) for e in values]
    elif protocol in ("seven", "coarse", "fine"):
        mapped = [{"seven": to_seven, "coarse": to_coarse, "fine": to_fine}[protocol](e) for e in values]
    else:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    return np.array(mapped, dtype=object)


def encode_labels(labels: Iterable[str | None], classes: Sequence[str]) -> np.ndarray:
    """Class indices into ``classes`` (int64), -1 for None (a sample the protocol leaves out)."""
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for label in labels:
        if label is None:
            out.append(-1)
        elif label in index:
            out.append(index[label])
        else:
            raise ValueError(f"label {label!r} is not in the classes {tuple(classes)}")
    return np.asarray(out, dtype=np.int64)
