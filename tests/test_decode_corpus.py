"""decode_corpus: every video decoded with one decoder, scored together (the notebooks' corpus-level F1)."""

import numpy as np
import pandas as pd
import pytest

from melab.decode import siss
from melab.metrics import decode_corpus, spotting_scores

LABELS = ["negative", "positive", "surprise", "others", "neutral"]


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(1)
    scores, probs = {}, {}
    for video in ("a", "b"):
        s = 0.1 * rng.random(200)
        s[40:48] += 0.8
        s[120:130] += 0.7
        scores[video] = np.clip(s, 0, 1)
        p = np.tile([0.05, 0.05, 0.05, 0.05, 0.8], (200, 1))
        p[40:48] = [0.7, 0.1, 0.1, 0.05, 0.05]
        p[120:130] = [0.1, 0.7, 0.1, 0.05, 0.05]
        probs[video] = p
    truth = pd.DataFrame({"video": ["a", "a", "b", "b", "c"], "onset": [40, 118, 40, 160, 10],
                          "offset": [47, 131, 47, 170, 20], "kind": ["micro", "micro", "micro", "micro", "micro"],
                          "emotion": ["negative", "positive", "surprise", "negative", "negative"]},
                         index=[10, 11, 12, 13, 14])
    return scores, probs, truth


def test_matches_decoding_each_video_and_scoring_once(corpus):
    scores, _, truth = corpus
    ev = decode_corpus(scores, truth, k=5)
    pred = pd.DataFrame([(v, *iv) for v, s in scores.items() for iv in siss(s, 5)],
                        columns=["video", "onset", "offset"])
    ref = spotting_scores(pred, truth[truth["video"].isin(["a", "b"])])
    assert (ev.spotting.tp, ev.spotting.fp, ev.spotting.fn) == (ref.tp, ref.fp, ref.fn) == (3, 1, 1)
    assert ev.recognition is None and ev.strs is None
    assert sorted(ev.spotting.matches["true_row"]) == [10, 11, 12]  # the caller's row labels; video c is left out


def test_labels_the_intervals_and_scores_recognition(corpus):
    scores, probs, truth = corpus
    ev = decode_corpus(scores, truth, method="fixed_window", k=5, class_probs=probs, labels=LABELS)
    assert ev.labels == tuple(LABELS[:-1])
    assert ev.recognition is not None and 0 < ev.strs < 1  # the b ME labelled negative is called surprise
    with pytest.raises(ValueError, match="pass labels"):
        decode_corpus(scores, truth, k=5, class_probs=probs)
    with pytest.raises(ValueError, match=r"no entry for video\(s\) \['b'\]"):
        decode_corpus(scores, truth, k=5, class_probs={"a": probs["a"]}, labels=LABELS)
