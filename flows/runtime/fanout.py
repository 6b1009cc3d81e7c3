"""The one fan-out: every training (model x fold x seed) is an independent Prefect task
submitted to one task runner, largest models first. The runner is chosen here only
(train.runner): the process pool, or Dask (flows/runtime/dask_runner.py); the stages never know."""

from __future__ import annotations

import logging
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from prefect.futures import as_completed
from prefect.task_runners import TaskRunner

from flows.runtime.dask_runner import dask_failure, dask_runner
from flows.runtime.procs import cores, fork_server
from flows.runtime.progress import Board
from flows.runtime.server import OwnedProcessPool
from schemas.config import Config
from schemas.layout import Job, Layout

log = logging.getLogger("seqarena")


def task_runner(cfg: Config, jobs: int, task: Any) -> TaskRunner:
    """The runner for `jobs` runs of `task`: a process pool, or a Dask cluster, of
    train.workers (0: one per core)."""
    workers = max(1, min(cfg.train.workers or cores(), jobs))
    if cfg.train.runner == "dask":
        return dask_runner(workers, cfg.train.address)
    return OwnedProcessPool(max_workers=workers, preload=preload(task))


def preload(task: Any) -> tuple[str, ...]:
    """What a training worker imports before it is forked: the task's own module."""
    return (task.fn.__module__,)


def warm_workers(cfg: Config, task: Any) -> None:
    """Start the process pool's fork server now, so that its imports overlap the stages
    before training (a no-op for Dask, whose workers are started by their cluster)."""
    if cfg.train.runner != "dask":
        fork_server(preload(task))


def model_size(cfg: Config, name: str) -> int:
    """Parameters of model `name` for one input, one output and 32 input steps (only the
    linear forecaster's size depends on them), from shapes only."""
    import torch

    from modules.lit import build_module

    with torch.device("meta"):  # no memory, however large the model
        module = build_module("forecast", cfg.models[name], n_features=1, n_out=1, lookback=32)
    return sum(p.numel() for p in module.parameters())


def largest_first(cfg: Config, jobs: list[Job]) -> list[Job]:
    """Jobs by parameter count, largest first: long jobs start early, so the parallel
    makespan is shorter (longest-processing-time-first scheduling)."""
    sizes = {name: model_size(cfg, name) for name in {j.name for j in jobs}}
    return sorted(jobs, key=lambda j: (-sizes[j.name], j.name, j.fold, j.seed))


def _round(cfg: Config, layout: Layout, task: Any, jobs: list[Job], failures: dict[str, str],
           runner: TaskRunner) -> list[Job]:
    """Run `jobs` on one runner; return those whose worker process died."""
    died: list[Job] = []
    with runner, Board(layout, jobs) as board:
        futures = {runner.submit(task, {"cfg": cfg, "layout": layout, "job": j}): j for j in jobs}
        for future in as_completed(list(futures)):
            job = futures[future]
            try:
                result = future.result(raise_on_failure=False)
            except BrokenProcessPool:  # a worker died hard: killed, out of memory
                died.append(job)
                board.end(job, None, failed=True)
                continue
            except Exception as error:  # Dask gave up: its workers kept dying, or no scheduler
                if (why := dask_failure(error)) is None:
                    raise
                result = RuntimeError(why)
            failed = isinstance(result, BaseException)
            board.end(job, None if failed else result["steps"], failed)
            if failed:
                failures[job.key] = f"{type(result).__name__}: {result}"
                log.info("✗ %-28s failed: %s", job.key, failures[job.key])
            else:
                failures.pop(job.key, None)
                log.info("✓ %-28s %6.1f s, %d steps (best %d), %s params", job.key,
                         result["train_seconds"], result["steps"], result["best_step"],
                         f"{result['params']:,}")
    return died


def run_jobs(cfg: Config, layout: Layout, task: Any, jobs: list[Job]) -> dict[str, str]:
    """Run every job in run folder `layout`; return {job key: error} for those that failed.

    A worker that dies (killed, out of memory) breaks its whole pool, so every job still in
    that pool runs again, each alone on a fresh runner: the others never pay for one crash,
    and a job whose process dies twice is reported as failed.
    """
    failures: dict[str, str] = {}
    ordered = largest_first(cfg, jobs)
    died = _round(cfg, layout, task, ordered, failures, task_runner(cfg, len(ordered), task))
    for job in died:
        log.info("! %-28s its training process died; training it again alone", job.key)
        if _round(cfg, layout, task, [job], failures, task_runner(cfg, 1, task)):
            failures[job.key] = ("its training process died twice (killed, or out of "
                                 "memory); try a smaller model or train.batch_size")
            log.info("✗ %-28s failed: %s", job.key, failures[job.key])
    return failures
