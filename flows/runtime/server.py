"""Prefect's process pool and embedded API server, owned by the run that starts them.

- Training workers are forked from a fork server (flows.runtime.procs.fork_server), watch the
  run's PID (watch_parent) and are killed at once, not awaited, when the run stops early.
- The embedded API server dies with the run (PR_SET_PDEATHSIG) and is stopped on every exit
  path; it is given a generous start-up limit, since its first start migrates a database.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import ProcessPoolTaskRunner, _initialize_process_pool_worker

from flows.runtime.procs import (
    die_with_parent,
    fork_server,
    kill_workers,
    start_args,
    start_worker,
)

STARTUP_TIMEOUT_S = 300  # Prefect's default is 20 s: too short on a busy machine
TIMEOUT_VAR = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


class OwnedProcessPool(ProcessPoolTaskRunner):
    """Prefect's process pool whose workers watch the run and are killed, not awaited, when
    the block using the pool ends with an exception (Ctrl-C, SIGTERM, a failure)."""

    def __init__(self, max_workers: int | None = None, preload: tuple[str, ...] = ()) -> None:
        super().__init__(max_workers=max_workers, initializer=start_worker)
        self._preload = preload

    def __enter__(self) -> OwnedProcessPool:
        """Prefect's pool, its executor swapped for one that gives every task a fresh worker
        process (max_tasks_per_child=1): each training alone in its process, so its memory
        peak and its state are its own. Workers are forked from a fork server that imported
        `preload` once (fork_server), not spawned: a spawn re-imports torch, Lightning and
        Prefect, about 7 s of one core per training."""
        self._settings = contextvars.copy_context()  # before the forwarder thread starts
        super().__enter__()
        spare = self._executor
        self._executor = ProcessPoolExecutor(
            max_workers=self._max_workers, mp_context=fork_server(self._preload),
            initializer=_initialize_process_pool_worker,
            initargs=(self._subprocess_message_queue, start_worker, start_args()),
            max_tasks_per_child=1)
        if spare is not None:
            spare.shutdown(wait=False)  # it never started a process
        return self

    def _forward_subprocess_messages(self) -> None:
        """Prefect's message-forwarding thread, run in the context that entered the pool.
        A new thread starts with an empty context, where Prefect sees no API URL and starts
        a second, unowned API server for the workers' events (orphaned if we are killed)."""
        self._settings.run(super()._forward_subprocess_messages)

    def duplicate(self) -> OwnedProcessPool:
        return type(self)(max_workers=self._max_workers, preload=self._preload)

    def kill_workers(self) -> None:
        """SIGKILL every worker process of the pool now."""
        kill_workers(self._executor)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.kill_workers()
        super().__exit__(exc_type, exc, tb)


class OwnedAPIServer(SubprocessASGIServer):
    """Prefect's embedded API server, started so that it dies with this process, in a session
    of its own: a terminal's Ctrl-C goes to the run's process group, and a server that
    stopped on it would leave the run's last API calls (the crashed state) retrying against
    a closed port for a minute; the run stops it after them."""

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        popen = subprocess.Popen
        subprocess.Popen = functools.partial(  # type: ignore[misc]
            popen, preexec_fn=die_with_parent, start_new_session=True)
        try:
            return super()._run_uvicorn_command()
        finally:
            subprocess.Popen = popen  # type: ignore[misc]


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def startup_timeout() -> int:
    """The user's PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, else a generous one."""
    value = os.environ.get(TIMEOUT_VAR, "")
    return int(value) if value.isdigit() and int(value) > 0 else STARTUP_TIMEOUT_S


@contextlib.contextmanager
def prefect_api() -> Iterator[str]:
    """The configured Prefect API, or an embedded one for this run, shared with the workers
    (each training worker would otherwise start its own over one SQLite file) and stopped
    on every exit path."""
    url = PREFECT_API_URL.value()
    saved = os.environ.get("PREFECT_API_URL")
    server = None
    if not url:
        server = OwnedAPIServer(_free_port())
        server.start(timeout=startup_timeout())
        url = server.api_url
    os.environ["PREFECT_API_URL"] = url  # for the training workers
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):  # for this process
            yield url
    finally:
        if server is not None:
            server.stop()
            if saved is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = saved
