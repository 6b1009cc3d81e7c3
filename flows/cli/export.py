"""`seqarena export`: a model as model.onnx, written only once ONNX Runtime has been shown
to compute what PyTorch computes on the run's holdout test inputs (schemas/serving.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from flows.runs.folders import FolderLock, champion_of
from modules.export import OPSET, TOLERANCE, export_checked
from modules.model_files import build_model, check_folder
from modules.onnx_engine import runtime, sha256
from modules.training import quiet_lightning, split_tensors
from schemas.artifacts import read_arrays, read_state
from schemas.errors import RunFailedError, UsageError
from schemas.files import atomic_write, write_json
from schemas.layout import MODEL_CARD, ONNX, ONNX_CARD, PREPROCESSING, WEIGHTS, Layout
from schemas.prepared import ForecastState, PreparedState
from schemas.serving import OnnxCard


def _sizes(state: PreparedState) -> tuple:
    """What the model's inputs and outputs depend on."""
    lookback = state.lookback if isinstance(state, ForecastState) else None
    return state.task, state.n_features, state.n_out, lookback


def holdout_inputs(source: Path, state: PreparedState) -> tuple[tuple, str]:
    """The test split's model inputs of the run in `source` (its latest), which must have
    the model's sizes, and where they came from."""
    layout = Layout(source)
    if not layout.state_of(0).is_file():
        raise UsageError(f"{source}: no prepared holdout split here ({layout.state_of(0)}), "
                         "so parity cannot be checked; pass --from the output folder of the "
                         "run that trained the model.")
    run_state = read_state(layout)
    if _sizes(run_state) != _sizes(state):
        raise UsageError(f"{source}: its prepared data (task, columns, outputs, lookback "
                         f"{_sizes(run_state)}) is not what the model takes ({_sizes(state)}); "
                         "pass --from the output folder of the run that trained the model.")
    inputs = split_tensors(read_arrays(layout), state.task, "test")[:-1]
    return inputs, f"{os.path.realpath(layout.prepared)}: holdout test split"


def _write(target: Path, model_dir: Path, blob: bytes, card: OnnxCard) -> None:
    """model.onnx, then its card (a reader trusts the file only with a card that hashes it);
    into another folder with the JSON files predict needs."""
    if target.resolve() != model_dir.resolve():
        for name in (MODEL_CARD, PREPROCESSING):
            atomic_write(target / name, lambda p, n=name: shutil.copyfile(model_dir / n, p))
    atomic_write(target / ONNX, lambda p: p.write_bytes(blob))
    write_json(target / ONNX_CARD, card.model_dump(mode="json"))


def export(source: Path, model: Path | None, out: Path | None) -> tuple[Path, OnnxCard]:
    """Export, check parity, write; RunFailedError (exit 3) when no exporter reproduces it."""
    model_dir = model or champion_of(source)
    if not model_dir:
        raise UsageError(f"{source}: no champion here (promoted/ is missing); pass the --from "
                         "of a compare run that promoted a winner, or --model.")
    ort = runtime()
    quiet_lightning()
    meta, state = check_folder(model_dir)
    inputs, where = holdout_inputs(source, state)
    module = build_model(model_dir, meta, state)
    try:
        blob, exporter, parity, tried = export_checked(module, inputs, where)
    except RuntimeError as exc:
        raise RunFailedError(f"{model_dir}: export refused: ONNX Runtime does not compute what "
                             f"the trained model computes on the holdout test inputs ({exc}); "
                             "nothing was written.") from None
    card = OnnxCard(model=meta.name, task=meta.task, exporter=exporter, opset=OPSET,
                    onnx_sha256=sha256(blob),
                    weights_sha256=sha256((model_dir / WEIGHTS).read_bytes()),
                    inputs=["x", "lengths"] if state.task == "classify" else ["x"],
                    output="logits" if state.task == "classify" else "forecast",
                    parity=parity, tried=tried, torch=torch.__version__,
                    onnxruntime=ort.__version__)
    target = out or model_dir
    lock_root = source if target.resolve().is_relative_to(source.resolve()) else None
    if lock_root:
        with FolderLock(lock_root, "export"):
            _write(target, model_dir, blob, card)
    else:
        _write(target, model_dir, blob, card)
    return target / ONNX, card


def summary(path: Path, card: OnnxCard) -> str:
    """The line the CLI prints."""
    p = card.parity
    same = ", the same class for every item" if p.same_class else ""
    return (f"{path}: {card.model} exported with the {card.exporter} exporter (opset "
            f"{card.opset}); ONNX Runtime matches PyTorch on {p.items} holdout test items: "
            f"max |difference| {p.max_abs_diff:.1e} <= {TOLERANCE:g}{same}")
