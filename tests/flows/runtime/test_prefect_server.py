"""A real `prefect server start` (SQLite, loopback): `seqarena serve` creates the cron
deployment, two runs triggered through the API run one after the other (the second waits for
the concurrency slot), and each run page carries the report's three artifacts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import drain_prefect_events, forecast_frame, tiny_config

pytestmark = pytest.mark.slow  # real servers, clusters or pipelines

BIN = Path(sys.executable).parent
START_S = 180  # a first start migrates a new SQLite database
RUNS_S = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path, **extra: str) -> dict[str, str]:
    """This test's own Prefect home and settings, whatever the caller's environment holds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **extra}


def _stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM the process group, then SIGKILL what is left of it."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_healthy(url: str, proc: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"prefect server exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"prefect server not healthy in {START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`prefect server start` on a free loopback port, stopped at the end whatever happens."""
    root = tmp_path_factory.mktemp("prefect")
    port = _free_port()
    log = root / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
             "--analytics-off"], stdout=out, stderr=subprocess.STDOUT,
            env=_env(root / "home", PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="2"),
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api"
        _wait_healthy(url, proc, log)
        yield {"url": url, "root": root, "home": root / "home"}
    finally:
        _stop(proc)


def _client(url: str) -> Any:
    from prefect.client.orchestration import get_client

    client = get_client(sync_client=True, httpx_settings={"base_url": url})
    return client.__enter__()


def _wait_deployment(client: Any, name: str, serve: subprocess.Popen[Any], log: Path) -> Any:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert serve.poll() is None, f"seqarena serve exited:\n{log.read_text()[-3000:]}"
        try:
            return client.read_deployment_by_name(name)
        except Exception:  # not registered yet
            time.sleep(1)
    raise AssertionError(f"no deployment {name} after 120 s:\n{log.read_text()[-3000:]}")


def _wait_final(client: Any, ids: list[Any], serve: subprocess.Popen[Any], log: Path) -> list:
    deadline = time.monotonic() + RUNS_S
    while time.monotonic() < deadline:
        runs = [client.read_flow_run(i) for i in ids]
        if all(r.state and r.state.is_final() for r in runs):
            return runs
        assert serve.poll() is None, f"seqarena serve exited:\n{log.read_text()[-3000:]}"
        time.sleep(2)
    raise AssertionError(f"runs not finished in {RUNS_S} s:\n{log.read_text()[-4000:]}")


def test_served_deployment_runs_one_at_a_time_with_its_artifacts(server: dict[str, Any]) -> None:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    root = server["root"]
    data = root / "forecast.csv"
    forecast_frame().write_csv(data)
    cfg = tiny_config(data, root / "out", **{"promote.gto_artifact": None,
                                             "models": {"rnn": {"hidden": 8, "layers": 1}}})
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    log = root / "serve.log"
    env = _env(server["home"], PREFECT_API_URL=server["url"], PREFECT_RUNNER_POLL_FREQUENCY="2")
    with log.open("w") as out:
        serve = subprocess.Popen(
            [str(BIN / "seqarena"), "serve", "--params", str(params), "--cron", "0 3 * * *",
             "--name", "it"], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        with temporary_settings(updates={PREFECT_API_URL: server["url"]}):
            client = _client(server["url"])
            deployment = _wait_deployment(client, "seqarena-compare/it", serve, log)
            assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
            assert deployment.global_concurrency_limit.limit == 1
            ids = [run_deployment("seqarena-compare/it", timeout=0).id for _ in range(2)]
            runs = _wait_final(client, ids, serve, log)
            states = {r.id: [s.name for s in client.read_flow_run_states(r.id)] for r in runs}
            artifacts = [client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[r.id]))) for r in runs]
            client.__exit__(None, None, None)
            drain_prefect_events()
    finally:
        _stop(serve)
    assert [r.state.name for r in runs] == ["Completed", "Completed"], states
    first, second = sorted(runs, key=lambda r: r.start_time)
    assert first.end_time <= second.start_time, "the two runs overlapped"
    assert any("AwaitingConcurrencySlot" in names for names in states.values()), states
    for run_artifacts in artifacts:
        _check_artifacts(run_artifacts)
    history = (root / "out" / "history.jsonl").read_text().splitlines()
    assert len(history) == 2  # both scheduled runs published, one after the other


def _check_artifacts(artifacts: list[Any]) -> None:
    """The run page's report, leaderboard table and link to the run's own report.html."""
    by_key = {a.key: a for a in artifacts}
    link = by_key["seqarena-report-html"].data  # Prefect stores a link as Markdown
    assert link.startswith("[report.html](file://") and link.endswith("/report.html)")
    html = Path(link[len("[report.html](file://"):-1])
    assert by_key["seqarena-report"].type == "markdown"
    assert by_key["seqarena-report"].data == (html.parent / "report.md").read_text()
    assert by_key["seqarena-leaderboard"].type == "table"
    assert '"model": "rnn"' in by_key["seqarena-leaderboard"].data
    assert by_key["seqarena-validation"].type == "markdown"
