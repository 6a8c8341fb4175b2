"""The ``melab`` command. Each subcommand is a thin wrapper around a documented function."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_synth(args: argparse.Namespace) -> int:
    import pandas as pd

    from melab.data.synthetic import make_corpus, summarize

    path = make_corpus(args.preset, args.seed, args.out, difficulty=args.difficulty, processes=args.processes)
    counts, amplitude = summarize(pd.read_csv(path / "events.csv"))
    print(f"corpus: {path}")
    print(counts.to_string())
    print("median apex amplitude (px): " + ", ".join(f"{k} {v:.2f}" for k, v in amplitude.items()))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from melab import viz
    from melab.data.synthetic import make_corpus, summarize

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = make_corpus(args.preset, args.seed)
    counts, amplitude = summarize(pd.read_csv(corpus / "events.csv"))
    counts.to_csv(out / "corpus_summary.csv")
    viz.contact_sheet(corpus).savefig(out / "contact_sheet.png")
    print(f"corpus ({args.preset}, seed {args.seed}): {corpus}")
    print(counts.to_string())
    print("median apex amplitude (px): " + ", ".join(f"{k} {v:.2f}" for k, v in amplitude.items()))
    print(f"wrote {out / 'contact_sheet.png'} and {out / 'corpus_summary.csv'}")

    from melab.spot import spot

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    if (sample / "sample.mp4").exists():
        print(f"\nmelab spot on the bundled sample video {sample / 'sample.mp4'}:")
        result = spot(sample / "sample.mp4", out / "sample_spots.csv", plot=out / "sample_spots.png",
                      truth=sample / "sample_events.csv")
        print(result.report(sample / "sample_events.csv"))
        print(f"wrote {out / 'sample_spots.csv'} and {out / 'sample_spots.png'}")
    return 0


def _cmd_flow(args: argparse.Namespace) -> int:
    import numpy as np

    from melab.flow import channel_names, extract_roi_series

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items, names = [], []
    for raw in args.inputs:
        path = Path(raw)
        if (path / "videos.csv").exists():  # a synthetic corpus: every video, with its true landmarks
            from melab.data.dataset import Dataset

            for item in Dataset(path, kind="synthetic"):
                items.append(item)
                names.append(item.video)
        else:
            items.append(path if args.landmarks == "auto" else (path, "mediapipe"))
            names.append(path.stem if path.is_file() else path.name)
    series = extract_roi_series(items, cache_dir=out / "cache", k=args.k, stride=args.stride, method=args.method,
                                size=args.size, processes=args.processes)
    for name, s in zip(names, series, strict=True):
        np.save(out / f"{name}.npy", s)
    (out / "channels.txt").write_text("\n".join(channel_names()) + "\n")
    print(f"wrote {len(series)} ROI series ({series[0].shape[1]} channels) to {out}")
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    from melab.data.check import check_dataset

    report = check_dataset(args.kind, args.path, preset=args.preset, seed=args.seed, difficulty=args.difficulty)
    print(report, end="")
    return 0 if report.ok else 1


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from melab.metrics import evaluate_csv

    labels = args.labels.split(",") if args.labels else None
    print(evaluate_csv(args.pred, args.truth, iou=args.iou, labels=labels).report())
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from melab.train import run

    folds = int(args.folds) if args.folds.isdigit() else args.folds
    result = run(args.model, args.data, folds=folds, epochs=args.epochs, out=args.out, resume=args.resume,
                 preset=args.config)
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


def _cmd_spot(args: argparse.Namespace) -> int:
    from melab.spot import spot

    result = spot(args.video, args.out, checkpoint=args.checkpoint, plot=args.plot, truth=args.truth,
                  landmarks=args.landmarks or "mediapipe", fps=args.fps)
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
                   help="long videos (tiny, lab, bench) or recognition clips with a fixed split (clips)")
    p.add_argument("--difficulty", choices=DIFFICULTIES, default=None,
                   help=f"realistic or easy (generator version 1); default {DEFAULT_DIFFICULTY}, clips: realistic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="cache root (default: $MELAB_DATA or ~/.cache/melab)")
    p.add_argument("--processes", type=int, default=None, help="worker processes (default: up to 2)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("demo", help="the main job on the synthetic default, headless",
                       description="Generate the lab corpus, write a contact sheet and a summary table, "
                       "and spot the micro-expressions of the bundled sample video.")
    p.add_argument("--preset", choices=["tiny", "lab", "bench"], default="lab")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="build/demo", help="output folder (default: build/demo)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("flow", help="ROI optical-flow series of videos (cached)",
                       description="Compute the (T, C) ROI flow series of each input (a video file, an image folder, "
                       "or a synthetic corpus directory) and write OUT/<video>.npy plus OUT/channels.txt. "
                       "Results are cached under OUT/cache; a rerun resumes.")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--k", type=int, default=50, help="window length in frames (default 50, 30 fps)")
    p.add_argument("--stride", type=int, default=None, help="window stride (default k/2)")
    p.add_argument("--method", choices=["farneback", "tvl1", "dis"], default="farneback")
    p.add_argument("--size", type=int, default=128, help="face crop size in pixels")
    p.add_argument("--processes", type=int, default=1)
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
    p.add_argument("--seed", type=int, default=0, help="synthetic seed")
    p.set_defaults(func=_cmd_data_check)

    p = sub.add_parser("evaluate", help="MEGC spotting/recognition metrics and STRS from two CSVs",
                       description="Score PRED.csv against TRUTH.csv (MEGC columns subject, video, onset, offset, "
                       "emotion): spotting P/R/F1, recognition UF1/UAR/ACC/F1, STRS and boundary errors. "
                       "See melab.metrics for how melab differs from the official STRS script.")
    p.add_argument("pred", help="predictions CSV")
    p.add_argument("truth", help="ground-truth CSV")
    p.add_argument("--iou", type=float, default=0.5, help="IoU needed for a true positive (default 0.5)")
    p.add_argument("--labels", default=None, help="comma-separated emotions (default: those in TRUTH)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("train", help="train the spotter or MERba (LOSO by default)",
                       description="Train a fresh model per held-out subject (LOSO) and write per-epoch checkpoints, "
                       "the history and the held-out scores to OUT; --resume continues interrupted folds "
                       "bit-identically.")
    p.add_argument("model", choices=["spotter", "merba"])
    p.add_argument("--data", default="synthetic:lab",
                   help="synthetic:<preset>, corpus:<dir>, or <kind>:<path> for a real dataset (default synthetic:lab)")
    p.add_argument("--folds", default="all", help="all, N (the first N subjects) or none (one model on all data)")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    p.add_argument("--resume", action="store_true", help="continue interrupted folds from their checkpoints")
    p.add_argument("--config", choices=["tiny", "paper"], default="tiny", help="model size preset (default tiny)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("spot", help="find micro-expressions in a face video",
                       description="Find micro-expression intervals in a face video: MediaPipe landmarks, face crop, "
                       "ROI optical flow, the spotter, SISS decoding and an emotion per interval. Writes one CSV row "
                       "per interval (video, onset, offset, emotion, score; 0-based frames of the video). A video at "
                       "another frame rate is resampled to the model's by nearest timestamp (see melab.spot).")
    p.add_argument("video", help="video file (mp4, avi, ...) or image folder (then pass --fps)")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--checkpoint", default=None, help="spotter checkpoint (default: the shipped data/spotter_lab.pt)")
    p.add_argument("--plot", default=None, help="timeline PNG to write")
    p.add_argument("--truth", default=None, help="events CSV (video, onset, offset[, kind, emotion]) to compare with")
    p.add_argument("--landmarks", default=None, help="(T, 68, 2) iBUG landmarks as .npy, instead of MediaPipe")
    p.add_argument("--fps", type=float, default=None, help="the video's frame rate (image folders, or to override)")
    p.set_defaults(func=_cmd_spot)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"melab {args.command}: error: {exc}", file=sys.stderr)
        return 2
