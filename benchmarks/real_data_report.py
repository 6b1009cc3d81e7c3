"""The Markdown report of benchmarks/real_data.py: environment, data sets, one row per
model, baseline, check and reference."""

from __future__ import annotations

from typing import Any

from real_data_coverage import level_of, shown, verdict
from real_data_tuning import tuning_table

METRICS = {"classify": ("macro_f1", "accuracy"), "forecast": ("mase", "smape")}
HEADERS = {"classify": ("macro-F1", "accuracy"), "forecast": ("MASE", "sMAPE %")}
TITLES = {"classify": "Classification: the test split of the set's own train/test",
          "forecast": "Forecasting: seqarena's test windows"}


def fmt(x: Any, digits: int = 3) -> str:
    """A table cell."""
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}f}" if abs(x) < 1e5 else f"{x:.3g}"
    if isinstance(x, dict):
        return ", ".join(f"{k}={v}" for k, v in x.items())
    return str(x).replace("|", "\\|")


def results_table(results: list[dict[str, Any]], task: str) -> list[str]:
    """Markdown rows: one per model, baseline, check and reference, per set."""
    a, b = HEADERS[task]
    lines = [f"| set | model | kind | {a} | {b} | train s | steps/epochs | note |",
             "|---|---|---|---:|---:|---:|---|---|"]
    for r in results:
        if r.get("task") != task:
            continue
        for row in r["rows"]:
            m1, m2 = (row.get(m) for m in METRICS[task])
            secs = row.get("train_seconds", row.get("seconds"))
            note = row.get("note") or (row.get("error") or "") or \
                ("" if row.get("status") in (None, "ok") else row["status"])
            lines.append(f"| {r['set']} | {fmt(row['model'])} | {row['kind']} | {fmt(m1)} | "
                         f"{fmt(m2, 2 if task == 'forecast' else 3)} | {fmt(secs, 1)} | "
                         f"{fmt(row.get('budget'))} | {fmt(note)} |")
    return lines


def summary_table(results: list[dict[str, Any]]) -> list[str]:
    """One row per set: source, sizes, options, timings, status."""
    lines = ["| set | task | bundled file | size | options | validation | seqarena's split "
             "| commit, start | compare s | reference s | status |",
             "|---|---|---|---|---|---|---|---|---:|---:|---|"]
    for r in results:
        opts = " ".join(o for o in r.get("options", []) if o != "--set") or "(none)"
        secs = r.get("compare", {}).get("seconds")
        unit = " windows" if r.get("task") == "forecast" else " sequences"
        checks = r.get("checks", {})
        folds = f" x {checks['folds']} folds" if checks.get("folds", 1) > 1 else ""
        split = fmt(checks.get("counts")) + (unit + folds if "checks" in r else "")
        lines.append(f"| {r['set']} | {r.get('task', '')} | {r.get('source', '')} | "
                     f"{fmt(r.get('info'))} | {opts} | {r.get('validation', '')} | {split} | "
                     f"{r.get('commit', '')} {r.get('started', '')} | {fmt(secs, 0)} | "
                     f"{fmt(r.get('reference_seconds'), 1)} | "
                     f"{fmt(r['status'])} |")
    return lines


def _score(r: dict[str, Any], model: str | None, metric: str) -> float | None:
    row = next((x for x in r["rows"] if x["model"] == model and x.get("status") in (None, "ok")),
               None)
    return row.get(metric) if row else None


def _yes(flag: bool | None) -> str:
    return "" if flag is None else ("yes" if flag else "**no**")


STAT_REFS = ("autoets", "autotheta", "autoarima")
CLASSIFY_REFS = ("minirocket", "1nn_dtw")


def _rows(r: dict[str, Any], kind: str, names: tuple[str, ...] | None = None,
          metric: str = "macro_f1") -> list[dict[str, Any]]:
    """seqarena's ok rows of a kind (and names) that carry the metric."""
    return [x for x in r.get("rows", []) if x.get("kind") == kind
            and x.get("status") in (None, "ok") and x.get(metric) is not None
            and (names is None or x["model"] in names)]


def intervals(results: list[dict[str, Any]]) -> list[str]:
    """Issue 26: every network's 80% and 95% split-conformal test coverage per forecasting
    set (mean over its runs), the best network (lowest MASE) marked, and the goal."""
    lines = ["| set | network | MASE | runs | 80% covered [95% interval over runs] | 95% covered "
             "[interval] | in the goal (75-85%, 90-98%) |", "|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        best = (r.get("intervals") or {}).get("model")
        for x in _rows(r, "model", metric="mase") if r.get("task") == "forecast" else []:
            mark = " (best)" if x["model"] == best else ""
            cov = x.get("coverage")
            runs = (level_of(cov, 0.8) or {}).get("runs", "")
            lines.append(f"| {r['set']} | {x['model']}{mark} | {fmt(x['mase'])} | {runs} | "
                         f"{shown(cov, 0.8)} | {shown(cov, 0.95)} | {verdict(cov)} |")
    if any(c.get("pooled") for r in results for x in r.get("rows", [])
           for c in x.get("coverage") or []):
        lines += ["", "(pooled): too few validation windows per step, so the horizon steps "
                  "were pooled, each scaled by its mean error (`modules/conformal.py`)."]
    lines += ["", "The interval is the mean share's 95% t-interval over the runs (folds x "
              "seeds): one fold's short test split swings its share. \"within noise\": a "
              "mean outside the goal whose interval reaches it."]
    return lines


def _best_covered(r: dict[str, Any]) -> str:
    """The summary's cell: the best network's 80% / 95% coverage (forecasting sets)."""
    cov = (r.get("intervals") or {}).get("coverage")
    if r.get("task") != "forecast" or not cov:
        return ""
    return f"{shown(cov, 0.8, False)} / {shown(cov, 0.95, False)} ({verdict(cov) or '?'})"


def issue23(results: list[dict[str, Any]]) -> list[str]:
    """One line per set: the best network, the promoted one, the best reference, the gap,
    and whether issue 23's criterion holds (macro-F1 within 5 points of MiniRocket; the
    promoted network's MASE at most 1.1 x the best of AutoETS, AutoTheta, AutoARIMA)."""
    lines = ["| set | task | best network (mean) | promoted (its score) | best reference "
             "| criterion reference | gap: points behind MiniRocket, or promoted / best MASE "
             "| holds | best network's 80% / 95% covered | overrides |",
             "|---|---|---|---|---|---|---:|---|---:|---|"]
    for r in results:
        extra = " ".join(r.get("extra") or []) or "none"
        extra = f"{r['tag']}: {extra}" if r.get("tag") else extra
        if r["status"] != "ok":
            lines.append(f"| {r['set']} | {r.get('task', '')} | | | | | | {fmt(r['status'])} "
                         f"| | {extra} |")
            continue
        won = r.get("promoted")
        if r["task"] == "classify":
            nets = _rows(r, "model")
            best = max(nets, key=lambda x: x["macro_f1"]) if nets else None
            refs = _rows(r, "reference", CLASSIFY_REFS)
            bref = max(refs, key=lambda x: x["macro_f1"]) if refs else None
            mr = _score(r, "minirocket", "macro_f1")
            gap = None if best is None or mr is None else 100 * (mr - best["macro_f1"])
            holds = None if gap is None else gap <= 5
            gap_s = "" if gap is None else f"{gap:+.1f} pts"
            crit = f"minirocket {fmt(mr)}" if mr is not None else "minirocket missing"
        else:
            nets = _rows(r, "model", metric="mase")
            best = min(nets, key=lambda x: x["mase"]) if nets else None
            refs = _rows(r, "reference", STAT_REFS, "mase")
            bref = min(refs, key=lambda x: x["mase"]) if refs else None
            wm = _score(r, won, "mase") if won else None
            ratio = None if wm is None or bref is None else wm / bref["mase"]
            holds = None if bref is None else (ratio is not None and ratio <= 1.1)
            gap_s = f"{ratio:.2f}x" if ratio is not None else (
                f"nothing promoted (best network {best['mase'] / bref['mase']:.2f}x)"
                if best and bref and not won else "")
            crit = f"{bref['model']} {fmt(bref['mase'])}" if bref else "no stat reference"
        metric = "macro_f1" if r["task"] == "classify" else "mase"
        bnet = f"{best['model']} {fmt(best[metric])}" if best else ""
        prom = f"{won} {fmt(_score(r, won, metric))}" if won else "none"
        bref_s = f"{bref['model']} {fmt(bref[metric])}" if bref else ""
        lines.append(f"| {r['set']} | {r['task']} | {bnet} | {prom} | {bref_s} | {crit} | "
                     f"{gap_s} | {_yes(holds)} | {_best_covered(r)} | {extra} |")
    return lines


def criteria(results: list[dict[str, Any]]) -> list[str]:
    """The issue's done-when checks per set, from the rows above."""
    lines = ["| set | promoted | its score | LSTM - majority | GRU - majority | reference | "
             "beats it | naive / seasonal naive | beats both | ratio to AutoETS | within 1.5x |",
             "|---|---|---:|---:|---:|---:|---|---|---|---:|---|"]
    for r in results:
        if r["status"] != "ok":
            continue
        won = r.get("promoted")
        if r["task"] == "classify":
            f1 = _score(r, won, "macro_f1")
            base = _score(r, "majority", "macro_f1") or 0.0
            ref = _score(r, "1nn_dtw", "macro_f1")
            gaps = [(_score(r, m, "macro_f1") or 0.0) - base for m in ("lstm", "gru")]
            lines.append(f"| {r['set']} | {won or r.get('outcome')} | {fmt(f1)} | "
                         f"{fmt(gaps[0])} {_yes(gaps[0] >= 0.2)} | {fmt(gaps[1])} "
                         f"{_yes(gaps[1] >= 0.2)} | 1nn_dtw {fmt(ref)} | "
                         f"{_yes(None if f1 is None or ref is None else f1 > ref)} | | | | |")
            continue
        mase = _score(r, won, "mase")
        naive = [_score(r, n, "mase") for n in ("naive", "seasonal_naive")]
        ets = _score(r, "autoets", "mase")
        ratio = None if mase is None or not ets else mase / ets
        beats = None if mase is None else all(n is None or mase < n for n in naive)
        lines.append(f"| {r['set']} | {won or r.get('outcome')} | {fmt(mase)} | | | "
                     f"autoets {fmt(ets)} | | {' / '.join(fmt(n) for n in naive)} | "
                     f"{_yes(beats)} | {fmt(ratio, 2)} | "
                     f"{_yes(None if ratio is None else ratio <= 1.5)} |")
    return lines


def header(env: dict[str, Any], label: str) -> list[str]:
    """Title, commit, versions, threads, date."""
    v = env["versions"]
    dirty = " (with uncommitted changes in flows/schemas/modules)" \
        if env["seqarena_code_dirty"] else ""
    libs = ", ".join(f"{k} {v[k]}" for k in v)
    return [f"# seqarena on real bundled data{f': {label}' if label else ''}", "",
            f"- seqarena commit `{env['commit']}`{dirty}: {env['subject']}",
            f"- last commit changing seqarena's code (flows, schemas, modules, params.yaml, "
            f"pyproject.toml): `{env.get('code_commit', '?')}`",
            f"- date {env['date']}; Python {env['python']}; {libs}",
            f"- threads: {env['cpu_count']} CPU cores; seqarena's defaults (train.workers=0: "
            "one training process per core; train.threads=1 torch thread each); thread "
            f"variables: {fmt(env['thread_env'])}; references run in this one process "
            "(aeon n_jobs=1)",
            "- train s: seqarena's `train_seconds` for models; for references and checks, "
            "the seconds to fit and predict the whole test split (seqarena's reference rows: "
            "their fit+predict seconds)",
            *([f"- {env['note']}"] if env.get("note") else []), ""]


def details(results: list[dict[str, Any]]) -> list[str]:
    """Failures with their stderr tail, seqarena's '!' notes, and the exact commands."""
    body = []
    for r in results:
        if r["status"] != "ok":
            tail = r.get("compare", {}).get("stderr_tail") or r.get("traceback", "")
            body += [f"### {r['set']}: {r['status']}", "", "```", tail, "```", ""]
    notes = [f"- `{r['set']}`: {n}" for r in results for n in r.get("compare", {}).get("notes", [])]
    if notes:
        body += ["## seqarena's notes", "", *notes, ""]
    body += ["## Commands", ""]
    body += [f"- `{r['compare']['command']}`" for r in results if "compare" in r]
    return body


def _reason_class(r: dict[str, Any]) -> str:
    v = r.get("verdict") or {}
    if r.get("promoted") is None:
        return "nothing promoted"
    if "rule" not in v:  # a run before the non-inferiority rule: the cheapest 'tied' model
        return ("best mean" if _best_mean(r) == r["promoted"]
                else "not shown worse, cheaper (old rule)")
    return {"better": "better", "non_inferior": "non-inferior and cheaper",
            "cannot_tell": "cannot tell apart (best mean)"}[v["rule"]]


def _best_mean(r: dict[str, Any]) -> str | None:
    """The model with the best mean of the deciding metric among the trained rows."""
    if (r.get("verdict") or {}).get("best_model"):
        return r["verdict"]["best_model"]
    metric = "macro_f1" if r.get("task") == "classify" else "mase"
    sign = -1 if metric == "macro_f1" else 1
    models = [x for x in r.get("rows", []) if x.get("kind") == "model" and x.get(metric)]
    return min(models, key=lambda x: sign * x[metric])["model"] if models else None


def verdicts(results: list[dict[str, Any]], label: str) -> list[str]:
    """Per set: best mean, promoted, the decision's reason class; then wins per family."""
    lines = [f"| set | best mean ({label}) | promoted | reason | bound of the promoted "
             "(upper / margin) | detectable | units |", "|---|---|---|---|---|---:|---:|"]
    wins: dict[str, int] = {}
    for r in results:
        v, won = r.get("verdict") or {}, r.get("promoted")
        wins[won or "none"] = wins.get(won or "none", 0) + 1
        b = (v.get("bounds") or {}).get(won) if won else None
        bound = f"{b['upper']:.3g} / {b['margin']:.3g}" if b else ""
        lines.append(f"| {r['set']} | {_best_mean(r) or ''} | {won or 'none'} | "
                     f"{_reason_class(r)} | {bound} | {fmt(v.get('detectable'))} | "
                     f"{fmt(v.get('units'), 0)} |")
    counts = ", ".join(f"{k} {n}" for k, n in sorted(wins.items(), key=lambda kv: -kv[1]))
    return [*lines, "", f"Sets each family is promoted on ({label}): {counts}."]


def markdown(env: dict[str, Any], results: list[dict[str, Any]], label: str,
             before: list[dict[str, Any]] | None = None) -> str:
    """The whole report; `before`: an earlier run's results, whose verdicts come first."""
    body = ["## Summary (issue 23)", "", *issue23(results), "",
            "## Verdicts", "", *([*verdicts(before, "before"), ""] if before else []),
            *verdicts(results, "this run"), "",
            "## Data sets", "", *summary_table(results), "",
            "## The earlier checks (issue 8): networks against majority, 1nn_dtw, naive and "
            "autoets", "",
            *criteria(results), ""]
    if any(r.get("task") == "forecast" for r in results):
        body += ["## Forecast intervals (issue 26): split-conformal on validation, covered on "
                 "test", "", *intervals(results), ""]
    if tuned := tuning_table(results):
        body += ["## Tuned vs untuned (issue 27): the same compare, N trials per model", "",
                 *tuned, ""]
    for task, title in TITLES.items():
        if any(r.get("task") == task for r in results):
            body += [f"## {title}", "", *results_table(results, task), ""]
    return "\n".join(header(env, label) + body + details(results)) + "\n"
