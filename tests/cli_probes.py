"""What the hostile-input tests share: the command line run in-process, and a folder's bytes."""

from __future__ import annotations

from pathlib import Path

from melab.cli import main


def run(argv: list, capsys) -> tuple[int, str]:
    """``melab ARGV`` in-process: (exit status, stderr). argparse errors exit with status 2 too."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to prove that nothing was written or overwritten."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
