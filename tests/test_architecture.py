"""The tree shows the architecture, and these rules hold it: layers import only downward, no
stage imports another, prefect lives in runtime/, pipeline.py and cli/, schemas/ stays torch-free,
and dvc.yaml's deps are each stage's package and the layer folders its code comes from."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("flows", "modules", "schemas")
STAGES = {s: f"flows.stages.{s}.stage" for s in ("validate", "preprocess", "train", "evaluate",
                                                  "promote")}
# a layer's rank: a module imports only modules of lower rank, or of its own package
RANK = {"schemas": 0, "modules": 1, "flows/evidence": 1, "flows/report": 2, "flows/runtime": 2,
        "flows/stages": 3, "flows/runs": 4, "flows/pipeline.py": 5, "flows/app": 6, "flows/cli": 7}
TOP_LEVEL = {"flows/__init__.py", "flows/pipeline.py"}  # flows/ holds nothing else but packages


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


def package_of(path: Path) -> str:
    """The folder that owns a file: its layer, or its stage's package (flows/stages/NAME)."""
    rel = path.relative_to(ROOT).as_posix()
    if rel.startswith("flows/stages/") and rel.count("/") >= 3:
        return "/".join(rel.split("/")[:3])
    return next((k for k in sorted(RANK, key=len, reverse=True)
                 if rel == k or rel.startswith(k + "/")), rel)


def rank(path: Path) -> int:
    """The layer rank of a project file (stage packages share the stages' rank)."""
    pkg = package_of(path)
    return RANK["flows/stages"] if pkg.startswith("flows/stages") else RANK[pkg]


def project_files() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")
                  if p != ROOT / "flows/__init__.py")


def direct_imports(path: Path) -> set[str]:
    """Every module name a file imports (any package), at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_import_walker_sees_lazy_and_from_imports() -> None:
    """The checks below mean something only if the walker finds real imports."""
    assert {"flows.stages.validate.steps", "schemas.artifacts"} <= closure(STAGES["validate"])
    assert "flows.pipeline" in imported(ROOT / "flows/cli/main.py")  # imported in a function
    assert "prefect.automations" in direct_imports(ROOT / "flows/runtime/zombies.py")


def test_the_tree_has_no_loose_files_and_every_file_a_layer() -> None:
    loose = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "flows").glob("*.py"))
    assert set(loose) == TOP_LEVEL, f"flows/ top level holds {loose}: move them into a package"
    for path in project_files():
        assert rank(path) >= 0, path


@pytest.mark.parametrize("path", project_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_layers_import_only_downward(path: Path) -> None:
    """schemas < modules, evidence < report, runtime < stages < runs < pipeline < app < cli."""
    here, own = rank(path), package_of(path)
    for dep in imported(path):
        there = module_file(dep)
        assert rank(there) < here or package_of(there) == own, \
            f"{path.relative_to(ROOT)} imports {dep}, which is not below it"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_no_stage_imports_another(stage: str) -> None:
    others = {f"flows.stages.{s}" for s in STAGES if s != stage}
    assert not {m for m in closure(STAGES[stage]) if m.rsplit(".", 1)[0] in others
                or any(m.startswith(o + ".") for o in others)}


def test_stage_functions_take_config_sections_not_the_whole_config() -> None:
    """Only each stage's `run(cfg, ...)` sees the whole Config, and it only binds the stage
    function to its sections; everything else in flows/stages/ takes sections."""
    whole = []
    for path in sorted((ROOT / "flows" / "stages").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            if any((isinstance(a.annotation, ast.Name) and a.annotation.id == "Config")
                   or ast.unparse(a.annotation or ast.Name("")) == "'Config'" for a in args):
                body = [n for n in node.body if not isinstance(n, ast.Expr)]  # no docstring
                if node.name != "run" or len(body) > 2:
                    whole.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not whole, whole
    for stage, module in STAGES.items():
        assert "def run(cfg: Config" in module_file(module).read_text(encoding="utf-8"), stage


def test_prefect_is_imported_only_by_runtime_pipeline_and_cli() -> None:
    allowed = {"flows/runtime", "flows/pipeline.py", "flows/cli"}
    users = {package_of(p) for p in project_files()
             if any(m.split(".")[0] in ("prefect", "prefect_dask") for m in direct_imports(p))}
    assert users and users <= allowed, sorted(users - allowed)


def test_the_app_reimplements_no_stage() -> None:
    """`seqarena app` runs the CLI's commands in child processes and rolls back through
    flows.runs: it imports no stage, no pipeline and no Prefect."""
    reached = closure("flows.app.server")
    assert "flows.app.jobs" in reached and "flows.runs.rollback" in reached
    assert not {m for m in reached if m.startswith(("flows.stages", "flows.pipeline"))}


def test_schemas_are_torch_free_and_import_no_other_layer() -> None:
    heavy = ("torch", "pytorch_lightning", "lightning", "torchmetrics")
    for path in sorted((ROOT / "schemas").glob("*.py")):
        name = f"schemas.{path.stem}"
        assert not {m for m in closure(name) if m.startswith(("flows", "modules"))}, name
        for dep in closure(name):
            used = {m.split(".")[0] for m in direct_imports(module_file(dep))}
            assert not used & set(heavy), f"{dep} imports {used & set(heavy)}"


def _code_deps(stage: str) -> set[str]:
    """The folders a stage's code comes from: its package and the layers it imports."""
    return {package_of(module_file(m)) for m in closure(STAGES[stage])}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_yaml_deps_are_the_stage_package_and_the_layers_below(stage: str) -> None:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    deps = {d.rstrip("/") for d in (spec.get("do") or spec)["deps"]}
    code = {d for d in deps if d.split("/")[0] in LAYERS}
    assert f"flows/stages/{stage}" in code
    assert code == _code_deps(stage), f"dvc.yaml stage {stage!r}: deps {sorted(code)}, " \
                                      f"its code comes from {sorted(_code_deps(stage))}"
    assert all((ROOT / d).is_dir() for d in code), "code deps are folders"


CROSS_CUTTING = {"test_architecture.py", "test_ci.py", "test_readme.py"}  # the repo as a whole


def test_tests_mirror_the_tree() -> None:
    """A test file lives in the folder of what it tests: tests/X/ for the project folder X/."""
    tests = ROOT / "tests"
    files = [p for p in tests.rglob("test_*.py") if "corpus" not in p.parts]
    assert len(files) > len(CROSS_CUTTING)
    for path in files:
        folder = path.parent.relative_to(tests)
        if folder == Path("."):
            assert path.name in CROSS_CUTTING, f"{path.name}: move it below tests/ where the " \
                                               "folder it tests is"
        else:
            assert (ROOT / folder).is_dir(), f"tests/{folder}/ mirrors no folder {folder}/"


def test_a_training_worker_imports_only_what_training_needs() -> None:
    """Every training runs in a fresh process that imports flows.pipeline to find its task:
    the other stages, Prefect's server, Dask and pandas stay out of it (seconds a training)."""
    import subprocess
    import sys

    heavy = ("flows.stages.evaluate", "flows.stages.promote", "flows.stages.validate",
             "flows.report", "flows.runs", "prefect.server.api.server", "distributed", "pandas",
             "pandera", "statsmodels", "statsforecast", "aeon")
    code = ("import sys, flows.pipeline; print(' '.join(m for m in sys.modules if m.startswith("
            f"{heavy!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    assert not out, f"import flows.pipeline loads {sorted({m.split('.')[0] for m in out})}"
