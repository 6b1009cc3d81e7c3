"""Tiny data and configs so every test runs in seconds on a CPU."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.runtime.server import startup_timeout
from tests.helpers import classify_frame, forecast_frame


@pytest.fixture
def forecast_csv(tmp_path: Path) -> Path:
    path = tmp_path / "forecast.csv"
    forecast_frame().write_csv(path)
    return path


@pytest.fixture
def classify_csv(tmp_path: Path) -> Path:
    path = tmp_path / "classify.csv"
    classify_frame().write_csv(path)
    return path


SERVER_FIXTURES = {"prefect_server", "server"}  # each starts a real Prefect server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a real server is `slow`, whatever file it is in. Slow tests run
    first, so that under `-n 2 --dist loadfile` (the README's command: each file on one
    worker, its tests in order, one module fixture each) the files with long tests start
    early and the fast ones fill the gaps."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    saved = os.environ.get("PREFECT_API_URL")
    with prefect_test_harness(server_startup_timeout=startup_timeout()):
        yield
    if saved is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = saved


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop any temporary Prefect server still registered (one whose start timed out, or a
    flow run outside the harness) now, not at interpreter exit, where Prefect's handler would
    log to a stream pytest has closed ("--- Logging error ---")."""
    import logging

    from prefect.server.api.server import SubprocessASGIServer

    saved, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        for server in list(SubprocessASGIServer._instances.values()):
            server.stop()
    finally:
        logging.raiseExceptions = saved
