"""kill -9 a small `seqarena compare` at random moments, again and again, and check after every
kill that the champion still loads: `seqarena predict` (default: the champion) must succeed,
the history must read, and every version folder must be complete.

Usage: python benchmarks/kill_loop.py [--kills 24] [--out benchmarks/results/kill_loop.md]

Every fourth compare runs to the end (promote.challenge=false, so each completed run makes a
new version and moves the champion): kills then land before, during and after switches. A third
of the kills land while training workers are still starting (the fork server importing torch
and Lightning, or a worker just forked from it, before its watchdog runs), a third in the last
fifth of a run (where it versions, switches and appends its history), the rest anywhere in it.
After every kill, no process of the run may be alive 10 s later.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SEQARENA = [sys.executable, "-m", "flows.cli"]
TINY = ["--models", "lstm,gru", "--set", "models.lstm.hidden=8", "--set", "models.gru.hidden=8",
        "--set", "train.max_epochs=3", "--set", "train.seeds=1", "--set", "train.workers=2",
        "--set", "evaluate.references=false", "--set", "promote.must_beat=[]",
        "--set", "promote.challenge=false", "--set", "forecast.horizon=7"]


def _alive(procs: dict[int, psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs.values():
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _starting(family: dict[int, psutil.Process]) -> bool:
    """Workers are starting: the fork server importing, or a worker just forked, some CPU
    used, not yet training."""
    for p in _alive(family):
        try:
            if "forkserver" in " ".join(p.cmdline()) and 0.3 < p.cpu_times().user < 3:
                return True
        except psutil.NoSuchProcess:
            pass
    return False


def compare(data: Path, out: Path, kill: float | str | None) -> tuple[int, float, int]:
    """Run one compare; SIGKILL it after `kill` seconds, or once a worker is starting
    ("startup"), or never (None). Returns the exit code, the seconds, and how many of its
    processes were still alive 10 s after it died."""
    start = time.perf_counter()
    proc = subprocess.Popen([*SEQARENA, "compare", str(data), "--out", str(out), *TINY],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    me, family = psutil.Process(proc.pid), {}
    while proc.poll() is None:
        try:
            family |= {c.pid: c for c in me.children(recursive=True) if c.pid not in family}
        except psutil.NoSuchProcess:
            break
        late = isinstance(kill, float) and time.perf_counter() - start >= kill
        if late or (kill == "startup" and _starting(family)):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    deadline = time.monotonic() + 10
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _alive(family)
    for p in left:  # do not let one bad run disturb the next
        p.kill()
    return proc.returncode, time.perf_counter() - start, len(left)


def check(data: Path, out: Path, work: Path) -> dict:
    """What a user would see now: the champion predicts, the history reads, versions whole."""
    promoted = out / "promoted"
    result: dict = {"champion": promoted.resolve().name if promoted.exists() else None}
    if promoted.exists():
        pred = subprocess.run([*SEQARENA, "predict", str(data), "--from", str(out),
                               "--out", str(work / "p.csv")], cwd=ROOT, capture_output=True,
                              text=True)
        result["predict_rc"] = pred.returncode
        result["predict_err"] = pred.stderr.strip()[-300:]
    history = out / "history.jsonl"
    lines = history.read_text().splitlines() if history.exists() else []
    result["history_lines"] = len(lines)
    result["history_broken"] = sum(1 for ln in lines if not _json(ln))
    versions = sorted((out / "versions").glob("v*")) if (out / "versions").exists() else []
    result["incomplete_versions"] = [v.name for v in versions if not all(
        (v / f).exists() for f in ("weights.safetensors", "model.json", "preprocessing.json",
                                   "decision.json"))]
    return result


def _json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "kill_loop.md")
    args = p.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="seqarena-kill-"))
    data, out = ROOT / "data" / "forecast.csv", work / "out"
    rc, full, _ = compare(data, out, None)
    assert rc == 0, "the first compare must finish"
    rows, kills, bad = [], 0, 0
    step = 0
    while kills < args.kills:
        step += 1
        finish, draw = step % 4 == 0, rng.random()
        at: float | str | None = None if finish else "startup" if draw < 1 / 3 else (
            rng.uniform(0.8, 1.1) if draw < 2 / 3 else rng.uniform(0.05, 1.0)) * full
        rc, seconds, left = compare(data, out, at)
        killed = rc == -signal.SIGKILL
        kills += killed
        seen = check(data, out, work)
        ok = (seen.get("predict_rc", 0) == 0 and seen["champion"] is not None
              and not seen["history_broken"] and not seen["incomplete_versions"] and not left)
        bad += not ok
        rows.append({"run": step, "kill_at_s": at if not isinstance(at, float) else round(at, 2),
                     "killed": killed, "rc": rc, "seconds": round(seconds, 1), "left": left,
                     **seen, "ok": ok})
        print(json.dumps(rows[-1]), flush=True)
    report = [f"# kill -9 loop: {kills} kills, {bad} bad states\n",
              f"- command: `python benchmarks/kill_loop.py --kills {args.kills} --seed "
              f"{args.seed}`; a full compare took {full:.1f} s; date "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
              "- after each run: `seqarena predict data/forecast.csv --from OUT` (the champion), "
              "history.jsonl parsed line by line, every versions/vNNNN complete, and no process "
              "of the run alive 10 s after it was killed ('startup': killed while a training "
              "worker was still importing)\n",
              f"- {sum(r['kill_at_s'] == 'startup' and r['killed'] for r in rows)} kills at "
              f"worker start-up; processes left after all kills: {sum(r['left'] for r in rows)}"
              "\n",
              "| run | killed at s | killed | rc | processes left | champion | predict rc | "
              "history lines | incomplete versions | ok |",
              "|---:|---:|---|---:|---:|---|---:|---:|---|---|"]
    for r in rows:
        report.append(f"| {r['run']} | {r['kill_at_s'] if r['kill_at_s'] is not None else '-'}"
                      f" | {r['killed']} | {r['rc']} | {r['left']} | {r['champion']} | "
                      f"{r.get('predict_rc', '-')} | {r['history_lines']} | "
                      f"{', '.join(r['incomplete_versions']) or '-'} | {r['ok']} |")
    args.out.write_text("\n".join(report) + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    print(f"{kills} kills, {bad} bad states; {args.out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
