"""benchmarks/real_data.py runs the seqarena code of its own checkout: the `seqarena` script
of an editable install would otherwise import the checkout the install points at."""

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[2] / "benchmarks"


def test_the_compares_import_flows_from_the_benchmarks_checkout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("real_data_under_test", HERE / "real_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts its folders first
    spec.loader.exec_module(module)
    other = tmp_path / "other-checkout"
    (other / "flows").mkdir(parents=True)
    (other / "flows" / "__init__.py").write_text("")
    monkeypatch.setattr(module, "ROOT", other)
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    assert module.code_root() == other.resolve()  # not the installed checkout
    assert module.code_env()["PYTHONPATH"].split(":") == [str(other), "/nowhere"]
    monkeypatch.setattr(module, "ROOT", HERE.parent)
    assert module.code_root() == HERE.parent.resolve()
