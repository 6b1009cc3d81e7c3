"""Stage `preprocess`: sort, split, fit scaling on train only, cut float32 tensors."""

from __future__ import annotations

import logging
import shutil
from typing import Any

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from flows.stages.preprocess.transforms import (
    CODE,
    SID,
    SPLIT,
    apply_scaling,
    fit_scaling,
    ragged_sequences,
    truncate,
)
from schemas.artifacts import (
    Validated,
    ValidationReport,
    read_validated,
    read_validation,
    write,
    write_arrays,
)
from schemas.config import ClassifyConfig, Config, DataConfig, ForecastConfig
from schemas.data import SPLITS, Roles
from schemas.errors import DataValidationError, UsageError
from schemas.layout import Layout
from schemas.prepared import ClassifyState, ForecastState, State

log = logging.getLogger("seqarena")
Sections = tuple[DataConfig, ForecastConfig, ClassifyConfig, int]  # what preprocess reads


def _time_split(df: pl.DataFrame, roles: Roles, val: float, test: float, fold: int = 0
                ) -> tuple[pl.DataFrame, dict[str, Any] | None]:
    """The user's split column if any, else the last rows of each series for val and test;
    fold k (rolling origin) first drops each series' last k test lengths (its future).
    A split column without 'val' rows gives val the last rows of each series' train rows.
    Returns the frame and what was carved from train (None if nothing)."""
    if roles.split:
        df = df.with_columns(pl.col(roles.split).alias(SPLIT))
        if (df[SPLIT] == "val").any():
            return df, None
        train = pl.col(SPLIT) == "train"
        n, pos = train.sum().over(SID), train.cum_sum().over(SID)
        carve = train & (pos > n - (n * val).ceil())
        df = df.with_columns(pl.when(carve).then(pl.lit("val")).otherwise(SPLIT).alias(SPLIT))
        rows = int((df[SPLIT] == "val").sum())
        return df, {"count": rows, "unit": "rows",
                    "how": f"the last {val:.0%} of each series' train rows"}
    n = pl.len().over(SID)  # each series' full length: every fold's test is as long
    df = df.with_columns(pl.int_range(pl.len()).over(SID).alias("__pos"),
                         (n * test).ceil().alias("__test"), (n * val).ceil().alias("__val"))
    df = df.with_columns((n - pl.col("__test") * fold).alias("__end"))  # fold k: k back
    end, n_test, n_val, pos = (pl.col(c) for c in ("__end", "__test", "__val", "__pos"))
    df = df.filter(pos < end).with_columns(
        pl.when(pos >= end - n_test).then(pl.lit("test"))
        .when(pos >= end - n_test - n_val).then(pl.lit("val"))
        .otherwise(pl.lit("train")).alias(SPLIT))
    return df.drop("__pos", "__test", "__val", "__end"), None


def forecast_windows(df: pl.DataFrame, roles: Roles, fc: ForecastConfig) -> dict[str, Any]:
    """Windows of `lookback` inputs and `horizon` targets, all targets in one split. Inputs are
    not stored window by window: `series` holds every series' rows once and `start_SPLIT` where
    each window begins (modules.batching.Windows cuts them); targets `y_SPLIT` are (N, H)."""
    cols = [roles.target, *roles.features]
    span = fc.lookback + fc.horizon
    parts: dict[str, list[np.ndarray]] = {"series": []}
    offset = 0
    for sid, series in enumerate(df.partition_by(SID, maintain_order=True)):
        z = series.select(cols).to_numpy().astype(np.float32)  # (n, F)
        codes = series[SPLIT].replace_strict(CODE).to_numpy()
        if len(z) < span:
            continue
        y = sliding_window_view(z[fc.lookback:, 0], fc.horizon)  # (N, H), a view
        c = sliding_window_view(codes, span)[:, fc.lookback:]  # (N, H)
        keep = (c == c[:, :1]).all(axis=1)
        for name, code in CODE.items():
            m = np.flatnonzero(keep & (c[:, 0] == code))
            parts.setdefault(f"start_{name}", []).append(offset + m)
            parts.setdefault(f"y_{name}", []).append(y[m])
            parts.setdefault(f"sid_{name}", []).append(np.full(len(m), sid, np.int32))
            parts.setdefault(f"pos_{name}", []).append(m + fc.lookback)
        parts["series"].append(z)
        offset += len(z)
    return {k: np.ascontiguousarray(np.concatenate(v)) for k, v in parts.items() if v}


def _mase_scale(df: pl.DataFrame, target: str, season: int, series: list[str]) -> list[float]:
    """Mean absolute seasonal difference of each series' training rows (original scale)."""
    train = df.filter(pl.col(SPLIT) == "train")
    scale = dict(train.group_by(SID).agg(
        (pl.col(target) - pl.col(target).shift(season)).abs().mean()).iter_rows())
    return [float(scale[s]) if scale.get(s) else 1.0 for s in series]


def prepare_forecast(v: Validated, fc: ForecastConfig, fold: int = 0
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Arrays and state for forecasting one fold, everything fitted on that fold's train rows."""
    roles, cols = v.roles, [v.roles.target, *v.roles.features]
    sid = pl.col(roles.id).cast(pl.String) if roles.id else pl.lit("series")
    df = v.frame.with_columns(sid.alias(SID)).sort(SID, roles.time)
    df, carved = _time_split(df, roles, fc.val_fraction, fc.test_fraction, fold)
    series = df[SID].unique(maintain_order=True).to_list()
    stats = fit_scaling(df, cols, SID)
    untrained = sorted(set(series) - set(stats["series"]))
    if untrained:
        raise DataValidationError(
            f"column '{roles.split}': series {untrained[:5]} have no 'train' rows, so they "
            "cannot be scaled; give every series some training rows.")
    arrays = forecast_windows(apply_scaling(df, stats, cols), roles, fc)
    short = df.group_by(SID).len().filter(pl.col("len") < fc.lookback + fc.horizon)
    state = {"series": series, "scaling": stats.to_dicts(), "columns": cols,
             "mase_scale": _mase_scale(df, roles.target, fc.season, series),
             "too_short": short[SID].to_list(), "val_carved": carved, "fold": fold,
             **fc.model_dump(exclude={"intervals"})}  # the cards hold the calibration
    return arrays, state


def _stratified(seqs: pl.DataFrame, shares: dict[str, float], seed: int) -> pl.DataFrame:
    """Assign whole sequences to the splits of `shares` per label, the rest to train,
    deterministically from the seed; a label needs more sequences than splits drawn."""
    rng, out = np.random.default_rng(seed), []
    for _, group in seqs.sort("__label").group_by("__label", maintain_order=True):
        ids = group.sort("__seq")["__seq"].to_numpy()[rng.permutation(group.height)]
        enough = len(ids) > len(shares)
        split = [name for name, f in shares.items()
                 for _ in range(max(1, round(len(ids) * f)) if enough else 0)]
        split += ["train"] * (len(ids) - len(split))
        out.append(pl.DataFrame({"__seq": ids, SPLIT: split}))
    return seqs.drop(SPLIT, strict=False).join(pl.concat(out), on="__seq")


def _classify_splits(seqs: pl.DataFrame, roles: Roles, cc: ClassifyConfig,
                     seed: int) -> tuple[pl.DataFrame, dict[str, Any] | None]:
    """Each sequence's split: the user's (val carved from train when it has no 'val'), or
    stratified by label. Returns also what was carved from train (None if nothing)."""
    if not roles.split:
        return _stratified(seqs, {"test": cc.test_fraction, "val": cc.val_fraction}, seed), None
    mixed = seqs.filter(pl.col("n_splits") > 1)["__seq"].to_list()
    if mixed:
        raise DataValidationError(
            f"column '{roles.split}': sequences {mixed[:5]} have rows in more than one "
            "split; give all rows of a sequence the same split value.")
    if (seqs[SPLIT] == "val").any():
        return seqs, None
    train = _stratified(seqs.filter(pl.col(SPLIT) == "train"), {"val": cc.val_fraction}, seed)
    seqs = pl.concat([train, seqs.filter(pl.col(SPLIT) != "train")], how="diagonal_relaxed")
    n = int((seqs[SPLIT] == "val").sum())
    return seqs, {"count": n, "unit": "sequences", "how": "stratified by label"}


def prepare_classify(v: Validated, cc: ClassifyConfig, seed: int) -> tuple[dict, dict]:
    """Unpadded (sum of lengths, F) rows with lengths per split, labels as class indices."""
    roles, feats = v.roles, list(v.roles.features)
    df = v.frame.with_columns(pl.col(roles.id).cast(pl.String).alias("__seq"),
                              pl.col(roles.label).cast(pl.String).alias("__label"))
    df = df.sort("__seq", roles.time).with_columns(pl.lit("all").alias(SID))
    df, truncated = truncate(df, "__seq", cc.max_length)
    agg = [pl.first("__label"), pl.len().alias("length")]
    if roles.split:
        agg.append(pl.col(roles.split).n_unique().alias("n_splits"))
        agg.append(pl.first(roles.split).alias(SPLIT))
    seqs = df.group_by("__seq", maintain_order=True).agg(agg)
    seqs, carved = _classify_splits(seqs, roles, cc, seed)
    df = df.drop(SPLIT, strict=False).join(seqs.select("__seq", SPLIT), on="__seq",
                                           maintain_order="left")
    stats = fit_scaling(df, feats, SID)
    df = apply_scaling(df, stats, feats)
    classes = sorted(seqs["__label"].unique().to_list())
    arrays: dict[str, np.ndarray] = {}
    for name in SPLITS:
        x, meta = ragged_sequences(df.filter(pl.col(SPLIT) == name), "__seq", feats,
                                   pl.first("__label"))
        arrays[f"x_{name}"] = x
        arrays[f"y_{name}"] = meta["__label"].replace_strict(
            {c: i for i, c in enumerate(classes)}).to_numpy().astype(np.int64)
        arrays[f"len_{name}"] = meta["len"].to_numpy().astype(np.int64)
        arrays[f"ids_{name}"] = meta["__seq"].to_numpy().astype(str)
    state = {"classes": classes, "scaling": stats.to_dicts(), "columns": feats,
             "max_length": cc.max_length, "truncated": truncated, "val_carved": carved}
    return arrays, state


def _same_shape(fc: ForecastConfig, shape: dict[str, int | None], layout: Layout) -> None:
    """The season and lookback validation settled on must be the ones configured now."""
    for key, used in shape.items():
        mine = getattr(fc, key)
        if mine is not None and mine != used:
            raise UsageError(f"forecast.{key} is {mine}, but {layout.validation} was written "
                             f"with {used}; run the validate stage again (dvc repro does so "
                             "when params.yaml's forecast section changes).")


def _prepare(sections: Sections, v: Validated, report: ValidationReport, folds: int, fold: int
             ) -> tuple[dict[str, Any], State]:
    """One fold's arrays and state (classification has the one fold)."""
    data, fc, cc, seed = sections
    if v.roles.task == "forecast":
        shape = {"season": report.season, "lookback": report.lookback, "folds": folds}
        arrays, fitted = prepare_forecast(v, fc.model_copy(update=shape), fold)
        fitted |= {"step": report.step, "grid": report.grid,
                   "inferred_settings": report.inferred_settings}
    else:
        arrays, fitted = prepare_classify(v, cc, seed)
    counts = {s: len(arrays.get(f"y_{s}", [])) for s in SPLITS}
    empty = [s for s, n in counts.items() if n == 0]
    if empty:
        unit = "windows" if v.roles.task == "forecast" else "sequences"
        where = f" in fold {fold} (forecast.folds)" if fold else ""
        raise DataValidationError(
            f"{data.path}: no {unit} for the {', '.join(empty)} split(s){where} ({counts}). "
            + ("Use a shorter forecast.lookback or forecast.horizon, fewer forecast.folds, or "
               "longer series." if v.roles.task == "forecast"
               else "Provide more sequences per class."))
    model = ForecastState if v.roles.task == "forecast" else ClassifyState
    state = model.model_validate({"roles": v.roles.to_dict(), "counts": counts, **fitted})
    return arrays, state


AUTO_UNITS, AUTO_FOLDS = 30, 5  # folds: auto wants 30 independent test windows, <= 5 folds


def auto_folds(v: Validated, fc: ForecastConfig, lookback: int, cap: int | None = None
               ) -> int:
    """The fewest rolling origins whose test windows hold AUTO_UNITS that share no target
    step, at most AUTO_FOLDS, each fold keeping a training window in some series; with
    `cap` (forecast.folds: up to N), the most up to `cap` that keep one."""
    sid = pl.col(v.roles.id) if v.roles.id else pl.lit(0)
    n = v.frame.group_by(sid.alias("__sid")).len()["len"].to_numpy()
    test, val, h = np.ceil(n * fc.test_fraction), np.ceil(n * fc.val_fraction), fc.horizon
    per_fold = int(np.where(test >= h, np.ceil((test - h + 1) / h), 0).sum())
    folds = 1
    while (folds < (cap or AUTO_FOLDS) and (cap or folds * per_fold < AUTO_UNITS)
           and (n - (folds + 1) * test - val >= lookback + h).any()):
        folds += 1
    return folds


def folds_of(fc: ForecastConfig, v: Validated, lookback: int | None = None) -> int:
    """Rolling origins: forecast.folds (auto and 'up to N': see auto_folds) for a time
    split; one for classification and for a split column."""
    folds = fc.folds if v.roles.task == "forecast" else 1
    cap = fc.folds_cap() if v.roles.task == "forecast" else None
    if folds == "auto" or cap:
        return 1 if v.roles.split else auto_folds(v, fc, lookback or 1, cap)
    if folds > 1 and v.roles.split:
        raise UsageError(f"forecast.folds is {folds}, but column '{v.roles.split}' fixes the "
                         "split; drop the split column or set forecast.folds to 1.")
    return folds


def preprocess(data: DataConfig, fc: ForecastConfig, cc: ClassifyConfig, seed: int,
               layout: Layout) -> State:
    """Read the validated rows; write prepared/{arrays.npz,state.json} for the holdout
    (fold 0) and prepared/fold-K/ for each earlier rolling origin, each fitted on its own
    training rows only (`seed`: the classification split's; `data`: for messages)."""
    v, report = read_validated(layout), read_validation(layout)
    if v.roles.task == "forecast":
        _same_shape(fc, {"season": report.season, "lookback": report.lookback}, layout)
    folds = folds_of(fc, v, report.lookback)
    for old in layout.prepared.glob("fold-*"):
        shutil.rmtree(old)
    for fold in reversed(range(folds)):  # the holdout last: its state.json marks a whole set
        arrays, state = _prepare((data, fc, cc, seed), v, report, folds, fold)
        if isinstance(state, ForecastState):
            state = state.model_copy(update={"folds": folds})
        if fold == 0:
            for line in state.notes():
                log.info("! %s", line)
        layout.fold_dir(fold).mkdir(parents=True, exist_ok=True)
        write_arrays(layout, arrays, fold)
        write(layout.state_of(fold), state)
    return state  # the holdout's (fold 0), written last


def run(cfg: Config, layout: Layout) -> State:
    """`preprocess` with its sections of `cfg`."""
    return preprocess(cfg.data, cfg.forecast, cfg.classify, cfg.train.seed, layout)
