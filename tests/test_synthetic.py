"""The synthetic corpus: determinism, bounds, AU directions, and exactness of the true displacement."""

from __future__ import annotations

import hashlib
import io

import cv2
import numpy as np
import pandas as pd
import pytest

from melab.data import check
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


def test_load_video_matches_generation(easy_tiny):
    v = S.load_video(easy_tiny, "sub02_1")
    spec = next(s for s in S.corpus._video_specs(S.PRESETS["tiny"], 0) if s["subject_index"] == 1)
    again = S.generate_video(0, 1, 0, duration_s=spec["duration_s"], n_me=spec["n_me"], n_mae=spec["n_mae"],
                             me_emotions=spec["me_emotions"], render=False, difficulty="easy")
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


# ---- generator version 2: easy is version 1, realistic is as hard as real data -----------------------

# Digest of every file of the tiny corpus (seed 0) that generator version 1 wrote (commit d9359fe), computed before
# version 2 existed: sha256 over the sorted (relative path, sha256 of the bytes) pairs. JPEG bytes depend on the
# libjpeg inside the pinned OpenCV wheel.
V1_TINY_DIGEST = "6c5630cb51aa19fe3927e184f33c309f03c90512f773c9b099c6d7d411612f29"
V1_TINY_FILES = {
    "events.csv": "6720f4ffe5ca56747f51ae00a0fd27c2c9c80640f552c912bb29573e70f84548",
    "sub01/sub01_1/truth.npz": "2ee916334be7afe37b5789abd2e769e20f186a4f69829a3c781e24b79a047408",
    "sub03/sub03_2/truth.npz": "b4175a0a2723dc10c7db33d200b91f4d0c69b983a0ae239043f6e78f2fb294fa",
    "sub02/sub02_1/img_00150.jpg": "2721a6722b2aa0f8f750b71a835b6b107a8d29e2f89e80ad3ec9554a4a2126ac",
    "sub03/sub03_2/img_00299.jpg": "bc5ef22d4a380a6089a22865d20f725dcc8514e13edb9199659ddb67b56329f9",
}


def _tree_digest(folder) -> str:
    """Digest of the corpus content; ``manifest.json`` is the cache's integrity record (melab.data.cache), not data."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            h.update(str(p.relative_to(folder)).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@pytest.fixture(scope="module")
def easy_tiny(melab_data):
    return S.make_corpus("tiny", seed=0, root=melab_data, difficulty="easy", progress=False)


@pytest.fixture(scope="module")
def realistic_tiny(melab_data):
    return S.make_corpus("tiny", seed=0, root=melab_data, difficulty="realistic", processes=2, progress=False)


def test_easy_is_version_1_byte_for_byte(easy_tiny):
    for name, digest in V1_TINY_FILES.items():
        assert hashlib.sha256((easy_tiny / name).read_bytes()).hexdigest() == digest, name
    assert _tree_digest(easy_tiny) == V1_TINY_DIGEST
    assert easy_tiny.name == f"tiny-easy-seed0-v{S.GENERATOR_VERSION}" and S.GENERATOR_VERSION == 2


def test_realistic_is_deterministic_with_one_and_two_processes(realistic_tiny, tmp_path):
    again = S.make_corpus("tiny", seed=0, root=tmp_path, difficulty="realistic", processes=1, progress=False)
    assert _digest(again) == _digest(realistic_tiny)
    assert _tree_digest(realistic_tiny) != V1_TINY_DIGEST


def test_difficulty_is_checked():
    with pytest.raises(ValueError, match="difficulty must be one of"):
        S.make_corpus("tiny", difficulty="hard")
    with pytest.raises(ValueError, match="clips preset is realistic only"):
        S.make_corpus("clips", difficulty="easy")


def _intervals_overlap(a, b) -> bool:
    return a.onset <= b.offset and b.onset <= a.offset


# AU columns (both sides) that each unlabelled kind moves; a nod moves the head instead.
_KIND_AUS = {"gaze_shift": ("AU61", "AU62"), "swallow": ("AU17", "AU24"), "lip_press": ("AU24", "AU23"),
             "sniff": ("AU38", "AU9"), "speech": ("AU25", "AU26"), "talking": ("AU25",), "blink": ("AU45",)}


def test_unlabelled_movements_are_in_the_truth_and_never_in_events(realistic_tiny):
    events = pd.read_csv(realistic_tiny / "events.csv")
    truth = pd.read_csv(realistic_tiny / "truth_events.csv")
    distractors = pd.read_csv(realistic_tiny / "distractors.csv")
    assert set(distractors["kind"]) & set(S.SUBTLE_KINDS) and "talking" in set(distractors["kind"])
    assert not set(events["kind"]) - {"micro", "macro"} and len(events) == len(truth)
    for d in distractors.itertuples():
        same = truth[truth["video"] == d.video]
        if d.kind != "head_jerk":
            assert not any(_intervals_overlap(d, ev) for ev in same.itertuples()), d
        with np.load(realistic_tiny / d.video.split("_")[0] / d.video / "truth.npz") as z:
            if d.kind == "nod":
                moved = np.abs(z["head"][d.apex, [1, 5]] - z["head"][d.onset, [1, 5]]).max()
            elif d.kind == "head_jerk":
                moved = np.abs(z["head"][d.offset, :2] - z["head"][max(d.onset - 1, 0), :2]).max()
            else:
                cols = [S.LATERAL_CODES.index(f"{side}{au[2:]}") for au in _KIND_AUS[d.kind] for side in "RL"]
                moved = np.abs(z["au_intensity"][d.onset:d.offset + 1, cols]).max()
        assert moved > 1e-3, d


def test_annotations_are_jittered_truth_is_exact(realistic_tiny):
    events = pd.read_csv(realistic_tiny / "events.csv")
    truth = pd.read_csv(realistic_tiny / "truth_events.csv")
    assert (events["onset"].to_numpy() == truth["ann_onset"].to_numpy()).all()
    assert (events["emotion"].to_numpy() == truth["label"].to_numpy()).all()
    assert (events["apex"] == truth["apex"]).all()
    step = np.where(truth["fps"] > 30, truth["fps"] / 30, 1)
    assert (np.abs(truth["onset"] - truth["ann_onset"]) <= 2 * step + 1e-9).all()
    assert (events["onset"] < events["apex"]).all() and (events["apex"] < events["offset"]).all()
    for ev in truth.itertuples():  # the exact apex is where the rendered field peaks
        with np.load(realistic_tiny / ev.subject / ev.video / "truth.npz") as z:
            s = np.abs(z["au_intensity"]).sum(axis=1)
        assert s[ev.apex] == pytest.approx(s[ev.onset:ev.offset + 1].max(), rel=1e-4)


def test_tiny_realistic_density(realistic_tiny):
    report = check.synthetic_difficulty(realistic_tiny, similarity=False)
    assert 2.0 <= report["me_per_minute"] <= 4.0
    assert report["me_free_video_share"] >= 0.25
    assert report["mae_per_me"] >= 2.0 and report["subtle_per_me"] >= 1.0
    assert report["amplitude_overlap"] > 0 and report["mae_below_1_5px"] >= 0.2


@pytest.fixture(scope="module")
def lab_plans():
    """Every realistic timeline of the lab preset, planned but not rendered (the "reduced" lab)."""
    cfg = S.PRESETS["lab"]
    plans = []
    for spec in S.corpus._realistic_specs(cfg, 0):
        subject = S.make_subject(0, spec["subject_index"])
        plans.append(S.plan_realistic_video(
            subject, S.lateral_basis(subject), video_index=spec["video_index"],
            n_frames=int(round(spec["duration_s"] * spec["fps"])), fps=spec["fps"], me_emotions=spec["me_emotions"],
            n_mae=spec["n_mae"], n_subtle=spec["n_subtle"]))
    return plans


def test_reduced_lab_density_amplitudes_and_coverage(lab_plans):
    truth = pd.concat([p.truth for p in lab_plans], ignore_index=True)
    events = pd.concat([p.events for p in lab_plans], ignore_index=True)
    distractors = pd.concat([p.distractors for p in lab_plans], ignore_index=True)
    minutes = sum(p.n_frames / p.fps for p in lab_plans) / 60
    me, mae = truth[truth["kind"] == "micro"], truth[truth["kind"] == "macro"]
    assert 2.0 <= len(me) / minutes <= 4.0
    assert np.mean([not (p.truth["kind"] == "micro").any() for p in lab_plans]) >= 0.25
    assert len(mae) >= 2 * len(me) and distractors["kind"].isin(S.SUBTLE_KINDS).sum() >= len(me)
    assert me["amplitude_px"].between(0.15, 1.0).all() and 0.35 <= me["amplitude_px"].median() <= 0.55
    assert mae["amplitude_px"].between(0.6, 6.0).all() and (mae["amplitude_px"] < 1.5).mean() >= 0.2
    assert check.amplitude_overlap(me["amplitude_px"].to_numpy(), mae["amplitude_px"].to_numpy()) > 0.1
    assert (mae["amplitude_px"] <= me["amplitude_px"].max()).mean() > 0.1
    seconds = (me["offset"] - me["onset"] + 1) / me["fps"]
    assert seconds.between(0.1, 0.5).all() and 0.25 <= seconds.median() <= 0.35
    assert check.oracle_window_coverage(events[events["kind"] == "micro"])["coverage"] <= 0.85
    talking = distractors[distractors["kind"] == "talking"]
    assert 0.1 <= (talking["offset"] - talking["onset"] + 1).sum() / sum(p.n_frames for p in lab_plans) <= 0.2
    for p in lab_plans:
        assert 75 <= p.jpeg_quality <= 90
        assert np.abs(np.rad2deg(p.head[:, 4:])).max() <= 4.0 + 1e-4
    assert np.rad2deg(np.concatenate([p.head[:, 4:] for p in lab_plans])).std() > 0.5  # the head does turn


@pytest.fixture(scope="module")
def many_clips():
    """400 realistic clip timelines (8 faces x 50), not rendered: a large sample of the event model."""
    rows = []
    for s in range(8):
        subject = S.make_subject(0, s)
        basis = S.lateral_basis(subject)
        emotions = S.timeline._class_draw(np.random.default_rng(s), 50, S.SEVEN_CLASSES)
        rows += [S.clip_timeline(subject, basis, i, e).truth for i, e in enumerate(emotions)]
    return pd.concat(rows, ignore_index=True)


def test_event_model_recognition_difficulty(many_clips):
    presence = check._au_presence(many_clips)
    for emotion, rates in presence["per_emotion"].items():
        for au, rate in rates.items():
            assert 0.4 <= rate <= 1.0, (emotion, au, rate)
    assert 0.65 <= presence["mean"] <= 0.85
    assert 0.12 <= presence["stray_rate"] <= 0.3
    negatives = many_clips[many_clips["emotion"].isin(S.NEGATIVE_EMOTIONS)]
    noise = (negatives["label"] != negatives["emotion"]).mean()
    assert 0.05 <= noise <= 0.16
    assert set(negatives.loc[negatives["label"] != negatives["emotion"], "label"]) <= set(S.NEGATIVE_EMOTIONS)
    assert (many_clips.loc[~many_clips["emotion"].isin(S.NEGATIVE_EMOTIONS), "label"]
            == many_clips.loc[~many_clips["emotion"].isin(S.NEGATIVE_EMOTIONS), "emotion"]).all()
    assert (many_clips["asymmetry"].abs() >= 0.3).mean() >= 0.3
    shares = many_clips["emotion"].value_counts(normalize=True)
    assert shares[list(S.NEGATIVE_EMOTIONS)].sum() > 0.5
    assert shares["happiness"] < shares["disgust"] and shares["surprise"] < shares["disgust"]
    annotated = many_clips.assign(onset=0, offset=many_clips["ann_offset"])
    assert check.oracle_window_coverage(annotated)["coverage"] <= 0.85


def test_subject_au_gains_differ_between_subjects():
    a, b = (S.subject_au_gains(S.make_subject(0, i)) for i in (0, 1))
    assert a.shape == (len(S.ALL_AU_CODES),) and not np.allclose(a, b)


@pytest.fixture(scope="module")
def turned_video():
    return S.generate_video(2, 1, 0, duration_s=4, n_me=1, n_mae=1, difficulty="realistic", jpeg_quality=None)


def test_realistic_true_flow_is_exact_under_out_of_plane_rotation(turned_video):
    v = turned_video
    assert v.lateral and np.abs(np.rad2deg(v.timeline.head[:, 4:])).max() > 0.3
    clean = v.render(lighting=False, sensor_noise=False)
    t = int(v.truth[v.truth["kind"] == "macro"].iloc[0].apex)
    flow = v.true_flow(t, 0)
    yy, xx = np.mgrid[0:clean.shape[1], 0:clean.shape[2]].astype(np.float32)
    warped = cv2.remap(clean[0], xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_CUBIC)
    before, after = _interior_mae(clean[t], clean[0]), _interior_mae(clean[t], warped)
    assert after < 0.6 and after < 0.25 * before
    forward = v.true_flow(0, t)
    lm0, lm1 = v.landmarks[0], v.landmarks[t]
    sampled = np.stack([cv2.remap(forward[..., c], lm0[:, 0], lm0[:, 1], cv2.INTER_LINEAR) for c in (0, 1)],
                       axis=-1).reshape(-1, 2)
    assert np.abs(lm0 + sampled - lm1).max() < 0.05


def test_unilateral_event_moves_one_side():
    subject = S.make_subject(0, 0)
    basis = S.lateral_basis(subject)
    plan = S.timeline
    w = plan._scaled(basis, plan._lateral_weights({"AU12": 1.0}, 1.0), 1.0)  # the subject's left does not move
    d = np.tensordot(w, S.lateral_displacement(subject, subject.landmarks.astype(float)), axes=1)
    assert np.linalg.norm(d[48]) > 0.3 and np.linalg.norm(d[54]) < 0.02


def test_clips_corpus_layout_and_split(melab_data, monkeypatch):
    monkeypatch.setattr(S.corpus, "CLIPS", S.ClipsPreset(n_subjects=5, clips_per_subject=3))
    corpus = S.make_corpus("clips", seed=0, root=melab_data / "small_clips", progress=False)
    events = pd.read_csv(corpus / "events.csv")
    truth = pd.read_csv(corpus / "truth_events.csv")
    videos = pd.read_csv(corpus / "videos.csv")
    assert len(events) == len(videos) == 15 and (events["onset"] == 0).all()
    assert (events["offset"] == videos["n_frames"] - 1).all() and (events["kind"] == "micro").all()
    assert set(events["emotion"]) <= set(S.SEVEN_CLASSES)
    assert (truth["onset"].abs() <= 2).all() and (truth["apex"] == events["apex"]).all()
    for row in videos.itertuples():
        assert len(list((corpus / row.subject / row.video).glob("img_*.jpg"))) == row.n_frames
    split = S.read_split(corpus)
    parts = [set(split[p]) for p in ("train", "test_a", "test_b")]
    assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set.union(*parts) == set(events["subject"])
    v = S.load_video(corpus, events["video"].iloc[0])
    assert v.frames.shape[0] == v.n_frames and v.truth is not None and len(S.recognition_samples(events)) == 15


def test_check_reports_difficulty(realistic_tiny):
    report = check.check_dataset("synthetic", realistic_tiny)
    assert report.difficulty is not None and "Difficulty:" in str(report)
    assert report.difficulty["n_me"] == (report.events["kind"] == "micro").sum()


def test_oracle_window_coverage_known_answer():
    # two MEs of 9 frames and one of 3, each centred on its apex: apex +- 2 (5 frames) has IoU 5/9 and 3/5
    events = pd.DataFrame({"onset": [0, 20, 40], "apex": [4, 24, 41], "offset": [8, 28, 42]})
    out = check.oracle_window_coverage(events)
    assert out["by_k"][1] == pytest.approx(1 / 3, abs=1e-4) and out["by_k"][4] == pytest.approx(2 / 3, abs=1e-4)
    assert out["k"] == 2 and out["coverage"] == pytest.approx(1.0)


def test_load_realistic_video_matches_generation(realistic_tiny):
    v = S.load_video(realistic_tiny, "sub02_1")
    spec = next(s for s in S.corpus._realistic_specs(S.PRESETS["tiny"], 0) if s["subject_index"] == 1)
    again = S.generate_video(0, 1, 0, duration_s=spec["duration_s"], n_mae=spec["n_mae"], n_subtle=spec["n_subtle"],
                             me_emotions=spec["me_emotions"], render=False, difficulty="realistic")
    assert v.lateral and v.truth is not None and v.timeline.jpeg_quality == again.timeline.jpeg_quality
    np.testing.assert_allclose(v.landmarks, again.landmarks, atol=1e-5)
    np.testing.assert_allclose(v.true_flow(3, 40), again.true_flow(3, 40), atol=1e-4)
    pd.testing.assert_frame_equal(v.events.reset_index(drop=True), again.events, check_dtype=False)


def test_peak_displacement_rises_from_zero_to_the_amplitude():
    clip = S.generate_clip(0, 0, "surprise", kind="micro", amplitude_px=0.9, duration_s=0.35)
    ev = clip.events.iloc[0]
    curve = clip.peak_displacement()
    assert curve.shape == (int(ev.offset - ev.onset + 1),)
    assert curve[0] == pytest.approx(0.0, abs=1e-4)  # the onset relative to itself
    assert curve.max() == pytest.approx(0.9, rel=0.02)  # the amplitude is the peak of the field at apex
    assert int(np.argmax(curve)) == int(ev.apex - ev.onset)
    with pytest.raises(IndexError, match="event 1"):
        clip.peak_displacement(1)


def test_plan_corpus_equals_the_corpus_tables(easy_tiny, realistic_tiny):
    for difficulty, corpus in (("easy", easy_tiny), ("realistic", realistic_tiny)):
        plan = S.plan_corpus("tiny", 0, difficulty=difficulty)
        tables = [("events", plan.events), ("distractors", plan.distractors)]
        tables += [("truth_events", plan.truth)] if difficulty == "realistic" else []
        for name, table in tables:
            written = pd.read_csv(corpus / f"{name}.csv")
            pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(table.to_csv(index=False))), written)
        assert sorted(plan.videos) == sorted(pd.read_csv(corpus / "videos.csv")["video"])
    assert plan.truth is not plan.events and S.plan_corpus("tiny", difficulty="easy").truth.equals(
        pd.read_csv(easy_tiny / "events.csv"))
    with pytest.raises(ValueError, match="long-video presets"):
        S.plan_corpus("clips")


def test_expression_peak_is_the_events_amplitude_without_head_motion():
    video = S.generate_video(0, 2, 0, duration_s=20, n_me=2, n_mae=3, render=False, difficulty="realistic")
    for ev in video.truth.itertuples():
        curve = video.expression_peak(ev.onset, ev.offset)
        assert curve.argmax() == ev.apex - ev.onset and curve.max() == pytest.approx(ev.amplitude_px, rel=2e-3)
        assert curve[0] < 0.05 * curve.max() and curve[-1] < 0.05 * curve.max()
    nods = video.distractors[video.distractors["kind"].isin(["nod", "head_jerk"])]
    for d in nods.itertuples():  # head motion moves no facial feature
        assert video.expression_peak(d.onset, d.offset).max() < 1e-6
    with pytest.raises(IndexError, match="not inside"):
        video.expression_peak(5, video.n_frames)


def test_difficulty_of_a_plan_is_the_corpus_difficulty(easy_tiny, realistic_tiny):
    for difficulty, corpus in (("easy", easy_tiny), ("realistic", realistic_tiny)):
        plan = S.plan_corpus("tiny", 0, difficulty=difficulty)
        pd.testing.assert_frame_equal(plan.video_table, pd.read_csv(corpus / "videos.csv"))
        assert check.synthetic_difficulty(plan) == check.synthetic_difficulty(corpus)


class Killed(Exception):
    pass


def test_an_interrupted_corpus_resumes_where_it_stopped_with_the_same_bytes(realistic_tiny, tmp_path, monkeypatch):
    from melab.data.synthetic import corpus as C

    real, made = C._build_realistic_video, []

    def dies_after_three(job):
        if len(made) == 3:
            raise Killed
        made.append(job[0]["subject_index"])
        return real(job)

    monkeypatch.setattr(C, "_build_realistic_video", dies_after_three)
    with pytest.raises(Killed):
        S.make_corpus("tiny", seed=0, root=tmp_path, difficulty="realistic", processes=1, progress=False)
    final = S.corpus_dir("tiny", 0, tmp_path, difficulty="realistic")
    [partial] = [p for p in final.parent.iterdir() if p.name.startswith(final.name + ".tmp-")]
    assert len(list((partial / C.DONE).glob("*.json"))) == 3 and not final.exists()
    partial.rename(final.with_name(final.name + ".tmp-999999999"))  # as a killed process would leave it

    monkeypatch.setattr(C, "_build_realistic_video", lambda job: made.append(job) or real(job))
    again = S.make_corpus("tiny", seed=0, root=tmp_path, difficulty="realistic", processes=1, progress=False)
    assert len(made) == 3 + 3  # the three finished videos were not made again
    assert _digest(again) == _digest(realistic_tiny)
    # nothing left but the corpus (and the lock file that serialises runs of it)
    assert sorted(p.name for p in final.parent.iterdir()) == sorted([final.name, f".{final.name}.lock"])


def test_the_large_preset_is_samm_lv_sized():
    plan = S.plan_corpus("large", 0)
    micro = plan.events[plan.events["kind"] == "micro"]
    assert plan.video_table["subject"].nunique() == 32 and len(micro) >= 160
