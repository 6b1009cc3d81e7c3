"""Reference baselines from maintained libraries: AutoETS, AutoTheta and AutoARIMA
(statsforecast) for forecasting; 1-NN DTW and MiniRocket (aeon) for classification."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from flows.runtime.procs import kill_pool, process_pool

# MiniRocket (aeon) transforms every sequence with ~10,000 kernels: its work grows with
# sequences x padded steps x channels. Measured warm on the 2-core dev machine, one thread,
# fit + predict on random data: 1.7e6 cells in 3.3 s, 8.6e6 cells (2,400 x 1,200 x 3) in
# 14.5 s; 3.5e7 cells keeps it near a minute, as DTW's limit does
MINIROCKET_MAX_CELLS = 35_000_000
MINIROCKET_MIN_STEPS = 9  # aeon's MiniRocket needs at least 9 steps: shorter ones are padded
# aeon's DTW measured warm on the 2-core dev machine, one thread, under load: ~2.6e8 cells/s
# for 1-2 channels, ~1.4e8 for 8; 6e9 cells keeps 1-NN DTW under ~60 s there (issue 10).
DTW_MAX_CELLS = 6_000_000_000


@dataclass(frozen=True)
class ReferenceResult:
    """A reference model's outputs (None when skipped), a note for the report (None if clean)
    and, where it times itself, its fit + predict seconds (summed over its processes)."""

    outputs: np.ndarray | None
    note: str | None = None
    seconds: float | None = None


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence library warnings and numpy floating-point warnings while inside."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed value horizon times."""
    return np.full(horizon, float(history[-1]))


STAT_MODELS = {"autoets": "AutoETS", "autotheta": "AutoTheta", "autoarima": "AutoARIMA"}
STAT_COST_ORDER = ("autoarima", "autoets", "autotheta")  # costliest fit first
# each series is fitted once (model selection included: AutoARIMA's search is the costliest,
# about 0.5-2 s a series of a few hundred steps on the dev machine) and moved forward after:
# past this many series x steps of history a reference is skipped with a note
STAT_MAX_POINTS = 2_000_000


def _stat_model(name: str, season: int) -> Any:
    """A fresh statsforecast model (`name`: a key of STAT_MODELS) for this season length."""
    import statsforecast.models

    return getattr(statsforecast.models, STAT_MODELS[name])(season_length=season)


def _stat_step(model: Any, history: np.ndarray, horizon: int, season: int, name: str
              ) -> tuple[Any, Any]:
    """Forecast after history: reuse model via forward(), or fit a new one when None."""
    if model is None:
        model = _stat_model(name, season).fit(history)
        return model, model.predict(h=horizon)["mean"]
    return model, model.forward(y=history, h=horizon)["mean"]


def _stat_segment(y: np.ndarray, starts: list[int], horizon: int, season: int, name: str
                 ) -> list[tuple[np.ndarray, bool]]:
    """Fit at the first origin (or the first that fits), forward() to the rest; naive if none."""
    model, out = None, []
    for o in starts:
        try:
            model, mean = _stat_step(model, y[:o], horizon, season, name)
            mean = np.asarray(mean, dtype=np.float64)
            ok = mean.shape == (horizon,) and bool(np.all(np.isfinite(mean)))
        except Exception:  # any failed fit (too short, singular, ...) falls back, counted
            ok = False
        out.append((mean, False) if ok else (_naive(y[:o], horizon), True))
    return out


def _stat_chunk(name: str, segments: list[tuple[np.ndarray, list[int]]], horizon: int,
                season: int) -> tuple[list[list[tuple[np.ndarray, bool]]], float]:
    """Forecast a chunk of segments quietly (one pool task); also its seconds (the library's
    import not counted)."""
    import statsforecast.models  # noqa: F401  (imported once per process, before the clock)

    start = time.perf_counter()
    with _quiet():
        out = [_stat_segment(y, starts, horizon, season, name) for y, starts in segments]
    return out, time.perf_counter() - start


def _segments(values: Sequence[np.ndarray], origins: Sequence[np.ndarray], refit_every: int
              ) -> tuple[list[tuple[np.ndarray, list[int]]], list[list[int]]]:
    """Split each series' sorted origins into runs sharing one fit; also their output rows."""
    if len(values) != len(origins):
        raise ValueError(f"{len(values)} series but {len(origins)} origin arrays")
    segs, rows, row = [], [], 0
    for i, (series, given) in enumerate(zip(values, origins, strict=True)):
        y = np.asarray(series, dtype=np.float64).ravel()
        starts = np.asarray(given, dtype=np.int64).ravel()
        if starts.size and not (starts.min() >= 1 and starts.max() <= y.size):
            raise ValueError(f"series {i}: origins must lie in 1..{y.size}")
        fit_at = None
        for k in np.argsort(starts, kind="stable"):
            if fit_at is None or starts[k] - fit_at >= refit_every:
                fit_at = int(starts[k])
                segs.append((y, []))
                rows.append([])
            segs[-1][1].append(int(starts[k]))
            rows[-1].append(row + int(k))
        row += starts.size
    return segs, rows


def stat_forecasts(values: Sequence[np.ndarray], origins: Sequence[np.ndarray], horizon: int,
                   season: int, n_jobs: int = 1, refit_every: int = 1, name: str = "autoets",
                   max_points: int = STAT_MAX_POINTS) -> ReferenceResult:
    """A statsforecast model (`name`: autoets, autotheta, autoarima) on all history before
    each origin: (windows, horizon) rows in the given order.

    refit_every=1 refits at every origin; k > 1 refits every k steps and moves the last fit
    forward over the new history in between (statsforecast's cross_validation(refit=k)).
    """
    return stat_references(values, origins, horizon, season, [name], n_jobs, refit_every,
                           max_points)[name]


def stat_references(values: Sequence[np.ndarray], origins: Sequence[np.ndarray], horizon: int,
                    season: int, names: Sequence[str], n_jobs: int = 1, refit_every: int = 1,
                    max_points: int = STAT_MAX_POINTS) -> dict[str, ReferenceResult]:
    """stat_forecasts for every model of `names`, their series fitted on `n_jobs` processes of
    one pool (AutoARIMA's, the costliest, first): no model waits for another's last series."""
    if horizon < 1 or season < 1 or refit_every < 1:
        raise ValueError("horizon, season and refit_every must be at least 1")
    points = sum(len(v) for v in values)
    if points > max_points:
        return {n: ReferenceResult(None, f"{STAT_MODELS[n]} skipped: {len(values):,} series "
                                         f"with {points:,} steps of history exceed the limit "
                                         f"of {max_points:,}") for n in names}
    segs, rows = _segments(values, origins, refit_every)
    n_chunks = max(1, min(len(segs), 4 * max(1, n_jobs)))
    idx = [list(range(k, len(segs), n_chunks)) for k in range(n_chunks)]
    tasks = [(n, [segs[j] for j in chunk], horizon, season)
             for n in sorted(names, key=list(STAT_COST_ORDER).index) for chunk in idx]
    if n_jobs > 1 and len(tasks) > 1:
        pool = process_pool(min(n_jobs, len(tasks)), (__name__,))
        try:
            done = list(pool.map(_stat_chunk, *zip(*tasks, strict=True)))
        except BaseException:  # SIGTERM, Ctrl-C, a dead worker: stop now, not after the fits
            kill_pool(pool)
            raise
        pool.shutdown()
    else:
        done = [_stat_chunk(*t) for t in tasks]
    results = {}
    for name in names:
        mine = [d for t, d in zip(tasks, done, strict=True) if t[0] == name]
        out = np.empty((sum(len(r) for r in rows), horizon), dtype=np.float64)
        fell = 0
        for chunk, (part, _) in zip(idx, mine, strict=True):
            for j, results_j in zip(chunk, part, strict=True):
                for r, (mean, fallback) in zip(rows[j], results_j, strict=True):
                    out[r], fell = mean, fell + fallback
        note = (f"{STAT_MODELS[name]} fell back to naive on {fell} of {len(out)} windows"
                if fell else None)
        results[name] = ReferenceResult(out, note, sum(seconds for _, seconds in mine))
    return results


def dtw_cells(train_lengths: Sequence[int], test_lengths: Sequence[int]) -> int:
    """DTW work estimate: the sum over (train, test) pairs of T_a * T_b."""
    return sum(int(n) for n in train_lengths) * sum(int(n) for n in test_lengths)


def _channels_first(seqs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """(T_i, F) sequences as aeon's np-list of (F, T_i) float64 arrays, fresh and writable.

    Writable copies matter: numba compiles read-only arrays (e.g. polars' to_numpy) separately.
    """
    out = [np.array(np.asarray(s, dtype=np.float64).T, order="C") for s in seqs]
    if any(a.ndim != 2 for a in out):
        raise ValueError("each sequence must be a 2-D (T, F) array")
    return out


def dtw_1nn(train: Sequence[np.ndarray], y_train: np.ndarray, test: Sequence[np.ndarray],
            n_jobs: int = 1) -> np.ndarray:
    """Label of each test sequence's nearest training sequence under dependent DTW (aeon)."""
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    classes = np.unique(y_train)
    if classes.size == 1:  # aeon refuses one class; every nearest neighbour carries it anyway
        return np.full(len(test), classes[0])
    with _quiet():
        knn = KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1, n_jobs=n_jobs)
        knn.fit(_channels_first(train), np.asarray(y_train))
        return np.asarray(knn.predict(_channels_first(test)))


def dtw_reference(train: Sequence[np.ndarray], y_train: np.ndarray, test: Sequence[np.ndarray],
                  max_cells: int = DTW_MAX_CELLS, n_jobs: int = 1) -> ReferenceResult:
    """1-NN DTW predictions, or none and a note when the work exceeds max_cells."""
    if note := dtw_skip(train, test, max_cells):
        return ReferenceResult(None, note)
    return ReferenceResult(dtw_1nn(train, y_train, test, n_jobs=n_jobs))


def dtw_skip(train: Sequence[np.ndarray], test: Sequence[np.ndarray],
             max_cells: int = DTW_MAX_CELLS) -> str | None:
    """Why 1-NN DTW is skipped on these sequences (None: it runs)."""
    cells = dtw_cells([len(s) for s in train], [len(s) for s in test])
    return (f"1-NN DTW skipped: {cells:,} DTW cells exceed the limit of {max_cells:,}"
            if cells > max_cells else None)


def padded(seqs: Sequence[np.ndarray], steps: int) -> np.ndarray:
    """(T_i, F) sequences as one (N, F, steps) float64 array, zeros after each sequence's end
    (the inputs are scaled on train: zero is the training mean)."""
    out = np.zeros((len(seqs), seqs[0].shape[1] if len(seqs) else 0, steps), dtype=np.float64)
    for i, s in enumerate(seqs):
        out[i, :, : len(s)] = np.asarray(s, dtype=np.float64)[:steps].T
    return out


def _minirocket_steps(lengths: list[int]) -> int:
    """The length every sequence is padded to for MiniRocket."""
    return max(MINIROCKET_MIN_STEPS, *lengths)


def minirocket_skip(train: Sequence[np.ndarray], test: Sequence[np.ndarray],
                    max_cells: int = MINIROCKET_MAX_CELLS) -> str | None:
    """Why MiniRocket is skipped on these sequences (None: it runs): its padded cells."""
    lengths = [len(s) for s in [*train, *test]]
    steps = _minirocket_steps(lengths)
    channels = train[0].shape[1]
    cells = len(lengths) * steps * channels
    return (f"MiniRocket skipped: {len(lengths):,} sequences x {steps:,} steps x {channels} "
            f"channel(s) = {cells:,} cells exceed the limit of {max_cells:,}"
            if cells > max_cells else None)


def minirocket_reference(train: Sequence[np.ndarray], y_train: np.ndarray,
                         test: Sequence[np.ndarray], max_cells: int = MINIROCKET_MAX_CELLS,
                         n_jobs: int = 1, seed: int = 0) -> ReferenceResult:
    """MiniRocket (aeon's MiniRocketClassifier, default settings) predictions, or none and a
    note when its work exceeds max_cells. Sequences of unequal length are zero-padded at
    the end to the longest (aeon's MiniRocket takes equal lengths), and the note says so."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    if note := minirocket_skip(train, test, max_cells):
        return ReferenceResult(None, note)
    lengths = [len(s) for s in [*train, *test]]
    steps = _minirocket_steps(lengths)
    classes = np.unique(y_train)
    if classes.size == 1:  # one class: every prediction carries it
        return ReferenceResult(np.full(len(test), classes[0]))
    with _quiet():
        clf = MiniRocketClassifier(random_state=seed, n_jobs=n_jobs)
        clf.fit(padded(train, steps), np.asarray(y_train))
        out = np.asarray(clf.predict(padded(test, steps)))
    unequal = len(set(lengths)) > 1 or steps > max(lengths)
    note = (f"sequences zero-padded at the end to {steps} steps (aeon's MiniRocket takes "
            "equal lengths)") if unequal else None
    return ReferenceResult(out, note)
