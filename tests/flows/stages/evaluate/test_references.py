"""Reference baselines: AutoETS, AutoTheta and AutoARIMA (statsforecast) forecasts; 1-NN DTW
and MiniRocket (aeon) classification."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsforecast import StatsForecast
from statsforecast.models import AutoETS

from flows.stages.evaluate.references import (
    STAT_MODELS,
    ReferenceResult,
    dtw_1nn,
    dtw_cells,
    dtw_reference,
    minirocket_reference,
    padded,
    stat_forecasts,
    stat_references,
)


def _trend_season(n: int, level: float = 20.0, seed: int = 0) -> np.ndarray:
    """Linear trend plus a weekly sine plus a little noise."""
    t = np.arange(n, dtype=float)
    noise = np.random.default_rng(seed).normal(0.0, 0.05, n)
    return level + 0.3 * t + 4.0 * np.sin(2 * np.pi * t / 7) + noise


def _direct(y: np.ndarray, origin: int, horizon: int, season: int = 7) -> np.ndarray:
    """statsforecast's own AutoETS forecast after y[:origin], for comparison."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return AutoETS(season_length=season).forecast(y=y[:origin], h=horizon)["mean"]


def test_autoets_fits_trend_and_season_better_than_naive() -> None:
    y = _trend_season(130)
    origins = np.array([90, 97, 104, 111, 118])
    res = stat_forecasts([y], [origins], horizon=7, season=7)
    truth = np.stack([y[o:o + 7] for o in origins])
    naive = np.stack([np.full(7, y[o - 1]) for o in origins])
    assert res.outputs.shape == (5, 7) and res.outputs.dtype == np.float64
    assert res.note is None
    mae = np.abs(res.outputs - truth).mean()
    assert mae < 0.3
    assert mae < 0.2 * np.abs(naive - truth).mean()


def test_rows_follow_series_then_given_origin_order() -> None:
    a, b = _trend_season(80, level=10.0, seed=1), _trend_season(70, level=500.0, seed=2)
    origins = [np.array([60, 45, 52]), np.array([40])]
    res = stat_forecasts([a, b], origins, horizon=4, season=7)
    expected = [_direct(a, 60, 4), _direct(a, 45, 4), _direct(a, 52, 4), _direct(b, 40, 4)]
    np.testing.assert_allclose(res.outputs, np.stack(expected), rtol=1e-9)


@pytest.mark.slow  # references on many series
def test_parallel_jobs_give_the_same_rows() -> None:
    a, b = _trend_season(60, seed=3), _trend_season(50, level=90.0, seed=4)
    origins = [np.arange(40, 46), np.array([30, 44, 35])]
    serial = stat_forecasts([a, b], origins, horizon=3, season=7)
    parallel = stat_forecasts([a, b], origins, horizon=3, season=7, n_jobs=2)
    np.testing.assert_array_equal(parallel.outputs, serial.outputs)


@pytest.mark.slow  # three references on one pool of two processes
def test_every_reference_on_one_pool_matches_each_alone() -> None:
    """stat_references fits all models' series on one pool: each model's rows equal those of
    that model alone and in-process, and its seconds are its own (summed over processes)."""
    a, b = _trend_season(90, seed=8), _trend_season(70, level=60.0, seed=9)
    origins = [np.arange(70, 80), np.array([50, 60])]
    together = stat_references([a, b], origins, 4, 7, list(STAT_MODELS), n_jobs=2,
                               refit_every=1_000)
    assert list(together) == list(STAT_MODELS)
    for name, result in together.items():
        alone = stat_forecasts([a, b], origins, 4, 7, refit_every=1_000, name=name)
        np.testing.assert_array_equal(result.outputs, alone.outputs)
        assert result.seconds is not None and 0 < result.seconds < 60


@pytest.mark.parametrize("refit", [1, 3])
def test_rows_match_statsforecast_cross_validation(refit: int) -> None:
    a, b = _trend_season(80, seed=5), _trend_season(80, level=70.0, seed=7)
    long = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 80), "ds": np.tile(np.arange(80), 2),
                         "y": np.concatenate([a, b])})
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cv = StatsForecast(models=[AutoETS(season_length=7)], freq=1).cross_validation(
            df=long, h=5, step_size=1, n_windows=6, refit=refit)
    expected = cv.sort_values(["unique_id", "cutoff", "ds"])["AutoETS"].to_numpy()
    origins = [np.arange(70, 76)] * 2
    res = stat_forecasts([a, b], origins, horizon=5, season=7, refit_every=refit)
    np.testing.assert_allclose(res.outputs, expected.reshape(12, 5), rtol=1e-9)
    assert refit == 1 or not np.allclose(res.outputs[1], _direct(a, 71, 5))


def test_too_short_history_falls_back_to_naive_and_is_counted() -> None:
    y = _trend_season(60, seed=6)
    res = stat_forecasts([y], [np.array([2, 50])], horizon=3, season=7)
    np.testing.assert_array_equal(res.outputs[0], np.full(3, y[1]))
    np.testing.assert_allclose(res.outputs[1], _direct(y, 50, 3), rtol=1e-9)
    assert res.note == "AutoETS fell back to naive on 1 of 2 windows"


@pytest.mark.parametrize(("n", "season"), [(12, 1), (10, 7), (11, 7)])
def test_short_or_non_seasonal_series_still_fit_without_warnings(n: int, season: int) -> None:
    y = np.arange(n, dtype=float) % 5 + 1.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = stat_forecasts([y], [np.array([n])], horizon=3, season=season)
    assert res.note is None
    np.testing.assert_allclose(res.outputs[0], _direct(y, n, 3, season), rtol=1e-9)
    assert caught == []


def test_origins_outside_the_series_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"origins must lie in 1\.\.10"):
        stat_forecasts([np.ones(10)], [np.array([0])], horizon=2, season=1)


def _waves(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Three periods of sine (class 3) or square (class 7) waves, stretched to 30-60 steps."""
    rng = np.random.default_rng(seed)
    seqs, labels = [], []
    for i in range(n):
        t = np.linspace(0.0, 6 * np.pi, int(rng.integers(30, 61))) + rng.uniform(0, 0.3)
        base = np.sin(t) if i % 2 == 0 else np.sign(np.sin(t))
        chans = np.stack([base, 0.5 * np.cos(t) * (1 + i % 2)], axis=1)
        seqs.append(chans + rng.normal(0.0, 0.05, chans.shape))
        labels.append(3 if i % 2 == 0 else 7)
    return seqs, np.array(labels)


@pytest.mark.slow  # references on many series
def test_dtw_1nn_separates_sine_from_square_waves() -> None:
    train, y_train = _waves(12, seed=0)
    test, y_test = _waves(10, seed=1)
    pred = dtw_1nn(train, y_train, test)
    np.testing.assert_array_equal(pred, y_test)


def test_dtw_cells_is_the_sum_of_pairwise_products() -> None:
    assert dtw_cells([2, 3], [4, 5]) == 2 * 4 + 2 * 5 + 3 * 4 + 3 * 5
    assert dtw_cells(np.array([100_000] * 3, dtype=np.int32), [100_000]) == 3 * 10**10
    assert dtw_cells([], [5]) == 0


def test_dtw_reference_skips_with_a_note_above_max_cells() -> None:
    train, y_train = _waves(4, seed=2)
    test, y_test = _waves(2, seed=3)
    cells = dtw_cells([len(s) for s in train], [len(s) for s in test])
    skipped = dtw_reference(train, y_train, test, max_cells=cells - 1)
    assert skipped == ReferenceResult(None, f"1-NN DTW skipped: {cells:,} DTW cells exceed "
                                            f"the limit of {cells - 1:,}")
    done = dtw_reference(train, y_train, test, max_cells=cells)
    assert done.note is None
    np.testing.assert_array_equal(done.outputs, y_test)


def test_dtw_1nn_with_one_training_class_predicts_it() -> None:
    train, _ = _waves(3, seed=4)
    test, _ = _waves(2, seed=5)
    np.testing.assert_array_equal(dtw_1nn(train, np.array([5, 5, 5]), test), [5, 5])


@pytest.mark.parametrize("name", ["autotheta", "autoarima"])
def test_theta_and_arima_are_statsforecasts_own_forecasts(name: str) -> None:
    """Fitted at the first origin, each is exactly statsforecast's forecast there, and it
    follows trend and season far better than the naive forecast."""
    import statsforecast.models

    y = _trend_season(130)
    origins = np.array([90, 97, 104, 111, 118])
    res = stat_forecasts([y], [origins], horizon=7, season=7, name=name)
    cls = getattr(statsforecast.models, STAT_MODELS[name])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        first = cls(season_length=7).forecast(y=y[:90], h=7)["mean"]
    np.testing.assert_allclose(res.outputs[0], first, rtol=1e-6)
    truth = np.stack([y[o:o + 7] for o in origins])
    naive = np.stack([np.full(7, y[o - 1]) for o in origins])
    assert np.abs(res.outputs - truth).mean() < 0.6 * np.abs(naive - truth).mean()


def test_minirocket_pads_unequal_lengths_and_separates_the_waves() -> None:
    train, y_train = _waves(20, seed=6)
    test, y_test = _waves(10, seed=7)
    res = minirocket_reference(train, y_train, test)
    steps = max(len(s) for s in train + test)
    assert res.note == (f"sequences zero-padded at the end to {steps} steps (aeon's MiniRocket "
                        "takes equal lengths)")
    np.testing.assert_array_equal(res.outputs, y_test)
    x = padded(test, steps)
    assert x.shape == (10, 2, steps)
    n = len(test[0])
    np.testing.assert_array_equal(x[0, :, :n], test[0].T)
    assert not x[0, :, n:].any()


def test_minirocket_skips_with_a_note_above_max_cells() -> None:
    train, y_train = _waves(4, seed=8)
    test, _ = _waves(2, seed=9)
    steps = max(len(s) for s in train + test)
    cells = 6 * steps * 2
    skipped = minirocket_reference(train, y_train, test, max_cells=cells - 1)
    assert skipped == ReferenceResult(None, f"MiniRocket skipped: 6 sequences x {steps} steps "
                                            f"x 2 channel(s) = {cells:,} cells exceed the limit "
                                            f"of {cells - 1:,}")


def test_a_statsforecast_reference_skips_with_a_note_above_max_points() -> None:
    y = _trend_season(60)
    skipped = stat_forecasts([y, y], [np.array([50]), np.array([55])], horizon=3, season=7,
                             name="autoarima", max_points=119)
    assert skipped == ReferenceResult(None, "AutoARIMA skipped: 2 series with 120 steps of "
                                            "history exceed the limit of 119")
    assert stat_forecasts([y, y], [np.array([50]), np.array([55])], horizon=3, season=7,
                          max_points=120).outputs.shape == (2, 3)


def test_a_classifier_reference_is_timed_after_a_warm_up_on_a_few_sequences() -> None:
    """The reference's seconds leave out its first call's one-time cost (numba compiling
    aeon's kernels): a warm-up on one training sequence per class and two test sequences
    runs first, untimed, unless the cost guard skips the reference; the timed call gets
    every sequence."""
    import time

    from flows.stages.evaluate.baselines import _classifier
    from schemas.prepared import ClassifyState

    calls: list[tuple[int, list[int], int]] = []

    def reference(train: list, labels: np.ndarray, test: list) -> ReferenceResult:
        calls.append((len(train), sorted(labels.tolist()), len(test)))
        if len(calls) == 1:
            time.sleep(0.5)  # the first call compiles
        return ReferenceResult(np.zeros(len(test)))

    train = [np.zeros((5, 1)) for _ in range(6)]
    labels = np.array([1, 1, 0, 2, 0, 2])
    state = ClassifyState.model_construct(classes=["a", "b", "c"])
    data = (train, labels, [np.zeros((5, 1))] * 4)
    y = _classifier("fake", state, data, reference, lambda train, test: None)
    assert calls == [(3, [0, 1, 2], 2), (6, [0, 0, 1, 1, 2, 2], 4)]
    assert y.seconds is not None and y.seconds < 0.4 and y.out.shape == (4, 3)  # type: ignore[union-attr]
    calls.clear()  # a reference its cost guard skips gets no warm-up
    _classifier("fake", state, data, reference, lambda train, test: "too big")
    assert calls == [(6, [0, 0, 1, 1, 2, 2], 4)]
