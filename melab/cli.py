"""The ``melab`` command. Each subcommand is a thin wrapper around a documented function."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_synth(args: argparse.Namespace) -> int:
    import pandas as pd

    from melab.data.synthetic import make_corpus, summarize

    path = make_corpus(args.preset, args.seed, args.out, processes=args.processes)
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
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="melab", description="Micro-expression analysis lab: synthetic data, "
                                     "optical flow, Mamba models, interval decoding and metrics.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="generate (or reuse) a synthetic corpus",
                       description="Generate a synthetic micro-expression corpus under OUT/synthetic/ "
                       "(default OUT: $MELAB_DATA or ~/.cache/melab) and print its counts.")
    p.add_argument("--preset", choices=["tiny", "lab", "bench"], default="lab")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="cache root (default: $MELAB_DATA or ~/.cache/melab)")
    p.add_argument("--processes", type=int, default=None, help="worker processes (default: up to 2)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("demo", help="the main job on the synthetic default, headless",
                       description="Generate the lab corpus, write a contact sheet and a summary table.")
    p.add_argument("--preset", choices=["tiny", "lab", "bench"], default="lab")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="build/demo", help="output folder (default: build/demo)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"melab {args.command}: error: {exc}", file=sys.stderr)
        return 2
