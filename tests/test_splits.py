"""LOSO folds, class protocols and class weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from melab.data.annotations import EMOTIONS
from melab.data.splits import (
    COARSE_CLASSES,
    FINE_CLASSES,
    OTHERS_POLICY,
    SEVEN_CLASSES,
    STR3_CLASSES,
    class_weights,
    coarse_to_str3,
    dgcm_to_seven,
    encode_labels,
    loso_folds,
    protocol_labels,
    seven_to_str3,
    str3_classes,
    to_coarse,
    to_fine,
    to_seven,
    to_str3,
)


def test_loso_folds_hold_out_each_subject_once():
    events = pd.DataFrame({"subject": ["b", "a", "b", "c", "a"], "emotion": ["fear"] * 5})
    folds = loso_folds(events)
    assert [f.subject for f in folds] == ["a", "b", "c"]
    assert [f.test.tolist() for f in folds] == [[1, 4], [0, 2], [3]]
    for fold in folds:
        assert sorted(fold.train.tolist() + fold.test.tolist()) == list(range(5))
        assert set(events["subject"].iloc[fold.train]) == {"a", "b", "c"} - {fold.subject}
        assert fold.train.dtype == np.int64


def test_loso_folds_from_subject_names():
    folds = loso_folds([1, 1, 2])
    assert [(f.subject, f.test.tolist()) for f in folds] == [("1", [0, 1]), ("2", [2])]
    with pytest.raises(ValueError, match="at least two subjects"):
        loso_folds(["s1", "s1"])


def test_str3_matches_the_megc2019_samm_counts():
    """MERba's Table II (MEGC 2019 composite): SAMM has 92 negative, 26 positive, 15 surprise samples."""
    samm = {"anger": 57, "contempt": 12, "disgust": 9, "fear": 8, "sadness": 6, "happiness": 26,
            "surprise": 15, "others": 26}
    emotions = [e for e, n in samm.items() for _ in range(n)]
    labels = protocol_labels(emotions, "str3", dataset="samm")
    counts = pd.Series([x for x in labels if x is not None]).value_counts().to_dict()
    assert counts == {"negative": 92, "positive": 26, "surprise": 15}
    assert sum(x is None for x in labels) == 26


def test_others_is_dropped_or_kept_per_dataset():
    assert to_str3("Others", dataset="casme2") is None
    assert to_str3("others", dataset="samm") is None
    assert to_str3("others", dataset="casme3") == "others"
    assert to_str3("others", dataset="samm_lv") == "others"
    assert str3_classes("samm") == STR3_CLASSES
    assert str3_classes("casme3") == (*STR3_CLASSES, "others")
    assert to_str3("repression", dataset="casme2") == "negative"
    assert to_str3("negative", dataset="smic") == "negative"
    assert to_str3("Positive", dataset="smic") == "positive"
    with pytest.raises(ValueError, match="unknown dataset"):
        to_str3("fear", dataset="mmew")


def test_every_emotion_has_a_str3_class():
    for dataset in OTHERS_POLICY:
        for emotion in EMOTIONS:
            label = to_str3(emotion, dataset=dataset)
            assert label is None or label in str3_classes(dataset)
    assert all(to_str3(e, dataset="casme3") is not None for e in EMOTIONS)


def test_seven_and_dgcm_protocols():
    assert [to_seven(e) for e in ("Happy", "others", "repression", "negative")] == ["happiness"] + [None] * 3
    assert [to_coarse(e) for e in SEVEN_CLASSES] == ["negative", "others", "negative", "negative", "positive",
                                                     "negative", "surprise"]
    assert [to_fine(e) for e in SEVEN_CLASSES] == ["anger", None, "disgust", "fear", None, "sadness", None]
    assert to_coarse("others") is None and to_coarse("repression") is None
    assert set(filter(None, map(to_coarse, SEVEN_CLASSES))) == set(COARSE_CLASSES)
    assert set(filter(None, map(to_fine, SEVEN_CLASSES))) == set(FINE_CLASSES)


def test_protocol_mappings_commute():
    for emotion in SEVEN_CLASSES:
        coarse, fine = to_coarse(emotion), to_fine(emotion)
        assert dgcm_to_seven(coarse, fine) == emotion
        assert coarse_to_str3(coarse) == seven_to_str3(emotion) == to_str3(emotion, dataset="samm")


def test_mapping_errors_name_the_bad_label():
    with pytest.raises(ValueError, match="needs a fine class"):
        dgcm_to_seven("negative")
    with pytest.raises(ValueError, match="'neutral' is not a coarse class"):
        dgcm_to_seven("neutral")
    with pytest.raises(ValueError, match="'others' is not one of the seven"):
        seven_to_str3("others")
    with pytest.raises(ValueError, match="unknown protocol"):
        protocol_labels(["fear"], "five")
    with pytest.raises(ValueError, match="needs dataset="):
        protocol_labels(["fear"], "str3")


def test_protocol_labels_and_encoding_of_an_events_table():
    events = pd.DataFrame({"emotion": ["anger", "others", "happiness", "contempt"]})
    fine = protocol_labels(events, "fine")
    assert fine.tolist() == ["anger", None, None, None]
    assert encode_labels(fine, FINE_CLASSES).tolist() == [0, -1, -1, -1]
    coarse = protocol_labels(events, "coarse")
    assert encode_labels(coarse, COARSE_CLASSES).tolist() == [0, -1, 1, 3]
    with pytest.raises(ValueError, match="not in the classes"):
        encode_labels(["anger"], STR3_CLASSES)


def test_balanced_class_weights():
    weights = class_weights(["a", "a", "a", "b", None], ("a", "b", "c"))
    np.testing.assert_allclose(weights, [4 / (2 * 3), 4 / (2 * 1), 0.0])
    labels = np.array([0, 0, 1, 2, 2, 2, 2, -1])
    w = class_weights(labels, (0, 1, 2))
    counts = np.bincount(labels[labels >= 0])
    assert np.isclose((w * counts).sum(), counts.sum())             # balanced: every class weighs n / K
    assert np.allclose(w * counts, counts.sum() / 3)
    with pytest.raises(ValueError, match="not in the classes"):
        class_weights(["z"], ("a",))
