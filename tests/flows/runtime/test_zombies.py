"""A scheduled run whose process died is marked Crashed by the automation `serve` installs
(against a real `prefect server` started on a free loopback port)."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Running

from flows.pipeline import compare_flow
from flows.runtime.zombies import NAME, enable_zombie_detection
from tests.helpers import ROOT, drain_prefect_events


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home, port = tmp_path_factory.mktemp("prefect"), _port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host",
                             "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("prefect server did not start in 240 s")
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
            drain_prefect_events()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def _state(run_id: object) -> str:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state.type.value


def test_a_run_whose_heartbeats_stop_is_crashed(server: str) -> None:
    enable_zombie_detection("seqarena-compare", after_s=10)
    enable_zombie_detection("seqarena-compare", after_s=10)  # idempotent: updated, not doubled
    with get_client(sync_client=True) as client:
        assert len(client.read_automations_by_name(NAME)) == 1
        run = client.create_flow_run(compare_flow, parameters={})
        client.set_flow_run_state(run.id, Running())
    assert os.environ["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    # what the flow engine emits every 30 s while the run's process lives; then it dies
    emit_event(event="prefect.flow-run.heartbeat",
               resource={"prefect.resource.id": f"prefect.flow-run.{run.id}"},
               related=[{"prefect.resource.id": f"prefect.flow.{run.flow_id}",
                         "prefect.resource.role": "flow",
                         "prefect.resource.name": "seqarena-compare"}])
    deadline = time.monotonic() + 120
    while _state(run.id) == "RUNNING" and time.monotonic() < deadline:
        time.sleep(1)
    assert _state(run.id) == "CRASHED"


def test_serve_turns_zombie_detection_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect

    from flows.cli.main import main

    calls: list[str] = []
    monkeypatch.setattr("flows.runtime.zombies.enable_zombie_detection",
                        lambda name: calls.append(name))
    monkeypatch.setattr(prefect, "serve", lambda *d: calls.append(d[0].name))
    params = ROOT / "params.yaml"
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert main(["serve", "--params", str(params), "--cron", "0 3 * * *"]) == 0
    assert calls == ["seqarena-compare", "seqarena-nightly"]


def test_serve_without_a_prefect_server_says_how_to_start_one(
        capsys: pytest.CaptureFixture) -> None:
    """A temporary server would hold the schedule only while serve runs."""
    from flows.cli.main import main

    params = ROOT / "params.yaml"
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["serve", "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert "prefect server start" in err and "PREFECT_API_URL" in err


@pytest.mark.slow
def test_serve_stops_cleanly_on_sigterm(server: str) -> None:
    env = {**os.environ, "PREFECT_API_URL": server}
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--params",
                             str(ROOT / "params.yaml")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # the deployments are registered and polled
        if "being served" in line:
            break
    time.sleep(2)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err and "Error" not in err, err
