"""Typed files between stages: written and read in one place, refused clearly when they come
from another version or are damaged, and read by name rather than by position."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from flows.cli.main import main
from flows.stages.evaluate.stage import run as evaluate
from modules.arrays import Scaler
from schemas.artifacts import read_state
from schemas.errors import UsageError
from schemas.layout import Layout
from schemas.prepared import FORMAT, ForecastState
from tests.helpers import at, run_stages, tiny_config


@pytest.fixture
def forecast_run(forecast_csv: Path, tmp_path: Path) -> Path:
    cfg = tiny_config(forecast_csv, tmp_path / "out", models={"gru": {"hidden": 4, "layers": 1}},
                      **{"train.max_epochs": 1, "promote.must_beat": []})
    run_stages(cfg)
    return Path(cfg.out_dir)


def _edit(path: Path, change: dict) -> None:
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, **change}))


def test_a_state_from_another_version_is_refused_by_name(forecast_run: Path,
                                                         forecast_csv: Path) -> None:
    layout = Layout(forecast_run)
    _edit(layout.state, {"schema_version": FORMAT + 1})
    cfg = tiny_config(forecast_csv, forecast_run, models={"gru": {"hidden": 4, "layers": 1}})
    with pytest.raises(UsageError, match="incompatible seqarena version") as exc:
        evaluate(cfg, at(cfg))
    assert str(layout.state) in str(exc.value) and "rerun the comparison" in str(exc.value)


def test_an_unknown_key_is_refused(forecast_run: Path) -> None:
    layout = Layout(forecast_run)
    _edit(layout.state, {"colums": ["y"]})
    with pytest.raises(UsageError, match="colums: Extra inputs are not permitted"):
        read_state(layout)


def test_predict_refuses_a_model_folder_from_another_version(
        forecast_run: Path, forecast_csv: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "old"
    shutil.copytree(forecast_run / "promoted", folder)
    raw = json.loads((folder / "model.json").read_text())
    del raw["schema_version"]  # as written before artifacts were versioned
    (folder / "model.json").write_text(json.dumps(raw))
    code = main(["predict", str(forecast_csv), "--model", str(folder),
                 "--out", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "incompatible seqarena version (schema_version None" in err, err
    assert f"{folder / 'model.json'}" in err and "Traceback" not in err


def test_the_target_is_found_by_name_not_by_position(forecast_run: Path) -> None:
    """The old Scaler took columns[0] as the target; the typed state names it."""
    state = read_state(Layout(forecast_run))
    assert isinstance(state, ForecastState) and state.target == "y"
    swapped = state.model_copy(update={"columns": list(reversed(state.columns))})
    scaled = np.zeros((len(state.series), 1))
    means = {r.series: r.mean for r in state.scaling if r.column == "y"}
    back = Scaler(swapped).inverse(scaled, np.arange(len(state.series)))
    assert back[:, 0].tolist() == pytest.approx([means[s] for s in state.series])
