"""The end of `seqarena compare` in the terminal: the leaderboard and the "your data, measured"
table drawn by rich from the report's own view (flows.report.view), then the decision.

Every user value goes in as rich `Text` (never markup), one line, control characters dropped.
"""

from __future__ import annotations

import re
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from flows.report.text import LIMIT, LONG, one_line
from flows.report.view import (
    INTERVALS_TITLE,
    board,
    intervals_view,
    measured_view,
    pooled_note,
    verdict,
)
from schemas.artifacts import Decision, Metrics

MIN_WIDTH = 160  # a log or a pipe gets a table wide enough to read, not 80 columns


def _text(value: object, limit: int = LIMIT) -> Text:
    """A cell as plain text: "[0.5, 0.7]" is an interval, not rich markup."""
    return Text(one_line(value, limit))


def leaderboard(metrics: Metrics, decision: Decision) -> tuple[Table, list[Text]]:
    """The ranked table (the promoted row bold, marked ✓) and its footnotes."""
    view = board(metrics.rows(), metrics.task, decision, compact=True)
    table = Table(title=f"Leaderboard (test split; {decision.metric} with its 95% interval; "
                        "every metric's interval and cost in the report)", title_justify="left")
    for i, name in enumerate(view.head):
        table.add_column(name, justify="left" if i in (1, 2) else "right")
    for ln in view.lines:
        table.add_row(_text(ln.rank), _text(f"{ln.model} ✓" if ln.won else ln.model),
                      _text(ln.kind + ln.marks), *(_text(c) for c in ln.cells),
                      style="bold" if ln.won else None)
    notes = [Text(f"{mark} ") + _text(model) + Text(": ") + _text(note, LONG)
             for mark, model, note in view.notes]
    return table, notes


def short_verdict(text: str) -> str:
    """A verdict's first words (holds, does not hold, cannot tell ...): the table's cell; its
    figures and tests go below the table."""
    return re.split(r" \(|: ", text, maxsplit=1)[0]


def measured(table: dict[str, dict[str, str]]) -> tuple[Table, list[Text]] | None:
    """The folklore claims, a row each, against what this run measured per model, ending in
    the verdict's words; the verdicts in full below it."""
    head, rows = measured_view(table)
    if not head:
        return None
    out = Table(title="Your data, measured", title_justify="left")
    for name in head:
        out.add_column(_text(name))
    for name, *cells, said in rows:
        out.add_row(_text(name), *(_text(c, LONG) for c in cells), _text(short_verdict(said)))
    reasons = [_text(name) + Text(": ") + _text(said, LONG) for name, *_, said in rows]
    return out, reasons


def intervals(metrics: Metrics) -> tuple[Table, Text] | None:
    """The forecasters' interval coverage on the test split, and what it should be near."""
    view = intervals_view(metrics.rows())
    if view is None:
        return None
    out = Table(title=INTERVALS_TITLE, title_justify="left", min_width=len(INTERVALS_TITLE))
    for i, name in enumerate(view.head):
        out.add_column(name, justify="left" if i == 0 else "right")
    for row in view.rows:
        out.add_row(*(_text(c) for c in row))
    note = _text(view.note, LONG)
    if view.pooled:
        note.append("\n" + pooled_note(view, one_line))
    return out, note


def print_summary(metrics: Metrics, decision: Decision, file: IO[str] | None = None) -> None:
    """A reference that beats the winner (first, when one does), leaderboard, footnotes,
    measured table and the decision's reason."""
    console = Console(file=file, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = max(console.width, MIN_WIDTH)
    table, notes = leaderboard(metrics, decision)
    if decision.headline:
        console.print()
        console.print(Text(decision.headline, style="bold yellow"))
    console.print()
    console.print(table)
    for note in notes:
        console.print(note)
    bands = intervals(metrics)
    if bands is not None:
        console.print()
        console.print(bands[0])
        console.print(bands[1])
    found = measured(metrics.measured)
    if found is not None:
        console.print()
        console.print(found[0])
        for line in found[1]:
            console.print(line)
    console.print()
    console.print(Text(f"{verdict(decision)}. {decision.reason}"))
