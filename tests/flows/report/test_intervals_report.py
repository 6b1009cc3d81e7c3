"""The forecast-intervals table: one view, rendered to report.md, report.html and the
terminal, user names escaped; nothing when no row has a calibration."""

from __future__ import annotations

import io

import numpy as np
import polars as pl

from flows.report.html import intervals_html
from flows.report.markdown import intervals_lines
from flows.report.plots import forecast_vs_actual
from flows.report.terminal import intervals
from flows.report.view import INTERVALS_TITLE, intervals_view
from schemas.artifacts import Metrics, Row
from schemas.intervals import Coverage

ROWS = [Row(model="<b>lstm|x", kind="model", status="ok", mase=0.9,
            coverage=[Coverage(level=0.8, covered=0.7912, runs=4),
                      Coverage(level=0.95, covered=0.9403, runs=4)]),
        Row(model="naive", kind="baseline", status="ok", mase=1.2)]


def test_the_view_has_a_row_per_calibrated_forecaster() -> None:
    view = intervals_view(ROWS)
    assert view is not None
    assert view.head == ["model", "80% covered", "95% covered"]
    assert view.rows == [["<b>lstm|x", "79.1%", "94.0%"]]
    assert "near 80% and 95%" in view.note
    assert intervals_view(ROWS[1:]) is None


def test_markdown_html_and_terminal_render_it_escaped() -> None:
    md = "\n".join(intervals_lines(ROWS))
    assert f"## {INTERVALS_TITLE}" in md and "| 79.1% | 94.0% |" in md
    assert "<b>" not in md and "lstm\\|x" in md
    html = intervals_html(ROWS)
    assert f"<h2>{INTERVALS_TITLE}</h2>" in html and "&lt;b&gt;lstm|x" in html
    assert intervals_lines(ROWS[1:]) == [] and intervals_html(ROWS[1:]) == ""
    from rich.console import Console

    table, note = intervals(Metrics.of("forecast", ROWS, {}))  # type: ignore[misc]
    out = io.StringIO()
    Console(file=out, width=120).print(table)
    assert INTERVALS_TITLE in out.getvalue() and "<b>lstm|x" in out.getvalue()
    assert "near 80%" in note.plain


def test_the_forecast_plot_draws_a_band_around_one_model() -> None:
    steps = list(range(-3, 1)) + [1, 2] * 2
    frame = pl.DataFrame({"series": "s", "kind": ["history"] * 4 + ["actual"] * 2 + ["model"] * 2,
                          "model": [None] * 6 + ["lstm"] * 2, "step": steps[:8],
                          "value": [1.0, 2.0, 3.0, 2.0, 2.5, 3.0, 2.4, 2.8]},
                         schema_overrides={"step": pl.Int32})
    bands = pl.DataFrame({"model": "lstm", "series": "s", "level": [0.8, 0.8, 0.95, 0.95],
                          "step": [1, 2, 1, 2], "lo": [2.0, 2.2, 1.5, -np.inf],
                          "hi": [2.8, 3.4, 3.3, np.inf]})
    with_band = forecast_vs_actual(frame, "y", bands)
    assert with_band is not None and "95% interval" not in with_band  # text drawn as paths
    assert with_band != forecast_vs_actual(frame, "y")
