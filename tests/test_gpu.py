"""GPU paths: run only where CUDA exists (skipped in CI, which has no GPU)."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from helpers import write_config

from rayjob.config import Config
from rayjob.train import main

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("channels_last", [False, True])
def test_in_process_run_on_the_gpu_in_16_mixed(
    tiny_config: Callable[..., Config], tmp_path: Path, capsys: pytest.CaptureFixture, channels_last: bool
) -> None:
    cfg = tiny_config(trainer__accelerator="auto", model__channels_last=channels_last)
    assert main(["--config", write_config(cfg, tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "16-mixed precision" in out  # accelerator auto -> gpu -> precision auto -> 16-mixed
    checkpoint = next(line.split()[1] for line in out.splitlines() if line.startswith("checkpoint "))
    state = torch.load(checkpoint, weights_only=True, map_location="cpu")
    assert state["hyper_parameters"]["config"]["trainer"]["precision"] == "16-mixed"
    assert torch.isfinite(next(iter(state["state_dict"].values())).float()).all()
