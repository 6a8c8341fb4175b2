"""Corpora on disk: presets, generation into a content-keyed cache, manifests, and reading them back.

:func:`make_corpus` writes a preset (:data:`PRESETS`: long videos; :data:`CLIPS`: recognition clips with a fixed
split) in the layout of a real dataset, byte-identically for a preset, difficulty and seed with any number of
processes; :func:`plan_corpus` draws the same timelines without rendering; :func:`load_video` reads one video
back with its ground truth.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from melab.atomic import TMP_MARK, output_lock, pid_alive, remove_stale_temporaries
from melab.data.cache import manifest_problem, write_manifest
from melab.data.labels import SEVEN_CLASSES
from melab.data.synthetic.face import lateral_basis, make_subject
from melab.data.synthetic.render import SyntheticVideo, generate_video
from melab.data.synthetic.timeline import (
    REALISM,
    Timeline,
    _class_draw,
    _resolve,
    clip_timeline,
)
from melab.workers import map_processes, with_context

# Version 2 added difficulty "realistic"; "easy" output is version 1's, byte for byte (its subjects.json still says
# generator_version 1: the version whose output it is). The cache directory carries the difficulty and this version.
GENERATOR_VERSION = 2


# --------------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """Size of a synthetic corpus. Counts are per video unless stated; durations in seconds.

    Event counts, nuisance rates and ``jpeg_quality`` are those of difficulty ``"easy"``; a realistic corpus
    takes subjects, videos, durations, fps and size from here and its rates from :data:`REALISM`.
    """

    name: str
    n_subjects: int
    videos_per_subject: int
    duration_s: float
    fps: float = 30.0
    size: int = 128
    mes_per_video: int = 6
    maes_per_video: int = 8
    blinks_per_minute: float = 15.0
    jerks_per_minute: float = 3.0
    jpeg_quality: int = 95
    # (subject index, video index, fps, duration) of extra high-frame-rate videos, SAMM-LV-like.
    high_fps_videos: tuple[tuple[int, int, float, float], ...] = ()


PRESETS: dict[str, Preset] = {
    "tiny": Preset("tiny", n_subjects=3, videos_per_subject=2, duration_s=10.0, mes_per_video=2,
                   maes_per_video=2, high_fps_videos=((2, 1, 200.0, 3.0),)),
    "lab": Preset("lab", n_subjects=10, videos_per_subject=2, duration_s=50.0, mes_per_video=7,
                  maes_per_video=9),
    "bench": Preset("bench", n_subjects=16, videos_per_subject=2, duration_s=60.0, mes_per_video=10,
                    maes_per_video=11),
    # SAMM-LV's size (32 subjects, 159 MEs): realistic, 53 min of video at 3 MEs a minute = 160 MEs
    "large": Preset("large", n_subjects=32, videos_per_subject=2, duration_s=50.0, mes_per_video=7,
                    maes_per_video=9),
}


# --------------------------------------------------------------------------------------------------
# Corpora on disk
# --------------------------------------------------------------------------------------------------


def default_root() -> Path:
    """Where corpora are cached: ``$MELAB_DATA`` if set, else ``~/.cache/melab``.

    Raises
    ------
    NotADirectoryError
        ``MELAB_DATA`` names a file (or a path through one).
    """
    given = os.environ.get("MELAB_DATA")
    root = Path(given or Path.home() / ".cache" / "melab")
    blocker = next((p for p in [root, *root.parents] if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise NotADirectoryError(f"{'MELAB_DATA=' + given if given else root}: {blocker} is a file, not a folder; "
                                 "point MELAB_DATA at a folder for melab's corpora and caches")
    return root


def corpus_dir(preset: str = "lab", seed: int = 0, root: str | os.PathLike | None = None, *,
               difficulty: str | None = None) -> Path:
    """The cache directory of a corpus: keyed by preset, difficulty, seed and :data:`GENERATOR_VERSION`."""
    difficulty = "realistic" if preset == "clips" else _resolve(difficulty)
    return Path(root or default_root()) / "synthetic" / f"{preset}-{difficulty}-seed{seed}-v{GENERATOR_VERSION}"


@dataclass(frozen=True)
class ClipsPreset:
    """A recognition corpus of onset-to-offset ME clips, one expression each, like CASME II, SAMM and DFME.

    Subjects are split once, DFME style, into a training set and two test sets of disjoint subjects
    (``split.csv``). Clip emotions follow the realistic class shares over the seven classes.
    """

    name: str = "clips"
    n_subjects: int = 48
    clips_per_subject: int = 10
    test_a: float = 0.2  # share of the subjects in test set A
    test_b: float = 0.2
    fps: float = 30.0
    size: int = 128


CLIPS = ClipsPreset()
PRESET_NAMES: tuple[str, ...] = (*PRESETS, "clips")


def _video_specs(preset: Preset, seed: int) -> list[dict]:
    """One dict per video: who, how long, which fps, and the ME emotions (balanced over the corpus)."""
    rng = np.random.default_rng([seed, 999])
    n_videos = preset.n_subjects * preset.videos_per_subject
    pool = list(SEVEN_CLASSES) * int(np.ceil(n_videos * preset.mes_per_video / 8 + 1)) + \
        ["others"] * int(np.ceil(n_videos * preset.mes_per_video / 8 + 1))
    pool = list(rng.permutation(pool))
    specs = []
    for s in range(preset.n_subjects):
        for v in range(preset.videos_per_subject):
            me = [str(pool.pop()) for _ in range(preset.mes_per_video)]
            specs.append(dict(subject_index=s, video_index=v, fps=preset.fps, duration_s=preset.duration_s,
                              n_me=preset.mes_per_video, n_mae=preset.maes_per_video, me_emotions=me))
    for s, v, fps, dur in preset.high_fps_videos:
        for spec in specs:
            if spec["subject_index"] == s and spec["video_index"] == v:
                spec.update(fps=fps, duration_s=dur, n_me=1, n_mae=1, me_emotions=spec["me_emotions"][:1])
    return specs


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write an ``.npz`` byte-identically for identical arrays (np.savez stamps the current time)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arr), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def _spec_video(spec: dict, seed: int, size: int, *, difficulty: str, blinks: float = 0.0, jerks: float = 0.0,
                render: bool = True) -> SyntheticVideo:
    """The video of one corpus spec (:func:`_video_specs` or :func:`_realistic_specs`), as every builder and
    :func:`plan_corpus` draw it (frames rendered without JPEG: the builders compress on write)."""
    common = dict(duration_s=spec["duration_s"], fps=spec["fps"], size=size, me_emotions=spec["me_emotions"],
                  n_mae=spec["n_mae"], jpeg_quality=None, render=render, difficulty=difficulty)
    if difficulty == "easy":
        return generate_video(seed, spec["subject_index"], spec["video_index"], n_me=spec["n_me"], **common)
    return generate_video(seed, spec["subject_index"], spec["video_index"], n_subtle=spec["n_subtle"],
                          blinks_per_minute=blinks, jerks_per_minute=jerks, **common)


def _build_video(args: tuple[dict, int, int, int, str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    spec, seed, size, quality, out = args
    video = _spec_video(spec, seed, size, difficulty="easy")
    subject = video.subject
    vid = f"{subject.subject_id}_{spec['video_index'] + 1}"
    folder = Path(out) / subject.subject_id / vid
    folder.mkdir(parents=True, exist_ok=True)
    frames = video.frames
    for t, frame in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        (folder / f"img_{t:05d}.jpg").write_bytes(buf.tobytes())
    tl = video.timeline
    _write_npz(folder / "truth.npz", landmarks=video.landmarks, au_intensity=tl.au_intensity, head=tl.head,
               gain=tl.gain, seed=np.int64(seed), subject_index=np.int64(spec["subject_index"]),
               video_index=np.int64(spec["video_index"]), size=np.int64(size), fps=np.float64(tl.fps))
    info = dict(subject=subject.subject_id, video=vid, n_frames=tl.n_frames, fps=tl.fps, height=size, width=size)
    events = tl.events.assign(video=vid)
    return events, tl.distractors.assign(video=vid), info


def _realistic_specs(preset: Preset, seed: int) -> list[dict]:
    """One dict per video of a realistic corpus: ME emotions (none in the ME-free videos) and event counts.

    MEs come at :attr:`Realism.mes_per_minute` over the whole corpus, in at most ``1 - me_free_share`` of the
    videos; each video holds at least 2 MaEs and one unlabelled subtle movement per ME.
    """
    rng = np.random.default_rng([seed, 998])
    specs = [dict(subject_index=s, video_index=v, fps=preset.fps, duration_s=preset.duration_s)
             for s in range(preset.n_subjects) for v in range(preset.videos_per_subject)]
    for s, v, fps, dur in preset.high_fps_videos:
        for spec in specs:
            if (spec["subject_index"], spec["video_index"]) == (s, v):
                spec.update(fps=fps, duration_s=dur)
    minutes = np.array([spec["duration_s"] / 60 for spec in specs])
    total_me = int(round(REALISM.mes_per_minute * minutes.sum()))
    n_with = max(1, min(len(specs) - int(np.ceil(REALISM.me_free_share * len(specs))), total_me))
    with_me = np.sort(rng.permutation(len(specs))[:n_with])
    counts = np.zeros(len(specs), int)
    counts[with_me] = 1 + rng.multinomial(total_me - n_with, minutes[with_me] / minutes[with_me].sum())
    for spec, n_me, m in zip(specs, counts, minutes, strict=True):
        spec["me_emotions"] = _class_draw(rng, int(n_me))
        spec["n_mae"] = max(2 * int(n_me), 1, int(round(REALISM.maes_per_minute * m + rng.uniform(-1, 1))))
        spec["n_subtle"] = max(int(n_me), 1, int(round(REALISM.subtle_per_minute * m + rng.uniform(-1, 1))))
    return specs


def _build_realistic_video(args: tuple[dict, int, int, str, float, float]) -> tuple[pd.DataFrame, ...]:
    spec, seed, size, out, blinks, jerks = args
    video = _spec_video(spec, seed, size, difficulty="realistic", blinks=blinks, jerks=jerks)
    folder = Path(out) / video.subject.subject_id / video.video
    _write_frames(folder, video.frames, video.timeline.jpeg_quality)
    _write_truth(folder, video, seed, size)
    info = dict(subject=video.subject.subject_id, video=video.video, n_frames=video.n_frames, fps=video.fps,
                height=size, width=size)
    return video.events, video.distractors, video.truth, pd.DataFrame([info])


def _write_frames(folder: Path, frames: np.ndarray, quality: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        (folder / f"img_{t:05d}.jpg").write_bytes(buf.tobytes())


def _write_truth(folder: Path, video: SyntheticVideo, seed: int, size: int) -> None:
    tl = video.timeline
    _write_npz(folder / "truth.npz", landmarks=video.landmarks, au_intensity=tl.au_intensity, head=tl.head,
               gain=tl.gain, seed=np.int64(seed), subject_index=np.int64(int(video.subject.subject_id[3:]) - 1),
               video_index=np.int64(tl.video_index), size=np.int64(size), fps=np.float64(tl.fps),
               jpeg_quality=np.int64(tl.jpeg_quality))


def _clip_emotions(seed: int, preset: ClipsPreset) -> list[list[str]]:
    rng = np.random.default_rng([seed, 996])
    return [_class_draw(rng, preset.clips_per_subject, SEVEN_CLASSES) for _ in range(preset.n_subjects)]


def _build_clips(args: tuple[int, list[str], int, ClipsPreset, str]) -> tuple[pd.DataFrame, ...]:
    subject_index, emotions, seed, preset, out = args
    subject = make_subject(seed, subject_index, size=preset.size)
    basis = lateral_basis(subject)
    tables: list[list[pd.DataFrame]] = [[], [], []]
    for i, emotion in enumerate(emotions):
        video = SyntheticVideo(subject, clip_timeline(subject, basis, i, emotion, fps=preset.fps), basis=basis)
        folder = Path(out) / subject.subject_id / video.video
        _write_frames(folder, video.render(), video.timeline.jpeg_quality)
        _write_truth(folder, video, seed, preset.size)
        info = dict(subject=subject.subject_id, video=video.video, n_frames=video.n_frames, fps=video.fps,
                    height=preset.size, width=preset.size)
        for table, part in zip(tables, (video.events, video.truth, pd.DataFrame([info])), strict=True):
            table.append(part)
    return tuple(pd.concat(t, ignore_index=True) for t in tables)


def clips_split(n_subjects: int, seed: int, preset: ClipsPreset = CLIPS) -> pd.DataFrame:
    """The fixed subject split of a clips corpus: columns ``subject, part`` (train, test_a, test_b)."""
    order = np.random.default_rng([seed, 995]).permutation(n_subjects)
    n_a, n_b = (max(1, int(round(f * n_subjects))) for f in (preset.test_a, preset.test_b))
    part = np.array(["train"] * n_subjects, dtype=object)
    part[order[:n_a]], part[order[n_a:n_a + n_b]] = "test_a", "test_b"
    return pd.DataFrame({"subject": [f"sub{i + 1:02d}" for i in range(n_subjects)], "part": part})


def read_split(corpus: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """Subjects of ``train``, ``test_a`` and ``test_b`` of a clips corpus (its ``split.csv``), each sorted.

    ``melab.recognition.DfmeSplit(**read_split(corpus))`` gives the masks that the recognition benchmark uses.
    """
    path = Path(corpus) / "split.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: only a clips corpus (make_corpus('clips')) has a fixed split")
    table = pd.read_csv(path, dtype=str)
    return {part: tuple(sorted(table.loc[table["part"] == part, "subject"])) for part in ("train", "test_a", "test_b")}


def make_corpus(preset: str = "lab", seed: int = 0, root: str | os.PathLike | None = None, *,
                difficulty: str | None = None, processes: int | None = None, progress: bool = True,
                overwrite: bool = False) -> Path:
    """Generate a synthetic corpus on disk (or reuse the cached one) and return its directory.

    The layout mirrors a real dataset::

        events.csv                        canonical events (+ aus, amplitude_px), 0-based inclusive frames, as
                                          annotated (realistic: onset/offset jittered, some labels swapped)
        distractors.csv                   unlabelled movements (blinks, head jerks; realistic: also gaze shifts,
                                          swallows, lip presses, sniffs, speech, nods, talking)
        truth_events.csv                  realistic only: the exact events, true emotion, AUs and asymmetry
        videos.csv                        subject, video, n_frames, fps, height, width
        subjects.json                     per-subject style parameters
        split.csv                         clips only: subject, part (train, test_a, test_b)
        <subject>/<video>/img_00000.jpg   RGB frames, JPEG
        <subject>/<video>/truth.npz       landmarks (T,68,2) and the motion parameters

    The corpus is written to a temporary sibling directory and renamed into place when complete, so an
    interrupted run never leaves a half corpus behind. It resumes: every finished video (or clips subject) is
    recorded in the temporary, and the next run adopts a killed run's temporary and makes only what is missing,
    with the same bytes as a run in one go. A cache hit
    checks ``manifest.json`` (every file's size) and generates a damaged corpus again, with a warning. The
    same preset, difficulty and seed give byte-identical files, with any number of processes. An ``"easy"``
    corpus is generator version 1's, byte for byte (plus the manifest).

    Parameters
    ----------
    preset : ``"tiny"``, ``"lab"``, ``"bench"`` or ``"large"`` (long videos, see :data:`PRESETS`), or ``"clips"``
        (realistic recognition clips, see :class:`ClipsPreset`).
    seed : master seed.
    root : cache root; default :func:`default_root`.
    difficulty : ``"realistic"`` or ``"easy"``; default :data:`DEFAULT_DIFFICULTY` (clips are always realistic).
    processes : worker processes (default: up to 2).
    """
    if preset not in PRESET_NAMES:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESET_NAMES)}")
    if preset == "clips" and difficulty not in (None, "realistic"):
        raise ValueError(f"the clips preset is realistic only; got difficulty={difficulty!r}")
    difficulty = "realistic" if preset == "clips" else _resolve(difficulty)
    final = corpus_dir(preset, seed, root, difficulty=difficulty)
    if final.exists() and not overwrite and manifest_problem(final) is None:
        remove_stale_temporaries(final.parent, prefix=final.name)  # killed runs': the corpus is whole, none resumes
        return final  # a whole corpus is served without a lock (its cache may be read-only)
    # a second run of one corpus waits for the first, then finds it made
    with output_lock(final, "corpus", wait=True, beside=True, what="melab synth"):
        return _make_corpus(preset, seed, final, difficulty=difficulty, processes=processes, progress=progress,
                            overwrite=overwrite)


def _make_corpus(preset: str, seed: int, final: Path, *, difficulty: str, processes: int | None, progress: bool,
                 overwrite: bool) -> Path:
    damage = manifest_problem(final) if final.exists() and not overwrite else None
    if final.exists() and not overwrite and damage is None:
        return final
    if damage is not None:
        warnings.warn(f"cached corpus {final} is damaged or incomplete ({damage}); generating it again", stacklevel=3)
        overwrite = True
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _adopt_temporary(final)
    remove_stale_temporaries(final.parent, prefix=final.name)  # other killed runs' leftovers
    workers = processes or min(2, os.cpu_count() or 1)
    if preset == "clips":
        cfg: Preset | ClipsPreset = CLIPS
        build, jobs = _build_clips, [(s, emotions, seed, CLIPS, str(tmp))
                                     for s, emotions in enumerate(_clip_emotions(seed, CLIPS))]
    elif difficulty == "realistic":
        cfg = PRESETS[preset]
        build, jobs = _build_realistic_video, [(spec, seed, cfg.size, str(tmp), cfg.blinks_per_minute,
                                                cfg.jerks_per_minute) for spec in _realistic_specs(cfg, seed)]
    else:
        cfg = PRESETS[preset]
        build, jobs = _build_video, [(spec, seed, cfg.size, cfg.jpeg_quality, str(tmp))
                                     for spec in _video_specs(cfg, seed)]
    names = [f"{preset} subject {job[0]}" if preset == "clips" else
             f"{preset} video {job[0]['subject_index']}/{job[0]['video_index']}" for job in jobs]
    jobs = [(build, job, str(tmp / DONE / f"{i:05d}.json")) for i, job in enumerate(jobs)]
    # pass `disable` only to switch the bar off, so that TQDM_DISABLE=1 in the environment still works
    bar = tqdm(total=len(jobs), desc=f"synth {preset}", **({} if progress else {"disable": True}))
    try:
        results: list = [None] * len(jobs)
        if workers > 1:
            for i, result in map_processes(_resumable, jobs, names, processes=workers):
                results[i] = result
                bar.update()
        else:
            for i, job in enumerate(jobs):
                results[i] = _resumable(job)
                bar.update()
        bar.close()
        shutil.rmtree(tmp / DONE)
        if preset == "clips":
            _write_tables(tmp, events=[r[0] for r in results], truth_events=[r[1] for r in results],
                          videos=[r[2] for r in results])
            clips_split(CLIPS.n_subjects, seed).to_csv(tmp / "split.csv", index=False)
        elif difficulty == "realistic":
            _write_tables(tmp, events=[r[0] for r in results], distractors=[r[1] for r in results],
                          truth_events=[r[2] for r in results], videos=[r[3] for r in results])
        else:
            events = pd.concat([r[0] for r in results], ignore_index=True)
            distractors = pd.concat([r[1] for r in results], ignore_index=True)
            videos = pd.DataFrame([r[2] for r in results])
            events.to_csv(tmp / "events.csv", index=False)
            distractors.to_csv(tmp / "distractors.csv", index=False)
            videos.to_csv(tmp / "videos.csv", index=False)
        styles = {}
        for s in range(cfg.n_subjects):
            st = asdict(make_subject(seed, s, size=cfg.size))
            st.pop("landmarks")
            styles[st["subject_id"]] = st
        header = {"preset": asdict(cfg), "seed": seed, "generator_version": 1 if difficulty == "easy" else
                  GENERATOR_VERSION}
        if difficulty == "realistic":
            header.update(difficulty=difficulty, realism=asdict(REALISM))
        (tmp / "subjects.json").write_text(json.dumps({**header, "subjects": styles}, indent=1, sort_keys=True))
        write_manifest(tmp)
        if overwrite and final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException as err:
        bar.close()
        if not (tmp / DONE).is_dir():  # past the jobs: nothing to resume from
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):  # a full or read-only disk: say where (pandas and OpenCV do not)
            raise with_context(err, f"writing the corpus {final}") from err
        raise
    return final


@dataclass
class CorpusPlan:
    """Every video of a corpus, planned but not rendered: what :func:`make_corpus` would write, minus the pixels.

    ``events`` and ``distractors`` are the tables of ``events.csv`` and ``distractors.csv``; ``truth`` holds the exact
    events (``truth_events.csv`` of a realistic corpus; an easy corpus's events are exact, so there it is ``events``).
    ``videos`` maps each video id to its unrendered :class:`SyntheticVideo` (``au_field``, ``true_flow`` and
    ``landmarks`` work without rendering), and ``video_table`` is ``videos.csv``. ``name`` is the corpus directory's.
    """

    name: str
    events: pd.DataFrame
    distractors: pd.DataFrame
    truth: pd.DataFrame
    videos: dict[str, SyntheticVideo]
    video_table: pd.DataFrame


def plan_corpus(preset: str = "lab", seed: int = 0, *, difficulty: str | None = None) -> CorpusPlan:
    """Plan every video of a long-video preset without rendering a frame (about 0.2 s a minute of video).

    Draws the same timelines as :func:`make_corpus` with the same ``preset``, ``seed`` and ``difficulty``, so its
    tables equal the corpus's (its amplitudes, durations and distractors), at a fraction of the cost. For figures and
    statistics of a corpus's events; ``"clips"`` is not a long-video preset and is refused.
    """
    if preset not in PRESETS:
        raise ValueError(f"plan_corpus plans the long-video presets {sorted(PRESETS)}, not {preset!r}")
    difficulty, cfg = _resolve(difficulty), PRESETS[preset]
    specs = _video_specs(cfg, seed) if difficulty == "easy" else _realistic_specs(cfg, seed)
    videos = {}
    for spec in specs:
        v = _spec_video(spec, seed, cfg.size, difficulty=difficulty, blinks=cfg.blinks_per_minute,
                        jerks=cfg.jerks_per_minute, render=False)
        videos[v.video] = v
    events, distractors = (pd.concat([getattr(v, t) for v in videos.values()], ignore_index=True)
                           for t in ("events", "distractors"))
    truth = events if difficulty == "easy" else pd.concat([v.truth for v in videos.values()], ignore_index=True)
    table = pd.DataFrame([dict(subject=v.subject.subject_id, video=v.video, n_frames=v.n_frames, fps=v.fps,
                               height=cfg.size, width=cfg.size) for v in videos.values()])
    return CorpusPlan(corpus_dir(preset, seed, difficulty=difficulty).name, events, distractors, truth, videos, table)


DONE = ".done"  # inside a corpus' temporary: one JSON per finished job, so a killed run resumes


def _job_tables(result) -> list:
    """A builder's result as JSON-able parts: DataFrames as CSV text, dicts as they are."""
    return [{"csv": r.to_csv(index=False)} if isinstance(r, pd.DataFrame) else {"dict": r} for r in result]


def _tables_of(parts: list) -> tuple:
    """Inverse of :func:`_job_tables`."""
    return tuple(pd.read_csv(io.StringIO(p["csv"])) if "csv" in p else p["dict"] for p in parts)


def _resumable(args: tuple) -> tuple:
    """Run one builder job unless its record in ``<tmp>/.done/`` says it finished; return its tables.

    Every run reads the tables back from the record it wrote, so a resumed corpus is the same, byte for byte, as
    one made in one go."""
    build, job, record = args
    record = Path(record)
    if not record.exists():
        text = json.dumps(_job_tables(build(job)))
        part = record.with_name(record.name + ".part")
        part.write_text(text)
        os.replace(part, record)  # the frames are on disk before the record says so
    return _tables_of(json.loads(record.read_text()))


def _adopt_temporary(final: Path) -> Path:
    """This process's temporary for ``final``: a killed run's, renamed, when there is one (the run resumes from
    its finished jobs), else a new empty folder."""
    tmp = final.with_name(final.name + f"{TMP_MARK}{os.getpid()}")
    if (tmp / DONE).is_dir():  # this process's own earlier attempt
        return tmp
    pattern = re.compile(re.escape(final.name + TMP_MARK) + r"(\d+)$")
    for entry in sorted(final.parent.iterdir()) if final.parent.is_dir() else []:
        match = pattern.match(entry.name)
        if match and entry.is_dir() and (entry / DONE).is_dir() and not pid_alive(int(match.group(1))) and \
                entry != tmp:
            try:
                os.rename(entry, tmp)  # atomic: of two resuming runs, one wins, the other starts its own
            except OSError:
                continue
            return tmp
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / DONE).mkdir(parents=True)
    return tmp


def _write_tables(folder: Path, **parts: list[pd.DataFrame]) -> None:
    """Concatenate each table's per-video parts and write it as ``<name>.csv``."""
    for name, frames in parts.items():
        pd.concat(frames, ignore_index=True).to_csv(folder / f"{name}.csv", index=False)


CORPUS_TABLES = {"videos.csv": ("subject", "video", "n_frames", "fps"),
                 "events.csv": ("subject", "video", "onset", "apex", "offset", "emotion", "kind")}


def _shown(value: object) -> str:
    """A table cell for a message: text quoted, numbers as written."""
    return repr(value) if isinstance(value, str) else str(value)


def check_corpus(corpus: str | os.PathLike, flag: str = "corpus") -> pd.DataFrame:
    """Check, before any work, that ``corpus`` has the layout :func:`make_corpus` writes; its ``videos.csv`` table.

    Its two tables must be readable CSV files with the columns :data:`CORPUS_TABLES` names; ``videos.csv`` must list
    at least one video, each with a plausible frame rate and length and a folder holding its ``truth.npz``; every
    event of ``events.csv`` must lie inside its video with ``onset <= apex <= offset`` and be micro or macro.

    Raises
    ------
    FileNotFoundError, ValueError naming ``flag``, the file and what is missing.
    """
    corpus = Path(corpus)
    tables = {}
    for name, columns in CORPUS_TABLES.items():
        path = corpus / name
        if not path.is_file():
            raise FileNotFoundError(f"{flag} {corpus} is not a corpus in melab's layout: it has no {name}; make one "
                                    "with melab.data.synthetic.make_corpus('lab')")
        try:
            tables[name] = pd.read_csv(path, dtype={"subject": str, "video": str})
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise ValueError(f"{flag}: {path} is not a CSV file ({type(err).__name__}: {err})") from None
        missing = [c for c in columns if c not in tables[name].columns]
        if missing:
            raise ValueError(f"{flag}: {path} lacks the column(s) {', '.join(missing)}; it needs {', '.join(columns)}")
    videos, events = tables["videos.csv"], tables["events.csv"]
    if videos.empty:
        raise ValueError(f"{flag}: {corpus / 'videos.csv'} lists no video")
    rate = pd.to_numeric(videos["fps"], errors="coerce")
    length = pd.to_numeric(videos["n_frames"], errors="coerce")
    bad = ~((rate > 0) & (rate <= 10_000)) | ~((length >= 1) & (length == length.round()))
    if bad.any():
        i = bad[bad].index[0]
        raise ValueError(f"{flag}: {corpus / 'videos.csv'}, line {i + 2}: video {videos.video[i]!r} has fps "
                         f"{_shown(videos.fps[i])} and n_frames {_shown(videos.n_frames[i])}; a frame rate is a number "
                         "of frames per second up to 10000 and a length a whole number of frames")
    frames = {c: pd.to_numeric(events[c], errors="coerce") for c in ("onset", "apex", "offset")}
    known = events["video"].map(dict(zip(videos["video"], length, strict=True)))
    bad = ~((frames["onset"] >= 0) & (frames["onset"] <= frames["apex"]) & (frames["apex"] <= frames["offset"])
            & (frames["offset"] < known)) | ~events["kind"].isin(["micro", "macro"])
    if bad.any():
        i = bad[bad].index[0]
        row = events.loc[i]
        raise ValueError(f"{flag}: {corpus / 'events.csv'}, line {i + 2}: video {row.video!r}, onset "
                         f"{_shown(row.onset)}, apex {_shown(row.apex)}, offset {_shown(row.offset)}, kind "
                         f"{_shown(row.kind)}: an event needs 0 <= onset <= apex <= offset inside a video of "
                         "videos.csv, and kind micro or macro")
    absent = [v for v in videos["video"] if not (corpus / str(v).split("_")[0] / str(v) / "truth.npz").exists()]
    if absent:
        raise FileNotFoundError(f"{flag}: {len(absent)} video(s) of {corpus / 'videos.csv'} have no folder with a "
                                f"truth.npz, e.g. {corpus / absent[0].split('_')[0] / absent[0]}")
    return videos


def load_video(corpus: str | os.PathLike, video: str) -> SyntheticVideo:
    """Load one video of a corpus made by :func:`make_corpus`, with its ground truth.

    Frames are read from disk lazily (on first access of ``.frames``); ``true_flow`` and ``landmarks`` come
    from ``truth.npz``, and the exact events of a realistic corpus from ``truth_events.csv``.
    """
    corpus = Path(corpus)
    events_all = pd.read_csv(corpus / "events.csv")
    subject_id = video.split("_")[0]
    folder = corpus / subject_id / video
    if not (folder / "truth.npz").exists():
        raise FileNotFoundError(f"no video {video!r} in {corpus} (expected {folder / 'truth.npz'})")
    with np.load(folder / "truth.npz", allow_pickle=False) as z:
        truth = {k: z[k] for k in z.files}
    subject = make_subject(int(truth["seed"]), int(truth["subject_index"]), size=int(truth["size"]))
    events = events_all[events_all["video"] == video].reset_index(drop=True)
    dist_path = corpus / "distractors.csv"
    distractors = pd.read_csv(dist_path) if dist_path.exists() else pd.DataFrame()
    distractors = distractors[distractors["video"] == video].reset_index(drop=True) if len(distractors) else \
        distractors
    exact = None
    if (corpus / "truth_events.csv").exists():
        exact = pd.read_csv(corpus / "truth_events.csv")
        exact = exact[exact["video"] == video].reset_index(drop=True)
    timeline = Timeline(video, int(truth["video_index"]), len(truth["landmarks"]), float(truth["fps"]),
                        events, distractors,
                        truth["au_intensity"], truth["head"], truth["gain"], truth=exact,
                        jpeg_quality=int(truth["jpeg_quality"]) if "jpeg_quality" in truth else None)
    out = SyntheticVideo(subject, timeline, path=folder)
    out.landmarks = truth["landmarks"]
    return out


def recognition_samples(events: pd.DataFrame, *, kinds: Sequence[str] = ("micro",)) -> pd.DataFrame:
    """(onset, apex) pairs with 7-class labels: events whose emotion is in :data:`SEVEN_CLASSES`.

    Returns the matching rows with an extra integer column ``label`` (index into ``SEVEN_CLASSES``).
    """
    keep = events[events["kind"].isin(kinds) & events["emotion"].isin(SEVEN_CLASSES)].copy()
    keep["label"] = keep["emotion"].map(SEVEN_CLASSES.index).astype(int)
    return keep.reset_index(drop=True)


def summarize(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Counts per emotion and kind (with totals), and the median apex amplitude (px) per kind."""
    counts = pd.crosstab(events["emotion"], events["kind"], margins=True, margins_name="total")
    return counts, events.groupby("kind")["amplitude_px"].median().round(2)
