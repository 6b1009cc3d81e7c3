"""The demo's fan-out on the two training runners, side by side: the process pool (default)
and a local Dask cluster of train.workers single-thread workers (train.runner=dask).

Usage: python benchmarks/runners.py [--data data/forecast.csv] [--repeats 2]
       [--out benchmarks/results/runners.md]

Runs `seqarena compare` in a subprocess, runners interleaved (process, dask, dask, process,
...), each with the default params. Reports each run's wall time and training seconds (the sum
of the model cards' `train_seconds`), min and median per runner, and whether every model's
test metrics are identical between runners and between repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEQARENA = [sys.executable, "-m", "flows.cli"]
METRICS = ("mae", "rmse", "smape", "mase", "accuracy", "macro_f1")


def compare(data: Path, out: Path, runner: str) -> float:
    """One compare on `runner`; its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([*SEQARENA, "compare", str(data), "--out", str(out),
                    "--set", f"train.runner={runner}", "--set", "promote.gto_artifact=null"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def scores(out: Path) -> dict[str, dict[str, float]]:
    """Every trained model's test metrics."""
    models = json.loads((out / "latest" / "metrics.json").read_text())["models"]
    return {name: {k: row[k] for k in METRICS if k in row} for name, row in models.items()
            if row["kind"] == "model"}


def train_seconds(out: Path) -> float:
    """The sum of train_seconds over every model card of the run."""
    cards = (out / "latest" / "models").glob("*/fold-*/seed-*/model.json")
    return sum(json.loads(card.read_text())["train_seconds"] for card in cards)


def table(runs: list[dict]) -> list[str]:
    lines = ["| run | runner | wall (s) | training, summed over runs (s) |", "|---|---|---:|---:|"]
    lines += [f"| {i + 1} | {r['runner']} | {r['wall']:.1f} | {r['train']:.1f} |"
              for i, r in enumerate(runs)]
    lines += ["", "| runner | wall min (s) | wall median (s) |", "|---|---:|---:|"]
    for runner in ("process", "dask"):
        walls = [r["wall"] for r in runs if r["runner"] == runner]
        lines.append(f"| {runner} | {min(walls):.1f} | {statistics.median(walls):.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "forecast.csv")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/runners.md")
    args = parser.parse_args()
    order = [r for i in range(args.repeats)
             for r in (("process", "dask") if i % 2 == 0 else ("dask", "process"))]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, runner in enumerate(order):
            out = Path(tmp) / f"{i}-{runner}"
            wall = compare(args.data, out, runner)
            runs.append({"runner": runner, "wall": wall, "train": train_seconds(out),
                         "scores": scores(out)})
            print(f"{runner:8s} {wall:7.1f} s", flush=True)
    same = all(r["scores"] == runs[0]["scores"] for r in runs)
    text = [f"# Training runners: `{args.data.name}`, defaults, 2 cores", "",
            f"`python benchmarks/runners.py --repeats {args.repeats}`; runners interleaved.", "",
            *table(runs), "",
            f"Every model's test metrics identical across all {len(runs)} runs: "
            f"**{'yes' if same else 'no'}**.", ""]
    if not same:
        text += ["```", json.dumps([r["scores"] for r in runs], indent=1), "```", ""]
    args.out.write_text("\n".join(text), encoding="utf-8")
    print("\n".join(text))


if __name__ == "__main__":
    main()
