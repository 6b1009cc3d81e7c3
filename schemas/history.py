"""The promotion history of an output folder: `history.jsonl`, appended only, one JSON object
per line, one line per published run (compare or rollback). Keys: time, event, run, outcome
(promoted | kept | none), champion (the version after the run), previous (the version before),
winner, challenger (the best model, tested against the champion), arch, metric, metrics
({name: {kind, status, mean, lo, hi}}), reason, data ({path, md5}), params_sha256,
git_commit, gto, and recovered (true when the next run appended the line of a run killed
between its switch and its append)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

HISTORY = "history.jsonl"
ENTRY = "history-entry.json"  # in a run folder: its history line, written before the switch


def append(root: Path, entry: dict[str, Any]) -> None:
    """One line, in one write (O_APPEND); a line a crash cut short is ended first."""
    path = root / HISTORY
    line = json.dumps(entry, sort_keys=True, default=str) + "\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_history(root: Path) -> tuple[list[dict[str, Any]], int]:
    """Every whole entry, oldest first, and how many lines were unreadable (cut by a crash)."""
    path = root / HISTORY
    if not path.exists():
        return [], 0
    entries, broken = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except (ValueError, RecursionError):  # cut by a crash, or damaged by hand
            broken += 1
    return entries, broken


def who(line: dict[str, Any]) -> str:
    """A history line's winner, else its challenger in parentheses, else '-'."""
    if line.get("winner"):
        return str(line["winner"])
    return f"({line['challenger']})" if line.get("challenger") else "-"
