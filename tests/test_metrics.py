"""MEGC metrics: IoU, one-to-one matching, micro spotting, recognition against scikit-learn,
boundary errors, and a worked example of each documented difference from the official script."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

from melab.metrics import (
    boundary_scores,
    confusion,
    decode_and_score,
    evaluate,
    evaluate_csv,
    interval_iou,
    iou_matrix,
    match_intervals,
    recognition_scores,
    sensitivity_grid,
    spotting_scores,
    strs,
)

intervals = st.tuples(st.integers(-20, 60), st.integers(0, 40)).map(lambda t: (t[0], t[0] + t[1]))


def table(rows, columns=("video", "onset", "offset", "emotion")):
    return pd.DataFrame(rows, columns=list(columns))


# ----------------------------------------------------------------------------- IoU


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [((0, 9), (5, 14), 5 / 15), ((3, 3), (3, 3), 1.0), ((0, 4), (5, 9), 0.0), ((0, 9), (2, 3), 0.2),
     ((-3, 65), (30, 55), 26 / 69)],
)
def test_interval_iou_known_answers(a, b, expected):
    assert interval_iou(a, b) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(intervals, intervals)
def test_interval_iou_is_the_iou_of_inclusive_frame_sets(a, b):
    fa, fb = set(range(a[0], a[1] + 1)), set(range(b[0], b[1] + 1))
    v = interval_iou(a, b)
    assert v == pytest.approx(len(fa & fb) / len(fa | fb))
    assert v == interval_iou(b, a)
    assert 0.0 <= v <= 1.0
    assert (v == 1.0) == (a == b)


def test_iou_rejects_reversed_intervals():
    with pytest.raises(ValueError, match=r"a\[0\] = \(9, 3\) has onset > offset"):
        interval_iou((9, 3), (0, 5))
    assert iou_matrix([], [(0, 1)]).shape == (0, 1)


# ----------------------------------------------------------------------------- matching


def test_matching_is_one_to_one_and_maximal_where_greedy_is_not():
    truth = [(0, 9), (5, 14)]
    pred = [(3, 11), (0, 8)]  # (3, 11) clears 0.5 with both; (0, 8) only with (0, 9)
    assert iou_matrix(pred, truth).round(2).tolist() == [[0.58, 0.58], [0.9, 0.27]]
    # A greedy pass in row order would give (3,11)->(0,9) and leave (0,8) unmatched.
    assert [(i, j) for i, j, _ in match_intervals(pred, truth)] == [(0, 1), (1, 0)]


@settings(max_examples=100, deadline=None)
@given(st.lists(intervals, max_size=6), st.lists(intervals, max_size=6))
def test_matching_pairs_are_unique_and_clear_the_threshold(pred, truth):
    pairs = match_intervals(pred, truth)
    assert len({i for i, _, _ in pairs}) == len({j for _, j, _ in pairs}) == len(pairs)
    assert all(v >= 0.5 and v == interval_iou(pred[i], truth[j]) for i, j, v in pairs)
    s = spotting_scores(pred, truth)
    assert (s.tp + s.fp, s.tp + s.fn) == (len(pred), len(truth))


def test_spotting_on_interval_lists_known_answer():
    s = spotting_scores([(0, 9), (20, 29), (50, 52)], [(1, 10), (40, 49)])
    assert (s.tp, s.fp, s.fn) == (1, 2, 1)
    assert (s.precision, s.recall, s.f1) == pytest.approx((1 / 3, 1 / 2, 0.4))
    assert s.matches[["pred_onset", "true_onset", "iou"]].values.tolist() == [[0, 1, pytest.approx(9 / 11)]]


def test_iou_threshold_is_inclusive():
    assert spotting_scores([(0, 3)], [(0, 1)]).tp == 1  # IoU exactly 0.5
    assert spotting_scores([(0, 4)], [(0, 1)]).tp == 0


def test_spotting_sums_over_videos():
    pred = table([("a", 0, 9, "x"), ("a", 30, 39, "x"), ("b", 5, 14, "x")])
    truth = table([("a", 0, 9, "x"), ("b", 100, 110, "x"), ("b", 5, 15, "x")])
    s = spotting_scores(pred, truth)
    assert (s.tp, s.fp, s.fn) == (2, 1, 1)
    assert sorted(s.matches["key"]) == ["a", "b"]


def test_same_video_name_under_two_subjects_is_two_videos():
    cols = ("subject", "video", "onset", "offset")
    pred = table([(1, "EP01", 0, 9), (2, "EP01", 50, 59)], cols)
    truth = table([(1, "EP01", 50, 59), (2, "EP01", 0, 9)], cols)
    assert spotting_scores(pred, truth).tp == 0
    assert spotting_scores(pred.drop(columns="subject"), truth.drop(columns="subject")).tp == 2


# --------------------------------------- the documented differences from the official script


def test_difference_one_prediction_cannot_match_two_expressions():
    # Official: the loop matches (3, 11) with both overlapping expressions: TP 2, FN 0, F1 1.
    s = spotting_scores([(3, 11)], [(0, 9), (5, 14)])
    assert (s.tp, s.fp, s.fn, s.f1) == (1, 0, 1, pytest.approx(2 / 3))


def test_difference_predictions_on_videos_without_truth_are_false_positives():
    # Official: video "neutral" is never visited: TP 1, FP 0, F1 1.
    pred = table([("me", 0, 9, "x"), ("neutral", 0, 9, "x"), ("neutral", 20, 29, "x")])
    truth = table([("me", 0, 9, "x")])
    s = spotting_scores(pred, truth)
    assert (s.tp, s.fp, s.fn) == (1, 2, 0)


def test_difference_subjects_without_predictions_still_count_their_misses():
    # Official: subject 2 has no prediction row, so its expression adds no FN: F1 1.
    cols = ("subject", "video", "onset", "offset")
    s = spotting_scores(table([(1, "v", 0, 9)], cols), table([(1, "v", 0, 9), (2, "w", 0, 9)], cols))
    assert (s.tp, s.fp, s.fn) == (1, 0, 1)


def test_difference_uar_is_mean_recall_not_mean_precision():
    y_true = ["a", "a", "a", "b"]
    y_pred = ["a", "b", "b", "b"]
    r = recognition_scores(y_true, y_pred, ["a", "b"])
    assert r.uar == pytest.approx((1 / 3 + 1) / 2)  # official "UAR": (1 + 1/3) / 2 precision
    assert r.precision == pytest.approx((1 + 1 / 3) / 2)
    r = recognition_scores(["a", "b", "b", "b"], ["b", "b", "b", "b"], ["a", "b"])
    assert (r.uar, r.precision) == pytest.approx((0.5, 0.375))


def test_difference_a_class_holding_every_sample_scores_one():
    # Official: confusion_matrix(...).ravel() fails for a single-valued vector and scores 0.
    r = recognition_scores(["others"] * 3, ["others"] * 3, ["others"])
    assert (r.uf1, r.uar, r.f1, r.acc) == (1.0, 1.0, 1.0, 1.0)


def test_difference_no_spotted_tp_gives_zero_not_nan():
    ev = evaluate(table([("v", 0, 9, "others")]), table([("v", 50, 59, "others")]))
    assert (ev.spotting.f1, ev.recognition.f1, ev.strs) == (0.0, 0.0, 0.0)


# ----------------------------------------------------------------------------- recognition

LABEL_SET = ["disgust", "happiness", "others", "surprise"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LABEL_SET), st.sampled_from(LABEL_SET + ["fear"])), min_size=1))
def test_recognition_agrees_with_sklearn(pairs):
    y_true, y_pred = zip(*pairs, strict=True)
    r = recognition_scores(y_true, y_pred, LABEL_SET)
    kw = {"labels": LABEL_SET, "average": "macro", "zero_division": 0}
    assert r.uf1 == pytest.approx(f1_score(y_true, y_pred, **kw))
    assert r.uar == pytest.approx(recall_score(y_true, y_pred, **kw))
    assert r.precision == pytest.approx(precision_score(y_true, y_pred, **kw))
    assert r.acc == pytest.approx(accuracy_score(y_true, y_pred))
    p, rc = r.precision, r.recall
    assert r.f1 == pytest.approx(2 * p * rc / (p + rc) if p + rc else 0.0)
    assert r.tp == sum(t == q for t, q in pairs)
    assert r.fn == len(pairs) - r.tp
    assert r.fp == sum(t != q and q in LABEL_SET for t, q in pairs)


def test_recognition_with_no_samples_is_zero_and_lengths_must_agree():
    assert recognition_scores([], [], ["a"]).f1 == 0.0
    with pytest.raises(ValueError, match="y_true has 2 samples but y_pred has 1"):
        recognition_scores(["a", "b"], ["a"], ["a", "b"])


def test_strs_is_the_product_of_the_two_f1():
    assert strs(0.0997, 0.5638) == pytest.approx(0.0562, abs=5e-5)  # BoostingVRME, CAS(ME)^3
    assert strs(0.2906, 0.6882) == pytest.approx(0.2000, abs=5e-5)  # BoostingVRME, SAMM-LV
    with pytest.raises(ValueError, match="recog_f1 must lie in"):
        strs(0.5, 1.2)


def test_confusion_matches_sklearn_and_normalises_rows():
    y_true = ["a", "a", "b", "c", "c", "c"]
    y_pred = ["a", "b", "b", "c", "a", "a"]
    m = confusion(y_true, y_pred, ["a", "b", "c"])
    assert np.array_equal(m.to_numpy(), confusion_matrix(y_true, y_pred, labels=["a", "b", "c"]))
    assert m.loc["c", "a"] == 2
    n = confusion(y_true, y_pred, ["a", "b", "c", "d"], normalize="true")
    assert n.loc[["a", "b", "c"]].sum(axis=1).tolist() == pytest.approx([1, 1, 1])
    assert n.loc["d"].sum() == 0
    with pytest.raises(ValueError, match="normalize"):
        confusion(y_true, y_pred, ["a"], normalize="all")


# ----------------------------------------------------------------------------- boundaries and evaluate


def test_boundary_scores_known_answer():
    s = spotting_scores([(2, 11), (40, 49)], [(0, 9), (41, 51)])
    b = boundary_scores(s.matches)
    assert b.mean_iou == pytest.approx((8 / 12 + 9 / 12) / 2)
    assert (b.onset_mae, b.offset_mae, b.onset_bias, b.offset_bias) == pytest.approx((1.5, 2.0, 0.5, 0.0))
    assert np.isnan(boundary_scores(spotting_scores([], [(0, 3)]).matches).mean_iou)


def test_evaluate_scores_recognition_on_spotted_tps_only():
    pred = table([("v", 0, 9, "happiness"), ("v", 30, 39, "surprise"), ("w", 0, 9, "others")])
    truth = table([("v", 0, 9, "happiness"), ("w", 1, 9, "surprise"), ("w", 50, 59, "others")])
    ev = evaluate(pred, truth)
    assert (ev.spotting.tp, ev.spotting.fp, ev.spotting.fn) == (2, 1, 1)
    assert ev.labels == ("happiness", "others", "surprise")
    assert ev.recognition.n == 2 and ev.recognition.tp == 1
    assert ev.strs == pytest.approx(ev.spotting.f1 * ev.recognition.f1)
    assert evaluate(pred.drop(columns="emotion"), truth).recognition is None


def test_evaluate_csv_reads_megc_files_and_reports(tmp_path):
    pred = table([(1, "v", 0, 9, "Happiness")], ("subject", "video", "onset", "offset", "emotion"))
    pred.to_csv(tmp_path / "pred.csv", index=False)
    pred.assign(onset=1).to_csv(tmp_path / "truth.csv", index=False)
    ev = evaluate_csv(tmp_path / "pred.csv", tmp_path / "truth.csv")
    assert ev.strs == 1.0 and ev.labels == ("happiness",)
    text = ev.report()
    assert "TP 1  FP 0  FN 0" in text and "STRS         1.0000" in text
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        evaluate_csv(tmp_path / "pred.csv", tmp_path / "missing.csv")


# ----------------------------------------------------------------------------- decoders, scored


def test_decode_and_score_scores_only_micro_expressions():
    s = np.zeros(200)
    s[20:30], s[100:160] = 1.0, 0.9
    truth = pd.DataFrame({"onset": [20, 100], "offset": [29, 159], "kind": ["micro", "macro"]})
    intervals, scores = decode_and_score(s, truth, method="siss", k=4)
    assert intervals[["onset", "offset", "tp"]].values.tolist() == [[20, 29, True], [100, 159, False]]
    assert scores[["tp", "fp", "fn"]].values.tolist() == [[1, 1, 0]]
    _, all_kinds = decode_and_score(s, truth, method="siss", k=4, kinds=None)
    assert all_kinds["f1"].item() == 1.0 and np.isnan(all_kinds["strs"].item())


def test_decode_and_score_gives_strs_with_class_probabilities():
    s = np.zeros(60)
    s[20:30] = 1.0
    probs = np.tile([0.1, 0.7, 0.1, 0.1], (60, 1))
    truth = pd.DataFrame({"onset": [20], "offset": [29], "emotion": ["positive"]})
    intervals, scores = decode_and_score(s, truth, k=3, class_probs=probs, labels=["negative", "positive",
                                                                                   "others", "neutral"])
    assert intervals["emotion"].tolist() == ["positive"]
    assert scores["strs"].item() == 1.0
    with pytest.raises(ValueError, match="method must be"):
        decode_and_score(s, truth, method="peaks", k=3)


def test_decode_and_score_on_a_video_without_mes():
    """Realistic corpora hold ME-free videos: every interval is a FP, and STRS is undefined rather than an error."""
    s = np.zeros(60)
    s[20:30] = 1.0
    probs = np.tile([0.1, 0.7, 0.1, 0.1], (60, 1))
    truth = pd.DataFrame({"onset": [40], "offset": [55], "kind": ["macro"], "emotion": ["anger"]})
    intervals, scores = decode_and_score(s, truth, k=3, class_probs=probs, labels=["negative", "positive",
                                                                                   "others", "neutral"])
    assert intervals["tp"].tolist() == [False]
    assert scores[["tp", "fp", "fn"]].values.tolist() == [[0, 1, 0]] and np.isnan(scores["strs"].item())


def test_sensitivity_grid_skips_low_above_high():
    scores = {"a": np.r_[np.zeros(20), np.ones(10), np.zeros(20)], "b": np.zeros(30)}
    truth = pd.DataFrame({"video": ["a", "c"], "onset": [20, 0], "offset": [29, 5]})
    grid = sensitivity_grid(scores, truth, k=3, lows=[0.2, 0.8], highs=[0.5, 0.9])
    assert grid[["low", "high"]].values.tolist() == [[0.2, 0.5], [0.2, 0.9], [0.8, 0.9]]
    assert grid["f1"].tolist() == [1.0, 1.0, 1.0]


# ---- per-frame AUC ----------------------------------------------------------------------------------------

def test_frame_auc_known_answers():
    from melab.metrics import frame_auc

    events = pd.DataFrame({"video": ["a", "a", "b"], "onset": [2, 6, 0], "offset": [3, 8, 1],
                           "kind": ["micro", "macro", "micro"]})
    a = np.array([0.0, 0.0, 0.9, 0.9, 0.0, 0.0, 0.5, 0.5, 0.5, 0.0])
    b = np.array([0.2, 0.2, 0.1, 0.1])
    out = frame_auc({"a": a, "b": b}, events)
    # 4 ME frames (0.9, 0.9, 0.2, 0.2) against 10 others: 0.9 beats all 10, 0.2 the 5 zeros and two 0.1s (7)
    assert out.n_me == 4 and out.auc == pytest.approx((2 * 10 + 2 * 7) / 40)
    # against the 3 macro frames (0.5): 0.9 beats them, 0.2 does not
    assert out.auc_mae == pytest.approx(0.5)
    assert np.isnan(frame_auc({"b": b}, events).auc_mae)  # no macro frame in b


def test_frame_auc_is_the_roc_auc_of_pooled_frames():
    from sklearn.metrics import roc_auc_score

    from melab.metrics import expression_masks, frame_auc

    rng = np.random.default_rng(0)
    events = pd.DataFrame({"video": ["a", "a", "b"], "onset": [10, 30, 5], "offset": [14, 60, 9],
                           "kind": ["micro", "macro", "micro"]})
    scores = {"a": rng.random(80), "b": rng.random(50)}
    me = np.concatenate([expression_masks(len(s), events[events["video"] == v])[0] for v, s in scores.items()])
    assert frame_auc(scores, events).auc == pytest.approx(roc_auc_score(me, np.concatenate(list(scores.values()))))
    with pytest.raises(ValueError, match="scores of a must be a finite"):
        frame_auc({"a": np.full(5, np.nan)}, events)
