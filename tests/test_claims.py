"""The claims report is auditable: every row can be recomputed from its per-unit records, without training."""

import json
from pathlib import Path

import numpy as np
import pytest

from melab.effects import f1_difference, recompute_row, uf1_difference

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def test_recompute_row_reads_the_units_a_row_names():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, (3, 12, 3)), rng.integers(0, 4, (12, 3))
    subjects = np.repeat([f"s{i}" for i in range(6)], 2)
    y_true = np.array(["anger", "fear", "happiness", "surprise"] * 5)
    preds = {"single": rng.choice(y_true, (2, 20)).tolist(), "dgcm": rng.choice(y_true, (2, 20)).tolist()}
    report = {"units": {
        "spotting": {"videos": [f"v{i}" for i in range(12)], "subject": subjects.tolist(), "has_me": [True] * 12,
                     "counts": {"shared_siss": a.tolist(), "baseline": b.tolist()}},
        "recognition": {"y_true": y_true.tolist(), "subject": np.repeat([f"s{i}" for i in range(5)], 4).tolist(),
                        "predictions": preds}},
        "rows": [{"claim": "learned", "recompute": {"kind": "f1", "a": "baseline", "b": "shared_siss"}},
                 {"claim": "dgcm", "recompute": {"kind": "uf1", "a": "single", "b": "dgcm",
                                                 "labels": ["anger", "fear"], "samples": "labelled"}}]}
    assert recompute_row(report, 0) == f1_difference(np.broadcast_to(b, a.shape), a)
    assert recompute_row(report, 0, clusters=True) == f1_difference(np.broadcast_to(b, a.shape), a, clusters=subjects)
    negatives = np.isin(y_true, ["anger", "fear"])
    assert recompute_row(report, 1) == uf1_difference(y_true[negatives], np.array(preds["single"])[:, negatives],
                                                      np.array(preds["dgcm"])[:, negatives], ["anger", "fear"])
    with pytest.raises(ValueError, match="keeps no per-unit records"):
        recompute_row({"rows": [{"claim": "x"}]}, 0)


@pytest.mark.parametrize("stem", ["claims", "claims_shipped_lab"])
def test_a_committed_claims_row_is_recomputed_from_its_units(stem):
    """The committed report's learned-vs-baseline row (and, in the full report, the DGCM row), from its units."""
    report = json.loads((RESULTS / f"{stem}.json").read_text())
    wanted = ["A learned spotter beats training-free", "DGCM beats a single head"]
    rows = [r for r in report["rows"] if any(r["claim"].startswith(w) for w in wanted)][:2]
    assert rows, f"{stem}.json has no row to check"
    for row in rows:
        unit, cluster = recompute_row(report, row), recompute_row(report, row, clusters=True)
        assert (round(unit.effect, 4), round(unit.ci_low, 4), round(unit.ci_high, 4), unit.verdict) == \
            (row["effect"], row["ci_low"], row["ci_high"], row["verdict"]), row["claim"]
        assert (round(cluster.ci_low, 4), round(cluster.ci_high, 4), cluster.verdict) == \
            (row["cluster_ci_low"], row["cluster_ci_high"], row["cluster_verdict"]), row["claim"]
