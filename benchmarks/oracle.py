"""The oracle for benchmarks/search_quality.py: every point of a discretised quickstart space, trained to the end.

    python benchmarks/oracle.py            # regenerate benchmarks/oracle_quickstart.json (~35 min on 2 cores)

It runs the real sweep (`python -m rayjob.tune --config configs/quickstart.yaml`) with the space replaced
by the grid below as `choice` lists, every grid point handed in as `points_to_evaluate`, FIFO (no early
stopping) and no base trial, so each point trains all `trainer.max_epochs` epochs exactly as a sweep
trial would. The JSON keeps each point's learning curve (val/acc_top1 per epoch) and wall time: the
oracle value is the best point's best epoch, and the curves are what tests/test_search_replay.py replays
through the real searcher and scheduler.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from timing import ROOT

from rayjob.sweep.results import read_records

ORACLE_FILE = Path(__file__).with_name("oracle_quickstart.json")
CONFIG = ROOT / "configs" / "quickstart.yaml"
# The quickstart space's keys that move the result most; ema.decay and optim.weight_decay stay at the
# config's values (0.99 and 0.05; with the EMA warmup of a 6-epoch run the effective decay never exceeds
# ~0.93, so 0.99 and 0.999 train identically). 24 points x 6 epochs: ~35 min on 2 cores.
# Values the grid runs with whatever the quickstart says: the JSON's curves were recorded with a 1-epoch LR
# warmup (the quickstart's value then); the replay tests judge the first rung after it, at epoch 2.
FIXED: dict[str, float] = {"ema.decay": 0.99, "optim.weight_decay": 0.05, "optim.warmup_epochs": 1.0}
GRID: dict[str, list] = {
    "model.backbone": ["resnet18", "regnet_y_400mf"],
    "data.augment": ["none", "basic"],
    "optim.lr": [3.0e-4, 1.0e-3, 3.0e-3],
    "loss.label_smoothing": [0.0, 0.1],
}


def grid_points() -> list[dict]:
    keys = list(GRID)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*GRID.values())]


def run_grid() -> dict:
    points = grid_points()
    with tempfile.TemporaryDirectory(prefix="rayjob-oracle-") as tmp:
        overrides = {
            **FIXED,
            "search.space": {key: {"choice": values} for key, values in GRID.items()},
            "search.points_to_evaluate": points,
            "search.num_samples": len(points),
            "search.scheduler": "fifo",
            "search.include_base": False,
            "search.algorithm": "random",
            "run.storage_path": tmp,
            "run.name": "oracle",
            "run.checkpoints_to_keep": 1,
            "trainer.plots": False,
        }
        command = [sys.executable, "-m", "rayjob.tune", "--config", str(CONFIG)]
        command += [f"{key}={flow_yaml(value)}" for key, value in overrides.items()]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - started
        records = read_records(str(Path(tmp) / "oracle")) or []
    if len(records) != len(points) or any(r.status != "COMPLETED" for r in records):
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit(f"the oracle sweep did not complete every point (exit {done.returncode})")
    configs = [{"params": r.params, "curve": r.curve, "seconds": (r.ended or 0) - (r.started or 0)} for r in records]
    return {
        "how": __doc__.strip().splitlines()[0],
        "config": str(CONFIG.relative_to(ROOT)),
        "metric": "val/acc_top1",
        "grid": GRID,
        "fixed": FIXED,
        "wall_s": round(wall, 1),
        "configs": configs,
    }


def flow_yaml(value: object) -> str:
    """A value as one line of YAML, the form dotted overrides take."""
    return yaml.safe_dump(value, default_flow_style=True).strip()


def load_oracle() -> dict:
    if not ORACLE_FILE.is_file():
        raise SystemExit(f"{ORACLE_FILE} is missing: run python benchmarks/oracle.py first")
    return json.loads(ORACLE_FILE.read_text())


def oracle_value(oracle: dict) -> float:
    """The best any grid point reached at any epoch (what a perfect search over the grid would report)."""
    return max(max(v for v in c["curve"] if v is not None) for c in oracle["configs"])


def main() -> int:
    oracle = run_grid()
    ORACLE_FILE.write_text(json.dumps(oracle, indent=1) + "\n")
    print(f"{len(oracle['configs'])} grid points in {oracle['wall_s']:.0f} s; oracle {oracle_value(oracle):.4f}")
    print(f"written to {ORACLE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
