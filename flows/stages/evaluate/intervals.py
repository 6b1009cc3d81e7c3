"""A forecaster's interval calibration across origins: the validation residuals of its own
fold and of every earlier origin (deeper fold), pooled in its fold's scaled units.

Why: one validation split of a short series holds few windows, and they overlap, so the
spread of errors in that one stretch of time is a noisy guess of the next stretch's (on the
benchmark's airline series the test errors of one fold were 3x its validation errors). The
earlier origins' validation windows are out-of-sample errors of the same recipe over other
stretches of the series, never a test window, as statsforecast's conformal intervals pool
cross-validation windows. Fold k pools the residuals of folds k, k+1, ... (same model and
seed); those models saw less history, so the pool errs wide rather than narrow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modules.arrays import Scaler
from modules.conformal import calibrate, read_residuals
from schemas.artifacts import read_state
from schemas.intervals import Conformal
from schemas.layout import Job, Layout
from schemas.prepared import ForecastState, State


@dataclass(frozen=True)
class Units:
    """A fold's target scale per series, by series name."""

    std: dict[str, float]
    series: list[str]

    @classmethod
    def of(cls, state: ForecastState) -> Units:
        """The scale of `state`'s fold (its training rows)."""
        return cls(dict(zip(state.series, Scaler(state).std.tolist(), strict=True)),
                   list(state.series))


def converted(residuals: np.ndarray, sid: np.ndarray, source: Units, target: Units
              ) -> np.ndarray:
    """(N, H) residuals scaled in `source`'s units, rescaled to `target`'s (per series);
    windows of a series `target` does not know are left out."""
    names = [source.series[i] for i in sid]
    known = np.array([n in target.std for n in names], dtype=bool)
    ratio = np.array([source.std[n] / target.std[n] for n in names if n in target.std])
    return residuals[known] * ratio[:, None]  # (N', H)


def calibration(layout: Layout, job: Job, units: list[Units], levels: list[float]
                ) -> Conformal | None:
    """Job's calibration at `levels` from the validation residuals of its fold and of every
    deeper fold's run of the same model and seed (those that trained); None without any."""
    parts = []
    for fold in range(job.fold, len(units)):  # units: one per fold
        path = layout.residuals(Job(job.name, job.seed, fold))
        if path.exists():
            residuals, sid = read_residuals(path)
            parts.append(converted(residuals, sid, units[fold], units[job.fold]))
    if not parts or not levels:
        return None
    conformal = calibrate(np.concatenate(parts), levels)
    return conformal.model_copy(update={"origins": len(parts)})


@dataclass(frozen=True)
class Intervals:
    """The interval levels and every fold's units, to calibrate a forecaster's run."""

    layout: Layout
    levels: list[float]
    units: list[Units]

    @classmethod
    def of_run(cls, layout: Layout, state: State, levels: list[float]) -> Intervals:
        """Forecasting with levels: each fold's units; else nothing to calibrate."""
        if not isinstance(state, ForecastState) or not levels:
            return cls(layout, [], [])
        return cls(layout, levels, [Units.of(read_state(layout, k))  # type: ignore[arg-type]
                                    for k in range(state.folds)])

    def of(self, job: Job) -> Conformal | None:
        """The job's calibration pooled over its fold and the deeper ones (None: none)."""
        if not self.levels:
            return None
        return calibration(self.layout, job, self.units, self.levels)
