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


def dask_runner(workers: int, address: str | None) -> TaskRunner:
    """A DaskTaskRunner on `address`, or on a new local cluster of `workers` processes of one
    thread each, without a dashboard, stopped with the runner."""
    from prefect_dask import DaskTaskRunner

    logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO lines drown ours
    if address:
        return DaskTaskRunner(address=address)
    cluster: dict[str, Any] = {"n_workers": workers, "threads_per_worker": 1, "processes": True,
                               "dashboard_address": None, "scheduler_kwargs": {"dashboard": False},
                               "silence_logs": logging.ERROR}
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)


def lost_worker(error: BaseException) -> bool:
    """Whether `error` says the worker running a task was lost (not that the task failed)."""
    return type(error).__name__ in LOST
