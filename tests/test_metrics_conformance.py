"""Conformance with the official STRS script (genbing99/STRS-Metric).

Two inputs with the figures the official ``Evaluator.evaluate_STRS`` prints for them:

- its sample data (vendored in ``tests/data/strs-sample``, see the README there for source and licence:
  244 predictions and 244 expressions, CASME II-style, one expression per video), with ``expected.json``;
- the five-row example of its README, rebuilt below, which prints ``STRS: 0.2``.

melab reproduces every figure with its own (correct) definitions; none of the script's known
bugs is needed. The one figure that differs is the official "UAR analysis", which is the
mean per-class *precision*: melab reports that number as ``precision`` and the true
unweighted average recall as ``uar`` (the official "Recall analysis"). The script's other
bugs (one prediction matching several expressions, ignored videos and subjects, a class that
holds every sample scoring 0) do not arise in these inputs: every video has one expression,
every prediction's video and subject are annotated, and five classes occur. Worked examples
of each live in ``tests/test_metrics.py``.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from melab.metrics import evaluate, evaluate_csv

SAMPLE = Path(__file__).resolve().parent / "data" / "strs-sample"


@pytest.fixture(scope="module")
def sample():
    expected = json.loads((SAMPLE / "expected.json").read_text())["official_output"]
    return evaluate_csv(SAMPLE / "pred.csv", SAMPLE / "gt.csv"), expected


def test_sample_spotting(sample):
    ev, expected = sample
    s = ev.spotting
    assert (s.tp, s.fp, s.fn) == (expected["TP spotting"], expected["FP spotting"], expected["FN spotting"])
    assert (s.tp, s.fp, s.fn) == (159, 85, 85)
    assert round(s.precision, 4) == expected["Precision spotting"]
    assert round(s.recall, 4) == expected["Recall spotting"]
    assert round(s.f1, 4) == expected["F1-score spotting"] == 0.6516


def test_sample_analysis(sample):
    ev, expected = sample
    r = ev.recognition
    assert ev.labels == ("disgust", "happiness", "others", "repression", "surprise")
    assert r.n == 159  # scored on the spotted TPs only
    assert (r.tp, r.fp, r.fn) == (expected["TP analysis"], expected["FP analysis"], expected["FN analysis"])
    assert round(r.precision, 4) == expected["Precision analysis"] == 0.5983
    assert round(r.recall, 4) == expected["Recall analysis"] == 0.5872
    assert round(r.f1, 4) == expected["F1-score analysis"] == 0.5927
    assert round(r.uf1, 4) == expected["UF1 analysis"] == 0.5766
    assert round(ev.strs, 4) == expected["STRS"] == 0.3862


def test_sample_uar_is_the_true_recall_not_the_official_mean_precision(sample):
    ev, expected = sample
    r = ev.recognition
    # The official "UAR" is np.mean(precision_list): melab's macro precision.
    assert round(r.precision, 4) == expected["UAR analysis"] == 0.5983
    # melab's UAR is the unweighted average recall, which the script prints as "Recall analysis".
    assert round(r.uar, 4) == expected["Recall analysis"] == 0.5872
    assert round(r.uar, 4) != expected["UAR analysis"]
    assert r.uar == pytest.approx(r.per_class["recall"].mean())


def test_readme_example_gives_strs_0_2():
    columns = ["subject", "video", "onset", "offset", "emotion"]
    pred = pd.DataFrame(
        [[1, "EP02_01f", 10, 70, "happiness"], [1, "EP03_02", 100, 170, "others"],
         [1, "EP04_02", 0, 70, "others"], [2, "EP01_11f", 20, 90, "happiness"],
         [2, "EP02_04f", 70, 140, "happiness"]],
        columns=columns,
    )
    truth = pd.DataFrame(
        [[1, "EP02_01f", 45, 85, "happiness"], [1, "EP03_02", 130, 160, "others"],
         [1, "EP04_02", 20, 75, "others"], [2, "EP01_11f", 45, 95, "repression"],
         [2, "EP02_04f", 30, 140, "repression"]],
        columns=columns,
    )
    ev = evaluate(pred, truth)
    # IoUs 26/76, 31/71 (misses), 51/76, 46/76, 71/111 (hits): TP 3, FP 2, FN 2.
    assert (ev.spotting.tp, ev.spotting.fp, ev.spotting.fn) == (3, 2, 2)
    assert round(ev.spotting.f1, 4) == 0.6
    # Hits: others->others, repression->happiness twice. Per class (happiness, others,
    # repression) precision (0, 1, 0) and recall (0, 1, 0): F1 = 2·(1/3)·(1/3)/(2/3) = 1/3.
    assert round(ev.recognition.f1, 4) == 0.3333
    assert round(ev.strs, 4) == 0.2
