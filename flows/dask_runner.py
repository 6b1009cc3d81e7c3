"""The Dask task runner (train.runner: dask): prefect-dask's DaskTaskRunner on a local cluster
of single-thread worker processes, or on the scheduler at train.address.

Each training sets its own thread budget and seed (flows/train.py), so a worker runs it as a
process-pool worker would, and the same seed gives the same metrics on either runner. A worker
lost mid-training is replaced by its nanny and Dask runs the training again on a worker that is
alive (`distributed.scheduler.allowed-failures` times at most, then KilledWorker)."""

from __future__ import annotations

import logging
from typing import Any

from prefect.task_runners import TaskRunner

LOST = ("KilledWorker", "FutureCancelledError", "CommClosedError")


def keep_glibc_trim() -> None:
    """Start local workers without the MALLOC_TRIM_THRESHOLD_=65536 that Dask's nanny sets by
    default: glibc then hands memory back to the OS on almost every free, and one GRU training
    took 9.4 s instead of 7.0 s here (benchmarks/results/runners.md)."""
    import dask

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    dask.config.set({"distributed.nanny.pre-spawn-environ": env})


def dask_runner(workers: int, address: str | None) -> TaskRunner:
    """A DaskTaskRunner on `address`, or on a new local cluster of `workers` processes of one
    thread each, without a dashboard, stopped with the runner."""
    from prefect_dask import DaskTaskRunner

    logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO lines drown ours
    if address:
        return DaskTaskRunner(address=address)
    keep_glibc_trim()
    cluster: dict[str, Any] = {"n_workers": workers, "threads_per_worker": 1, "processes": True,
                               "dashboard_address": None, "scheduler_kwargs": {"dashboard": False},
                               "silence_logs": logging.ERROR}
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)


def lost_worker(error: BaseException) -> bool:
    """Whether `error` says the worker running a task was lost (not that the task failed)."""
    return type(error).__name__ in LOST
