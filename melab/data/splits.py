"""Leave-one-subject-out folds, class weights, and the benchmark splits of ME recognition.

The class protocols (``str3``, ``seven``, DGCM's ``coarse`` and ``fine``) and their vocabularies live in
:mod:`melab.data.labels`, below both this module and the synthetic generator; their names are re-exported here.

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
from typing import NamedTuple

import numpy as np
import pandas as pd

from melab.data.annotations import DFME_SETS
from melab.data.labels import (
    COARSE_CLASSES,
    FINE_CLASSES,
    OTHERS_POLICY,
    PROTOCOLS,
    SEVEN_CLASSES,
    STR3_CLASSES,
    coarse_to_str3,
    dgcm_to_seven,
    encode_labels,
    protocol_labels,
    seven_to_str3,
    str3_classes,
    to_coarse,
    to_fine,
    to_seven,
    to_str3,
)

__all__ = [
    "SEVEN_CLASSES", "COARSE_CLASSES", "FINE_CLASSES", "STR3_CLASSES", "OTHERS_POLICY", "PROTOCOLS",
    "Fold", "loso_folds", "str3_classes", "to_str3", "to_seven", "to_coarse", "to_fine",
    "seven_to_str3", "coarse_to_str3", "dgcm_to_seven", "protocol_labels", "encode_labels", "class_weights",
    "MEGC2019_MAP", "MEGC2019_COUNTS", "COMPOSITE_DATASETS", "composite_3db", "composite_counts",
    "DFME_PUBLIC_COUNTS", "DfmeSplit", "dfme_public_split", "dfme_counts",
]


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
    from sklearn.model_selection import LeaveOneGroupOut  # here: every reader imports this module, few need folds

    subjects = data["subject"] if isinstance(data, pd.DataFrame) else data
    groups = np.asarray([str(s) for s in subjects])
    if len(np.unique(groups)) < 2:
        raise ValueError(f"LOSO needs at least two subjects, got {sorted(set(groups.tolist()))}")
    splits = LeaveOneGroupOut().split(np.zeros(len(groups)), groups=groups)
    return [Fold(str(groups[test[0]]), train.astype(np.int64), test.astype(np.int64))
            for train, test in splits]


def class_weights(labels: Iterable[str | int | None], classes: Sequence[str | int]) -> np.ndarray:
    """Balanced class weights ``n_samples / (n_present_classes * count)``, one per class, float64.

    Computed by scikit-learn's ``compute_class_weight("balanced")`` over the classes present in
    ``labels``; None and -1 entries are ignored. A class absent from ``labels`` gets weight 0: it has no
    sample to weigh (e.g. a LOSO training fold without that class).
    """
    from sklearn.utils.class_weight import compute_class_weight  # here, as in loso_folds

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
