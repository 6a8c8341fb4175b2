"""Nested (training-fold) selection of decoder settings: the held-out fold never takes part in its own choice."""

import numpy as np
import pytest

from melab.tuning import count_table, micro_f1, nested_select, select, video_counts

TRUTH_ONE = [(10, 20)]
TRUTH_FIVE = [(10, 20), (40, 50), (70, 80), (100, 110), (130, 140)]
WRONG = [(200, 210)]


def decoders(c_thr1, c_thr2):
    """Interval lists per (video, threshold): A and B are right only at threshold 1."""
    table = {("a", 1): TRUTH_ONE, ("a", 2): WRONG, ("b", 1): TRUTH_ONE, ("b", 2): WRONG,
             ("c", 1): c_thr1, ("c", 2): c_thr2}
    return lambda video, thr: table[(video, thr)]


GRID = [{"thr": 1}, {"thr": 2}]
TRUTH = {"a": TRUTH_ONE, "b": TRUTH_ONE, "c": TRUTH_FIVE}
SUBJECTS = {"a": "A", "b": "B", "c": "C"}


def test_video_counts_and_micro_f1():
    assert video_counts([(10, 20), (30, 31)], [(10, 19)]).tolist() == [1, 1, 0]
    assert video_counts([], [(1, 2)]).tolist() == [0, 0, 1]
    assert micro_f1(np.array([[1, 1, 0], [0, 0, 1]])) == pytest.approx(2 / 4)  # 2·1 / (2·1 + 1 + 1)
    assert micro_f1(np.zeros((2, 3))) == 0.0


def test_held_out_fold_whose_scores_would_change_the_choice_is_not_consulted():
    decode = decoders(WRONG, TRUTH_FIVE)  # subject C is right only at threshold 2, with five MEs
    table = count_table(decode, GRID, TRUTH, list(SUBJECTS))
    # On all videos, C's five MEs make threshold 2 the best: a choice made on the test scores would take it.
    assert int(np.argmax(micro_f1(table))) == 1
    sel = nested_select(decode, GRID, TRUTH, SUBJECTS)
    # For C, only A and B vote, and both want threshold 1; C is then scored at threshold 1 (all wrong).
    assert sel.choice["C"] == 0
    assert sel.counts[2].tolist() == [0, 1, 5]
    # For A, the training folds are B and C: threshold 2 wins there (5 TPs of C).
    assert sel.choice["A"] == 1 and sel.params["A"] == {"thr": 2}
    # The held-out scores can be anything: C's choice does not move.
    for c1, c2 in [(TRUTH_FIVE, WRONG), ([], []), (TRUTH_FIVE, TRUTH_FIVE)]:
        assert nested_select(decoders(c1, c2), GRID, TRUTH, SUBJECTS).choice["C"] == 0


def test_nested_select_checks_its_input():
    with pytest.raises(ValueError, match="at least 2 subjects"):
        nested_select(decoders(WRONG, WRONG), GRID, TRUTH, {"a": "A", "b": "A"})
    with pytest.raises(ValueError, match="grid is empty"):
        nested_select(decoders(WRONG, WRONG), [], TRUTH, SUBJECTS)


def test_select_takes_the_best_point_on_every_video_given():
    decode = decoders(WRONG, TRUTH_FIVE)
    # on a, b and c together threshold 2 finds C's five MEs, against A's and B's two at threshold 1
    params, counts = select(decode, GRID, TRUTH, ["a", "b", "c"])
    assert params == {"thr": 2} and counts.tolist() == [5, 2, 2]
    # without c, threshold 1 is right everywhere
    params, counts = select(decode, GRID, TRUTH, ["a", "b"])
    assert params == {"thr": 1} and counts.tolist() == [2, 0, 0]
    # ties go to the first grid point
    assert select(decoders(WRONG, WRONG), GRID, {"c": TRUTH_FIVE}, ["c"])[0] == {"thr": 1}


def test_spot_decoding_recovers_the_setting_that_finds_every_me():
    """Scores with an ME bump (0.6) and a noise spike (0.45): only high >= 0.5 with smoothing kept off the
    spike finds the ME and nothing else; the chosen setting must find every ME with no false positive."""
    from types import SimpleNamespace

    import pandas as pd

    from melab.train.artefacts import spot_decoding

    scores, rows = {}, []
    for i in range(3):
        s = np.full(300, 0.05)
        s[100 + 20 * i:111 + 20 * i] = 0.6  # an 11-frame ME
        s[250] = 0.45  # a one-frame spike
        scores[f"v{i}"] = SimpleNamespace(spot=s)
        rows.append({"video": f"v{i}", "onset": 100 + 20 * i, "offset": 110 + 20 * i, "kind": "micro"})
    rows.append({"video": "v0", "onset": 20, "offset": 40, "kind": "macro"})  # not a target
    videos = pd.DataFrame({"subject": ["s0", "s1", "s2"], "video": ["v0", "v1", "v2"]})
    out = spot_decoding(scores, pd.DataFrame(rows), videos, 30.0, source="test")
    assert (out["tp"], out["fp"], out["fn"], out["nested_f1"]) == (3, 0, 0, 1.0)
    assert out["settings"]["k_decode"] == 5 and out["chosen_on"] == "test" and out["folds"] == 3
    assert out["settings"]["low"] <= out["settings"]["high"] and out["settings"]["high"] >= 0.5


def test_spot_decoding_is_nested_a_subject_never_chooses_its_own_setting():
    """Two subjects whose MEs need opposite thresholds: each is decoded with the other's choice, so the nested F1
    is 0, however well an in-sample choice would do."""
    from types import SimpleNamespace

    import pandas as pd

    from melab.train.artefacts import spot_decoding

    low_me, high_me = np.full(200, 0.02), np.full(200, 0.02)
    low_me[50:61] = 0.25  # found only with high <= 0.2
    high_me[50:61] = 0.9
    high_me[120:131] = 0.3  # a false alarm that high <= 0.3 also fires on
    scores = {"a": SimpleNamespace(spot=low_me), "b": SimpleNamespace(spot=high_me)}
    events = pd.DataFrame({"video": ["a", "b"], "onset": [50, 50], "offset": [60, 60], "kind": "micro"})
    videos = pd.DataFrame({"subject": ["s0", "s1"], "video": ["a", "b"]})
    out = spot_decoding(scores, events, videos, 30.0)
    # a is decoded with b's choice (high above 0.3: its ME is missed), b with a's (high <= 0.25: a false alarm)
    assert (out["tp"], out["fp"], out["fn"], out["nested_f1"], out["folds"]) == (1, 1, 1, 0.5, 2)
