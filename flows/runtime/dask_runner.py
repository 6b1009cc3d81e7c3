"""The Dask task runner (train.runner: dask): prefect-dask's DaskTaskRunner on a local cluster
of single-thread worker processes, or on the scheduler at train.address.

Each training sets its own thread budget and seed (flows/stages/train/stage.py), so the same
seed gives the same metrics as on the process pool. A worker lost mid-training is replaced by
its nanny and Dask runs the training again on a live worker,
`distributed.scheduler.allowed-failures` (3) times at most;
then the training is reported failed (KilledWorker)."""

from __future__ import annotations

import logging
import os
from typing import Any

from prefect.task_runners import TaskRunner
from prefect_dask import DaskTaskRunner

SPAWN_ENV = "distributed.nanny.pre-spawn-environ"


class LocalDaskRunner(DaskTaskRunner):
    """A DaskTaskRunner whose local cluster's settings last as long as the runner: workers
    start without Dask's MALLOC_TRIM_THRESHOLD_=65536 (glibc then hands memory back to the OS
    on almost every free; one GRU training took 9.4 s instead of 7.0 s here), and what the
    in-process nannies write into os.environ (OMP_NUM_THREADS=1 and the like) is undone."""

    def __enter__(self) -> LocalDaskRunner:
        import dask

        self._environ = dict(os.environ)
        spawn = dict(dask.config.get(SPAWN_ENV, {}))
        spawn.pop("MALLOC_TRIM_THRESHOLD_", None)
        self._config = dask.config.set({SPAWN_ENV: spawn})
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self._config.__exit__(None, None, None)
            for key in set(os.environ) - set(self._environ):
                del os.environ[key]
            os.environ.update(self._environ)


def dask_runner(workers: int, address: str | None) -> TaskRunner:
    """A DaskTaskRunner on `address`, or on a new local cluster of `workers` processes of one
    thread each, without a dashboard or a memory limit (a training is never killed for
    memory the process pool would have let it use), stopped with the runner."""
    logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO lines drown ours
    if address:
        return DaskTaskRunner(address=address)
    cluster: dict[str, Any] = {"n_workers": workers, "threads_per_worker": 1, "processes": True,
                               "memory_limit": 0, "dashboard_address": None,
                               "scheduler_kwargs": {"dashboard": False},
                               "silence_logs": logging.ERROR}
    return LocalDaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)


def dask_failure(error: BaseException) -> str | None:
    """Why Dask gave up on a training, in words; None when `error` is not Dask's."""
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    if isinstance(error, KilledWorker):
        return ("every Dask worker that ran it died (killed, or out of memory; Dask tried "
                "distributed.scheduler.allowed-failures + 1 times): try a smaller model or "
                "train.batch_size")
    if isinstance(error, (FutureCancelledError, CommClosedError)):
        return f"the Dask scheduler was lost ({type(error).__name__}: {error})"
    return None
