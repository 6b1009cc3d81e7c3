"""Tiny trained models shared by the CLI tests of predict and export."""

from pathlib import Path

import pytest

from tests.helpers import classify_frame, forecast_frame, run_stages, tiny_config


def _train(root: Path, data: Path) -> Path:
    run_stages(tiny_config(data, root / "run", models={"gru": {"hidden": 8}},
                           **{"promote.must_beat": []}))
    return root / "run" / "promoted"


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A forecast data file and the promoted folder of a tiny GRU trained on it."""
    root = tmp_path_factory.mktemp("forecaster")
    forecast_frame().write_csv(root / "forecast.csv")
    return root / "forecast.csv", _train(root, root / "forecast.csv")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """New sequences to label and the promoted folder of a tiny GRU classifier."""
    root = tmp_path_factory.mktemp("classifier")
    classify_frame().write_csv(root / "classify.csv")
    classify_frame(n_seq=5, seed=3).drop("label").write_csv(root / "new.csv")
    return root / "new.csv", _train(root, root / "classify.csv")
