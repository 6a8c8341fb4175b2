"""Recognition experiments: DFME-style subject split, MERba evaluation and DGCM confusion matrices.

The glue between :mod:`melab.train` (onset-apex flow samples, :func:`~melab.train.train_merba`) and the
metrics of :mod:`melab.metrics`, for the confusion-matrix lesson (notebook 05) and
``benchmarks/recognition_quality.py``:

- :func:`dfme_split`: a training set and two test sets (A and B) of disjoint subjects, as DFME-public
  (the paper's 7-class benchmark) is split. The realistic recognition corpus, ``make_corpus("clips")``, ships
  its own fixed split (:func:`melab.data.synthetic.read_split`).
- :func:`shared_aus` / :func:`emotion_similarity`: why the synthetic negatives are confusable, from the
  generator's prototype AU sets.
- :func:`clip_samples`: onset-apex flow of idealised single-expression clips (every prototype AU, no
  nuisance), made in seconds, for smoke runs and for faces a model has not seen.
- :func:`evaluate_merba`: the 7-class decision of a single-head or DGCM MERba with what each head said.
- :func:`coarse_confusion` / :func:`fine_confusion` / :func:`per_class_recall`: the DGCM views of a
  confusion matrix; :func:`negative_confusion`: how often one negative emotion is named as another;
  :func:`scores_table`: UF1, UAR and ACC of several models.
- :data:`SCAN_VARIANTS` and :data:`PAPER_SCAN_ABLATION`: the scan-set ablation (paper's Table VII).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from melab.data.splits import COARSE_CLASSES, FINE_CLASSES, SEVEN_CLASSES, DfmeSplit, to_coarse
from melab.data.synthetic import (
    AU_CODES,
    EMOTION_AUS,
    ME_AMPLITUDE_PX,
    ME_DURATION_S,
    PRESETS,
    au_basis,
    generate_clip,
    make_subject,
)
from melab.flow import onset_apex_flow
from melab.metrics import confusion, recognition_scores
from melab.models.merba import ASYMMETRIC_SCANS, MERba, dgcm_predict

__all__ = [
    "SCAN_VARIANTS",
    "PAPER_SCAN_ABLATION",
    "DfmeSplit",
    "dfme_split",
    "clip_samples",
    "shared_aus",
    "emotion_similarity",
    "MerbaOutputs",
    "evaluate_merba",
    "coarse_confusion",
    "fine_confusion",
    "per_class_recall",
    "NegativeConfusion",
    "negative_confusion",
    "scores_table",
    "mean_std",
]

# Scan sets of the ablation, in the paper's order (Table VII); the last is MERba's own.
SCAN_VARIANTS: dict[str, tuple[str, ...]] = {
    "1 direction": ("h_raster",),
    "2 directions": ("h_raster", "v_raster"),
    "2 + reversed": ("h_raster", "v_raster", "h_raster_rev", "v_raster_rev"),
    "2 + mirrored": ("h_raster", "v_raster", "h_raster_mirror", "v_raster_mirror"),
    "4 asymmetric": ASYMMETRIC_SCANS,
}

# Table VII of the MERba paper (DFME-public Test B, DGCM head). Our copy of the paper lost the direction
# symbols of the row labels; the labels below follow the order of the text (one, a pair, more, then
# the pair plus its bi-directional and its mirrored counterparts, then the four asymmetric scans).
# Row 3's set cannot be recovered from the text. The last row equals MERba-DGCM on Test B (Table IV).
PAPER_SCAN_ABLATION = pd.DataFrame(
    [("1 direction", 0.3814, 0.3713, 0.3746),
     ("2 directions", 0.3849, 0.3810, 0.3946),
     ("(label lost in our copy)", 0.3929, 0.3939, 0.4147),
     ("2 + reversed", 0.4102, 0.4020, 0.4147),
     ("2 + mirrored", 0.4076, 0.4051, 0.4181),
     ("4 asymmetric", 0.4302, 0.4263, 0.4415)],
    columns=["variant", "uf1", "uar", "acc"],
).set_index("variant")


# ---- the DFME-style split -------------------------------------------------------------------------

def dfme_split(subjects: Sequence[str], *, seed: int = 0, test_a: float = 0.2, test_b: float = 0.2) -> DfmeSplit:
    """Split subjects into a training set and two disjoint test sets, DFME-public style.

    DFME-public is split subject-independently into a fixed training set and two test sets (A: 474
    samples, B: 299, training: 1856). Here each test set takes ``round(test_x * n)`` subjects (at least
    one), drawn at random with ``seed``; the rest train. For the real DFME labels the published split is
    read, not drawn: :func:`melab.data.splits.dfme_public_split`.

    Parameters
    ----------
    subjects : sequence of str
        Subject names, one per sample or one per subject (duplicates are merged).
    seed : int
        Seed of the draw.
    test_a, test_b : float
        Fractions of the subjects in test sets A and B.

    Returns
    -------
    DfmeSplit
        Sorted subject names of ``train``, ``test_a`` and ``test_b``.

    Raises
    ------
    ValueError
        Fewer than 3 subjects, or fractions that leave no subject to train on.

    Examples
    --------
    >>> dfme_split([f"sub{i:02d}" for i in range(1, 11)], seed=0).test_a
    ('sub05', 'sub07')
    """
    names = sorted({str(s) for s in subjects})
    n = len(names)
    n_a, n_b = max(1, round(test_a * n)), max(1, round(test_b * n))
    if n - n_a - n_b < 1:
        raise ValueError(f"{n} subjects cannot fill a training set and two test sets of {n_a} and {n_b} "
                         "subjects; use more subjects or smaller test_a / test_b")
    order = np.random.default_rng(seed).permutation(n)
    picked = [names[i] for i in order]
    return DfmeSplit(tuple(sorted(picked[n_a + n_b:])), tuple(sorted(picked[:n_a])),
                     tuple(sorted(picked[n_a:n_a + n_b])))


# ---- why classes are confusable --------------------------------------------------------------------

def shared_aus(emotions: Sequence[str] = SEVEN_CLASSES) -> pd.DataFrame:
    """The prototype action units each pair of emotions shares in the synthetic generator (``EMOTION_AUS``).

    A realistic event shows each prototype AU only with its probability in
    :data:`melab.data.synthetic.AU_PRESENCE` (0.6-0.9), so two events of one emotion can share fewer AUs than
    the table says, and events of two emotions more (a stray AU).

    Parameters
    ----------
    emotions : sequence of str
        Emotions of :data:`melab.data.synthetic.EMOTION_AUS`.

    Returns
    -------
    pd.DataFrame
        (K, K) strings such as ``"1+4"`` (AU numbers, "" when none); the diagonal holds each emotion's own AUs.
    """
    unknown = sorted(set(emotions) - set(EMOTION_AUS))
    if unknown:
        raise ValueError(f"no AUs for {unknown}; choose from {sorted(EMOTION_AUS)}")
    cells = [["+".join(au[2:] for au in EMOTION_AUS[a] if au in EMOTION_AUS[b]) for b in emotions] for a in emotions]
    return pd.DataFrame(cells, index=pd.Index(emotions, name="emotion"), columns=list(emotions))


def emotion_similarity(subject_index: int = 0, *, seed: int = 0,
                       emotions: Sequence[str] = SEVEN_CLASSES) -> pd.DataFrame:
    """Cosine similarity of the emotions' apex displacement fields on one synthetic face.

    An emotion's field is the sum of its prototype AUs' dense fields at equal weight (what
    :func:`melab.data.synthetic.generate_clip` renders, up to the amplitude, which cosine ignores). Two
    emotions whose fields point the same way at the same places give similar onset-apex flow: 1 means
    identical motion up to scale, 0 unrelated motion. A realistic event drops some prototype AUs, weighs
    them per subject and may move one side of the face only, so its field strays from its emotion's; the
    similarity of the mean fields of a clips corpus is the ``emotion_similarity`` of
    :func:`melab.data.check.synthetic_difficulty`.

    Parameters
    ----------
    subject_index, seed : int
        The face (:func:`melab.data.synthetic.make_subject`).
    emotions : sequence of str
        Emotions of :data:`melab.data.synthetic.EMOTION_AUS`.

    Returns
    -------
    pd.DataFrame
        (K, K) float64 in [-1, 1], symmetric, 1 on the diagonal.
    """
    shared_aus(emotions)  # checks the names
    basis = au_basis(make_subject(seed, subject_index))  # (n_AU, H, W, 2) pixels per unit intensity
    fields = np.stack([basis[[AU_CODES.index(au) for au in EMOTION_AUS[e]]].sum(axis=0).ravel()
                       for e in emotions]).astype(np.float64)
    fields /= np.linalg.norm(fields, axis=1, keepdims=True)
    return pd.DataFrame(fields @ fields.T, index=pd.Index(emotions, name="emotion"), columns=list(emotions))


# ---- held-out clips -------------------------------------------------------------------------------

def clip_samples(subjects: Sequence[int], *, per_class: int = 4, seed: int = 0, corpus_seed: int = 0,
                 size: int = 96, emotions: Sequence[str] = SEVEN_CLASSES,
                 amplitude_px: tuple[float, float] = ME_AMPLITUDE_PX) -> tuple[np.ndarray, pd.DataFrame]:
    """Onset-apex flow of fresh, idealised ME clips, one expression each, made in seconds.

    Each clip comes from :func:`melab.data.synthetic.generate_clip`: every prototype AU of the emotion at equal
    weight, symmetric, no head motion or flicker, JPEG quality of the easy ``lab`` preset, an exact label. The
    amplitude is drawn uniformly from ``amplitude_px`` and the duration from the easy corpus' ME range
    (:data:`~melab.data.synthetic.ME_DURATION_S`, 0.2-0.5 s). These clips are easier than the realistic corpora
    (partial AUs, subject gains, asymmetry, nuisances, label noise among the negatives): for a realistic
    held-out set use the test subjects of ``make_corpus("clips")``. The flow is made as
    :func:`melab.features.merba_corpus` makes it (TV-L1 from onset to apex, cropped with the onset landmarks).
    Subject indices at or above a corpus' number of subjects (48 for ``clips``) are faces it never had.

    Parameters
    ----------
    subjects : sequence of int
        Subject indices of :func:`melab.data.synthetic.make_subject` (with ``corpus_seed``).
    per_class : int
        Clips per subject and emotion.
    seed : int
        Seed of the amplitudes and durations.
    corpus_seed : int
        Seed of the faces (0 = the faces of the default corpora).
    size : int
        Side S of the flow images (``MERbaConfig.img_size``).
    emotions : sequence of str
        Emotions to render, from :data:`~melab.data.splits.SEVEN_CLASSES`.
    amplitude_px : (float, float)
        Range of the apex amplitude in pixels (default: the easy corpus' ME range
        :data:`~melab.data.synthetic.ME_AMPLITUDE_PX`, 0.3-1.5; realistic MEs span 0.15-1.0 px, median 0.45,
        :data:`~melab.data.synthetic.REALISM`).

    Returns
    -------
    flows : np.ndarray
        (N, 3, S, S) float32: dx, dy (pixels of the S x S crop) and strain.
    samples : pd.DataFrame
        N rows: ``subject, emotion, label`` (index into SEVEN_CLASSES), ``amplitude_px``, ``duration_s``.
    """
    unknown = sorted(set(emotions) - set(SEVEN_CLASSES))
    if unknown:
        raise ValueError(f"emotions {unknown} are not among the seven classes {SEVEN_CLASSES}")
    low, high = amplitude_px
    if not 0 < low <= high:
        raise ValueError(f"amplitude_px must be a range 0 < low <= high in pixels, got {amplitude_px}")
    rng = np.random.default_rng(seed)
    quality = PRESETS["lab"].jpeg_quality
    flows, rows = [], []
    for subject in subjects:
        for emotion in emotions:
            for _ in range(per_class):
                amplitude, duration = rng.uniform(low, high), rng.uniform(*ME_DURATION_S)
                # no padding: the onset is frame 0 and only onset..offset are rendered
                clip = generate_clip(corpus_seed, int(subject), emotion, kind="micro", amplitude_px=amplitude,
                                     duration_s=duration, pad_s=0.0, jpeg_quality=quality)
                ev = clip.events.iloc[0]
                flows.append(onset_apex_flow(clip.frames, int(ev.onset), int(ev.apex), size=size,
                                             landmarks=clip.landmarks[int(ev.onset)]))
                rows.append(dict(subject=str(ev.subject), emotion=emotion, label=SEVEN_CLASSES.index(emotion),
                                 amplitude_px=round(amplitude, 3), duration_s=round(duration, 3)))
    return np.stack(flows), pd.DataFrame(rows)


# ---- evaluation -----------------------------------------------------------------------------------

class MerbaOutputs(NamedTuple):
    """What a MERba said about N samples.

    Attributes
    ----------
    y_true, y_pred : np.ndarray
        (N,) object: true and predicted SEVEN_CLASSES names.
    coarse_pred : np.ndarray
        (N,) object, COARSE_CLASSES names: the coarse head's argmax (DGCM), or the polarity of the
        7-class prediction (single head).
    fine_pred : np.ndarray
        (N,) object, FINE_CLASSES names: the fine head's argmax (DGCM), or the single head's argmax over
        its four negative logits. Defined for every sample; the final decision uses it only when the
        coarse prediction is negative.
    logits : np.ndarray or None
        (N, 7) float32 of a single head, else None.
    coarse_logits, fine_logits : np.ndarray or None
        (N, 4) float32 of a DGCM, else None.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    coarse_pred: np.ndarray
    fine_pred: np.ndarray
    logits: np.ndarray | None
    coarse_logits: np.ndarray | None
    fine_logits: np.ndarray | None


def _names(indices, classes: Sequence[str]) -> np.ndarray:
    return np.array([classes[i] for i in np.asarray(indices)], dtype=object)


@torch.no_grad()
def evaluate_merba(model: MERba, flows: np.ndarray, labels: Sequence[int] | Sequence[str], *,
                   batch_size: int = 64) -> MerbaOutputs:
    """Run a MERba (eval mode) on flow images and collect its decision and its heads' outputs.

    Parameters
    ----------
    model : MERba
        Single-head or DGCM model; the DGCM decides coarse-to-fine
        (:func:`melab.models.merba.dgcm_predict`).
    flows : np.ndarray
        (N, C, S, S) float32 onset-apex flow images.
    labels : sequence
        (N,) true classes, as indices into SEVEN_CLASSES or as names.
    batch_size : int
        Samples per forward pass.

    Returns
    -------
    MerbaOutputs
    """
    labels = list(labels)
    if len(labels) != len(flows):
        raise ValueError(f"{len(flows)} flow images but {len(labels)} labels")
    y_true = np.array([lab if isinstance(lab, str) else SEVEN_CLASSES[int(lab)] for lab in labels], dtype=object)
    model.eval()
    x = torch.as_tensor(np.asarray(flows, np.float32))
    outs = [model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    if model.config.head == "single":
        logits = torch.cat(outs)
        negatives = [SEVEN_CLASSES.index(c) for c in FINE_CLASSES]
        y_pred = _names(logits.argmax(dim=1).numpy(), SEVEN_CLASSES)
        return MerbaOutputs(y_true, y_pred, np.array([to_coarse(p) for p in y_pred], dtype=object),
                            _names(logits[:, negatives].argmax(dim=1).numpy(), FINE_CLASSES),
                            logits.numpy(), None, None)
    coarse, fine = (torch.cat(part) for part in zip(*outs, strict=True))
    return MerbaOutputs(y_true, _names(dgcm_predict(coarse, fine).numpy(), SEVEN_CLASSES),
                        _names(coarse.argmax(dim=1).numpy(), COARSE_CLASSES),
                        _names(fine.argmax(dim=1).numpy(), FINE_CLASSES), None, coarse.numpy(), fine.numpy())


# ---- DGCM views of a confusion matrix -------------------------------------------------------------

def coarse_confusion(y_true: Sequence[str], coarse_pred: Sequence[str], *,
                     normalize: str | None = None) -> pd.DataFrame:
    """4 x 4 confusion of the coarse head: true seven-class names mapped to COARSE_CLASSES.

    Parameters
    ----------
    y_true : sequence of str
        (N,) true SEVEN_CLASSES names (mapped with :func:`melab.data.splits.to_coarse`).
    coarse_pred : sequence of str
        (N,) predicted COARSE_CLASSES names.
    normalize : None or "true"
        Counts, or each row divided by its class count.

    Returns
    -------
    pd.DataFrame
        Rows true, columns predicted, both COARSE_CLASSES.
    """
    return confusion([to_coarse(y) for y in y_true], list(coarse_pred), COARSE_CLASSES, normalize=normalize)


def fine_confusion(y_true: Sequence[str], fine_pred: Sequence[str], *,
                   normalize: str | None = None) -> pd.DataFrame:
    """4 x 4 confusion of the fine head over the true negatives only (anger, disgust, fear, sadness).

    Samples whose true class is not negative are dropped: the fine head is trained on negatives only
    and speaks only when the coarse head says negative.

    Parameters
    ----------
    y_true : sequence of str
        (N,) true SEVEN_CLASSES names.
    fine_pred : sequence of str
        (N,) FINE_CLASSES names (what the fine head said for every sample).
    normalize : None or "true"
        Counts, or each row divided by its class count.

    Returns
    -------
    pd.DataFrame
        Rows true, columns predicted, both FINE_CLASSES.
    """
    y_true, fine_pred = list(y_true), list(fine_pred)
    if len(y_true) != len(fine_pred):
        raise ValueError(f"y_true has {len(y_true)} samples but fine_pred has {len(fine_pred)}")
    keep = [i for i, y in enumerate(y_true) if y in FINE_CLASSES]
    return confusion([y_true[i] for i in keep], [fine_pred[i] for i in keep], FINE_CLASSES, normalize=normalize)


def per_class_recall(cm: pd.DataFrame | np.ndarray, labels: Sequence[str] | None = None) -> pd.Series:
    """Recall of every class from a count confusion matrix (rows true): diagonal / row sum, 0 if empty.

    Parameters
    ----------
    cm : pd.DataFrame or np.ndarray
        (K, K) counts, rows true, columns predicted.
    labels : sequence of str, optional
        Class names (default: the DataFrame's index).

    Returns
    -------
    pd.Series
        (K,) float64 indexed by class.
    """
    labels = list(labels if labels is not None else cm.index)
    m = np.asarray(cm, dtype=np.float64)
    if m.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix of shape {m.shape} does not fit {len(labels)} labels")
    rows = m.sum(axis=1)
    recall = np.divide(np.diag(m), rows, out=np.zeros(len(labels)), where=rows > 0)
    return pd.Series(recall, index=pd.Index(labels, name="class"), name="recall")


class NegativeConfusion(NamedTuple):
    """The four negative emotions' corner of a confusion matrix.

    Attributes
    ----------
    mass : float
        Off-diagonal share of ``block``: of the true negatives that were predicted as *a* negative, the
        fraction predicted as the wrong one (NaN when ``block`` is empty). Negatives predicted as a
        non-negative class (a polarity error) are not counted: no fine head could repair them.
    block : pd.DataFrame
        (4, 4) counts, rows true, columns predicted, both FINE_CLASSES.
    """

    mass: float
    block: pd.DataFrame


def negative_confusion(cm: pd.DataFrame) -> NegativeConfusion:
    """How often a negative emotion is taken for another negative, from a seven-class count confusion matrix.

    Parameters
    ----------
    cm : pd.DataFrame
        (K, K) counts, rows true, columns predicted, indexed by class names that include the four
        FINE_CLASSES (anger, disgust, fear, sadness), e.g. :func:`melab.metrics.confusion` over SEVEN_CLASSES.

    Returns
    -------
    NegativeConfusion

    Examples
    --------
    >>> labels = list(SEVEN_CLASSES)
    >>> cm = pd.DataFrame(np.eye(7, dtype=int) * 3, index=labels, columns=labels)
    >>> cm.loc["anger", "sadness"] = 4
    >>> round(negative_confusion(cm).mass, 4)  # 4 of the 16 negatives named as a negative
    0.25
    """
    if not isinstance(cm, pd.DataFrame):
        raise ValueError("pass the confusion matrix as a DataFrame indexed by class names "
                         "(melab.metrics.confusion), so that the negatives can be found")
    missing = [c for c in FINE_CLASSES if c not in cm.index or c not in cm.columns]
    if missing:
        raise ValueError(f"the confusion matrix has no row or column for {missing}; its classes: {list(cm.index)}")
    block = cm.loc[list(FINE_CLASSES), list(FINE_CLASSES)].astype(np.int64)
    m = block.to_numpy()
    total = m.sum()
    mass = float(1 - np.trace(m) / total) if total else float("nan")
    return NegativeConfusion(mass, block)


def scores_table(outputs: Mapping[str, MerbaOutputs | tuple[Sequence[str], Sequence[str]]], *,
                 labels: Sequence[str] = SEVEN_CLASSES) -> pd.DataFrame:
    """UF1, UAR and ACC (:func:`melab.metrics.recognition_scores`) of several models, one row each.

    Parameters
    ----------
    outputs : mapping
        Model name -> :class:`MerbaOutputs` or ``(y_true, y_pred)``.
    labels : sequence of str
        Classes to average over.

    Returns
    -------
    pd.DataFrame
        Index model name; columns ``uf1, uar, acc, n``.
    """
    rows = {}
    for name, out in outputs.items():
        y_true, y_pred = out[:2]
        s = recognition_scores(y_true, y_pred, labels)
        rows[name] = {"uf1": s.uf1, "uar": s.uar, "acc": s.acc, "n": len(y_true)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def mean_std(summary: pd.DataFrame, *, test: str, epochs: int, metric: str) -> pd.Series:
    """One benchmark cell per scan variant as ``"mean ± std"`` text (3 decimals), for side-by-side tables.

    Parameters
    ----------
    summary : pd.DataFrame
        ``summary`` of ``benchmarks/results/recognition_quality.json``: columns ``variant, test, epochs`` and
        ``<metric>_mean, <metric>_std``.
    test : str
        Test set (``"test_a"``, ``"test_b"``, or both pooled, ``"test_ab"``).
    epochs : int
        Training budget.
    metric : str
        ``"uf1"``, ``"uar"`` or ``"acc"``.

    Returns
    -------
    pd.Series
        Index ``variant``; e.g. ``"0.986 ± 0.031"``.
    """
    rows = summary[(summary["test"] == test) & (summary["epochs"] == epochs)].set_index("variant")
    if rows.empty:
        raise ValueError(f"no benchmark rows for test {test!r} at {epochs} epochs; tests: "
                         f"{sorted(summary['test'].unique())}, epochs: {sorted(summary['epochs'].unique())}")
    return rows[f"{metric}_mean"].map("{:.3f}".format) + " ± " + rows[f"{metric}_std"].map("{:.3f}".format)
