"""`seqarena predict` distrusts the model folder: every damage is exit 2 before anything is
built; non-finite predictions are exit 3; predictions.csv cannot run as formulas."""

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch
from safetensors.torch import load_file, save_file

import modules.inference
from flows.cli.main import main
from modules import model_files
from schemas.config import load_config
from schemas.errors import UsageError
from schemas.specs import MAX_HEADS, MAX_LAYERS, MAX_WIDTH

Damage = Callable[[Path], None]
LEAKS = ("Traceback", "ValidationError", "pydantic.dev", "SafetensorError", "JSONDecodeError")
REAL_BUILD = model_files.module_for


def _meta_only(*args: Any, **kwargs: Any) -> Any:
    """module_for, allowed only on the meta device (shapes, no memory)."""
    if torch.get_default_device().type != "meta":
        raise AssertionError("a module was built before the model folder passed its checks")
    return REAL_BUILD(*args, **kwargs)


def _json(name: str, change: Callable[[Any], Any]) -> Damage:
    def damage(folder: Path) -> None:
        obj = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps(change(obj) or obj))  # NaN, Infinity as JS does
    return damage


def _set(name: str, path: str, value: Any) -> Damage:
    def change(obj: Any) -> None:
        *parents, leaf = [int(p) if p.isdigit() else p for p in path.split(".")]
        for p in parents:
            obj = obj[p]
        obj[leaf] = value
    return _json(name, change)


def _drop(name: str, key: str) -> Damage:
    return _json(name, lambda obj: obj.pop(key) and None)


def _bytes(name: str, change: Callable[[bytes], bytes]) -> Damage:
    return lambda folder: (folder / name).write_bytes(change((folder / name).read_bytes()))


def _tensors(change: Callable[[dict[str, torch.Tensor]], None]) -> Damage:
    def damage(folder: Path) -> None:
        weights = load_file(str(folder / "weights.safetensors"))
        change(weights)
        save_file(weights, str(folder / "weights.safetensors"))
    return damage


M, P, W = "model.json", "preprocessing.json", "weights.safetensors"
FORECAST_CASES: list[tuple[str, Damage, str, str]] = [
    ("layers_10M", _set(M, "spec.layers", 10_000_000), M, "spec.layers"),
    ("hidden_4000", _set(M, "spec.hidden", 4000), W, "'backbone.rnn.weight_hh_l0' has shape"),
    ("unknown_arch", _set(M, "spec.arch", "mamba"), M, "spec"),
    ("missing_key", _drop(M, "spec"), M, "spec: Field required"),
    ("wrong_type", _set(M, "steps", "two"), M, "steps"),
    ("not_json", _bytes(M, lambda b: b[:-20]), M, "not valid JSON"),
    ("not_text", _bytes(P, lambda b: b"\xff\xfe\xfa" + b), P, "not valid JSON"),
    ("not_an_object", _json(M, lambda obj: [obj]), M, "does not hold a JSON object"),
    ("missing_model_json", lambda f: (f / M).unlink(), M, "missing"),
    ("missing_preprocessing", lambda f: (f / P).unlink(), P, "missing"),
    ("std_0", _set(P, "scaling.0.std", 0), P, "scaling[0].std"),
    ("std_nan", _set(P, "scaling.0.std", math.nan), P, "scaling[0].std"),
    ("std_null", _set(P, "scaling.1.std", None), P, "scaling[1].std"),
    ("mean_inf", _set(P, "scaling.1.mean", math.inf), P, "scaling[1].mean"),
    ("std_1e308", _set(P, "scaling.0.std", 1e308), P, "scaling[0].std"),  # finite, absurd
    ("mean_-1e300", _set(P, "scaling.1.mean", -1e300), P, "scaling[1].mean"),
    ("nested_100k", _bytes(M, lambda b: b"[" * 100_000), M, "nested too deeply"),
    ("prep_missing_key", _drop(P, "lookback"), P, "lookback: Field required"),
    ("scaling_row_gone", _json(P, lambda o: o["scaling"].pop() and None), P, "no row for"),
    ("horizon_vs_weights", _set(P, "horizon", 5), W, "spec with 2 column(s), horizon 5"),
    ("columns_vs_roles", _set(P, "columns", ["promo", "y"]), P, "columns"),
    ("task_vs_model", _set(M, "task", "classify"), P, "task"),
    ("roles_task", _set(P, "roles.task", "classify"), P, "roles.task"),
    ("no_target_role", _set(P, "roles.target", None), P, "roles.target"),
    ("columns_vs_weights", _json(P, lambda o: o.update(
        columns=["y"], roles={**o["roles"], "features": []},
        scaling=[r for r in o["scaling"] if r["column"] == "y"])), W, "1 column(s), horizon"),
    ("repeated_series", _set(P, "series", ["s0", "s0"]), P, "series name is repeated"),
    ("scaling_row_twice", _json(P, lambda o: o["scaling"].append(o["scaling"][0])), P,
     "row is repeated"),
    ("scaling_row_extra", _json(P, lambda o: o["scaling"].append(
        {**o["scaling"][0], "column": "price"})), P, "column 'price' that the model does not"),
    ("truncated_weights", _bytes(W, lambda b: b[:-10]), W, "not a complete safetensors"),
    ("padded_weights", _bytes(W, lambda b: b + b"\0" * 8), W, "not a complete safetensors"),
    ("garbage_weights", _bytes(W, lambda b: b"garbage, not weights"), W, "safetensors"),
    ("renamed_tensor", _tensors(lambda w: w.update(head_w=w.pop("head.weight"))), W,
     "'head.weight' is missing"),
    ("wrong_shape", _tensors(lambda w: w.update({"head.bias": torch.zeros(4)})), W,
     "'head.bias' has shape [4]"),
    ("wrong_dtype", _tensors(lambda w: w.update({"head.bias": w["head.bias"].double()})), W,
     "F64"),
    ("nan_weight", _tensors(lambda w: w["head.bias"].fill_(math.nan)), W, "NaN or infinite"),
]
CLASSIFY_CASES: list[tuple[str, Damage, str, str]] = [
    ("classes_vs_weights", _json(P, lambda o: o["classes"].append("sideways")), W,
     "3 classes"),
    ("repeated_class", _set(P, "classes", ["up", "up"]), P, "repeated"),
    ("no_id_role", _set(P, "roles.id", None), P, "roles.id"),
]


def _predict(capsys: pytest.CaptureFixture, data: Path, folder: Path,
             out: Path) -> tuple[int, str]:
    code = main(["predict", str(data), "--model", str(folder), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _refused(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
             trained: tuple[Path, Path], damage: Damage, file: str, fragment: str) -> None:
    data, promoted = trained
    folder = tmp_path / "promoted"
    shutil.copytree(promoted, folder)
    damage(folder)
    monkeypatch.setattr(model_files, "module_for", _meta_only)
    code, text = _predict(capsys, data, folder, tmp_path / "pred.csv")
    assert code == 2, text
    assert f"{folder / file}:" in text and fragment in text and "retrain" in text, text
    assert not any(leak in text for leak in LEAKS), text
    assert not (tmp_path / "pred.csv").exists()


CASES = [("forecaster", *c) for c in FORECAST_CASES] + [("classifier", *c) for c in CLASSIFY_CASES]


@pytest.mark.parametrize(("trained", "damage", "file", "fragment"),
                         [(c[0], *c[2:]) for c in CASES], ids=[c[1] for c in CASES])
def test_damaged_model_is_refused_before_building(
        capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        request: pytest.FixtureRequest, trained: str, damage: Damage, file: str,
        fragment: str) -> None:
    """`trained` names the module fixture (forecaster or classifier) the folder comes from."""
    _refused(capsys, monkeypatch, tmp_path, request.getfixturevalue(trained), damage, file,
             fragment)


def test_ten_million_layers_exit_2_in_seconds(forecaster: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    """The old code built every layer (minutes at 100% CPU, then memory); now a bound stops it."""
    data, promoted = forecaster
    folder = tmp_path / "promoted"
    shutil.copytree(promoted, folder)
    _set(M, "spec.layers", 10_000_000)(folder)
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "predict", str(data), "--model",
                           str(folder), "--out", str(tmp_path / "p.csv")],
                          capture_output=True, text=True, timeout=45)
    assert proc.returncode == 2, proc.stderr
    assert f"spec.layers: Input should be less than or equal to {MAX_LAYERS}" in proc.stderr


def test_a_card_written_with_its_sizes_still_predicts(capsys: pytest.CaptureFixture,
                                                     tmp_path: Path,
                                                     forecaster: tuple[Path, Path]) -> None:
    """model.json once carried n_features and n_out; such a champion still loads, its sizes
    taken from preprocessing.json (the weights' shapes hold them to it), whatever it says."""
    data, promoted = forecaster
    folder = tmp_path / "promoted"
    shutil.copytree(promoted, folder)
    _json(M, lambda o: o.update(n_features=9, n_out=5))(folder)
    code, text = _predict(capsys, data, folder, tmp_path / "pred.csv")
    assert code == 0, text
    assert (tmp_path / "pred.csv").exists()


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_predictions_are_exit_3(capsys: pytest.CaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           forecaster: tuple[Path, Path], value: float) -> None:
    data, promoted = forecaster
    real = modules.inference.predict

    def broken(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
        out = real(module, inputs)
        out[-1, 0] = value
        return out

    monkeypatch.setattr(modules.inference, "predict", broken)
    code, text = _predict(capsys, data, promoted, tmp_path / "pred.csv")
    assert code == 3 and "NaN or infinite predictions for series ['s1'] (1 row(s))" in text, text
    assert not (tmp_path / "pred.csv").exists()


@pytest.mark.parametrize("sid", ['=HYPERLINK("http://x","y")', "@SUM(1)", "+cmd", "-2+3"])
def test_formula_ids_are_prefixed_in_predictions(capsys: pytest.CaptureFixture, tmp_path: Path,
                                                 forecaster: tuple[Path, Path], sid: str) -> None:
    data, promoted = forecaster
    folder = tmp_path / "promoted"
    shutil.copytree(promoted, folder)
    rename = {"s0": sid}
    _json(P, lambda o: o.update(series=[rename.get(s, s) for s in o["series"]], scaling=[
        {**r, "series": rename.get(r["series"], r["series"])} for r in o["scaling"]]))(folder)
    new = tmp_path / "new.csv"
    pl.read_csv(data).with_columns(pl.col("unique_id").replace(rename)).write_csv(new)
    code, text = _predict(capsys, new, folder, tmp_path / "pred.csv")
    assert code == 0, text
    assert set(pl.read_csv(tmp_path / "pred.csv")["series"]) == {"'" + sid, "s1"}


@pytest.mark.parametrize(("spec", "key"), [
    ({"arch": "gru", "layers": MAX_LAYERS + 1}, "layers"),
    ({"arch": "lstm", "hidden": MAX_WIDTH + 1}, "hidden"),
    ({"arch": "transformer", "d_model": 256, "heads": 2 * MAX_HEADS}, "heads"),
])
def test_config_refuses_sizes_that_predict_would_refuse(spec: dict[str, Any], key: str) -> None:
    """Training and predict share the bounds, so a model that trains can always be loaded."""
    load_config(None, {"models": {"m": {**spec, key: 2 if key == "heads" else 1}}})
    with pytest.raises(UsageError, match=key):
        load_config(None, {"models": {"m": spec}})


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_forecasts_carry_bounds_and_leave_unbounded_steps_empty(
        capsys: pytest.CaptureFixture, tmp_path: Path, forecaster: tuple[Path, Path],
        engine: str) -> None:
    data, promoted = forecaster
    folder = Path(shutil.copytree(promoted, tmp_path / "model"))
    card = json.loads((folder / "model.json").read_text())
    wide = card["conformal"]["bands"][-1]
    wide["quantiles"] = [None, *wide["quantiles"][1:]]  # step 1 unbounded at the top level
    (folder / "model.json").write_text(json.dumps(card))
    if engine == "onnx":
        assert main(["export", "--from", str(promoted.parent), "--model", str(folder)]) == 0
    code = main(["predict", str(data), "--model", str(folder), "--engine", engine,
                 "--out", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 0, err
    pred = pl.read_csv(tmp_path / "p.csv")
    low, high = pred["lo_95"], pred["hi_95"]
    first = pred["step_ahead"] == 1
    assert low.filter(first).is_null().all() and high.filter(first).is_null().all()
    assert not low.filter(~first).is_null().any()
    assert ((pred["lo_80"] <= pred["yhat"]) & (pred["yhat"] <= pred["hi_80"])).all()
    assert ((low <= pred["lo_80"]) & (pred["hi_80"] <= high)).filter(~first).all()
    assert "the 95% interval is unbounded at some horizon steps" in err
