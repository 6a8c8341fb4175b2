"""Every checker: None prints its fixed hint (no code, no value); the reference is accepted in every form (its
2-significant-digit rounding, the student's own precision, any case, scalar / str / list / array / Series /
DataFrame); each listed mistake gets its message; a coding checker accepts a reference solution and names the first
hidden case a typical wrong one fails."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from melab import exercises as E
from melab import face, flow, scan, train
from melab.data import synthetic as S
from melab.exercises._feedback import Number, agrees, read_number

sys.path.insert(0, str(Path(__file__).parent))
from lesson_solutions import SOLUTIONS  # noqa: E402 - the reference solutions of the coding exercises


def verdict(capsys, feedback: E.Feedback, status: str, *words: str) -> None:
    """The checker returned ``status``, printed one line with its prefix, and the line names every word."""
    out = capsys.readouterr().out
    prefix = {"unanswered": "not answered yet: ", "correct": "correct: ", "wrong": "not quite: "}[status]
    assert feedback.status == status, out
    assert out.startswith(prefix) and out.count("\n") == 1, out
    for word in words:
        assert word in out, (word, out)


def sig2(x: float) -> float:
    """``x`` rounded to two significant digits."""
    return float(f"{x:.2g}")


def containers(x) -> dict:
    """One value in every form a student may give it."""
    return {"float": float(x), "str": repr(float(x)), "list": [x], "tuple": (x,), "ndarray": np.array([x]),
            "0-d array": np.array(x), "Series": pd.Series([x]), "DataFrame": pd.DataFrame([[x]]),
            "float32": np.float32(x)}


# ------------------------------------------------------------------------------------------ the shared core


@pytest.mark.parametrize("text, value, decimals", [("0.55", 0.55, 2), ("−0.7", -0.7, 1), ("55%", 0.55, 2),
                                                   ("6/11", 6 / 11, None), ("1e-05", 1e-5, 5), (" 12 ", 12.0, 0),
                                                   ("0,5", 0.5, 1)])
def test_read_number_keeps_the_precision_written(text, value, decimals):
    number = read_number(text)
    assert number is not None and math.isclose(number.value, value) and number.decimals == decimals


def test_read_number_refuses_what_is_not_one_number():
    for answer in [None, True, "abc", "1/0", [1, 2], np.zeros(3), float("nan"), float("inf"), {}, b"1", 1j,
                   pd.DataFrame([[1, 2]]), object()]:
        assert read_number(answer) is None, answer


def test_agrees_at_the_students_precision_and_at_least_one_significant_digit():
    assert agrees(read_number(0.55), 6 / 11) and agrees(read_number(0.53), 0.5341) and agrees(read_number(0.1), 0.1054)
    assert agrees(read_number("0.545"), 6 / 11) and not agrees(read_number(0.54), 6 / 11)
    assert not agrees(read_number(1), 6 / 11)  # no significant digit of 0.545 in "1"
    assert not agrees(read_number(0.0), 0.003) and agrees(read_number(0.003), 0.0031)
    assert agrees(Number(6 / 11 + 1e-9, None), 6 / 11) and not agrees(Number(0.5455, None), 6 / 11)
    assert agrees(read_number(47), 47) and not agrees(read_number(50), 47)


# ------------------------------------------------------------------------------------------ hints


def _unanswered_calls():
    windows = _windows()
    cm = pd.DataFrame(np.diag([2, 3, 1, 4]), index=list(E.dgcm_confusion.FINE_CLASSES),
                      columns=list(E.dgcm_confusion.FINE_CLASSES))
    videos = pd.DataFrame({"video": ["a", "b"], "subject": ["s1", "s2"]})
    events = pd.DataFrame({"video": ["v"], "onset": [2], "offset": [4], "kind": ["micro"], "emotion": ["anger"]})
    accuracy = pd.DataFrame({"ms_per_pair": [4.0, 40.0]}, index=["farneback", "tvl1"])
    flows = np.zeros((2, 2, 2)), np.ones((2, 2, 2))
    return {
        "check_au_for_landmark": lambda: E.check_au_for_landmark(None, 33),
        "check_landmark_motion": lambda: E.check_landmark_motion(None, "AU9", 31, intensity_px=0.8),
        "check_expression_frames": lambda: E.check_expression_frames(None),
        "check_epe_function": lambda: E.check_epe_function(None),
        "check_epe": lambda: E.check_epe(None, *flows),
        "check_speed_ratio": lambda: E.check_speed_ratio(None, accuracy),
        "check_au_roi": lambda: E.check_au_roi(None, "AU14"),
        "check_scan_order": lambda: E.check_scan_order(None),
        "check_scan_function": lambda: E.check_scan_function(None),
        "check_memory": lambda: E.check_memory(None, 0.05, 20),
        "check_redundancy": lambda: E.check_redundancy(None, "h_zigzag", "h_zigzag_mirror"),
        "check_epoch_windows": lambda: E.check_epoch_windows(None, windows, 4.0),
        "check_loso_function": lambda: E.check_loso_function(None),
        "check_loso_split": lambda: E.check_loso_split(None, "s1", videos),
        "check_ratio_effect": lambda: E.check_ratio_effect(None, np.zeros(8), np.zeros(8), events),
        "check_iou_function": lambda: E.check_iou_function(None),
        "check_iou": lambda: E.check_iou(None, (98, 108), (100, 106)),
        "check_losing_k": lambda: E.check_losing_k(None, 3),
        "check_paired_bootstrap": lambda: E.check_paired_bootstrap(None),
        "check_recognition_function": lambda: E.check_recognition_function(None),
        "check_uar": lambda: E.check_uar(None, cm),
        "check_most_confused": lambda: E.check_most_confused(None, cm),
    }


def test_every_checker_prints_a_fixed_hint_without_code_or_value(capsys):
    calls = _unanswered_calls()
    assert set(calls) == {n for n in E.__all__ if n.startswith("check_")}
    for name, call in calls.items():
        first = call()
        out = capsys.readouterr().out
        assert first.status == "unanswered" and not first, name
        assert out.startswith("not answered yet: ") and out.count("\n") == 1, out
        call()
        assert capsys.readouterr().out == out, name  # deterministic: nbval compares it
        for code in ("np.", "S.", ".loc[", "[[", "==", "!=", "(subject", "argmax", "answer ="):
            assert code not in out, (name, code, out)
    # the values the notebooks ask for appear in none of the hints
    hints = "".join(call().message for call in calls.values())
    capsys.readouterr()
    for value in ("0.571", "0.57", "0.368", "0.37", "0.875", "0.88", "0.14", "0.71", "AU10", "mouth_corner_l", "0.534"):
        assert value not in hints, value


# ------------------------------------------------------------------------------------------ 00


def test_au_for_landmark(capsys):
    verdict(capsys, E.check_au_for_landmark("au10", 33), "correct", "AU10", "upper lip raiser")  # the notebook's case
    verdict(capsys, E.check_au_for_landmark("AU9", 33), "wrong", "another AU")  # the nose wrinkler: a natural guess
    verdict(capsys, E.check_au_for_landmark("AU4", 19), "correct", "AU4", "brow lowerer")
    for form in ["au4", " AU 4 ", "Au_4", 4, "4", np.int64(4), ["AU4"], np.array(["AU4"]), pd.Series(["AU4"]),
                 pd.DataFrame([["AU4"]])]:
        verdict(capsys, E.check_au_for_landmark(form, 19), "correct", "AU4")
    verdict(capsys, E.check_au_for_landmark("AU2", 19), "wrong", "0.30 px", "0.58 px")
    verdict(capsys, E.check_au_for_landmark("AU99", 19), "wrong", "not an AU")
    verdict(capsys, E.check_au_for_landmark("AU45", 8), "wrong", "does not reach landmark 8")
    verdict(capsys, E.check_au_for_landmark(4.5, 19), "wrong", "AU code")
    verdict(capsys, E.check_au_for_landmark(["AU4", "AU1"], 19), "wrong", "AU code")


def _au9():
    subject = S.make_subject(0, 0)
    return 0.8 * S.au_displacement(subject, subject.landmarks[[31]].astype(float))[S.AU_CODES.index("AU9"), 0]


def test_landmark_motion_reads_any_pair_and_names_the_sign_and_the_order(capsys):
    ref = _au9()
    call = lambda answer: E.check_landmark_motion(answer, "AU9", 31, intensity_px=0.8)  # noqa: E731
    for form in [ref, tuple(ref), list(ref), pd.Series(ref), pd.DataFrame([ref]), (0.14, -0.71), (0.1, -0.7),
                 "(0.14, −0.71)", "0.14 -0.71", {"dx": 0.14, "dy": -0.71}, np.float32(ref)]:
        verdict(capsys, call(form), "correct", "up on the image")
    verdict(capsys, call(ref * [1, -1]), "wrong", "sign of dy", "downwards")
    verdict(capsys, call((-0.14, -0.71)), "wrong", "sign of dx")
    verdict(capsys, call(ref[::-1]), "wrong", "swapped")
    verdict(capsys, call(ref * 1.25), "wrong", "wrong length", "1.25 ×")
    verdict(capsys, call("up"), "wrong", "two numbers")
    verdict(capsys, call((0.3, 0.3)), "wrong", "vector of 0.72 px")


def test_expression_frames_function(capsys):
    verdict(capsys, E.check_expression_frames(SOLUTIONS["expression_frames"]), "correct", "6 hidden cases")

    def exclusive(events, n_frames, kind="micro"):
        inside = np.zeros(n_frames, bool)
        for onset, offset in events.loc[events["kind"] == kind, ["onset", "offset"]].to_numpy():
            inside[onset:offset] = True
        return inside

    verdict(capsys, E.check_expression_frames(exclusive), "wrong", "hidden case 1 of 6", "offset is inclusive")
    every_kind = lambda events, n_frames, kind="micro": SOLUTIONS["expression_frames"](  # noqa: E731
        events.assign(kind=kind), n_frames, kind)
    verdict(capsys, E.check_expression_frames(every_kind), "wrong", "requested kind")
    as_ints = lambda *args: SOLUTIONS["expression_frames"](*args).astype(int).tolist()  # noqa: E731
    verdict(capsys, E.check_expression_frames(as_ints), "correct")
    verdict(capsys, E.check_expression_frames(lambda events, n, kind: np.zeros(n + 1)), "wrong", "one True/False")


# ------------------------------------------------------------------------------------------ 01


def test_au_roi(capsys):
    # the notebook's solution: the ROI series of a contempt ME, the largest magnitude at the apex
    clip = S.generate_clip(0, 0, "contempt", kind="micro", amplitude_px=1.2)
    series = flow.roi_series(clip.frames, clip.landmarks, k=20, detrend=None)
    apex_motion = np.hypot(series[:, 0::2], series[:, 1::2])[int(clip.events.apex[0])]
    solution = face.roi_names()[int(np.argmax(apex_motion))]
    assert solution == "mouth_corner_l"
    for form in [solution, "Mouth_Corner_L", "mouth corner l", " MOUTH-CORNER-L ", [solution], np.array([solution]),
                 pd.Series([solution]), pd.DataFrame([[solution]])]:
        verdict(capsys, E.check_au_roi(form, "AU14"), "correct", "mouth_corner_l")
    verdict(capsys, E.check_au_roi("mouth_corner_r", "AU14"), "wrong", "wrong side", "subject's left")
    verdict(capsys, E.check_au_roi("Mouth", "AU14"), "wrong", "region around it")
    verdict(capsys, E.check_au_roi("brow_r", "AU14"), "wrong", "0.00 px", "anchors")
    verdict(capsys, E.check_au_roi("left mouth corner", "AU14"), "wrong", "not an ROI name")
    verdict(capsys, E.check_au_roi(3, "AU14"), "wrong", "not an ROI name")


def _flow_pair():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(16, 16, 2))
    return truth + rng.normal(scale=0.3, size=truth.shape), truth


def test_epe_value(capsys):
    est, truth = _flow_pair()
    diff = est - truth
    ref = np.linalg.norm(diff, axis=-1).mean()
    for form in containers(ref).values():
        verdict(capsys, E.check_epe(form, est, truth), "correct", f"{ref:.3f} px")
    verdict(capsys, E.check_epe(sig2(ref), est, truth), "correct")
    verdict(capsys, E.check_epe(f"{ref:.1f}", est, truth), "correct")
    magnitudes = np.abs(np.linalg.norm(est, axis=-1) - np.linalg.norm(truth, axis=-1)).mean()
    verdict(capsys, E.check_epe(magnitudes, est, truth), "wrong", "compared magnitudes")
    verdict(capsys, E.check_epe(np.abs(diff).mean(), est, truth), "wrong", "L1")
    verdict(capsys, E.check_epe((diff ** 2).sum(-1).mean(), est, truth), "wrong", "squared")
    verdict(capsys, E.check_epe(np.sqrt((diff ** 2).sum(-1).mean()), est, truth), "wrong", "root-mean-square")
    verdict(capsys, E.check_epe(np.abs(diff).sum(-1).mean(), est, truth), "wrong", "|dx| + |dy|")
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    inside = np.linalg.norm(diff[mask], axis=-1).mean()
    verdict(capsys, E.check_epe(inside, est, truth, mask), "correct")
    verdict(capsys, E.check_epe(np.linalg.norm(diff[mask], axis=-1).sum(), est, truth, mask), "wrong", "summed")
    verdict(capsys, E.check_epe("a lot", est, truth), "wrong", "one number")
    with pytest.raises(ValueError, match="true_flow"):
        E.check_epe(0.1, est, truth[:3])


def test_epe_magnitude_diagnosis_waits_for_rounding(capsys):
    """0.1 for an EPE of 0.1054 is right, even when comparing magnitudes gives 0.10 too."""
    truth = np.zeros((2, 2, 2))
    truth[..., 0] = 1.0
    est = truth.copy()
    est[..., 0] = 1.1054
    assert math.isclose(flow.flow_epe(est, truth), 0.1054)
    verdict(capsys, E.check_epe(0.1, est, truth), "correct", "0.105")


def test_epe_function(capsys):
    verdict(capsys, E.check_epe_function(SOLUTIONS["my_epe"]), "correct", "melab.flow.flow_epe")
    magnitudes = lambda est, truth, mask=None: float(np.abs(  # noqa: E731
        np.linalg.norm(est, axis=-1) - np.linalg.norm(truth, axis=-1)).mean())
    verdict(capsys, E.check_epe_function(magnitudes), "wrong", "hidden case 1 of 5", "compared magnitudes")
    rms = lambda est, truth, mask=None: float(np.sqrt(((est - truth) ** 2).sum(-1).mean()))  # noqa: E731
    verdict(capsys, E.check_epe_function(rms), "wrong", "root-mean-square")
    no_mask = lambda est, truth, mask=None: SOLUTIONS["my_epe"](est, truth)  # noqa: E731
    verdict(capsys, E.check_epe_function(no_mask), "wrong", "hidden case 2 of 5", "mask of", "inside the mask")


def test_speed_ratio(capsys):
    accuracy = pd.DataFrame({"ms_per_pair": [9.1, 68.0, 1.9]}, index=["farneback", "tvl1", "dis"])
    ref = 68.0 / 9.1
    for form in containers(ref).values():
        verdict(capsys, E.check_speed_ratio(form, accuracy), "correct", "7.5 ×")
    verdict(capsys, E.check_speed_ratio(7.5, accuracy), "correct")
    verdict(capsys, E.check_speed_ratio("7", accuracy), "correct")  # the student's precision: whole times
    verdict(capsys, E.check_speed_ratio(9.1 / 68.0, accuracy), "wrong", "upside down")
    verdict(capsys, E.check_speed_ratio(68.0 - 9.1, accuracy), "wrong", "difference in milliseconds")
    verdict(capsys, E.check_speed_ratio(40, accuracy), "wrong", "ms_per_pair")
    with pytest.raises(ValueError, match="accuracy"):
        E.check_speed_ratio(7.5, accuracy.rename(columns={"ms_per_pair": "ms"}))


# ------------------------------------------------------------------------------------------ 02


def test_scan_order_names_the_mistake_never_the_token(capsys):
    solution = scan.scan_order(4, 3, "v_zigzag").tolist()
    for form in [solution, tuple(solution), np.array(solution), pd.Series(solution), " ".join(map(str, solution)),
                 str(solution), np.array(solution, float)]:
        verdict(capsys, E.check_scan_order(form, 4, 3, "v_zigzag"), "correct", "v_zigzag on 4 × 3")
    column_major = [(i % 3) * 4 + i // 3 for i in solution]  # c * h + r
    verdict(capsys, E.check_scan_order(column_major, 4, 3), "wrong", "column-major", "r * 3 + c")
    verdict(capsys, E.check_scan_order(scan.scan_order(4, 3, "v_raster"), 4, 3), "wrong", "v_raster")
    verdict(capsys, E.check_scan_order(solution[:-1], 4, 3), "wrong", "11 tokens given, 12 expected")
    verdict(capsys, E.check_scan_order([(0, 0), (1, 0)], 4, 3), "wrong", "not (row, column) pairs")
    verdict(capsys, E.check_scan_order(5, 4, 3), "wrong", "flat list of 12 whole numbers")
    verdict(capsys, E.check_scan_order(solution[::-1], 4, 3), "wrong")  # that is v_zigzag_rev
    swapped = solution.copy()
    swapped[5], swapped[6] = swapped[6], swapped[5]  # a jump in the middle of the path
    out = E.check_scan_order(swapped, 4, 3).message
    capsys.readouterr()
    assert "jumps" in out and not any(f"token {t}" in out for t in range(12))


def test_scan_function(capsys):
    verdict(capsys, E.check_scan_function(SOLUTIONS["my_scan_order"]), "correct", "28 hidden cases")
    raster_only = lambda h, w, kind: scan.scan_order(h, w, kind.replace("zigzag", "raster"))  # noqa: E731
    verdict(capsys, E.check_scan_function(raster_only), "wrong", "h=2, w=3, kind='h_zigzag'", "reverses every other")
    transposed = lambda h, w, kind: scan.scan_order(h, w, {"h": "v", "v": "h"}[kind[0]] + kind[1:])  # noqa: E731
    verdict(capsys, E.check_scan_function(transposed), "wrong", "transposed")
    assert all(case.args[:2] != (4, 3) for case in E.scan_order._scan_cases())  # never the notebook's own grid


def test_memory(capsys):
    ref = math.exp(-0.05 * 20)
    for form in containers(ref).values():
        verdict(capsys, E.check_memory(form, 0.05, 20), "correct", "0.368")
    verdict(capsys, E.check_memory(0.37, 0.05, 20), "correct")
    verdict(capsys, E.check_memory("e^-1", 0.05, 20), "wrong", "one number")
    verdict(capsys, E.check_memory(math.exp(-0.05), 0.05, 20), "wrong", "after one step")
    verdict(capsys, E.check_memory(1 - 0.05 * 20 + 0.5, 0.05, 20), "wrong")
    verdict(capsys, E.check_memory(math.exp(-20 / 0.05), 0.05, 20), "wrong", "does not divide")
    verdict(capsys, E.check_memory(100 * ref, 0.05, 20), "wrong", "percentage")
    verdict(capsys, E.check_memory(1 - ref, 0.05, 20), "wrong", "share forgotten")
    verdict(capsys, E.check_memory(0.9, 0.05, 20), "wrong", "exp(Δ·A)")


def test_redundancy(capsys):
    ref = 42 / 48
    for form in containers(ref).values():
        verdict(capsys, E.check_redundancy(form, "h_zigzag", "h_zigzag_mirror"), "correct", "0.875")
    for form in [0.88, "0.88", "42/48", "87.5%", 0.9]:
        verdict(capsys, E.check_redundancy(form, "h_zigzag", "h_zigzag_mirror"), "correct")
    verdict(capsys, E.check_redundancy(87.5, "h_zigzag", "h_zigzag_mirror"), "wrong", "percentage")
    verdict(capsys, E.check_redundancy(42, "h_zigzag", "h_zigzag_mirror"), "wrong", "number of shared pairs")
    verdict(capsys, E.check_redundancy(0.0, "h_zigzag", "h_zigzag_rev"), "wrong", "ordered pairs")
    verdict(capsys, E.check_redundancy(0.5, "h_zigzag", "h_zigzag_mirror"), "wrong", "7 × 7 grid")


# ------------------------------------------------------------------------------------------ 03


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
    for form in containers(n_pos + n_pos).values():
        verdict(capsys, E.check_epoch_windows(form, windows, 1.0), "correct", "4 positive + 4 negative")
    verdict(capsys, E.check_epoch_windows("8", windows, 1.0), "correct")
    verdict(capsys, E.check_epoch_windows(n_pos + n_neg, windows, 10.0), "correct", "capped")
    verdict(capsys, E.check_epoch_windows(n_pos, windows, 1.0), "wrong", "only the negatives")
    verdict(capsys, E.check_epoch_windows(n_pos + 40, windows, 10.0), "wrong", "only 34 negative windows")
    verdict(capsys, E.check_epoch_windows(n_pos + n_neg, windows, 1.0), "wrong", "every window")
    verdict(capsys, E.check_epoch_windows(7.5, windows, 1.0), "wrong", "positives 4")


def _ratio_events(macro: bool = False) -> pd.DataFrame:
    rows = [("v", 10, 12, 14, "anger", "micro")] + ([("v", 20, 25, 34, "anger", "macro")] if macro else [])
    return pd.DataFrame(rows, columns=["video", "onset", "apex", "offset", "emotion", "kind"]).assign(fps=30,
                                                                                                       subject="s")


def test_ratio_effect_one_run_follows_the_measurement_and_says_how_to_add_seeds(capsys):
    events = _ratio_events()
    low, high = np.full(40, 0.30), np.full(40, 0.10)
    high[10:15] = low[10:15] = 0.9  # inside the ME: not counted
    for form in ["lower", "Lower", " LOWER ", "decrease", "down", ["lower"], np.array(["lower"]),
                 pd.Series(["lower"]), pd.DataFrame([["lower"]])]:
        verdict(capsys, E.check_ratio_effect(form, {"v": low}, {"v": high}, events), "correct", "0.300 to 0.100",
                "seed=1")
    verdict(capsys, E.check_ratio_effect("higher", {"v": low}, {"v": high}, events), "wrong", "towards their target")
    verdict(capsys, E.check_ratio_effect("same", low, low + 0.001, events), "correct")
    out = E.check_ratio_effect("lower", low, low + 0.1, events).message
    capsys.readouterr()
    assert "predicted lower" in out and "seed=1" in out and "against the expected" not in out
    verdict(capsys, E.check_ratio_effect("sideways", low, high, events), "wrong", "'higher', 'lower' or 'same'")


def test_ratio_effect_over_seeds_needs_every_seed_to_agree(capsys):
    events = _ratio_events()
    low = [np.full(40, 0.30), np.full(40, 0.25), np.full(40, 0.28)]
    verdict(capsys, E.check_ratio_effect("lower", low, [x - 0.1 for x in low], events), "correct", "all 3 seeds",
            "-0.100")
    mixed = [low[0] - 0.1, low[1] + 0.05, low[2] - 0.1]
    verdict(capsys, E.check_ratio_effect("lower", low, mixed, events), "wrong", "3 seeds disagree", "+0.050")
    with pytest.raises(ValueError, match="pair them by seed"):
        E.check_ratio_effect("lower", low, low[:2], events)


def test_ratio_effect_counts_macro_expression_frames(capsys):
    """MaE frames have target 0, so a drop there is the effect of more negatives; ME frames never count."""
    events = _ratio_events(macro=True)
    low, high = np.full(40, 0.02), np.full(40, 0.02)
    low[20:35], high[20:35] = 0.6, 0.2  # the MaE: false alarms that more negatives suppress
    high[10:15] = 0.9  # the ME itself rose: not a target-0 frame
    verdict(capsys, E.check_ratio_effect("lower", {"v": low}, {"v": high}, events), "correct", "0.269 to 0.097")


def _videos():
    return pd.DataFrame({"video": ["s1_1", "s1_2", "s2_1", "s2_2", "s3_1"], "subject": ["s1", "s1", "s2", "s2", "s3"],
                         "fps": 30, "height": 128, "n_frames": 1500})


def test_loso_split_reads_any_container_and_a_video_table(capsys):
    videos = _videos()
    solution = list(videos.loc[videos["subject"] != "s2", "video"])
    kept = videos["subject"] != "s2"
    for form in [solution, tuple(solution), set(solution), np.array(solution), pd.Series(solution),
                 pd.Index(solution), videos[kept], videos.loc[kept, ["video"]]]:
        verdict(capsys, E.check_loso_split(form, "s2", videos), "correct", "3 videos of 2 subjects")
    verdict(capsys, E.check_loso_split(solution + ["s2_2"], "s2", videos), "wrong", "s2_2 belongs to the held-out")
    out = E.check_loso_split(solution[:-1], "s2", videos).message
    capsys.readouterr()
    assert "1 training video(s) are missing" in out and "s3_1" not in out  # how many, never which
    verdict(capsys, E.check_loso_split("s1_1", "s2", videos), "wrong", "list of video names")
    verdict(capsys, E.check_loso_split(18, "s2", videos), "wrong", "not how many")
    verdict(capsys, E.check_loso_split(["fps", "height"], "s2", videos), "wrong", "not videos of this table")
    with pytest.raises(ValueError, match="held_out"):
        E.check_loso_split(solution, "s9", videos)


def test_loso_function(capsys):
    verdict(capsys, E.check_loso_function(SOLUTIONS["loso_split"]), "correct", "5 hidden cases")

    def swapped(videos):
        return {s: (test, train_) for s, (train_, test) in SOLUTIONS["loso_split"](videos).items()}

    verdict(capsys, E.check_loso_function(swapped), "wrong", "hidden case 1 of 5", "swapped")

    def leaky(videos):
        return {s: (list(videos["video"]), test) for s, (_, test) in SOLUTIONS["loso_split"](videos).items()}

    verdict(capsys, E.check_loso_function(leaky), "wrong", "a leak")
    first_two = lambda videos: dict(list(SOLUTIONS["loso_split"](videos).items())[:2])  # noqa: E731
    verdict(capsys, E.check_loso_function(first_two), "wrong", "one fold per subject")
    verdict(capsys, E.check_loso_function(lambda videos: list(videos["video"])), "wrong", "return a dict")


# ------------------------------------------------------------------------------------------ 04


def test_iou_value(capsys):
    a, b = (98, 108), (100, 106)
    ref = 7 / 11
    for form in containers(ref).values():
        verdict(capsys, E.check_iou(form, a, b), "correct", "0.636")
    for form in [0.64, "0.64", "7/11", "63.6%", 0.6]:
        verdict(capsys, E.check_iou(form, a, b), "correct")
    verdict(capsys, E.check_iou(1.0, a, b), "wrong", "shorter interval")
    verdict(capsys, E.check_iou(7, a, b), "wrong", "number of shared frames")
    verdict(capsys, E.check_iou(63.6, a, b), "wrong", "percentage")
    verdict(capsys, E.check_iou(2 / 12, (0, 5), (3, 12)), "wrong", "inclusive")
    verdict(capsys, E.check_iou(3 / 10, (0, 5), (3, 12)), "wrong", "longer interval")
    verdict(capsys, E.check_iou(0.6, a, b), "correct")  # 0.636 to one decimal: no diagnosis within rounding
    verdict(capsys, E.check_iou(0.7, a, b), "wrong", "share 7 frames")
    verdict(capsys, E.check_iou(0.55, (98, 108), (100, 105)), "correct")  # the case: 6/11 as printed


def test_iou_function(capsys):
    verdict(capsys, E.check_iou_function(SOLUTIONS["iou"]), "correct", "8 hidden cases")

    def exclusive(a, b):
        shared = max(0, min(a[1], b[1]) - max(a[0], b[0]))
        union = (a[1] - a[0]) + (b[1] - b[0]) - shared
        return shared / union if union else 0.0

    verdict(capsys, E.check_iou_function(exclusive), "wrong", "hidden case 1 of 8", "inclusive")
    shorter = lambda a, b: max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1) / min(a[1] - a[0] + 1,  # noqa: E731
                                                                             b[1] - b[0] + 1)
    verdict(capsys, E.check_iou_function(shorter), "wrong", "shorter interval")
    negative = lambda a, b: (min(a[1], b[1]) - max(a[0], b[0]) + 1) / (max(a[1], b[1]) - min(a[0], b[0]) + 1)  # noqa
    verdict(capsys, E.check_iou_function(negative), "wrong", "hidden case 6 of 8", "a=(50, 60), b=(0, 3)")


def test_fixed_window_iou_is_the_interval_iou_of_every_placement():
    from melab.metrics import interval_iou

    for length, k in [(6, 5), (6, 3), (15, 5), (1, 1)]:
        expected = [interval_iou((p - k, p + k), (0, length - 1)) for p in range(length)]
        np.testing.assert_allclose(E.fixed_window_iou(length, k), expected)
    assert np.allclose(E.fixed_window_iou(6, 5), 6 / 11)  # any peak inside a 6-frame ME gives 6/11
    with pytest.raises(ValueError, match="length and k"):
        E.fixed_window_iou(0, 3)


def test_losing_k(capsys):
    for form in [6, "6", [6], np.array([6]), pd.Series([6]), pd.DataFrame([[6]]), 6.0]:
        verdict(capsys, E.check_losing_k(form, 6), "correct", "13 frames", "0.462", "0.545")
    verdict(capsys, E.check_losing_k(5, 6), "wrong", "still matches")
    verdict(capsys, E.check_losing_k(13, 6), "wrong", "window length 2k + 1")
    verdict(capsys, E.check_losing_k(9, 6), "wrong", "already lost at a smaller k")
    verdict(capsys, E.check_losing_k(2.5, 6), "wrong", "whole number")


def test_paired_bootstrap(capsys):
    verdict(capsys, E.check_paired_bootstrap(SOLUTIONS["paired_bootstrap"]), "correct", "4 hidden cases")
    rng = np.random.default_rng(0)

    def unpaired(a, b, seed=0):
        n = len(a)
        gaps = [float(E.interval_decoding.micro_f1(b[rng.integers(0, n, n)]) -
                      E.interval_decoding.micro_f1(a[rng.integers(0, n, n)])) for _ in range(3000)]
        return tuple(np.percentile(gaps, [2.5, 97.5]))

    verdict(capsys, E.check_paired_bootstrap(unpaired), "wrong", "hidden case 1 of 4", "independently")
    reversed_sign = lambda a, b, seed=0: tuple(-x for x in SOLUTIONS["paired_bootstrap"](b, a)[::-1])  # noqa: E731
    verdict(capsys, E.check_paired_bootstrap(lambda a, b, seed=0: SOLUTIONS["paired_bootstrap"](b, a)), "wrong",
            "sign is reversed")
    verdict(capsys, E.check_paired_bootstrap(reversed_sign), "correct")  # B − A computed the long way round
    verdict(capsys, E.check_paired_bootstrap(lambda a, b, seed=0: 0.01), "wrong", "two ends")


def test_claim_counts_reproduce_the_shipped_claims_report():
    """The per-video counts the bootstrap exercise uses give the report's F1 values and its BCa interval."""
    import json

    from melab.effects import f1_difference
    from melab.train import ARTEFACTS, load_roi_corpus, load_scores
    from melab.tuning import micro_f1

    report = json.loads((ARTEFACTS.parent / "benchmarks" / "results" / "claims_shipped_lab.json").read_text())
    scores, _ = load_scores(ARTEFACTS / "spotter_lab_loso.npz")
    roi = load_roi_corpus()
    counts = E.claim_counts(report, scores, roi.events, roi.series)
    rows = {(r["arm_a"], r["claim"].split("(")[1][:4]): r for r in report["rows"]}
    matched = rows[("fixed window", "matc")]
    best = rows[("fixed window", "best")]
    learned = rows[("feature difference", "feat")]
    for row, a, b in [(matched, "fixed window (matched)", "SISS"), (best, "fixed window (best)", "SISS"),
                      (learned, "feature difference", "SISS")]:
        assert round(float(micro_f1(counts[a].to_numpy())), 4) == row["value_a"]
        assert round(float(micro_f1(counts[b].to_numpy())), 4) == row["value_b"]
        effect = f1_difference(counts[a].to_numpy(), counts[b].to_numpy())
        assert (round(effect.ci_low, 4), round(effect.ci_high, 4)) == (row["ci_low"], row["ci_high"])
    assert list(counts["SISS"].index) == sorted(scores)


# ------------------------------------------------------------------------------------------ 05


QUIZ = pd.DataFrame([[8, 1, 1], [2, 3, 0], [1, 0, 4]], index=["negative", "positive", "surprise"],
                    columns=["negative", "positive", "surprise"])


def test_uar(capsys):
    m = QUIZ.to_numpy()
    ref = np.mean(np.diag(m) / m.sum(axis=1))
    for form in containers(ref).values():
        verdict(capsys, E.check_uar(form, QUIZ), "correct", "0.733")
    verdict(capsys, E.check_uar(0.73, QUIZ), "correct")
    verdict(capsys, E.check_uar("73.3%", QUIZ), "correct")
    verdict(capsys, E.check_uar(15 / 20, QUIZ), "wrong", "accuracy")
    verdict(capsys, E.check_uar(np.mean(np.diag(m) / m.sum(axis=0)), QUIZ), "wrong", "column sums", "precision")
    verdict(capsys, E.check_uar(0.743, QUIZ), "wrong", "UF1")
    verdict(capsys, E.check_uar(73.3, QUIZ), "wrong", "percentage")
    verdict(capsys, E.check_uar(ref, m, labels=list(QUIZ.index)), "correct")
    verdict(capsys, E.check_uar(0.5, QUIZ), "wrong", "equal weight")


def test_uar_accepts_the_rounded_value_that_equals_the_rounded_accuracy(capsys):
    """DGCM's UAR 0.534 and its accuracy 0.530: 0.53 is within rounding of the UAR, so no 'accuracy' diagnosis."""
    labels = ["a", "b"]
    cm = pd.DataFrame([[53, 47], [47, 53]], index=labels, columns=labels)  # UAR = ACC = 0.53
    verdict(capsys, E.check_uar(0.53, cm), "correct")
    cm = pd.DataFrame([[10, 4, 1], [3, 6, 2], [2, 1, 7]], index=list("abc"), columns=list("abc"))
    s = E.dgcm_confusion._scores(*E.dgcm_confusion._labels_from(cm, None))
    assert round(s.acc, 2) != round(s.uar, 3)
    verdict(capsys, E.check_uar(round(s.uar, 2), cm), "correct")


def test_recognition_function(capsys):
    verdict(capsys, E.check_recognition_function(SOLUTIONS["uar_uf1"]), "correct", "4 hidden cases")

    def accuracy_for_uar(confusion):
        m = np.asarray(confusion, float)
        return np.trace(m) / m.sum(), SOLUTIONS["uar_uf1"](confusion)[1]

    verdict(capsys, E.check_recognition_function(accuracy_for_uar), "wrong", "hidden case 1 of 4", "accuracy")
    verdict(capsys, E.check_recognition_function(lambda c: SOLUTIONS["uar_uf1"](c)[::-1]), "wrong", "swapped")

    def nan_for_empty_columns(confusion):
        m = np.asarray(confusion, float)
        precision, recall = np.diag(m) / m.sum(axis=0), np.diag(m) / m.sum(axis=1)
        return recall.mean(), np.mean(2 * precision * recall / (precision + recall))

    verdict(capsys, E.check_recognition_function(nan_for_empty_columns), "wrong", "never predicted")
    as_dict = lambda c: dict(zip(("uar", "uf1"), SOLUTIONS["uar_uf1"](c), strict=True))  # noqa: E731
    verdict(capsys, E.check_recognition_function(as_dict), "correct")


def test_most_confused(capsys):
    labels = ["anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise"]
    m = np.diag([5, 12, 12, 1, 4, 6, 4])
    m[0, 5], m[0, 2], m[3, 1], m[5, 1] = 3, 2, 11, 6  # anger -> sadness is the largest negative confusion
    cm = pd.DataFrame(m, index=labels, columns=labels)
    for form in [("anger", "sadness"), ["Anger", "Sadness"], "anger -> sadness", "angry, sad", "(anger, sadness)",
                 np.array(["anger", "sadness"]), pd.Series(["anger", "sadness"]), pd.DataFrame([["anger", "sadness"]]),
                 {"true": "anger", "predicted": "sadness"}]:
        verdict(capsys, E.check_most_confused(form, cm), "correct", "3 anger samples", "sadness")
    out = E.check_most_confused(("sadness", "anger"), cm).message
    capsys.readouterr()
    assert "reversed" in out and "(anger, sadness)" not in out
    verdict(capsys, E.check_most_confused(("fear", "contempt"), cm), "wrong", "contempt is not among")
    verdict(capsys, E.check_most_confused(("anger", "anger"), cm), "wrong", "diagonal")
    verdict(capsys, E.check_most_confused(("anger", "disgust"), cm), "wrong", "2 anger samples", "has 3")
    verdict(capsys, E.check_most_confused(("anger", "joy"), cm), "wrong", "happiness")  # a synonym, but outside
    verdict(capsys, E.check_most_confused("rage, fear", cm), "wrong", "not a class")
    verdict(capsys, E.check_most_confused(3, cm), "wrong", "give a pair")
    verdict(capsys, E.check_most_confused("none", pd.DataFrame(np.diag([1] * 7), index=labels, columns=labels)),
            "correct")


def test_confusion_checkers_reject_fractions_and_unnamed_classes():
    with pytest.raises(ValueError, match="sample counts"):
        E.check_uar(0.5, QUIZ / QUIZ.to_numpy().sum(axis=1, keepdims=True))
    with pytest.raises(ValueError, match="fewer than two"):
        E.check_most_confused(("anger", "fear"), np.eye(7, dtype=int))
    with pytest.raises(ValueError, match="square"):
        E.check_uar(0.5, np.ones((2, 3)))
