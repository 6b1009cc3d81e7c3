"""A model folder read with suspicion: model.json, preprocessing.json (modules/folder_checks.py)
and the weights' header are checked before any module is built; then the weights are loaded
with safetensors."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from modules.folder_checks import check_card, check_preprocessing, refuse
from modules.lit import SequenceModule, module_for
from schemas.artifacts import ModelCard
from schemas.layout import MODEL_CARD as MODEL
from schemas.layout import WEIGHTS
from schemas.prepared import ForecastState, PreparedState

Shapes = dict[str, tuple[tuple[int, ...], str]]  # tensor name -> (shape, safetensors dtype)
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
          torch.bfloat16: "BF16", torch.int64: "I64"}  # I64: batch norm's batch count


def expected_shapes(meta: ModelCard, state: PreparedState) -> Shapes:
    """The state dict that model.json's spec and the state's sizes imply, built on the meta
    device (nothing allocated)."""
    with torch.device("meta"):
        module = module_for(meta.spec, state)
    return {k: (tuple(v.shape), DTYPES.get(v.dtype, str(v.dtype)))
            for k, v in module.state_dict().items()}


def header_shapes(path: Path) -> Shapes:
    """Tensor names, shapes and dtypes from the safetensors header alone. safetensors refuses
    a header whose tensors do not cover the file exactly (truncated or padded files)."""
    if not path.is_file():
        raise refuse(path, ["the file is missing"])
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype())
                    for k in f.keys()}  # noqa: SIM118 (a safe_open handle, not a dict)
    except (SafetensorError, OSError) as exc:
        raise refuse(path, [f"not a complete safetensors file ({exc})"]) from None


def sizes(state: PreparedState) -> str:
    """The state's sizes in words, for a message about shapes."""
    out = (f"horizon {state.n_out}" if isinstance(state, ForecastState)
           else f"{state.n_out} classes")
    return f"{state.n_features} column(s), {out}"


def compare_shapes(expected: Shapes, found: Shapes, path: Path, state: PreparedState) -> None:
    """The weights must be exactly the tensors that model.json and the state imply."""
    problems = [f"tensor '{k}' is missing" for k in expected if k not in found]
    problems += [f"tensor '{k}' is not part of this model" for k in found if k not in expected]
    problems += [f"tensor '{k}' has shape {list(found[k][0])} {found[k][1]}, but {MODEL}'s "
                 f"spec with {sizes(state)} implies {list(want[0])} {want[1]}"
                 for k, want in expected.items() if k in found and found[k] != want]
    if problems:
        raise refuse(path, problems)


def check_weights(model_dir: Path, meta: ModelCard, state: PreparedState) -> None:
    """The weights' header matching the module that model.json and the state describe."""
    compare_shapes(expected_shapes(meta, state), header_shapes(model_dir / WEIGHTS),
                   model_dir / WEIGHTS, state)


def check_model(model_dir: Path, state: PreparedState) -> ModelCard:
    """model.json within bounds, and the weights' header matching the module it and the
    state (prepared/state.json, for a run's own model folders) describe."""
    meta = check_card(model_dir)
    if meta.task != state.task:
        raise refuse(model_dir / MODEL, [f"task: '{meta.task}', but the prepared data is "
                                         f"for '{state.task}'"])
    check_weights(model_dir, meta, state)
    return meta


def check_folder(model_dir: Path) -> tuple[ModelCard, PreparedState]:
    """A self-contained model folder (promoted/, a version): model.json, preprocessing.json
    against it, then the weights' header against both; nothing is built."""
    meta = check_card(model_dir)
    state = check_preprocessing(model_dir, meta)
    check_weights(model_dir, meta, state)
    return meta, state


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checked weights file; NaN or infinite values are refused."""
    weights = load_file(str(path))
    bad = [k for k, v in weights.items() if not torch.isfinite(v).all()]
    if bad:
        raise refuse(path, [f"tensor '{k}' holds NaN or infinite values" for k in bad])
    return weights


def build_model(model_dir: Path, meta: ModelCard, state: PreparedState) -> SequenceModule:
    """The module that a checked model.json and its state describe, with its weights, in eval
    mode."""
    weights = load_weights(model_dir / WEIGHTS)
    module = module_for(meta.spec, state)
    module.load_state_dict(weights)
    return module.eval()


def load_model(model_dir: Path, state: PreparedState) -> tuple[SequenceModule, ModelCard]:
    """Check then rebuild a model trained on `state`, with its model card (cost, curve)."""
    meta = check_model(model_dir, state)
    return build_model(model_dir, meta, state), meta
