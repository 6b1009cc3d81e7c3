"""The promotion history of an output folder: `history.jsonl`, appended only, one JSON object
per line, one line per published run (compare or rollback). Keys: time, event, run, outcome
(promoted | kept | none), champion (the version after the run), previous (the version before),
winner, challenger (the best model, tested against the champion), arch, metric, metrics
({name: {kind, status, mean, lo, hi}}), reason, data ({path, md5}), params_sha256,
git_commit, gto, and recovered (true when the next run appended the line of a run killed
between its switch and its append)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from schemas.files import read_json, write_json

HISTORY = "history.jsonl"
ENTRY = "history-entry.json"  # in a run folder: its history line, written before the switch
CHUNK = 1 << 20

__all__ = ["ENTRY", "HISTORY", "append", "read_history", "read_json", "reconcile", "write_json"]


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


def reconcile(root: Path) -> None:
    """Append the entry of the `latest` run if a kill stopped it before it did (under the lock)."""
    entry_file = root / "latest" / ENTRY
    if not entry_file.exists():
        return
    entry = read_json(entry_file)
    if entry.get("run") not in {e.get("run") for e in read_history(root)[0]}:
        append(root, {**entry, "recovered": True})


def file_md5(path: Path) -> str | None:
    """The md5 of a file's bytes (what DVC records for a file), None if unreadable."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as f:
            while block := f.read(CHUNK):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def git_commit(where: Path) -> str | None:
    """HEAD of the git work tree around `where`, None outside one."""
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def params_hash(params: dict[str, Any]) -> str:
    """sha256 of the parameters as canonical JSON."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def metric_summary(rows: list[dict[str, Any]], metric: str) -> dict[str, dict[str, Any]]:
    """Each row's mean and 95% interval of the deciding metric (or its status)."""
    out = {}
    for r in rows:
        ci = (r.get("interval") or {}).get(metric) or {}
        out[r["model"]] = {"kind": r["kind"], "status": r["status"], "mean": r.get(metric),
                           "lo": ci.get("lo"), "hi": ci.get("hi")}
    return out


def now() -> str:
    """The local time as history lines record it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def who(line: dict[str, Any]) -> str:
    """A history line's winner, else its challenger in parentheses, else '-'."""
    if line.get("winner"):
        return str(line["winner"])
    return f"({line['challenger']})" if line.get("challenger") else "-"


def entry(event: str, decision: dict[str, Any], rows: list[dict[str, Any]], data: Path,
          params: dict[str, Any]) -> dict[str, Any]:
    """A history line for a run that decided `decision` (without run and versions: `publish`
    adds them)."""
    winner = next((r for r in rows if r["model"] == decision.get("winner")), {})
    return {"time": now(), "event": event,
            "outcome": decision.get("outcome", "none"), "winner": decision.get("winner"),
            "challenger": decision.get("challenger"),
            "arch": winner.get("arch"), "metric": decision.get("metric"),
            "metrics": metric_summary(rows, decision["metric"]) if decision.get("metric") else {},
            "reason": decision.get("reason", ""),
            "data": {"path": str(data), "md5": file_md5(data)},
            "params_sha256": params_hash(params), "git_commit": git_commit(Path.cwd())}
