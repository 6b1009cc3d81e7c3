"""The app's projects: one output folder per upload below the root, every path kept inside it.

    ROOT/NAME/                 an output folder, as `seqarena compare FILE --out ROOT/NAME`
    ROOT/NAME/.app/upload/F    the uploaded file, under a safe name
    ROOT/NAME/.app/settings.json   the check form (flows/app/settings.py)
    ROOT/NAME/.app/KIND.json, .app/KIND.log  the last validate / compare the app ran, its output
    ROOT/NAME/.app/predict/ID/   a prediction: the uploaded file and predictions.csv
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from flows.runs.folders import champion_of
from schemas.errors import UsageError
from schemas.files import read_json
from schemas.history import read_history

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")
SUFFIXES = (".csv.gz", ".csv", ".parquet")  # longest first: .csv.gz is not .gz
APP = ".app"


class Refused(UsageError):
    """A request the app turns down, with the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def suffix_of(filename: str) -> str:
    """The data suffix of a file name (.csv, .csv.gz, .parquet), or a refusal."""
    lower = filename.lower()
    for suffix in SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return suffix
    raise Refused(f"{filename!r}: not a data file seqarena reads; upload CSV (.csv), gzipped "
                  "CSV (.csv.gz) or Parquet (.parquet).", 415)


def safe_filename(filename: str) -> str:
    """The upload's name with only letters, digits, '.', '_' and '-' (no folders, not hidden)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    suffix = suffix_of(base)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", base[: -len(suffix)]).strip("_-")[:48]
    return (stem if NAME.fullmatch(stem) else "data") + suffix


def inside(root: Path, path: Path) -> Path:
    """`path` if it resolves inside `root` (links followed), else a refusal."""
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise Refused(f"{path.name}: outside the projects folder", 404)
    return real


def project_dir(root: Path, name: str) -> Path:
    """The project folder `name` below `root`: an existing folder, not a link out."""
    if not NAME.fullmatch(name):
        raise Refused(f"{name!r}: no such project", 404)
    path = root / name
    if path.is_symlink() or not path.is_dir():
        raise Refused(f"{name!r}: no such project", 404)
    real = inside(root, path)
    if linked := links(real):  # the app writes and reads there: a link could lead out
        raise Refused(f"{name!r}: {linked[0].relative_to(real)} is a link; the app serves "
                      "only projects it made (remove the link)", 404)
    return real


def links(project: Path) -> list[Path]:
    """The links among the paths the app writes or reads in a project."""
    app = project / APP
    found = [p for p in (app, app / "upload", project / "runs", project / ".lock")
             if p.is_symlink()]
    for folder in (app, app / "upload"):
        if folder.is_dir() and not folder.is_symlink():
            found += [p for p in folder.iterdir() if p.is_symlink()]
    return found


def new_project(root: Path, filename: str) -> Path:
    """A new, empty project folder named after the upload (forecast, forecast-2, ...)."""
    root.mkdir(parents=True, exist_ok=True)
    stem = safe_filename(filename)  # a name that NAME accepts, with its suffix
    stem = stem[: -len(suffix_of(stem))].replace(".", "_")[:40]
    for i in range(1, 10_000):
        path = root / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir()  # atomic: two uploads of one name get two folders
        except FileExistsError:
            continue
        (path / APP / "upload").mkdir(parents=True)
        return path
    raise Refused(f"{stem}: too many projects of this name; rename the file", 409)


def upload_of(project: Path) -> Path | None:
    """The project's uploaded data file."""
    files = sorted((project / APP / "upload").glob("*"))
    return files[0] if files else None


@dataclass(frozen=True)
class ProjectRow:
    """One line of the projects screen."""

    name: str
    data: str
    champion: str | None  # vNNNN (winner)
    last: str  # the last decision in words
    when: str  # its time, or the upload's


def describe(root: Path, project: Path) -> ProjectRow:
    """The project's champion, last decision and date."""
    data = upload_of(project)
    try:
        version = champion_of(project)
    except UsageError:
        version = None
    champion = None
    if version is not None:
        try:
            winner = read_json(version / "decision.json").get("winner") or "?"
        except (OSError, ValueError, AttributeError):  # a damaged file: the list still shows
            winner = "?"
        champion = f"{version.name} ({winner})"
    lines, _ = read_history(project)
    if lines:
        last_line = lines[-1]
        last = f"{last_line.get('event', '')}: {last_line.get('outcome', '')}"
        if last_line.get("winner"):
            last += f", {last_line['winner']}"
        when = str(last_line.get("time", ""))[:19].replace("T", " ")  # any JSON value
    else:
        last = "no comparison yet"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((data or project).stat().st_mtime))
    return ProjectRow(project.name, data.name if data else "-", champion, last, when)


def projects(root: Path) -> list[ProjectRow]:
    """Every project below the root, newest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir()
             if NAME.fullmatch(p.name) and p.is_dir() and not p.is_symlink()]
    found.sort(key=lambda p: os.stat(p).st_mtime, reverse=True)
    return [describe(root, p) for p in found]
