"""The view of a run, built once as plain-text cells (leaderboard, measured table, history,
verdict) and rendered by flows.report.markdown, .html and .terminal: each escapes the user's
values its own way, none formats a number."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modules.conformal import level_name
from schemas.artifacts import METRICS, Decision, Row
from schemas.history import who
from schemas.tuning import ArmTuning, Tuning

COST = (("params", "params", "{:,}"), ("train_seconds", "train s", "{:.1f}"),
        ("ms_per_step", "ms/step", "{:.1f}"), ("steps", "steps", "{:,}"),
        ("peak_rss_mib", "peak MiB", "{:.0f}"), ("latency_ms", "p50 ms", "{:.3f}"),
        ("latency_p95_ms", "p95 ms", "{:.3f}"), ("throughput_per_s", "items/s", "{:,.0f}"),
        ("onnx_latency_ms", "ORT p50 ms", "{:.3f}"), ("onnx_latency_p95_ms", "ORT p95 ms",
                                                      "{:.3f}"),
        ("onnx_throughput_per_s", "ORT items/s", "{:,.0f}"), ("size_bytes", "size KiB", "{:.0f}"))
TERMINAL_COST = ("params", "train_seconds", "ms_per_step", "latency_ms")
HISTORY_SHOWN = 10


def onnx_note(rows: list[Row]) -> str:
    """How the ONNX Runtime (ORT) columns were measured, when they were."""
    if not any(r.onnx_latency_ms is not None for r in rows):
        return ""
    return ("ORT: the same latency and throughput in ONNX Runtime, of each model exported to "
            "ONNX and checked against PyTorch on the test split (max |difference| <= 1e-4), "
            "on the same batches and threads.")


def cell(value: Any, fmt: str, scale: float = 1.0) -> str:
    """A number as the tables print it; '-' when unknown."""
    if value is None or value != value:
        return "-"
    return fmt.format(value / scale if scale != 1.0 else value)


def score(row: Row, metric: str) -> str:
    """The mean, its 95% bootstrap interval and the seed spread (sd over runs), when known."""
    value = getattr(row, metric)
    if value is None:
        return "-"
    ci = row.interval.get(metric)
    if ci is None or ci.lo is None:
        return f"{value:.4f}"
    spread = f" sd {ci.sd:.2g}" if ci.sd is not None else ""
    return f"{value:.4f} [{ci.lo:.4f}, {ci.hi:.4f}]{spread}"


def ranked(rows: list[Row], metric: str, lower: bool) -> list[Row]:
    """Successful rows best first, failed ones last."""
    ok = sorted((r for r in rows if r.ok),
                key=lambda r: r.score(metric) if lower else -r.score(metric))
    return ok + [r for r in rows if not r.ok]


@dataclass
class Line:
    """One leaderboard row as text: its rank, name, kind, marks and cells."""

    rank: str
    model: str
    kind: str
    flags: list[str]  # the decision's warning and the diagnosis, when any
    marks: str  # " ⚠" (a warning), " ✗" (did not learn)
    cells: list[str]  # metrics, then costs
    won: bool


@dataclass
class Board:
    """The leaderboard, once, for every rendering."""

    head: list[str]
    lines: list[Line]
    notes: list[tuple[str, str, str]]  # (mark, model, text): warnings, diagnoses, notes


def _cells(r: Row, metrics: tuple[str, ...], cost: list[tuple[str, str, str]], deciding: str,
           compact: bool) -> list[str]:
    if not r.ok:
        return [r.status] * len(metrics) + ["-"] * len(cost)
    return [score(r, m) if m == deciding or not compact else cell(getattr(r, m), "{:.4f}")
            for m in metrics] + [cell(getattr(r, k), f, 1024.0 if k == "size_bytes" else 1.0)
                                 for k, _, f in cost]


def board(rows: list[Row], task: str, decision: Decision, compact: bool = False) -> Board:
    """Rank, model, kind, accuracy metrics with intervals, then costs; and the footnotes.
    `compact` (a terminal): the interval of the deciding metric only, four costs."""
    metrics = METRICS[task]
    cost = [c for c in COST if not compact or c[0] in TERMINAL_COST]
    lines = []
    for i, r in enumerate(ranked(rows, decision.metric, decision.lower_is_better), 1):
        warned = r.model in decision.notes
        flags = [decision.notes[r.model]] if warned else []
        marks = (" ⚠" if warned else "") + (" ✗" if r.learned is False else "")
        lines.append(Line(str(i), r.model, r.kind, flags + ([r.diagnosis] if r.diagnosis else []),
                          marks, _cells(r, metrics, cost, decision.metric, compact),
                          r.model == decision.winner))
    notes = [("⚠", m, n) for m, n in decision.notes.items()]
    notes += [("✗", r.model, r.diagnosis) for r in rows if r.diagnosis]
    notes += [("*", r.model, r.note) for r in rows if r.note]
    return Board(["#", "model", "kind", *metrics, *(c[1] for c in cost)], lines, notes)


def measured_view(table: dict[str, dict[str, str]]) -> tuple[list[str], list[list[str]]]:
    """The "your data, measured" table: its head and rows (claim, folklore, a cell per model,
    the verdict on the claim)."""
    if not table:
        return [], []
    models = [k for k in next(iter(table.values())) if k not in ("claim", "verdict")]
    return (["", "the usual claim", *models, "verdict here"],
            [[name, cells["claim"], *(cells.get(m, "-") for m in models),
              cells.get("verdict", "-")] for name, cells in table.items()])


INTERVALS_TITLE = "Forecast intervals (split-conformal on validation)"


@dataclass
class Intervals:
    """The forecasters' interval coverage, once, for every rendering: a row per model."""

    head: list[str]  # model, then "80% covered" per level
    rows: list[list[str]]
    note: str  # what the numbers should be near, and how they were made
    pooled: list[tuple[str, str]] = field(default_factory=list)  # (model, "95%"): pooled levels


def intervals_view(rows: list[Row]) -> Intervals | None:
    """The share of test values each level's interval covered, per forecaster with a
    calibration (mean over runs); None when no row has one."""
    shown = [r for r in rows if r.ok and r.coverage]
    if not shown:
        return None
    levels = sorted({c.level for r in shown for c in r.coverage or []})
    body = [[r.model, *(cell({c.level: c.covered for c in r.coverage or []}.get(a), "{:.1%}")
                        for a in levels)] for r in shown]
    said = " and ".join(f"{level_name(a)}%" for a in levels)
    runs = max(c.runs for r in shown for c in r.coverage or [])
    note = ("Each interval is the forecast ± a half-width per horizon step: the "
            "ceil((n+1)·level)-th smallest absolute error of the kept weights on their n "
            "validation windows, with those of the earlier origins' runs when there are folds "
            "(per series scale). The share of test values covered should be near "
            f"{said} (mean over up to {runs} runs); well below means larger errors on test "
            "than on validation, and with few folds one test stretch can move it far.")
    pooled = [(r.model, f"{level_name(c.level)}%"
               + (f" (in {c.pooled} of {c.runs} runs)" if c.pooled < c.runs else ""))
              for r in shown for c in r.coverage or [] if c.pooled]
    return Intervals(["model", *(f"{level_name(a)}% covered" for a in levels)], body, note,
                     pooled)


def pooled_note(view: Intervals, esc: Callable[..., str] = str) -> str:
    """The levels pooled across horizon steps, names through `esc`; '' when none was."""
    if not view.pooled:
        return ""
    return ("Pooled across horizon steps, each scaled by its mean error (too few validation "
            "windows for one step alone; a weaker guarantee): "
            + ", ".join(f"{esc(model)} {level}" for model, level in view.pooled) + ".")


HISTORY_HEAD = ["time", "event", "outcome", "champion", "was", "winner (challenger)"]


def history_view(past: list[dict[str, Any]], shown: int = HISTORY_SHOWN) -> list[list[str]]:
    """The last decisions of the output folder, newest first: one row of HISTORY_HEAD each."""
    return [[str(e.get("time", "")), str(e.get("event", "")), str(e.get("outcome", "")),
             str(e.get("champion") or "-"), str(e.get("previous") or "-"), who(e)]
            for e in reversed(past[-shown:])]


def verdict(decision: Decision, esc: Callable[..., str] = str) -> str:
    """The outcome in a few words: promoted X, champion kept, or none; names through `esc`."""
    return {"promoted": f"Promoted: {esc(decision.winner)}",
            "kept": f"Champion kept: {esc(decision.champion)}",
            "none": "Promoted: none"}[decision.outcome]


TUNING_HEAD = ["model", "trials", "complete", "pruned", "skipped", "failed", "steps",
               "trial s", "chosen's val loss", "more runs", "chosen", "searched"]


def _setting(value: Any) -> str:
    """A chosen hyper-parameter as the tuning table prints it."""
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _runs(arm: ArmTuning) -> str:
    """How the confirmation runs judged the search's pick against trial 0."""
    if arm.pick is None or arm.pick == 0:
        return "-" if arm.pick is None else "not needed: trial 0 was best"
    if not arm.confirm:
        return "none: one run decided"
    kept = f"#{arm.pick} kept" if arm.best == arm.pick else "trial 0 kept"
    runs = len(arm.fresh(0))
    if arm.lost():
        return f"{kept}: a run of #{arm.pick} failed"
    pairs, ratio = len(arm.pairs()), arm.ratio()
    failed = runs - pairs
    if not pairs:
        return f"{kept}: trial 0 failed its {count(runs, 'more run')}"
    said = "-" if ratio is None else f"{ratio:.3g}x"
    return (f"{kept}: #{arm.pick}'s val loss {said} trial 0's over {count(pairs, 'more run')}"
            + (f" ({count(failed, 'failed run')} of trial 0 left out)" if failed else ""))


def count(n: int, noun: str) -> str:
    """`n` and its noun, plural unless one: `2 more runs`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fold(fold: int) -> str:
    """The tuning fold, in words."""
    return ("fold 0" if fold == 0 else f"fold {fold}, the earliest origin, whose validation "
            "rows come before every fold's test rows")


def tuning_view(tuning: Tuning) -> tuple[list[list[str]], str]:
    """train.tune's table (a row of TUNING_HEAD per model) and the note under it."""
    rows = []
    for arm in tuning.arms:
        best = arm.chosen
        chosen = ("none completed: trained as configured" if best is None else ", ".join(
            f"{d.name} {_setting(getattr(best.spec, d.name))}" for d in type(best.spec).SPACE))
        rows.append([arm.model, str(len(arm.trials)),
                     *(str(arm.count(s)) for s in ("complete", "pruned", "skipped", "failed")),
                     f"{arm.steps:,}", f"{arm.seconds:.1f}",
                     cell(best.val_loss if best else None, "{:.4g}"), _runs(arm), chosen,
                     "; ".join(arm.space)])
    note = (f"Each model had {tuning.trials} trials of Optuna's {tuning.sampler} over "
            f"its own search space (searched), stopped early by the {tuning.pruner} pruner "
            "when its validation loss trailed (pruned). Trial 0 is the model's configured "
            "settings, kept unless another trial beat them on validation"
            + (f", and then only if it stayed better over {tuning.confirm_runs} more "
               f"run{'s' if tuning.confirm_runs > 1 else ''} of both (more runs: run k with "
               "seed train.seed + k; judged by the geometric mean of the pick's validation "
               "loss over trial 0's on those runs, not on the search's run that chose it; a "
               "failed run of the pick keeps trial 0, pairs where trial 0 failed are left "
               "out; their steps and seconds are counted)" if tuning.confirm_runs else "")
            + ". Every trial and run trained under the budget above, on the training split "
            f"of {_fold(tuning.fold)}, and was judged on its validation split; "
            f"the test split was never read. A sampled model with more than "
            f"{tuning.max_params:,} parameters on this data was skipped, not trained. Each "
            "model's chosen settings were then trained with every seed and fold, "
            "and those are the scores above.")
    return rows, note
