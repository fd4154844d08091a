"""A sweep with a time budget: it stops starting trials, exports its best, says so, and refuses --resume."""

import csv
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import write_config

from rayjob.config import Config
from rayjob.errors import ConfigError
from rayjob.results import read_records
from rayjob.tune import main

BUDGET_S = 15


def test_a_time_budget_ends_the_sweep_exports_its_best_and_is_not_resumed(
    tiny_config: Callable[..., Config], tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_config(
        search__space={"optim.lr": {"loguniform": [3e-4, 3e-3]}},
        search__num_samples=100,  # far more than fit in the budget
        search__scheduler="fifo",
        search__max_concurrent_trials=1,
        search__time_budget=f"{BUDGET_S}s",
        search__price_per_hour=0.5,
    )
    config_file = write_config(cfg, tmp_path)
    started = time.monotonic()
    assert main(["--config", config_file]) == 0
    wall = time.monotonic() - started
    out = capsys.readouterr().out
    experiment = Path(cfg.run.storage_path) / cfg.run.name

    records = read_records(str(experiment))
    assert 1 <= len(records) < 100
    assert all(r.status in ("COMPLETED", "STOPPED") for r in records)  # none left unfinished
    assert f"the time budget ({BUDGET_S} s) ended the sweep after {len(records)} trials" in out
    assert (experiment / "export" / "model.onnx").is_file()
    assert "time budget" in (experiment / "report.md").read_text()
    assert wall < BUDGET_S + 60  # one epoch of the running trial, then the post-hook

    # Compute used: per trial in the table, in total with its cost in the summary.
    rows = list(csv.DictReader((experiment / "trials.csv").open()))
    # 4 decimals: a trial the budget stopped almost at once can honestly show 0.0000 (a test saw it)
    assert all(float(row["cpu_hours"]) >= 0 and float(row["gpu_hours"]) == 0 for row in rows)
    total = sum(float(row["cpu_hours"]) for row in rows)
    assert total > 0  # the first trial's first epoch alone holds its CPU for seconds
    line = re.search(r"compute +([\d.]+) CPU-hours, 0.00 GPU-hours; cost ([\d.]+) at 0.5 per CPU-hour", out)
    assert line is not None, out
    assert float(line[1]) == pytest.approx(total, abs=0.006) and float(line[2]) == pytest.approx(total / 2, abs=0.006)

    with pytest.raises(ConfigError, match=r"ended the sweep after \d+ trials; it is finished and cannot be resumed"):
        main(["--config", config_file, "--resume"])
