"""The champion (the model promoted before this run) on this run's holdout test items, with its
own preprocessing: this run's scaled inputs go back to the user's units and through the
champion's scaling, and its outputs come back in this run's units, so `evaluate.score` scores
it exactly as it scores the challengers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modules.batching import Ragged, Windows
from modules.inference import predict
from modules.model_files import build_model, check_folder
from schemas.artifacts import CHAMPION, PreparedArrays
from schemas.errors import SeqarenaError
from schemas.prepared import ClassifyState, ForecastState, PreparedState, State

__all__ = ["CHAMPION", "Challenge", "challenge"]


@dataclass
class Challenge:
    """The champion's outputs on this run's test split (in this run's units), or why not."""

    version: str
    arch: str | None
    out: np.ndarray | None
    why: str | None = None

    @property
    def note(self) -> str:
        what = f"{self.version} ({self.arch})" if self.arch else self.version
        return f"the champion {what}" + (f": cannot score this data: {self.why}" if self.why
                                         else ", scored with its own preprocessing")


def _stats(state: PreparedState, groups: list[str], columns: list[str]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Scaling mean and std, (G, C), for `groups` x `columns`."""
    rows = {(r.series, r.column): r for r in state.scaling}
    mean = np.array([[rows[g, c].mean for c in columns] for g in groups])
    std = np.array([[rows[g, c].std for c in columns] for g in groups])
    return mean, std


def _rescale(x: np.ndarray, ours: tuple[np.ndarray, np.ndarray],
             theirs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Values scaled by `ours` (broadcast over x) rescaled by `theirs`."""
    return ((x * ours[1] + ours[0]) - theirs[0]) / theirs[1]


def _forecast(champ: ForecastState, state: ForecastState, arrays: PreparedArrays,
              module: torch.nn.Module) -> np.ndarray | str:
    """The champion's forecasts of this run's test windows, in this run's scaled units."""
    if champ.target != state.target or set(champ.columns) != set(state.columns):
        return (f"it reads {champ.columns} to forecast {champ.target!r}; this data has "
                f"{state.columns}, forecasting {state.target!r}")
    if champ.horizon < state.horizon or champ.lookback > state.lookback:
        return (f"it reads {champ.lookback} steps and forecasts {champ.horizon}; this run's "
                f"windows hold {state.lookback} and forecast {state.horizon}")
    sid = arrays["sid_test"]
    unknown = sorted({state.series[i] for i in np.unique(sid)} - set(champ.series))
    if unknown:
        return f"series {unknown[:5]} were not in its training data"
    names = [state.series[i] for i in sid]
    windows = Windows.from_numpy(arrays["series"], arrays["start_test"], state.lookback)
    x = windows[slice(None)].numpy()[:, -champ.lookback :]  # (N, L, F) in this run's scaling
    ours = tuple(s[sid][:, None, :] for s in _stats(state, state.series, state.columns))
    theirs = tuple(s[:, None, :] for s in _stats(champ, names, state.columns))
    order = [state.columns.index(c) for c in champ.columns]
    xc = _rescale(x, ours, theirs)[..., order].astype(np.float32)  # (N, L, F) champion's
    out = predict(module, (torch.from_numpy(xc),))[:, : state.horizon]  # (N, H)
    t = state.columns.index(state.target)
    return _rescale(out, (theirs[0][:, :, t], theirs[1][:, :, t]),
                    (ours[0][:, :, t], ours[1][:, :, t]))  # (N, H) in this run's units


def _classify(champ: ClassifyState, state: ClassifyState, arrays: PreparedArrays,
              module: torch.nn.Module) -> np.ndarray | str:
    """The champion's logits for this run's test sequences, columns in this run's classes."""
    if set(champ.columns) != set(state.columns):
        return f"it reads {champ.columns}; this data has {state.columns}"
    if set(champ.classes) != set(state.classes):
        return f"it knows the classes {champ.classes}; this data has {state.classes}"
    longest = int(arrays["len_test"].max())
    if champ.max_length and longest > champ.max_length:
        return f"it reads at most {champ.max_length} steps; a test sequence has {longest}"
    ours = _stats(state, ["all"], state.columns)
    theirs = _stats(champ, ["all"], state.columns)
    order = [state.columns.index(c) for c in champ.columns]
    rows = _rescale(arrays["x_test"], ours, theirs)[:, order].astype(np.float32)  # (R, F)
    logits = predict(module, (Ragged.from_numpy(rows, arrays["len_test"]),))  # (N, C) theirs
    return logits[:, [champ.classes.index(c) for c in state.classes]]  # (N, C) ours


def challenge(folder: Path, state: State, arrays: PreparedArrays) -> Challenge:
    """The champion in `folder` (a link to its version) on this run's holdout test split."""
    version = Path(os.path.realpath(folder)).name
    try:
        card, champ = check_folder(folder)
        module = build_model(folder, card, champ)
    except (SeqarenaError, OSError) as exc:
        return Challenge(version, None, None, f"its files do not load ({exc})")
    arch = card.spec.arch
    if champ.task != state.task:
        return Challenge(version, arch, None, f"it was trained to {champ.task}, this run "
                         f"to {state.task}")
    score = _forecast if isinstance(state, ForecastState) else _classify
    out = score(champ, state, arrays, module)  # type: ignore[arg-type]
    if isinstance(out, str):
        return Challenge(version, arch, None, out)
    if not np.isfinite(out).all():
        return Challenge(version, arch, None, "it gives NaN or infinite outputs on this data")
    return Challenge(version, arch, out)
