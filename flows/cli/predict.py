"""`seqarena predict`: apply a promoted model to new data with its training-time preprocessing."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl
from scipy.special import softmax

from flows.report.text import formula_safe
from flows.stages.preprocess.transforms import SID, apply_scaling, ragged_sequences, truncate
from flows.stages.validate.checker import Checker
from flows.stages.validate.grid import DAY_US
from flows.stages.validate.read import read_table
from flows.stages.validate.report import message
from flows.stages.validate.steps import parse_and_check_values
from modules.arrays import Scaler
from modules.conformal import bounds, columns, level_name
from schemas.artifacts import ModelCard
from schemas.config import ValidationConfig
from schemas.data import Roles
from schemas.defects import Policy
from schemas.errors import DataValidationError, RunFailedError, UsageError
from schemas.files import atomic_write
from schemas.intervals import Conformal
from schemas.layout import ONNX, WEIGHTS
from schemas.prepared import ClassifyState, ForecastState, State
from schemas.rules import FILLED, GROUP, ROW

log = logging.getLogger("seqarena")

# new data for a trained model: every defect stops the run, except order (rows are sorted)
STRICT = ValidationConfig(policy=Policy(**{name: "error" for name in Policy.model_fields} |
                                        {"unsorted": "fix"}))


class Engine(Protocol):
    """What predicts: PyTorch (modules/inference.TorchModel) or ONNX Runtime (OnnxModel)."""

    def forecast(self, x: np.ndarray) -> np.ndarray: ...  # (N, L, F) -> (N, H) scaled

    def classify(self, rows: np.ndarray, lengths: np.ndarray) -> np.ndarray: ...  # (N, C)


def _load(model_dir: Path, engine: str) -> tuple[Engine, State, Roles, ModelCard]:
    """The model, built only once every file of the folder has passed its checks; the ONNX
    engine imports no torch."""
    needed = ONNX if engine == "onnx" else WEIGHTS
    if not (model_dir / needed).exists():
        fix = (f"run `seqarena export --model {model_dir}` first" if engine == "onnx" else
               "pass the promoted/ folder of a run that promoted a winner")
        what = "exported model" if engine == "onnx" else "promoted model"
        raise UsageError(f"{model_dir}: no {what} here ({needed} missing); {fix}.")
    if engine == "onnx":
        from modules.onnx_engine import load_onnx

        model, meta, state = load_onnx(model_dir)
    else:
        from modules.inference import TorchModel
        from modules.model_files import build_model, check_folder
        from modules.training import quiet_lightning

        quiet_lightning()
        meta, state = check_folder(model_dir)
        model = TorchModel(build_model(model_dir, meta, state))
    roles = replace(state.roles.to_roles(), label=None, split=None)
    return model, state, roles, meta


def _checked(path: Path, roles: Roles) -> pl.DataFrame:
    """The rows of a new data file, parsed and checked as in training (no quarantine)."""
    table = read_table(path)
    missing = [c for c in roles.columns if c not in table.frame.columns]
    if missing:
        raise DataValidationError(f"{path}: columns {missing} are missing; the model was "
                                  f"trained with {', '.join(roles.columns)}.")
    raw = table.frame.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    checker = Checker(table, raw, roles, STRICT.policy)
    parse_and_check_values(checker, STRICT)
    if checker.errors:
        raise DataValidationError(message(path, checker.errors, None, roles.task))
    return checker.result().drop(GROUP, ROW, FILLED)


def _scale(frame: pl.DataFrame, state: State, by: pl.Expr, path: Path) -> pl.DataFrame:
    """The training-time scaling; series the model never saw are an error, not a guess."""
    stats = pl.DataFrame([r.model_dump() for r in state.scaling])
    frame = frame.with_columns(by.alias(SID))
    unknown = set(frame[SID].unique()) - set(stats["series"])
    if unknown:
        raise DataValidationError(f"{path}: series {sorted(unknown)[:5]} were not in the training "
                                  "data, so the model has no scaling for them; retrain with them.")
    return apply_scaling(frame, stats, state.columns)


def _forecast(model: Engine, state: ForecastState, roles: Roles, frame: pl.DataFrame,
              path: Path, meta: ModelCard) -> pl.DataFrame:
    """The next `horizon` steps of every series, with the card's conformal intervals."""
    sid = pl.col(roles.id).cast(pl.String) if roles.id else pl.lit("series")
    ordered = frame.sort(sid, roles.time) if roles.id else frame.sort(roles.time)  # no id: one
    frame = _scale(ordered, state, sid, path)
    lookback, horizon = state.lookback, state.horizon
    short = frame.group_by(SID).len().filter(pl.col("len") < lookback)
    if short.height:
        raise DataValidationError(f"{path}: series {short[SID].to_list()[:5]} have fewer "
                                  f"than lookback={lookback} rows; give each series its last "
                                  f"{lookback} steps.")
    tail = frame.group_by(SID, maintain_order=True).tail(lookback)
    ids = tail[SID].unique(maintain_order=True).to_list()
    x = tail.select(state.columns).to_numpy().astype(np.float32).reshape(len(ids), lookback, -1)
    scaled = model.forecast(x)  # (S, H)
    scaler, sid = Scaler(state), np.array([state.series.index(s) for s in ids])
    yhat = scaler.inverse(scaled, sid)
    last = tail.group_by(SID, maintain_order=True).agg(
        pl.col(roles.time).last().alias("last"), pl.col(roles.time).diff().last().alias("step"))
    steps = np.arange(1, horizon + 1)
    out = pl.DataFrame({"series": np.repeat(ids, horizon), "step_ahead": np.tile(steps, len(ids)),
                        "yhat": yhat.reshape(-1)})
    if meta.conformal:
        out = out.with_columns(_bounds(scaled, scaler, sid, meta.conformal))
    times = last.select(pl.col(SID).alias("series"), "last", "step")
    out = out.join(times, on="series", maintain_order="left")
    return out.with_columns(_ahead(state.grid).alias(roles.time)).drop("last", "step")


def _bounds(scaled: np.ndarray, scaler: Scaler, sid: np.ndarray, conformal: Conformal
            ) -> list[pl.Series]:
    """lo_LL and hi_LL per calibrated level, in the user's units, row order as yhat's; a
    step the validation windows could not bound is left empty (and said)."""
    out = []
    for level, lo, hi in bounds(scaled, conformal):
        for name, edge in zip(columns(level), (lo, hi), strict=True):
            values = scaler.inverse(edge, sid).reshape(-1)
            out.append(pl.Series(name, np.where(np.isfinite(values), values, np.nan))
                       .fill_nan(None))
        if not np.isfinite(lo).all():
            log.info("! the %s%% interval is unbounded at some horizon steps: validation held "
                     "%d window(s); those bounds are left empty", level_name(level), conformal.n)
    return out


def _ahead(grid: dict | None) -> pl.Expr:
    """The time `step_ahead` steps after `last`, on the grid validation inferred: calendar
    months, local days (time-zone-aware daily data), or a fixed step; without a grid (older
    states), the last difference of each series."""
    k = pl.col("step_ahead")
    if grid is None:
        return pl.col("last") + pl.col("step") * k
    if grid["unit"] == "step":
        return pl.col("last") + grid["every"] * k
    if grid["months"]:
        by = pl.format("{}mo", k * grid["months"])
    elif grid["unit"] == "d" or grid["wall"]:
        days = grid["every"] if grid["unit"] == "d" else grid["every"] // DAY_US
        by = pl.format("{}d", k * days)
    else:
        by = pl.format("{}us", k * grid["every"])
    return pl.col("last").dt.offset_by(by)


def _classify(model: Engine, state: ClassifyState, roles: Roles, frame: pl.DataFrame,
              path: Path) -> pl.DataFrame:
    frame = _scale(frame.sort(roles.id, roles.time), state, pl.lit("all"), path)
    if state.max_length:  # as in training: the first max_length steps
        frame, cut = truncate(frame, roles.id, state.max_length)
        if cut["count"]:
            log.info("! %d sequence(s) longer than max_length=%d cut to their first %d steps "
                     "(as in training): %s", cut["count"], cut["max_length"], cut["max_length"],
                     ", ".join(map(str, cut["ids"][:5])))
    rows, seqs = ragged_sequences(frame, roles.id, state.columns)
    probs = softmax(model.classify(rows, seqs["len"].to_numpy()).astype(np.float64), axis=1)
    classes = state.classes
    out = pl.DataFrame({roles.id: seqs[roles.id],
                        "label": [classes[i] for i in probs.argmax(1).tolist()]})
    return out.with_columns(pl.Series(f"p_{c}", probs[:, i]) for i, c in enumerate(classes))


def _finite(result: pl.DataFrame, model_dir: Path) -> pl.DataFrame:
    """NaN or infinite predictions stop the run (exit 3) instead of reaching the file."""
    floats = [c for c, t in result.schema.items() if t.is_float()
              and not c.startswith(("lo_", "hi_"))]  # bounds are finite or empty
    bad = result.filter(pl.any_horizontal(~pl.col(floats).is_finite()))
    if bad.height:
        which = bad[result.columns[0]].unique(maintain_order=True).to_list()
        raise RunFailedError(
            f"{model_dir}: the model gave NaN or infinite predictions for "
            f"{result.columns[0]} {which[:5]} ({bad.height} row(s)); nothing was written. "
            "Check those inputs for values far outside the training data, or retrain.")
    return result


def predict_file(data: Path, model_dir: Path, out: Path, engine: str = "torch") -> pl.DataFrame:
    """Predictions for every series (next `horizon` steps, and the bounds of each interval
    level) or sequence (label, probabilities); the CSV cannot run as spreadsheet formulas."""
    model, state, roles, meta = _load(model_dir, engine)
    frame = _checked(data, roles)
    if isinstance(state, ForecastState):
        result = _forecast(model, state, roles, frame, data, meta)
    else:
        result = _classify(model, state, roles, frame, data)
    result = _finite(result, model_dir)
    atomic_write(out, formula_safe(result).write_csv)
    return result
