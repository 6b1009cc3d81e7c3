"""Comparisons started from the app: the same metrics as `seqarena compare` with the same file
and settings, and a cancel that leaves the folder as a killed CLI run does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from flows.app.settings import Settings
from schemas.artifacts import Metrics, read
from tests.flows.app.test_app import client, csrf, upload, wait_job

pytestmark = pytest.mark.slow  # whole compares
TINY = {"model_lstm": "on", "model_linear": "on", "steps": "40", "seeds": "1", "folds": "1",
        "preset": "quick"}  # references off: the box is not ticked


def _flow_run_reports() -> list[str]:
    """The seqarena-report artifact of every seqarena-compare flow run on the server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterId,
    )

    with get_client(sync_client=True) as c:
        runs = c.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(
            any_=["seqarena-compare"])))
        artifacts = c.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(
            any_=[r.id for r in runs]))) if runs else []
    return [a.data for a in artifacts if a.key == "seqarena-report"]


def test_a_run_from_the_app_is_a_flow_run_and_scores_as_the_cli_does(
        prefect_server: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        forecast_csv: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())  # the app's children use it
    with client(tmp_path / "runs") as app:
        upload(app, "sales.csv", forecast_csv.read_bytes())
        project = tmp_path / "runs" / "sales"
        wait_job(app, project)
        app.post("/p/sales/check", data={"csrf": csrf(app), **TINY})
        wait_job(app, project)
        assert app.post("/p/sales/run", data={"csrf": csrf(app)}).status_code == 200
        wait_job(app, project, timeout=400)
        status = app.get("/p/sales/status.json").json()
        assert status["state"] == "finished", status
        assert {t["key"] for t in status["trainings"]} == {"lstm/fold-0/seed-0",
                                                           "linear/fold-0/seed-0"}
        assert "Promoted" in app.get("/p/sales/result").text or "Nothing" in \
            app.get("/p/sales/result").text
    assert (project / "report.md").read_text() in _flow_run_reports()  # on the Prefect server
    settings = Settings.model_validate_json((project / ".app/settings.json").read_text())
    cli = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "flows.cli", "compare", str(forecast_csv), "--out",
                    str(cli), *settings.compare_args()], check=True, timeout=400,
                   capture_output=True)
    ours, theirs = read(Metrics, project / "metrics.json"), read(Metrics, cli / "metrics.json")
    assert list(ours.models) == list(theirs.models)
    for name, row in ours.models.items():
        for metric in ("mae", "rmse", "smape", "mase"):
            assert getattr(row, metric) == getattr(theirs.models[name], metric), (name, metric)


def test_cancel_stops_the_run_and_publishes_nothing(tmp_path: Path, forecast_csv: Path) -> None:
    with client(tmp_path / "runs") as app:
        upload(app, "sales.csv", forecast_csv.read_bytes())
        project = tmp_path / "runs" / "sales"
        wait_job(app, project)
        app.post("/p/sales/check", data={"csrf": csrf(app), "model_lstm": "on",
                                         "steps": "1000000", "seeds": "1", "folds": "1"})
        wait_job(app, project)
        latest = os.readlink(project / "latest")  # the validation's run
        app.post("/p/sales/run", data={"csrf": csrf(app)})
        deadline = time.monotonic() + 180
        while not app.get("/p/sales/status.json").json()["trainings"]:
            assert time.monotonic() < deadline, "no training started"
            time.sleep(0.5)
        pid = app.app.app.state.ctx.jobs.state(project).pid
        family = [pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))]
        again = app.post("/p/sales/run", data={"csrf": csrf(app)})
        assert again.status_code == 409 and "in use by another seqarena run" in again.text
        assert app.post("/p/sales/cancel", data={"csrf": csrf(app)}).status_code == 200
        wait_job(app, project, timeout=60)
        status = app.get("/p/sales/status.json").json()
    assert status["state"] == "cancelled"
    assert "nothing was published" in (status["error"] or ""), status
    assert os.readlink(project / "latest") == latest
    assert not (project / "versions").exists() or not list((project / "versions").iterdir())
    deadline = time.monotonic() + 30
    while alive := [p for p in family if psutil.pid_exists(p)
                    and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]:
        assert time.monotonic() < deadline, f"left running: {alive}"
        time.sleep(0.5)
