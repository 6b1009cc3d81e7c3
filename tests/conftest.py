"""Tiny data and configs so every test runs in seconds on a CPU."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.runtime import startup_timeout
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


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    saved = os.environ.get("PREFECT_API_URL")
    with prefect_test_harness(server_startup_timeout=startup_timeout()):
        yield
    if saved is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = saved
