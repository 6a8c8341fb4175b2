"""Reading weight files from outside safely, with errors that say what to do.

Every checkpoint melab reads goes through :func:`load_weights`: ``torch.load(weights_only=True)``, which
unpickles tensors and plain containers only. Anything else (a truncated file, a folder, an arbitrary
pickled object) gets a message naming the file; melab never offers to unpickle arbitrary objects.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch


def load_weights(path: str | os.PathLike, *, what: str = "checkpoint") -> object:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with clear errors.

    Raises
    ------
    FileNotFoundError : no such file.
    IsADirectoryError : ``path`` is a folder.
    ValueError : the file is truncated or corrupt, or holds objects other than tensors and plain
        containers (which melab refuses to unpickle).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no {what} at {path}; train one with `melab train` or `make artefacts`")
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; give the .pt file inside it (e.g. {path / 'model.pt'})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only load failed" in str(err).lower():
            raise ValueError(f"{what} {path} holds Python objects other than weights (tensors, numbers, strings, "
                             "lists, dicts); melab refuses to unpickle arbitrary objects from a file, as that can run "
                             "any code. Save the weights with torch.save(model.state_dict(), path), or use a melab "
                             "checkpoint") from None
        raise _corrupt(path, what, err) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, UnicodeDecodeError, ValueError) as err:
        raise _corrupt(path, what, err) from None


def _corrupt(path: Path, what: str, err: Exception) -> ValueError:
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    return ValueError(f"{what} {path} ({path.stat().st_size} bytes) is truncated or corrupt ({reason}). Delete it: "
                      "if it is a fold checkpoint of an interrupted `melab train`, rerun with --resume and that fold "
                      "restarts from scratch (or rerun without --resume); if it is a shared model, copy it again")
