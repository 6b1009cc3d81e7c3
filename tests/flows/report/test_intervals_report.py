"""The forecast-intervals table: one view, rendered to report.md, report.html and the
terminal, user names escaped; nothing when no row has a calibration; a note names the levels
pooled across horizon steps."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from flows.evidence.aggregate import mean_coverage
from flows.report.html import intervals_html
from flows.report.markdown import intervals_lines
from flows.report.plots import forecast_vs_actual
from flows.report.terminal import intervals
from flows.report.view import INTERVALS_TITLE, intervals_view, pooled_note
from schemas.artifacts import Metrics, Row
from schemas.intervals import Band, Conformal, Coverage

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


def test_levels_pooled_across_steps_are_counted_and_noted() -> None:
    def run(pooled: bool) -> SimpleNamespace:
        """A scored run whose card's 95% band was or was not pooled."""
        bands = [Band(level=0.8, quantiles=[1.0, 2.0]),
                 Band(level=0.95, quantiles=[3.0, 4.0], pooled=pooled)]
        return SimpleNamespace(coverage=[(0.8, 0.8 if pooled else 0.5), (0.95, 0.9)],
                               card=SimpleNamespace(conformal=Conformal(n=11, bands=bands)))

    got = mean_coverage([run(True), run(True), run(False)])  # type: ignore[list-item]
    assert [(c.level, c.runs, c.pooled) for c in got or []] == [(0.8, 3, 0), (0.95, 3, 2)]
    assert [c.covered for c in got or []] == pytest.approx([0.7, 0.9])
    assert [c.sd for c in got or []] == pytest.approx([0.3 / 3 ** 0.5, 0.0])  # over runs
    one = mean_coverage([run(True)])  # type: ignore[list-item]
    assert [c.sd for c in one or []] == [None, None]
    assert intervals_view(ROWS).pooled == []  # type: ignore[union-attr]
    rows = [ROWS[0].model_copy(update={"coverage": [
        Coverage(level=0.8, covered=0.8, runs=3), Coverage(level=0.95, covered=0.95, runs=3,
                                                           pooled=3)]}),
            Row(model="gru", kind="model", status="ok", mase=1.0,
                coverage=[Coverage(level=0.95, covered=0.9, runs=3, pooled=2)])]
    view = intervals_view(rows)
    assert view is not None and "Pooled" not in view.note
    assert pooled_note(view) == ("Pooled across horizon steps, each scaled by its mean error "
                                 "(too few validation windows for one step alone; a weaker "
                                 "guarantee): <b>lstm|x 95%, gru 95% (in 2 of 3 runs).")
    md = "\n".join(intervals_lines(rows))
    assert "&lt;b&gt;lstm\\|x 95%, gru 95% (in 2 of 3 runs)" in md and "<b>" not in md
    assert "&lt;b&gt;lstm|x 95%, gru 95% (in 2 of 3 runs).</p>" in intervals_html(rows)
    _, note = intervals(Metrics.of("forecast", rows, {}))  # type: ignore[misc]
    assert "near 80%" in note.plain and "<b>lstm|x 95%, gru 95%" in note.plain


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


def test_a_run_made_before_evaluate_calibrated_draws_its_kept_cards_band() -> None:
    from flows.stages.promote.review import calibration
    from schemas.artifacts import ModelCard
    from schemas.specs import RecurrentSpec

    def card(seed: int, fold: int, width: float) -> ModelCard:
        """A training's card that held its own calibration (runs before evaluate pooled)."""
        return ModelCard(task="forecast", spec=RecurrentSpec(arch="lstm"), seed=seed, fold=fold,
                         conformal=Conformal(n=11, bands=[Band(level=0.8, quantiles=[width])]))

    cards = {"lstm": [card(0, 0, 1.0), card(1, 0, 2.0), card(1, 1, 3.0)]}
    old = Row(model="lstm", kind="model", status="ok", mase=0.9, kept_seed=1)
    assert calibration(old, cards) == cards["lstm"][1].conformal  # fold 0, the kept seed
    new = old.model_copy(update={"conformal": Conformal(n=5, bands=[Band(level=0.8,
                                                                       quantiles=[9.0])])})
    assert calibration(new, cards) == new.conformal  # evaluate's wins
    assert calibration(old.model_copy(update={"kept_seed": 2}), cards) is None
    assert calibration(old, {}) is None
