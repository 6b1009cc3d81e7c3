"""Processes that die with their parent (stdlib only, so the CLI stays quick to start).

- `watch_parent`: a watchdog thread exits this process as soon as its parent is gone
  (killed with SIGKILL included): training workers, `seqarena stage` under `dvc repro`.
- `die_with_parent`: PR_SET_PDEATHSIG (Linux), for children we start with a preexec hook.
- `handle_sigterm`: SIGTERM becomes an exception in the main thread, so the same clean-up
  runs as on Ctrl-C.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
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
    """Exit this process within `interval` seconds of its parent's death (any signal).

    `parent`: the PID the caller knows as this process's parent. A spawned worker must be
    given it: by the time its initializer runs (seconds of imports after the spawn) the parent
    may already be dead, and `os.getppid()` would then name whoever adopted the orphan.
    """
    parent = os.getppid() if parent is None else parent
    if os.getppid() != parent:
        os._exit(137)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(137)

    threading.Thread(target=watch, name="seqarena-parent-watch", daemon=True).start()


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
