"""Runs that cannot hurt the user: one run per folder, atomic publish, versions that stay."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli.main import main
from flows.runs.folders import KEEP_RUNS, FolderLock, RunFolder
from schemas.errors import UsageError
from schemas.history import read_history
from tests.helpers import ROOT


def _fake_run(root: Path, winner: str | None, fail: bool = False) -> Path | None:
    """A run that writes a report and, with a winner, a complete promoted/ folder."""
    try:
        with RunFolder(root, "test") as run:
            (run.path / "report.md").write_text(f"winner {winner}\n")
            if winner:
                (run.path / "promoted").mkdir()
                (run.path / "promoted" / "weights.safetensors").write_text(winner)
            if fail:
                raise RuntimeError("training failed")
            version = run.publish({"event": "compare", "winner": winner})
            run.record()
            return version
    except RuntimeError:
        return None


def test_none_and_failed_runs_keep_the_promoted_model(tmp_path: Path) -> None:
    root = tmp_path / "out"
    v1 = _fake_run(root, "gru")
    assert v1 == root / "versions" / "v0001"
    assert (root / "promoted" / "weights.safetensors").read_text() == "gru"
    assert _fake_run(root, None) == v1  # "none": the champion stays
    assert (root / "promoted" / "weights.safetensors").read_text() == "gru"
    assert (root / "report.md").read_text() == "winner None\n"
    assert _fake_run(root, "lstm", fail=True) is None  # failed: nothing published
    assert (root / "report.md").read_text() == "winner None\n"
    failed = [p for p in (root / "runs").iterdir() if (p / "FAILED").exists()]
    assert len(failed) == 1 and "training failed" in (failed[0] / "FAILED").read_text()
    assert _fake_run(root, "lstm") == root / "versions" / "v0002"
    assert (root / "promoted" / "weights.safetensors").read_text() == "lstm"
    assert (root / "versions" / "v0001" / "weights.safetensors").read_text() == "gru"


def test_old_runs_are_pruned_but_versions_stay(tmp_path: Path) -> None:
    root = tmp_path / "out"
    for i in range(KEEP_RUNS + 3):
        _fake_run(root, f"m{i}")
    assert len(list((root / "runs").iterdir())) == KEEP_RUNS
    assert len(list((root / "versions").iterdir())) == KEEP_RUNS + 3


def test_a_busy_folder_is_refused(tmp_path: Path, forecast_csv: Path,
                                  capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    with FolderLock(out, "compare"):
        with pytest.raises(UsageError, match="in use by another seqarena run"), \
                RunFolder(out, "compare"):
            pass
        for argv in (["validate", str(forecast_csv)], ["compare", str(forecast_csv)]):
            assert main([*argv, "--out", str(out)]) == 2
            err = capsys.readouterr().err
            assert "in use by another seqarena run" in err and f"pid {os.getpid()}" in err
            assert "Traceback" not in err
    assert main(["validate", str(forecast_csv), "--out", str(out)]) == 0  # free again


def test_stage_refuses_a_folder_of_published_runs(tmp_path: Path, forecast_csv: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    """`seqarena stage` writes in place; over published links it would write into a run."""
    out = tmp_path / "out"
    assert main(["validate", str(forecast_csv), "--out", str(out)]) == 0
    params = tmp_path / "params.yaml"
    params.write_text(f"data: {{path: {forecast_csv}}}\nout_dir: {out}\n")
    capsys.readouterr()
    assert main(["stage", "validate", "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert "holds runs published by `seqarena compare`" in err and "Traceback" not in err
    assert (out / "latest").is_symlink() and (out / "validation.json").is_symlink()


def test_the_lock_is_held_across_processes(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path\n"
            "from flows.runs.folders import FolderLock\n"
            "with FolderLock(Path(sys.argv[1]), 'other'):\n"
            "    print('locked', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match=r"\(pid \d+, other, since"):
            FolderLock(tmp_path, "me").__enter__()
    finally:
        proc.kill()
        proc.wait()
    with FolderLock(tmp_path, "me"):  # the kernel dropped the dead holder's lock
        pass


CRASH_SCRIPT = """
import sys
from pathlib import Path
from flows.runs.folders import RunFolder
root, winner = Path(sys.argv[1]), sys.argv[2]
with RunFolder(root, "crash test") as run:
    (run.path / "report.md").write_text(winner)
    (run.path / "promoted").mkdir()
    (run.path / "promoted" / "weights.safetensors").write_text(winner)
    run.publish({"event": "compare", "winner": winner})
    run.record()
"""


@pytest.mark.parametrize("point", ["publish:versioned", "publish:linked", "publish:switched",
                                   "publish:recording"])
def test_a_kill_during_publish_leaves_old_or_new(tmp_path: Path, point: str) -> None:
    root = tmp_path / "out"
    _fake_run(root, "old")
    env = {**os.environ, "SEQARENA_CRASH_AT": point, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(root), "new"], env=env,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == -9
    champion = (root / "promoted" / "weights.safetensors").read_text()
    switched = point in ("publish:switched", "publish:recording")
    assert champion == ("new" if switched else "old")
    assert (root / "report.md").read_text() == champion.replace("old", "winner old\n")
    assert _fake_run(root, "next") is not None  # the next run is not blocked
    assert (root / "promoted" / "weights.safetensors").read_text() == "next"
    assert not list(root.glob(".*.tmp"))
    lines, broken = read_history(root)  # the killed run's line, appended by the next run
    assert broken == 0
    assert [e["winner"] for e in lines] == ["old", *(["new"] if switched else []), "next"]
    assert [bool(e.get("recovered")) for e in lines] == [False, *([True] if switched else []),
                                                         False]


def test_a_version_no_history_line_published_is_not_a_rollback_target(tmp_path: Path) -> None:
    """A run killed between keeping its version and the switch leaves a whole vNNNN that was
    never champion: rollback refuses it (and still takes a published one)."""
    from flows.runs.rollback import _target

    root = tmp_path / "out"
    _fake_run(root, "gru")
    _fake_run(root, "lstm")
    shutil.copytree(root / "versions" / "v0002", root / "versions" / "v0003")
    with pytest.raises(UsageError, match="v0003 was never published"):
        _target(root, "v0003", "v0002")
    with pytest.raises(UsageError) as exc:  # published, refused only for its fake files
        _target(root, "v0001", "v0002")
    assert "never published" not in str(exc.value) and "model.json" in str(exc.value)


def test_a_promoted_link_leading_outside_the_folder_is_refused(
        tmp_path: Path, forecast_csv: Path, capsys: pytest.CaptureFixture) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    _fake_run(ours, "gru")
    _fake_run(theirs, "lstm")
    (ours / "promoted").unlink()
    (ours / "promoted").symlink_to(theirs / "versions" / "v0001")
    code = main(["predict", str(forecast_csv), "--from", str(ours), "--out",
                 str(tmp_path / "p.csv")])
    text = capsys.readouterr().err
    assert code == 2 and f"{ours / 'promoted'}: leads to" in text, text
    assert "not to a version of" in text and "Traceback" not in text
    with pytest.raises(UsageError, match="not to a version of"), RunFolder(ours, "t") as run:
        run.champion()  # a compare would not challenge, nor record, another folder's model
    assert not (tmp_path / "p.csv").exists()


def test_a_history_line_nested_too_deeply_counts_as_unreadable(tmp_path: Path) -> None:
    _fake_run(tmp_path, "gru")
    with (tmp_path / "history.jsonl").open("a") as f:
        f.write("[" * 100_000 + "\n")
    entries, broken = read_history(tmp_path)
    assert len(entries) == 1 and broken == 1
