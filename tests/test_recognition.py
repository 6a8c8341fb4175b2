"""Recognition glue: DFME split, MERba evaluation, DGCM confusion helpers against scikit-learn.

``dgcm_predict``'s mapping and the negatives-only fine loss are tested in tests/test_models.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import confusion_matrix, recall_score

from melab import recognition as R
from melab.data.splits import COARSE_CLASSES, FINE_CLASSES, SEVEN_CLASSES, dgcm_to_seven, to_coarse
from melab.metrics import recognition_scores
from melab.models.merba import MERba, MERbaConfig
from melab.scan import SCAN_KINDS

MINI = MERbaConfig.tiny(img_size=32, window=2, dim=8, patch_dim=4, heads=(1, 1, 1), dropout=0.0)
RNG = np.random.default_rng(0)
Y_TRUE = RNG.choice(SEVEN_CLASSES, size=60)


# ---- the DFME-style split -------------------------------------------------------------------------

def test_dfme_split_is_disjoint_complete_and_seeded():
    subjects = [f"sub{i:02d}" for i in range(1, 17)]
    per_sample = np.repeat(subjects, 5)
    split = R.dfme_split(per_sample, seed=3)
    parts = [set(p) for p in split]
    assert [len(p) for p in parts] == [10, 3, 3]
    assert set().union(*parts) == set(subjects) and sum(map(len, parts)) == len(subjects)
    assert split == R.dfme_split(subjects, seed=3)  # duplicates merge; same seed, same split
    assert {R.dfme_split(subjects, seed=s).test_a for s in range(5)} != {split.test_a}
    masks = split.masks(per_sample)
    assert (masks["train"].astype(int) + masks["test_a"] + masks["test_b"] == 1).all()
    assert masks["test_b"].sum() == 15


def test_dfme_split_needs_a_training_subject():
    with pytest.raises(ValueError, match="training set"):
        R.dfme_split(["a", "b"])


def test_scan_variants_are_valid_scan_kinds():
    assert all(kind in SCAN_KINDS for scans in R.SCAN_VARIANTS.values() for kind in scans)
    assert list(R.SCAN_VARIANTS) == [v for v in R.PAPER_SCAN_ABLATION.index if not v.startswith("(")]


# ---- confusion helpers agree with scikit-learn ----------------------------------------------------

@pytest.mark.parametrize("normalize", [None, "true"])
def test_coarse_confusion_matches_sklearn(normalize):
    coarse_pred = RNG.choice(COARSE_CLASSES, size=len(Y_TRUE))
    cm = R.coarse_confusion(Y_TRUE, coarse_pred, normalize=normalize)
    expected = confusion_matrix([to_coarse(y) for y in Y_TRUE], coarse_pred, labels=list(COARSE_CLASSES),
                                normalize=normalize)
    np.testing.assert_allclose(cm.to_numpy(), expected)
    assert list(cm.index) == list(cm.columns) == list(COARSE_CLASSES)


@pytest.mark.parametrize("normalize", [None, "true"])
def test_fine_confusion_matches_sklearn_on_negatives_only(normalize):
    fine_pred = RNG.choice(FINE_CLASSES, size=len(Y_TRUE))
    negative = np.isin(Y_TRUE, FINE_CLASSES)
    cm = R.fine_confusion(Y_TRUE, fine_pred, normalize=normalize)
    expected = confusion_matrix(Y_TRUE[negative], fine_pred[negative], labels=list(FINE_CLASSES),
                                normalize=normalize)
    np.testing.assert_allclose(cm.to_numpy(), expected)
    other = fine_pred.copy()
    other[~negative] = "anger"  # what the fine head says for non-negatives does not count
    np.testing.assert_allclose(R.fine_confusion(Y_TRUE, other, normalize=normalize).to_numpy(), cm.to_numpy())
    if normalize is None:
        assert cm.to_numpy().sum() == negative.sum()


def test_per_class_recall_matches_sklearn_and_empty_rows_are_zero():
    y_pred = RNG.choice(SEVEN_CLASSES, size=len(Y_TRUE))
    cm = confusion_matrix(Y_TRUE, y_pred, labels=list(SEVEN_CLASSES))
    expected = recall_score(Y_TRUE, y_pred, labels=list(SEVEN_CLASSES), average=None, zero_division=0)
    np.testing.assert_allclose(R.per_class_recall(cm, SEVEN_CLASSES).to_numpy(), expected)
    assert R.per_class_recall(np.array([[2, 2], [0, 0]]), ["a", "b"]).tolist() == [0.5, 0.0]
    with pytest.raises(ValueError, match="does not fit"):
        R.per_class_recall(cm, FINE_CLASSES)


def test_negative_confusion_counts_only_negatives_named_as_negatives():
    y_pred = RNG.choice(SEVEN_CLASSES, size=len(Y_TRUE))
    cm = pd.DataFrame(confusion_matrix(Y_TRUE, y_pred, labels=list(SEVEN_CLASSES)), index=list(SEVEN_CLASSES),
                      columns=list(SEVEN_CLASSES))
    both = np.isin(Y_TRUE, FINE_CLASSES) & np.isin(y_pred, FINE_CLASSES)  # the oracle: count the samples
    wrong = both & (Y_TRUE != y_pred)
    result = R.negative_confusion(cm)
    assert result.mass == pytest.approx(wrong.sum() / both.sum())
    assert list(result.block.index) == list(FINE_CLASSES) == list(result.block.columns)
    assert result.block.to_numpy().sum() == both.sum()
    # a polarity error (sadness -> contempt) does not count; a swap among negatives does
    polar = cm * 0 + np.diag([5] * 7)
    polar.loc["sadness", "contempt"] = 9
    assert R.negative_confusion(polar).mass == 0.0
    polar.loc["sadness", "fear"] = 5
    assert R.negative_confusion(polar).mass == pytest.approx(5 / 25)
    assert np.isnan(R.negative_confusion(cm * 0).mass)
    with pytest.raises(ValueError, match="no row or column for"):
        R.negative_confusion(cm.drop(index="fear", columns="fear"))
    with pytest.raises(ValueError, match="DataFrame"):
        R.negative_confusion(cm.to_numpy())


def test_scores_table_matches_recognition_scores():
    y_pred = RNG.choice(SEVEN_CLASSES, size=len(Y_TRUE))
    table = R.scores_table({"model": (Y_TRUE, y_pred)})
    s = recognition_scores(Y_TRUE, y_pred, SEVEN_CLASSES)
    assert table.loc["model", ["uf1", "uar", "acc"]].tolist() == pytest.approx([s.uf1, s.uar, s.acc])
    assert table.loc["model", "n"] == len(Y_TRUE)


# ---- evaluate_merba ---------------------------------------------------------------------------------

def forced(kind: str, **biases) -> MERba:
    """A MINI MERba (``kind`` = "single" or "dgcm") whose named heads ignore the features and output their biases."""
    torch.manual_seed(0)
    model = MERba(MERbaConfig(**{**MINI.to_dict(), "head": kind}))
    with torch.no_grad():
        for name, bias in biases.items():
            layer = getattr(model, name)
            layer.weight.zero_()
            layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return model


FLOWS = np.random.default_rng(1).normal(size=(5, 3, 32, 32)).astype(np.float32)
LABELS = [0, 2, 3, 4, 6]


@pytest.mark.parametrize("coarse, fine, expected", [
    ("negative", "fear", "fear"),
    ("others", "fear", "contempt"),
    ("positive", "sadness", "happiness"),
])
def test_evaluate_dgcm_reports_both_heads(coarse, fine, expected):
    model = forced("dgcm", coarse_head=np.eye(4)[COARSE_CLASSES.index(coarse)],
                   fine_head=np.eye(4)[FINE_CLASSES.index(fine)])
    out = R.evaluate_merba(model, FLOWS, LABELS, batch_size=2)
    assert out.y_pred.tolist() == [expected] * 5
    assert out.coarse_pred.tolist() == [coarse] * 5 and out.fine_pred.tolist() == [fine] * 5
    assert out.y_true.tolist() == [SEVEN_CLASSES[i] for i in LABELS]
    assert out.coarse_logits.shape == out.fine_logits.shape == (5, 4) and out.logits is None


def test_evaluate_dgcm_of_a_random_model_is_coarse_to_fine():
    torch.manual_seed(0)
    model = MERba(MERbaConfig(**{**MINI.to_dict(), "head": "dgcm"}))
    with torch.no_grad():
        model.coarse_head.weight.mul_(50)  # spread the decisions over several coarse classes
    flows = np.random.default_rng(2).normal(size=(40, 3, 32, 32)).astype(np.float32)
    out = R.evaluate_merba(model, flows, [SEVEN_CLASSES[0]] * 40)
    assert len(set(out.coarse_pred)) > 1
    expected = [dgcm_to_seven(c, f) for c, f in zip(out.coarse_pred, out.fine_pred, strict=True)]
    assert out.y_pred.tolist() == expected


def test_evaluate_single_head_derives_polarity_and_negative_argmax():
    bias = np.array([0.0, 5.0, 3.0, 1.0, 0.0, 2.0, 0.0])  # contempt > disgust > sadness > fear > ...
    out = R.evaluate_merba(forced("single", head=bias), FLOWS, LABELS)
    assert out.y_pred.tolist() == ["contempt"] * 5
    assert out.coarse_pred.tolist() == ["others"] * 5  # contempt is DGCM's coarse "others"
    assert out.fine_pred.tolist() == ["disgust"] * 5  # best of anger, disgust, fear, sadness
    assert out.logits.shape == (5, 7) and out.coarse_logits is None


def test_evaluate_rejects_label_count_mismatch():
    with pytest.raises(ValueError, match="labels"):
        R.evaluate_merba(forced("single"), FLOWS, LABELS[:3])


# ---- held-out clips ---------------------------------------------------------------------------------

def test_clip_samples_shapes_labels_and_seed():
    flows, samples = R.clip_samples([12], per_class=1, emotions=("surprise", "anger"), size=32, seed=0)
    assert flows.shape == (2, 3, 32, 32) and flows.dtype == np.float32
    assert samples["emotion"].tolist() == ["surprise", "anger"]
    assert samples["label"].tolist() == [SEVEN_CLASSES.index("surprise"), SEVEN_CLASSES.index("anger")]
    assert samples["subject"].nunique() == 1
    lo, hi = samples["amplitude_px"].between(0.3, 1.5), samples["duration_s"].between(0.2, 0.5)
    assert lo.all() and hi.all()
    assert np.abs(flows[:, :2]).max() > 0.05  # the expression moved the face
    again, _ = R.clip_samples([12], per_class=1, emotions=("surprise", "anger"), size=32, seed=0)
    np.testing.assert_array_equal(flows, again)
    with pytest.raises(ValueError, match="seven classes"):
        R.clip_samples([0], emotions=("others",))
    with pytest.raises(ValueError, match="amplitude_px"):
        R.clip_samples([0], amplitude_px=(0.3, 0.1))


def test_fainter_clips_move_the_face_less():
    kwargs = dict(per_class=2, emotions=("happiness", "sadness"), size=32, seed=3)
    strong, s = R.clip_samples([11], **kwargs)
    faint, f = R.clip_samples([11], amplitude_px=(0.15, 0.3), **kwargs)
    assert f["amplitude_px"].between(0.15, 0.3).all() and s["amplitude_px"].between(0.3, 1.5).all()
    # same faces, emotions and durations; only the amplitude differs, and the flow follows it
    pd.testing.assert_series_equal(s["duration_s"], f["duration_s"])
    motion = [np.abs(x[:, :2]).mean(axis=(1, 2, 3)) for x in (strong, faint)]
    assert (motion[1] < motion[0]).all()


# ---- why classes are confusable ---------------------------------------------------------------------

def test_shared_aus_reads_the_generator_table():
    table = R.shared_aus()
    assert table.loc["anger", "fear"] == table.loc["fear", "anger"] == "4+5"
    assert table.loc["sadness", "disgust"] == "15" and table.loc["happiness", "anger"] == ""
    assert table.loc["surprise", "surprise"] == "1+2+5+26"
    with pytest.raises(ValueError, match="no AUs"):
        R.shared_aus(["anger", "others"])


def test_emotion_similarity_is_a_cosine_matrix():
    sim = R.emotion_similarity(subject_index=1, emotions=("anger", "fear", "happiness", "happiness"))
    m = sim.to_numpy()
    np.testing.assert_allclose(m, m.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-9)
    assert np.all(np.abs(m) <= 1 + 1e-9)
    assert m[2, 3] == pytest.approx(1.0)  # the same emotion twice
    assert sim.loc["anger", "fear"] < 0.99  # shared AUs, different fields


def test_mean_std_formats_one_cell_per_variant():
    summary = pd.DataFrame({"variant": ["single", "dgcm", "dgcm"], "test": ["test_ab", "test_ab", "test_a"],
                            "epochs": [10, 10, 10], "uf1_mean": [0.76771, 0.7174, 0.9],
                            "uf1_std": [0.0428, 0.10384, 0.0]})
    cells = R.mean_std(summary, test="test_ab", epochs=10, metric="uf1")
    assert cells.to_dict() == {"single": "0.768 ± 0.043", "dgcm": "0.717 ± 0.104"}
    with pytest.raises(ValueError, match=r"no benchmark rows for test 'test_b' at 10 epochs"):
        R.mean_std(summary, test="test_b", epochs=10, metric="uf1")
