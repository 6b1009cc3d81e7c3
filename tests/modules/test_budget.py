"""Competent training: a step budget sized from the data, early stopping that cannot stop
before min_steps, the 'did not learn' flag, inferred seasons, windows cut by index."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from flows.cli.predict import predict_file
from flows.stages.evaluate.stage import run as evaluate
from flows.stages.preprocess.stage import run as preprocess
from flows.stages.train.stage import _callbacks, _stopped, _trainer, train_model
from flows.stages.validate.grid import Step, season_of
from flows.stages.validate.stage import run as validate
from flows.stages.validate.steps import MAX_AUTO_LOOKBACK, MIN_LOOKBACK
from modules.batching import Windows
from modules.budget import MAX_STEPS_CEILING, MIN_STEPS_FLOOR, Budget, plan_batch, plan_budget
from modules.lit import ForecastModule
from modules.training import BestWeights
from schemas.artifacts import read_arrays
from schemas.config import TrainConfig
from schemas.errors import UsageError
from schemas.files import read_json
from schemas.layout import Job, Layout
from schemas.prepared import ForecastState
from schemas.specs import RecurrentSpec
from tests.helpers import at, forecast_frame, run_stages, tiny_config

DAY_US, HOUR_US = 86_400_000_000, 3_600_000_000


def test_small_sets_get_small_batches_and_a_floor_of_steps() -> None:
    tc = TrainConfig()
    assert plan_batch(tc, 30) == 8 and plan_batch(tc, 300_000) == 32
    small = plan_budget(tc, 8, 4)
    assert small.max_steps == MIN_STEPS_FLOOR
    assert small.min_steps == MIN_STEPS_FLOOR // 5 and small.val_every == MIN_STEPS_FLOOR // 50
    assert plan_budget(tc, 32, 9375).max_steps == MAX_STEPS_CEILING
    assert plan_budget(tc, 32, 118).max_steps == 30 * 118  # 30 passes of 118 batches


def test_explicit_settings_win_and_max_epochs_caps() -> None:
    b = plan_budget(TrainConfig(max_steps=500, min_steps=50, val_every=25), 32, 118)
    assert (b.max_steps, b.min_steps, b.val_every) == (500, 50, 25)
    capped = plan_budget(TrainConfig(max_epochs=2), 32, 118)
    assert capped.max_steps == 2 * 118 and capped.val_every <= capped.max_steps
    assert capped.min_steps <= capped.max_steps


def _no_learning(csv: Path, out: Path, min_steps: int) -> dict:
    """A GRU that cannot learn (lr 1e-9), patience 1 check every 2 steps."""
    cfg = tiny_config(csv, out, models={"gru": {"hidden": 4, "layers": 1}},
                      **{"train.max_epochs": None, "train.max_steps": 60, "train.val_every": 2,
                         "train.patience": 1, "train.lr": 1e-9,
                         "train.min_steps": min_steps})
    validate(cfg, at(cfg))
    preprocess(cfg, at(cfg))
    return train_model(cfg.models["gru"], cfg.train, at(cfg), Job("gru"))


def test_early_stopping_cannot_stop_before_min_steps(forecast_csv: Path, tmp_path: Path) -> None:
    free = _no_learning(forecast_csv, tmp_path / "free", min_steps=0)
    held = _no_learning(forecast_csv, tmp_path / "held", min_steps=40)
    assert free["stopped"] == "early_stopping" and free["steps"] < 40
    assert held["steps"] >= 40
    assert [h["step"] for h in held["history"]][:3] == [2, 4, 6]  # a check every 2 steps


def test_a_model_that_cannot_learn_is_flagged(forecast_csv: Path, tmp_path: Path) -> None:
    card = _no_learning(forecast_csv, tmp_path / "out", min_steps=0)
    assert card["val_improved"] is False
    cfg = tiny_config(forecast_csv, tmp_path / "out", models={"gru": {"hidden": 4, "layers": 1}})
    rows = evaluate(cfg, at(cfg)).models
    assert rows["gru"].learned is False
    assert "did not learn under this budget" in (rows["gru"].diagnosis or "")
    assert f"stopped early at step {card['steps']} of 60" in (rows["gru"].diagnosis or "")


def test_a_model_that_learns_is_not_flagged(tmp_path: Path) -> None:
    path = tmp_path / "longer.csv"
    forecast_frame(length=160).write_csv(path)
    cfg = tiny_config(path, tmp_path / "out", models={"lstm": {"hidden": 16}},
                      **{"train.max_epochs": None, "train.max_steps": 1000,
                         "forecast.lookback": 16})
    validate(cfg, at(cfg))
    preprocess(cfg, at(cfg))
    assert train_model(cfg.models["lstm"], cfg.train, at(cfg), Job("lstm"))["val_improved"]
    row = evaluate(cfg, at(cfg)).models["lstm"]
    assert row.learned is True and row.diagnosis is None


@pytest.mark.parametrize(("step", "season"), [
    (Step(every=HOUR_US, unit="us"), 24), (Step(every=DAY_US, unit="us"), 7),
    (Step(every=1, unit="d"), 7), (Step(every=7, unit="d"), 52),
    (Step(unit="d", months=1), 12), (Step(unit="d", months=3), 4),
    (Step(unit="d", months=12), 1), (Step(every=HOUR_US // 2, unit="us"), 48),
    (Step(every=1, unit="step"), 1), (Step(every=5 * DAY_US, unit="us"), 1)])
def test_season_follows_the_time_step(step: Step, season: int) -> None:
    assert season_of(step) == season


def test_monthly_data_gets_season_12_and_says_so(tmp_path: Path) -> None:
    months = pl.date_range(date(2000, 1, 1), date(2011, 12, 1), "1mo", eager=True)  # 144
    t = np.arange(len(months))
    y = 100 + t + 10 * np.sin(2 * np.pi * t / 12)
    path = tmp_path / "monthly.csv"
    pl.DataFrame({"ds": months, "y": y}).write_csv(path)
    cfg = tiny_config(path, tmp_path / "out", **{"forecast.lookback": None})
    validate(cfg, at(cfg))
    state = preprocess(cfg, at(cfg))
    assert isinstance(state, ForecastState)
    assert state.season == 12 and state.step == "1 month"
    assert state.inferred_settings == ["season", "lookback"]
    assert 12 <= state.lookback <= 32  # two seasons wanted, shortened to fit 144 months
    explicit = tiny_config(path, tmp_path / "out2", **{"forecast.season": 6})
    validate(explicit, at(explicit))
    assert getattr(preprocess(explicit, at(explicit)), "season", None) == 6


def test_short_yearly_series_keep_a_useful_lookback(tmp_path: Path) -> None:
    """With horizon 6, the val and test splits alone need 34 rows; shrinking the lookback
    below what that allows would only lose history (it once fell to 1)."""
    years = pl.date_range(date(1950, 1, 1), date(1989, 1, 1), "1y", eager=True)  # 40
    lengths = [20, 21, 22, 23, 24, 25, 26, 40, 40, 40, 40, 40]  # median 33: below 34
    frames = [pl.DataFrame({"unique_id": f"s{i}", "ds": years[:n], "y": np.arange(n) * (i + 1)
                            + 100.0}) for i, n in enumerate(lengths)]
    path = tmp_path / "yearly.csv"
    pl.concat(frames).write_csv(path)
    cfg = tiny_config(path, tmp_path / "out", **{"forecast.lookback": None,
                                                 "forecast.horizon": 6})
    assert validate(cfg, at(cfg)).frame["unique_id"].n_unique() == 5  # the short ones quarantined
    shape = read_json(Layout(Path(cfg.out_dir)).validation)
    assert shape["season"] == 1 and shape["lookback"] == 16


def test_windows_are_cut_by_index_not_stored(forecast_csv: Path, tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out")
    validate(cfg, at(cfg))
    preprocess(cfg, at(cfg))
    layout = Layout(Path(cfg.out_dir))
    with np.load(layout.arrays) as z:
        assert "x_train" not in z.files and "lookback" not in z.files  # state.json has it
        assert z["series"].shape == (160, 2)
    arrays = read_arrays(layout)
    windows = Windows.from_numpy(arrays["series"], arrays["start_train"], 8)
    idx = torch.tensor([0, 5, len(windows) - 1])
    np.testing.assert_array_equal(windows[idx].numpy(), arrays["x_train"][idx.numpy()])
    assert windows[idx].shape == (3, 8, 2)
    assert read_json(layout.state)["lookback"] == 8


class LateBloomer(ForecastModule):
    """Validation loss flat until step 40, then better at every check."""

    def validation_step(self, batch: tuple[torch.Tensor, ...], _: int) -> None:
        step = self.trainer.global_step
        self.log("val_loss", 1.0 if step < 40 else 1.0 - step / 1000, batch_size=len(batch[0]))


def _toy_fit(budget: Budget) -> tuple[int, str]:
    x = torch.randn(40, 8, 2)
    data = DataLoader(TensorDataset(x, x[:, -3:, 0]), batch_size=4)
    module = LateBloomer(RecurrentSpec(arch="gru", hidden=4, layers=1), 2, 3)
    best = BestWeights()
    callbacks = _callbacks(budget, best)
    trainer = _trainer(budget, "cpu", 1.0, callbacks)
    trainer.fit(module, data, data)
    return trainer.global_step, _stopped(trainer, budget, callbacks)


def test_patience_spent_before_min_steps_does_not_stop_a_model_that_improves() -> None:
    """Early stopping armed before min_steps used to stop exactly at min_steps."""
    budget = Budget(batch_size=4, max_steps=200, min_steps=100, val_every=5, patience=3,
                    min_delta=0.0, max_minutes=None)
    assert _toy_fit(budget) == (200, "max_steps")


def test_the_time_cap_stops_before_min_steps_and_says_so() -> None:
    budget = Budget(batch_size=4, max_steps=100_000, min_steps=100_000, val_every=5,
                    patience=3, min_delta=0.0, max_minutes=0.02)
    steps, why = _toy_fit(budget)
    assert why == "max_minutes" and steps < 100_000


def test_minute_data_gets_a_bounded_lookback_quickly(tmp_path: Path) -> None:
    """One-minute steps give a season of 1,440; the lookback must not follow it (two seasons
    would reject series of 600 rows, and the search once took minutes)."""
    start = pl.datetime(2024, 1, 1)
    times = pl.datetime_range(start, start + pl.duration(minutes=599), "1m", eager=True)
    t = np.arange(600)
    frames = [pl.DataFrame({"unique_id": f"s{i}", "ds": times, "y": np.sin(t / 30) + i})
              for i in range(2)]
    path = tmp_path / "minute.csv"
    pl.concat(frames).write_csv(path)
    cfg = tiny_config(path, tmp_path / "out", **{"forecast.lookback": None})
    assert validate(cfg, at(cfg)).frame.height == 1200  # both series kept
    shape = read_json(Layout(Path(cfg.out_dir)).validation)
    assert shape["season"] == 1440 and MIN_LOOKBACK <= shape["lookback"] <= MAX_AUTO_LOOKBACK


def test_preprocess_refuses_a_lookback_validation_did_not_use(forecast_csv: Path,
                                                              tmp_path: Path) -> None:
    """Under dvc repro a changed forecast.lookback used to be ignored silently."""
    cfg = tiny_config(forecast_csv, tmp_path / "out", **{"forecast.lookback": None})
    validate(cfg, at(cfg))
    assert getattr(preprocess(cfg, at(cfg)), "lookback", None) == 32
    changed = tiny_config(forecast_csv, tmp_path / "out", **{"forecast.lookback": 8})
    with pytest.raises(UsageError, match=r"forecast\.lookback is 8, but .* was written with 32"):
        preprocess(changed, at(changed))


def test_monthly_forecasts_are_dated_by_calendar_months(tmp_path: Path) -> None:
    """predict once added the last difference (30 days from November to December)."""
    months = pl.date_range(date(2000, 1, 1), date(2011, 12, 1), "1mo", eager=True)
    t = np.arange(len(months))
    path = tmp_path / "monthly.csv"
    pl.DataFrame({"ds": months, "y": 100 + t + 10 * np.sin(2 * np.pi * t / 12)}).write_csv(path)
    cfg = tiny_config(path, tmp_path / "out", models={"lstm": {"hidden": 4, "layers": 1}},
                      **{"promote.must_beat": [], "train.max_epochs": 1})
    run_stages(cfg)
    out = predict_file(path, Path(cfg.out_dir) / "promoted", tmp_path / "pred.csv")
    assert out["ds"].to_list() == [date(2012, 1, 1), date(2012, 2, 1), date(2012, 3, 1)]
