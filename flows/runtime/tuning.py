"""train.tune on the one fan-out: rounds of trials (Prefect tasks on the process pool or
Dask, like the trainings), then each model's chosen settings for the trainings. The study
and tuning.json live in the run folder, published only with the whole run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any

from prefect.futures import as_completed
from prefect.task_runners import TaskRunner

from flows.runtime.dask_runner import dask_failure
from flows.runtime.fanout import task_runner
from flows.runtime.procs import cores
from schemas.artifacts import read_state, write
from schemas.config import Config
from schemas.layout import Layout
from schemas.tuning import Ticket, TrialRecord, Tuning

log = logging.getLogger("seqarena")
MARK = {"complete": "✓", "pruned": "✂", "skipped": "-", "failed": "✗"}


class TrialPool:
    """One task runner for every round of trials; a fresh one after a worker died."""

    def __init__(self, cfg: Config, layout: Layout, task: Any, workers: int) -> None:
        self.cfg, self.layout, self.task, self.workers = cfg, layout, task, workers
        self.runner: TaskRunner | None = None

    def __enter__(self) -> TrialPool:
        self.runner = task_runner(self.cfg, self.workers, self.task).__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.runner is not None:
            self.runner.__exit__(kind, exc, tb)
            self.runner = None

    def round(self, tickets: list[Ticket]) -> Iterator[TrialRecord]:
        """Run `tickets` in parallel; each one's record. A dead worker breaks the pool: its
        trials run again, each alone in a fresh one (failed if it dies again)."""
        ran = self._run(tickets)
        yield from (record for _, record in ran if record is not None)
        for ticket in (t for t, record in ran if record is None):
            log.info("! trial %-14s #%-3d its process died; running it again alone",
                     ticket.model, ticket.number)
            [(_, record)] = self._run([ticket])
            yield record or self._log(_failed(ticket, "its process died twice (killed, or "
                                              "out of memory)"))

    def _run(self, tickets: list[Ticket]) -> list[tuple[Ticket, TrialRecord | None]]:
        """Each ticket's record (None: its process died); a broken pool is replaced."""
        assert self.runner is not None
        args = {"cfg": self.cfg, "layout": self.layout}
        futures = {self.runner.submit(self.task, {**args, "ticket": t}): t for t in tickets}
        out: list[tuple[Ticket, TrialRecord | None]] = []
        for future in as_completed(list(futures)):
            ticket = futures[future]
            try:
                result = future.result(raise_on_failure=False)
            except BrokenProcessPool:
                out.append((ticket, None))
                continue
            except Exception as error:
                if (why := dask_failure(error)) is None:
                    raise
                result = RuntimeError(why)
            out.append((ticket, self._log(result if isinstance(result, TrialRecord) else
                                          _failed(ticket, f"{type(result).__name__}: {result}"))))
        if any(r is None for _, r in out):  # the next round gets a fresh pool
            self.__exit__(None, None, None)
            self.__enter__()
        return out

    @staticmethod
    def _log(record: TrialRecord) -> TrialRecord:
        """Log a trial's end; the record."""
        log.info("%s trial %-14s #%-3d %s", MARK[record.state], record.model, record.number,
                 _said(record))
        return record


def _failed(ticket: Ticket, why: str) -> TrialRecord:
    """The record of a trial that did not finish."""
    return TrialRecord(model=ticket.model, number=ticket.number, state="failed",
                       spec=ticket.spec, params=ticket.params, seed=ticket.seed,
                       fold=ticket.fold, note=why)


def _said(record: TrialRecord) -> str:
    """A trial's end in a few words, for the log."""
    if record.seed is not None:  # a confirmation run
        return (f"seed {record.seed}, fold {record.fold}: "
                + _said(record.model_copy(update={"seed": None})))
    if record.state in ("skipped", "failed"):
        return record.note
    loss = f"val loss {record.val_loss:.4g}" if record.val_loss is not None else "no val loss"
    return (f"{loss}, {record.steps} steps, {record.seconds:.1f} s, {record.params:,} params"
            + (f" ({record.note})" if record.note else ""))


def chosen(cfg: Config, tuning: Tuning) -> Config:
    """`cfg` with each model's best trial's spec (a model without one stays as configured)."""
    specs = {arm.model: arm.chosen.spec for arm in tuning.arms if arm.chosen}
    return cfg.model_copy(update={"models": {n: specs.get(n, s) for n, s in cfg.models.items()}})


def tune(cfg: Config, layout: Layout, task: Any) -> Config:
    """train.tune.trials trials per model on the fan-out (`task` trains one Ticket); write
    tuning/tuning.json; `cfg` with every model's chosen settings."""
    from modules.tuner import Tuner

    trials = cfg.train.tune.trials
    tuner = Tuner(cfg.models, cfg.train, layout.study, read_state(layout))
    log.info("… tuning %d models x %d trials each (train and val splits of fold %d%s)",
             len(cfg.models), trials, tuner.fold, ", the earliest origin" if tuner.fold else "")
    workers = max(1, min(cfg.train.workers or cores(), len(cfg.models) * trials))
    with TrialPool(cfg, layout, task, workers) as pool:
        tuner.run(max(1, workers // len(cfg.models)), pool.round)
    result = tuner.result(cfg.train.seed)
    write(layout.trials, result)
    return chosen(cfg, result)
