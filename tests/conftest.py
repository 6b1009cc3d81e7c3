"""Tiny data and configs so every test runs in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

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
