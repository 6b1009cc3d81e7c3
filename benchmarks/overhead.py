"""Where a comparison's wall time goes: per phase, seconds and share, on the demos, a small
job (1 model, 1 seed, 200 steps) and a wide one (5,000 series x 60 days, 2 models, 200 steps).

    python benchmarks/overhead.py [--cases forecast,classify,small,scale] [--out STEM]

Each case is a `seqarena compare` in a fresh process (this script with `--case`), with
timing probes wrapped around the functions that make each phase: the server start and
shutdown, validate, preprocess, the trainings, the references, the latency measurement,
the reports, publish. The trainings' pure fit is read from each run's model.json; the rest
of the training phase is worker start, imports, data loading and idle workers. Run it alone
on the machine: it measures wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
SCALE_CSV = "{tmp}/scale.csv"  # 5,000 series x 60 days, written by scale_data()
CASES = {
    "forecast": ["data/forecast.csv"],
    "classify": ["data/classify.csv"],
    "small": ["data/forecast.csv", "--models", "lstm", "--seeds", "1", "--steps", "200"],
    "scale": [SCALE_CSV, "--models", "lstm,gru", "--seeds", "1", "--steps", "200",
              "--set", "evaluate.references=false"],
}


def scale_data(path: Path, series: int = 5_000, days: int = 60) -> None:
    """Daily series with a weekly cycle and noise: many short series, a large validation split."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    t = np.arange(days)
    level = rng.uniform(50, 150, (series, 1))
    y = level * (1 + 0.1 * np.sin(2 * np.pi * t / 7)) + rng.normal(0, 5, (series, days))
    pl.DataFrame({
        "unique_id": np.repeat([f"s{i:05d}" for i in range(series)], days),
        "ds": np.tile(np.datetime64("2024-01-01") + t, series),
        "y": y.ravel().round(3),
    }).write_csv(path, date_format="%Y-%m-%d")
# (module, attribute, phase, parent phase): the functions each phase is made of
PROBES = [
    ("flows.stages.validate.stage", "run", "validate", None),
    ("flows.stages.preprocess.stage", "run", "preprocess", None),
    ("flows.runtime.fanout", "run_jobs", "training", None),
    ("flows.stages.evaluate.stage", "run", "evaluate", None),
    ("flows.stages.evaluate.stage", "yardsticks", "baselines and references", "evaluate"),
    ("flows.stages.evaluate.stage", "_cost_alone", "latency, alone", "evaluate"),
    ("flows.stages.promote.stage", "run", "promote", None),
    ("flows.stages.promote.review", "_plot_tables", "plot tables", "promote"),
    ("flows.stages.promote.review", "render_report", "report.md", "promote"),
    ("flows.stages.promote.review", "render_html", "report.html and plots", "promote"),
    ("flows.pipeline", "_artifacts", "Prefect artifacts", None),
    ("flows.pipeline", "publish", "publish", None),
]
SPANS: list[tuple[str, float]] = []


def _timed(fn: Callable[..., Any], phase: str) -> Callable[..., Any]:
    """`fn`, adding its wall seconds to `phase` on every call."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPANS.append((phase, time.perf_counter() - start))
    return wrapper


def _timed_server(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The Prefect API context manager, its start and its shutdown timed apart."""
    @contextlib.contextmanager
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        start = time.perf_counter()
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(fn(*args, **kwargs))
            SPANS.append(("server start", time.perf_counter() - start))
            try:
                yield url
            finally:
                stop = time.perf_counter()
                stack.close()
                SPANS.append(("server shutdown", time.perf_counter() - stop))
    return wrapper


def one_case(args: list[str], out: Path) -> None:
    """Run one compare in this process with the probes; write its spans to `out`."""
    start = time.perf_counter()
    from flows.cli.main import main
    modules = {m: importlib.import_module(m) for m, *_ in PROBES}
    server = importlib.import_module("flows.runtime.server")
    imported = time.perf_counter() - start
    for module, attr, phase, _ in PROBES:
        setattr(modules[module], attr, _timed(getattr(modules[module], attr), phase))
    server.prefect_api = _timed_server(server.prefect_api)
    run_dir = out.with_suffix(".run")
    begin = time.perf_counter()
    code = main(["compare", *args, "--out", str(run_dir), "--set", "promote.gto_artifact=null"])
    cards = [json.loads(p.read_text())
             for p in run_dir.glob("runs/*/models/*/fold-*/seed-*/model.json")]
    total = time.perf_counter() - T0
    fits = [c["train_seconds"] for c in cards]
    steps = {f"{c['name']}/fold-{c['fold']}/seed-{c['seed']}": c["steps"] for c in cards}
    out.write_text(json.dumps({"code": code, "total": total, "startup": begin - T0 - imported,
                               "import": imported, "spans": SPANS, "fits": fits, "steps": steps,
                               "workers": min(os.cpu_count() or 1, max(1, len(fits)))}))
    # In this harness (not in the CLI) the interpreter's exit then waits about a minute for
    # Prefect's API log queue to drain into the stopped server; nothing is left to measure.
    sys.stdout.flush()
    os._exit(0)


ORDER = ["interpreter start", "import", "validate", "server start", "preprocess", "training",
         "evaluate", "baselines and references", "latency, alone", "promote", "plot tables",
         "report.md", "report.html and plots", "Prefect artifacts", "server shutdown", "publish"]


def table(case: str, r: dict[str, Any]) -> list[str]:
    """One case's phases as Markdown rows: seconds and share of the wall."""
    sums: dict[str, float] = {"interpreter start": r["startup"], "import": r["import"]}
    for phase, seconds in r["spans"]:
        sums[phase] = sums.get(phase, 0.0) + seconds
    parent = {p: par for _, _, p, par in PROBES}
    total, fit = r["total"], sum(r["fits"]) / r["workers"]
    top = sum(s for p, s in sums.items() if parent.get(p) is None)

    def row(name: str, seconds: float, indent: bool = False) -> str:
        pad = "&nbsp;&nbsp;" if indent else ""
        return f"| {case} | {pad}{name} | {seconds:.1f} | {100 * seconds / total:.1f}% |"

    rows = [f"| {case} | **total** | {total:.1f} | 100% |"]
    for phase in [p for p in ORDER if p in sums]:
        rows.append(row(phase, sums[phase], parent.get(phase) is not None))
        if phase == "training":
            steps = sum(r.get("steps", {}).values())
            rows.append(row(f"pure fit (Σ {len(r['fits'])} fits, {steps:,} steps / "
                            f"{r['workers']} workers)", fit, True))
            rows.append(row("worker start, set-up, idle", sums[phase] - fit, True))
    rows.append(row("other (flow and task runs, terminal)", total - top))
    rows.append(f"| {case} | **everything but pure fit** | {total - fit:.1f} | "
                f"**{100 * (total - fit) / total:.1f}%** |")
    return rows


def git(*args: str) -> str:
    """Output of a git command in the repository."""
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def main() -> None:
    """Run each case in a fresh process; write OUT.md and OUT.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="forecast,classify,small,scale")
    parser.add_argument("--out", default="benchmarks/results/overhead")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--spans", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.case:
        return one_case([a.format(tmp=opts.tmp) for a in CASES[opts.case]], opts.spans)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in opts.cases.split(","):
            spans = Path(tmp) / f"{case}.json"
            if SCALE_CSV in CASES[case]:
                scale_data(Path(SCALE_CSV.format(tmp=tmp)))
            subprocess.run([sys.executable, __file__, "--case", case, "--spans", str(spans),
                            "--tmp", tmp], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            results[case] = json.loads(spans.read_text())
    commit = git("rev-parse", "--short", "HEAD")
    head = (f"# Overhead: where a compare's wall time goes\n\nCommit `{commit}`"
            f", {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores. Command: "
            f"`python benchmarks/overhead.py --cases {opts.cases}`.\n\n"
            "| case | phase | seconds | share of wall |\n|---|---|---|---|")
    body = [row for case, r in results.items() for row in table(case, r)]
    Path(f"{opts.out}.md").write_text("\n".join([head, *body]) + "\n", encoding="utf-8")
    Path(f"{opts.out}.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print("\n".join([head, *body]))


if __name__ == "__main__":
    main()
