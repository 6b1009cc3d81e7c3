"""report.html: self-contained, escaped, rebuilt by `seqarena report`, opened by a browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl
import pytest

from flows.cli.main import main
from flows.report.html import CSP
from flows.report.plots import forecast_vs_actual
from schemas.layout import Layout
from schemas.stages import forecasts_schema
from tests.helpers import TINY_MODELS, classify_frame, forecast_frame, run_stages, tiny_config
from tests.helpers import chromium as helpers_chromium

HOSTILE = ["<script>alert(1)</script>", "a|b\nc", "\u202eevil", "$x$ \\"]


def _hostile_run(tmp_path: Path) -> Layout:
    """A classification run whose labels and feature name are hostile strings."""
    frame = classify_frame().with_columns(
        pl.col("label").replace({"up": HOSTILE[0], "down": HOSTILE[1] + HOSTILE[2]}))
    frame = frame.rename({"f2": HOSTILE[3]})
    data = tmp_path / "<b>data|.csv"
    frame.write_csv(data)
    cfg = tiny_config(data, tmp_path / "out", **{"promote.must_beat": []})
    run_stages(cfg)
    return Layout(tmp_path / "out")


@pytest.fixture(scope="module")
def hostile_source(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """One hostile classification run for the module (a whole pipeline run)."""
    return _hostile_run(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def hostile(hostile_source: Layout, tmp_path: Path) -> Layout:
    """A fresh copy of the module's hostile run, which the test may change."""
    shutil.copytree(hostile_source.root, tmp_path / "out", symlinks=True)
    return Layout(tmp_path / "out")


def _hostile_forecast_run(tmp_path: Path) -> Layout:
    """A forecasting run (one tiny model) whose three series ids are hostile strings."""
    ids = {f"s{i}": HOSTILE[i] for i in range(3)}
    frame = forecast_frame(n_series=3).with_columns(pl.col("unique_id").replace(ids))
    data = tmp_path / "forecast.csv"
    frame.write_csv(data)
    cfg = tiny_config(data, tmp_path / "out", models={"gru": TINY_MODELS["gru"]},
                      **{"promote.must_beat": []})
    run_stages(cfg)
    return Layout(tmp_path / "out")


def json_counts(layout: Layout) -> dict:
    return json.loads(layout.state.read_text())["counts"]


@pytest.mark.slow  # a whole pipeline run
def test_the_html_report_is_self_contained_and_escaped(hostile: Layout) -> None:
    layout = hostile
    page = layout.report_html.read_text(encoding="utf-8")
    assert f'content="{CSP}"' in page  # no script, no external resource may load
    assert "<script" not in page and "\u202e" not in page and "<b>data" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;U+202E&gt;evil" in page
    # nothing outside the page: SVG refers only to its own fragments (#id) and data: images
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#|data:)|url\((?!#)|@import""", page)
    assert page.count("<svg") >= 3  # intervals, cost, learning curves (inline)
    assert "Leaderboard" in page and "Promoted: " in page and "Your data, measured" in page
    assert "ORT p50 ms" in page and "checked against PyTorch on the test split" in page
    md = layout.report.read_text(encoding="utf-8")
    assert "| ORT items/s |" in md and "ORT: the same latency" in md
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "Per class: " in page and "rows: true class" in page
    confusion = pl.read_csv(layout.plots / "confusion.csv")
    assert confusion.height == json_counts(layout)["test"]
    assert set(confusion["actual"]) <= {HOSTILE[0], HOSTILE[1] + HOSTILE[2]}
    for table in ("learning_curves.csv", "profile.csv"):
        assert pl.read_csv(layout.plots / table).height > 0


@pytest.mark.slow  # a whole pipeline run
def test_seqarena_report_rebuilds_both_reports(hostile: Layout, tmp_path: Path) -> None:
    layout = hostile
    layout.report_html.unlink()
    layout.report.write_text("stale")
    assert main(["report", str(layout.root)]) == 0
    assert layout.report_html.exists() and "## Leaderboard" in layout.report.read_text()
    assert main(["report", str(tmp_path / "nothing")]) == 2


@pytest.mark.slow  # a whole pipeline run
def test_the_forecast_report_draws_forecasts_against_actuals(tmp_path: Path) -> None:
    layout = _hostile_forecast_run(tmp_path)
    sample = forecasts_schema.validate(pl.read_parquet(layout.forecasts))
    assert layout.forecasts.stat().st_size < 20_000 and set(sample["series"]) == set(HOSTILE[:3])
    assert set(sample["kind"]) == {"history", "actual", "model", "baseline"}
    assert set(sample["model"].drop_nulls()) == {"gru", "naive", "seasonal_naive"}
    assert sample.filter(pl.col("kind") == "history")["step"].max() == 0  # then 1 .. horizon
    page = layout.report_html.read_text(encoding="utf-8")
    assert "forecast against actual" in page and page.count("<svg") >= 5
    assert "<script" not in page and "\u202e" not in page
    table = pl.read_csv(layout.plots / "forecasts.csv")
    assert table.height == sample.height and set(table["series"]) == set(HOSTILE[:3])
    with plt.rc_context({"svg.fonttype": "none"}):  # text as <text>: what the labels say
        drawn = forecast_vs_actual(sample, "y") or ""
    assert "series &lt;script&gt;alert(1)&lt;/script&gt;" in drawn and "a|b c" in drawn
    assert "&lt;U+202E&gt;evil" in drawn and "\u202e" not in drawn and "seasonal_naive" in drawn
    layout.forecasts.write_bytes(b"not parquet")  # a damaged file: a usage error, exit 2
    assert main(["report", str(layout.root)]) == 2
    # a run folder made before evaluate kept forecasts: the report, without that plot
    layout.forecasts.unlink()
    assert main(["report", str(layout.root)]) == 0
    page = layout.report_html.read_text(encoding="utf-8")
    assert "forecast against actual" not in page and "Leaderboard" in page
    assert pl.read_csv(layout.plots / "forecasts.csv").height == 0


@pytest.mark.slow  # a browser
def test_a_headless_browser_opens_the_report_offline(hostile: Layout, tmp_path: Path) -> None:
    chromium = helpers_chromium()
    layout = hostile
    shot = tmp_path / "report.png"
    out = subprocess.run(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--proxy-server=127.0.0.1:9",
         f"--screenshot={shot}", "--window-size=1200,3000", layout.report_html.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000
    console = [ln for ln in out.stderr.splitlines() if "CONSOLE" in ln or "Refused" in ln]
    assert not console, console


@pytest.mark.parametrize("name", ["$x$ \\", "a\\$b", "\\alpha $\\beta$", "50$ -- 60$"])
def test_plot_text_shows_a_users_string_as_typed(name: str) -> None:
    """No mathtext, no doubled backslashes: matplotlib draws the user's characters."""
    from flows.report.plots import label

    fig = plt.figure()
    text = fig.text(0, 0, label(name))
    shown, is_math = text._preprocess_math(text.get_text())
    plt.close(fig)
    assert not is_math
    assert shown == name.replace("--", "-\u2010")
