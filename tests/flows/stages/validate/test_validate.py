"""Stage `validate`: contract checks, messages naming file, column, rows and the fix."""

from pathlib import Path

import polars as pl
import pytest

from flows.stages.validate.stage import run as validate
from schemas.artifacts import Validated
from schemas.config import Config
from schemas.errors import EXIT_INVALID_DATA, DataValidationError
from schemas.files import read_json
from tests.helpers import at, classify_frame, forecast_frame, tiny_config


def checked(cfg: Config) -> Validated:
    """Validate into the config's own out_dir."""
    return validate(cfg, at(cfg))


def test_valid_forecast_resolves_roles(forecast_csv: Path, tmp_path: Path) -> None:
    v = checked(tiny_config(forecast_csv, tmp_path / "out"))
    r = v.roles
    roles = (r.task, r.id, r.time, r.target, r.features)
    assert roles == ("forecast", "unique_id", "ds", "y", ("promo",))
    report = read_json(tmp_path / "out" / "validation.json")
    assert report["status"] == "passed" and report["rows_in"] == report["rows_used"] == 160
    assert (tmp_path / "out" / "validated.parquet").exists()


def test_label_column_means_classification(classify_csv: Path, tmp_path: Path) -> None:
    r = checked(tiny_config(classify_csv, tmp_path / "out")).roles
    assert (r.task, r.id, r.time, r.label) == ("classify", "sequence_id", "step", "label")
    assert r.features == ("f1", "f2")


def test_explicit_names_win(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    forecast_frame().rename({"y": "sales", "ds": "day", "unique_id": "store"}).write_csv(path)
    cfg = tiny_config(path, tmp_path / "out", **{"data.columns.target": "sales",
                                                 "data.columns.time": "day",
                                                 "data.columns.id": "store"})
    r = checked(cfg).roles
    assert (r.target, r.time, r.id) == ("sales", "day", "store")


def test_missing_target_names_file_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    forecast_frame().drop("y").write_csv(path)
    with pytest.raises(DataValidationError) as err:
        checked(tiny_config(path, tmp_path / "out"))
    msg = str(err.value)
    assert err.value.exit_code == EXIT_INVALID_DATA
    assert str(path) in msg and "no target column" in msg and "--target" in msg


def test_defects_are_all_reported_with_csv_lines(tmp_path: Path) -> None:
    df = forecast_frame().with_columns(pl.col("y").cast(pl.Float64))
    y = df["y"].to_list()
    y[4], y[9] = None, float("inf")
    df = df.with_columns(pl.Series("y", y))
    df = pl.concat([df, df.slice(20, 1)])  # a duplicate (id, time) row
    path = tmp_path / "bad.csv"
    df.write_csv(path)
    with pytest.raises(DataValidationError) as err:
        checked(tiny_config(path, tmp_path / "out"))
    msg = str(err.value)
    assert "column 'y'" in msg and "missing values" in msg and "line 6;" in msg
    assert "infinite" in msg and "line 11;" in msg
    assert "duplicate" in msg and "lines 22, 162" in msg
    report = read_json(tmp_path / "out" / "validation.json")
    assert report["status"] == "failed"
    assert sum(c["action"] == "rejected" for c in report["checks"]) == 3


def test_label_varying_within_sequence(tmp_path: Path) -> None:
    df = classify_frame()
    labels = df["label"].to_list()
    labels[1] = "down" if labels[1] == "up" else "up"
    path = tmp_path / "c.csv"
    df.with_columns(pl.Series("label", labels)).write_csv(path)
    with pytest.raises(DataValidationError, match="1 sequence whose label changes"):
        checked(tiny_config(path, tmp_path / "out"))


def test_non_numeric_feature_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    forecast_frame().with_columns(pl.col("promo").cast(pl.String) + "x").write_csv(path)
    cfg = tiny_config(path, tmp_path / "out", **{"data.columns.features": ["promo"]})
    not_numbers = r"column 'promo': 160 row\(s\) with values that are not numbers"
    with pytest.raises(DataValidationError, match=not_numbers):
        checked(cfg)


def test_unused_columns_are_listed_not_dropped_silently(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    forecast_frame().with_columns(pl.lit("north").alias("region")).write_csv(path)
    checked(tiny_config(path, tmp_path / "out"))
    assert read_json(tmp_path / "out" / "validation.json")["ignored_columns"] == ["region"]


def test_a_quoted_header_name_is_read_as_written(forecast_csv: Path, tmp_path: Path) -> None:
    """Doubled quotes inside a quoted header cell are one quote, as in the data cells."""
    lines = forecast_csv.read_text().splitlines()
    name = '=HYPERLINK("http://evil","x")'
    quoted = '"' + name.replace('"', '""') + '"'
    path = tmp_path / "quoted.csv"
    path.write_text("\n".join([lines[0].replace("promo", quoted), *lines[1:]]) + "\n")
    cfg = tiny_config(path, tmp_path / "out", **{"data.columns.features": [name]})
    assert checked(cfg).roles.features == (name,)
    assert name in pl.read_parquet(tmp_path / "out" / "validated.parquet").columns


def test_a_horizon_longer_than_every_series_is_a_usage_error_at_once(forecast_csv: Path,
                                                              tmp_path: Path) -> None:
    """Said before any series is set aside, with the largest horizon that fits; a horizon
    the series are only too short for stays the data defect `short_series`."""
    import time

    from schemas.errors import UsageError

    start = time.monotonic()
    with pytest.raises(UsageError) as exc:
        checked(tiny_config(forecast_csv, tmp_path / "out", **{"forecast.horizon": 100_000}))
    text = str(exc.value)
    assert str(forecast_csv) in text and "forecast.horizon=100000" in text
    assert "longest series has 80" in text and "use forecast.horizon=" in text
    fits = int(text.split("use forecast.horizon=")[1].split()[0])
    assert checked(tiny_config(forecast_csv, tmp_path / "ok",
                                **{"forecast.horizon": fits})).roles.task == "forecast"
    with pytest.raises(DataValidationError):  # shorter than the series: a data defect
        checked(tiny_config(forecast_csv, tmp_path / "out", **{"forecast.horizon": fits + 1}))
    assert time.monotonic() - start < 60


def test_min_series_length_is_the_first_length_that_holds_every_split() -> None:
    """The search starting at the necessary bounds finds what counting up from the span does."""
    import itertools
    import math

    from schemas.config import ForecastConfig
    from schemas.rules import min_series_length

    def counted(fc: ForecastConfig) -> int:
        n = fc.lookback + fc.horizon
        while not (min(math.ceil(n * fc.test_fraction), math.ceil(n * fc.val_fraction))
                   >= fc.horizon and n - math.ceil(n * fc.test_fraction)
                   - math.ceil(n * fc.val_fraction) >= fc.lookback + fc.horizon):
            n += 1
        return n

    for lb, h, tf, vf in itertools.product([1, 8, 32, 100], [1, 2, 7, 12, 48, 365],
                                           [0.01, 0.15, 0.33, 0.49], [0.01, 0.15, 0.3, 0.49]):
        fc = ForecastConfig(lookback=lb, horizon=h, test_fraction=tf, val_fraction=vf)
        assert min_series_length(fc, False) == counted(fc), (lb, h, tf, vf)
