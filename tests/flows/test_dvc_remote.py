"""A DVC remote on S3-compatible storage: push from one clone, pull into a fresh one.

moto serves S3 on 127.0.0.1 (as MinIO or AWS would); the dvc commands are the README's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

pytestmark = pytest.mark.slow  # real servers, clusters or pipelines

INSTALL = "pip install -c constraints.txt -e '.[dev]'"
pytest.importorskip("dvc_s3", reason=f"dvc-s3 is not installed (a main dependency): {INSTALL}")
pytest.importorskip("moto", reason=f"moto is not installed (the dev extra): {INSTALL}")
moto_server = pytest.importorskip("moto.moto_server.threaded_moto_server",
                                  reason=f"moto's server mode is not installed: {INSTALL}")
boto3 = pytest.importorskip("boto3", reason=f"boto3 is not installed (moto brings it): {INSTALL}")

BUCKET = "seqarena-test"
PREFIX = "seqarena"
KEY, SECRET = "testing-key", "testing-secret"  # moto accepts any credentials


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port with an empty bucket; stopped whatever happens."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        _s3(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def _s3(endpoint: str):  # a boto3 S3 client
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET)


def _env(tmp: Path) -> dict[str, str]:
    """No real AWS or user DVC config: credentials come only from the remote's config.local."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DVC_"))}
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "DVC_GLOBAL_CONFIG_DIR": str(tmp / "dvc-global"),
        "DVC_SYSTEM_CONFIG_DIR": str(tmp / "dvc-system"),
        "DVC_SITE_CACHE_DIR": str(tmp / "dvc-site"),
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
    })
    return env


def _run(cwd: Path, env: dict[str, str], *args: str, hint: str = "") -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout}{proc.stderr}{hint}"
    return proc.stdout


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _cached_outs(repo: Path, env: dict[str, str]) -> dict[str, str]:
    """path -> md5 of everything data.dvc and dvc.lock record that git does not carry."""
    outs = {o["path"]: o["md5"] for o in yaml.safe_load((repo / "data.dvc").read_text())["outs"]}
    for stage in yaml.safe_load((repo / "dvc.lock").read_text())["stages"].values():
        outs.update({o["path"]: o["md5"] for o in stage.get("outs", [])})
    tracked = set(_run(repo, env, "git", "ls-files").splitlines())
    return {path: md5 for path, md5 in outs.items()
            if path not in tracked and not any(t.startswith(f"{path}/") for t in tracked)}


def _expected_files(repo: Path, outs: dict[str, str]) -> dict[Path, str]:
    """Every file of the cached outs with its recorded md5 (a directory's from its .dir list)."""
    files = {}
    for path, md5 in outs.items():
        if md5.endswith(".dir"):
            listing = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
            for entry in json.loads(listing.read_text()):
                files[repo / path / entry["relpath"]] = entry["md5"]
        else:
            files[repo / path] = md5
    return files


def test_push_to_s3_and_pull_into_a_fresh_clone(tmp_path: Path, s3_endpoint: str) -> None:
    env = _env(tmp_path)
    dvc = [sys.executable, "-m", "dvc"]
    first, second = tmp_path / "first", tmp_path / "second"

    # a clone of the committed repository: its data and outputs come from the in-repo remote
    _run(tmp_path, env, "git", "clone", "-q", str(ROOT), str(first))
    outs = _cached_outs(first, env)
    assert "data" in outs and "results/validated.parquet" in outs and "results/promoted" in outs
    assert not (first / "data").exists()
    _run(first, env, *dvc, "pull", "-r", "demo",
         hint="\ndvc-store lacks outputs of dvc.lock: run `dvc push -r demo`, commit dvc-store")

    # the README's commands: the remote in .dvc/config (committed), credentials in config.local
    _run(first, env, *dvc, "remote", "add", "-d", "s3remote", f"s3://{BUCKET}/{PREFIX}")
    _run(first, env, *dvc, "remote", "modify", "s3remote", "endpointurl", s3_endpoint)
    _run(first, env, *dvc, "remote", "modify", "--local", "s3remote", "access_key_id", KEY)
    _run(first, env, *dvc, "remote", "modify", "--local", "s3remote", "secret_access_key", SECRET)
    assert KEY not in (first / ".dvc" / "config").read_text()
    _run(first, env, *dvc, "push")
    _run(first, env, "git", "commit", "-q", "-m", "S3 remote", ".dvc/config")

    # the objects really are in the bucket: one per file of every cached out, plus the .dir lists
    pulled = {f"{p.parent.name}{p.name}" for p in (first / ".dvc/cache/files/md5").rglob("*")
              if p.is_file()}
    pages = _s3(s3_endpoint).get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert all(k.startswith(f"{PREFIX}/files/md5/") for k in keys), keys[:5]
    in_bucket = {"".join(k.split("/")[-2:]) for k in keys}
    assert in_bucket == pulled
    assert set(outs.values()) <= in_bucket
    expected = _expected_files(first, outs)
    assert set(expected.values()) <= in_bucket

    # a fresh clone with no in-repo store and an empty cache: everything comes from S3
    _run(tmp_path, env, "git", "clone", "-q", str(first), str(second))
    shutil.rmtree(second / "dvc-store")
    assert not (second / ".dvc" / "config.local").exists()  # credentials are not in git
    assert not (second / "data").exists() and not (second / "results" / "prepared").exists()
    assert _run(second, env, *dvc, "remote", "default").strip() == "s3remote"
    _run(second, env, *dvc, "remote", "modify", "--local", "s3remote", "access_key_id", KEY)
    _run(second, env, *dvc, "remote", "modify", "--local", "s3remote", "secret_access_key", SECRET)
    _run(second, env, *dvc, "pull")

    restored = _expected_files(second, outs)
    assert restored.keys() == {second / p.relative_to(first) for p in expected}
    for path, md5 in restored.items():
        assert _md5(path) == md5, path
    assert _md5(second / "data" / "forecast.csv") == expected[first / "data" / "forecast.csv"]
    # no tracked output differs from what data.dvc and dvc.lock record (stale deps may be listed)
    status = json.loads(_run(second, env, *dvc, "status", "--json"))
    changed = {name: item for name, items in status.items() for item in items
               if isinstance(item, dict) and "changed outs" in item}
    assert not changed, changed
    data_status = json.loads(_run(second, env, *dvc, "data", "status", "--json", "--granular"))
    assert not data_status.get("not_in_cache") and not data_status.get("uncommitted"), data_status
