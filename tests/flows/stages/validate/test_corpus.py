"""The malformed-file corpus (corpus/ beside this file, made by make_corpus.py): every defect
gives its documented exit code and a message naming what and where, never a traceback, and every
row is accounted for."""

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.cli.main import main
from schemas.files import read_json

CORPUS = Path(__file__).parent / "corpus"
SMALL = ["--set", "forecast.lookback=4", "--set", "forecast.horizon=2"]


def policy(**actions: str) -> list[str]:
    return [a for k, v in actions.items() for a in ("--set", f"validation.policy.{k}={v}")]


# file, extra options, exit code, message fragments, (used, quarantined, inserted) or None
CASES = [
    ("valid.csv", [], 0, ["28 of 28 rows used"], (28, 0, 0)),
    ("valid.csv.gz", [], 0, ["28 of 28 rows used"], (28, 0, 0)),
    ("bom.csv", [], 0, ["28 of 28 rows used"], (28, 0, 0)),
    ("semicolon.csv", [], 0, ["28 of 28 rows used"], (28, 0, 0)),
    ("blank_lines.csv", [], 0, ["28 of 28 rows used"], (28, 0, 0)),
    ("empty.csv", [], 2, ["the file is empty"], None),
    ("header_only.csv", [], 2, ["no data rows"], None),
    ("latin1.csv", [], 2, ["line 4 has bytes that are not UTF-8", "Re-encode"], None),
    ("semicolon.csv", ["--set", "data.delimiter=,"], 2, ["only one column", "data.delimiter"],
     None),
    ("ragged_long.csv", [], 2, ["header has 4, but line 5 has 5"], None),
    ("ragged_short.csv", [], 2, ["header has 4, but line 7 has 3"], None),
    ("unclosed_quote.csv", [], 2, ["wrong number of fields", "unclosed quote"], None),
    ("duplicate_header.csv", [], 2, ["repeats the column name(s) ['y']"], None),
    ("truncated.csv.gz", [], 2, ["cannot be decompressed"], None),
    ("corrupt.parquet", [], 2, ["could not be read as PARQUET", "re-export"], None),
    ("table.xlsx", [], 2, ["unsupported file type"], None),
    ("no_target.csv", [], 1, ["no target column", "--target COLUMN"], None),
    ("classify_no_features.csv", [], 1, ["no numeric feature column"], None),
    ("not_numeric_late.csv", [], 1,
     ["column 'y': 1 row(s) with values that are not numbers, at line 24"], None),
    ("not_numeric_late.csv", policy(not_numeric="quarantine", gaps="fix"), 0, [], (27, 1, 1)),
    ("thousands.csv", [], 1, ["not numbers, at line 5", "thousands separators"], None),
    ("missing.csv", [], 1, ["column 'y': 2 row(s) with missing values", "lines 6, 11"], None),
    ("missing.csv", policy(missing="quarantine", gaps="fix"), 0, [], (26, 2, 2)),
    ("missing.csv", policy(missing="quarantine"), 1, ["missing time steps", "gaps: quarantine"],
     None),
    ("nan.csv", [], 1, ["missing values", "at line 8"], None),
    ("nan.parquet", [], 1, ["missing values", "at row 3 (0-based)"], None),
    ("infinite.csv", [], 1, ["column 'y': 1 row(s) with infinite values", "at line 9",
                             "column 'promo': 1 row(s) with infinite values", "at line 22"],
     None),
    ("out_of_bounds.csv", [], 0, [], (28, 0, 0)),
    ("out_of_bounds.csv", ["--set", "validation.bounds={y: {min: 0}}"], 1,
     ["values outside validation.bounds, at line 10"], None),
    ("out_of_bounds.csv", ["--set", "validation.bounds={sales: {min: 0}}"], 2,
     ["validation.bounds: ['sales']"], None),
    ("mixed_date_formats.csv", [], 1, ["not ISO 8601", "at line 7"], None),
    ("unparseable_time.csv", [], 1, ["not ISO 8601", "at line 7"], None),
    ("mixed_timezones.csv", [], 1, ["different UTC offset", "at line 12"], None),
    ("duplicate_rows.csv", [], 1, ["2 row(s) with the same (id, time)", "lines 7, 8"], None),
    ("duplicate_rows.csv", policy(duplicate="fix"), 0, [], (28, 1, 0)),
    ("duplicate_rows.csv", policy(duplicate="quarantine", gaps="fix"), 0, [], (27, 2, 1)),
    ("unsorted.csv", [], 0, ["28 of 28 rows used"], (28, 0, 0)),
    ("unsorted.csv", policy(unsorted="error"), 1, ["earlier than the row before", "line 6"],
     None),
    ("irregular.csv", [], 1, ["off the series' regular step, at line 8"], None),
    ("irregular.csv", policy(irregular="quarantine", gaps="fix"), 0, [], (27, 1, 1)),
    ("gaps.csv", [], 1, ["1 series with missing time steps", "3 steps missing"], None),
    ("gaps.csv", policy(gaps="fix"), 0, ["3 inserted"], (25, 0, 3)),
    ("gaps.csv", policy(gaps="quarantine"), 0, ["11 quarantined"], (14, 11, 0)),
    ("short_series.csv", [], 0, ["5 quarantined"], (28, 5, 0)),
    ("short_series.csv", policy(short_series="error"), 1, ["1 series too short"], None),
    ("constant_series.csv", [], 0, ["14 quarantined"], (28, 14, 0)),
    ("constant_series.csv", policy(constant_series="error"), 1,
     ["1 series whose target never changes"], None),
    ("empty_feature.csv", ["--features", "promo,extra"], 1,
     ["column 'extra': no values at all"], None),
    ("empty_feature.csv", ["--features", "promo,extra", *policy(empty_feature="fix")], 0, [],
     (28, 0, 0)),
    ("bad_split.csv", [], 1, ["column 'split': 1 row(s) with split values", "at line 5"], None),
    ("bad_split.csv", policy(bad_split="quarantine", gaps="fix"), 0, [], (27, 1, 1)),
    ("formula_id.csv", policy(missing="quarantine"), 0, [], (28, 1, 0)),
    ("all_short.csv", [], 1, ["no rows are left", "too short"], None),
    ("classify_valid.csv", [], 0, ["48 of 48 rows used"], (48, 0, 0)),
    ("missing_label.csv", [], 1, ["1 sequence with rows that have no label, at line 7"], None),
    ("missing_label.csv", policy(missing_label="quarantine"), 0, [], (44, 4, 0)),
    ("varying_label.csv", [], 1, ["1 sequence whose label changes", "line 8"], None),
    ("varying_label.csv", policy(varying_label="quarantine"), 0, [], (44, 4, 0)),
    ("mixed_split.csv", [], 1, ["1 sequence with rows in more than one split"], None),
    ("short_sequence.csv", [], 0, ["1 quarantined"], (48, 1, 0)),
    ("short_sequence.csv", policy(short_sequence="error"), 1,
     ["shorter than validation.min_sequence_length"], None),
    ("rare_class.csv", [], 0, ["2 quarantined"], (48, 2, 0)),
    ("rare_class.csv", policy(rare_class="error"), 1, ["of a class too rare"], None),
    # regressions
    ("offset_0530.csv", [], 0, ["20 of 20 rows used"], (20, 0, 0)),
    ("month_ends_from_april.csv", [], 0, ["20 of 20 rows used"], (20, 0, 0)),
    ("off_grid_first.csv", [], 1, ["1 row(s) with times off the series' regular step, at line 2"],
     None),
    ("epoch_ns.csv", [], 0, ["40 of 40 rows used"], (40, 0, 0)),
    ("every_30_days_gap.csv", [], 1, ["1 series with missing time steps", "1 steps missing"],
     None),
    ("typo_step.csv", policy(gaps="fix"), 1, ["too long to fill", "at line 22"], None),
    ("compact_dates.csv", [], 0, ["40 of 40 rows used"], (40, 0, 0)),
    ("padded_ids.csv", [], 0, ["20 of 20 rows used"], (20, 0, 0)),
    ("huge.csv", [], 1, ["beyond ±1e150", "at line 5"], None),
    ("stray_quote.csv", [], 1, ["values that are not numbers, at line 5"], None),
    ("cr_only.csv", [], 0, ["20 of 20 rows used"], (20, 0, 0)),
    ("reserved_column.csv", [], 2, ["['__row'] are names seqarena uses internally"], None),
    ("valid.csv", ["--target", "ds"], 2, ["['ds'] are given more than one role"], None),
    ("label_na.csv", [], 1, ["1 sequence with rows that have no label, at line 4"], None),
    ("bool_feature.parquet", [], 0, ["28 of 28 rows used"], (28, 0, 0)),
    ("list_column.parquet", policy(missing="quarantine", gaps="fix"), 0, [], (27, 1, 1)),
    ("berlin_daily.parquet", [], 0, ["22 of 22 rows used"], (22, 0, 0)),
    ("duration_time.parquet", [], 1, ["20 row(s) with times that are not ISO 8601"], None),
]


def assert_accounted(out: Path) -> dict:
    """rows in = used + quarantined + rejected, in total and per series or sequence, and the
    quarantine file holds exactly the rows set aside."""
    report = read_json(out / "validation.json")
    if "checks" not in report:  # unreadable file or missing role: nothing was checked
        return report
    parts = ("rows_used", "rows_quarantined", "rows_rejected")
    assert report["rows_in"] == sum(report[k] for k in parts)
    for g in report["groups"]:
        assert g["rows_in"] == sum(g[k] for k in parts), g
    assert report["rows_in"] == sum(g["rows_in"] for g in report["groups"])
    aside = pl.read_parquet(out / "quarantine.parquet")
    assert aside.height == report["rows_quarantined"] + report["rows_rejected"]
    assert (aside["seqarena_action"] == "rejected").sum() == report["rows_rejected"]
    return report


@pytest.mark.parametrize(("name", "options", "code", "fragments", "counts"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_corpus_file(name: str, options: list[str], code: int, fragments: list[str],
                     counts: tuple[int, int, int] | None, tmp_path: Path,
                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    got = main(["validate", str(CORPUS / name), "--out", str(out), *SMALL, *options])
    text = capsys.readouterr()
    printed = text.out + text.err
    assert got == code, printed
    assert "Traceback" not in printed
    if code:
        assert str(CORPUS / name) in printed or name in printed
    for fragment in fragments:
        assert fragment in printed
    if (out / "validation.json").exists():
        report = assert_accounted(out)
        if counts is not None:
            assert (report["rows_used"], report["rows_quarantined"], report["rows_added"]) \
                == counts


def test_corpus_is_what_the_generator_writes(tmp_path: Path) -> None:
    """The committed files are reproducible from make_corpus.py."""
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "corpus"
    shutil.copytree(CORPUS, copy)
    subprocess.run([sys.executable, str(copy / "make_corpus.py")], check=True,
                   capture_output=True)
    for path in sorted(CORPUS.glob("*.*")):
        made, committed = held(copy / path.name), held(path)
        if isinstance(made, pl.DataFrame) and isinstance(committed, pl.DataFrame):
            assert_frame_equal(made, committed, check_exact=True)
        else:
            assert made == committed, path.name


def held(path: Path) -> bytes | pl.DataFrame:
    """A file's content: a readable Parquet file's frame (its footer names the writer's version),
    any other file's bytes."""
    if path.suffix == ".parquet":
        try:
            return pl.read_parquet(path)
        except pl.exceptions.PolarsError:
            pass
    return path.read_bytes()


def test_quarantine_csv_cannot_run_as_a_formula(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["validate", str(CORPUS / "formula_id.csv"), "--out", str(out), *SMALL,
            *policy(missing="quarantine")]
    assert main(args) == 0
    text = (out / "quarantine.csv").read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    row = pl.read_parquet(out / "quarantine.parquet").row(0, named=True)  # Parquet: as read
    assert row["unique_id"].startswith("=HYPERLINK") and row["seqarena_where"] == "line 30"
    assert row["seqarena_checks"] == "missing(y)"
