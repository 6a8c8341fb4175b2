"""Leave-one-subject-out folds and the class protocols of ME recognition.

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
    :data:`MEGC2019_MAP` and :func:`composite_3db`.
``seven`` -- :data:`SEVEN_CLASSES`
    The seven basic emotions; others, repression and valence-only labels are left out.
``dgcm`` -- MERba's dual-granularity module
    A coarse head over :data:`COARSE_CLASSES` and a fine head over :data:`FINE_CLASSES`, both defined
    on the seven classes: anger, disgust, fear, sadness -> coarse negative (fine: itself);
    happiness -> positive; surprise -> surprise; contempt -> coarse "others" (the paper's "others
    (contempt)"). The fine label exists only for coarse negatives. :func:`dgcm_to_seven` inverts it.

Benchmarks on real data
-----------------------
:func:`composite_3db` builds the MEGC 2019 composite of CASME II, SAMM and SMIC-HS (LOSO over its
subjects, prefixed per dataset); :func:`dfme_public_split` reads DFME-public's fixed training set and
test sets A and B from the labels. :data:`MEGC2019_COUNTS` and :data:`DFME_PUBLIC_COUNTS` are the
published sample counts, and :func:`composite_counts` / :func:`dfme_counts` count a copy the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.utils.class_weight import compute_class_weight

from melab.data.annotations import DFME_SETS, normalize_emotion

__all__ = [
    "SEVEN_CLASSES", "COARSE_CLASSES", "FINE_CLASSES", "STR3_CLASSES", "OTHERS_POLICY", "PROTOCOLS",
    "Fold", "loso_folds", "str3_classes", "to_str3", "to_seven", "to_coarse", "to_fine",
    "seven_to_str3", "coarse_to_str3", "dgcm_to_seven", "protocol_labels", "encode_labels", "class_weights",
    "MEGC2019_MAP", "MEGC2019_COUNTS", "COMPOSITE_DATASETS", "composite_3db", "composite_counts",
    "DFME_PUBLIC_COUNTS", "DfmeSplit", "dfme_public_split", "dfme_counts",
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


class Fold(NamedTuple):
    """One LOSO fold: the held-out subject and the 0-based positions of the train and test samples."""

    subject: str
    train: np.ndarray
    test: np.ndarray


def loso_folds(data: pd.DataFrame | Sequence[str]) -> list[Fold]:
    """Leave-one-subject-out folds (scikit-learn's ``LeaveOneGroupOut``), one per subject.

    Parameters
    ----------
    data : an events table (its ``subject`` column is used) or one subject name per sample.

    Returns
    -------
    list of :class:`Fold`, ordered by subject name; ``train`` and ``test`` are int64 positions (use
    ``events.iloc[fold.test]``). Every sample is in exactly one test set.

    Raises
    ------
    ValueError : fewer than two subjects (no fold could train on anyone).
    """
    subjects = data["subject"] if isinstance(data, pd.DataFrame) else data
    groups = np.asarray([str(s) for s in subjects])
    if len(np.unique(groups)) < 2:
        raise ValueError(f"LOSO needs at least two subjects, got {sorted(set(groups.tolist()))}")
    splits = LeaveOneGroupOut().split(np.zeros(len(groups)), groups=groups)
    return [Fold(str(groups[test[0]]), train.astype(np.int64), test.astype(np.int64))
            for train, test in splits]


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


def class_weights(labels: Iterable[str | int | None], classes: Sequence[str | int]) -> np.ndarray:
    """Balanced class weights ``n_samples / (n_present_classes * count)``, one per class, float64.

    Computed by scikit-learn's ``compute_class_weight("balanced")`` over the classes present in
    ``labels``; None and -1 entries are ignored. A class absent from ``labels`` gets weight 0: it has no
    sample to weigh (e.g. a LOSO training fold without that class).
    """
    present = [label for label in labels
               if label is not None and not (isinstance(label, int | np.integer) and label < 0)]
    unknown = set(present) - set(classes)
    if unknown:
        raise ValueError(f"labels {sorted(map(str, unknown))} are not in the classes {tuple(classes)}")
    if not present:
        raise ValueError("no labelled samples: cannot weigh classes")
    seen = [c for c in classes if c in set(present)]
    weights = compute_class_weight("balanced", classes=np.asarray(seen), y=np.asarray(present))
    by_class = dict(zip(seen, weights, strict=True))
    return np.array([by_class.get(c, 0.0) for c in classes], dtype=np.float64)



# ---- the MEGC 2019 composite (3DB-Combined) -------------------------------------------------------

COMPOSITE_DATASETS = ("casme2", "samm", "smic")
# Emotion -> class of the MEGC 2019 composite, per source dataset; an emotion not listed is left out.
MEGC2019_MAP: dict[str, dict[str, str]] = {
    "casme2": {"happiness": "positive", "disgust": "negative", "repression": "negative", "surprise": "surprise"},
    "samm": {"happiness": "positive", "anger": "negative", "contempt": "negative", "disgust": "negative",
             "fear": "negative", "sadness": "negative", "surprise": "surprise"},
    "smic": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
}
# Published samples per class and subjects (MEGC 2019, See et al., FG 2019; MERba's Table III).
MEGC2019_COUNTS = pd.DataFrame(
    [("casme2", 88, 32, 25, 145, 24), ("samm", 92, 26, 15, 133, 28), ("smic", 70, 51, 43, 164, 16)],
    columns=["dataset", "negative", "positive", "surprise", "total", "subjects"]).set_index("dataset")
# MEGC 2019's published sample list (442 samples: See et al., FG 2019; the list is public as
# combined_3_class2_for_optical_flow.csv in HTNet's repository, github.com/wangzhifengharrison/HTNet) is
# :data:`MEGC2019_MAP` applied to the three datasets, except for these CASME II samples, which the list leaves
# out. Checked against that list (by sample name and class): with these exclusions melab gives its 145 CASME II
# samples (CASME2-coding-20190701.xlsx) and its 133 SAMM samples (SAMM_Micro_FACS_Codes_v2.xlsx, with the two
# rows whose apex lies outside the interval kept), and every SMIC-HS clip is in the list.
MEGC2019_EXCLUDE: tuple[tuple[str, str, str], ...] = (
    ("casme2", "4", "EP12_01f"),   # disgust in CASME II's coding; not in MEGC 2019's list
    ("casme2", "5", "EP09_05f"),   # disgust; not in the list
    ("casme2", "24", "EP07_01"),   # surprise in the 2019-07-01 coding; not in the list
    ("casme2", "24", "EP07_04f"),  # surprise in the 2019-07-01 coding; not in the list
    ("casme2", "24", "EP10_03"),   # surprise in the 2019-07-01 coding; not in the list
)
_SUBJECT_NAME = {"casme2": lambda s: f"casme2_sub{int(s):02d}", "samm": lambda s: f"samm_{s}",
                 "smic": lambda s: f"smic_{s}"}
COMPOSITE_COLUMNS = ["dataset", "subject", "source_subject", "video", "onset", "apex", "offset", "emotion",
                     "label", "apex_labelled", "fps", "n_frames", "path"]


def composite_3db(*, casme2=None, samm=None, smic=None,
                  exclude: Iterable[tuple[str, str, str]] = MEGC2019_EXCLUDE,
                  include: Iterable[tuple[str, str, str]] = (),
                  labels: Mapping[str, str | os.PathLike] | None = None,
                  frames: Mapping[str, str | os.PathLike] | None = None,
                  drop_malformed: bool = False) -> pd.DataFrame:
    """The MEGC 2019 composite database (3DB-Combined): CASME II + SAMM + SMIC-HS in three classes.

    Class mapping (:data:`MEGC2019_MAP`; every other emotion is left out)

    =========  ======================================  ==========  ==========  ===========
    dataset    negative                                positive    surprise    left out
    =========  ======================================  ==========  ==========  ===========
    CASME II   disgust, repression                     happiness   surprise    others, fear, sadness
    SAMM       anger, contempt, disgust, fear, sadness happiness   surprise    others
    SMIC-HS    negative                                positive    surprise    (none)
    =========  ======================================  ==========  ==========  ===========

    Subjects are prefixed per dataset so that LOSO never mixes two people with one number:
    ``casme2_sub01``, ``samm_006``, ``smic_s1``. :func:`loso_folds` on the result gives one fold per
    subject: 68 on the full composite.

    The published sample list
        MEGC 2019's list (442 samples: CASME II 145, SAMM 133, SMIC-HS 164, of 24 + 28 + 16 = 68 subjects,
        :data:`MEGC2019_COUNTS`) is public; melab builds exactly its samples by rule: the mapping above, minus
        the five CASME II samples of :data:`MEGC2019_EXCLUDE` (named there, with why). SMIC is the SMIC-HS clip
        release whose class is its folder (``HS/s<n>/micro/<class>/<clip>/``), read with
        :func:`melab.data.annotations.read_smic_folders` when the folder holds it; every clip is in the list.
        MEGC 2019 lists two SAMM samples whose apex lies outside their onset..offset in
        ``SAMM_Micro_FACS_Codes_v2.xlsx`` (``028_4_1``, ``032_3_1``): the composite keeps them with an unknown
        apex (``bad_apex="unknown"``, an :class:`~melab.data.annotations.AnnotationWarning` each), which MERba's
        run then detects from optical flow. :func:`composite_counts` compares what was built with the list's counts.

    Parameters
    ----------
    casme2, samm, smic : :class:`melab.data.Dataset` of that kind, a dataset folder, or None to leave the
        dataset out (at least one is needed).
    exclude : ``(dataset, source subject, video)`` triples to leave out; default :data:`MEGC2019_EXCLUDE`, ``()``
        keeps every mapped sample.
    include : triples of ``exclude`` to keep after all.
    labels, frames : per dataset, the ``labels=`` / ``frames=`` of its :class:`~melab.data.Dataset` (folders
        given as paths), e.g. ``{"casme2": "/data/CASME2_label_Ver_2.xls"}``.
    drop_malformed : the datasets' ``drop_malformed`` (folders given as paths).

    Returns
    -------
    DataFrame, one row per sample: ``dataset, subject`` (prefixed), ``source_subject, video``,
    ``onset, apex, offset`` (0-based positions in the clip's own frames, as :class:`~melab.data.VideoItem`
    gives them), ``emotion`` (the dataset's), ``label`` (negative / positive / surprise),
    ``apex_labelled`` (False where the apex is not known: SMIC, and the two SAMM rows above; see
    :func:`melab.clips.detect_apex`), ``fps, n_frames, path`` (the clip's image folder).
    """
    from melab.data.annotations import smic_hs_clip_folders
    from melab.data.dataset import Dataset

    given = {"casme2": casme2, "samm": samm, "smic": smic}
    if all(v is None for v in given.values()):
        raise ValueError("composite_3db needs at least one of casme2=, samm=, smic= (a Dataset or a folder)")
    labels, frames = dict(labels or {}), dict(frames or {})
    unknown = (set(labels) | set(frames)) - set(COMPOSITE_DATASETS)
    if unknown:
        raise ValueError(f"labels= and frames= are keyed by {', '.join(COMPOSITE_DATASETS)}; got {sorted(unknown)}")
    excluded = {tuple(map(str, t)) for t in exclude} - {tuple(map(str, t)) for t in include}
    rows = []
    for name, source in given.items():
        if source is None:
            continue
        if isinstance(source, Dataset):
            dataset = source
        else:
            root = os.fspath(source)
            label = labels.get(name)
            if name == "smic" and label is None and smic_hs_clip_folders(frames.get(name, root)):
                label = "folders"  # MEGC 2019's SMIC: the SMIC-HS clips, labelled by their folders
            dataset = Dataset(root, kind=name, labels=label, frames=frames.get(name), drop_malformed=drop_malformed,
                              bad_apex="unknown")
        if dataset.kind != name:
            raise ValueError(f"{name}= got a {dataset.kind!r} dataset ({dataset.root}); pass the {name} one")
        for item in dataset:
            known = item.events["apex_labelled"] if "apex_labelled" in item.events.columns else \
                pd.Series(name != "smic", index=item.events.index)
            for ev, apex_known in zip(item.events.itertuples(index=False), known, strict=True):
                label = MEGC2019_MAP[name].get(ev.emotion)
                if label is None or (name, str(item.subject), str(item.video)) in excluded:
                    continue
                rows.append((name, _SUBJECT_NAME[name](str(item.subject)), str(item.subject), str(item.video),
                             int(ev.onset), int(ev.apex), int(ev.offset), ev.emotion, label,
                             bool(apex_known) and name != "smic", float(item.fps), int(item.n_frames),
                             str(item.path)))
    samples = pd.DataFrame(rows, columns=COMPOSITE_COLUMNS)
    return samples.astype({"onset": "int64", "apex": "int64", "offset": "int64", "apex_labelled": bool,
                           "n_frames": "int64"})


def composite_counts(samples: pd.DataFrame) -> pd.DataFrame:
    """Samples per class, total and subjects of each dataset in a composite, beside the published numbers.

    Returns
    -------
    DataFrame indexed by dataset (those present, then ``all``): ``negative, positive, surprise, total,
    subjects`` as counted, and ``published_total``, ``published_subjects`` (:data:`MEGC2019_COUNTS`).
    """
    table = pd.crosstab(samples["dataset"], samples["label"]).reindex(columns=list(STR3_CLASSES), fill_value=0)
    table["total"] = table.sum(axis=1)
    table["subjects"] = samples.groupby("dataset")["subject"].nunique()
    table = table.reindex([d for d in COMPOSITE_DATASETS if d in table.index])
    table.loc["all"] = table.sum()
    published = MEGC2019_COUNTS.reindex(table.index[:-1])
    table["published_total"] = list(published["total"]) + [int(published["total"].sum())]
    table["published_subjects"] = list(published["subjects"]) + [int(published["subjects"].sum())]
    table.columns.name = None
    return table.rename_axis("dataset").astype("int64")


# ---- DFME-public: the fixed subject-independent split ----------------------------------------------

# MERba's Table II: DFME-public samples per class in the training set and test sets A and B.
DFME_PUBLIC_COUNTS = pd.DataFrame(
    [("train", 161, 100, 548, 265, 206, 278, 298, 1856),
     ("test_a", 39, 34, 129, 62, 63, 46, 101, 474),
     ("test_b", 41, 37, 58, 38, 42, 35, 48, 299)],
    columns=["set", *SEVEN_CLASSES, "total"]).set_index("set")


class DfmeSplit(NamedTuple):
    """Subjects of the training set and of the two test sets (sorted, pairwise disjoint)."""

    train: tuple[str, ...]
    test_a: tuple[str, ...]
    test_b: tuple[str, ...]

    def masks(self, subjects: Sequence[str]) -> dict[str, np.ndarray]:
        """Boolean masks ``{"train", "test_a", "test_b"}`` over per-sample subject names (N,)."""
        subjects = np.asarray([str(s) for s in subjects])
        return {name: np.isin(subjects, part) for name, part in self._asdict().items()}


def dfme_public_split(events: pd.DataFrame) -> DfmeSplit:
    """DFME-public's published split, read from the labels' ``set`` column (:func:`~melab.data.read_dfme`).

    The split is the release's own (training set, test set A, test set B; the CCAC 2024 page states that
    no participant is in two of them), so it is reproduced exactly, with no randomness.

    Raises
    ------
    ValueError : a sample without a set (the labels did not say; pass ``split=`` to the reader), or a
        subject in two sets (the message names it).
    """
    if "set" not in events.columns:
        raise ValueError("the events have no 'set' column; read them with melab.data.read_dfme")
    unknown = events[~events["set"].isin(DFME_SETS)]
    if len(unknown):
        first = unknown.iloc[0]
        raise ValueError(f"{len(unknown)} DFME sample(s) belong to no set (e.g. {first.subject}/{first.video}); "
                         "the label file needs a Set column, or a name with train / test_a / test_b, or split=")
    parts = {s: sorted(set(events.loc[events["set"] == s, "subject"].astype(str))) for s in DFME_SETS}
    for i, a in enumerate(DFME_SETS):
        for b in DFME_SETS[i + 1:]:
            shared = sorted(set(parts[a]) & set(parts[b]))
            if shared:
                raise ValueError(f"subject(s) {', '.join(shared[:5])} appear in both {a} and {b}; DFME-public's "
                                 "sets are subject-independent, so the labels are mixed up")
    return DfmeSplit(*(tuple(parts[s]) for s in DFME_SETS))


def dfme_counts(events: pd.DataFrame) -> pd.DataFrame:
    """Samples per class and set of DFME labels, in the shape of :data:`DFME_PUBLIC_COUNTS` (plus ``subjects``)."""
    table = pd.crosstab(events["set"], events["emotion"]).reindex(index=list(DFME_SETS), columns=list(SEVEN_CLASSES),
                                                                  fill_value=0)
    table["total"] = table.sum(axis=1)
    table["subjects"] = events.groupby("set")["subject"].nunique().reindex(table.index, fill_value=0)
    table.columns.name = None
    return table.rename_axis("set").astype("int64")
