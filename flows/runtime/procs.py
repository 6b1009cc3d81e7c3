"""Processes that die with their parent (stdlib only, so the CLI stays quick to start).

- `watch_parent`: a watchdog thread exits this process as soon as the process it serves is
  gone (killed with SIGKILL included): pool workers, `seqarena stage` under `dvc repro`.
- `die_with_parent`: PR_SET_PDEATHSIG (Linux), for children we start with a preexec hook.
- `fork_server`, `process_pool`: workers forked from a fork server that imported what they
  need once, each watching the process that started the pool.
- `handle_sigterm`: SIGTERM becomes an exception in the main thread, so the same clean-up
  runs as on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver
from multiprocessing.context import BaseContext
from pathlib import Path
from types import FrameType

PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every `finally` and `__exit__` runs."""


def _raise_terminated(signum: int, _: FrameType | None) -> None:
    raise Terminated(f"signal {signum}")


def handle_sigterm() -> None:
    """Turn SIGTERM into `Terminated` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the thread that started it exits."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def watch_parent(parent: int | None = None, interval: float = 0.5) -> None:
    """Exit this process as soon as process `parent` (default: our parent) is gone, however
    it died.

    `parent`: the PID of the process this one serves. A training worker must be given it:
    workers are forked by a fork server, not by the run itself, and by the time a worker's
    initializer runs the run may already be dead.
    """
    parent = os.getppid() if parent is None else parent
    try:
        handle = os.pidfd_open(parent)  # readable once that process has ended, zombie or not
    except ProcessLookupError:
        os._exit(137)
    except (AttributeError, OSError):  # no pidfd (old kernel, not Linux): poll for the PID
        handle = None

    def watch() -> None:
        if handle is not None:
            select.select([handle], [], [])
        else:
            while _alive(parent):
                time.sleep(interval)
        os._exit(137)

    threading.Thread(target=watch, name="seqarena-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and has not died (signal 0 checks without sending; on
    Linux a dead, unreaped process is a zombie, state Z in /proc)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def cores() -> int:
    """The cores this process may run on (its CPU affinity, where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def fork_server(preload: tuple[str, ...]) -> BaseContext:
    """The fork-server context, its server started now if it is not running: it imports
    `preload` once, in the background, and every worker is then a fork of that clean,
    never-used process. It exits when this process ends (its pipe from us closes).

    The server starts with SIGINT ignored, and so do the workers it forks: Ctrl-C reaches
    the run, which kills them (a server still importing would print a traceback)."""
    context = multiprocessing.get_context("forkserver")
    if preload:
        context.set_forkserver_preload(list(preload))
    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()  # signal dispositions are the main thread's to change
        return context
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)
    return context


def start_worker(parent: int, environ: dict[str, str]) -> None:
    """A pool worker's start: the run's environment as it is now (the fork server holds the
    one it was started with), and a watchdog on the run."""
    os.environ.clear()
    os.environ.update(environ)
    watch_parent(parent)


def start_args() -> tuple[int, dict[str, str]]:
    """start_worker's arguments for a pool this process makes now: its PID and environment."""
    return os.getpid(), dict(os.environ)


def process_pool(workers: int, preload: tuple[str, ...] = ()) -> ProcessPoolExecutor:
    """A pool of `workers` processes forked from the fork server, each exiting as soon as
    this process is gone."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=fork_server(preload),
                               initializer=start_worker, initargs=start_args())


def kill_workers(pool: ProcessPoolExecutor | None) -> None:
    """SIGKILL a pool's live worker processes now."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.exitcode is None:  # a reaped worker's PID may belong to another process
            with contextlib.suppress(OSError):
                proc.kill()


def kill_pool(pool: ProcessPoolExecutor) -> None:
    """SIGKILL a pool's workers and drop its queued tasks (a run stopping: its workers must
    not finish what they hold first)."""
    kill_workers(pool)
    pool.shutdown(wait=False, cancel_futures=True)


def crash_point(name: str) -> None:
    """SIGKILL this process here when SEQARENA_CRASH_AT names this point (crash tests).

    With SEQARENA_CRASH_MARKER set to a path, only the first process to reach the point
    (the one that creates that file) dies.
    """
    if os.environ.get("SEQARENA_CRASH_AT") != name:
        return
    marker = os.environ.get("SEQARENA_CRASH_MARKER")
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)
