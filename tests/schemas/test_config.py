"""The typed configuration: params.yaml loads, typos are rejected, defaults are sane."""

from pathlib import Path

import pytest

from schemas.config import Config, load_config
from schemas.errors import EXIT_USAGE, UsageError
from schemas.specs import RecurrentSpec, TransformerSpec
from tests.helpers import ROOT


def test_params_yaml_loads_and_matches_defaults() -> None:
    cfg = load_config(ROOT / "params.yaml")
    assert set(cfg.models) == {"rnn", "lstm", "gru", "hybrid", "transformer", "linear"}
    assert isinstance(cfg.models["lstm"], RecurrentSpec) and cfg.models["lstm"].arch == "lstm"
    assert isinstance(cfg.models["transformer"], TransformerSpec)
    defaults = Config()
    assert cfg.train == defaults.train and cfg.forecast == defaults.forecast
    assert cfg.models == defaults.models
    assert cfg.validation == defaults.validation and cfg.data == defaults.data


def test_unknown_key_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("train:\n  max_epoch: 3\n")
    with pytest.raises(UsageError) as err:
        load_config(bad)
    assert err.value.exit_code == EXIT_USAGE
    assert "train.max_epoch" in str(err.value) and str(bad) in str(err.value)


def test_model_entry_name_defaults_its_arch_and_extra_entries_allowed() -> None:
    cfg = load_config(None, {"models": {"gru": {"hidden": 4}, "big_lstm": {"arch": "lstm"}}})
    assert cfg.models["gru"].arch == "gru" and cfg.models["gru"].hidden == 4
    assert cfg.models["big_lstm"].arch == "lstm"


def test_unknown_arch_and_bad_heads_are_rejected() -> None:
    with pytest.raises(UsageError, match="models"):
        load_config(None, {"models": {"tcn": {}}})
    with pytest.raises(UsageError, match="divisible by heads"):
        load_config(None, {"models": {"transformer": {"d_model": 10, "heads": 4}}})


def test_config_is_the_flow_parameter_schema() -> None:
    from prefect.utilities.callables import parameter_schema

    from flows.pipeline import compare_flow

    schema = parameter_schema(compare_flow.fn)
    assert "config" in schema.properties
    assert "Config" in schema.definitions and "TrainConfig" in schema.definitions


def test_policy_rejects_an_action_a_defect_does_not_allow() -> None:
    with pytest.raises(UsageError) as err:
        load_config(None, {"validation.policy.unsorted": "quarantine"})
    assert "validation.policy.unsorted" in str(err.value) and "'error' or 'fix'" in str(err.value)


def test_every_defect_has_a_policy_and_every_policy_a_defect() -> None:
    from schemas.defects import DEFECTS, Policy, allowed

    assert set(DEFECTS) == set(Policy.model_fields)
    for name in DEFECTS:
        assert "error" in allowed(name) and getattr(Policy(), name) in allowed(name)


@pytest.mark.parametrize(("key", "value", "bound"), [
    ("forecast.horizon", 1_000_000_000, "100000"), ("forecast.lookback", 10**7, "100000"),
    ("forecast.season", 10**7, "100000"), ("train.workers", 100_000, "1024"),
    ("train.threads", 100_000, "256")])
def test_sizes_beyond_what_a_run_or_a_model_file_can_hold_are_refused(
        key: str, value: int, bound: str) -> None:
    with pytest.raises(UsageError) as exc:
        load_config(None, {key: value})
    assert key in str(exc.value) and bound in str(exc.value)


def test_params_that_are_not_utf8_or_nest_too_deeply_name_the_file(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("train:\n  seeds: 2  # café\n".encode("latin-1"))
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 100_000)
    for path, says in ((latin, "not UTF-8 text (byte 25); save the parameters as UTF-8"),
                       (deep, "nested too deeply")):
        with pytest.raises(UsageError) as exc:
            load_config(path)
        assert str(exc.value).startswith(f"{path}: ") and says in str(exc.value)
