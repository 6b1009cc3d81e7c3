"""The commands the app runs for a project: `seqarena validate`, `compare` and `predict`, each
in a child process (the same command line a person would type), one at a time per project.

A child gets SEQARENA_PARENT_PID: it stops when the app stops, however the app dies. Its
output goes to `.app/KIND.log`; `.app/KIND.json` records how the last one ran and ended, so a
page reloaded (or opened again later) finds the run where it is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

from flows.app.projects import APP, Refused
from flows.runs.folders import FolderLock
from schemas.artifacts import ModelCard, read
from schemas.errors import UsageError
from schemas.files import read_json, write_json
from schemas.layout import MODEL_CARD, PROGRESS
from schemas.progress import Progress

KINDS = ("validate", "compare")  # the commands the app runs as jobs (predict waits inline)
STAGES = ("validate", "preprocess", "training", "evaluate", "promote")
STAGE_MARKS = tuple(f"{mark} {s}" for mark in "✓…" for s in STAGES)  # compare's stage lines


class JobState(BaseModel):
    """The last command the app ran in a project."""

    kind: str  # validate | compare | predict
    pid: int
    started: float
    ended: float | None = None
    exit_code: int | None = None
    cancelled: bool = False

    @property
    def running(self) -> bool:
        return self.ended is None


class Training(BaseModel):
    """One training's row on the run screen."""

    key: str  # model/fold-K/seed-S
    step: int
    max_steps: int
    val_loss: float | None
    state: str  # running | done | stopped early at step N


def _job_file(project: Path, kind: str) -> Path:
    return project / APP / f"{kind}.json"


def log_file(project: Path, kind: str) -> Path:
    return project / APP / f"{kind}.log"


class Jobs:
    """The app's children, one at a time per project; reaped by a thread each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[Path, subprocess.Popen[bytes]] = {}

    def start(self, project: Path, kind: str, args: list[str]) -> JobState:
        """Run `seqarena KIND ARGS` for the project; refused while the folder is busy."""
        with self._lock:
            with FolderLock(project, "app check"):  # the CLI's message when a run holds it
                pass
            proc = self._procs.get(project)
            if proc is not None and proc.poll() is None:  # ours, not holding the lock yet
                raise Refused(busy(project, self.state(project)), 409)
            env = {**os.environ, "SEQARENA_PARENT_PID": str(os.getpid()),
                   "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
            with log_file(project, kind).open("wb") as log:
                proc = subprocess.Popen(  # our own CLI, arguments as a list
                    [sys.executable, "-m", "flows.cli", kind, *args], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            state = JobState(kind=kind, pid=proc.pid, started=time.time())
            write_json(_job_file(project, kind), state.model_dump(mode="json"))
            self._procs[project] = proc
        threading.Thread(target=self._reap, args=(project, proc, state), daemon=True,
                         name=f"seqarena-app-{kind}").start()
        return state

    def _reap(self, project: Path, proc: subprocess.Popen[bytes], state: JobState) -> None:
        code = proc.wait()
        with self._lock:
            now = self._read(project, state.kind)
            if now is None or now.pid != state.pid:
                return  # a newer job of this kind owns the file
            write_json(_job_file(project, state.kind), now.model_copy(update={
                "ended": time.time(), "exit_code": code,
                "cancelled": now.cancelled and code != 0,  # a run that finished first counts
            }).model_dump(mode="json"))

    def _read(self, project: Path, kind: str) -> JobState | None:
        try:
            return JobState.model_validate(read_json(_job_file(project, kind)))
        except (OSError, ValueError, ValidationError):
            return None

    def state(self, project: Path, kind: str | None = None) -> JobState | None:
        """The project's last job (of `kind`); one the app lost (it was restarted, or the
        reaper has not written yet) counts as ended."""
        found = [s for k in ([kind] if kind else KINDS) if (s := self._read(project, k))]
        if not found:
            return None
        state = max(found, key=lambda s: s.started)
        proc = self._procs.get(project)
        if state.running and (proc is None or proc.pid != state.pid):
            return state.model_copy(update={"ended": state.started, "exit_code": -1})
        if state.running and proc is not None and (code := proc.poll()) is not None:
            return state.model_copy(update={"ended": time.time(), "exit_code": code,
                                            "cancelled": state.cancelled and code != 0})
        return state

    def cancel(self, project: Path) -> bool:
        """Stop the project's running command as a killed CLI run stops (SIGTERM)."""
        with self._lock:
            proc, state = self._procs.get(project), self.state(project)
            if proc is None or proc.poll() is not None or state is None or not state.running:
                return False
            write_json(_job_file(project, state.kind), state.model_copy(
                update={"cancelled": True}).model_dump(mode="json"))
            proc.send_signal(signal.SIGTERM)
            return True

    def stop_all(self, grace: float = 20.0) -> None:
        """At the app's exit: SIGTERM every running child, then wait for them a while."""
        procs = [p for p in self._procs.values() if p.poll() is None]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def busy(project: Path, state: JobState | None) -> str:
    """The refusal of a second command in a busy project, worded as the CLI's."""
    what = f"pid {state.pid}, {state.kind}" if state else "a command of the app"
    return (f"{project}: this output folder is in use by another seqarena run ({what}). "
            "Wait for it to finish, or pass another --out (or out_dir).")


def log_tail(project: Path, kind: str, lines: int = 40) -> list[str]:
    """The last lines the command printed."""
    try:
        text = log_file(project, kind).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def stage(lines: list[str]) -> str | None:
    """The stage in progress or done last, as the command printed it."""
    marked = [line for line in lines if line.startswith(STAGE_MARKS)]
    return marked[-1] if marked else None


def error_of(lines: list[str]) -> str | None:
    """The command's error as it printed it (`error: ...` and the lines after it, or the
    interrupt line)."""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(("error: ", "terminated", "interrupted")):
            return "\n".join(lines[i:])
    return None


def run_folder(project: Path, state: JobState) -> Path | None:
    """The run folder the child works in (run IDs end with the PID of the run)."""
    found = sorted((project / "runs").glob(f"*-{state.pid}"))
    return found[-1] if found else None


def trainings(run: Path | None) -> list[Training]:
    """Every training that started in the run: progress while it runs, its card once done."""
    if run is None:
        return []
    rows = []
    for folder in sorted((run / "models").glob("*/fold-*/seed-*")):
        key = folder.relative_to(run / "models").as_posix()
        try:
            if (folder / MODEL_CARD).exists():
                card = read(ModelCard, folder / MODEL_CARD)
                state = ("stopped early at step " f"{card.steps:,}"
                         if card.stopped == "early_stopping" else "done")
                budget = int(card.budget.get("max_steps", card.steps) or card.steps)
                rows.append(Training(key=key, step=card.steps, max_steps=max(budget, 1),
                                     val_loss=card.best_val_loss, state=state))
            elif (folder / PROGRESS).exists():
                p = Progress.model_validate(read_json(folder / PROGRESS))
                rows.append(Training(key=key, step=p.step, max_steps=p.max_steps,
                                     val_loss=p.val_loss, state="running"))
        except (OSError, ValueError, ValidationError, UsageError):
            continue  # mid-write: the next poll reads it
    return rows
