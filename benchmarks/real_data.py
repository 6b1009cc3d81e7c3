"""seqarena on real public data shipped inside packages, beside reference models from
maintained libraries scored on exactly the same test split.

    python benchmarks/real_data.py [--sets a,b] [--quick] [--out benchmarks/results/real_data]

For each set: writes seqarena's long CSV, runs `seqarena compare CSV --out DIR` (a
subprocess, with only the options a user would state), reads metrics.json, model.json and
prepared/state.json, and computes the reference (1-NN DTW or AutoETS) with the same split.
Writes OUT.md (the tables) and OUT.json (raw); seqarena's run folders go under OUT.work/.
Needs `pip install -c constraints.txt -r benchmarks/requirements.txt`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]  # this checkout's seqarena, not an editable install's

import real_data_refs as refs  # noqa: E402
import real_data_sets as sets  # noqa: E402
from real_data_report import METRICS, markdown  # noqa: E402
from real_data_tuning import tuning_result  # noqa: E402

BUDGET_KEYS = ("steps", "optimizer_steps", "global_step", "max_steps", "epochs", "best_step",
               "best_epoch")
TAIL_LINES = 25
CNN = ["--set", "models.cnn.channels=54"]  # cnn joins every compare (params.yaml's width)


def git(*args: str) -> str:
    """Output of a git command in the repository, or '?' when git is unavailable."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def environment() -> dict[str, Any]:
    """What the numbers depend on: commit, versions, threads, date."""
    dirty = git("status", "--porcelain", "--", "flows", "schemas", "modules", "params.yaml")
    versions = {}
    for pkg in ("torch", "pytorch-lightning", "numpy", "aeon", "sktime", "statsforecast",
                "statsmodels", "scikit-learn"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                          "NUMBA_NUM_THREADS") if k in os.environ}
    code = ("--", "flows", "schemas", "modules", "params.yaml", "pyproject.toml")
    return {"commit": git("rev-parse", "HEAD"), "subject": git("log", "-1", "--format=%s"),
            "code_commit": git("log", "-1", "--format=%H", *code),
            "seqarena_code_dirty": bool(dirty), "versions": versions,
            "cpu_count": os.cpu_count(), "thread_env": threads or "none set",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "python": sys.version.split()[0], "code_root": str(code_root())}


def code_env() -> dict[str, str]:
    """The compares' environment: this checkout first on PYTHONPATH, so the `seqarena` script
    runs ROOT's code even when its editable install points at another checkout."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), path]))}


def code_root() -> Path:
    """The folder whose `flows` package a compare imports (run like the script: from a
    folder that holds no code)."""
    out = subprocess.run([sys.executable, "-c", "import flows; print(flows.__file__)"],
                         cwd="/", env=code_env(), capture_output=True, text=True, check=True)
    return Path(out.stdout.strip()).resolve().parents[1]


def seqarena_cli() -> list[str]:
    """The `seqarena` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "seqarena"
    return [str(script)] if script.exists() else [sys.executable, "-m", "flows.cli"]


def read(path: Path) -> Any:
    """A JSON file written by seqarena."""
    return json.loads(path.read_text(encoding="utf-8"))


def run_compare(b: sets.Bundle, work: Path, timeout: float, seeds: int,
                extra: list[str]) -> dict[str, Any]:
    """Write the CSV, run `seqarena compare`; the command, exit code, wall time, stderr tail.
    Every compare adds the cnn contestant (not in seqarena's default set) with its
    params.yaml width; `extra` are further --set KEY=VALUE overrides (the attempts), or
    options given whole (--models=A,B)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    csv = work / f"{b.name}.csv"
    b.frame.write_csv(csv)
    cmd = [*seqarena_cli(), "compare", str(csv), "--out", str(work / "out"), *b.options,
           "--seeds", str(seeds), "--set", "promote.gto_artifact=null",  # no tags in this repo
           *CNN, *(a for kv in extra for a in
                   ((kv,) if kv.startswith("--") else ("--set", kv)))]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=code_env(), capture_output=True, text=True,
                              timeout=timeout)
        rc, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:  # its partial stderr may be bytes
        rc, err = f"timeout after {timeout:g} s", exc.stderr or ""
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
    shown = ["seqarena", *(os.path.relpath(a, ROOT) if a.startswith("/") else a
                           for a in cmd[len(seqarena_cli()):])]
    lines = err.strip().splitlines()
    return {"command": " ".join(shown), "rc": rc, "seconds": time.perf_counter() - start,
            "notes": [ln.strip() for ln in lines if ln.lstrip().startswith("!")],
            "stderr_tail": "\n".join(lines[-TAIL_LINES:])}


def budget(out: Path, name: str, row: dict[str, Any]) -> dict[str, Any]:
    """Whatever step/epoch counts model.json records (or the metrics row, if no model.json)."""
    path = out / "models" / name / "model.json"
    meta = read(path) if path.exists() else row
    return {k: meta[k] for k in BUDGET_KEYS if isinstance(meta.get(k), int | float)}


def seqarena_rows(out: Path, task: str) -> list[dict[str, Any]]:
    """One row per model and baseline from metrics.json, in its (leaderboard) order."""
    metrics = read(out / "metrics.json")
    if metrics.get("task") != task:
        raise AssertionError(f"seqarena ran task {metrics.get('task')!r}, expected {task!r}")
    rows = []
    for name, row in metrics["models"].items():
        rows.append({"model": name, "kind": row.get("kind", "?"), "status": row.get("status"),
                     **{m: row.get(m) for m in METRICS[task]},
                     "train_seconds": row.get("train_seconds"), "params": row.get("params"),
                     "budget": budget(out, name, row), "error": row.get("error"),
                     "note": row.get("note"), "coverage": row.get("coverage")})
    return rows


def best_intervals(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The best network's (lowest mean MASE) split-conformal test coverage (issue 26):
    {model, coverage: [{level, covered, runs}]}; None without a calibrated network."""
    nets = [r for r in rows if r["kind"] == "model" and r.get("status") == "ok"
            and r.get("mase") is not None]
    best = min(nets, key=lambda r: r["mase"]) if nets else None
    if best is None or not best.get("coverage"):
        return None
    return {"model": best["model"], "coverage": best["coverage"]}


def split_params(state: dict[str, Any], options: list[str]) -> refs.Split:
    """seqarena's forecasting split from state.json, checked against the options we stated."""
    keys = ("lookback", "horizon", "season", "val_fraction", "test_fraction")
    missing = [k for k in keys if k not in state]
    if missing:
        raise AssertionError(f"prepared/state.json lacks {missing}: cannot reproduce windows")
    sp = refs.Split(**{k: state[k] for k in keys})
    for opt in options:
        key, _, value = opt.partition("=")
        field = key.removeprefix("forecast.")
        if key.startswith("forecast.") and float(getattr(sp, field)) != float(value):
            raise AssertionError(f"seqarena used {key}={getattr(sp, field)}, we stated {value}")
    return sp


def check_scales(ours: dict[str, float], state: dict[str, Any], rtol: float = 1e-9) -> None:
    """Our MASE scale per series equals seqarena's (state.json mase_scale)."""
    theirs = dict(zip(state["series"], state.get("mase_scale", []), strict=False))
    for sid, scale in ours.items():
        if sid not in theirs or abs(scale - theirs[sid]) > rtol * abs(theirs[sid]):
            raise AssertionError(f"MASE scale of series {sid!r}: benchmark {scale!r} vs "
                                 f"seqarena {theirs.get(sid)!r}")


def _fold_states(out: Path) -> list[dict[str, Any]]:
    """prepared/state.json (fold 0, the holdout) and prepared/fold-K/state.json."""
    first = read(out / "prepared" / "state.json")
    return [first, *(read(out / "prepared" / f"fold-{k}" / "state.json")
                     for k in range(1, first.get("folds", 1)))]


def forecast_checks(b: sets.Bundle, out: Path, rows: list[dict],
                    own_ref: bool = True) -> tuple[dict, list[dict]]:
    """The benchmark's own AutoETS (if `own_ref`), and our naive/seasonal-naive and window
    count checked vs seqarena, fold by fold; scores are the mean over folds, as seqarena
    averages its runs."""
    states, per_fold = _fold_states(out), []
    for k, state in enumerate(states):
        ref = refs.forecast_reference(b, split_params(state, b.options), state["series"], k,
                                      ets=own_ref)
        if ref["windows"] != state["counts"]["test"]:
            raise AssertionError(f"fold {k} test windows: benchmark {ref['windows']} vs "
                                 f"seqarena {state['counts']['test']}: seqarena's split changed")
        check_scales(ref["scales"], state)
        per_fold.append(ref)
    scores = {name: {m: float(np.mean([r["scores"][name][m] for r in per_fold]))
                     for m in per_fold[0]["scores"][name] if m != "seconds"}
              | {"seconds": sum(r["scores"][name]["seconds"] for r in per_fold)}
              for name in per_fold[0]["scores"]}
    theirs = {r["model"]: r for r in rows if r["kind"] == "baseline"}
    gaps = refs.check_baselines(scores, theirs)
    extra = []
    for name, sc in scores.items():
        if name == "AutoETS":
            continue
        gap = max(g for key, g in gaps.items() if key.startswith(f"{name}."))
        extra.append({"model": f"{name} (benchmark)", "kind": "check", **sc,
                      "note": f"= seqarena's {name}, relative gap {gap:.0e}"})
    if "AutoETS" in scores:
        ours, theirs_ets = scores["AutoETS"]["mase"], _score(rows, "autoets", "mase")
        same = "" if theirs_ets is None else \
            f"; seqarena's autoets {theirs_ets:.3f} (ratio {ours / theirs_ets:.3f})"
        extra.append({"model": "AutoETS (benchmark)", "kind": "check",
                      **scores["AutoETS"], "note": "refit at each origin of every fold "
                      f"(seqarena's: fit at the first origin, moved forward){same}"})
    windows = sum(r["windows"] for r in per_fold)
    return {"windows": windows, "folds": len(states), "series_kept": len(per_fold[0]["scales"]),
            "gaps": gaps, "counts": states[0]["counts"]}, extra


def _score(rows: list[dict], model: str, metric: str) -> float | None:
    """A metric of one row of seqarena's metrics.json, if it is there and ok."""
    row = next((r for r in rows if r["model"] == model and r.get("status") in (None, "ok")),
               None)
    return None if row is None or row.get(metric) is None else float(row[metric])


def classify_checks(b: sets.Bundle, out: Path, rows: list[dict],
                    own_ref: bool = True) -> tuple[dict, list[dict]]:
    """Checks seqarena used the set's own train/test; the benchmark's own 1-NN DTW (aeon,
    raw values) if `own_ref`, beside seqarena's 1nn_dtw row."""
    state = read(out / "prepared" / "state.json")
    counts = state["counts"]
    assert b.train is not None and b.test is not None
    n_train, n_test = len(b.train[0]), len(b.test[0])
    if counts["train"] + counts["val"] != n_train or counts["test"] != n_test:
        raise AssertionError(f"seqarena's split {counts} is not the set's own "
                             f"(train {n_train}, test {n_test})")
    extra = []
    if own_ref:
        ref = refs.dtw_reference(b)
        theirs = _score(rows, "1nn_dtw", "macro_f1")
        same = "" if theirs is None else f"; seqarena's 1nn_dtw {theirs:.3f}"
        extra.append({"model": "1-NN DTW (benchmark)", "kind": "check",
                      **ref["scores"]["1-NN DTW"], "note": f"raw values, fit on train+val{same}"})
    return {"counts": counts, "val_carved": state.get("val_carved")}, extra


def validation_note(out: Path) -> str:
    """Rows used and quarantined, from validation.json."""
    path = out / "validation.json"
    if not path.exists():
        return ""
    v = read(path)
    return (f"{v.get('rows_used')} of {v.get('rows_in')} rows used, "
            f"{v.get('rows_quarantined')} quarantined")


def run_set(name: str, work: Path, timeout: float, seeds: int, extra: list[str],
            own_ref: bool = True, tag: str = "") -> dict[str, Any]:
    """Load, compare, reference and check one set; failures are recorded, not raised.
    `tag` names an attempt: its folder is NAME-TAG and --update keeps one row per set+tag."""
    result: dict[str, Any] = {"set": name, "status": "ok", "rows": [], "tag": tag,
                              "commit": git("rev-parse", "--short", "HEAD"),
                              "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    folder = f"{name}-{tag}" if tag else name
    try:
        b = sets.load(name)
        result.update(task=b.task, source=b.source, info=b.info, options=b.options,
                      extra=extra, own_ref=own_ref)
        print(f"[{name}] {b.task}, {b.info}: running seqarena compare ...", flush=True)
        result["compare"] = run_compare(b, work / folder, timeout, seeds, extra)
        if result["compare"]["rc"] != 0:
            result["status"] = f"compare failed (exit {result['compare']['rc']})"
            return result
        out = work / folder / "out"
        result["validation"] = validation_note(out)
        result["rows"] = seqarena_rows(out, b.task)
        decision = read(out / "decision.json")
        result["promoted"] = decision.get("winner")
        result["outcome"] = decision.get("outcome")
        result["verdict"] = {k: decision.get(k) for k in (
            "best_model", "rule", "margin", "detectable", "units", "bounds", "metric",
            "beaten_by", "headline")}
        start = time.perf_counter()
        if b.task == "forecast":
            result["intervals"] = best_intervals(result["rows"])
            result["checks"], checks = forecast_checks(b, out, result["rows"], own_ref)
        else:
            result["checks"], checks = classify_checks(b, out, result["rows"], own_ref)
        result["reference_seconds"] = time.perf_counter() - start
        result["tuning"] = tuning_result(out, b.task)
        result["rows"] += checks
    except Exception as exc:  # one set's failure must not stop the others
        result["status"] = f"failed: {type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=4)
    shown = result.get("intervals")
    covered = "; best network {}: {}".format(shown["model"], ", ".join(
        f"{c['level']:.0%} interval covered {c['covered']:.1%}" for c in shown["coverage"])) \
        if shown else ""
    print(f"[{name}] {result['status']}{covered}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sets; write OUT.md and OUT.json; print the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", help=f"comma-separated, from {', '.join(sets.REGISTRY)}")
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(sets.QUICK)}")
    p.add_argument("--out", type=Path, default=HERE / "results" / "real_data")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per compare")
    p.add_argument("--label", default="", help="a note for the report's title")
    p.add_argument("--note", default="", help="a line for the report's header (e.g. how "
                   "loaded the machine was)")
    p.add_argument("--before", type=Path, help="an earlier STEM.json: its verdicts are shown "
                   "beside this run's")
    p.add_argument("--update", type=Path, help="an earlier STEM.json: the sets not run now "
                   "keep their results from it (rerun a few sets of a full run)")
    p.add_argument("--seeds", type=int, default=1, help="train.seeds of each compare "
                   "(default 1: the issue's 'defaults, one seed')")
    p.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to every compare as --set KEY=VALUE (an attempt: e.g. "
                   "train.max_steps=4000, models.cnn.kernels=[9,19,39])")
    p.add_argument("--tune", type=int, default=0, metavar="N", help="every compare tunes "
                   "each model with N trials and also trains it as configured "
                   "(--trials N --compare-untuned): the report's tuned-vs-untuned table")
    p.add_argument("--models", help="passed to every compare as --models A,B (an attempt "
                   "on a few contestants; cnn must be named to stay in)")
    p.add_argument("--tag", default="", help="names an attempt (its own run folder; "
                   "--update replaces only the rows of the same set and tag)")
    p.add_argument("--skip-own-ref", default="", metavar="A,B",
                   help="sets whose benchmark-side AutoETS / 1-NN DTW is not run (the "
                   "split, window and baseline checks still are); seqarena's own references "
                   "are in every run")
    p.add_argument("--render", action="store_true", help="run nothing: rewrite OUT.md from "
                   "OUT.json with this code's report (and --label, --note, --before)")
    p.add_argument("--merge", type=Path, action="append", default=[], metavar="X.json",
                   help="with --render: X's sets replace those of the same set and tag in "
                   "OUT.json, which is rewritten (a set run in another stream)")
    args = p.parse_args(argv)
    if args.render:
        raw = json.loads(args.out.with_suffix(".json").read_text(encoding="utf-8"))
        if args.note:
            raw["environment"]["note"] = args.note
        for path in args.merge:
            new = json.loads(path.read_text(encoding="utf-8"))["results"]
            keys = {(r["set"], r.get("tag", "")) for r in new}
            order = {n: i for i, n in enumerate(sets.REGISTRY)}
            raw["results"] = sorted([r for r in raw["results"]
                                     if (r["set"], r.get("tag", "")) not in keys] + new,
                                    key=lambda r: order.get(r["set"], len(order)))
        if args.merge:
            args.out.with_suffix(".json").write_text(
                json.dumps(raw, indent=1, default=str) + "\n", encoding="utf-8")
        before = json.loads(args.before.read_text())["results"] if args.before else None
        report = markdown(raw["environment"], raw["results"], args.label, before)
        args.out.with_suffix(".md").write_text(report, encoding="utf-8")
        print(report)
        return 0
    names = args.sets.split(",") if args.sets else sets.QUICK if args.quick else sets.DEFAULT
    unknown = [n for n in names if n not in sets.REGISTRY]
    if unknown:
        p.error(f"unknown sets {unknown}; known: {', '.join(sets.REGISTRY)}")
    env = environment() | ({"note": args.note} if args.note else {})
    if Path(env["code_root"]) != ROOT.resolve():
        p.error(f"the compares would run seqarena from {env['code_root']}, not from this "
                f"checkout ({ROOT}): put {ROOT} first on PYTHONPATH")
    work = args.out.with_name(args.out.name + ".work")
    skip = set(filter(None, args.skip_own_ref.split(",")))
    extra = [*args.extra, *([f"--models={args.models}"] if args.models else []),
             *([f"--trials={args.tune}", "--compare-untuned"] if args.tune else [])]
    results = [run_set(n, work, args.timeout, args.seeds, extra, n not in skip, args.tag)
               for n in names]
    if args.update:
        kept = [r for r in json.loads(args.update.read_text())["results"]
                if r["set"] not in names or r.get("tag", "") != args.tag]
        order = {n: i for i, n in enumerate(sets.REGISTRY)}
        results = sorted(kept + results, key=lambda r: order.get(r["set"], len(order)))
    before = json.loads(args.before.read_text())["results"] if args.before else None
    report = markdown(env, results, args.label, before)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(report, encoding="utf-8")
    raw = {"environment": env, "results": results}
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str) + "\n",
                                             encoding="utf-8")
    print(report)
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
