"""README's Quick start and .ci/run stay the same two commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_quick_start_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [b.strip() for b in re.findall(r"```bash\n(.*?)```", quick, re.S)]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert all(part in ci for part in commands[0].split(" && ")) and commands[1] in ci
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()
    assert "-c constraints.txt" in commands[0]


def test_readme_documents_every_defect_with_its_default() -> None:
    from schemas.defects import DEFECTS, Policy, allowed

    readme = (ROOT / "README.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", readme, re.M)}
    for name in DEFECTS:
        assert name in rows, name
        cells = [c.strip() for c in rows[name].strip("|").split("|")]
        assert cells[3] == f"**{getattr(Policy(), name)}**", name
        assert [a.split(" ")[0] for a in cells[4].split(" / ")] == list(allowed(name)), name
