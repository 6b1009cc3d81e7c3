"""`seqarena promote --rollback [VERSION]` and `seqarena history`: restore an earlier champion
(a published run of its own, so the switch is the same single atomic step as a compare's) and
print the promotion history."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from flows.report.html import CSP, esc
from flows.report.text import md_text
from flows.runs.folders import VERSION, RunFolder
from flows.runs.gto_tags import tag_champion
from flows.runs.history import now
from modules.model_files import check_folder
from schemas.artifacts import Decision, read, write
from schemas.errors import UsageError
from schemas.files import write_text
from schemas.history import read_history, who
from schemas.layout import PUBLISHED, Layout

OWN = ("decision.json", "report.md", "report.html", "promoted")  # the rollback run's own


def versions(root: Path) -> list[str]:
    """The version folders of an output folder, oldest first."""
    folder = root / "versions"
    names = [p.name for p in folder.iterdir() if VERSION.match(p.name)] if folder.is_dir() else []
    return sorted(names)


def _previous(root: Path, current: str | None) -> str:
    """The champion before `current` became champion, from the history."""
    for line in reversed(read_history(root)[0]):
        if line.get("champion") == current and line.get("previous") not in (None, current):
            return line["previous"]
    raise UsageError(f"{root}: no earlier champion in {root / 'history.jsonl'}; name a version: "
                     f"seqarena promote --rollback VERSION --out {root} "
                     f"(versions: {', '.join(versions(root)) or 'none'})")


def _target(root: Path, version: str | None, current: str | None) -> Path:
    name = version or _previous(root, current)
    folder = root / "versions" / name
    if not VERSION.match(name) or not folder.is_dir():
        raise UsageError(f"{root}: no version {name!r}; versions: "
                         f"{', '.join(versions(root)) or 'none'} (seqarena history --out {root})")
    history, broken = read_history(root)
    if name not in {line.get("champion") for line in history}:
        cut = f" ({broken} line(s) of it are unreadable)" if broken else ""
        raise UsageError(f"{root}: {name} was never published: no line of "
                         f"{root / 'history.jsonl'}{cut} names it champion (a run stopped "
                         "between keeping its model and switching to it leaves such a folder);"
                         f" roll back to a version that was champion (seqarena history --out "
                         f"{root}).")
    check_folder(folder)  # a damaged version is refused before it serves
    return folder


def _carry(latest: Path, run: Path) -> None:
    """The last run's published files, hard-linked into the rollback run (links keep working)."""
    for name in PUBLISHED:
        src = latest / name
        if name in OWN or not src.exists():
            continue
        if src.is_dir():
            shutil.copytree(src, run / name, copy_function=os.link)
        else:
            os.link(src, run / name)


def rollback(root: Path, version: str | None, artifact: str | None) -> dict[str, Any]:
    """Make `version` (default: the champion before the current one) the champion again."""
    if not (root / "latest").exists():
        raise UsageError(f"{root}: no published run here; pass the --out of a compare run")
    with RunFolder(root, "rollback") as run:
        current = run.champion()
        target = _target(root, version, current.name if current else None)
        if current is not None and target.name == current.name:
            raise UsageError(f"{target.name} is already the champion of {root}")
        _carry(Path(os.path.realpath(root / "latest")), run.path)
        old = read(Decision, target / "decision.json")
        was = current.name if current else "none"
        reason = (f"Rolled back by hand: the champion {was} was replaced by the earlier "
                  f"version {target.name} ({old.winner}). It was promoted because: {old.reason}")
        decision = Decision(metric=old.metric, lower_is_better=old.lower_is_better,
                            winner=old.winner, outcome="promoted", champion=was, reason=reason)
        write(Layout(run.path).decision, decision)
        write_text(Layout(run.path).report, f"# seqarena: rollback\n\n{md_text(reason, 4000)}"
                   "\n\nThe other files of this run are those of the last comparison.\n")
        write_text(Layout(run.path).report_html, "<!doctype html><html lang=\"en\"><head>"
                   f"<meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" "
                   f"content=\"{CSP}\"><title>seqarena: rollback</title></head><body>"
                   f"<h1>seqarena: rollback</h1><p>{esc(reason, 4000)}</p></body></html>\n")
        line = {"time": now(), "event": "rollback", "outcome": "promoted",
                "winner": old.winner, "metric": old.metric, "reason": reason}
        run.publish(line, restore=target)
        return run.record(gto=tag_champion(root, artifact, target))


def history_table(root: Path) -> str:
    """The history as a text table, oldest first, with a warning about unreadable lines."""
    lines, broken = read_history(root)
    if not lines:
        return f"{root}: no promotion history yet ({root / 'history.jsonl'})"
    head = (f"{'time':<25} {'event':<9} {'outcome':<9} {'champion':<9} {'was':<9} "
            "winner (or challenger)")
    out = [head]
    for e in lines:
        mark = " (recovered)" if e.get("recovered") else ""
        out.append(f"{e.get('time', ''):<25} {e.get('event', ''):<9} {e.get('outcome', ''):<9} "
                   f"{e.get('champion') or '-':<9} {e.get('previous') or '-':<9} "
                   f"{who(e)}{mark}")
    if broken:
        out.append(f"! {broken} unreadable line(s) in {root / 'history.jsonl'} (cut by a crash)")
    return "\n".join(out)
