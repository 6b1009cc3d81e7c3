"""`seqarena export` writes model.onnx only after parity with PyTorch on the holdout test
split; `seqarena predict --engine onnx` then predicts as PyTorch does, without torch."""

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

import modules.export
from flows.cli.main import main
from schemas.layout import ONNX, ONNX_CARD

NO_TORCH = """
import sys
from flows.cli.main import main
rc = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'pytorch_lightning'))
print('loaded:', loaded[:3], file=sys.stderr)
sys.exit(rc if not loaded else 99)
"""


def _export(capsys: pytest.CaptureFixture, promoted: Path, *more: str) -> tuple[int, str]:
    code = main(["export", "--from", str(promoted.parent), "--model", str(promoted), *more])
    out = capsys.readouterr()
    return code, out.out + out.err


def _same(want: pl.DataFrame, got: pl.DataFrame) -> None:
    """Equal columns: numbers within 1e-4 of the column's scale, the rest exactly."""
    assert want.columns == got.columns and want.height == got.height > 0
    for col, dtype in want.schema.items():
        if dtype.is_float():
            scale = max(1.0, float(want[col].abs().max()))
            assert np.allclose(got[col], want[col], rtol=0, atol=1e-4 * scale), col
        else:
            assert got[col].to_list() == want[col].to_list(), col


def _copy(promoted: Path, tmp_path: Path) -> Path:
    """The run folder copied, so a test may change it; its promoted/ folder."""
    run = shutil.copytree(promoted.parent, tmp_path / "run", symlinks=True)
    return run / promoted.name


@pytest.mark.parametrize("trained", ["forecaster", "classifier"])
def test_onnx_predicts_as_torch_and_imports_no_torch(
        capsys: pytest.CaptureFixture, tmp_path: Path, request: pytest.FixtureRequest,
        trained: str) -> None:
    data, promoted = request.getfixturevalue(trained)
    promoted = _copy(promoted, tmp_path)
    code, text = _export(capsys, promoted)
    assert code == 0 and "ONNX Runtime matches PyTorch" in text, text
    card = json.loads((promoted / ONNX_CARD).read_text())
    assert card["parity"]["max_abs_diff"] <= 1e-4 and card["parity"]["items"] > 0
    assert main(["predict", str(data), "--model", str(promoted), "--out",
                 str(tmp_path / "torch.csv")]) == 0
    run = subprocess.run([sys.executable, "-c", NO_TORCH, "predict", str(data), "--model",
                          str(promoted), "--engine", "onnx", "--out", str(tmp_path / "onnx.csv")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr  # 99: torch was imported
    want, got = pl.read_csv(tmp_path / "torch.csv"), pl.read_csv(tmp_path / "onnx.csv")
    _same(want, got)


def test_an_export_that_computes_something_else_is_refused_with_exit_3(
        capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        forecaster: tuple[Path, Path]) -> None:
    promoted = _copy(forecaster[1], tmp_path)
    real = modules.export.onnx_bytes

    def wrong(module: torch.nn.Module, inputs: tuple, exporter: str) -> bytes:
        double = copy.deepcopy(module)
        with torch.no_grad():
            double.head.bias += 1e-3  # a small, systematic error
        return real(double, inputs, exporter)

    monkeypatch.setattr(modules.export, "onnx_bytes", wrong)
    code, text = _export(capsys, promoted)
    assert code == 3, text
    assert "export refused" in text and "torchscript: max |ONNX Runtime - PyTorch| 0.001" in text
    assert "dynamo:" in text and "nothing was written" in text and "Traceback" not in text
    assert not (promoted / ONNX).exists() and not (promoted / ONNX_CARD).exists()


def test_a_stale_or_changed_onnx_file_is_refused(capsys: pytest.CaptureFixture,
                                                 tmp_path: Path,
                                                 forecaster: tuple[Path, Path]) -> None:
    data, promoted = forecaster[0], _copy(forecaster[1], tmp_path)

    def predict() -> tuple[int, str]:
        code = main(["predict", str(data), "--model", str(promoted), "--engine", "onnx",
                     "--out", str(tmp_path / "p.csv")])
        return code, capsys.readouterr().err

    code, err = predict()
    assert code == 2 and "model.onnx missing); run `seqarena export" in err, err
    assert _export(capsys, promoted)[0] == 0
    with (promoted / ONNX).open("ab") as f:
        f.write(b"\0")
    code, err = predict()
    assert code == 2 and "not the file onnx.json describes; export it again" in err, err
    assert _export(capsys, promoted)[0] == 0
    with (promoted / "weights.safetensors").open("ab") as f:
        f.write(b" ")  # other weights: the ONNX file is stale (the torch path refuses these)
    code, err = predict()
    assert code == 2 and "exported from other weights" in err, err
    assert not (tmp_path / "p.csv").exists()


def test_export_into_a_folder_of_its_own(capsys: pytest.CaptureFixture, tmp_path: Path,
                                         classifier: tuple[Path, Path]) -> None:
    data, promoted = classifier
    code, text = _export(capsys, promoted, "--out", str(tmp_path / "serving"))
    assert code == 0, text
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == \
        ["model.json", "model.onnx", "onnx.json", "preprocessing.json"]
    assert not (promoted / ONNX).exists()  # the model folder is left as it was
    assert main(["predict", str(data), "--model", str(tmp_path / "serving"), "--engine", "onnx",
                 "--out", str(tmp_path / "p.csv")]) == 0
    assert pl.read_csv(tmp_path / "p.csv").height == 5


@pytest.mark.slow
@pytest.mark.parametrize(("demo", "model"), [("forecast", "gru"), ("classify", "transformer")])
def test_the_demos_predict_the_same_in_both_engines(prefect_server: None,
                                                    capsys: pytest.CaptureFixture,
                                                    tmp_path: Path, demo: str,
                                                    model: str) -> None:
    """A short compare of each bundled demo (the GRU forecaster; the Transformer classifier,
    which the dynamo exporter exports), exported and predicted by both engines. The compare
    runs in this process on the test server: a temporary server of its own would leave
    Prefect's event client behind, aimed at a stopped server."""
    data = Path(__file__).resolve().parents[3] / "data" / f"{demo}.csv"
    if not data.exists():
        pytest.fail(f"{data} is missing: `dvc pull data.dvc` fetches the demo data")
    out = tmp_path / demo
    assert main(["compare", str(data), "--models", model, "--seeds", "1", "--steps", "150",
                 "--out", str(out), "--set", "evaluate.references=false",
                 "--set", "promote.must_beat=[]"]) == 0
    assert main(["export", "--from", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ONNX Runtime matches PyTorch" in printed, printed
    for engine in ("torch", "onnx"):
        assert main(["predict", str(data), "--from", str(out), "--engine", engine,
                     "--out", str(tmp_path / f"{engine}.csv")]) == 0
    want, got = pl.read_csv(tmp_path / "torch.csv"), pl.read_csv(tmp_path / "onnx.csv")
    if demo == "forecast":
        assert {"lo_80", "hi_80", "lo_95", "hi_95"} <= set(want.columns)
    _same(want, got)
