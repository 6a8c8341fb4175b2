"""Training machinery: windows and targets, resumable fit, checkpoints, stitching, LOSO."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from toys import toy_corpus

from melab import train as T
from melab.data.splits import SEVEN_CLASSES, str3_classes
from melab.models.merba import MERba, MERbaConfig
from melab.models.spotter import Spotter, SpotterConfig, SpotterOutput, spotter_loss

pytestmark = pytest.mark.usefixtures("one_thread")


STR3 = str3_classes("synthetic")  # negative, positive, surprise, others
SMALL = SpotterConfig.tiny(in_channels=4, d_fast=8, d_slow=16, n_stages=2, d_state=4)


# ---- windows and targets ----------------------------------------------------------------------------

def test_frame_targets_box_and_classes():
    events = pd.DataFrame(dict(video="v", onset=[3, 10, 16], apex=[4, 11, 17], offset=[5, 12, 18],
                               emotion=["happiness", "disgust", "others"], kind=["micro", "macro", "micro"]))
    spot, label = T.frame_targets(20, events)
    assert spot.tolist() == [0, 0, 0, 1, 1, 1] + [0] * 10 + [1, 1, 1, 0]  # the macro-expression is not a target
    neutral, pos, others = len(STR3), STR3.index("positive"), STR3.index("others")
    assert label.tolist() == [neutral] * 3 + [pos] * 3 + [neutral] * 10 + [others] * 3 + [neutral]
    spot, label = T.frame_targets(20, events, kinds=("micro", "macro"))
    assert spot[10:13].tolist() == [1, 1, 1] and set(label[10:13]) == {STR3.index("negative")}
    # CASME II leaves "others" out of the 3 classes: still an ME to spot, but no class to learn
    spot, label = T.frame_targets(20, events, dataset="casme2")
    assert spot[16:19].tolist() == [1, 1, 1] and set(label[16:19]) == {T.IGNORE}
    assert label[0] == 3  # neutral is the 4th of 3 + 1 outputs


def test_spotter_windows_cover_every_frame_with_stride_half_k():
    series, events, _ = toy_corpus(n_subjects=1, n_frames=107)
    w = T.spotter_windows(series, events, k=20)
    assert w.x.shape[1:] == (20, 4)
    assert w.start.tolist() == [0, 10, 20, 30, 40, 50, 60, 70, 80, 87]  # last window ends at the last frame
    np.testing.assert_array_equal(w.x[3], series["s0_v0"][30:50])
    spot, label = T.frame_targets(107, events)
    np.testing.assert_array_equal(w.spot[9], spot[87:107])
    np.testing.assert_array_equal(w.label[9], label[87:107])


def test_short_video_is_padded_to_one_neutral_window():
    w = T.spotter_windows({"v": np.ones((7, 2), np.float32)}, pd.DataFrame(columns=["video", "kind"]), k=10)
    assert w.x.shape == (1, 10, 2) and w.x[0, 7:].sum() == 0
    assert (w.label == len(STR3)).all() and w.spot.sum() == 0


def test_negative_sampling_ratio_and_determinism():
    series, events, _ = toy_corpus()
    w = T.spotter_windows(series, events, k=20)
    data = T.SpotterData(w, negative_ratio=0.2, batch_size=4, seed=1)
    n_pos, n_neg = int(w.positive.sum()), int((~w.positive).sum())
    idx0 = data.epoch_indices(0)
    assert round(0.2 * n_pos) < n_neg and len(idx0) == n_pos + round(0.2 * n_pos)
    assert T.SpotterData(w, negative_ratio=10).n_negative == n_neg  # capped by what there is
    assert w.positive[idx0].sum() == n_pos  # every positive, every epoch
    np.testing.assert_array_equal(idx0, data.epoch_indices(0))
    assert not np.array_equal(np.sort(idx0), np.sort(data.epoch_indices(1)))  # fresh negatives
    assert len(list(data(0))) == len(data)


def test_balanced_class_weights():
    w = T.SpotterWindows(np.zeros((2, 4, 1), np.float32), np.array([[1, 1, 0, 0], [0, 0, 0, 0]], np.float32),
                         np.array([[0, 0, 4, 4], [4, 4, 4, 4]]), np.array(["v", "v"]), np.array([0, 4]))
    weights = T.SpotterData(w, negative_ratio=1.0).class_weights(5)
    # 2 frames of class 0, 6 neutral frames: n / (K' count) = 8 / (2 * 2) and 8 / (2 * 6); absent -> 1
    torch.testing.assert_close(weights, torch.tensor([2.0, 1.0, 1.0, 1.0, 8 / 12]))


# ---- fit, checkpoints, resume -----------------------------------------------------------------------

def _setup(seed: int = 0):
    series, events, _ = toy_corpus()
    data = T.SpotterData(T.spotter_windows(series, events, k=20), batch_size=8, seed=seed)
    torch.manual_seed(seed)
    model = Spotter(SpotterConfig(**{**SMALL.to_dict(), "dropout": 0.2}))  # dropout: RNG state matters
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=4 * len(data))

    def step(model, batch, epoch):
        x, spot, label = batch
        return spotter_loss(model(x), spot, label)

    return model, data, step, dict(optimizer=opt, scheduler=sched, epochs=4, seed=seed, progress=False)


class Interrupt(Exception):
    pass


def test_interrupted_and_resumed_training_is_bit_identical(tmp_path):
    model_a, data, step, kw = _setup()
    history_a = T.fit(model_a, data, step, checkpoint=tmp_path / "a.pt", **kw)

    model_b, data, step, kw = _setup()

    def crashing(epoch):
        if epoch == 2:
            raise Interrupt
        return data(epoch)

    with pytest.raises(Interrupt):
        T.fit(model_b, crashing, step, checkpoint=tmp_path / "b.pt", **kw)
    assert T.read_checkpoint(tmp_path / "b.pt")["epoch"] == 2

    model_c, data, step, kw = _setup()  # a new process would start from scratch like this
    history_c = T.fit(model_c, data, step, checkpoint=tmp_path / "b.pt", resume=True, **kw)
    for (name, a), c in zip(model_a.state_dict().items(), model_c.state_dict().values(), strict=True):
        assert torch.equal(a, c), name
    pd.testing.assert_frame_equal(history_a, history_c)
    assert history_a["loss"].iloc[-1] < history_a["loss"].iloc[0]


def test_checkpoint_holds_plain_state_and_json_config(tmp_path):
    model, data, step, kw = _setup()
    T.fit(model, data, step, checkpoint=tmp_path / "c.pt", config={"note": "x"}, **{**kw, "epochs": 1})
    ckpt = torch.load(tmp_path / "c.pt", weights_only=True)
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "rng", "config", "train", "epoch", "history"}
    import json

    json.dumps({k: ckpt[k] for k in ("config", "train", "history", "kind", "epoch")})
    assert ckpt["train"] == {"note": "x"}
    loaded = T.load_model(tmp_path / "c.pt")
    assert isinstance(loaded, Spotter) and loaded.config == model.config


def test_wrong_architecture_names_the_mismatched_keys(tmp_path):
    T.save_model(tmp_path / "s.pt", Spotter(SMALL))
    bigger = Spotter(SpotterConfig(**{**SMALL.to_dict(), "n_stages": 3, "d_fast": 12}))
    state = T.read_checkpoint(tmp_path / "s.pt")["model"]
    with pytest.raises(ValueError) as err:
        T.load_state(bigger, state, source="s.pt")
    message = str(err.value)
    assert "missing keys: trunk.fast_stages.2" in message
    assert "shape mismatches: " in message and "recog_head.weight: checkpoint (5, 24) vs model (5, 28)" in message
    with pytest.raises(ValueError, match="not a melab checkpoint"):
        torch.save({"model": state}, tmp_path / "plain.pt")
        T.load_model(tmp_path / "plain.pt")


# ---- prediction: stitching over the whole video -------------------------------------------------------

class PointwiseSpotter(torch.nn.Module):
    """A 'model' whose output at a frame depends on that frame only: the stitching oracle."""

    config = SpotterConfig(in_channels=4)

    def forward(self, x):
        return SpotterOutput(torch.sigmoid(x[..., 0]), x[..., :1].expand(*x.shape[:-1], 5))


def test_stitching_covers_every_frame_without_gaps():
    x = np.random.default_rng(0).normal(size=(107, 4)).astype(np.float32)
    scores = T.predict_video(PointwiseSpotter(), x, k=20)
    np.testing.assert_allclose(scores.spot, 1 / (1 + np.exp(-x[:, 0])), rtol=1e-6)  # head and tail included
    assert scores.probs.shape == (107, 5)
    np.testing.assert_allclose(scores.probs, 0.2, rtol=1e-6)
    short = T.predict_video(PointwiseSpotter(), x[:9], k=20)
    assert short.spot.shape == (9,)


def test_scores_do_not_depend_on_the_batch_size():
    torch.manual_seed(0)
    model = Spotter(SMALL)
    x = np.random.default_rng(1).normal(size=(95, 4)).astype(np.float32)
    a, b = T.predict_video(model, x, k=20, batch_size=64), T.predict_video(model, x, k=20, batch_size=3)
    np.testing.assert_allclose(a.spot, b.spot, atol=1e-6, rtol=0)


# ---- training runs ----------------------------------------------------------------------------------

def test_tiny_spotter_learns_the_toy_task():
    series, events, _ = toy_corpus()
    train = T.SpotterTrainConfig(epochs=6, batch_size=8, k=20, lr=1e-2, negative_ratio=1.0)
    model, history = T.train_spotter(series, events, config=SMALL, train=train, progress=False)
    assert history["loss"].iloc[-1] < 0.6 * history["loss"].iloc[0]
    spot, _ = T.frame_targets(120, events[events["video"] == "s0_v0"])
    scores = T.predict_video(model, series["s0_v0"], k=20).spot
    assert scores[spot == 1].mean() > scores[spot == 0].mean() + 0.3


def test_loso_scores_every_held_out_video(tmp_path):
    series, events, videos = toy_corpus()
    train = T.SpotterTrainConfig(epochs=1, batch_size=16, k=20)
    result = T.loso(series, events, videos, folds=2, config=SMALL, train=train, progress=False,
                    checkpoint_dir=tmp_path)
    assert sorted(result.scores) == ["s0_v0", "s1_v0"]
    assert all(s.spot.shape == (120,) and np.isfinite(s.spot).all() for s in result.scores.values())
    assert sorted(result.history["subject"].unique()) == ["s0", "s1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fold_s0.pt", "fold_s1.pt"]
    T.save_scores(tmp_path / "scores.npz", result)
    loaded, k = T.load_scores(tmp_path / "scores.npz")
    assert k == 20 and np.array_equal(loaded["s1_v0"].spot, result.scores["s1_v0"].spot)
    with pytest.raises(ValueError, match="3 subjects"):
        T.loso_subjects(videos, 4)


# ---- MERba ------------------------------------------------------------------------------------------

MINI = MERbaConfig.tiny(img_size=32, window=2, dim=8, patch_dim=4, heads=(1, 1, 1), dropout=0.0)


def test_hflip_mirrors_and_negates_dx():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    y = T.hflip_flow(x)
    torch.testing.assert_close(y[:, 0], -x[:, 0].flip(-1))
    torch.testing.assert_close(y[:, 1:], x[:, 1:].flip(-1))


def test_warmup_cosine_schedule():
    lr = [T.warmup_cosine(s, total=20, warmup=4, cooldown=4, floor=0.1) for s in range(20)]
    assert lr[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(b <= a for a, b in zip(lr[3:], lr[4:], strict=False))
    assert lr[16:] == pytest.approx([0.1] * 4)


def test_batchnorm_recalibration_matches_the_data_statistics():
    torch.manual_seed(0)
    model = MERba(MINI)
    flows = np.random.default_rng(1).normal(0.5, 2.0, size=(12, 3, 32, 32)).astype(np.float32)
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    hook = bn.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    T.recalibrate_batchnorm(model, flows, batch_size=len(flows))  # one batch: the plain data statistics
    hook.remove()
    x = seen[-1]
    assert not model.training and bn.momentum == 0.1
    torch.testing.assert_close(bn.running_mean, x.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.running_var, x.var(dim=(0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-5)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in weights.items())  # only the running statistics change


def test_merba_in_eval_mode_agrees_with_training_mode_on_its_training_set():
    # A short run leaves stale running statistics; after recalibration eval mode sees what training saw.
    rng = np.random.default_rng(0)
    labels = np.array([SEVEN_CLASSES.index(e) for e in ["anger", "happiness", "surprise", "fear"] * 6])
    flows = rng.normal(0, 0.1, size=(len(labels), 3, 32, 32)).astype(np.float32)
    flows[:, 1, :16] += labels[:, None, None] / 3
    model, _ = T.train_merba(flows, labels, config=MERbaConfig(**{**MINI.to_dict(), "head": "single"}),
                             train=T.MERbaTrainConfig(epochs=6, batch_size=8, lr=3e-3, warmup_epochs=1),
                             progress=False)  # without recalibration only half agree
    with torch.no_grad():
        eval_logits = model(torch.tensor(flows))
        model.train()
        train_logits = model(torch.tensor(flows))
    assert (eval_logits.argmax(1) == train_logits.argmax(1)).float().mean() >= 0.95


@pytest.mark.parametrize("head", ["single", "dgcm"])
def test_tiny_merba_training_reduces_loss(head):
    rng = np.random.default_rng(0)
    labels = np.array([SEVEN_CLASSES.index(e) for e in ["anger", "happiness", "surprise", "fear"] * 6])
    flows = rng.normal(0, 0.1, size=(len(labels), 3, 32, 32)).astype(np.float32)
    flows[:, 1, :16] += labels[:, None, None] / 3  # a label-dependent vertical motion in the upper half
    train = T.MERbaTrainConfig(epochs=6, batch_size=8, lr=3e-3, warmup_epochs=1)
    model, history = T.train_merba(flows, labels, config=MERbaConfig(**{**MINI.to_dict(), "head": head}),
                                   train=train, progress=False)
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert isinstance(model, MERba) and T.predict_merba(model, flows).shape == (len(labels),)
    if head == "dgcm":
        assert history["alpha"].iloc[0] == pytest.approx(0.2) and history["alpha"].iloc[-1] == pytest.approx(0.8)


def test_data_specs_and_cli_arguments(tmp_path):
    assert T.resolve_data(f"corpus:{tmp_path}") == ("synthetic", tmp_path, None, None)
    assert T.resolve_data(f"casme3:{tmp_path}") == ("casme3", tmp_path, None, None)
    spec = T.resolve_data(f"casme2:{tmp_path},labels=CASME2_label_Ver_2.xls,frames={tmp_path}/Cropped")
    assert (spec.kind, spec.labels, spec.frames) == ("casme2", "CASME2_label_Ver_2.xls", f"{tmp_path}/Cropped")
    with pytest.raises(ValueError, match="synthetic:tiny"):
        T.resolve_data("somewhere")
    with pytest.raises(ValueError, match=r"'apex=3' is not an option here; a licensed dataset's spec takes labels"):
        T.resolve_data(f"casme3:{tmp_path},apex=3")
    with pytest.raises(ValueError, match="takes no options"):
        T.resolve_data(f"corpus:{tmp_path},labels=x")
    with pytest.raises(ValueError, match="spotter or merba"):
        T.run("resnet", f"corpus:{tmp_path}", out=tmp_path)
    with pytest.raises(ValueError, match="tiny or paper"):
        T.run("spotter", f"corpus:{tmp_path}", out=tmp_path, preset="huge")


def test_a_trained_spotter_records_its_frame_rate_and_window(tiny_corpus, tmp_path):
    from melab.spot import load_spotter

    written = T.run("spotter", f"corpus:{tiny_corpus}", out=tmp_path, folds="none", epochs=1, progress=False)
    train = T.read_checkpoint(written["model"])["train"]
    fps = float(pd.read_csv(tiny_corpus / "videos.csv")["fps"].median())
    assert train["fps"] == fps and train["k"] == T.default_k(fps)
    spotter = load_spotter(written["model"])
    assert (spotter.fps, spotter.k) == (fps, T.default_k(fps))
    assert pd.read_csv(tmp_path / "history.csv").shape[0] == 1


def test_roi_corpus_roundtrip(tmp_path):
    series, events, videos = toy_corpus(n_subjects=2)
    path = T.save_roi_corpus(tmp_path / "roi.npz", T.RoiCorpus(series, events, videos))
    back = T.load_roi_corpus(path)
    assert back.series.keys() == series.keys() and back.series["s0_v0"].dtype == np.float32
    np.testing.assert_allclose(back.series["s1_v0"], series["s1_v0"], atol=2e-3)  # stored as float16
    pd.testing.assert_frame_equal(back.events, events)
    pd.testing.assert_frame_equal(back.videos, videos)


def test_resume_refuses_other_settings(tmp_path):
    model, data, step, kw = _setup()
    T.fit(model, data, step, checkpoint=tmp_path / "r.pt", config={"epochs": 4, "lr": 0.01}, **kw)
    model, data, step, kw = _setup()
    with pytest.raises(ValueError, match="other settings \\(lr\\)"):
        T.fit(model, data, step, checkpoint=tmp_path / "r.pt", resume=True, config={"epochs": 4, "lr": 0.1}, **kw)


# ---- the LOSO driver --------------------------------------------------------------------------------

def _echo_fold(subject, *, checkpoint, progress, offset):
    """A fold that 'trains' one epoch into its checkpoint and returns a value of its subject."""
    T.save_model(checkpoint, Spotter(SMALL))
    return f"{subject}+{offset}"


class ReversedExecutor(T.LocalExecutor):
    """Finishes folds in the reverse order, as a cluster may."""

    name = "reversed"

    def map(self, fold, subjects, shared, *, checkpoint_dir, progress):
        return reversed(list(super().map(fold, subjects, shared, checkpoint_dir=checkpoint_dir, progress=progress)))


def test_run_folds_returns_subject_order_whatever_the_completion_order(tmp_path):
    runs = T.run_folds(_echo_fold, ["b", "a", "c"], shared={"offset": 1}, checkpoint_dir=tmp_path,
                       executor=ReversedExecutor(), progress=False)
    assert list(runs) == ["b", "a", "c"] and [r.value for r in runs.values()] == ["b+1", "a+1", "c+1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fold_a.pt", "fold_b.pt", "fold_c.pt"]


def test_loso_resumes_finished_folds_and_restarts_without_resume(tmp_path):
    series, events, videos = toy_corpus()
    train = T.SpotterTrainConfig(epochs=2, batch_size=16, k=20)
    first = T.loso(series, events, videos, folds=1, config=SMALL, train=train, checkpoint_dir=tmp_path, progress=False)
    again = T.loso(series, events, videos, folds=1, config=SMALL, train=train, checkpoint_dir=tmp_path, progress=False,
                   resume=True)
    fresh = T.loso(series, events, videos, folds=1, config=SMALL, train=train, checkpoint_dir=tmp_path, progress=False)
    assert (first.resumed_from, again.resumed_from, fresh.resumed_from) == ({"s0": 0}, {"s0": 2}, {"s0": 0})
    for result in (again, fresh):
        assert np.array_equal(result.scores["s0_v0"].spot, first.scores["s0_v0"].spot)


def test_ray_executor_without_ray_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    import sys

    from melab.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'melab\[cluster\]'"):
        T.make_executor("ray")
    assert main(["train", "spotter", "--data", f"corpus:{tmp_path}", "--executor", "ray"]) == 2
    assert "pip install 'melab[cluster]'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="local or ray"):
        T.make_executor("dask")
