"""Killed runs and killed workers: nothing is lost, nothing outlives its run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from flows.runs.folders import FolderLock
from flows.runtime.server import STARTUP_TIMEOUT_S, TIMEOUT_VAR, startup_timeout
from schemas.files import read_json
from tests.helpers import ROOT, TINY_MODELS

MODELS = {m: TINY_MODELS[m] for m in ("lstm", "gru")}  # two workers: enough to kill one


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _assert_all_exit(family: list[psutil.Process], seconds: float = 20) -> None:
    """Every process of `family` is gone (or a zombie) within `seconds`."""
    deadline = time.monotonic() + seconds
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(family), [p.cmdline() for p in _alive(family)]


def _params(tmp_path: Path, data: Path, epochs: int, trials: int = 0) -> Path:
    params = {"data": {"path": str(data)}, "models": MODELS, "out_dir": str(tmp_path),
              "train": {"max_epochs": epochs, "max_steps": 10_000_000, "patience": epochs,
                        "batch_size": 16, "workers": 2, "seeds": 1,
                        "tune": {"trials": trials}},
              "evaluate": {"references": False},
              "forecast": {"lookback": 8, "horizon": 3, "folds": 1}, "promote": {"must_beat": []}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _compare(tmp_path: Path, data: Path, out: Path, epochs: int, trials: int = 0,
             **env: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "flows.cli", "compare", str(data), "--out", str(out),
            "--params", str(_params(tmp_path, data, epochs, trials))]
    return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _fork_servers(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The multiprocessing fork servers among `procs` (the training workers' parent)."""
    def forked(p: psutil.Process) -> bool:
        return "forkserver" in " ".join(p.cmdline())

    return [p for p in _alive(procs) if forked(p) and not forked(psutil.Process(p.ppid()))]


def _workers(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The training workers among `procs`: children of a fork server."""
    servers = {p.pid for p in _fork_servers(procs)}
    return [p for p in _alive(procs) if p.ppid() in servers]


def _descendants_once_training(proc: subprocess.Popen, timeout: float = 120) -> list:
    """Every descendant of `proc` once at least two training workers are busy."""
    parent, seen = psutil.Process(proc.pid), {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for child in parent.children(recursive=True):
            seen.setdefault(child.pid, child)
        workers = _workers(list(seen.values()))
        if len(workers) >= 2 and all(w.cpu_times().user > 2 for w in workers):
            return list(seen.values())
        time.sleep(0.2)
    raise AssertionError(f"no training workers seen: {proc.communicate(timeout=30)}")


def test_startup_timeout_is_generous_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_VAR, raising=False)
    assert startup_timeout() == STARTUP_TIMEOUT_S >= 120
    monkeypatch.setenv(TIMEOUT_VAR, "45")
    assert startup_timeout() == 45


@pytest.mark.slow  # whole compares, killed
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_compare_leaves_nothing_running(tmp_path: Path, forecast_csv: Path,
                                                 sig: signal.Signals) -> None:
    out = tmp_path / "out"
    proc = _compare(tmp_path, forecast_csv, out, epochs=100_000)
    family = _descendants_once_training(proc)
    names = " ".join(" ".join(p.cmdline()) for p in _alive(family))
    assert "uvicorn" in names  # the embedded Prefect API is among them
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    _assert_all_exit(family)
    assert not (out / "latest").exists()  # nothing published
    with FolderLock(out, "next"):  # the folder is free again
        pass
    stderr = proc.stderr.read()
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        assert "terminated" in stderr and "Traceback" not in stderr, stderr


def test_a_worker_whose_parent_died_before_its_watchdog_started_exits() -> None:
    """The watchdog is told its parent's PID: a process adopted before it starts exits."""
    code = ("import time; from flows.runtime.procs import watch_parent; "
            "watch_parent(parent=2**22 + 7); time.sleep(30)")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60)
    assert done.returncode == 137 and time.monotonic() - start < 20


def test_a_worker_exits_when_the_run_it_serves_dies_even_unreaped() -> None:
    """A worker watches the run's PID, not its own parent (the fork server): it exits once
    that process has died, even while the dead process is still an unreaped zombie."""
    run = subprocess.Popen(["sleep", "60"])
    code = ("import time; from flows.runtime.procs import watch_parent; "
            f"watch_parent(parent={run.pid}); time.sleep(60)")
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    time.sleep(3)  # its watchdog is up
    assert worker.poll() is None
    run.kill()  # not waited for: a zombie
    start = time.monotonic()
    assert worker.wait(timeout=30) == 137 and time.monotonic() - start < 10
    run.wait()


@pytest.mark.slow  # a whole compare, interrupted
def test_ctrl_c_stops_a_compare_cleanly(tmp_path: Path, forecast_csv: Path) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while training:
    exit 130 with one line, no traceback from the run, its fork server or its workers."""
    out = tmp_path / "out"
    proc = _compare(tmp_path, forecast_csv, out, epochs=100_000)
    family = _descendants_once_training(proc)
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    _assert_all_exit(family)
    stderr = proc.stderr.read()
    assert proc.returncode == 130 and "interrupted" in stderr, stderr
    assert "Traceback" not in stderr and not (out / "latest").exists(), stderr


@pytest.mark.slow  # whole compares, killed
def test_a_compare_killed_while_its_fork_server_imports_leaves_nothing(
        tmp_path: Path, forecast_csv: Path) -> None:
    """kill -9 while the workers' fork server still imports torch and Lightning (before it
    forked any worker): it must not live on, nor fork workers that train."""
    proc = _compare(tmp_path, forecast_csv, tmp_path / "out", epochs=100_000)
    parent, seen, importing = psutil.Process(proc.pid), {}, False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not importing:
        for child in parent.children(recursive=True):
            seen.setdefault(child.pid, child)
        servers = _fork_servers(list(seen.values()))
        importing = any(s.cpu_times().user > 0.5 and not s.children() for s in servers)
        time.sleep(0.02)
    assert importing and proc.poll() is None, proc.communicate(timeout=30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    family = list(seen.values())
    _assert_all_exit(family, seconds=90)  # the server notices only once its imports are done


@pytest.mark.slow  # whole compares, killed
def test_a_killed_worker_costs_no_model(tmp_path: Path, forecast_csv: Path) -> None:
    """A training process SIGKILLed (as the out-of-memory killer would) breaks its pool;
    the models in it are trained again in fresh processes and the run succeeds."""
    out = tmp_path / "out"
    env = {"SEQARENA_CRASH_AT": "train:gru", "SEQARENA_CRASH_MARKER": str(tmp_path / "m")}
    proc = _compare(tmp_path, forecast_csv, out, epochs=3, **env)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert (tmp_path / "m").exists()  # the crash did happen
    assert "gru/fold-0/seed-0            its training process died; training it again alone" \
        in stderr
    models = read_json(out / "metrics.json")["models"]
    assert all(models[m]["status"] == "ok" for m in MODELS), models
    assert (out / "promoted" / "weights.safetensors").exists()


@pytest.mark.slow  # whole compares, killed
def test_a_compare_killed_while_tuning_leaves_nothing_published(
        tmp_path: Path, forecast_csv: Path) -> None:
    """kill -9 while trials train: no process lives on, nothing is published, and the
    half-run study stays in the run's own folder."""
    out = tmp_path / "out"
    proc = _compare(tmp_path, forecast_csv, out, epochs=100_000, trials=3)
    family = _descendants_once_training(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    _assert_all_exit(family)
    assert not (out / "latest").exists() and not (out / "tuning").exists()
    assert [p.parent.parent.parent.name for p in out.glob("runs/*/tuning/study.journal")] \
        == ["runs"]
    with FolderLock(out, "next"):
        pass


@pytest.mark.slow  # whole compares, a worker killed
def test_a_killed_trial_runs_again_alone_and_every_model_gets_its_trials(
        tmp_path: Path, forecast_csv: Path) -> None:
    """A trial's process SIGKILLed breaks its pool: its trials run again, each alone in a
    fresh pool, every model still has exactly its trials, and the run succeeds."""
    from schemas.artifacts import read
    from schemas.layout import Layout
    from schemas.tuning import Tuning

    out = tmp_path / "out"
    env = {"SEQARENA_CRASH_AT": "trial:gru", "SEQARENA_CRASH_MARKER": str(tmp_path / "m")}
    proc = _compare(tmp_path, forecast_csv, out, epochs=2, trials=2, **env)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert (tmp_path / "m").exists() and "its process died; running it again alone" in stderr
    tuning = read(Tuning, Layout((out / "latest").resolve()).trials)
    states = {a.model: [t.state for t in a.trials] for a in tuning.arms}
    assert states == {"lstm": ["complete"] * 2, "gru": ["complete"] * 2}, states


def _watch_servers(proc: subprocess.Popen) -> dict[int, psutil.Process]:
    """Every Prefect API server (uvicorn) among `proc`'s descendants until `proc` exits."""
    parent, servers = psutil.Process(proc.pid), {}
    while proc.poll() is None:
        try:
            for child in parent.children(recursive=True):
                if "uvicorn" in " ".join(child.cmdline()):
                    servers.setdefault(child.pid, child)
        except psutil.Error:
            pass
        time.sleep(0.1)
    return servers


@pytest.mark.slow  # whole compares, killed
def test_a_model_whose_worker_always_dies_fails_alone_under_one_prefect_server(
        tmp_path: Path, forecast_csv: Path) -> None:
    """lstm's worker dies in both pools; gru trains. The run starts one Prefect API server, and
    it dies with the run: Prefect's message-forwarding thread once started a second, unowned
    one for the workers' events (it saw no API URL in its empty context)."""
    out = tmp_path / "out"
    proc = _compare(tmp_path, forecast_csv, out, epochs=2, SEQARENA_CRASH_AT="train:lstm")
    servers = _watch_servers(proc)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    models = read_json(out / "metrics.json")["models"]
    assert models["lstm"]["status"] == "failed"
    assert "died twice" in models["lstm"]["error"]
    assert models["gru"]["status"] == "ok"
    assert len(servers) == 1, [p.pid for p in servers.values()]
    assert not _alive(list(servers.values()))
