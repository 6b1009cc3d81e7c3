"""Each run's test coverage of its forecast intervals, per fold, from a finished run folder.

    python benchmarks/interval_folds.py OUT/runs/ID [--levels 0.8,0.95]

metrics.json keeps each model's mean over runs (and its sd); this rescoring shows which fold
(test stretch) moved it. It calibrates as evaluate does (flows/stages/evaluate/intervals.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from flows.stages.evaluate.intervals import Intervals
from modules.conformal import coverages
from modules.inference import predict
from modules.model_files import load_model
from modules.training import split_tensors
from schemas.artifacts import read_arrays, read_state
from schemas.layout import Job, Layout


def per_run(run: Path, levels: list[float]) -> dict[str, list[tuple[int, list[float]]]]:
    """Model: [(fold, [share covered per level])] over every run of the folder."""
    layout = Layout(run)
    intervals = Intervals.of_run(layout, read_state(layout), levels)
    out: dict[str, list[tuple[int, list[float]]]] = {}
    for fold in range(read_state(layout).folds):
        state, arrays = read_state(layout, fold), read_arrays(layout, fold)
        inputs = split_tensors(arrays, "forecast", "test")[:-1]
        for folder in sorted(run.glob(f"models/*/fold-{fold}/seed-*")):
            job = Job(folder.parent.parent.name, int(folder.name.split("-")[1]), fold)
            module, _ = load_model(folder, state)
            shares = coverages(arrays["y_test"], predict(module, inputs), intervals.of(job))
            out.setdefault(job.name, []).append((fold, [c for _, c in shares]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--levels", default="0.8,0.95")
    args = p.parse_args()
    levels = [float(x) for x in args.levels.split(",")]
    for name, runs in per_run(args.run, levels).items():
        cells = " ".join(f"fold {f}: " + "/".join(f"{c:.0%}" for c in cs) for f, cs in runs)
        mean = np.mean([cs for _, cs in runs], axis=0)
        print(f"{name:12s} {cells} | mean " + "/".join(f"{m:.1%}" for m in mean))


if __name__ == "__main__":
    main()
