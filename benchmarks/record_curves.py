"""Record the learning curves of every point of the quickstart space, under 2 training seeds.

    python benchmarks/record_curves.py      # rewrites benchmarks/curves_quickstart.json (~40 min on 2 cores)
    python benchmarks/record_curves.py --task camera-shapes          # another embedded task: curves_camera-shapes.json
    python benchmarks/record_curves.py --seeds 2 3 --spread 16 --add # 2 more seeds of 16 points across the ranking
    python benchmarks/record_curves.py --seeds 2 3 4 5 --top 8 --add # the 8 best points under seeds 2-5 too
    python benchmarks/record_curves.py --seeds 2 3 --base --add      # the base config under seeds 2 and 3 too

It runs the real sweep (`python -m rayjob.tune --config configs/quickstart.yaml`) with every grid point of
the quickstart's space (all `choice`) x each seed handed in as `points_to_evaluate`, FIFO (no early stopping),
no base trial and `trainer.test_curve: true`, so each point trains all `trainer.max_epochs` epochs exactly as a
sweep trial does, and its test split is evaluated after every epoch too (nothing selects on it here). The JSON
keeps, per point and seed, val top-1, val loss and test top-1 at every epoch: what the replay
(`benchmarks/replay.py`, `benchmarks/search_quality.py --replay`, `tests/test_search_replay.py`) draws from.
With `--add` the new runs join the task's file (its points' seed lists grow; a run already recorded is not
trained again): the points recorded under more seeds give the replay its measure of run-to-run noise
(`benchmarks/replay.py, noise_pool`), and the best points recorded under more seeds tell what the space's best
scores across training seeds, not only in the 2 every point shares (`benchmarks/search_quality.py`, real sweeps).
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from replay import curve_table
from timing import ROOT

from rayjob.config import load_config
from rayjob.layout import trial_dir_name
from rayjob.results import read_records
from rayjob.sweep.space import base_point, parse_spec

CONFIG = ROOT / "configs" / "quickstart.yaml"
DEFAULT_TASK = "camera-digits"  # the quickstart's own
SEEDS = (0, 1)
SIGNALS = ("val/acc_top1", "val/loss", "test/acc_top1")  # recorded per epoch, under these names in the JSON
NAMES = {"val/acc_top1": "val_acc", "val/loss": "val_loss", "test/acc_top1": "test_acc"}


def quickstart_grid() -> dict[str, list[Any]]:
    """The quickstart's space, every key a choice list (the config declares it so)."""
    grid = {}
    for key, spec in load_config(CONFIG).search.space.items():
        kind, values = parse_spec(f"search.space.{key}", spec)
        if kind != "choice":
            raise SystemExit(f"search.space.{key} is {kind}: a recorded grid needs every key as a choice")
        grid[key] = list(values)
    return grid


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def curves_file(task: str) -> Path:
    """Where a task's curves live (the quickstart's task keeps its first name)."""
    name = "quickstart" if task == DEFAULT_TASK else task
    return Path(__file__).with_name(f"curves_{name}.json")


def spread(recorded: dict, count: int) -> list[dict[str, Any]]:
    """``count`` recorded points evenly across the ranking of their mean final test top-1 (good and bad alike)."""
    ranked = sorted(recorded["configs"], key=lambda c: sum(s["test_acc"][-1] for s in c["seeds"]) / len(c["seeds"]))
    step = (len(ranked) - 1) / max(1, count - 1)
    return [ranked[round(i * step)]["params"] for i in range(min(count, len(ranked)))]


def top(recorded: dict, count: int) -> list[dict[str, Any]]:
    """The ``count`` best recorded points by mean final test top-1 over the seeds every point was recorded under
    (``Curves.mean`` without noise: a point recorded under more seeds is not judged on other draws)."""
    curves = curve_table(recorded, noise=False)
    ranked = sorted(curves.means, key=lambda key: curves.mean(key).test_acc[-1], reverse=True)
    return [dict(json.loads(key)) for key in ranked[:count]]


def missing(pairs: list[tuple[dict[str, Any], int]], recorded: dict) -> list[tuple[dict[str, Any], int]]:
    """The (point, seed) runs of ``pairs`` that ``recorded`` does not hold yet."""
    held = {(json.dumps(sorted(c["params"].items())), s["seed"]) for c in recorded["configs"] for s in c["seeds"]}
    return [(p, seed) for p, seed in pairs if (json.dumps(sorted(p.items())), seed) not in held]


def record(task: str, runs: list[tuple[dict[str, Any], int]]) -> dict:
    """Train each (point, trainer.seed) of ``runs`` in one FIFO sweep and return the task's curves file of them."""
    grid = quickstart_grid()
    seeds = sorted({seed for _, seed in runs})
    points = [{**p, "trainer.seed": seed} for p, seed in runs]
    with tempfile.TemporaryDirectory(prefix="rayjob-curves-") as tmp:
        overrides = {
            "search.space": {**{k: {"choice": v} for k, v in grid.items()}, "trainer.seed": {"choice": list(seeds)}},
            "data.embedded": task,
            "search.points_to_evaluate": points,
            "search.num_samples": len(points),
            "search.scheduler": "fifo",
            "search.include_base": False,
            "search.algorithm": "random",
            "run.storage_path": tmp,
            "run.name": "curves",
            "run.checkpoints_to_keep": 1,
            "trainer.plots": False,
            "trainer.test_curve": True,
        }
        command = [sys.executable, "-m", "rayjob.tune", "--config", str(CONFIG)]
        command += [f"{key}={flow_yaml(value)}" for key, value in overrides.items()]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - started
        experiment = Path(tmp) / "curves"
        records = read_records(str(experiment)) or []
        if len(records) != len(points) or any(r.status != "COMPLETED" for r in records):
            print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
            raise SystemExit(f"the recording sweep did not complete every point (exit {done.returncode})")
        by_point: dict[str, dict[str, Any]] = {}
        for r in records:
            params = {k: v for k, v in r.params.items() if k != "trainer.seed"}
            entry = by_point.setdefault(json.dumps(sorted(params.items())), {"params": params, "seeds": []})
            signals = epoch_signals(experiment / trial_dir_name(r.trial_id))
            seconds = round((r.ended or 0) - (r.started or 0), 1)
            entry["seeds"].append({"seed": r.params["trainer.seed"], **signals, "seconds": seconds})
    configs = sorted(by_point.values(), key=lambda c: json.dumps(sorted(c["params"].items())))
    for c in configs:
        c["seeds"].sort(key=lambda s: s["seed"])
    cfg = load_config(CONFIG, [f"data.embedded={task}"])
    return {
        "how": __doc__.strip().splitlines()[0],
        "task": f"{task} (rayjob.data.digits), image_size {cfg.data.image_size}",
        "config": str(CONFIG.relative_to(ROOT)),
        "grid": grid,
        "max_epochs": cfg.trainer.max_epochs,
        "test_images": test_images(task),
        "wall_s": round(wall, 1),
        "configs": configs,
    }


def epoch_signals(trial_folder: Path) -> dict[str, list[float]]:
    """val_acc / val_loss / test_acc per epoch from the trial's result.json (one line per report)."""
    rows = [json.loads(line) for line in (trial_folder / "result.json").read_text().splitlines() if line.strip()]
    rows.sort(key=lambda row: row["epoch"])
    return {NAMES[s]: [round(float(row[s]), 6) for row in rows] for s in SIGNALS}


def test_images(task: str) -> int:
    from rayjob.data.files import scan_dataset
    from rayjob.data.sources import resolve_root

    return len(scan_dataset(resolve_root(load_config(CONFIG, [f"data.embedded={task}"]).data)).splits["test"].samples)


def merged(old: dict, new: dict) -> dict:
    """``old`` with ``new``'s runs added to their points (a seed recorded again replaces the old run)."""
    by_key = {json.dumps(sorted(c["params"].items())): c for c in old["configs"]}
    for c in new["configs"]:
        entry = by_key[json.dumps(sorted(c["params"].items()))]
        fresh = {s["seed"] for s in c["seeds"]}
        entry["seeds"] = sorted([s for s in entry["seeds"] if s["seed"] not in fresh] + c["seeds"],
                                key=lambda s: s["seed"])  # fmt: skip
    return {**old, "wall_s": round(old["wall_s"] + new["wall_s"], 1)}


def flow_yaml(value: object) -> str:
    """A value as one line of YAML, the form dotted overrides take."""
    return yaml.safe_dump(value, default_flow_style=True, width=1_000_000).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--task", default=DEFAULT_TASK, help=f"the embedded dataset (default {DEFAULT_TASK})")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="trainer.seed values (default 0 1)")
    parser.add_argument("--spread", type=int, help="only N points spread across the task's recorded ranking")
    parser.add_argument("--top", type=int, help="only the task's N best recorded points")
    parser.add_argument("--base", action="store_true", help="only the quickstart's base config")
    parser.add_argument("--add", action="store_true", help="add the runs to the task's file instead of rewriting it")
    parser.add_argument("--limit", type=int, help="only the first N grid points (a smoke run)")
    parser.add_argument("--out", type=Path, help="where to write (default benchmarks/curves_<task>.json)")
    args = parser.parse_args()
    out = args.out or curves_file(args.task)
    needs_old = args.add or args.spread or args.top or args.base
    old = json.loads(out.read_text()) if needs_old and out.is_file() else None
    if needs_old and old is None:
        raise SystemExit(f"--add, --spread, --top and --base need the task's recorded curves: {out} is missing")
    if sum(map(bool, (args.top, args.spread, args.base))) > 1:
        raise SystemExit("--top, --spread and --base choose points different ways: give one")
    chosen = spread(old, args.spread) if args.spread else top(old, args.top) if args.top else None
    chosen = [base_point(load_config(CONFIG))] if args.base else chosen
    chosen = chosen if chosen is not None else grid_points(quickstart_grid())[: args.limit]
    runs = [(p, seed) for seed in args.seeds for p in chosen]
    if args.add:
        runs = missing(runs, old)
        if not runs:
            print(f"every asked run is already in {out}: nothing to record")
            return 0
    curves = record(args.task, runs)
    wall = curves["wall_s"]
    if args.add:
        curves = merged(old, curves)
    out.write_text(json.dumps(curves, indent=None, separators=(",", ":")) + "\n")
    print(f"{len(runs)} runs recorded in {wall:.0f} s; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
