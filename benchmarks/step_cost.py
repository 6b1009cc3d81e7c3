"""Per-step cost of each architecture against the arithmetic it needs, on both demos.

    python benchmarks/step_cost.py [--steps 20] [--repeats 5] [--out benchmarks/results/step_cost]

For each demo and each architecture of params.yaml (plus cnn): the module the training
stage builds, on the training batches it draws (batch size, bucketing and padding as in
training), one thread. FLOPs of one optimizer step (forward + backward) are counted with
torch.utils.flop_counter; torch's fused CPU LSTM kernel is invisible to the counter, so an
nn.LSTM's matrix products are added from its shapes (2 * 4H(I + H) per token and layer,
x3 for forward + backward, the same rule the counter gives GRU and RNN). Timing: `--steps`
steps per architecture, the architectures interleaved, `--repeats` rounds; min and median.
Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from flows.stages.preprocess.stage import run as preprocess
from flows.stages.validate.stage import run as validate
from modules.budget import plan_batch
from modules.lit import auto_stem, module_for
from modules.training import TensorBatches, quiet_lightning, split_tensors
from schemas.artifacts import read_arrays, read_state
from schemas.config import load_config
from schemas.layout import Layout

ROOT = Path(__file__).resolve().parents[1]
DEMOS = {"forecast": ROOT / "data/forecast.csv", "classify": ROOT / "data/classify.csv"}
CNN = {"channels": 54}
MIN_FLOPS = 1e7  # below: a step is bound by per-call overhead, not arithmetic


def batches(demo: str, tmp: Path, n: int) -> tuple[object, list, dict]:
    """The prepared state, the first `n` training batches, and the config's model specs."""
    cfg = load_config(ROOT / "params.yaml", {"data.path": str(DEMOS[demo]),
                                             "out_dir": str(tmp / demo), "models.cnn": CNN})
    layout = Layout(tmp / demo)
    validate(cfg, layout)
    preprocess(cfg, layout)
    state, arrays = read_state(layout), read_arrays(layout)
    train = split_tensors(arrays, state.task, "train")
    size = plan_batch(cfg.train, len(arrays["y_train"]))
    drawn = [b for _, b in zip(range(n), TensorBatches(train, size, True, 0), strict=False)]
    specs = dict(cfg.models)
    if state.task == "classify":  # the stem stride the training stage would record
        stem = auto_stem(int(arrays["len_train"].max()))
        specs = {k: s.model_copy(update={"stem": s.stem if s.stem is not None else stem})
                 for k, s in specs.items()}
    return state, drawn, specs


def lstm_flops(module: torch.nn.Module, batch: tuple) -> int:
    """Forward + backward matrix-product FLOPs of every nn.LSTM for this batch, from shapes."""
    tokens: dict[torch.nn.LSTM, int] = {}
    hooks = [m.register_forward_hook(lambda m, i, o: tokens.__setitem__(m, i[0].shape[0] *
                                                                           i[0].shape[1]))
             for m in module.modules() if isinstance(m, torch.nn.LSTM)]
    with torch.no_grad():
        module.loss(batch)
    for h in hooks:
        h.remove()
    total = 0
    for m, n in tokens.items():
        dirs = 2 if m.bidirectional else 1
        for layer in range(m.num_layers):
            width_in = m.input_size if layer == 0 else m.hidden_size * dirs
            total += 3 * 2 * 4 * m.hidden_size * (width_in + m.hidden_size) * n * dirs
    return total


def step_flops(module: torch.nn.Module, drawn: list) -> float:
    """Mean FLOPs of one training step (forward + backward) over the drawn batches."""
    counted = 0
    for batch in drawn:
        with FlopCounterMode(display=False) as counter:
            module.loss(batch).backward()
        counted += counter.get_total_flops() + lstm_flops(module, batch)
    module.zero_grad(set_to_none=True)
    return counted / len(drawn)


def timed_steps(module: torch.nn.Module, opt: torch.optim.Optimizer, drawn: list) -> float:
    """Milliseconds per optimizer step (forward, backward, clip, AdamW) over the batches."""
    start = time.perf_counter()
    for batch in drawn:
        opt.zero_grad(set_to_none=True)
        module.loss(batch).backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        opt.step()
    return 1000 * (time.perf_counter() - start) / len(drawn)


def demo_rows(demo: str, tmp: Path, steps: int, repeats: int) -> list[str]:
    """One Markdown row per architecture of this demo."""
    state, drawn, specs = batches(demo, tmp, steps)
    modules = {name: module_for(spec, state) for name, spec in specs.items()}
    opts = {n: torch.optim.AdamW(m.parameters(), lr=1e-3) for n, m in modules.items()}
    flops = {n: step_flops(m, drawn) for n, m in modules.items()}
    for n, m in modules.items():  # warm-up round, untimed
        timed_steps(m, opts[n], drawn[:3])
    times: dict[str, list[float]] = {n: [] for n in modules}
    for _ in range(repeats):
        for n, m in modules.items():
            times[n].append(timed_steps(m, opts[n], drawn))
    rate = {n: flops[n] / (min(times[n]) / 1000) for n in modules}  # FLOP/s at the best round
    rows = []
    for n, m in modules.items():
        params = sum(p.numel() for p in m.parameters())
        ratio = f"{rate['lstm'] / rate[n]:.2f}" if flops[n] >= MIN_FLOPS else "- (overhead-bound)"
        rows.append(f"| {demo} | {n} | {params:,} | {flops[n] / 1e9:.3f} | "
                    f"{min(times[n]):.1f} | {statistics.median(times[n]):.1f} | "
                    f"{rate[n] / 1e9:.1f} | {ratio} |")
    return rows


def main() -> None:
    """Measure both demos; print and write OUT.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/step_cost")
    opts = parser.parse_args()
    quiet_lightning()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [r for demo in DEMOS for r in demo_rows(demo, Path(tmp), opts.steps, opts.repeats)]
    head = [f"# Per-step cost against FLOPs ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, 1 thread)",
            "", f"`python benchmarks/step_cost.py --steps {opts.steps} --repeats {opts.repeats}`"
            ": one optimizer step = forward + backward + clip + AdamW on the training batches "
            "of the demo; GFLOP counted for forward + backward; GFLOP/s at the fastest round; "
            "the last column is how many times slower per FLOP than the LSTM.", "",
            "| demo | model | params | GFLOP/step | ms/step min | ms/step median | GFLOP/s | "
            "x LSTM per FLOP |", "|---|---|---|---|---|---|---|---|"]
    text = "\n".join(head + rows) + "\n"
    Path(f"{opts.out}.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
