"""train.accelerator: auto trains where torch sees a GPU, else on the CPU; the card and the
report say where; `gpu` without one is refused with the fix; GPU weights reload on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from flows.cli.main import main
from modules.model_files import load_model
from schemas.artifacts import ModelCard, read, read_state
from schemas.layout import Job, Layout
from tests.helpers import run_stages, tiny_config

ONE = {"gru": {"hidden": 8, "layers": 1}}


@pytest.mark.slow  # a whole pipeline run
def test_auto_trains_on_what_torch_sees_and_the_report_says_where(forecast_csv: Path,
                                                                   tmp_path: Path) -> None:
    cfg = tiny_config(forecast_csv, tmp_path / "out", models=ONE,
                      **{"train.accelerator": "auto"})
    run_stages(cfg)
    layout = Layout(tmp_path / "out")
    card = read(ModelCard, layout.card(Job("gru", 0, 0)))
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert card.device.split(" ")[0] == expected
    assert f"trained on {card.device}" in layout.report.read_text(encoding="utf-8")
    assert f"trained on {card.device}" in layout.report_html.read_text(encoding="utf-8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_without_a_gpu_is_refused_with_the_fix(forecast_csv: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    code = main(["compare", str(forecast_csv), "--out", str(tmp_path / "out"),
                 "--set", "train.accelerator=gpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert "train.accelerator is gpu" in err and "auto" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("runs/*"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")
def test_a_model_trained_on_gpu_reloads_on_cpu(forecast_csv: Path, tmp_path: Path) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cfg = tiny_config(forecast_csv, tmp_path / "out", models=ONE, **{"train.accelerator": "gpu"})
    run_stages(cfg)
    folder = Layout(tmp_path / "out").card(Job("gru", 0, 0)).parent
    state = read_state(Layout(tmp_path / "out"))
    module, card = load_model(folder, state)
    assert card.device.startswith("cuda")
    assert next(module.parameters()).device.type == "cpu"
    x = torch.randn(4, 8, state.n_features)  # (B, T, F)
    with torch.no_grad():
        on_cpu = module(x)
        on_gpu = module.to("cuda")(x.cuda()).cpu()
    assert torch.allclose(on_cpu, on_gpu, atol=1e-4)
