"""The layers stay visible: no stage imports another, schemas/ imports nothing from flows/, and
dvc.yaml lists every project file a stage's code comes from (so `dvc repro` cannot skip it)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("flows", "modules", "schemas")
STAGES = {"validate": "flows.validate", "preprocess": "flows.preprocess",
          "train": "flows.train", "evaluate": "flows.evaluate", "promote": "flows.promote"}


def module_file(name: str) -> Path | None:
    """The file of a project module (`flows.x` -> flows/x.py or flows/x/__init__.py)."""
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported(path: Path) -> set[str]:
    """Project modules a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] in LAYERS and module_file(n)}
    return found


@cache
def closure(name: str) -> frozenset[str]:
    """`name` and every project module it imports, transitively."""
    seen, todo = {name}, [name]
    while todo:
        path = module_file(todo.pop())
        for dep in imported(path) - seen if path else ():
            seen.add(dep)
            todo.append(dep)
    return frozenset(seen)


def test_the_import_walker_sees_lazy_and_from_imports() -> None:
    """The checks below mean something only if the walker finds real imports."""
    assert {"flows.validation.steps", "schemas.artifacts"} <= closure("flows.validate")
    assert "flows.pipeline" in imported(ROOT / "flows/cli.py")  # imported inside a function


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_no_stage_imports_another(stage: str) -> None:
    others = {m for s, m in STAGES.items() if s != stage}
    assert not closure(STAGES[stage]) & others


def test_schemas_import_nothing_from_flows_or_modules() -> None:
    """The contracts are the bottom layer (model specs included)."""
    for path in sorted((ROOT / "schemas").glob("*.py")):
        name = f"schemas.{path.stem}"
        assert not {m for m in closure(name) if m.startswith(("flows", "modules"))}, name


def test_modules_import_nothing_from_flows() -> None:
    for path in sorted((ROOT / "modules").glob("*.py")):
        name = f"modules.{path.stem}"
        assert not {m for m in closure(name) if m.startswith("flows")}, name


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_yaml_lists_every_file_a_stage_runs(stage: str) -> None:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    deps = (spec.get("do") or spec)["deps"]
    files = {str(module_file(m).relative_to(ROOT)) for m in closure(STAGES[stage])}
    missing = sorted(f for f in files if not _covered(f, deps))
    assert not missing, f"dvc.yaml stage {stage!r} misses deps {missing}"
