"""Configuration traps: overrides that drop models, output folders that collide, model sizes
that stop a run, files only their owner can read, and a cron expression that is not one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.cli.main import _config, build_parser, main
from schemas.config import load_config
from schemas.errors import UsageError
from tests.helpers import ROOT


def cli_config(*argv: str):
    """The Config the command line builds from `argv`."""
    return _config(build_parser().parse_args(list(argv)))


def test_dotted_model_override_keeps_the_other_models() -> None:
    cfg = cli_config("validate", "d.csv", "--set", "models.gru.hidden=32")
    assert list(cfg.models) == ["rnn", "lstm", "gru", "hybrid", "transformer", "linear"]
    assert cfg.models["gru"].hidden == 32 and cfg.models["lstm"].hidden == 64
    whole = cli_config("validate", "d.csv", "--set", "models={gru: {hidden: 4}}",
                       "--set", "models.gru.layers=1")
    assert list(whole.models) == ["gru"] and (whole.models["gru"].hidden,
                                              whole.models["gru"].layers) == (4, 1)


def test_dotted_model_override_applies_on_top_of_a_params_file(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("models:\n  lstm: {hidden: 8}\n  big: {arch: gru}\n")
    cfg = cli_config("validate", "d.csv", "--params", str(params), "--set", "models.big.layers=1")
    assert list(cfg.models) == ["lstm", "big"] and cfg.models["big"].layers == 1
    assert cfg.models["lstm"].hidden == 8


def test_dotted_key_below_a_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"'train\.lr' is a value, not a section"):
        load_config(None, {"train.lr": 0.1, "train.lr.x": 1})
    assert load_config(None, {"train": None, "train.lr": 0.5}).train.lr == 0.5


@pytest.mark.parametrize(("data", "out"), [
    ("data/sales.v1.csv", "runs/sales.v1"), ("sales.v2.csv", "runs/sales.v2"),
    ("x/sales.v1.csv.gz", "runs/sales.v1"), ("SALES.2024.Parquet", "runs/SALES.2024"),
    ("sales.csv", "runs/sales"),
])
def test_default_output_folder_is_the_name_without_its_data_extension(data: str,
                                                                       out: str) -> None:
    assert Path(cli_config("validate", data).out_dir) == Path(out)


@pytest.mark.parametrize(("setting", "key", "limit"), [
    ("models.transformer.d_model=2000000", "models.transformer.d_model", "8192"),
    ("models.lstm.hidden=10000000", "models.lstm.hidden", "8192"),
    ("models.gru.layers=100000", "models.gru.layers", "64"),
    ("models.transformer.heads=1000", "models.transformer.heads", "64"),
    ("models.transformer.ff=100000", "models.transformer.ff", "32768"),
])
def test_impossible_model_size_is_named_before_anything_trains(
        setting: str, key: str, limit: str, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    start = time.perf_counter()
    code = main(["compare", str(tmp_path / "d.csv"), "--out", str(tmp_path / "out"),
                 "--set", setting])
    err = capsys.readouterr().err
    assert code == 2 and f"{key}: Input should be less than or equal to {limit}" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
    assert time.perf_counter() - start < 10


def test_scheduling_sizes_models_without_allocating_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import modules.lit
    from flows.runtime.fanout import largest_first

    built, real = [], modules.lit.build_module

    def spy(*args, **kwargs):
        module = real(*args, **kwargs)
        built.extend(p.device.type for p in module.parameters())
        return module

    monkeypatch.setattr(modules.lit, "build_module", spy)
    cfg = load_config(None, {"models": {
        "small": {"arch": "gru", "hidden": 4},
        "widest": {"arch": "lstm", "hidden": 256, "layers": 2},
        "mid": {"arch": "transformer", "d_model": 64}}})
    jobs = largest_first(cfg, cfg.jobs(folds=2))
    assert [j.name for j in jobs][::4] == ["widest", "mid", "small"]  # 2 folds x 2 seeds each
    assert [(j.fold, j.seed) for j in jobs[:4]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert len(jobs) == 12
    assert built and set(built) == {"meta"}  # shapes only: a 10^10-weight model costs nothing


MODES = """
import os, sys, tempfile
from pathlib import Path
from schemas.files import make_temp_dir, write_text
root = Path(sys.argv[1])
print(oct(os.stat(write_text(root / "a.txt", "x")).st_mode & 0o777),
      oct(os.stat(make_temp_dir(root, ".promoted-")).st_mode & 0o777))
"""


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"),
                         [(0o022, "0o644", "0o755"), (0o077, "0o600", "0o700")])
def test_written_files_and_folders_follow_the_umask(umask: int, file_mode: str, dir_mode: str,
                                                    tmp_path: Path) -> None:
    old = os.umask(umask)  # the child reads it at import, as seqarena does
    try:
        out = subprocess.run([sys.executable, "-c", MODES, str(tmp_path)], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.umask(old)
    assert out.split() == [file_mode, dir_mode]


@pytest.mark.parametrize("cron", ["not a cron", "", "61 3 * * *"])
def test_bad_cron_is_a_usage_error_before_serving(cron: str, capsys: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect

    def serve(*_: object, **__: object) -> None:
        raise AssertionError("serve must not start")

    monkeypatch.setattr(prefect, "serve", serve)
    assert main(["serve", "--cron", cron, "--params", str(ROOT / "params.yaml")]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: --cron {cron!r}: not a valid cron expression (5 fields: minute "
                   "hour day month weekday), e.g. '0 3 * * *'\n")
