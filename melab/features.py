"""Features of whole corpora, cached: the ROI series of every video and MERba's onset-apex flow images.

This is the step between :mod:`melab.flow` (one video) and training (many videos): it walks a corpus,
calls the flow functions on each video with the window length of its frame rate (:func:`default_k`), caches
the results on disk, and returns arrays keyed by video with the corpus' tables.

- :func:`roi_corpus` (a synthetic corpus) and :func:`dataset_roi_corpus` (a licensed dataset) return a
  :class:`RoiCorpus`; :func:`save_roi_corpus` / :func:`load_roi_corpus` ship one as a single npz.
- :func:`merba_corpus` makes the (N, 3, S, S) onset-apex flow images of every ME with a 7-class label.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from melab import ARTEFACTS
from melab.atomic import atomic_path
from melab.data.cache import content_digest
from melab.data.synthetic import load_video, recognition_samples
from melab.data.video import read_frames
from melab.flow import default_k, extract_roi_series, onset_apex_flow


class RoiCorpus(NamedTuple):
    """ROI series of every video of a corpus, with its tables.

    Attributes
    ----------
    series : dict
        Video -> (T, C) float32 ROI series.
    events : pd.DataFrame
        Events table.
    videos : pd.DataFrame
        ``subject, video, n_frames, fps`` per video.
    """

    series: dict[str, np.ndarray]
    events: pd.DataFrame
    videos: pd.DataFrame


def default_cache(corpus: Path) -> Path:
    """Where derived arrays of a corpus are cached: ``<corpus parent>/cache`` (a content-keyed store)."""
    return Path(corpus).parent / "cache"


def roi_corpus(corpus: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None, processes: int = 2,
               progress: bool = True, **options) -> RoiCorpus:
    """ROI series of a corpus made by :func:`melab.data.synthetic.make_corpus` (cached on disk).

    The flow window is :func:`default_k` of each video's fps (50 frames at 30 fps), as in the
    reference. Series come from :func:`melab.flow.extract_roi_series` with its defaults, or
    ``options``; the first call on a corpus takes minutes, later calls read the cache.

    Parameters
    ----------
    corpus : path-like
        Corpus directory (``events.csv``, ``videos.csv``, ``<subject>/<video>/``).
    cache_dir : path-like, optional
        Cache folder, :func:`default_cache` by default.
    processes : int
        Worker processes for the extraction.
    progress : bool
        Show a progress bar.

    Returns
    -------
    RoiCorpus
    """
    corpus = Path(corpus)
    if not (corpus / "videos.csv").exists():
        raise FileNotFoundError(f"{corpus} is not a corpus (no videos.csv); make one with "
                                "melab.data.synthetic.make_corpus('lab')")
    videos = pd.read_csv(corpus / "videos.csv", dtype={"subject": str, "video": str})
    events = pd.read_csv(corpus / "events.csv", dtype={"subject": str, "video": str})
    cache = Path(cache_dir) if cache_dir is not None else default_cache(corpus)
    series = {}
    for fps, group in videos.groupby("fps"):
        loaded = [load_video(corpus, v) for v in group["video"]]
        arrays = extract_roi_series(loaded, cache_dir=cache, k=default_k(fps), processes=processes,
                                    progress=progress, **options)
        series.update(zip(group["video"], arrays, strict=True))
    return RoiCorpus(series, events, videos)


def save_roi_corpus(path: str | os.PathLike, roi: RoiCorpus) -> Path:
    """Write a :class:`RoiCorpus` as one npz (series as float16, tables as CSV text), atomically.

    float16 keeps about 3 significant digits of the flow (pixels), plenty for teaching, and halves
    the file; :func:`load_roi_corpus` returns float32.
    """
    path = Path(path)
    arrays = {f"series/{v}": np.asarray(x, np.float16) for v, x in roi.series.items()}
    arrays["events_csv"] = np.array(roi.events.to_csv(index=False))
    arrays["videos_csv"] = np.array(roi.videos.to_csv(index=False))
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


def load_roi_corpus(path: str | os.PathLike | None = None) -> RoiCorpus:
    """Read :func:`save_roi_corpus` output; default: the shipped ``data/roi_series_lab.npz``."""
    path = Path(path) if path is not None else ARTEFACTS / "roi_series_lab.npz"
    if not path.exists():
        raise FileNotFoundError(f"no ROI series at {path}; run `make artefacts` (melab.train.build_artefacts)")
    with np.load(path, allow_pickle=False) as z:
        series = {name.removeprefix("series/"): z[name].astype(np.float32) for name in z.files
                  if name.startswith("series/")}
        tables = [pd.read_csv(io.StringIO(str(z[key])), dtype={"subject": str, "video": str})
                  for key in ("events_csv", "videos_csv")]
    return RoiCorpus(series, *tables)


def dataset_roi_corpus(dataset, *, landmarks: str = "mediapipe", cache_dir: str | os.PathLike | None = None,
                       processes: int = 2, progress: bool = True) -> RoiCorpus:
    """ROI series of a :class:`melab.data.dataset.Dataset` (real data: landmarks by MediaPipe), cached.

    Event frames are the positions inside each video (``VideoItem.events``); videos are keyed by name,
    or by ``subject/video`` when a dataset reuses names across subjects.
    """
    items = list(dataset)
    names = [it.video for it in items]
    if len(set(names)) < len(names):
        names = [f"{it.subject}/{it.video}" for it in items]
    events = pd.concat([it.events.assign(video=name) for it, name in zip(items, names, strict=True)],
                       ignore_index=True)
    videos = pd.DataFrame({"subject": [str(it.subject) for it in items], "video": names,
                           "n_frames": [it.n_frames for it in items], "fps": [it.fps for it in items]})
    cache = Path(cache_dir) if cache_dir is not None else Path(dataset.root) / "melab_cache"
    series = {}
    for fps, group in videos.groupby("fps"):
        # the items themselves, not their folders: a CAS(ME)^3 video with missing images is read padded
        arrays = extract_roi_series([(items[i], landmarks) for i in group.index], cache_dir=cache,
                                    k=default_k(fps), processes=processes, progress=progress)
        series.update(zip(group["video"], arrays, strict=True))
    return RoiCorpus(series, events, videos)


def _merba_key(corpus: Path, samples: pd.DataFrame, size: int, method: str) -> str:
    """What :func:`merba_corpus`'s images are made of: the rows that matter (video, onset, apex, label), the
    settings, and the content of the videos read (frames and landmarks), as 16 hex digits. An edited onset or
    apex, or a replaced video, gives another key even when the number of MEs stays the same."""
    rows = samples[["video", "onset", "apex", "label"]].to_csv(index=False)
    folders = [corpus / str(video).split("_")[0] / str(video) for video in sorted(samples["video"].unique())]
    blob = json.dumps(dict(rows=rows, size=size, method=method, videos=content_digest(folders)), sort_keys=True)
    return hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()


def merba_corpus(corpus: str | os.PathLike, *, size: int = 96, method: str = "tvl1",
                 cache_dir: str | os.PathLike | None = None, progress: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Onset-apex flow images of every ME of a synthetic corpus with a 7-class label (cached).

    Parameters
    ----------
    corpus : path-like
        Corpus directory.
    size : int
        Side S of the flow images (``MERbaConfig.img_size``).
    method : str
        Flow method of :func:`melab.flow.onset_apex_flow` (TV-L1 as in the paper).
    cache_dir : path-like, optional
        Cache folder, :func:`default_cache` by default.

    Returns
    -------
    flows : np.ndarray
        (N, 3, S, S) float32: dx, dy and strain, cropped with the onset frame's landmarks.
    samples : pd.DataFrame
        The N events with an int ``label`` column (index into SEVEN_CLASSES).
    """
    corpus = Path(corpus)
    samples = recognition_samples(pd.read_csv(corpus / "events.csv", dtype={"subject": str, "video": str}))
    if samples.empty:
        raise ValueError(f"{corpus / 'events.csv'} holds no micro-expression with one of the seven emotions; "
                         "MERba has nothing to learn from")
    cache = Path(cache_dir) if cache_dir is not None else default_cache(corpus)
    path = cache / f"{corpus.name}-merba-{size}-{method}-{_merba_key(corpus, samples, size, method)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            if len(z["flows"]) == len(samples):
                return z["flows"], samples
    flows = []
    # pass `disable` only to switch the bar off, so that TQDM_DISABLE=1 in the environment still works
    bar = tqdm(samples.itertuples(), total=len(samples), desc="onset-apex flow",
               **({} if progress else {"disable": True}))
    for ev in bar:
        video = load_video(corpus, ev.video)
        frames, _ = read_frames(video.path, video.fps, start=ev.onset, stop=ev.apex + 1)
        flows.append(onset_apex_flow(frames, 0, ev.apex - ev.onset, size=size, method=method,
                                     landmarks=video.landmarks[ev.onset]))
    flows = np.stack(flows)
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, flows=flows)
    return flows, samples
