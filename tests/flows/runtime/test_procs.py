"""Pools forked from the fork server: the run's environment of now, a kill that does not wait,
and a watchdog fallback that counts a zombie as dead."""

import os
import subprocess
import time

import psutil
import pytest

from flows.runtime.procs import _alive, fork_server, kill_pool, process_pool


def _env(name: str) -> str | None:
    return os.environ.get(name)


def test_pool_workers_see_the_runs_environment_of_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fork server keeps the environment it started with; a pool's workers get the one
    of the process that made the pool, at that moment (set, changed and removed names)."""
    monkeypatch.setenv("SEQARENA_TEST_CHANGED", "old")
    monkeypatch.setenv("SEQARENA_TEST_REMOVED", "stale")
    fork_server(())  # started now, or earlier by another test: its environment is older
    monkeypatch.setenv("SEQARENA_TEST_CHANGED", "new")
    monkeypatch.delenv("SEQARENA_TEST_REMOVED")
    with process_pool(1) as pool:
        assert pool.submit(_env, "SEQARENA_TEST_CHANGED").result(timeout=60) == "new"
        assert pool.submit(_env, "SEQARENA_TEST_REMOVED").result(timeout=60) is None


def test_kill_pool_stops_running_and_queued_work_at_once() -> None:
    """A stopping run kills its pool's workers mid-task and drops the queue: no wait."""
    pool = process_pool(2)
    futures = [pool.submit(time.sleep, 60) for _ in range(3)]
    deadline = time.monotonic() + 60
    while len(pool._processes) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [psutil.Process(p.pid) for p in pool._processes.values()]
    assert len(workers) == 2
    start = time.monotonic()
    kill_pool(pool)
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive and time.monotonic() - start < 10
    assert futures[2].cancelled() or futures[2].done()


def test_the_fallback_watchdog_counts_a_zombie_as_dead() -> None:
    """Without a pidfd the watchdog polls the PID: a killed, unreaped process is dead."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        assert _alive(proc.pid)
        proc.kill()
        deadline = time.monotonic() + 10
        while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not _alive(proc.pid)
    finally:
        proc.wait()
    assert not _alive(proc.pid)
