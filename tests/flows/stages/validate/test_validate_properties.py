"""Property test: frames with random defects under random policies. Whatever the data, the
command ends with exit 0 or 1 and no traceback, and every row read is exactly one of used,
quarantined or rejected, in total and per series or sequence."""

import contextlib
import io
import tempfile
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.cli.main import main
from schemas.defects import DEFECTS, allowed
from schemas.files import read_json

BAD_NUMBERS = ["", "NA", "NaN", "inf", "-inf", "abc", "1,5", "1e400", " 7 ", "-0"]
BAD_TIMES = ["", "2024/01/03", "yesterday", "2024-01-03T00:00:00+02:00", "3"]


@st.composite
def policies(draw: st.DrawFn) -> dict[str, str]:
    return {name: draw(st.sampled_from(allowed(name))) for name in DEFECTS}


@st.composite
def forecast_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    """A few daily series, then random cells spoiled, rows duplicated, dropped or moved."""
    rows = []
    for s in range(draw(st.integers(1, 3))):
        length = draw(st.integers(1, 16))
        constant = draw(st.booleans()) and draw(st.booleans())
        for i in range(length):
            y = 5.0 if constant else float((i * 7 + s) % 5)
            rows.append({"unique_id": f"s{s}", "ds": str(date(2024, 1, 1) + timedelta(days=i)),
                         "y": str(y), "promo": str(i % 2),
                         "split": "train" if i < 8 else "val" if i < 12 else "test"})
    return _spoil(draw, rows, {"y": BAD_NUMBERS, "promo": BAD_NUMBERS, "ds": BAD_TIMES,
                               "split": ["", "training"], "unique_id": [""]})


@st.composite
def classify_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    """Labelled sequences of random lengths, then the same kinds of damage."""
    rows = []
    for q in range(draw(st.integers(1, 9))):
        label = draw(st.sampled_from(["up", "down", "flat"]))
        for t in range(draw(st.integers(1, 5))):
            rows.append({"sequence_id": f"q{q}", "step": str(t), "f1": str((q + t) % 3),
                         "label": label})
    return _spoil(draw, rows, {"f1": BAD_NUMBERS, "step": BAD_TIMES,
                               "label": ["", "up", "down"], "sequence_id": [""]})


def _spoil(draw: st.DrawFn, rows: list[dict[str, str]],
           bad: dict[str, list[str]]) -> list[dict[str, str]]:
    for _ in range(draw(st.integers(0, 6))):
        if not rows:
            break
        i = draw(st.integers(0, len(rows) - 1))
        kind = draw(st.sampled_from(["cell", "duplicate", "drop", "move"]))
        if kind == "cell":
            column = draw(st.sampled_from(sorted(bad)))
            rows[i] = {**rows[i], column: draw(st.sampled_from(bad[column]))}
        elif kind == "duplicate":
            rows.insert(draw(st.integers(0, len(rows))), dict(rows[i]))
        elif kind == "drop" and len(rows) > 1:
            rows.pop(i)
        else:
            rows.insert(draw(st.integers(0, len(rows))), rows.pop(i))
    return rows


def run_validate(rows: list[dict[str, str]], policy: dict[str, str], parquet: bool,
                 folder: Path) -> tuple[int, str]:
    frame = pl.DataFrame(rows, schema={c: pl.String for c in rows[0]})
    path = folder / ("data.parquet" if parquet else "data.csv")
    frame.write_parquet(path) if parquet else frame.write_csv(path)
    options = [a for k, v in policy.items() for a in ("--set", f"validation.policy.{k}={v}")]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
        code = main(["validate", str(path), "--out", str(folder / "out"), "--set",
                     "forecast.lookback=2", "--set", "forecast.horizon=1", *options])
    return code, err.getvalue()


def assert_accounting(folder: Path, n_rows: int, code: int) -> None:
    report = read_json(folder / "out" / "validation.json")
    if "checks" not in report:  # a role is missing: nothing was checked, nothing was used
        assert code == 1 and report["status"] == "failed"
        return
    parts = ("rows_used", "rows_quarantined", "rows_rejected")
    assert report["rows_in"] == n_rows == sum(report[k] for k in parts)
    assert all(g["rows_in"] == sum(g[k] for k in parts) for g in report["groups"])
    aside = pl.read_parquet(folder / "out" / "quarantine.parquet")
    assert aside.height == report["rows_quarantined"] + report["rows_rejected"]
    validated = folder / "out" / "validated.parquet"
    assert validated.exists() == (code == 0)
    # "line N" (CSV: header is line 1) or "row N" (Parquet, 0-based) back to the row index
    set_aside = {int(n) - 2 if w == "line" else int(n)
                 for w, n in (x.split() for x in aside["seqarena_where"])}
    assert len(set_aside) == aside.height
    if code == 0:
        used = pl.read_parquet(validated)
        rows = set(used["__row"].drop_nulls().to_list())
        assert len(rows) == report["rows_used"] == used["__row"].count()
        assert int(used["__filled"].sum()) == report["rows_added"]
        assert rows.isdisjoint(set_aside) and rows | set_aside == set(range(n_rows))


def check_any_outcome(rows: list[dict[str, str]], policy: dict[str, str], parquet: bool) -> None:
    """Exit 0 or 1, no traceback, every row accounted for."""
    with tempfile.TemporaryDirectory() as tmp:
        code, printed = run_validate(rows, policy, parquet, Path(tmp))
        assert code in (0, 1), printed
        assert "Traceback" not in printed
        assert_accounting(Path(tmp), len(rows), code)


@pytest.mark.slow  # hundreds of generated files
@settings(max_examples=60, deadline=None)
@given(rows=forecast_rows(), policy=policies(), parquet=st.booleans())
def test_forecast_defects_are_accounted_for(rows: list[dict[str, str]], policy: dict[str, str],
                                            parquet: bool) -> None:
    check_any_outcome(rows, policy, parquet)


@pytest.mark.slow  # hundreds of generated files
@settings(max_examples=40, deadline=None)
@given(rows=classify_rows(), policy=policies(), parquet=st.booleans())
def test_classify_defects_are_accounted_for(rows: list[dict[str, str]], policy: dict[str, str],
                                            parquet: bool) -> None:
    check_any_outcome(rows, policy, parquet)
