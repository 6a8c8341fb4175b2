"""Every checker: None prints its fixed hint, the reference solution is accepted, typical mistakes get their message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from melab import exercises as E
from melab import face, flow, scan, train
from melab.data import synthetic as S


def verdict(capsys, feedback: E.Feedback, status: str, *words: str) -> None:
    """The checker returned ``status``, printed one line with its prefix, and the line names every word."""
    out = capsys.readouterr().out
    prefix = {"unanswered": "not answered yet: ", "correct": "correct: ", "wrong": "not quite: "}[status]
    assert feedback.status == status, out
    assert out.startswith(prefix) and out.count("\n") == 1, out
    for word in words:
        assert word in out, (word, out)


def test_every_checker_prints_a_fixed_hint_for_none(capsys):
    windows = _windows()
    cm = pd.DataFrame(np.eye(2, dtype=int), index=["a", "b"], columns=["a", "b"])
    calls = [
        lambda: E.check_au_for_landmark(None, 19), lambda: E.check_landmark_motion(None, "AU9", 31),
        lambda: E.check_au_roi(None), lambda: E.check_epe(None, np.zeros((2, 2, 2)), np.zeros((2, 2, 2))),
        lambda: E.check_speed_ratio(None, pd.DataFrame()), lambda: E.check_scan_order(None),
        lambda: E.check_memory(None, 0.3, 10), lambda: E.check_redundancy(None, "h_raster", "v_raster"),
        lambda: E.check_epoch_windows(None, windows, 1.0), lambda: E.check_ratio_effect(None, [], [], pd.DataFrame()),
        lambda: E.check_loso_split(None, "sub01", pd.DataFrame()), lambda: E.check_iou(None, (0, 1), (1, 2)),
        lambda: E.check_losing_k(None, 6), lambda: E.check_uar(None, cm), lambda: E.check_most_confused(None, cm),
    ]
    assert len(calls) == len([n for n in E.__all__ if n.startswith("check_")])
    for call in calls:
        first = call()
        out = capsys.readouterr().out
        assert first.status == "unanswered" and not first
        assert out.startswith("not answered yet: replace None with your answer. Hint: ")
        call()
        assert capsys.readouterr().out == out  # deterministic


# ------------------------------------------------------------------ 00


def test_au_for_landmark(capsys):
    subject = S.make_subject(0, 0)
    length = np.linalg.norm(S.au_displacement(subject, subject.landmarks[[19]].astype(float))[:, 0], axis=-1)
    solution = S.AU_CODES[int(np.argmax(length))]
    assert solution == "AU4"
    verdict(capsys, E.check_au_for_landmark(solution, 19), "correct", "AU4", "brow lowerer")
    verdict(capsys, E.check_au_for_landmark("AU2", 19), "wrong", "0.30 px", "0.58 px")
    verdict(capsys, E.check_au_for_landmark(4, 19), "wrong", "'AU4'", "not a number")
    verdict(capsys, E.check_au_for_landmark("AU99", 19), "wrong", "not an AU")
    verdict(capsys, E.check_au_for_landmark("AU45", 8), "wrong", "does not reach landmark 8")


def test_landmark_motion_names_the_sign_and_the_order(capsys):
    subject = S.make_subject(0, 0)
    solution = S.au_displacement(subject, subject.landmarks[[31]].astype(float))[S.AU_CODES.index("AU9"), 0]
    verdict(capsys, E.check_landmark_motion(solution, "AU9", 31), "correct", "up on the image")
    verdict(capsys, E.check_landmark_motion(solution * [1, -1], "AU9", 31), "wrong", "sign of dy", "downwards")
    verdict(capsys, E.check_landmark_motion(solution[::-1], "AU9", 31), "wrong", "swapped")
    verdict(capsys, E.check_landmark_motion(solution, "AU9", 31, intensity_px=2.0), "wrong", "wrong length", "0.50 ×")
    verdict(capsys, E.check_landmark_motion("up", "AU9", 31), "wrong", "two numbers")


# ------------------------------------------------------------------ 01


def test_au_roi(capsys):
    # the notebook's solution: the ROI series of a contempt ME, the largest magnitude at the apex
    clip = S.generate_clip(0, 0, "contempt", kind="micro", amplitude_px=1.2)
    series = flow.roi_series(clip.frames, clip.landmarks, k=20, detrend=None)
    apex_motion = np.hypot(series[:, 0::2], series[:, 1::2])[int(clip.events.apex[0])]
    solution = face.roi_names()[int(np.argmax(apex_motion))]
    verdict(capsys, E.check_au_roi(solution, "AU14"), "correct", "mouth_corner_l")
    verdict(capsys, E.check_au_roi("mouth_corner_r", "AU14"), "wrong", "wrong side", "subject's left")
    verdict(capsys, E.check_au_roi("mouth", "AU14"), "wrong", "region around it")
    verdict(capsys, E.check_au_roi("brow_r", "AU14"), "wrong", "0.00 px", "AU_TABLE['AU14']")
    verdict(capsys, E.check_au_roi("left mouth corner", "AU14"), "wrong", "not an ROI name")


def test_epe(capsys):
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(16, 16, 2))
    est = truth + rng.normal(scale=0.3, size=truth.shape)
    diff = est - truth
    solution = np.linalg.norm(diff, axis=-1).mean()
    verdict(capsys, E.check_epe(solution, est, truth), "correct", f"{solution:.3f} px")
    magnitudes = np.abs(np.linalg.norm(est, axis=-1) - np.linalg.norm(truth, axis=-1)).mean()
    verdict(capsys, E.check_epe(magnitudes, est, truth), "wrong", "compared magnitudes")
    verdict(capsys, E.check_epe(np.abs(diff).mean(), est, truth), "wrong", "L1")
    verdict(capsys, E.check_epe((diff ** 2).sum(-1).mean(), est, truth), "wrong", "squared")
    verdict(capsys, E.check_epe(np.sqrt((diff ** 2).sum(-1).mean()), est, truth), "wrong", "root-mean-square")
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    inside = np.linalg.norm(diff[mask], axis=-1).mean()
    verdict(capsys, E.check_epe(inside, est, truth, mask), "correct")
    verdict(capsys, E.check_epe(np.linalg.norm(diff[mask], axis=-1).sum(), est, truth, mask), "wrong", "summed")


def test_speed_ratio(capsys):
    accuracy = pd.DataFrame({"ms_per_pair": [9.1, 68.0, 1.9]}, index=["farneback", "tvl1", "dis"])
    verdict(capsys, E.check_speed_ratio(68.0 / 9.1, accuracy), "correct", "7.5 ×")
    verdict(capsys, E.check_speed_ratio(9.1 / 68.0, accuracy), "wrong", "upside down")
    verdict(capsys, E.check_speed_ratio(68.0 - 9.1, accuracy), "wrong", "difference in milliseconds")
    verdict(capsys, E.check_speed_ratio(40, accuracy), "wrong", "ms_per_pair")


# ------------------------------------------------------------------ 02


def test_scan_order(capsys):
    solution = scan.scan_order(3, 4, "v_zigzag").tolist()
    assert solution == [0, 4, 8, 9, 5, 1, 2, 6, 10, 11, 7, 3]
    verdict(capsys, E.check_scan_order(solution, 3, 4, "v_zigzag"), "correct", str(solution))
    column_major = [0, 1, 2, 5, 4, 3, 6, 7, 8, 11, 10, 9]
    verdict(capsys, E.check_scan_order(column_major, 3, 4), "wrong", "column-major", "r * 4 + c")
    verdict(capsys, E.check_scan_order(scan.scan_order(3, 4, "v_raster"), 3, 4), "wrong", "v_raster",
            "every other column")
    verdict(capsys, E.check_scan_order(solution[:-1], 3, 4), "wrong", "11 tokens given, 12 expected")
    verdict(capsys, E.check_scan_order([0, 4, 8, 9, 5, 1, 2, 6, 10, 11, 3, 7], 3, 4), "wrong",
            "position 10 should be token 7 (row 1, column 3)")
    verdict(capsys, E.check_scan_order([(0, 0), (1, 0)], 3, 4), "wrong", "not (row, column) pairs")


def test_memory_matches_the_scan_and_names_the_mistake(capsys):
    solution = float(np.exp(-0.3 * 10))
    verdict(capsys, E.check_memory(solution, 0.3, 10), "correct", "0.050")
    verdict(capsys, E.check_memory(np.exp(-0.3), 0.3, 10), "wrong", "after one step")
    verdict(capsys, E.check_memory(np.exp(-10 / 0.3) + 1e-9, 0.05, 10), "wrong")
    verdict(capsys, E.check_memory(np.exp(-10 / 0.05), 0.05, 10), "wrong", "does not divide")
    verdict(capsys, E.check_memory(100 * np.exp(-0.5), 0.05, 10), "wrong", "percentage")
    verdict(capsys, E.check_memory(1 - np.exp(-0.5), 0.05, 10), "wrong", "share forgotten")
    verdict(capsys, E.check_memory(np.exp(-0.5) * 2, 0.05, 10, a=-1.0), "wrong", "exp(Δ·A)")


def test_redundancy(capsys):
    a, b = scan.scan_order(7, 7, "h_zigzag"), scan.scan_order(7, 7, "h_zigzag_rev")
    verdict(capsys, E.check_redundancy(scan.redundancy(a, b, 7, 7), "h_zigzag", "h_zigzag_rev"), "correct", "1.000")
    verdict(capsys, E.check_redundancy(0.0, "h_zigzag", "h_zigzag_rev"), "wrong", "ordered pairs")
    verdict(capsys, E.check_redundancy(87.5, "h_zigzag", "h_zigzag_mirror"), "wrong", "percentage")
    verdict(capsys, E.check_redundancy(42, "h_zigzag", "h_zigzag_mirror"), "wrong", "number of shared pairs")


# ------------------------------------------------------------------ 03


def _windows():
    """A 200-frame two-video corpus: k = 20, stride 10, two MEs in video a."""
    events = pd.DataFrame({"video": ["a", "a"], "onset": [30, 120], "apex": [33, 123], "offset": [36, 126],
                           "emotion": ["anger", "happiness"], "kind": ["micro", "micro"], "fps": [30, 30],
                           "subject": ["s1", "s1"]})
    series = {v: np.zeros((200, 4), np.float32) for v in ("a", "b")}
    return train.spotter_windows(series, events, k=20)


def test_epoch_windows(capsys):
    windows = _windows()
    n_pos = int(windows.positive.sum())
    n_neg = len(windows.positive) - n_pos
    assert (n_pos, n_neg) == (4, 34)
    verdict(capsys, E.check_epoch_windows(n_pos + n_pos, windows, 1.0), "correct", "4 positive + 4 negative")
    verdict(capsys, E.check_epoch_windows(n_pos + n_neg, windows, 10.0), "correct", "capped")
    verdict(capsys, E.check_epoch_windows(n_pos, windows, 1.0), "wrong", "only the negatives")
    verdict(capsys, E.check_epoch_windows(n_pos + 40, windows, 10.0), "wrong", "only 34 negative windows")
    verdict(capsys, E.check_epoch_windows(n_pos + n_neg, windows, 1.0), "wrong", "every window")


def test_ratio_effect_follows_the_measurement(capsys):
    events = pd.DataFrame({"video": ["v"], "onset": [10], "apex": [12], "offset": [14], "emotion": ["anger"],
                           "kind": ["micro"], "fps": [30], "subject": ["s"]})
    low = np.full(40, 0.30)
    high = np.full(40, 0.10)
    high[10:15] = low[10:15] = 0.9  # inside the ME: not counted
    verdict(capsys, E.check_ratio_effect("lower", {"v": low}, {"v": high}, events), "correct", "0.300 to 0.100")
    verdict(capsys, E.check_ratio_effect("higher", {"v": low}, {"v": high}, events), "wrong", "towards their target, 0")
    verdict(capsys, E.check_ratio_effect("same", low, low + 0.001, events), "correct")
    verdict(capsys, E.check_ratio_effect("lower", low, low + 0.1, events), "wrong", "another seed")
    verdict(capsys, E.check_ratio_effect("down", low, high, events), "wrong", "'higher', 'lower' or 'same'")


def test_ratio_effect_counts_macro_expression_frames(capsys):
    """MaE frames have target 0, so a drop there is the effect of more negatives; ME frames never count."""
    events = pd.DataFrame({"video": ["v", "v"], "onset": [10, 20], "apex": [12, 25], "offset": [14, 34],
                           "emotion": ["anger", "anger"], "kind": ["micro", "macro"], "fps": [30, 30],
                           "subject": ["s", "s"]})
    low, high = np.full(40, 0.02), np.full(40, 0.02)
    low[20:35], high[20:35] = 0.6, 0.2  # the MaE: false alarms that more negatives suppress
    high[10:15] = 0.9  # the ME itself rose: not a target-0 frame
    verdict(capsys, E.check_ratio_effect("lower", {"v": low}, {"v": high}, events), "correct", "0.269 to 0.097")
    verdict(capsys, E.check_ratio_effect("same", {"v": low}, {"v": high}, events), "wrong", "towards their target")


def test_loso_split(capsys):
    videos = pd.DataFrame({"video": ["s1_1", "s1_2", "s2_1", "s2_2", "s3_1"],
                           "subject": ["s1", "s1", "s2", "s2", "s3"]})
    solution = list(videos.loc[videos["subject"] != "s2", "video"])
    verdict(capsys, E.check_loso_split(solution, "s2", videos), "correct", "3 videos of 2 subjects")
    verdict(capsys, E.check_loso_split(solution + ["s2_2"], "s2", videos), "wrong", "s2_2 belongs to the held-out")
    verdict(capsys, E.check_loso_split(solution[:-1], "s2", videos), "wrong", "1 training videos are missing")
    verdict(capsys, E.check_loso_split("s1_1", "s2", videos), "wrong", "list of video names")


# ------------------------------------------------------------------ 04


def test_iou(capsys):
    verdict(capsys, E.check_iou(1 / 3, (0, 9), (5, 14)), "correct", "0.333")
    verdict(capsys, E.check_iou(3 / 6, (0, 5), (3, 12)), "wrong", "shorter interval")
    verdict(capsys, E.check_iou(3 / 10, (0, 5), (3, 12)), "wrong", "longer interval")
    verdict(capsys, E.check_iou(2 / 12, (0, 5), (3, 12)), "wrong", "inclusive")
    verdict(capsys, E.check_iou(5, (0, 9), (5, 14)), "wrong", "number of shared frames")
    verdict(capsys, E.check_iou(6 / 13, (0, 5), (0, 12)), "correct")
    verdict(capsys, E.check_iou(100 / 3, (0, 9), (5, 14)), "wrong", "percentage")


def test_fixed_window_iou_is_the_interval_iou_of_every_placement():
    from melab.metrics import interval_iou

    for length, k in [(6, 5), (6, 3), (15, 5), (1, 1)]:
        expected = [interval_iou((p - k, p + k), (0, length - 1)) for p in range(length)]
        np.testing.assert_allclose(E.fixed_window_iou(length, k), expected)
    assert np.allclose(E.fixed_window_iou(6, 5), 6 / 11)  # the correction: any peak in the ME gives 6/11
    with pytest.raises(ValueError, match="length and k"):
        E.fixed_window_iou(0, 3)


def test_losing_k(capsys):
    verdict(capsys, E.check_losing_k(6, 6), "correct", "13 frames", "0.462", "0.545")
    verdict(capsys, E.check_losing_k(5, 6), "wrong", "still matches")
    verdict(capsys, E.check_losing_k(13, 6), "wrong", "window length 2k + 1")
    verdict(capsys, E.check_losing_k(9, 6), "wrong", "already lost at a smaller k")
    verdict(capsys, E.check_losing_k(2.5, 6), "wrong", "whole number")


# ------------------------------------------------------------------ 05


QUIZ = pd.DataFrame([[8, 1, 1], [2, 3, 0], [1, 0, 4]], index=["negative", "positive", "surprise"],
                    columns=["negative", "positive", "surprise"])


def test_uar(capsys):
    m = QUIZ.to_numpy()
    solution = np.mean(np.diag(m) / m.sum(axis=1))
    verdict(capsys, E.check_uar(solution, QUIZ), "correct", "0.733")
    verdict(capsys, E.check_uar(15 / 20, QUIZ), "wrong", "accuracy")
    verdict(capsys, E.check_uar(np.mean(np.diag(m) / m.sum(axis=0)), QUIZ), "wrong", "column sums", "precision")
    verdict(capsys, E.check_uar(0.743, QUIZ), "wrong", "UF1")
    verdict(capsys, E.check_uar(73.3, QUIZ), "wrong", "percentage")
    verdict(capsys, E.check_uar(solution, m, labels=list(QUIZ.index)), "correct")


def test_most_confused(capsys):
    labels = ["anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise"]
    m = np.diag([5, 12, 12, 1, 4, 6, 4])
    m[0, 5], m[0, 2], m[3, 1], m[5, 1] = 3, 2, 11, 6  # anger -> sadness is the largest negative confusion
    cm = pd.DataFrame(m, index=labels, columns=labels)
    verdict(capsys, E.check_most_confused(("anger", "sadness"), cm), "correct", "3 anger samples", "sadness")
    verdict(capsys, E.check_most_confused(("sadness", "anger"), cm), "wrong", "reversed", "(anger, sadness)")
    verdict(capsys, E.check_most_confused(("fear", "contempt"), cm), "wrong", "contempt is not among")
    verdict(capsys, E.check_most_confused(("anger", "anger"), cm), "wrong", "diagonal")
    verdict(capsys, E.check_most_confused(("anger", "disgust"), cm), "wrong", "2 anger samples", "has 3")
    verdict(capsys, E.check_most_confused("none", pd.DataFrame(np.diag([1] * 7), index=labels, columns=labels)),
            "correct")


def test_confusion_checkers_reject_fractions_and_unnamed_classes():
    with pytest.raises(ValueError, match="sample counts"):
        E.check_uar(0.5, QUIZ / QUIZ.to_numpy().sum(axis=1, keepdims=True))
    with pytest.raises(ValueError, match="fewer than two"):
        E.check_most_confused(("anger", "fear"), np.eye(7, dtype=int))
