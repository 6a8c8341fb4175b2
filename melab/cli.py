"""The ``melab`` command. Each subcommand is a thin wrapper around a documented function."""

from __future__ import annotations

import argparse
import functools
import math
import sys
from contextlib import contextmanager
from pathlib import Path


def _odd_width(text: str) -> int:
    """argparse type: an odd int >= 1 (a centred box filter)."""
    value = int(text)
    if value < 1 or value % 2 == 0:
        raise argparse.ArgumentTypeError(f"must be an odd width of at least 1, got {text}")
    return value


def _at_least(low: int, high: int):
    """argparse type: an int in ``low .. high``, the plausible range (argparse names the flag in its error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value
    return parse


def _positive_float(text: str, high: float = math.inf) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    if value > high:
        raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
    return value


def _fps(text: str) -> float:
    """argparse type: a frame rate, up to 10,000 fps (the fastest high-speed face cameras)."""
    return _positive_float(text, 10_000.0)


def _gpus(text: str) -> float:
    """argparse type: GPUs a task declares, 0 or a positive number (0.5 shares a GPU between two tasks)."""
    if text.strip() in ("0", "0.0"):
        return 0.0
    return _positive_float(text, 64.0)


def _fraction(text: str) -> float:
    """argparse type: a float in (0, 1]."""
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


@contextmanager
def _no_empty_output(out: Path):
    """On failure, remove the folders under ``out`` (and ``out``) that this run created and left empty.

    Anything written (cache entries, fold checkpoints) stays, so that a rerun resumes from it; the run's lock
    file (:func:`melab.atomic.output_lock`, released by then) does not count as written.
    """
    from melab.atomic import LOCK_NAME

    existed = out.exists()
    try:
        yield
    except BaseException:
        if not existed and out.is_dir():
            for folder in sorted((p for p in out.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                if not any(folder.iterdir()):
                    folder.rmdir()
            if [p.name for p in out.iterdir()] in ([], [LOCK_NAME]):
                (out / LOCK_NAME).unlink(missing_ok=True)
                out.rmdir()
        raise


def _folds(text: str) -> str | int:
    if text in ("all", "none"):
        return text
    return _at_least(1, 100_000)(text)


def _cmd_synth(args: argparse.Namespace) -> int:
    import pandas as pd

    from melab.atomic import check_output_dir
    from melab.data.synthetic import make_corpus, summarize

    if args.out is not None:
        check_output_dir(args.out)
    path = make_corpus(args.preset, args.seed, args.out, difficulty=args.difficulty, processes=args.processes)
    counts, amplitude = summarize(pd.read_csv(path / "events.csv"))
    print(f"corpus: {path}")
    print(counts.to_string())
    print("median apex amplitude (px): " + ", ".join(f"{k} {v:.2f}" for k, v in amplitude.items()))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from melab import viz
    from melab.atomic import Output, atomic_path, check_output_dir, check_output_file, check_paths
    from melab.data.synthetic import make_corpus, summarize
    from melab.spot import spot
    from melab.viz.spot import plot_spotting

    out = check_output_dir(args.out)
    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    video, events = sample / "sample.mp4", sample / "sample_events.csv"
    names = ["corpus_summary.csv", "contact_sheet.png"] + (["sample_spots.csv", "sample_spots.png"]
                                                           if video.exists() else [])
    check_paths({"the sample video": video, "the sample events": events}, [Output("--out", out, tuple(names))])
    for name in names:
        check_output_file(out / name, "--out")
    # every result is made before the first file is written, so that a failure leaves --out as it was
    corpus = make_corpus(args.preset, args.seed)
    counts, amplitude = summarize(pd.read_csv(corpus / "events.csv"))
    sheet = viz.contact_sheet(corpus)
    result = spot(video, truth=events) if video.exists() else None
    with atomic_path(out / "corpus_summary.csv") as tmp:
        counts.to_csv(tmp)
    with atomic_path(out / "contact_sheet.png") as tmp:
        sheet.savefig(tmp, format="png")
    print(f"corpus ({args.preset}, seed {args.seed}): {corpus}")
    print(counts.to_string())
    print("median apex amplitude (px): " + ", ".join(f"{k} {v:.2f}" for k, v in amplitude.items()))
    print(f"wrote {out / 'contact_sheet.png'} and {out / 'corpus_summary.csv'}")
    if result is not None:
        with atomic_path(out / "sample_spots.csv") as tmp:
            result.intervals.to_csv(tmp, index=False)
        figure = plot_spotting(result, truth=pd.read_csv(events, dtype={"video": str}))
        with atomic_path(out / "sample_spots.png") as tmp:
            figure.savefig(tmp, format="png")
        plt.close(figure)
        print(f"\nmelab spot on the bundled sample video {video}:")
        print(result.report(events))
        print(f"wrote {out / 'sample_spots.csv'} and {out / 'sample_spots.png'}")
    return 0


def _cmd_flow(args: argparse.Namespace) -> int:
    import numpy as np

    from melab.atomic import LOCK_NAME, Output, atomic_path, check_output_dir, check_paths, output_lock, write_text
    from melab.flow import channel_names, extract_roi_series

    if args.stride is not None and args.stride >= args.k:
        raise ValueError(f"--stride {args.stride} must be below --k {args.k}: windows must overlap to be stitched")
    out = check_output_dir(args.out)
    check_paths({"INPUT": args.inputs}, [Output("--out", out, ("*.npy", "channels.txt", "cache/*", LOCK_NAME))])
    items, names, sources = [], [], {}
    for raw in args.inputs:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"INPUT {path}: no such video, image folder or corpus")
        if (path / "videos.csv").exists():  # a synthetic corpus: every video, with its true landmarks by default
            from melab.data.dataset import Dataset
            from melab.data.synthetic import check_corpus

            check_corpus(path, "INPUT")
            for item in Dataset(path, kind="synthetic"):
                items.append(item if args.landmarks == "auto" else (item, "mediapipe"))
                names.append(item.video)
                sources.setdefault(item.video, []).append(f"{path} (video {item.video})")
        else:
            items.append(path if args.landmarks == "auto" else (path, "mediapipe"))
            names.append(path.stem if path.is_file() else path.name)
            sources.setdefault(names[-1], []).append(str(path))
    clashes = {name: where for name, where in sources.items() if len(where) > 1}
    if clashes:  # each input is written to OUT/<name>.npy: two inputs with one name would overwrite each other
        name, where = next(iter(clashes.items()))
        raise ValueError(f"inputs {' and '.join(where)} would both be written to {out / (name + '.npy')}"
                         + (f" ({len(clashes)} names clash)" if len(clashes) > 1 else "")
                         + "; rename them, or run them with separate --out folders")
    with _no_empty_output(out), output_lock(out, what="melab flow"):
        series = extract_roi_series(items, cache_dir=out / "cache", k=args.k, stride=args.stride,
                                    method=args.method, size=args.size, processes=args.processes)
        for name, s in zip(names, series, strict=True):
            with atomic_path(out / f"{name}.npy") as tmp:
                np.save(tmp, s)
        write_text(out / "channels.txt", "\n".join(channel_names()) + "\n")
    print(f"wrote {len(series)} ROI series ({series[0].shape[1]} channels) to {out}")
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    from melab.data.check import check_dataset

    report = check_dataset(args.kind, args.path, preset=args.preset, seed=args.seed, difficulty=args.difficulty,
                           labels=args.labels, frames=args.frames)
    print(report, end="")
    return 0 if report.ok else 1


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from melab.metrics import evaluate_csv

    labels = None
    if args.labels is not None:
        labels = [label.strip().lower() for label in args.labels.split(",") if label.strip()]
        if not labels:
            raise ValueError(f"--labels {args.labels!r} names no emotion; give them comma-separated, e.g. "
                             "--labels negative,positive,surprise")
    print(evaluate_csv(args.pred, args.truth, iou=args.iou, labels=labels, protocol=args.protocol).report())
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from melab.atomic import check_output_dir, output_lock
    from melab.reproduce import REAL_KINDS, run_real_merba
    from melab.train import run
    from melab.train.artefacts import check_run_paths
    from melab.train.loso import RayNotInstalled

    options = dict(folds=args.folds, epochs=args.epochs, out=args.out, resume=args.resume, preset=args.config,
                   init=args.init, executor=args.executor, address=args.address, cpus_per_fold=args.cpus_per_fold,
                   gpus_per_fold=args.gpus_per_fold, max_retries=args.max_retries, device=args.device,
                   drop_malformed=args.drop_malformed)
    if args.model == "merba" and args.data.partition(":")[0] in REAL_KINDS:  # the paper's protocols
        train = functools.partial(run_real_merba, args.data)
    else:
        train = functools.partial(run, args.model, args.data)
    out = check_output_dir(args.out)
    check_run_paths(args.data, args.init, out)
    try:
        with _no_empty_output(out), output_lock(out, what="melab train"):
            result = train(**options)
    except RayNotInstalled as exc:
        print(f"melab train: error: {exc}", file=sys.stderr)
        return 2
    for key, value in result.items():
        print(f"{key}: {value}")
    if args.model == "spotter" and "history" in result:
        import pandas as pd

        from melab.train import auc_summary

        table = auc_summary(pd.read_csv(result["history"]))
        if table is not None:
            print("per-frame AUC per epoch, training videos against the validation subject (mean over folds):")
            print(table.to_string())
    return 0


def _cmd_spot(args: argparse.Namespace) -> int:
    from melab.spot import spot

    result = spot(args.video, args.out, checkpoint=args.checkpoint, plot=args.plot, truth=args.truth,
                  landmarks=args.landmarks or "mediapipe", fps=args.fps, official=args.official, low=args.low,
                  high=args.high, smooth=args.smooth, workers=args.workers)
    print(result.report(args.truth))
    print(f"wrote {args.out}" + (f" and {args.plot}" if args.plot else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="melab", description="Micro-expression analysis lab: synthetic data, "
                                     "optical flow, Mamba models, interval decoding and metrics.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from melab.data.synthetic import DEFAULT_DIFFICULTY, DIFFICULTIES
    from melab.data.synthetic import PRESET_NAMES as SYNTH_PRESETS

    p = sub.add_parser("synth", help="generate (or reuse) a synthetic corpus",
                       description="Generate a synthetic micro-expression corpus under OUT/synthetic/ "
                       "(default OUT: $MELAB_DATA or ~/.cache/melab) and print its counts.")
    p.add_argument("--preset", choices=SYNTH_PRESETS, default="lab",
                   help="long videos (tiny, lab, bench, large: SAMM-LV's size) or recognition clips with a fixed "
                   "split (clips)")
    p.add_argument("--difficulty", choices=DIFFICULTIES, default=None,
                   help=f"realistic or easy (generator version 1); default {DEFAULT_DIFFICULTY}, clips: realistic")
    p.add_argument("--seed", type=_at_least(0, 2**32 - 1), default=0)
    p.add_argument("--out", default=None, help="cache root (default: $MELAB_DATA or ~/.cache/melab)")
    p.add_argument("--processes", type=_at_least(1, 256), default=None, help="worker processes (default: up to 2)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("demo", help="the main job on the synthetic default, headless",
                       description="Generate the lab corpus, write a contact sheet and a summary table, "
                       "and spot the micro-expressions of the bundled sample video.")
    p.add_argument("--preset", choices=["tiny", "lab", "bench"], default="lab")
    p.add_argument("--seed", type=_at_least(0, 2**32 - 1), default=0)
    p.add_argument("--out", default="build/demo", help="output folder (default: build/demo)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("flow", help="ROI optical-flow series of videos (cached)",
                       description="Compute the (T, C) ROI flow series of each input (a video file, an image folder, "
                       "or a synthetic corpus directory) and write OUT/<video>.npy plus OUT/channels.txt. "
                       "Results are cached under OUT/cache; a rerun resumes.")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--k", type=_at_least(2, 10_000), default=50, help="window length in frames (default 50, 30 fps)")
    p.add_argument("--stride", type=_at_least(1, 10_000), default=None, help="window stride (default k/2)")
    p.add_argument("--method", choices=["farneback", "tvl1", "dis"], default="farneback")
    p.add_argument("--size", type=_at_least(32, 1024), default=128, help="face crop size in pixels (32 to 1024)")
    p.add_argument("--processes", type=_at_least(1, 256), default=1)
    p.add_argument("--landmarks", choices=["auto", "mediapipe"], default="auto",
                   help="auto: a synthetic folder's truth.npz if present, else MediaPipe")
    p.set_defaults(func=_cmd_flow)

    from melab.data.check import CHECK_KINDS

    p = sub.add_parser("data", help="check a dataset copy", description="Dataset utilities.")
    data_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = data_sub.add_parser("check", help="read a dataset and print counts per subject and emotion",
                            description="Read a dataset's annotations (and frames), print counts per subject and "
                            "emotion and every rejected row. Exit status 1 if any row was rejected.")
    p.add_argument("--kind", choices=CHECK_KINDS, required=True)
    p.add_argument("path", nargs="?", default=None,
                   help="dataset root (default: $MELAB_DATA/<kind>, or the synthetic corpus of --preset)")
    p.add_argument("--preset", choices=SYNTH_PRESETS, default="lab", help="synthetic preset")
    p.add_argument("--difficulty", choices=DIFFICULTIES, default=None,
                   help=f"synthetic difficulty (default {DEFAULT_DIFFICULTY})")
    p.add_argument("--seed", type=_at_least(0, 2**32 - 1), default=0, help="synthetic seed")
    p.add_argument("--labels", default=None, help="the label file to read (when several are under PATH); "
                   "smic: 'folders' reads the SMIC-HS class folders")
    p.add_argument("--frames", default=None, help="the folder of the frames to read (e.g. PATH/Cropped)")
    p.set_defaults(func=_cmd_data_check)

    p = sub.add_parser("evaluate", help="MEGC spotting/recognition metrics and STRS from two CSVs",
                       description="Score PRED.csv against TRUTH.csv (MEGC columns subject, video, onset, offset, "
                       "emotion): spotting P/R/F1, recognition UF1/UAR/ACC/F1, STRS and boundary errors. "
                       "See melab.metrics for how melab differs from the official STRS script.")
    p.add_argument("pred", help="predictions CSV")
    p.add_argument("truth", help="ground-truth CSV")
    p.add_argument("--iou", type=_fraction, default=0.5, help="IoU needed for a true positive (default 0.5)")
    p.add_argument("--labels", default=None, help="comma-separated emotions (default: those in TRUTH)")
    p.add_argument("--protocol", choices=["melab", "megc_official"], default="melab",
                   help="melab: ME-free videos counted, every class; megc_official: ME-free videos dropped, "
                   "STR classes without 'others' (both match one-to-one; see melab.metrics)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("train", help="train the spotter or MERba (LOSO by default)",
                       description="Train a fresh model per held-out subject (LOSO) and write per-epoch checkpoints, "
                       "the history and the held-out scores to OUT; --resume continues interrupted folds "
                       "bit-identically. --executor ray runs one Ray task per fold on a cluster (README: Running LOSO "
                       "on a cluster).")
    p.add_argument("model", choices=["spotter", "merba"])
    p.add_argument("--data", default="synthetic:lab",
                   help="synthetic:<preset>, corpus:<dir>, or <kind>:<path>[,labels=FILE][,frames=DIR] for a real "
                   "dataset (default synthetic:lab); merba also runs the paper's protocols: dfme:<path> (train -> "
                   "test A, B; unlabelled test sets are predicted) and composite:casme2=<path>,samm=<path>,smic=<path>"
                   "[,casme2_labels=FILE,casme2_frames=DIR,...] (3DB LOSO), see melab.reproduce")
    p.add_argument("--drop-malformed", action="store_true",
                   help="real data: leave malformed label rows (offset before onset, apex outside the interval, ...) "
                   "out instead of stopping at the first; the summary lists them (melab data check shows all)")
    p.add_argument("--folds", type=_folds, default="all",
                   help="all, N (the first N subjects) or none (one model on all data)")
    p.add_argument("--epochs", type=_at_least(1, 100_000), default=None, help="override the preset's epochs")
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    p.add_argument("--resume", action="store_true", help="continue interrupted folds from their checkpoints")
    p.add_argument("--config", choices=["tiny", "paper"], default="tiny", help="model size preset (default tiny)")
    p.add_argument("--init", default=None, help="spotter only: start every fold from these weights (an official "
                   "METST_SF .pkl, which selects the reference layout, or a melab checkpoint of the same config)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where LOSO folds run: one after another here (default), or one Ray task per fold")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (default $RAY_ADDRESS, else a Ray instance on this machine); "
                   "with several machines, --out must be on a file system every node mounts")
    p.add_argument("--cpus-per-fold", type=_at_least(1, 1024), default=1,
                   help="CPUs a Ray fold task declares, and the torch threads of every fold (default 1)")
    p.add_argument("--gpus-per-fold", type=_gpus, default=0, help="GPUs a Ray fold task declares (default 0)")
    p.add_argument("--max-retries", type=_at_least(0, 100), default=3,
                   help="Ray re-runs of a fold whose worker died; it resumes from its checkpoint (default 3)")
    p.add_argument("--device", default="auto",
                   help="auto (a CUDA GPU if torch sees one, else the CPU; the default), cpu, cuda or cuda:N; "
                   "with --executor ray --gpus-per-fold N, each fold trains on the GPU Ray assigned it")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("spot", help="find micro-expressions in a face video",
                       description="Find micro-expression intervals in a face video: MediaPipe landmarks, face crop, "
                       "ROI optical flow, the spotter, SISS decoding and an emotion per interval. Writes one CSV row "
                       "per interval (video, onset, offset, emotion, score, interpolated_frames; 0-based frames of the "
                       "video; interpolated_frames > 0 flags an interval over a face dropout). A video at "
                       "another frame rate is resampled to the model's by nearest timestamp (see melab.spot).")
    p.add_argument("video", help="video file (mp4, avi, ...) or image folder (then pass --fps)")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--checkpoint", default=None, help="spotter checkpoint (default: the shipped data/spotter_lab.pt), "
                   "or an official ME-TST/BoostingVRME METST_SF weight file (.pkl)")
    p.add_argument("--official", choices=["casme3", "samm_lv"], default="casme3",
                   help="dataset an official weight file was trained on: its frame rate and window (default casme3)")
    p.add_argument("--plot", default=None, help="timeline PNG to write")
    p.add_argument("--truth", default=None, help="events CSV (video, onset, offset[, kind, emotion]) to compare with")
    p.add_argument("--landmarks", default=None, help="(T, 68, 2) iBUG landmarks as .npy, instead of MediaPipe")
    p.add_argument("--fps", type=_fps, default=None,
                   help="the video's frame rate (image folders, or to override)")
    decoding = ("default from data/spot_decoding.json: chosen by the nested rule on the shipped spotter's LOSO scores "
                "of its own training corpus, never on the video you spot")
    p.add_argument("--low", type=_fraction, default=None, help=f"SISS low threshold, an absolute score; {decoding}")
    p.add_argument("--high", type=_fraction, default=None, help="SISS high threshold (and peak height), an "
                   "absolute score; default as --low")
    p.add_argument("--smooth", type=_odd_width, default=None, help="box-filter width in frames before "
                   "decoding, odd; default as --low")
    p.add_argument("--workers", type=_at_least(0, 256), default=None,
                   help="processes that compute the optical flow while the video is decoded and the face tracked "
                   "(default: one per CPU core for videos of 20 s or more; 0: all in one process); same output")
    p.set_defaults(func=_cmd_spot)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError) as exc:  # OSError: a path that is a folder, a file, unwritable, ...
        print(f"melab {args.command}: error: {exc}", file=sys.stderr)
        return 2
