"""forecast.folds: 'up to N' (the thorough preset's): N rolling origins, or fewer when the
series are too short for N, never an error for want of data."""

from pathlib import Path

import pytest

from flows.stages.preprocess.stage import run as preprocess
from flows.stages.validate.stage import run as validate
from tests.helpers import at, tiny_config


@pytest.mark.parametrize(("folds", "low", "high"), [("up to 2", 2, 2), ("up to 20", 2, 19)])
def test_up_to_n_folds_takes_what_the_series_allow(forecast_csv: Path, tmp_path: Path,
                                                   folds: str, low: int, high: int) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out", **{"forecast.folds": folds})
    validate(cfg, at(cfg))
    state = preprocess(cfg, at(cfg))
    assert low <= state.folds <= high
    assert at(cfg).state_of(state.folds - 1).exists()
