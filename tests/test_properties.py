"""The public API against generated input (Hypothesis): every function of melab.flow, melab.decode, melab.metrics
and melab.scan, given arrays of any shape and dtype, NaN, empty arrays, scalars, strings or None in any one
argument, either answers correctly or raises a ``ValueError``/``TypeError`` whose message names that argument;
never an exception from numpy, OpenCV or torch internals, never a numpy warning (a NaN computed silently) and
never a result that breaks the function's contract (a truncated or reshaped answer).

Each test draws one argument to spoil and a value for it, the other arguments valid. Example counts are modest
(``EXAMPLES``) so that the suite stays fast; the derandomised database-free settings make a failure reproducible.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from melab import decode, flow, metrics, scan

EXAMPLES = 60
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
REFUSED = object()

DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex128, np.dtype("U2")])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
ARRAYS = st.one_of(hnp.arrays(DTYPES, SHAPES),  # numbers in object arrays too (pandas columns after edits)
                   hnp.arrays(np.dtype(object), SHAPES, elements=st.one_of(st.integers(-3, 30), st.floats(),
                                                                             st.text(max_size=2), st.none())))
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3), st.lists(st.one_of(st.floats(-3, 30), st.integers(-3, 30)), max_size=4),
    st.lists(st.lists(st.integers(-3, 30), max_size=3), max_size=3), ARRAYS,
)


def names_in(message: str, names) -> bool:
    return any(re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message) for name in names)


def outcome(call, *names):
    """``call()``'s result, or REFUSED when it raised a ValueError/TypeError naming one of ``names``; anything
    else (another exception, a message naming none of them, a numpy RuntimeWarning) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            return call()
        except (ValueError, TypeError) as err:
            assert names_in(str(err), names), f"{type(err).__name__} names none of {names}: {err}"
            return REFUSED


def spoil(valid: dict, arg: str, value) -> dict:
    return {**valid, arg: value}


def as_float_array(value):
    return np.asarray(value, np.float64)


# ---- melab.decode ---------------------------------------------------------------------------------------------

SCORES = np.clip(np.sin(np.linspace(0, 12, 80)) + 0.5, 0, 1)


def intervals_ok(result, n: int) -> None:
    assert isinstance(result, list)
    assert all(isinstance(a, int) and isinstance(b, int) and 0 <= a <= b < n for a, b in result), result
    assert result == sorted(result)


@FUZZ
@given(arg=st.sampled_from(["scores", "smooth"]), value=JUNK)
def test_smooth_scores(arg, value):
    kwargs = spoil(dict(scores=SCORES, smooth=3), arg, value)
    out = outcome(lambda: decode.smooth_scores(**kwargs), arg)
    if out is not REFUSED:
        s = as_float_array(kwargs["scores"])
        assert out.shape == s.shape and np.isfinite(out).all()
        assert s.min() - 1e-9 <= out.min() and out.max() <= s.max() + 1e-9


@FUZZ
@given(arg=st.sampled_from(["s", "q"]), value=JUNK)
def test_relative_threshold(arg, value):
    kwargs = spoil(dict(s=SCORES, q=0.5), arg, value)
    out = outcome(lambda: decode.relative_threshold(**kwargs), arg)
    if out is not REFUSED:
        s = as_float_array(kwargs["s"])
        assert s.mean() - 1e-9 <= out <= s.max() + 1e-9


@FUZZ
@given(arg=st.sampled_from(["s", "k", "height"]), value=JUNK)
def test_score_peaks(arg, value):
    kwargs = spoil(dict(s=SCORES, k=5, height=0.5), arg, value)
    out = outcome(lambda: decode.score_peaks(**kwargs), arg)
    if out is not REFUSED:
        s = as_float_array(kwargs["s"])
        assert out.dtype == np.int64 and np.all((0 <= out) & (out < s.size)) and np.all(np.diff(out) > 0)


@FUZZ
@given(arg=st.sampled_from(["scores", "k", "p", "smooth"]), value=JUNK)
def test_fixed_window(arg, value):
    kwargs = spoil(dict(scores=SCORES, k=4, p=0.55, smooth=1), arg, value)
    out = outcome(lambda: decode.fixed_window(**kwargs), arg)
    if out is not REFUSED:
        intervals_ok(out, as_float_array(kwargs["scores"]).size)


@FUZZ
@given(arg=st.sampled_from(["scores", "k", "low", "high", "patience", "smooth", "peak_height", "scale", "nms_iou",
                            "variant"]), value=JUNK)
def test_siss(arg, value):
    kwargs = spoil(dict(scores=SCORES, k=4, low=0.2, high=0.6, patience=2, smooth=1, peak_height=None,
                        scale="relative", nms_iou=0.5, variant="paper"), arg, value)
    out = outcome(lambda: decode.siss(**kwargs), arg)
    if out is not REFUSED:
        intervals_ok(out, as_float_array(kwargs["scores"]).size)


@FUZZ
@given(variant=st.sampled_from(decode.VARIANTS), arg=st.sampled_from(["scores", "k", "smooth", "peak_height"]),
       value=JUNK)
def test_siss_official_variants(variant, arg, value):
    kwargs = spoil(dict(scores=SCORES, k=4, smooth=None, peak_height=None, variant=variant), arg, value)
    out = outcome(lambda: decode.siss(**kwargs), arg)
    if out is not REFUSED:
        assert all(0 <= a <= b < as_float_array(kwargs["scores"]).size for a, b in out)


PROBS = np.full((80, 3), 1 / 3)
PROBS[20:30, 0] = 0.8


@FUZZ
@given(arg=st.sampled_from(["class_probs", "intervals", "labels", "penalty"]), value=JUNK)
def test_assign_emotions(arg, value):
    kwargs = spoil(dict(class_probs=PROBS, intervals=[(20, 29), (50, 60)], labels=["a", "b", "neutral"],
                        penalty=None), arg, value)
    out = outcome(lambda: decode.assign_emotions(**kwargs), arg)
    if out is not REFUSED:
        given_intervals = [tuple(iv) for iv in np.asarray(kwargs["intervals"], np.int64).reshape(-1, 2).tolist()]
        assert [(a, b) for a, b, _, _ in out] == [iv for iv in given_intervals if iv in [(a, b) for a, b, _, _ in out]]
        assert all(emotion in kwargs["labels"] for _, _, emotion, _ in out)


def test_assign_emotions_refuses_fractional_frames():
    with pytest.raises(ValueError, match=r"intervals"):
        decode.assign_emotions(PROBS, [(0.2, 0.9)], labels=["a", "b", "neutral"])


# ---- melab.metrics --------------------------------------------------------------------------------------------

PRED, TRUTH = [(3, 10), (20, 30)], [(4, 11), (40, 44)]


@FUZZ
@given(arg=st.sampled_from(["a", "b"]), value=JUNK)
def test_interval_iou(arg, value):
    kwargs = spoil(dict(a=(3, 10), b=(5, 12)), arg, value)
    out = outcome(lambda: metrics.interval_iou(**kwargs), arg)
    if out is not REFUSED:
        assert 0.0 <= out <= 1.0


@FUZZ
@given(arg=st.sampled_from(["pred", "truth"]), value=JUNK)
def test_iou_matrix(arg, value):
    kwargs = spoil(dict(pred=PRED, truth=TRUTH), arg, value)
    out = outcome(lambda: metrics.iou_matrix(**kwargs), arg)
    if out is not REFUSED:
        n = {k: len(np.asarray(v, np.float64).reshape(-1, 2)) for k, v in kwargs.items()}
        assert out.shape == (n["pred"], n["truth"]) and np.all((0 <= out) & (out <= 1))


@FUZZ
@given(arg=st.sampled_from(["pred", "truth", "iou"]), value=JUNK)
def test_match_intervals_and_spotting_scores(arg, value):
    kwargs = spoil(dict(pred=PRED, truth=TRUTH, iou=0.5), arg, value)
    pairs = outcome(lambda: metrics.match_intervals(**kwargs), arg)
    scores = outcome(lambda: metrics.spotting_scores(**kwargs), arg)
    if pairs is not REFUSED:
        assert len({i for i, _, _ in pairs}) == len(pairs) == len({j for _, j, _ in pairs})
        assert all(v >= kwargs["iou"] for _, _, v in pairs)
    if scores is not REFUSED:
        n_pred, n_true = (len(np.asarray(kwargs[k], np.float64).reshape(-1, 2)) for k in ("pred", "truth"))
        assert scores.tp + scores.fp == n_pred and scores.tp + scores.fn == n_true
        assert 0 <= scores.f1 <= 1


@FUZZ
@given(arg=st.sampled_from(["y_true", "y_pred", "labels"]), value=JUNK)
def test_recognition_scores_and_confusion(arg, value):
    kwargs = spoil(dict(y_true=["a", "b", "a"], y_pred=["a", "a", "b"], labels=["a", "b"]), arg, value)
    out = outcome(lambda: metrics.recognition_scores(**kwargs), arg)
    table = outcome(lambda: metrics.confusion(**kwargs), arg)
    if out is not REFUSED:
        assert all(0 <= getattr(out, m) <= 1 for m in ("uf1", "uar", "acc", "f1")) and out.n == len(kwargs["y_true"])
    if table is not REFUSED:
        assert table.to_numpy().sum() <= len(list(kwargs["y_true"]))


@FUZZ
@given(arg=st.sampled_from(["spot_f1", "recog_f1"]), value=JUNK)
def test_strs(arg, value):
    kwargs = spoil(dict(spot_f1=0.3, recog_f1=0.5), arg, value)
    out = outcome(lambda: metrics.strs(**kwargs), arg)
    if out is not REFUSED:
        assert 0 <= out <= 1


@FUZZ
@given(arg=st.sampled_from(["scores", "k", "low", "high", "smooth", "p"]), value=JUNK,
       method=st.sampled_from(["siss", "fixed_window"]))
def test_decode_video_and_score(arg, value, method):
    kwargs = spoil(dict(scores=SCORES, k=4, low=0.2, high=0.6, smooth=1, p=0.55), arg, value)
    table = outcome(lambda: metrics.decode_video(method=method, **kwargs), arg)
    scored = outcome(lambda: metrics.decode_and_score(truth=[(20, 30)], method=method, **kwargs), arg)
    if table is not REFUSED:
        assert list(table.columns) == ["onset", "offset"]
        assert ((0 <= table.onset) & (table.onset <= table.offset)).all()
    if scored is not REFUSED:
        assert 0 <= scored[1]["f1"].iloc[0] <= 1


@FUZZ
@given(arg=st.sampled_from(["scores_by_video", "k", "lows", "highs", "smooth"]), value=JUNK)
def test_decode_corpus_and_sensitivity_grid(arg, value):
    truth = pd.DataFrame({"video": ["v1"], "onset": [20], "offset": [30], "kind": ["micro"]})
    kwargs = spoil(dict(scores_by_video={"v1": SCORES}, k=4, lows=[0.1, 0.2], highs=[0.6], smooth=1), arg, value)
    grid = outcome(lambda: metrics.sensitivity_grid(truth=truth, **kwargs), arg)
    if arg not in ("lows", "highs"):
        corpus = outcome(lambda: metrics.decode_corpus(kwargs["scores_by_video"], truth, k=kwargs["k"],
                                                       smooth=kwargs["smooth"]), arg)
        if corpus is not REFUSED:
            assert 0 <= corpus.spotting.f1 <= 1
    if grid is not REFUSED:
        assert ((0 <= grid["f1"]) & (grid["f1"] <= 1)).all()


@FUZZ
@given(column=st.sampled_from(["onset", "offset", "video", "subject"]), value=JUNK)
def test_evaluate_tables(column, value):
    truth = pd.DataFrame({"subject": ["1", "1"], "video": ["a", "b"], "onset": [3, 10], "offset": [8, 20],
                          "emotion": ["x", "y"]})
    pred = truth.copy()
    try:
        pred[column] = [value, value] if not isinstance(value, (list, np.ndarray)) else [value] * 2
    except ValueError:
        return
    out = outcome(lambda: metrics.evaluate(pred, truth), column, "pred")
    if out is not REFUSED:
        assert 0 <= out.spotting.f1 <= 1 and out.spotting.tp + out.spotting.fn == 2


# ---- melab.scan -----------------------------------------------------------------------------------------------


@FUZZ
@given(arg=st.sampled_from(["h", "w", "kind"]), value=JUNK)
def test_scan_order(arg, value):
    kwargs = spoil(dict(h=3, w=4, kind="h_zigzag"), arg, value)
    out = outcome(lambda: scan.scan_order(**kwargs), arg)
    if out is not REFUSED:
        assert sorted(out.tolist()) == list(range(kwargs["h"] * kwargs["w"]))


@FUZZ
@given(value=JUNK)
def test_inverse(value):
    out = outcome(lambda: scan.inverse(value), "order")
    if out is not REFUSED:
        order = np.asarray(value).astype(np.int64)
        assert np.array_equal(out[order], np.arange(order.size))


@FUZZ
@given(arg=st.sampled_from(["x", "order"]), value=JUNK)
def test_apply_and_undo_scan(arg, value):
    x = torch.arange(24.0).reshape(1, 2, 3, 4)
    kwargs = spoil(dict(x=x, order=scan.scan_order(3, 4, "v_zigzag")), arg, value)
    if arg == "x" and isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        kwargs["x"] = torch.as_tensor(value.astype(np.float32))
    out = outcome(lambda: scan.apply_scan(**kwargs), arg)
    if out is not REFUSED:
        back = scan.undo_scan(out, kwargs["order"], *kwargs["x"].shape[-2:])
        assert torch.equal(back, kwargs["x"])
    seq = scan.apply_scan(x, scan.scan_order(3, 4, "v_zigzag"))
    undo = spoil(dict(x=seq, order=scan.scan_order(3, 4, "v_zigzag"), h=3, w=4), arg, value)
    if arg == "x" and isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        undo["x"] = torch.as_tensor(value.astype(np.float32))
    out = outcome(lambda: scan.undo_scan(**undo), arg)
    if out is not REFUSED:
        assert out.shape[-2:] == (3, 4)


def test_apply_scan_refuses_an_order_that_is_not_a_permutation():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    with pytest.raises(ValueError, match=r"order must be a permutation of 0\.\.11"):
        scan.apply_scan(x, np.zeros(12, np.int64))


@FUZZ
@given(arg=st.sampled_from(["x", "win", "h", "w"]), value=JUNK)
def test_window_partition_and_merge(arg, value):
    x = torch.arange(2 * 3 * 6 * 4.0).reshape(2, 3, 6, 4)
    if arg in ("x", "win"):
        kwargs = spoil(dict(x=x, win=2), arg, value)
        if arg == "x" and isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            kwargs["x"] = torch.as_tensor(value.astype(np.float32))
        out = outcome(lambda: scan.window_partition(**kwargs), arg)
        if out is not REFUSED:
            b, c, h, w = kwargs["x"].shape
            assert torch.equal(scan.window_merge(out, kwargs["win"], h, w), kwargs["x"])
    name = {"x": "windows"}.get(arg, arg)
    merge = spoil(dict(windows=scan.window_partition(x, 2), win=2, h=6, w=4), name, value)
    out = outcome(lambda: scan.window_merge(**merge), name)
    if out is not REFUSED:
        assert out.shape[-2:] == (merge["h"], merge["w"]) and out.numel() == merge["windows"].numel()


@FUZZ
@given(arg=st.sampled_from(["order", "order_b", "h", "w", "kinds", "step"]), value=JUNK)
def test_scan_analysis(arg, value):
    order = scan.scan_order(3, 4, "h_raster")
    if arg in ("order", "h", "w"):
        kwargs = spoil(dict(order=order, h=3, w=4), arg, value)
        out = outcome(lambda: scan.adjacency(**kwargs), arg)
        if out is not REFUSED:
            assert 0 <= out.neighbour_share <= 1 and len(out.jump) == kwargs["h"] * kwargs["w"] - 1
    if arg in ("order", "order_b", "h", "w"):
        name = {"order": "order_a"}.get(arg, arg)
        kwargs = spoil(dict(order_a=order, order_b=scan.scan_order(3, 4, "v_raster"), h=3, w=4), name, value)
        out = outcome(lambda: scan.redundancy(**kwargs), name)
        if out is not REFUSED:
            assert 0 <= out <= 1
    if arg in ("h", "w", "kinds"):
        kwargs = spoil(dict(h=3, w=4, kinds=("h_raster", "v_zigzag_rev")), arg, value)
        for fn in (scan.redundancy_matrix, scan.scan_table):
            out = outcome(lambda fn=fn: fn(**kwargs), arg)
            if out is not REFUSED:
                assert len(out) == len(kwargs["kinds"])
    if arg in ("h", "w", "step"):
        kwargs = spoil(dict(h=3, w=4, kind="h_zigzag", step=5), arg, value)
        out = outcome(lambda: scan.scan_progress(**kwargs), arg)
        if out is not REFUSED:
            assert out.shape == (kwargs["h"], kwargs["w"]) and (out >= 0).sum() == kwargs["step"] + 1


# ---- melab.flow -----------------------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
IMAGE = (RNG.random((32, 40, 3)) * 255).astype(np.uint8)
FLOW = RNG.normal(size=(24, 20, 2)).astype(np.float32)


@FUZZ
@given(arg=st.sampled_from(["prev", "next", "method"]), value=JUNK)
def test_optical_flow(arg, value):
    kwargs = spoil(dict(prev=IMAGE, next=np.roll(IMAGE, 1, axis=1), method="dis"), arg, value)
    out = outcome(lambda: flow.optical_flow(**kwargs), arg)
    if out is not REFUSED:
        assert out.dtype == np.float32 and out.shape == np.asarray(kwargs["prev"]).shape[:2] + (2,)
        assert np.isfinite(out).all()


@FUZZ
@given(value=JUNK)
def test_default_k(value):
    out = outcome(lambda: flow.default_k(value), "fps")
    if out is not REFUSED:
        assert isinstance(out, int) and out >= 2 and out % 2 == 0


@FUZZ
@given(arg=st.sampled_from(["n_frames", "k", "stride"]), value=JUNK)
def test_window_starts(arg, value):
    kwargs = spoil(dict(n_frames=60, k=10, stride=5), arg, value)
    out = outcome(lambda: flow.window_starts(**kwargs), arg, "k")  # too few frames for k names both
    if out is not REFUSED:
        n, k = kwargs["n_frames"], kwargs["k"]
        assert out[0] == 0 and out[-1] + k == n and np.all(np.diff(out) >= 1) and np.all(np.diff(out) < k)


@FUZZ
@given(arg=st.sampled_from(["vectors", "p"]), value=JUNK)
def test_top_p_mean(arg, value):
    kwargs = spoil(dict(vectors=RNG.normal(size=(3, 10, 2)), p=0.3), arg, value)
    out = outcome(lambda: flow.top_p_mean(**kwargs), arg)
    if out is not REFUSED:
        v = np.asarray(kwargs["vectors"])
        assert out.shape == (len(v), 2) and np.isfinite(out).all()


@FUZZ
@given(arg=st.sampled_from(["values", "starts", "n_frames", "detrend"]), value=JUNK)
def test_stitch_windows(arg, value):
    kwargs = spoil(dict(values=RNG.normal(size=(3, 10, 4)), starts=np.array([0, 5, 10]), n_frames=20, detrend=6.0),
                   arg, value)
    out = outcome(lambda: flow.stitch_windows(**kwargs), arg)
    if out is not REFUSED:
        assert out.shape == (kwargs["n_frames"], np.asarray(kwargs["values"]).shape[-1]) and np.isfinite(out).all()


@FUZZ
@given(arg=st.sampled_from(["series", "k", "stride"]), value=JUNK)
def test_reference_windows(arg, value):
    kwargs = spoil(dict(series=RNG.normal(size=(40, 4)), k=10, stride=None), arg, value)
    out = outcome(lambda: flow.reference_windows(**kwargs), arg)
    if out is not REFUSED:
        windows, starts = out
        assert windows.shape == (len(starts), kwargs["k"], np.asarray(kwargs["series"]).shape[1])
        assert np.all(windows[:, 0] == 0)


@FUZZ
@given(value=JUNK)
def test_optical_strain(value):
    out = outcome(lambda: flow.optical_strain(value), "flow")
    if out is not REFUSED:
        assert out.shape == np.asarray(value).shape[:2] and np.isfinite(out).all() and (out >= 0).all()


@FUZZ
@given(arg=st.sampled_from(["flow", "max_flow"]), value=JUNK)
def test_flow_to_rgb(arg, value):
    kwargs = spoil(dict(flow=FLOW, max_flow=None), arg, value)
    out = outcome(lambda: flow.flow_to_rgb(**kwargs), arg)
    if out is not REFUSED:
        assert out.dtype == np.uint8 and out.shape == np.asarray(kwargs["flow"]).shape[:2] + (3,)


@FUZZ
@given(arg=st.sampled_from(["flow", "true_flow", "mask"]), value=JUNK)
def test_flow_epe(arg, value):
    kwargs = spoil(dict(flow=FLOW, true_flow=FLOW * 0.5, mask=None), arg, value)
    out = outcome(lambda: flow.flow_epe(**kwargs), arg)
    if out is not REFUSED:
        assert np.isfinite(out) and out >= 0


@FUZZ
@given(arg=st.sampled_from(["true_flow", "affine", "size"]), value=JUNK)
def test_crop_true_flow(arg, value):
    kwargs = spoil(dict(true_flow=FLOW, affine=np.array([[1.0, 0, -2], [0, 1.0, -1]]), size=16), arg, value)
    out = outcome(lambda: flow.crop_true_flow(**kwargs), arg)
    if out is not REFUSED:
        assert out.shape == (kwargs["size"], kwargs["size"], 2) and np.isfinite(out).all()


@FUZZ
@given(arg=st.sampled_from(["landmarks", "height", "width"]), value=JUNK)
def test_check_landmarks_in_frame(arg, value):
    kwargs = spoil(dict(landmarks=RNG.uniform(5, 30, (4, 68, 2)), height=32, width=40), arg, value)
    outcome(lambda: flow.check_landmarks_in_frame(**kwargs), arg)


@FUZZ
@given(arg=st.sampled_from(["method", "pyr_scale", "levels", "winsize", "preset"]), value=JUNK)
def test_flow_params(arg, value):
    if arg == "method":
        kwargs = dict(method=value)
    else:
        kwargs = {"method": "dis" if arg == "preset" else "farneback", arg: value}
    out = outcome(lambda: flow.flow_params(**kwargs), arg)
    if out is not REFUSED:
        assert isinstance(out, dict)


def _face_video(n: int = 12):
    from melab.data.synthetic import generate_video

    video = generate_video(1, 0, 0, duration_s=n / 30, n_me=0, n_mae=0)
    return video.frames[:n], video.landmarks[:n]


FACE_FRAMES, FACE_LANDMARKS = _face_video()


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(arg=st.sampled_from(["frames", "landmarks", "k", "stride", "size", "top_p", "detrend", "recentre_px"]),
       value=JUNK)
def test_roi_flow_series(arg, value):
    kwargs = spoil(dict(frames=FACE_FRAMES, landmarks=FACE_LANDMARKS, k=6, stride=None, size=32, top_p=(0.3, 0.2),
                        detrend=6.0, recentre_px=1.0), arg, value)
    out = outcome(lambda: flow.roi_flow_series(method="dis", **kwargs), arg)
    if out is not REFUSED:
        assert out.series.shape == (len(kwargs["frames"]), len(out.channels)) and np.isfinite(out.series).all()


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(arg=st.sampled_from(["frames", "landmarks", "k", "layout"]), value=JUNK)
def test_roi_series(arg, value):
    kwargs = spoil(dict(frames=FACE_FRAMES, landmarks=FACE_LANDMARKS, k=6, layout="melab"), arg, value)
    out = outcome(lambda: flow.roi_series(size=32, method="dis", **kwargs), arg)
    if out is not REFUSED:
        assert out.shape == (len(kwargs["frames"]), 36) and np.isfinite(out).all()


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(arg=st.sampled_from(["k", "stride", "size", "top_p", "detrend", "recentre_px", "max_recentre",
                            "flow_options", "frame", "landmarks"]), value=JUNK, at=st.integers(0, 11))
def test_roi_flow_stream(arg, value, at):
    """The streamed path (melab spot and flow): options spoilt, or one pushed frame or its landmarks (frame
    ``at``); a stream that takes everything equals roi_flow_series on what it was given."""
    options = spoil(dict(k=6, stride=None, size=32, top_p=(0.3, 0.2), detrend=6.0, recentre_px=1.0,
                         max_recentre=2, flow_options=None), arg, value) if arg not in ("frame", "landmarks") else \
        dict(k=6, size=32)
    frames, landmarks = list(FACE_FRAMES), list(FACE_LANDMARKS)
    if arg == "frame":
        frames[at] = value
    if arg == "landmarks":
        landmarks[at] = value

    def streamed():
        stream = flow.RoiFlowStream(method="dis", **options)
        for frame, points in zip(frames, landmarks, strict=True):
            stream.push(frame, points)
        return stream.finish()

    out = outcome(streamed, arg)
    if out is not REFUSED:
        whole = flow.roi_flow_series(np.stack(frames), np.stack(landmarks), method="dis", **options)
        assert np.array_equal(out.series, whole.series)


@FUZZ
@given(arg=st.sampled_from(["workers", "queue"]), value=JUNK)
def test_roi_flow_workers_refuse_before_starting(arg, value):
    kwargs = spoil(dict(workers=1, queue=4), arg, value)
    if outcome(lambda: flow.RoiFlowWorkers(**kwargs).__exit__(None, None, None), arg) is not REFUSED:
        assert kwargs == dict(workers=1, queue=4) or 1 <= kwargs[arg] <= 10**6


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(arg=st.sampled_from(["frames", "k", "stride"]), value=JUNK)
def test_video_flow(arg, value):
    kwargs = spoil(dict(frames=FACE_FRAMES[:, :32, :32], k=4, stride=None), arg, value)
    out = outcome(lambda: flow.video_flow(method="dis", **kwargs), arg)
    if out is not REFUSED:
        starts, flows = out
        frames = np.asarray(kwargs["frames"])
        assert flows.shape == (len(starts), kwargs["k"], *frames.shape[1:3], 2)


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(arg=st.sampled_from(["frames", "onset", "apex", "size", "landmarks"]), value=JUNK)
def test_onset_apex_flow(arg, value):
    kwargs = spoil(dict(frames=FACE_FRAMES, onset=0, apex=5, size=32, landmarks=FACE_LANDMARKS), arg, value)
    out = outcome(lambda: flow.onset_apex_flow(method="dis", **kwargs), arg)
    if out is not REFUSED:
        assert out.shape == (3, kwargs["size"], kwargs["size"]) and np.isfinite(out).all()


def test_onset_apex_flow_refuses_fractional_frames():
    with pytest.raises(ValueError, match=r"onset must be an integer >= 0, got 0.2"):
        flow.onset_apex_flow(FACE_FRAMES, 0.2, 0.9, size=32)


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(arg=st.sampled_from(["items", "k", "processes", "stride", "size"]), value=JUNK)
def test_extract_roi_series(arg, value, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    kwargs = spoil(dict(items=[(FACE_FRAMES, FACE_LANDMARKS)], k=6, processes=1, stride=None, size=32), arg, value)
    out = outcome(lambda: flow.extract_roi_series(cache_dir=cache, method="dis", progress=False, **kwargs), arg,
                  "item 0")
    if out is not REFUSED:
        assert len(out) == len(kwargs["items"]) and all(np.isfinite(s).all() for s in out)
