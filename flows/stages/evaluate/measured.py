""""Your data, measured": the usual comparison table of sequence architectures (parameters,
training speed, memory, sequence capability, performance, convolution and linear maps), its
claims beside the values measured on this run, one column per trained model, and a verdict
on each claim (flows/stages/evaluate/verdicts.py)."""

from __future__ import annotations

import numpy as np
import torch

from flows.evidence.aggregate import Scored
from flows.stages.evaluate.verdicts import tuning_changed, verdicts
from modules.lit import module_for
from schemas.artifacts import DEFAULT_METRIC, LOWER_IS_BETTER, ModelCard, Row
from schemas.prepared import State

CLAIMS = {
    "parameters": "GRU has fewer parameters than LSTM (here: sizes matched; at one width)",
    "training speed (ms/step)": "GRU trains faster than LSTM; RNN fastest",
    "time to best (s)": "GRU converges sooner than LSTM",
    "peak memory (MiB, process RSS)": "GRU lighter than LSTM; Transformer heaviest",
    "latency p50/p95 (ms, batch 1)": "Transformer slowest at batch 1 (PyTorch; ONNX Runtime)",
    "throughput (items/s)": "Transformer parallel, fastest at large batch",
    "sequence capability": "LSTM keeps the longest memory; RNN forgets",
    "performance": "LSTM and GRU similar; Transformer needs more data",
    "recurrence vs convolution": "gated recurrent nets beat a convolution on sequences",
    "deep vs linear": "a deep network beats a linear map of the inputs",
}
UNTUNED = ("tuned vs untuned", "the GRU/LSTM verdict of the defaults (each model as "
           "configured) stands once every model is tuned")


def _untuned_cells(table: dict[str, dict[str, str]], rows: list[Row], untuned: list[Row],
                   metric: str) -> None:
    """Each model's score untuned and tuned, in the tuned-vs-untuned row of `table`."""
    before = {r.model: r for r in untuned if r.trained}
    for r in (r for r in rows if r.trained and r.model in before):
        table[UNTUNED[0]][r.model] = (f"{metric} untuned {before[r.model].score(metric):.4f}, "
                                      f"tuned {r.score(metric):.4f}")


def _capability(row: Row, task: str) -> str:
    """Error at the first and last horizon step, or at the shortest and longest sequences."""
    profile = row.profile
    if not profile:
        return "-"
    if task == "forecast":
        return f"MASE step 1 {profile[0]:.3f}, step {len(profile)} {profile[-1]:.3f}"
    short, long = profile[0], profile[-1]
    return (f"error {short['error_rate']:.0%} at {short['min_length']}-{short['max_length']} "
            f"steps, {long['error_rate']:.0%} at {long['min_length']}-{long['max_length']}")


def _performance(row: Row, metric: str) -> str:
    ci = row.interval.get(metric)
    if ci is None or ci.lo is None:
        return f"{metric} {row.score(metric):.4f}"
    return f"{metric} {row.score(metric):.4f} [{ci.lo:.4f}, {ci.hi:.4f}]"


def _memory(row: Row) -> str:
    """Peak process RSS while training, the rise above its start, and CUDA's peak if any."""
    if row.peak_rss_mib is None:
        return "-"
    text = f"{row.peak_rss_mib:.0f} (+{row.rss_growth_mib or 0:.0f} training)"
    if row.peak_torch_mib is not None:
        text += f"; CUDA {row.peak_torch_mib:.0f}"
    return text


def _latency(row: Row) -> str:
    """p50 / p95 in PyTorch, then in ONNX Runtime when it was measured."""
    text = f"{row.latency_ms or 0:.2f} / {row.latency_p95_ms or 0:.2f}"
    if row.onnx_latency_ms is not None:
        text += f"; ONNX Runtime {row.onnx_latency_ms:.2f} / {row.onnx_latency_p95_ms or 0:.2f}"
    return text


def _cells(row: Row, task: str, metric: str) -> list[str]:
    to_best = (row.best_step or 0) * (row.ms_per_step or 0.0) / 1000
    width = row.params_equal_width
    params = f"{row.params:,}" + (f" ({width:,} at width 64)" if width else "")
    return [params, f"{row.ms_per_step or 0:.2f}", f"{to_best:.1f}",
            _memory(row),
            _latency(row),
            f"{row.throughput_per_s or 0:,.0f}", _capability(row, task),
            _performance(row, metric), *[f"{metric} {row.score(metric):.4f}"] * 2]


def measured_table(rows: list[Row], task: str, runs: list[Scored],
                   errors: dict[str, list[np.ndarray]], level: float,
                   untuned: tuple[list[Row], dict[str, list[np.ndarray]]] | None = None
                   ) -> dict[str, dict[str, str]]:
    """{claim row: {"claim": the folklore, model: value measured here, "verdict": holds, does
    not hold or cannot tell, and why}} for trained models; `runs` and `errors` (per seed,
    paired items) are the evidence, `level` the tests' level; with `untuned` (the rows and
    errors of the same models as configured), a last row on what tuning changed."""
    metric = DEFAULT_METRIC[task]
    table = {name: {"claim": claim} for name, claim in CLAIMS.items()}
    for r in (r for r in rows if r.trained):
        for name, cell in zip(CLAIMS, _cells(r, task, metric), strict=True):
            table[name][r.model] = cell
    lower = LOWER_IS_BETTER[metric]
    for name, verdict in zip(CLAIMS, verdicts(rows, runs, errors, metric, lower, level),
                             strict=True):
        table[name]["verdict"] = verdict
    if untuned is not None:
        table[UNTUNED[0]] = {"claim": UNTUNED[1]}
        _untuned_cells(table, rows, untuned[0], metric)
        table[UNTUNED[0]]["verdict"] = tuning_changed(errors, untuned[1], level)
    return table


EQUAL_WIDTH = 64  # the folklore's "GRU has fewer parameters" is a fact of the cells at one width


def equal_width(card: ModelCard, state: State) -> int | None:
    """Parameters of the card's model with its recurrent width set to EQUAL_WIDTH (None for
    models without one), for this data's inputs and outputs; shapes only, no memory."""
    if not hasattr(card.spec, "hidden"):
        return None
    spec = card.spec.model_copy(update={"hidden": EQUAL_WIDTH})
    with torch.device("meta"):
        module = module_for(spec, state)
    return sum(p.numel() for p in module.parameters())
