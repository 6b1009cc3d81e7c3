"""Live progress of a fan-out's trainings, read from the progress files their workers write
(schemas/progress.py): one line per training, redrawn by rich twice a second when stderr is
a terminal, plain lines (at most one per training every 10 s) when it is not; and a Prefect
progress artifact (steps done of every budget) on the flow run's page."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from schemas.layout import Job, Layout
from schemas.progress import Progress

log = logging.getLogger("seqarena")
POLL_S, PLAIN_S, ARTIFACT_S = 0.5, 10.0, 5.0


@dataclass
class Line:
    """What is known of one training: its latest progress, and how it ended."""

    progress: Progress | None = None
    ended: str | None = None  # "done", "stopped early at step N", "failed"
    printed: float = -PLAIN_S  # when its last plain line was printed

    def describe(self) -> str:
        """Steps, pace and validation loss in words."""
        p = self.progress
        if p is None:
            return self.ended or "waiting for a worker"
        val = f"val loss {p.val_loss:.4g}" if p.val_loss is not None else "no check yet"
        if self.ended:
            return f"{self.ended} · {val}"
        pace = f"{p.step / p.seconds:.0f} steps/s" if p.step and p.seconds > 0 else "started"
        return f"step {p.step:,}/{p.max_steps:,} · {pace} · {val}"


def read_progress(layout: Layout, job: Job) -> Progress | None:
    """The training's latest progress file, or None (not started, finished, or mid-write)."""
    try:
        return Progress.model_validate_json(layout.progress(job).read_bytes())
    except (OSError, ValidationError):
        return None


class Board:
    """`with Board(layout, jobs) as board:` shows the trainings while the block runs;
    `board.end(job, ...)` records how one ended."""

    def __init__(self, layout: Layout, jobs: list[Job], live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.layout, self.clock = layout, clock
        self.lines = {job: Line() for job in jobs}
        self.live = sys.stderr.isatty() if live is None else live
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=contextvars.copy_context().run,
                                        args=(self._loop,), daemon=True)
        self._artifact: Any = None

    def end(self, job: Job, steps: int | None, failed: bool = False) -> None:
        """Training `job` ended after `steps` optimizer steps (or failed)."""
        with self._lock:
            line = self.lines[job]
            budget = line.progress.max_steps if line.progress else None
            if failed:
                line.ended = "failed"
            elif steps is not None and budget is not None and steps < budget:
                line.ended = f"stopped early at step {steps:,}"
            else:
                line.ended = "done"
            if line.progress and steps is not None:
                line.progress = line.progress.model_copy(update={"step": steps})

    def poll(self) -> None:
        """Read every running training's progress file; print plain lines when due."""
        now = self.clock()
        for job, line in self.lines.items():
            if line.ended:
                continue
            if (p := read_progress(self.layout, job)) is not None:
                with self._lock:
                    if not line.ended:
                        line.progress = p
            if not self.live and line.progress and now - line.printed >= PLAIN_S:
                line.printed = now
                log.info("… %-28s %s", job.key, line.describe())

    def fraction(self) -> float:
        """Optimizer steps done of every training's budget (an ended one counts as whole; one
        not started yet has the mean budget of those that have)."""
        known = [line.progress.max_steps for line in self.lines.values() if line.progress]
        if not known:
            return 0.0
        guess, done, total = sum(known) / len(known), 0.0, 0.0
        for line in self.lines.values():
            budget = line.progress.max_steps if line.progress else guess
            total += budget
            done += budget if line.ended else (line.progress.step if line.progress else 0)
        return done / total

    def table(self) -> Group:
        """One row per training: a bar of steps done of the budget, and its state."""
        grid = Table.grid(padding=(0, 2))
        for _ in range(3):
            grid.add_column()
        for job, line in self.lines.items():
            p = line.progress
            bar = ProgressBar(total=p.max_steps if p else 1, completed=p.step if p else 0,
                              width=24, finished_style="green" if line.ended != "failed" else "red")
            grid.add_row(Text(job.key), bar, Text(line.describe()))
        ended = sum(1 for line in self.lines.values() if line.ended)
        head = Text(f"training: {ended} of {len(self.lines)} done, "
                    f"{100 * self.fraction():.0f}% of the step budget", style="bold")
        return Group(head, grid)

    def _artifact_update(self) -> None:
        """Create, then update, the run page's progress artifact (skipped without an API)."""
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        with contextlib.suppress(Exception):  # no API (a bare stage run): no artifact
            if self._artifact is None:
                self._artifact = create_progress_artifact(
                    100 * self.fraction(), key="seqarena-training",
                    description="seqarena: optimizer steps done of every training's budget")
            else:
                update_progress_artifact(self._artifact, 100 * self.fraction())

    def _loop(self) -> None:
        shown = Live(get_renderable=self.table, console=Console(stderr=True),
                     refresh_per_second=2, transient=True) if self.live else None
        with shown or contextlib.nullcontext():
            last = -ARTIFACT_S
            while not self._stop.wait(POLL_S):
                self.poll()
                if self.clock() - last >= ARTIFACT_S:
                    last = self.clock()
                    self._artifact_update()
        self._artifact_update()

    def __enter__(self) -> Board:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
