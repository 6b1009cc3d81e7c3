"""Issue 26's check of forecast-interval coverage in the real-data benchmark: each level's
covered share (mean over runs), its 95% interval over runs, and the goal's verdict."""

from __future__ import annotations

import math
from typing import Any

from scipy import stats

GOALS = {0.8: (0.75, 0.85), 0.95: (0.90, 0.98)}  # issue 26: covered share per level


def level_of(coverage: list[dict[str, Any]] | None, level: float) -> dict[str, Any] | None:
    """A metrics.json row's coverage entry for `level`."""
    return next((c for c in coverage or [] if abs(c["level"] - level) < 1e-9), None)


def covered(coverage: list[dict[str, Any]] | None, level: float) -> float | None:
    """The share a level's interval covered, from a metrics.json row's coverage."""
    c = level_of(coverage, level)
    return None if c is None else c["covered"]


def spread(c: dict[str, Any]) -> tuple[float, float] | None:
    """The 95% t-interval of the mean share over the runs (their sd; None for one run or no
    sd), clipped to [0, 1]: how far one short test split lets the share be read."""
    n, sd = c.get("runs", 1), c.get("sd")
    if sd is None or n < 2:
        return None
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return max(0.0, c["covered"] - half), min(1.0, c["covered"] + half)


def verdict(coverage: list[dict[str, Any]] | None) -> str:
    """"yes" when every level's mean share is in its goal; "within noise" when a miss's 95%
    interval over runs reaches the goal; "**no**" otherwise; "" without coverage."""
    found = {a: level_of(coverage, a) for a in GOALS}
    if any(c is None for c in found.values()):
        return ""
    out = []
    for a, (lo, hi) in GOALS.items():
        c = found[a]
        span = spread(c)  # type: ignore[arg-type]
        if lo <= c["covered"] <= hi:  # type: ignore[index]
            out.append("yes")
        elif span and span[0] <= hi and span[1] >= lo:
            out.append("within noise")
        else:
            out.append("**no**")
    return "**no**" if "**no**" in out else ("within noise" if "within noise" in out else "yes")


def shown(coverage: list[dict[str, Any]] | None, level: float, wide: bool = True) -> str:
    """A level's covered share, its interval over runs (`wide`), and "(pooled)" if its runs
    pooled the steps ("k/n": some did)."""
    c = level_of(coverage, level)
    if c is None:
        return ""
    text = f"{c['covered']:.1%}"
    span = spread(c) if wide else None
    if span:
        text += f" [{span[0]:.0%}, {span[1]:.0%}]"
    if c.get("pooled"):
        some = f" {c['pooled']}/{c['runs']}" if c["pooled"] < c.get("runs", 1) else ""
        text += f" (pooled{some})"
    return text
