"""The synthetic corpus: determinism, bounds, AU directions, and exactness of the true displacement."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pandas as pd
import pytest

from melab.data import synthetic as S


def _digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_same_bytes(tiny_corpus, tmp_path):
    again = S.make_corpus("tiny", seed=0, root=tmp_path, processes=1, progress=False)
    assert _digest(again) == _digest(tiny_corpus)


def test_other_seed_differs(tmp_path):
    a = S.generate_video(0, 0, 0, duration_s=2, n_me=1, n_mae=0)
    b = S.generate_video(1, 0, 0, duration_s=2, n_me=1, n_mae=0)
    assert not np.array_equal(a.frames, b.frames)


def test_corpus_layout_and_events_table(tiny_corpus):
    events = pd.read_csv(tiny_corpus / "events.csv")
    videos = pd.read_csv(tiny_corpus / "videos.csv")
    assert list(events.columns[:8]) == list(S.EVENT_COLUMNS)
    assert events["subject"].nunique() >= 3 and len(videos) >= 6
    assert set(events["kind"]) == {"micro", "macro"}
    assert (events["onset"] < events["apex"]).all() and (events["apex"] < events["offset"]).all()
    assert set(videos["fps"]) == {30.0, 200.0}
    for row in videos.itertuples():
        folder = tiny_corpus / row.subject / row.video
        assert len(list(folder.glob("img_*.jpg"))) == row.n_frames
        assert (events.loc[events["video"] == row.video, "offset"] < row.n_frames).all()
    assert not list(tiny_corpus.parent.glob("*.tmp-*")), "a temporary corpus directory was left behind"


def _plans(n_subjects=12, fps=30.0):
    for s in range(n_subjects):
        subject = S.make_subject(7, s)
        basis = S.au_basis(subject)
        yield subject, basis, S.plan_video(subject, basis, video_index=0, n_frames=int(60 * fps), fps=fps,
                                           n_me=8, n_mae=8, blinks_per_minute=15, jerks_per_minute=3)


@pytest.mark.parametrize("fps", [30.0, 200.0])
def test_expression_durations_and_amplitudes_within_bounds(fps):
    n_me = 0
    for _subject, basis, plan in _plans(4 if fps == 200 else 12, fps):
        for ev in plan.events.itertuples():
            seconds = (ev.offset - ev.onset + 1) / fps
            lo, hi = S.ME_DURATION_S if ev.kind == "micro" else S.MAE_DURATION_S
            assert lo - 1e-9 <= seconds <= hi + 1e-9, (ev.kind, seconds)
            # The amplitude is measured on the rendered field at apex, not read back from the table.
            field = np.tensordot(plan.au_intensity[ev.apex], basis, axes=1)
            peak = float(np.linalg.norm(field, axis=-1).max())
            lo, hi = S.ME_AMPLITUDE_PX if ev.kind == "micro" else S.MAE_AMPLITUDE_PX
            assert lo - 1e-3 <= peak <= hi + 1e-3, (ev.kind, peak)
            assert peak == pytest.approx(ev.amplitude_px, abs=2e-3)
            n_me += ev.kind == "micro"
    assert n_me > 20


def test_mes_are_rarer_than_maes_and_nuisances_by_time():
    for _, _, plan in _plans(3):
        me_frames = sum(r.offset - r.onset + 1 for r in plan.events.itertuples() if r.kind == "micro")
        mae_frames = sum(r.offset - r.onset + 1 for r in plan.events.itertuples() if r.kind == "macro")
        assert me_frames < 0.1 * plan.n_frames
        assert mae_frames > me_frames
        assert (plan.distractors["kind"] == "blink").sum() >= 5


def _landmark_shift(code: str) -> np.ndarray:
    subject = S.make_subject(3, 1)
    return S.au_displacement(subject, subject.landmarks.astype(float))[S.AU_CODES.index(code)]


def test_au12_pulls_mouth_corners_up_and_out():
    d = _landmark_shift("AU12")
    assert d[48, 0] < -0.3 and d[48, 1] < -0.3  # subject's right corner: image left, up
    assert d[54, 0] > 0.3 and d[54, 1] < -0.3
    assert np.abs(d[36:48]).max() < 0.05  # eyes stay put


def test_au4_lowers_brows_and_draws_them_together():
    d = _landmark_shift("AU4")
    assert (d[[19, 20, 21, 22, 23, 24], 1] > 0.1).all()  # the inner brow carries AU4
    assert d[21, 0] > 0.2 and d[22, 0] < -0.2
    assert np.abs(d[48:68]).max() < 0.05


@pytest.mark.parametrize("code, index, sign_dy", [("AU1", 21, -1), ("AU2", 17, -1), ("AU5", 37, -1),
                                                  ("AU7", 41, -1), ("AU15", 48, 1), ("AU26", 8, 1),
                                                  ("AU45", 38, 1), ("AU10", 51, -1), ("AU17", 57, -1)])
def test_each_au_moves_its_landmark_vertically(code, index, sign_dy):
    d = _landmark_shift(code)
    assert np.sign(d[index, 1]) == sign_dy and abs(d[index, 1]) > 0.3


def test_au14_is_one_sided():
    d = _landmark_shift("AU14")
    assert np.linalg.norm(d[54]) > 0.5 and np.linalg.norm(d[48]) < 0.05


def test_negative_emotions_share_action_units():
    neg = [set(S.EMOTION_AUS[e]) for e in ("anger", "disgust", "fear", "sadness")]
    shared = sum(len(a & b) > 0 for i, a in enumerate(neg) for b in neg[i + 1:])
    assert shared >= 4


@pytest.fixture(scope="module")
def mae_video():
    return S.generate_video(5, 2, 0, duration_s=8, n_me=1, n_mae=2, jerks_per_minute=10, jpeg_quality=None)


def _interior_mae(a, b, margin=12):
    return float(np.abs(a[margin:-margin, margin:-margin].astype(float)
                        - b[margin:-margin, margin:-margin].astype(float)).mean())


def test_warping_by_true_displacement_reproduces_the_frame(mae_video):
    v = mae_video
    clean = v.render(lighting=False, sensor_noise=False)
    mae = v.events[v.events["kind"] == "macro"].iloc[0]
    t = int(mae.apex)
    flow = v.true_flow(t, 0)  # for each pixel of frame t, where it sits in frame 0
    yy, xx = np.mgrid[0:clean.shape[1], 0:clean.shape[2]].astype(np.float32)
    warped = cv2.remap(clean[0], xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_CUBIC)
    before, after = _interior_mae(clean[t], clean[0]), _interior_mae(clean[t], warped)
    assert before > 2.0
    assert after < 0.6 and after < 0.15 * before


def test_true_flow_carries_the_landmarks(mae_video):
    v = mae_video
    t = int(v.events[v.events["kind"] == "macro"].iloc[0].apex)
    flow = v.true_flow(0, t)
    lm0, lm1 = v.landmarks[0], v.landmarks[t]
    sampled = np.stack([cv2.remap(flow[..., c], lm0[:, 0], lm0[:, 1], cv2.INTER_LINEAR) for c in (0, 1)],
                       axis=-1).reshape(-1, 2)
    assert np.abs(lm0 + sampled - lm1).max() < 0.05
    assert np.abs(lm1 - lm0).max() > 1.0


def test_load_video_matches_generation(tiny_corpus):
    v = S.load_video(tiny_corpus, "sub02_1")
    spec = next(s for s in S._video_specs(S.PRESETS["tiny"], 0) if s["subject_index"] == 1)
    again = S.generate_video(0, 1, 0, duration_s=spec["duration_s"], n_me=spec["n_me"], n_mae=spec["n_mae"],
                             me_emotions=spec["me_emotions"], render=False)
    assert v.frames.shape == (300, 128, 128, 3)
    np.testing.assert_allclose(v.landmarks, again.landmarks, atol=1e-5)
    np.testing.assert_allclose(v.true_flow(3, 40), again.true_flow(3, 40), atol=1e-5)


def test_recognition_samples_use_the_seven_classes(tiny_corpus):
    events = pd.read_csv(tiny_corpus / "events.csv")
    samples = S.recognition_samples(events)
    assert set(samples["emotion"]) <= set(S.SEVEN_CLASSES)
    assert (samples["kind"] == "micro").all()
    assert [S.SEVEN_CLASSES[i] for i in samples["label"]] == list(samples["emotion"])


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        S.make_corpus("huge")
