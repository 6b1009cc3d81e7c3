"""What users wrote (labels, columns, ids, file and model names) cannot inject HTML, Markdown
structure, hidden bidi text or spreadsheet formulas into the files seqarena writes."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows.cli.main import main
from flows.report.markdown import leaderboard_table
from flows.report.text import md_code, md_text, one_line
from schemas.artifacts import Decision, Row
from schemas.layout import Layout
from tests.helpers import run_stages, tiny_config

SCRIPT = "<script>alert(1)</script>"
RLO = "\u202e"
LONG_LABEL = "L" * 3000
LABELS = [SCRIPT, "a|b", "line1\nline2", RLO + "evil", LONG_LABEL]
FORMULA = "=cmd|' /C calc'!A0"
FEATURES = [SCRIPT, "a|b", "x\ny", RLO + "f", FORMULA]
UNUSED = "note|<u>"  # a text column: listed as not used
RAW = [SCRIPT, "<script", RLO, "a|b", "line1\nline2", "x\ny", "L" * 81]
PIPE = re.compile(r"(?<!\\)\|")


def nasty_frame(per_class: int = 8) -> pl.DataFrame:
    """Classification data whose labels, feature names and one id are hostile."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(per_class * len(LABELS)):
        n = int(rng.integers(6, 10))
        x = rng.normal(0, 0.3, (n, len(FEATURES)))
        x[0, 0] += i % len(LABELS)
        if i < len(FEATURES):  # a missing value in each feature: the checks name them all
            x[1, i] = np.nan
        rows.append(pl.DataFrame({"sequence_id": f"q{i:03d}", "step": np.arange(n),
                                  **{f: x[:, j] for j, f in enumerate(FEATURES)},
                                  "label": LABELS[i % len(LABELS)], UNUSED: "text"}))
    short = {"sequence_id": "<b>|id", "step": [0], **{f: [0.0] for f in FEATURES},
             "label": LABELS[0], UNUSED: "text"}  # one row: quarantined, listed per sequence
    return pl.concat([*rows, pl.DataFrame(short)], how="vertical_relaxed")


def assert_tables_keep_their_columns(text: str) -> None:
    """Every row of every Markdown table has as many unescaped pipes as its header."""
    tables, current = [], []
    for line in [*text.split("\n"), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert tables
    for table in tables:
        width = len(PIPE.findall(table[0]))
        assert all(len(PIPE.findall(row)) == width for row in table), table


def test_md_text_escapes_html_markdown_controls_and_length() -> None:
    assert md_text(SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert md_text("a|b `c` *d* _e_ [f](g) #h \\ ~i~") == (
        "a\\|b \\`c\\` \\*d\\* \\_e\\_ \\[f\\](g) \\#h \\\\ \\~i\\~")
    assert md_text("x\r\ny\tz\u2028w") == "x y z w"
    assert one_line(RLO + "abc\u2066\u200e\x07") == "<U+202E>abc<U+2066><U+200E><U+0007>"
    assert md_text(RLO) == "&lt;U+202E&gt;"
    assert one_line(LONG_LABEL) == "L" * 80 + "… (3000 characters)"
    assert md_code("ds") == "`ds`" and md_code("a|b") == "a\\|b" and md_code("a`b") == "a\\`b"


def test_leaderboard_row_with_a_hostile_name_keeps_its_columns() -> None:
    row = Row(model="x|y\n| z", kind="model", status="ok", accuracy=0.5, macro_f1=0.5,
              params=10, train_seconds=1.0, steps=1, latency_ms=1.0, size_bytes=1024)
    decision = Decision.model_validate({"metric": "macro_f1", "lower_is_better": False,
                                        "winner": row.model})
    table = leaderboard_table([row], "classify", decision)
    assert_tables_keep_their_columns(table)
    assert "x\\|y \\| z" in table


@pytest.mark.slow  # a whole pipeline run
def test_hostile_labels_and_columns_are_escaped_in_every_report(tmp_path: Path) -> None:
    data = tmp_path / "data<i>|x.parquet"
    nasty_frame().write_parquet(data)
    cfg = tiny_config(data, tmp_path / "out", models={"gru": {"hidden": 4, "layers": 1}},
                      **{"promote.must_beat": [],
                         "validation.policy.missing": "quarantine"})
    run_stages(cfg)
    layout = Layout(tmp_path / "out")
    for path in (layout.report, layout.validation_md):
        text = path.read_text(encoding="utf-8")
        for raw in [*RAW, "<i>", "<u>"]:
            assert raw not in text, (path.name, raw)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "a\\|b" in text
        assert "&lt;U+202E&gt;" in text and "data&lt;i&gt;\\|x.parquet" in text
        assert "x y" in text  # the newline in a feature name became a space
        assert_tables_keep_their_columns(text)
    report = layout.report.read_text(encoding="utf-8")
    assert "line1 line2" in report and "(3000 characters)" in report
    validation = layout.validation_md.read_text(encoding="utf-8")
    assert "&lt;b&gt;\\|id" in validation and "note\\|&lt;u&gt;" in validation
    with layout.quarantine_csv.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    assert "'" + FORMULA in header and FORMULA not in header


def test_quarantine_csv_header_is_formula_safe(tmp_path: Path) -> None:
    from flows.stages.validate.report import write_safe_csv

    frame = pl.DataFrame({FORMULA: ["=1+1"], "-5": [1], "+x": ["-5"], "y": ["@SUM(A1)"]})
    write_safe_csv(frame, tmp_path / "q.csv")
    with (tmp_path / "q.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["'" + FORMULA, "-5", "'+x", "y"], ["'=1+1", "1", "-5", "'@SUM(A1)"]]


@pytest.mark.parametrize("name", ["a/b", "../x", ".hidden", "x" * 65, "a b"])
def test_bad_model_name_is_a_usage_error(name: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "d.csv"
    data.write_text("ds,y\n1,1\n")
    args = ["validate", str(data), "--out", str(tmp_path / "out"),
            "--set", f"models={{'{name}': {{arch: gru}}}}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert repr(name) in err and "1-64 letters, digits" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
