"""`.ci/run` runs exactly the README's Quick start commands and fails when any of them fails."""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CI = ROOT / ".ci" / "run"


def quick_start() -> list[str]:
    """The commands of the README's Quick start section, one per fenced block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)]


def ci_commands() -> list[str]:
    """The command lines of .ci/run between `cd` and the pytest block."""
    lines = [ln.strip() for ln in CI.read_text(encoding="utf-8").splitlines()]
    body = lines[lines.index('cd "$(dirname "$0")/.."') + 1 : lines.index("set +e")]
    return [ln for ln in body if ln and not ln.startswith("#")]


def test_ci_runs_the_readme_commands_one_per_line() -> None:
    setup, tests = quick_start()
    assert ci_commands() == setup.split(" && ")
    assert tests in CI.read_text(encoding="utf-8")
    assert not any("&&" in ln for ln in ci_commands())


def _stub(path: Path, body: str) -> None:
    path.write_text(f"#!/usr/bin/env bash\necho \"$(basename $0) $*\" >> \"$CALLS\"\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A copy of .ci/run whose python3, pip, dvc, seqarena and pytest are logging stubs;
    `seqarena` fails on the file named by FAIL_ON, pytest exits with PYTEST_RC."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(CI, tmp_path / ".ci" / "run")
    bin_, venv = tmp_path / "bin", tmp_path / ".venv" / "bin"
    bin_.mkdir()
    venv.mkdir(parents=True)
    _stub(bin_ / "python3", "exit 0")
    _stub(tmp_path / ".ci" / "chromium", "exit 0")
    _stub(venv / "pip", "exit 0")
    _stub(venv / "dvc", "exit 0")
    _stub(venv / "seqarena", '[ "$2" = "${FAIL_ON:-}" ] && exit 3; exit 0')
    _stub(venv / "python", 'exit "${PYTEST_RC:-0}"')
    return tmp_path


def _ci(sandbox: Path, **env: str) -> tuple[int, list[str]]:
    calls = sandbox / "calls.log"
    path = f"{sandbox / 'bin'}:{os.environ['PATH']}"
    proc = subprocess.run(["bash", str(sandbox / ".ci" / "run")], stdin=subprocess.DEVNULL,
                          env={**os.environ, "PATH": path, "CALLS": str(calls), "CI": "true",
                               **env}, capture_output=True, text=True, timeout=60)
    return proc.returncode, calls.read_text().splitlines() if calls.exists() else []


def test_ci_passes_when_every_command_passes(sandbox: Path) -> None:
    rc, calls = _ci(sandbox)
    assert rc == 0
    assert [c.split()[:2] for c in calls] == [
        ["python3", "-m"], ["pip", "install"], ["chromium"], ["dvc", "pull"],
        ["seqarena", "compare"], ["seqarena", "compare"], ["seqarena", "export"],
        ["seqarena", "export"], ["python", "-m"]]


@pytest.mark.parametrize("data", ["data/forecast.csv", "data/classify.csv"])
def test_ci_fails_when_the_main_job_fails(sandbox: Path, data: str) -> None:
    rc, calls = _ci(sandbox, FAIL_ON=data)
    assert rc != 0
    assert calls[-1] == f"seqarena compare {data}"  # nothing ran after the failure


@pytest.mark.parametrize(("pytest_rc", "expected"), [(1, 1), (5, 1), (0, 0)])
def test_ci_fails_when_tests_fail_or_none_ran(sandbox: Path, pytest_rc: int,
                                              expected: int) -> None:
    rc, _ = _ci(sandbox, PYTEST_RC=str(pytest_rc))
    assert rc == expected
