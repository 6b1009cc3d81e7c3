"""The shipped demo data is what the generator writes, byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import yaml

from flows.cli.demo_data import CLASSES, make_classify_demo, write_demo

ROOT = Path(__file__).resolve().parents[3]


def shipped_md5() -> dict[str, str]:
    """md5 of each file of `data/` as data.dvc and the bundled remote record it."""
    out = yaml.safe_load((ROOT / "data.dvc").read_text())["outs"][0]
    digest = out["md5"].removesuffix(".dir")
    listing = ROOT / "dvc-store/files/md5" / digest[:2] / f"{digest[2:]}.dir"
    return {e["relpath"]: e["md5"] for e in json.loads(listing.read_text())}


def test_the_generator_writes_the_data_that_dvc_versions(tmp_path: Path) -> None:
    written = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in write_demo(tmp_path)}
    assert written == shipped_md5()


def test_each_classify_label_is_the_order_of_its_two_bursts() -> None:
    frame = make_classify_demo()
    assert frame["sequence_id"].n_unique() == 1000
    assert sorted(frame["label"].unique()) == sorted(CLASSES)
    found = []  # per head and tail: a 3-step burst in the labelled direction
    for _, rows in frame.group_by("sequence_id", maintain_order=True):
        first, second = rows["label"][0].split("_")
        signal = rows["signal"].to_numpy()
        for part, direction in ((signal[:10], first), (signal[-10:], second)):
            sign = 1.0 if direction == "up" else -1.0
            found.append(np.convolve(sign * part, np.ones(3), mode="valid").max() > 3.0)
    assert np.mean(found) > 0.97  # the rest: a spike of the other sign inside the burst
