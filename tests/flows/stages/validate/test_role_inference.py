"""A two-column series whose names seqarena does not know (YEAR,SUNACTIVITY or date,co2):
the time and target are inferred, said and recorded; ambiguous files keep the clear error."""

import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows.cli.main import main
from flows.stages.preprocess.stage import run as preprocess
from flows.stages.validate.stage import run as validate
from tests.helpers import at, tiny_config


def _cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(list(args))
    text = capsys.readouterr()
    return code, text.out + text.err


def _sunspots(path: Path) -> Path:
    rng = np.random.default_rng(0)
    years = np.arange(1700, 2000)
    sun = 80 + 60 * np.sin(2 * np.pi * (years - 1700) / 11) + rng.normal(0, 8, len(years))
    pl.DataFrame({"YEAR": years, "SUNACTIVITY": sun.round(1)}).write_csv(path)
    return path


def _co2(path: Path) -> Path:
    rng, t = np.random.default_rng(0), np.arange(200)
    months = [date(2000 + i // 12, i % 12 + 1, 1) for i in t]
    co2 = 370 + 0.15 * t + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, len(t))
    pl.DataFrame({"date": months, "co2": co2.round(2)}).write_csv(path)
    return path


@pytest.mark.parametrize(("make", "line", "roles"), [
    (_sunspots, "inferred: time=YEAR, target=SUNACTIVITY (rename the columns or pass "
                "--time/--target to choose)", ("YEAR", "SUNACTIVITY", ["time", "target"])),
    (_co2, "inferred: target=co2 (rename the columns or pass --target to choose)",
     ("date", "co2", ["target"])),
])
def test_two_column_series_roles_are_inferred(make, line: str, roles: tuple, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    path = make(tmp_path / "series.csv")
    out = tmp_path / "out"
    code, text = _cli(capsys, "validate", str(path), "--out", str(out))
    assert code == 0, text
    assert line in text and "valid — task forecast" in text
    r = json.loads((out / "validation.json").read_text())["roles"]
    assert (r["time"], r["target"], r["inferred"]) == roles and r["features"] == []


def test_inferred_roles_carry_through_preprocess(tmp_path: Path) -> None:
    cfg = tiny_config(_sunspots(tmp_path / "sunspots.csv"), tmp_path / "out")
    assert validate(cfg, at(cfg)).roles.inferred == ("time", "target")
    state = preprocess(cfg, at(cfg)).model_dump(mode="json")
    assert state["roles"]["time"] == "YEAR" and state["columns"] == ["SUNACTIVITY"]
    assert min(state["counts"].values()) > 0


def test_explicit_names_win_over_inference(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _sunspots(tmp_path / "sunspots.csv")
    code, text = _cli(capsys, "validate", str(path), "--out", str(tmp_path / "out"),
                      "--time", "YEAR")
    assert code == 0 and "inferred: target=SUNACTIVITY" in text and "time=" not in text


def test_ambiguous_file_keeps_the_clear_error(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "ambiguous.csv"
    pl.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)}).write_csv(path)
    code, text = _cli(capsys, "validate", str(path), "--out", str(tmp_path / "out"))
    assert code == 1 and "Traceback" not in text
    assert "no time column for task 'forecast': name one with --time COLUMN" in text
    assert "inferred" not in text
