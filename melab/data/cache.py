"""A cached folder (a synthetic corpus) that proves it is whole before it is served.

:func:`write_manifest` records the size of every file when the folder is made; :func:`manifest_problem`
checks them on every cache hit, so a folder that lost a file (a deleted video, a half-copied tree, a full
disk) is noticed and rebuilt instead of being used as if whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from melab.atomic import write_text

MANIFEST = "manifest.json"


def _sizes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def write_manifest(folder: str | os.PathLike) -> Path:
    """Write ``folder/manifest.json``: the relative path and size in bytes of every file in it."""
    folder = Path(folder)
    files = _sizes(folder)
    return write_text(folder / MANIFEST, json.dumps({"files": files, "n_files": len(files)}, indent=0,
                                                     sort_keys=True))


def manifest_problem(folder: str | os.PathLike) -> str | None:
    """``None`` when every file of the manifest is there with its size; otherwise what is wrong (first 3)."""
    folder = Path(folder)
    try:
        files = json.loads((folder / MANIFEST).read_text())["files"]
    except FileNotFoundError:
        return f"no {MANIFEST}"
    except (ValueError, KeyError, TypeError) as err:
        return f"unreadable {MANIFEST} ({err})"
    problems, gone = [], {}
    for name, size in files.items():
        path = folder / name
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            parent = path.parent.relative_to(folder).as_posix()
            if not path.parent.is_dir():  # a whole folder is gone: name it once
                gone[parent] = gone.get(parent, 0) + 1
            else:
                problems.append(f"{name} is missing")
            continue
        if actual != size:
            problems.append(f"{name} has {actual} bytes instead of {size}")
    problems = [f"folder {name}/ is missing ({n} files)" for name, n in gone.items()] + problems
    if not problems:
        return None
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + more
