"""The decision's reason in words: first what the test size allows, then why the winner won,
then the baselines it was shown better than; each sentence states the test behind it."""

from __future__ import annotations

from typing import Any

from schemas.artifacts import Row

COST = {"latency": ("latency_ms", "p50 latency", " ms"), "parameters": ("params", "parameters", ""),
        "train_seconds": ("train_seconds", "training time", " s")}


def p_text(p: float) -> str:
    """A p-value as printed: its floor is 1/(resamples+1) unless the test was exact."""
    return f"p = {p:.2g}" if p > 1e-4 else "p <= 0.0001"


def test_words(t: dict[str, Any]) -> str:
    """The paired test in words: its items and p-value."""
    return (f"paired permutation test on {t['n']} test items (errors averaged over seeds), "
            f"{p_text(t['p_value'])}")


def with_interval(row: Row, metric: str) -> str:
    """The mean and its 95% interval, as the reason prints them."""
    ci = row.interval.get(metric)
    if ci is None or ci.lo is None:
        return f"{row.score(metric):.4g}"
    return f"{row.score(metric):.4g}, 95% interval {ci.lo:.4g} to {ci.hi:.4g}"


def power_line(d: dict[str, Any], units: int, least: int) -> str:
    """The first sentence when the test split is too small to detect the margin (not said when
    the best mean was shown better than every other model: that test had the power it needed)."""
    if d["rule"] == "better":
        return ""
    if units < least:
        return (f"Too few independent test units to tell the models apart ({units}; a "
                f"non-inferiority bound needs at least {least}; more test data, or "
                "forecast.folds: auto for more rolling origins, would help). ")
    if d["detectable"] is not None and d["detectable"] > d["margin"]:
        return (f"Cannot tell apart at this test size: a difference in {d['metric']} smaller "
                f"than {d['detectable']:.3g} goes undetected (80% power, {units} independent "
                f"test units), more than the margin {d['margin']:.3g}; more test data (or "
                "forecast.folds: auto) would help. ")
    return ""


def _holm(tests: dict, names: list[str]) -> str:
    return ", ".join(f"{n} {p_text(tests[n]['p_holm'])}" for n in names)


def _cost_words(d: dict[str, Any], winner: Row, top: Row) -> str:
    field, noun, unit = COST[d["prefer"]]
    return f"a lower {noun} ({winner.score(field):,.4g}{unit} vs {top.score(field):,.4g}{unit})"


def _main(d: dict[str, Any], top: Row, winner: Row, rivals: list[Row], tests: dict) -> str:
    metric, level = d["metric"], d["level"]
    head = f"{top.model} has the best mean {metric} ({with_interval(top, metric)})"
    if d["rule"] == "non_inferior":
        b = d["bounds"][winner.model]
        return (f"{head}; {winner.model} ({with_interval(winner, metric)}) is shown "
                f"non-inferior within the margin {b['margin']:.3g}: its excess {metric} is at "
                f"most {b['upper']:.3g} (one-sided {1 - level:.0%} bootstrap bound, Holm "
                f"{p_text(b['p_holm'])}) and it has {_cost_words(d, winner, top)}, so "
                f"{winner.model} is promoted")
    worse = [r.model for r in rivals if r.model not in d["tied"]]
    if not rivals:
        return f"{head}; no other model passes the gate, so it is promoted"
    if d["rule"] == "better":
        return (f"{head} and is significantly better than every other model ({_holm(tests, worse)}"
                f"; paired permutation tests, Holm-adjusted), so it is promoted")
    close = d["tied"][1:]
    not_shown = [f"{n}: excess at most {b['upper']:.3g}" for n, b in d["bounds"].items()]
    text = (f"{head}; it cannot be told apart from {_holm(tests, close)} (paired permutation "
            f"tests, Holm-adjusted, level {level})")
    if worse:
        text += f" and is significantly better than {_holm(tests, worse)}"
    if not_shown:
        text += (f"; no cheaper model is shown within the margin {d['margin']:.3g} "
                 f"({'; '.join(not_shown)})")
    return text + f", so the best mean, {top.model}, is promoted"


def _gated(d: dict[str, Any], winner: Row, gates: list[Row], gate_tests: dict) -> str:
    if not gates:
        return ". promote.must_beat is empty, so no baseline gates it."
    mine = gate_tests[winner.model]
    return (". It is shown better than " + ", ".join(
        f"{g.model} ({d['metric']} {g.score(d['metric']):.4g}, {p_text(mine[g.model]['p_value'])})"
        for g in gates) + ".")


def reason(d: dict[str, Any], top: Row, winner: Row, rivals: list[Row], tests: dict,
           gates: list[Row], gate_tests: dict, units: int, least: int, items: str) -> str:
    """The whole reason of a decision with a winner."""
    return (power_line(d, units, least) + _main(d, top, winner, rivals, tests)
            + _gated(d, winner, gates, gate_tests)
            + f" The tests compare {items}, each model's averaged over its seeds; intervals "
              "and bounds resample test items (blocks within classes or series) and seeds.")
