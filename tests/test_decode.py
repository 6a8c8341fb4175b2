"""Interval decoders: known answers, the SISS rules one by one, properties, input checks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from melab.decode import ClassPrior, assign_emotions, fixed_window, relative_threshold, score_peaks, siss, smooth_scores


def box(n, *spans):
    """Zeros of length n with value v on each inclusive span (onset, offset, v)."""
    s = np.zeros(n)
    for onset, offset, value in spans:
        s[onset : offset + 1] = value
    return s


# ----------------------------------------------------------------------------- fixed window


def test_fixed_window_two_peaks_known_answer():
    s = box(40, (10, 10, 1.0), (30, 30, 0.8))
    assert fixed_window(s, k=3) == [(7, 13), (27, 33)]


def test_fixed_window_threshold_is_relative_to_mean_and_max():
    s = box(40, (10, 10, 1.0), (30, 30, 0.3))
    thr = relative_threshold(s, 0.55)
    assert thr == pytest.approx(s.mean() + 0.55 * (1.0 - s.mean()))
    assert 0.3 < thr < 1.0
    assert fixed_window(s, k=3) == [(7, 13)]
    assert fixed_window(s, k=3, p=0.2) == [(7, 13), (27, 33)]


def test_fixed_window_distance_keeps_the_higher_of_two_close_peaks():
    s = box(40, (10, 10, 0.9), (13, 13, 1.0))
    assert fixed_window(s, k=5) == [(8, 18)]
    assert fixed_window(s, k=2) == [(8, 12), (11, 15)]


def test_fixed_window_clips_to_the_video():
    s = box(10, (1, 1, 1.0), (8, 8, 0.9))
    assert fixed_window(s, k=4) == [(0, 5), (4, 9)]


def test_fixed_window_flat_scores_give_nothing():
    assert fixed_window(np.full(50, 0.4), k=5) == []


def test_fixed_window_ignores_duration():
    """The baseline's flaw: a long expression still gets a 2k+1 window."""
    s = box(100, (20, 69, 1.0))
    assert fixed_window(s, k=5) == [(39, 49)]


def test_smoothing_is_a_centred_box_filter():
    s = box(11, (5, 5, 3.0))
    assert np.allclose(smooth_scores(s, 3), box(11, (4, 6, 1.0)))
    assert smooth_scores(s, 1) is not s and np.array_equal(smooth_scores(s, 1), s)


# ----------------------------------------------------------------------------- SISS


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_siss_recovers_a_clean_box_exactly(data):
    n = data.draw(st.integers(3, 200))
    onset = data.draw(st.integers(0, n - 1))
    offset = data.draw(st.integers(onset, n - 1 if onset else n - 2))  # not the whole video: flat
    k = data.draw(st.integers(1, 20))
    s = box(n, (onset, offset, 1.0))
    assert siss(s, k) == [(onset, offset)]


def test_siss_recovers_two_boxes_of_different_height_and_length():
    s = box(200, (20, 24, 1.0), (60, 139, 0.8))
    assert siss(s, k=5) == [(20, 24), (60, 139)]


def test_siss_uses_low_within_k_and_high_beyond():
    # A shoulder at 0.5 around a peak: kept within k (0.5 >= low), cut beyond it (0.5 < high).
    s = box(100, (40, 60, 0.5), (50, 50, 1.0))
    assert siss(s, 3, 0.4, 0.6, scale="absolute") == [(47, 53)]
    assert siss(s, 3, 0.4, 0.45, scale="absolute") == [(40, 60)]
    assert siss(s, 3, 0.55, 0.6, scale="absolute") == [(50, 50)]


def test_siss_bridges_dips_shorter_than_patience():
    s = box(50, (20, 30, 1.0), (25, 25, 0.0))
    assert siss(s, 2, 0.5, 0.5, scale="absolute") == [(20, 30)]
    assert siss(s, 2, 0.5, 0.5, patience=1, scale="absolute") == [(20, 24), (26, 30)]
    two_frame_dip = box(50, (20, 30, 1.0), (25, 26, 0.0))
    assert siss(two_frame_dip, 2, 0.5, 0.5, scale="absolute") == [(20, 24), (27, 30)]
    assert siss(two_frame_dip, 2, 0.5, 0.5, patience=3, scale="absolute") == [(20, 30)]


def test_siss_reselects_a_higher_peak_inside_the_span():
    # Seed 10 (0.75) extends over the 0.72 ridge to frame 16 (1.0); re-run from 16, the
    # interval also takes the 0.5 tail that lies within k of the new peak.
    s = box(40, (10, 10, 0.75), (11, 15, 0.72), (16, 16, 1.0), (17, 19, 0.5))
    # nms_iou=1 only merges identical intervals: without re-selection there would be two.
    assert siss(s, 3, 0.2, 0.7, scale="absolute", nms_iou=1.0) == [(10, 19)]


def test_siss_seeds_that_reach_the_same_peak_give_one_interval():
    # Two bumps joined by a ridge above high: both seeds end at the higher peak.
    s = box(60, (20, 40, 0.7), (25, 25, 0.9), (35, 35, 1.0))
    assert siss(s, 3, 0.5, 0.65, scale="absolute", peak_height=0.8) == [(20, 40)]


def test_siss_nms_drops_the_lower_of_two_overlapping_intervals():
    # From the peak at 24 the walk right stops at 27 (28-29 are beyond k and below high);
    # from the peak at 30 the walk left reaches 24 (25-26 are beyond k but above high).
    s = box(40, (21, 23, 0.5), (24, 24, 0.8), (25, 27, 0.7), (28, 29, 0.5), (30, 30, 1.0), (31, 33, 0.5))
    assert siss(s, 3, 0.3, 0.6, scale="absolute") == [(21, 27), (24, 33)]  # IoU 4/13
    assert siss(s, 3, 0.3, 0.6, scale="absolute", nms_iou=0.3) == [(24, 33)]


def test_siss_relative_and_absolute_scales_agree_when_mapped():
    rng = np.random.default_rng(0)
    s = np.clip(rng.random(120) * 0.3 + box(120, (30, 45, 0.6), (80, 82, 0.7)), 0, 1)
    lo, hi = 0.2, 0.5
    a_lo, a_hi = relative_threshold(s, lo), relative_threshold(s, hi)
    assert siss(s, 4, lo, hi) == siss(s, 4, a_lo, a_hi, scale="absolute")


@pytest.mark.parametrize("level", [0.0, 0.2, 1.0])
def test_siss_flat_scores_give_nothing(level):
    assert siss(np.full(30, level), 3) == []
    assert siss(np.full(30, level), 3, 0.0, 0.0, scale="absolute") == []


@settings(max_examples=100, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 150), elements=st.floats(0, 1)),
    st.integers(1, 15),
    st.floats(0, 1),
    st.floats(0, 1),
    st.sampled_from([1, 3, 5]),
)
def test_decoded_intervals_are_valid(s, k, a, b, smooth):
    low, high = min(a, b), max(a, b)
    for intervals in (fixed_window(s, k, a, smooth=smooth), siss(s, k, low, high, smooth=smooth)):
        assert intervals == sorted(intervals)
        for onset, offset in intervals:
            assert isinstance(onset, int) and isinstance(offset, int)
            assert 0 <= onset <= offset < s.size
    kept = siss(s, k, low, high, smooth=smooth)
    for i, x in enumerate(kept):
        for y in kept[i + 1 :]:
            inter = min(x[1], y[1]) - max(x[0], y[0]) + 1
            union = (x[1] - x[0] + 1) + (y[1] - y[0] + 1) - max(inter, 0)
            assert max(inter, 0) / union < 0.5


# ----------------------------------------------------------------------------- input checks


@pytest.mark.parametrize("decode", [lambda s: fixed_window(s, 3), lambda s: siss(s, 3)])
def test_non_finite_scores_name_the_first_bad_frame(decode):
    s = np.zeros(20)
    s[7], s[12] = np.nan, np.inf
    with pytest.raises(ValueError, match="NaN at frame 7"):
        decode(s)
    s[7] = -np.inf
    with pytest.raises(ValueError, match="inf at frame 7"):
        decode(s)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fixed_window(np.zeros((5, 2)), 3), "1-D"),
        (lambda: siss([], 3), "empty"),
        (lambda: fixed_window(np.zeros(9), 0), "k must be an integer >= 1"),
        (lambda: siss(np.zeros(9), 2.5), "k must be an integer"),
        (lambda: siss(np.zeros(9), 3, 0.7, 0.2), r"low \(0.7\) must not exceed high"),
        (lambda: siss(np.zeros(9), 3, patience=0), "patience"),
        (lambda: siss(np.zeros(9), 3, scale="z"), "scale"),
        (lambda: siss(np.zeros(9), 3, nms_iou=0), "nms_iou"),
        (lambda: fixed_window(np.zeros(9), 3, p=1.5), "p must lie in"),
        (lambda: fixed_window(np.zeros(9), 3, smooth=4), "smooth must be odd"),
    ],
)
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- emotions

LABELS = ["negative", "positive", "surprise", "others", "neutral"]


def probs_from_argmax(winners):
    """Class probabilities whose per-frame argmax is ``winners`` (0.6 on the winner)."""
    p = np.full((len(winners), len(LABELS)), 0.1)
    p[np.arange(len(winners)), winners] = 0.6
    return p


def test_assign_emotions_majority_vote_and_score():
    p = probs_from_argmax([1, 1, 0, 1, 2, 2, 2, 4, 4, 4])
    out = assign_emotions(p, [(0, 3), (4, 6)], labels=LABELS)
    assert out == [(0, 3, "positive", pytest.approx(0.475)), (4, 6, "surprise", pytest.approx(0.6))]


def test_assign_emotions_drops_intervals_voted_neutral():
    p = probs_from_argmax([1, 1, 0, 1, 2, 2, 2, 4, 4, 4])
    assert assign_emotions(p, [(7, 9), (0, 1)], labels=LABELS) == [(0, 1, "positive", pytest.approx(0.6))]
    assert assign_emotions(p, [(7, 9)], labels=LABELS, neutral_last=False)[0][2] == "neutral"


def test_penalty_lets_a_minority_class_win():
    # Negative leads others by 0.05 on every frame: the vote is negative until penalised.
    p = np.tile([0.40, 0.10, 0.05, 0.35, 0.10], (6, 1))
    assert assign_emotions(p, [(0, 5)], labels=LABELS)[0][2] == "negative"
    out = assign_emotions(p, [(0, 5)], labels=LABELS, penalty={"negative": 0.1})
    assert out == [(0, 5, "others", pytest.approx(0.35))]


def test_vote_ties_go_to_the_larger_summed_probability():
    p = np.array([[0.9, 0.05, 0.0, 0.0, 0.05], [0.3, 0.35, 0.1, 0.1, 0.15]])
    assert assign_emotions(p, [(0, 1)], labels=LABELS)[0][2] == "negative"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": LABELS[:4]}, "labels has 4 names"),
        ({"labels": LABELS, "penalty": {"anger": 0.1}}, "penalty names classes not in labels"),
    ],
)
def test_assign_emotions_checks_labels(kwargs, message):
    with pytest.raises(ValueError, match=message):
        assign_emotions(np.full((4, 5), 0.2), [(0, 1)], **kwargs)


def test_assign_emotions_checks_intervals_and_values():
    with pytest.raises(ValueError, match=r"interval \(2, 9\) is not inside \[0, 4\)"):
        assign_emotions(np.full((4, 5), 0.2), [(2, 9)], labels=LABELS)
    bad = np.full((4, 5), 0.2)
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="frame 3"):
        assign_emotions(bad, [(0, 1)], labels=LABELS)


# ----------------------------------------------------------------------------- shared peak rule


def test_fixed_window_takes_the_edge_peak_rule_of_siss():
    s = box(30, (0, 0, 1.0), (1, 1, 0.5), (20, 20, 0.8))
    assert fixed_window(s, k=3) == [(17, 23)]  # the reference: a maximum at the edge is no peak
    assert fixed_window(s, k=3, edge_peaks=True) == [(0, 3), (17, 23)]
    assert list(score_peaks(s, 3, 0.5, edge_peaks=True)) == [0, 20]


# ----------------------------------------------------------------------------- official variants
# Golden cases: each interval list is worked out by hand in the comments (smooth=1, so the curve is the
# scores as written; the official smoothing is tested on its own).


def test_official_samm_stops_at_the_first_pair_below_low_then_high():
    # k = 3, peak at 15. Peak height: mean 6.95/30 = 0.232, threshold 0.232 + 0.65·0.768 = 0.731, so 15 is
    # the only peak (the 0.9 plateau 16-18 has a higher left neighbour).
    # Left, near (frames 14..12, low 0.2): 14 = 0.9, 13 = 0.5, 12 = 0.1 with 11 = 0.1 below -> onset 12,
    #   the inner frame of the pair although it is itself below the threshold.
    # Right, near (frames 16..17, low): all 0.9, no pair. Far (frames 19..20, high 0.8): 19 = 0.85,
    #   20 = 0.5 with 21 = 0.3 below -> offset 21, the outer frame of the pair.
    s = box(30, (11, 12, 0.1), (13, 13, 0.5), (14, 14, 0.9), (15, 15, 1.0), (16, 18, 0.9),
            (19, 19, 0.85), (20, 20, 0.5), (21, 21, 0.3))
    assert siss(s, 3, smooth=1, variant="official_samm") == [(12, 21)]


def test_official_samm_caps_the_extension_at_2k():
    # A plateau at 0.9 from 5 to 25 around a peak of 1.0 at 15: no pair falls below 0.2 near the peak
    # nor below 0.8 beyond it, so both edges take their default, peak ± 2k = (9, 21).
    s = box(31, (5, 25, 0.9), (15, 15, 1.0))
    assert siss(s, 3, smooth=1, variant="official_samm") == [(9, 21)]


def test_official_samm_right_near_search_skips_frame_peak_plus_k():
    # Peak 15 (k = 3), 0.9 on 12..14 and 16..17, 0.1 from 18 on (and 0 before 12).
    # Left near search 14..12: 12 = 0.9; no pair below 0.2; far search 11..9: 11 = 0 with 10 = 0 below 0.8
    #   -> onset 11.
    # Right near search covers 16..17 only (the official range stops before peak + k = 18): 17 = 0.9, no pair.
    # Far search starts at 19: 19 and 20 below 0.8 -> offset 20, two frames past the symmetric answer 19.
    s = box(30, (12, 14, 0.9), (15, 15, 1.0), (16, 17, 0.9), (18, 29, 0.1))
    assert siss(s, 3, smooth=1, variant="official_samm") == [(11, 20)]


def test_official_cas_trims_inward_then_extends_at_the_mean():
    # Baseline 0.1 on 40 frames; 18 = 0.12, 19 = 0.9, 20 = 1.0, 21 = 0.8, 22..26 = 0.4. Raw mean 7.92/40 = 0.198:
    # trim level 0.132, stop level 0.198; peak height 0.198 + 0.55·0.802 = 0.639 -> one peak, 20 (k = 3).
    # Window 17..23. Onset: 18 rises but is below 0.132; 19 rises above it -> onset 19 − 1 = 18.
    # Offset, scanning 22, 21: 22 is not above 23 (equal); 21 > 22 and above 0.132 -> offset 22 (trimmed in).
    # Extension left from 17: 17 and 16 below 0.198 -> onset stays 18. Right from 23: 23..26 at 0.4 are above;
    # 27 and 28 below -> offset 26, past the window.
    s = box(40, (0, 39, 0.1), (18, 18, 0.12), (19, 19, 0.9), (20, 20, 1.0), (21, 21, 0.8), (22, 26, 0.4))
    assert siss(s, 3, smooth=1, variant="official_cas") == [(18, 26)]


def test_official_cas_nms_keeps_spans_in_onset_order():
    # Baseline 0.1 on 50 frames; 19 = 0.5, 20 = 1.0, 21 = 0.5, 22..23 = 0.3, 24 = 0.5, 25 = 0.95, 26 = 0.5.
    # Mean 8.75/50 = 0.175 (trim 0.117, stop 0.175); peak height 0.629 -> peaks 20 and 25 (k = 3).
    # Peak 20: window 17..23, trimmed to onset 18 (19 rises) and offset 22 (21 falls); the right extension runs
    #   through the second expression to 26 (27, 28 below the mean) -> (18, 26), highest frame 20.
    # Peak 25: window 22..28, trimmed to onset 23 and offset 27; the left extension runs back through the
    #   first expression to 19 (18, 17 below) -> (19, 27), highest frame 20.
    # NMS in onset order keeps (18, 26); (19, 27) overlaps it by 7 of a 9-frame hull (0.78 >= 0.2) -> dropped.
    s = box(50, (0, 49, 0.1), (19, 19, 0.5), (20, 20, 1.0), (21, 21, 0.5), (22, 23, 0.3), (24, 24, 0.5),
            (25, 25, 0.95), (26, 26, 0.5))
    assert siss(s, 3, smooth=1, variant="official_cas") == [(18, 26)]
    # Far apart, both survive: IoU 0 and peaks 30 frames apart.
    far = box(80, (0, 79, 0.1), (19, 19, 0.5), (20, 20, 1.0), (21, 21, 0.5),
              (49, 49, 0.5), (50, 50, 0.95), (51, 51, 0.5))
    assert siss(far, 3, smooth=1, variant="official_cas") == [(18, 22), (48, 52)]


def test_official_smoothing_is_an_even_zero_padded_box():
    # k = 2: a box of 4 frames, "same" convolution. A constant curve of ones loses height at both ends
    # (zero padding): frame 0 averages two padded zeros and frames 0, 1 -> 0.5.
    s = np.ones(12)
    s[6] = 2.0
    smoothed = np.convolve(s, np.ones(4) / 4, mode="same")
    assert smoothed[0] == 0.5 and smoothed[-1] == 0.75
    # Peaks come from that curve: the default (official) smoothing finds frame 6's bump, absolute thresholds
    # 0.2 / 0.8 never stop the extension on a curve at 1, so the span is the 2k cap (2, 10).
    assert siss(s, 2, variant="official_samm", peak_height=0.5) == [(2, 10)]


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="variant"):
        siss(np.zeros(10), 2, variant="official")


# ----------------------------------------------------------------------------- official class prior

PRIOR_LABELS = ["negative", "positive", "surprise", "others", "neutral"]


def test_class_prior_reproduces_a_hand_worked_vote():
    # Logits (T = 9, 5 classes, neutral last); interval (0, 8) votes over frames 1..6 (onset+1..offset−2).
    logits = np.array([
        [5.0, 0.0, 0.0, 0.0, 0.0],  # 0: outside the vote range
        [2.0, 1.5, 0.0, 0.0, 3.0],  # 1: neutral -> 0, negative 2 − 1 = 1 < 1.5 -> positive
        [3.0, 1.0, 0.0, 0.0, 0.5],  # 2: negative 2 > 1 -> negative
        [3.0, 0.5, 0.0, 0.0, 0.0],  # 3: negative 2 -> negative
        [2.5, 0.0, 0.0, 0.0, 4.0],  # 4: neutral -> 0, negative 1.5 -> negative
        [0.5, 0.0, 0.3, 0.0, 0.0],  # 5: negative −0.5, surprise 0.3 -> surprise
        [1.2, 0.0, 2.0, 0.0, 0.0],  # 6: negative 0.2, surprise 2 -> surprise
        [4.0, 0.0, 0.0, 0.0, 0.0],  # 7, 8: outside the vote range
        [4.0, 0.0, 0.0, 0.0, 0.0],
    ])
    # Votes 1..6: positive, negative ×3, surprise ×2 -> 3 of 6 = 50 % non-negative > 20 %, so the vote is
    # among those three frames: surprise 2, positive 1 -> surprise.
    out = assign_emotions(logits, [(0, 8)], labels=PRIOR_LABELS, prior=ClassPrior.official(), logits=True)
    assert [row[:3] for row in out] == [(0, 8, "surprise")]
    # The plain vote over all frames of the same logits: negative on 0, 2, 3, 5, 7, 8 -> negative.
    assert assign_emotions(logits, [(0, 8)], labels=PRIOR_LABELS)[0][2] == "negative"


def test_class_prior_keeps_the_majority_under_the_share():
    # Frames 1..6 vote negative except frame 3 (surprise): 1 of 6 = 17 % <= 20 % -> the vote is among all -> negative.
    logits = np.tile([4.0, 0.0, 0.0, 0.0, 0.0], (9, 1))
    logits[3] = [0.0, 0.0, 2.0, 0.0, 0.0]
    out = assign_emotions(logits, [(0, 8)], labels=PRIOR_LABELS, prior=ClassPrior.official(), logits=True)
    assert out[0][2] == "negative"
    # An interval of 3 frames has no voting frame (1..0): voted neutral, and dropped.
    assert assign_emotions(logits, [(2, 4)], labels=PRIOR_LABELS, prior=ClassPrior.official(), logits=True) == []
