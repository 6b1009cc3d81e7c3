"""One run per output folder: an exclusive lock, a private run folder, one atomic publish.

An output folder (`--out`, default `runs/NAME`) looks like this:

    .lock                    held (flock) by the one run working here
    runs/ID/                 everything one run wrote (validation, prepared, models, report...)
    versions/vNNNN/          promoted models: complete, immutable, never rewritten
    latest -> runs/ID        the last complete run: switched by one os.replace
    history.jsonl            one line per published run: what was decided (flows/registry.py)
    report.md -> latest/report.md, metrics.json -> latest/metrics.json, ...   fixed links
    promoted -> latest/promoted -> ../../versions/vNNNN

A run writes only below its own `runs/ID`; it publishes by building that folder completely
(its `promoted` link included) and then swapping `latest` in one `os.replace`. A process
killed at any moment leaves `latest` (and so `promoted`) at the old or the new run, never a
mix; a failed run or a "none" outcome never touches the promoted model. Each run folder also
holds `champion`, a link to the version that was the champion when it started (what it was
challenged against), and `history-entry.json`, its history line, written before the switch and
appended to history.jsonl after it (or, if the run was killed in between, by the next run).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from flows.runs.history import reconcile
from flows.runtime.procs import crash_point
from schemas.errors import UsageError
from schemas.files import read_json, write_json
from schemas.history import ENTRY, HISTORY, append
from schemas.layout import PUBLISHED, WEIGHTS, Layout

KEEP_RUNS = 5  # run folders kept besides the one `latest` points to
VERSION = re.compile(r"^v(\d{4,})$")


def _describe_holder(lock: Path) -> str:
    try:
        text = lock.read_text(encoding="utf-8").strip()
    except OSError:
        return "another seqarena run"
    return f"another seqarena run ({text})" if text else "another seqarena run"


class FolderLock:
    """An exclusive, non-blocking flock on `root/.lock`; the kernel drops it when we die."""

    def __init__(self, root: Path, what: str) -> None:
        self.root, self.what = root, what
        self.path = root / ".lock"
        self._file: IO[str] | None = None

    def __enter__(self) -> FolderLock:
        self.root.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise UsageError(
                f"{self.root}: this output folder is in use by {_describe_holder(self.path)}. "
                "Wait for it to finish, or pass another --out (or out_dir)."
            ) from None
        f.truncate(0)
        f.write(f"pid {os.getpid()}, {self.what}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.truncate(0)
            self._file.close()  # closing the descriptor releases the flock
            self._file = None


def _symlink_replace(target: str, link: Path) -> None:
    """Point `link` at `target` in one atomic step (a new link moved over the old one)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _version_number(path: Path) -> int:
    match = VERSION.match(path.name)
    return int(match.group(1)) if match else -1


def champion_of(root: Path) -> Path | None:
    """The version folder `root/promoted` names (None if none); a link that leads outside
    `root/versions` (replaced by hand) is refused, not followed."""
    link = Layout(root).promoted
    if not link.exists():  # no link, or one to a run that promoted nothing
        return None
    real, versions = Path(os.path.realpath(link)), Path(os.path.realpath(root)) / "versions"
    if real.parent != versions or not VERSION.match(real.name):
        raise UsageError(f"{link}: leads to {real}, not to a version of {root} "
                         f"({versions}/vNNNN); restore it with `seqarena promote --rollback "
                         f"VERSION --out {root}` (versions: seqarena history --out {root}).")
    return real


class RunFolder:
    """The lock, the run folder of this run, and its publication; use as a context manager."""

    def __init__(self, root: Path, what: str) -> None:
        self.root = root
        self.lock = FolderLock(root, what)
        now = time.time()
        micro = int(now * 1e6) % 1_000_000
        self.id = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}.{micro:06d}-{os.getpid()}"
        self.path = root / "runs" / self.id  # names sort by start time
        self.published = False

    def __enter__(self) -> RunFolder:
        self.lock.__enter__()
        try:
            self._clean()
            self.path.mkdir(parents=True)
            champion = self.champion()
            if champion is not None:
                os.symlink(os.path.relpath(champion, self.path), self.layout.champion)
            os.symlink(os.path.relpath(self.root / HISTORY, self.path), self.layout.history)
        except BaseException:
            self.lock.__exit__()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if not self.published and exc_type is not None:
                _mark_failed(self.path, exc)
        finally:
            self.lock.__exit__()

    @property
    def layout(self) -> Layout:
        """Where this run's stages write."""
        return Layout(self.path)

    def champion(self) -> Path | None:
        """The version folder promoted now, if any."""
        return champion_of(self.root)

    def publish(self, entry: dict[str, Any] | None = None,
                restore: Path | None = None) -> Path | None:
        """Version a promoted model (or make the existing version `restore` the champion),
        write this run's history entry, then make this run `latest` in one step; the new
        champion. The entry reaches history.jsonl through `record`."""
        before = self.champion()
        promoted = self.layout.promoted
        if restore is not None:
            version: Path | None = restore
        elif promoted.is_dir() and not promoted.is_symlink() and (promoted / WEIGHTS).exists():
            version = self._new_version(promoted)
        else:
            shutil.rmtree(promoted, ignore_errors=True)
            version = before
        crash_point("publish:versioned")
        if version is not None:
            os.symlink(os.path.relpath(version, self.path), promoted)
        crash_point("publish:linked")
        if entry is not None:  # a decision (compare, rollback), not a validate run
            write_json(self.path / ENTRY, {**entry, "run": self.id, "previous": before.name
                                           if before else None,
                                           "champion": version.name if version else None})
        _symlink_replace(os.path.relpath(self.path, self.root), self.root / "latest")
        self.published = True
        crash_point("publish:switched")
        self._links()
        self._prune()
        return version

    def record(self, **extra: Any) -> dict[str, Any]:
        """Append this published run's history entry (with `extra`) to history.jsonl."""
        entry = {**read_json(self.path / ENTRY), **extra}
        crash_point("publish:recording")
        append(self.root, entry)
        return entry

    def _new_version(self, folder: Path) -> Path:
        versions = self.root / "versions"
        versions.mkdir(exist_ok=True)
        number = max((_version_number(p) for p in versions.iterdir()), default=0) + 1
        target = versions / f"v{number:04d}"
        os.rename(folder, target)  # a complete folder appears under its final name at once
        return target

    def _links(self) -> None:
        """The fixed top-level names, each a link into `latest` (made once, never rewritten)."""
        for name in PUBLISHED:
            link = self.root / name
            if not link.is_symlink():
                if link.exists():  # a file from an older layout: keep it, out of the way
                    legacy = self.root / "runs" / "legacy"
                    legacy.mkdir(parents=True, exist_ok=True)
                    os.replace(link, legacy / name)
                os.symlink(f"latest/{name}", link)

    def _clean(self) -> None:
        """Remove what a killed run left half-made: temporary files, links and folders."""
        for stale in self.root.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        for stale in [*self.root.glob(".promoted-*"), *self.root.glob("versions/.*")]:
            shutil.rmtree(stale, ignore_errors=True)
        reconcile(self.root)

    def _prune(self) -> None:
        """Keep the newest KEEP_RUNS run folders and the one `latest` names."""
        latest = Path(os.path.realpath(self.root / "latest"))
        runs = sorted((p for p in (self.root / "runs").iterdir()
                       if p.is_dir() and p.name != "legacy"), key=lambda p: p.name)
        for old in runs[:-KEEP_RUNS]:
            if old.resolve() != latest:
                shutil.rmtree(old, ignore_errors=True)


def _mark_failed(path: Path, exc: BaseException | None) -> None:
    """Leave a note in a failed run's folder: it is kept for diagnosis, never published."""
    if path.is_dir():
        reason = f"{type(exc).__name__}: {exc}" if exc else "unknown"
        (path / "FAILED").write_text(reason + "\n", encoding="utf-8")

