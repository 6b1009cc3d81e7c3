"""Atomic writes and JSON: how every artifact reaches the disk."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore, once, at import
    os.umask(mask)
    return mask


UMASK = read_umask()
FILE_MODE = 0o666 & ~UMASK  # what open() gives a new file; mkstemp gives 0600
DIR_MODE = 0o777 & ~UMASK  # what mkdir gives a new folder; mkdtemp gives 0700


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """A new uniquely named folder in `parent`, with the mode of any folder the user makes."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    os.chmod(path, DIR_MODE)
    return path


def atomic_write(path: Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` then move tmp over `path`, so a crash never leaves half a file.
    The file gets the usual mode for the umask (mkstemp's 0600 would hide it from the group)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write text atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: Path, obj: Any) -> Path:
    """Write JSON atomically, keys in insertion order, NaN and ±inf as null (valid JSON)."""
    return write_text(path, json.dumps(_finite(obj), indent=2) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))




def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):  # NaN, inf are not valid JSON
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
