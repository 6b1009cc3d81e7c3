"""The command line: exit codes of docs/contracts.md, messages without tracebacks, predict."""

import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from flows.cli.main import main
from tests.helpers import classify_frame, forecast_frame, run_stages, tiny_config


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_validate_ok_and_missing_column(capsys: pytest.CaptureFixture, forecast_csv: Path,
                                        tmp_path: Path) -> None:
    code, text = _run(capsys, "validate", str(forecast_csv), "--out", str(tmp_path / "v"))
    assert code == 0 and "valid" in text
    bad = tmp_path / "no_target.csv"
    forecast_frame().drop("y").write_csv(bad)
    code, text = _run(capsys, "validate", str(bad), "--out", str(tmp_path / "v2"))
    assert code == 1
    assert str(bad) in text and "no target column" in text and "Traceback" not in text


@pytest.mark.parametrize(("argv", "fragment"), [
    (["validate", "missing.csv"], "file not found"),
    (["validate", "data.xlsx"], "unsupported file type"),
    (["compare", "x.csv", "--set", "train.max_epoch=1"], "train.max_epoch"),
    (["compare", "x.csv", "--set", "nonsense"], "KEY=VALUE"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture, argv: list[str],
                             fragment: str) -> None:
    code, text = _run(capsys, *argv)
    assert code == 2 and fragment in text and "Traceback" not in text


def test_unreadable_file_exit_2(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not a parquet file")
    code, text = _run(capsys, "validate", str(path))
    assert code == 2 and str(path) in text and "Traceback" not in text


def test_help_exits_0(capsys: pytest.CaptureFixture) -> None:
    code, text = _run(capsys, "compare", "--help")
    assert code == 0 and "--epochs" in text


def test_console_script_bad_data_has_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    forecast_frame().with_columns(pl.lit(None, pl.Float64).alias("y")).write_csv(bad)
    exe = shutil.which("seqarena") or f"{sys.executable} -m flows.cli"
    proc = subprocess.run([*exe.split(), "validate", str(bad), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "column 'y'" in proc.stderr and "lines 2, 3, 4" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_predict_forecast(capsys: pytest.CaptureFixture, forecast_csv: Path,
                          tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "run", models={"gru": {"hidden": 8}},
                      **{"promote.must_beat": []})
    run_stages(cfg)
    out = tmp_path / "pred.csv"
    code, text = _run(capsys, "predict", str(forecast_csv), "--model",
                      str(tmp_path / "run" / "promoted"), "--out", str(out))
    assert code == 0, text
    pred = pl.read_csv(out, try_parse_dates=True)
    assert pred.height == 2 * 3 and set(pred["series"]) == {"s0", "s1"}
    # the last observed day is 2024-03-20; the next 3 days follow it
    assert sorted({str(d) for d in pred["ds"]}) == ["2024-03-21", "2024-03-22", "2024-03-23"]
    assert pred["yhat"].is_finite().all()


def test_predict_classify(capsys: pytest.CaptureFixture, classify_csv: Path,
                          tmp_path: Path) -> None:
    cfg = tiny_config(classify_csv, tmp_path / "run", models={"gru": {"hidden": 8}},
                      **{"promote.must_beat": []})
    run_stages(cfg)
    new = tmp_path / "new.csv"
    classify_frame(n_seq=5, seed=3).drop("label").write_csv(new)
    out = tmp_path / "pred.csv"
    code, text = _run(capsys, "predict", str(new), "--model", str(tmp_path / "run/promoted"),
                      "--out", str(out))
    assert code == 0, text
    pred = pl.read_csv(out)
    assert pred.height == 5 and set(pred["label"]) <= {"up", "down"}
    assert (pred["p_down"] + pred["p_up"] - 1).abs().max() < 1e-5


def test_predict_without_promoted_model_is_usage_error(capsys: pytest.CaptureFixture,
                                                       forecast_csv: Path, tmp_path: Path) -> None:
    code, text = _run(capsys, "predict", str(forecast_csv), "--model", str(tmp_path))
    assert code == 2 and "no promoted model" in text


def test_help_says_what_seqarena_does_and_each_command_shows_examples(
        capsys: pytest.CaptureFixture) -> None:
    from flows.cli.args import EXAMPLES, build_parser

    text = build_parser().format_help()
    assert text.split("\n\n")[1].startswith("seqarena: which sequence model serves your data")
    for name, examples in EXAMPLES.items():
        assert main([name, "--help"]) == 0
        shown = capsys.readouterr().out
        assert shown.rstrip().endswith(examples[-1]) and "examples:" in shown, name


def test_forecast_flags_are_the_config_keys() -> None:
    from flows.cli.args import build_parser, overrides

    args = build_parser().parse_args(["compare", "d.csv", "--horizon", "12", "--season", "4",
                                      "--lookback", "24"])
    got = overrides(args)
    assert (got["forecast.horizon"], got["forecast.season"], got["forecast.lookback"]) == (
        12, 4, 24)


def test_a_preset_sets_the_budget_and_explicit_options_win() -> None:
    from flows.cli.args import build_parser, overrides
    from schemas.config import Config, load_config
    from schemas.errors import UsageError

    def cfg(*extra: str) -> Config:
        return load_config(None, overrides(build_parser().parse_args(["compare", "d.csv",
                                                                      *extra])))

    assert (cfg().train.seeds, cfg().train.max_steps) == (2, None)
    assert (cfg("--preset", "quick").train.seeds, cfg("--preset", "quick").train.max_steps) \
        == (1, 1000)
    assert cfg("--preset", "thorough").train.seeds == 3
    quick = cfg("--preset", "quick", "--seeds", "2", "--set", "train.max_steps=50").train
    assert (quick.seeds, quick.max_steps) == (2, 50)
    with pytest.raises(UsageError, match="preset"):
        build_parser().parse_args(["compare", "d.csv", "--preset", "huge"])
