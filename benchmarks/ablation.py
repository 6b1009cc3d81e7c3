"""What each recipe change contributes: the demo comparisons with one change undone at a time.

    python benchmarks/ablation.py [--models lstm,gru] [--out benchmarks/results/ablation]

Each variant is a `seqarena compare` of a bundled demo (data/forecast.csv, data/classify.csv)
with the defaults except the `--set` options named in VARIANTS. It prints and writes a
Markdown table of every model's primary metric (MASE to forecast, macro-F1 to classify),
steps run and training seconds. Needs `dvc pull data.dvc`. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = {"forecast": ROOT / "data/forecast.csv", "classify": ROOT / "data/classify.csv"}
METRIC = {"forecast": "mase", "classify": "macro_f1"}
PER_EPOCH = {"forecast": 118, "classify": 14}  # batches of 32 in the demos' train splits

# (task, variant, what it undoes, --set options applied to every model `M`)
VARIANTS: list[tuple[str, str, str, list[str]]] = [
    ("forecast", "defaults", "", []),
    ("forecast", "no instance norm", "window normalisation of the target",
     ["models.M.instance_norm=false"]),
    ("forecast", "epoch budget", "the step budget: 40 epochs, patience 8 epochs, no min_steps",
     ["train.max_epochs=40", "train.patience=8", "train.min_steps=0",
      f"train.val_every={PER_EPOCH['forecast']}"]),
    ("forecast", "constant lr", "warm-up and plateau halving", ["train.schedule=constant"]),
    ("classify", "defaults", "", []),
    ("classify", "last-step head", "pooling (last, mean, max) over real steps",
     ["models.M.pool=false"]),
    ("classify", "epoch budget", "the step budget: 40 epochs, patience 8 epochs, no min_steps",
     ["train.max_epochs=40", "train.patience=8", "train.min_steps=0",
      f"train.val_every={PER_EPOCH['classify']}"]),
    ("classify", "constant lr", "warm-up and plateau halving", ["train.schedule=constant"]),
    ("classify", "bidirectional", "(adds) reading sequences both ways",
     ["models.M.bidirectional=true"]),
]


def run(task: str, sets: list[str], models: list[str], out: Path) -> dict:
    """One comparison; its metrics.json."""
    argv = [sys.executable, "-m", "flows.cli", "compare", str(DATA[task]), "--out", str(out),
            "--models", ",".join(models)]
    for item in sets:
        names = models if ".M." in item else [None]
        argv += [a for m in names for a in ("--set", item.replace(".M.", f".{m}."))]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{task} {sets}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="lstm,gru")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/ablation")
    args = parser.parse_args()
    models = args.models.split(",")
    lines = ["| task | variant | undoes | " + " | ".join(models) + " | steps | train s |",
             "|---|---|---|" + "---|" * len(models) + "---|---|"]
    for task, name, undoes, sets in VARIANTS:
        start = time.perf_counter()
        rows = run(task, sets, models, args.out / f"{task}-{name.replace(' ', '-')}")["models"]
        scores = [f"{rows[m][METRIC[task]]:.3f}" for m in models]
        steps = "/".join(str(rows[m]["steps"]) for m in models)
        cost = "/".join(f"{rows[m]['train_seconds']:.0f}" for m in models)
        lines.append(f"| {task} ({METRIC[task]}) | {name} | {undoes} | " + " | ".join(scores)
                     + f" | {steps} | {cost} |")
        print(lines[-1], f"({time.perf_counter() - start:.0f} s)", flush=True)
    table = "\n".join(lines) + "\n"
    (args.out.parent / "ablation.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
