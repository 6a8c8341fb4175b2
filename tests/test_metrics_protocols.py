"""The two evaluation protocols: "melab" (the definitions) and "megc_official" (the papers' figures)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from melab.cli import main
from melab.metrics import evaluate, evaluate_csv

HERE = Path(__file__).resolve().parent
SAMPLES = [HERE / "data" / "strs-sample", HERE.parents[1] / "shared" / "conformance" / "strs-sample",
           Path("/work/shared/conformance/strs-sample")]


@pytest.fixture(scope="module")
def sample_dir():
    for path in SAMPLES:
        if (path / "expected.json").is_file():
            return path
    pytest.skip("the official STRS sample (tests/data/strs-sample) is not available")


@pytest.mark.parametrize("protocol", ["melab", "megc_official"])
def test_both_protocols_reproduce_the_official_sample(sample_dir, protocol):
    # Every predicted video is annotated and the emotions are CASME II names (no STR "others" rule applies),
    # so both protocols give the figures the official script prints.
    expected = json.loads((sample_dir / "expected.json").read_text())["official_output"]
    ev = evaluate_csv(sample_dir / "pred.csv", sample_dir / "gt.csv", protocol=protocol)
    s = ev.spotting
    assert (s.tp, s.fp, s.fn) == (expected["TP spotting"], expected["FP spotting"], expected["FN spotting"])
    assert round(s.f1, 4) == expected["F1-score spotting"] == 0.6516
    assert round(ev.strs, 4) == expected["STRS"] == 0.3862


def constructed():
    truth = pd.DataFrame({"video": ["v1", "v2"], "onset": [0, 20], "offset": [9, 29],
                          "emotion": ["negative", "others"]})
    pred = pd.DataFrame({"video": ["v1", "v2", "v3"], "onset": [0, 20, 5], "offset": [9, 29, 10],
                         "emotion": ["negative", "surprise", "negative"]})
    return pred, truth


def test_protocols_differ_on_me_free_videos_and_others():
    pred, truth = constructed()
    # melab: v3 has no expression, its prediction is a FP -> TP 2, FP 1, F1 2·2/(2·2+1) = 0.8. Labels are the
    # truth's emotions (negative, others): negative P = R = 1, others P = R = 0 -> recognition F1 0.5, STRS 0.4.
    ev = evaluate(pred, truth, protocol="melab")
    assert (ev.spotting.tp, ev.spotting.fp, ev.spotting.fn) == (2, 1, 0)
    assert ev.spotting.f1 == pytest.approx(0.8)
    assert ev.labels == ("negative", "others") and ev.strs == pytest.approx(0.4)
    # megc_official: v3 is dropped -> TP 2, FP 0, F1 1. Labels are STR's three without "others", so the
    # others-TP leaves recognition: negative P = R = 1, positive and surprise 0 -> F1 1/3, STRS 1/3.
    ev = evaluate(pred, truth, protocol="megc_official")
    assert (ev.spotting.tp, ev.spotting.fp, ev.spotting.fn) == (2, 0, 0)
    assert ev.labels == ("negative", "positive", "surprise")
    assert ev.strs == pytest.approx(1 / 3)


def test_official_protocol_still_matches_one_to_one():
    truth = pd.DataFrame({"video": ["v"] * 2, "onset": [0, 1], "offset": [9, 10], "emotion": ["negative"] * 2})
    pred = pd.DataFrame({"video": ["v"], "onset": [0], "offset": [10], "emotion": ["negative"]})
    # One prediction overlaps both expressions with IoU >= 0.5; it may count once (the official scorer's
    # double count is a bug).
    ev = evaluate(pred, truth, protocol="megc_official")
    assert (ev.spotting.tp, ev.spotting.fp, ev.spotting.fn) == (1, 0, 1)


def test_unknown_protocol_is_named():
    pred, truth = constructed()
    with pytest.raises(ValueError, match="protocol must be one of"):
        evaluate(pred, truth, protocol="official")


def test_cli_evaluate_protocol(tmp_path, capsys):
    pred, truth = constructed()
    pred.assign(subject="s1").to_csv(tmp_path / "pred.csv", index=False)
    truth.assign(subject="s1").to_csv(tmp_path / "truth.csv", index=False)
    files = [str(tmp_path / "pred.csv"), str(tmp_path / "truth.csv")]
    assert main(["evaluate", *files, "--protocol", "megc_official"]) == 0
    out = capsys.readouterr().out
    assert "TP 2  FP 0  FN 0" in out and "STRS         0.3333" in out
    main(["evaluate", *files])
    assert "TP 2  FP 1  FN 0" in capsys.readouterr().out
