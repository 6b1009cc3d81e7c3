"""The forecasts the report draws (forecasts.parquet): for the first few test series, the last
test window of fold 0 in the user's units, with its lookback history, the actual future and
each run's forecast (a model's kept run, every baseline)."""

from __future__ import annotations

import numpy as np
import polars as pl

from modules.arrays import Scaler
from schemas.artifacts import PreparedArrays
from schemas.prepared import ForecastState
from schemas.stages import FORECASTS, forecasts_schema

SHOWN = 3  # series in the forecast-vs-actual plot


def last_windows(arrays: PreparedArrays, shown: int = SHOWN) -> np.ndarray:
    """Test-split indices of the latest-origin window of each of the first `shown` series."""
    sid, pos = arrays["sid_test"], arrays["pos_test"]
    picks = []
    for s in sorted(set(sid.tolist()))[:shown]:
        mine = np.flatnonzero(sid == s)
        picks.append(mine[np.argmax(pos[mine])])
    return np.array(picks, dtype=np.int64)


class ForecastSample:
    """The chosen windows of one fold's test split, and every line drawn over them."""

    def __init__(self, state: ForecastState, arrays: PreparedArrays) -> None:
        self.rows = last_windows(arrays)  # (K,) indices into the test split
        self.sid = arrays["sid_test"][self.rows]  # (K,)
        self.names = [state.series[i] for i in self.sid]
        self.scaler = Scaler(state)
        lookback = state.lookback
        at = arrays["start_test"][self.rows][:, None] + np.arange(lookback)  # (K, L)
        history = self.scaler.inverse(arrays["series"][at, 0], self.sid)  # (K, L) target
        self.frames = [self._lines(history, "history", None, 1 - lookback)]
        self.add("actual", arrays["y_test"])

    def _lines(self, values: np.ndarray, kind: str, model: str | None, first: int = 1
               ) -> pl.DataFrame:
        """`values` (K, T) in the user's units as long rows, steps from `first`; a value that
        is not finite becomes null."""
        k, t = values.shape
        value = pl.Series(np.where(np.isfinite(values), values, np.nan).ravel(), dtype=pl.Float64)
        return pl.DataFrame({
            "series": np.repeat(self.names, t), "kind": kind, "model": model,
            "step": np.tile(np.arange(first, first + t), k), "value": value.fill_nan(None)},
            schema=FORECASTS)

    def add(self, kind: str, out: np.ndarray, name: str | None = None) -> None:
        """Scaled values (N, H) over the whole test split: the actual future, or one run's
        forecasts (`name` and its kind)."""
        self.frames.append(self._lines(self.scaler.inverse(out[self.rows], self.sid), kind,
                                       name))

    def frame(self) -> pl.DataFrame:
        """Every line, checked against the forecasts.parquet contract."""
        return forecasts_schema.validate(pl.concat(self.frames))


def no_sample() -> pl.DataFrame:
    """forecasts.parquet when classifying: the columns only (dvc.yaml declares the file)."""
    return forecasts_schema.validate(pl.DataFrame(schema=FORECASTS))
