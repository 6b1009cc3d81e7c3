"""The JSON files of a model folder read with suspicion, without torch: model.json and
preprocessing.json are checked before anything is built (the ONNX Runtime path uses them
alone)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.artifacts import ModelCard, format_problem
from schemas.artifacts import problems as pydantic_problems
from schemas.errors import UsageError
from schemas.layout import MODEL_CARD as MODEL
from schemas.layout import PREPROCESSING
from schemas.prepared import ClassifyState, ForecastState, PreparedState
from schemas.specs import ARCHS

FIX = "retrain, or pass the promoted/ folder of a complete run"
SHOWN = 5  # problems listed per message

M = TypeVar("M", bound=BaseModel)


def refuse(path: Path, problems: list[str]) -> UsageError:
    """The error for a damaged model file: what is wrong (first few) and what to do."""
    more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
    return UsageError(f"{path}: {'; '.join(problems[:SHOWN])}{more}. "
                      f"The model folder is damaged or incomplete: {FIX}.")


def describe(exc: ValidationError) -> list[str]:
    """pydantic errors as `key: message`, without the architecture tags in keys."""
    return pydantic_problems(exc, skip=lambda part: part in ARCHS)


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


def check_card(model_dir: Path) -> ModelCard:
    """model.json within bounds."""
    return validated(ModelCard, model_dir / MODEL)


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
