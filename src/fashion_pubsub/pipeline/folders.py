"""Moving files without ever overwriting one: `name`, else `name-1`, `name-2`, ..."""

import os
from collections.abc import Iterator
from pathlib import Path


def move_unique(path: Path, folder: Path) -> Path:
    """Move `path` into `folder` under its name, or a numbered variant if that is taken."""
    for candidate in _candidates(folder, path.name):
        try:
            _link(path, candidate)  # fails if the name exists: no overwrite, even in a race
        except FileExistsError:
            continue
        except OSError:  # no hard links (other file system): rename after an existence check
            if candidate.exists():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(path, candidate)
            return candidate
        path.unlink()
        return candidate
    raise FileExistsError(f"no free name for {path.name} in {folder}")


def _link(path: Path, target: Path) -> None:
    try:
        os.link(path, target)
    except FileNotFoundError:
        if not path.exists():
            raise
        target.parent.mkdir(parents=True, exist_ok=True)  # only when missing: once per folder
        os.link(path, target)


def _candidates(folder: Path, name: str) -> Iterator[Path]:
    yield folder / name
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    extension = f".{suffix}" if suffix else ""
    for i in range(1, 10_000):
        yield folder / f"{stem}-{i}{extension}"
