"""Paired bootstrap effects: known signs, verdicts, determinism, and the paired count statistics."""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from melab.effects import claim_rows, f1_difference, mean_difference, strs_difference, uf1_difference, verdict


@pytest.mark.parametrize(("low", "high", "expected"), [(0.01, 0.2, "supported"), (-0.3, -0.1, "reversed"),
                                                       (-0.1, 0.2, "not separated"), (0.0, 0.1, "not separated")])
def test_verdict_follows_the_interval(low, high, expected):
    assert verdict(low, high) == expected


def test_known_signs_give_their_verdicts():
    rng = np.random.default_rng(1)
    a = rng.normal(0.5, 0.1, (5, 40))  # 5 seeds, 40 units
    assert mean_difference(a, a + 0.05 + rng.normal(0, 0.02, a.shape)).verdict == "supported"
    assert mean_difference(a, a - 0.05 + rng.normal(0, 0.02, a.shape)).verdict == "reversed"
    noise = mean_difference(a, a + rng.normal(0, 0.1, a.shape))
    assert noise.verdict == "not separated" and noise.ci_low < 0 < noise.ci_high


def test_same_seed_same_interval_and_identical_arms_are_not_separated():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert mean_difference(a, b, seed=7) == mean_difference(a, b, seed=7)
    assert mean_difference(a, b, seed=7).ci_low != mean_difference(a, b, seed=8).ci_low
    same = mean_difference(a, a)
    assert (same.effect, same.ci_low, same.ci_high, same.verdict) == (0.0, 0.0, 0.0, "not separated")
    assert same.method == "percentile"  # BCa is undefined on a degenerate distribution


def test_f1_difference_is_the_micro_f1_gap_and_pairs_videos():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, (3, 25, 3))  # (seeds, videos, TP/FP/FN)
    b = a.copy()
    b[..., 0] += 1  # one more TP per video and seed, B is better on every video
    pooled_a, pooled_b = a.sum(axis=(0, 1)), b.sum(axis=(0, 1))
    f1 = [2 * t / (2 * t + f + n) for t, f, n in (pooled_a, pooled_b)]
    effect = f1_difference(a, b)
    assert effect.effect == pytest.approx(f1[1] - f1[0])
    assert effect.verdict == "supported" and effect.n_units == 25
    assert f1_difference(b, a).verdict == "reversed"


def test_uf1_difference_matches_sklearn_macro_f1():
    rng = np.random.default_rng(4)
    labels = ["negative", "positive", "surprise"]
    y = rng.choice(labels, 60)
    pa = np.where(rng.random(60) < 0.5, y, rng.choice(labels, 60))
    pb = np.where(rng.random(60) < 0.9, y, rng.choice(labels, 60))
    expected = f1_score(y, pb, labels=labels, average="macro") - f1_score(y, pa, labels=labels, average="macro")
    effect = uf1_difference(y, pa, pb, labels)
    assert effect.effect == pytest.approx(expected)
    assert effect.verdict == "supported"


def test_strs_difference_of_identical_arms_is_zero():
    rng = np.random.default_rng(5)
    spot = rng.integers(0, 4, (20, 3))
    recog = rng.integers(0, 3, (20, 3, 3))
    effect = strs_difference(spot, recog, spot, recog)
    assert effect.effect == 0.0 and effect.verdict == "not separated"


def _claims_report() -> dict:
    def row(claim, metric, a, b, effect, low, high, verdict_):
        return {"claim": claim, "metric": metric, "arm_a": a[0], "value_a": a[1], "arm_b": b[0], "value_b": b[1],
                "effect": effect, "ci_low": low, "ci_high": high, "verdict": verdict_, "n_seeds": 5, "n_units": 32}
    return {"rows": [row("SISS beats the fixed window (matched)", "spotting F1", ("fixed", 0.1), ("SISS", 0.12),
                         0.02, -0.013, 0.054, "not separated"),
                     row("DGCM beats a single head", "UF1", ("single", 0.549), ("dgcm", 0.4826), -0.0664, -0.0981,
                         -0.0357, "reversed")]}


def test_claim_rows_selects_by_prefix_and_states_effect_ci_and_verdict(tmp_path):
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(_claims_report()))
    table = claim_rows(path, "DGCM")
    assert table.to_dict("records") == [{
        "claim": "DGCM beats a single head", "metric": "UF1", "A -> B": "single 0.549 -> dgcm 0.483",
        "effect [95% CI]": "-0.066 [-0.098, -0.036]", "verdict": "reversed", "seeds x units": "5 x 32"}]
    assert claim_rows(_claims_report(), "SISS")["effect [95% CI]"].tolist() == ["+0.020 [-0.013, +0.054]"]


def test_claim_rows_names_the_file_and_its_claims_when_none_matches(tmp_path):
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(_claims_report()))
    with pytest.raises(ValueError, match=r"claims\.json.*'Shared'.*DGCM beats a single head"):
        claim_rows(path, "Shared")


def test_a_cluster_bootstrap_resamples_whole_subjects_and_is_wider_when_their_units_agree():
    rng = np.random.default_rng(0)
    subjects = np.repeat(np.arange(8), 4)  # 8 subjects x 4 videos
    # a per-subject effect shared by its videos: units within a subject move together
    shift = rng.normal(0.1, 0.3, 8)[subjects] + rng.normal(0, 0.02, 32)
    a = np.zeros(32)
    unit = mean_difference(a, shift)
    cluster = mean_difference(a, shift, clusters=subjects)
    assert cluster.effect == unit.effect and cluster.method == "cluster percentile"
    assert cluster.ci_high - cluster.ci_low > 1.5 * (unit.ci_high - unit.ci_low)
    # each resample draws whole subjects: a statistic that sees the resampled indices only ever sees full groups
    seen = []

    def record(idx):
        seen.append(np.bincount(subjects[idx], minlength=8) % 4)
        return float(len(idx))

    from melab.effects import bootstrap_effect

    bootstrap_effect(record, 32, clusters=subjects, n_resamples=50)
    assert not np.any(np.stack(seen))
    with pytest.raises(ValueError, match="one cluster per unit"):
        mean_difference(a, shift, clusters=subjects[:5])
    with pytest.raises(ValueError, match="at least 2 clusters"):
        mean_difference(a, shift, clusters=np.zeros(32))
