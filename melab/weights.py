"""Reading weight files from outside safely, with errors that say what to do.

Every checkpoint melab reads goes through :func:`load_weights`: ``torch.load(weights_only=True)``, which
unpickles tensors and plain containers only. Anything else (a truncated file, a folder, an arbitrary
pickled object) gets a message naming the file; melab never offers to unpickle arbitrary objects.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import zipfile
from collections.abc import Mapping
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


def _kind_of(default: object) -> str | None:
    """What a config value must be, from its default: the check :func:`config_from` applies."""
    for kind, types in (("a true/false flag", bool), ("a whole number", int), ("a number", float), ("a text", str)):
        if isinstance(default, types):
            return kind
    return "a list" if isinstance(default, (tuple, list)) else None


def _fits(value: object, default: object) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1 << 20
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list)) and all(_fits(v, default[0]) for v in value) if default else True
    return True


def config_from(cls: type, raw: object, *, source: str) -> object:
    """Build a config dataclass (``SpotterConfig``, ``MERbaConfig``) from a checkpoint's ``config`` entry, checked.

    A checkpoint can hold anything a weights-only load allows: the entry must be a mapping of the dataclass' own
    fields, each of the kind its default has (a whole number from 0 to 2^20 where the default is one, a finite
    number, a flag, a text, a list), and the dataclass must accept it.

    Raises
    ------
    ValueError naming ``source`` and the offending field.
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f"{source}: its config is {type(raw).__name__}, not a mapping of {cls.__name__} fields")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(map(str, set(raw) - fields))
    if unknown:
        raise ValueError(f"{source}: its config has fields that {cls.__name__} does not know ({', '.join(unknown)}); "
                         "was it written by another version of melab?")
    default = cls()
    for name, value in raw.items():
        expected = getattr(default, name)
        if not _fits(value, expected):
            raise ValueError(f"{source}: its config gives {name}={value!r}, which is not {_kind_of(expected)}"
                             f"{' from 0 to 2^20' if _kind_of(expected) == 'a whole number' else ''}")
    try:  # a from_dict fills what older checkpoints lack (SpotterConfig: the input they were trained on)
        return cls.from_dict(raw) if hasattr(cls, "from_dict") else cls(**raw)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: its config does not describe a {cls.__name__} ({err})") from None
