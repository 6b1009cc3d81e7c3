"""A model folder read with suspicion: model.json, preprocessing.json and the weights' header
are checked before any module is built; then the weights are loaded with safetensors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import torch
from pydantic import BaseModel, ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from modules.backbones import BACKBONES
from modules.lit import SequenceModule, module_for
from schemas.artifacts import ModelCard, format_problem
from schemas.artifacts import problems as pydantic_problems
from schemas.errors import UsageError
from schemas.layout import MODEL_CARD as MODEL
from schemas.layout import PREPROCESSING, WEIGHTS
from schemas.prepared import ClassifyState, ForecastState, PreparedState

FIX = "retrain, or pass the promoted/ folder of a complete run"
SHOWN = 5  # problems listed per message

Shapes = dict[str, tuple[tuple[int, ...], str]]  # tensor name -> (shape, safetensors dtype)
M = TypeVar("M", bound=BaseModel)
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
          torch.bfloat16: "BF16", torch.int64: "I64"}  # I64: batch norm's batch count


def refuse(path: Path, problems: list[str]) -> UsageError:
    """The error for a damaged model file: what is wrong (first few) and what to do."""
    more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
    return UsageError(f"{path}: {'; '.join(problems[:SHOWN])}{more}. "
                      f"The model folder is damaged or incomplete: {FIX}.")


def describe(exc: ValidationError) -> list[str]:
    """pydantic errors as `key: message`, without the architecture tags in keys."""
    return pydantic_problems(exc, skip=lambda part: part in BACKBONES)


def read_json_file(path: Path) -> dict[str, Any]:
    """A JSON object from the model folder; missing, malformed or not an object: UsageError."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise refuse(path, ["the file is missing"]) from None
    except OSError as exc:
        raise refuse(path, [f"cannot be read ({exc.strerror})"]) from None
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        raise refuse(path, [f"not valid JSON ({exc})"]) from None
    except RecursionError:
        raise refuse(path, ["nested too deeply to be a model file"]) from None
    if not isinstance(obj, dict):
        raise refuse(path, ["does not hold a JSON object ({...})"])
    bad = format_problem(obj)
    if bad:
        raise refuse(path, [bad])
    return obj


def validated(model: type[M], path: Path) -> M:
    """A JSON file of the model folder, read into `model`."""
    try:
        return model.model_validate(read_json_file(path))
    except ValidationError as exc:
        raise refuse(path, describe(exc)) from None


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


def check_card(model_dir: Path) -> ModelCard:
    """model.json within bounds."""
    return validated(ModelCard, model_dir / MODEL)


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


def _forecast_problems(prep: ForecastState) -> list[str]:
    """A forecaster's columns are its target then its covariates."""
    roles, problems = prep.roles, []
    if not roles.target:
        problems.append("roles.target: a forecaster needs its target column")
    elif prep.columns != [roles.target, *roles.features]:
        problems.append(f"columns: {prep.columns} are not the target then the features "
                        f"({[roles.target, *roles.features]})")
    if len(set(prep.series)) != len(prep.series):
        problems.append("series: a series name is repeated")
    return problems


def _classify_problems(prep: ClassifyState) -> list[str]:
    """A classifier's columns are its features."""
    roles, problems = prep.roles, []
    if not roles.id:
        problems.append("roles.id: a classifier needs its sequence id column")
    if prep.columns != roles.features:
        problems.append(f"columns: {prep.columns} are not the features ({roles.features})")
    if len(set(prep.classes)) != len(prep.classes):
        problems.append("classes: a class name is repeated")
    return problems


def _scaling_problems(prep: PreparedState) -> list[str]:
    """One scaling row per (series, column), for every series and column and nothing else."""
    groups = prep.series if isinstance(prep, ForecastState) else ["all"]
    want = {(g, c) for g in groups for c in prep.columns}
    got = [(r.series, r.column) for r in prep.scaling]
    missing, extra = sorted(want - set(got)), sorted(set(got) - want)
    problems = [f"scaling: no row for series '{s}', column '{c}'" for s, c in missing]
    problems += [f"scaling: a row for series '{s}', column '{c}' that the model does not use"
                 for s, c in extra]
    if len(set(got)) != len(got):
        problems.append("scaling: a (series, column) row is repeated")
    return problems


def check_preprocessing(model_dir: Path, meta: ModelCard) -> PreparedState:
    """preprocessing.json: required keys, finite scaling with positive stds, consistent within
    itself and with the model's task (its sizes are then checked against the weights)."""
    path = model_dir / PREPROCESSING
    raw = read_json_file(path)
    classify = raw.get("task") == "classify"
    try:
        prep = (ClassifyState if classify else ForecastState).model_validate(raw)
    except ValidationError as exc:
        raise refuse(path, describe(exc)) from None
    problems = [f"task: '{prep.task}', but {MODEL} has task '{meta.task}'"] \
        if prep.task != meta.task else []
    if prep.roles.task != prep.task:
        problems.append(f"roles.task: '{prep.roles.task}', but task is '{prep.task}'")
    if isinstance(prep, ForecastState):
        problems += _forecast_problems(prep)
    elif isinstance(prep, ClassifyState):
        problems += _classify_problems(prep)
    problems += _scaling_problems(prep)
    if problems:
        raise refuse(path, problems)
    return prep


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
