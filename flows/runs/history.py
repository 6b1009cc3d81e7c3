"""Writing the promotion history (its format: schemas/history.py): a run's line, with the data's
md5, the parameters' hash and the git commit, and the line of a run a kill stopped early."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from schemas.artifacts import Row
from schemas.files import read_json
from schemas.history import ENTRY, append, read_history

CHUNK = 1 << 20


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


def metric_summary(rows: list[Row], metric: str) -> dict[str, dict[str, Any]]:
    """Each row's mean and 95% interval of the deciding metric (or its status)."""
    out = {}
    for r in rows:
        ci = r.interval.get(metric)
        out[r.model] = {"kind": r.kind, "status": r.status, "mean": getattr(r, metric),
                        "lo": ci.lo if ci else None, "hi": ci.hi if ci else None}
    return out


def now() -> str:
    """The local time as history lines record it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def entry(event: str, decision: dict[str, Any], rows: list[Row], data: Path,
          params: dict[str, Any]) -> dict[str, Any]:
    """A history line for a run that decided `decision` (without run and versions: `publish`
    adds them)."""
    winner = next((r for r in rows if r.model == decision.get("winner")), None)
    return {"time": now(), "event": event,
            "outcome": decision.get("outcome", "none"), "winner": decision.get("winner"),
            "challenger": decision.get("challenger"),
            "arch": winner.arch if winner else None, "metric": decision.get("metric"),
            "metrics": metric_summary(rows, decision["metric"]) if decision.get("metric") else {},
            "reason": decision.get("reason", ""),
            "data": {"path": str(data), "md5": file_md5(data)},
            "params_sha256": params_hash(params), "git_commit": git_commit(Path.cwd())}
