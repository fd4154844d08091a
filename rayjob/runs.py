"""Run folders: the resolved config written next to the outputs, and the guard against resuming a
folder with a different config (its checkpoints would be meaningless or unloadable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rayjob.config import Config, get_dotted, known_keys, parse_yaml
from rayjob.errors import ConfigError
from rayjob.layout import CHECKPOINT_FILE, CHECKPOINT_METRICS_FILE, CONFIG_FILE
from rayjob.ranking import best
from rayjob.storage import is_uri, join, read_text, write_text

# Settings that may change between a run and its resumption: they shape neither the model nor its data.
RESUMABLE_CHANGES = frozenset(
    {
        "trainer.max_epochs",
        "trainer.progress_bar",
        "trainer.plots",
        "data.num_workers",
        "data.pin_memory",
        "data.persistent_workers",
        "data.cache",
        "data.cache_dir",
        "run.max_failures",
        "run.checkpoints_to_keep",
        "run.storage_path",
        "run.wandb",
        "run.wandb_project",
        "run.ray_dashboard",
        "scaling.worker_start_retries",
        "search.max_concurrent_trials",
        "search.time_budget",  # each driver's own clock
        "search.price_per_hour",
    }
)


def config_changes(old: Config, new: Config) -> list[str]:
    """Dotted keys whose values differ and may not change on resume."""
    a, b = old.to_dict(), new.to_dict()
    return [k for k in known_keys() if get_dotted(a, k) != get_dotted(b, k) and k not in RESUMABLE_CHANGES]


def check_same_config(cfg: Config, run_dir: str) -> None:
    """Refuse to resume ``run_dir`` when its config.yaml differs in anything but RESUMABLE_CHANGES."""
    old = read_run_config(run_dir)
    if old is None:
        return
    changed = config_changes(old, cfg)
    if changed:
        a, b = old.to_dict(), cfg.to_dict()
        details = ", ".join(f"{k}: {get_dotted(a, k)!r} -> {get_dotted(b, k)!r}" for k in changed[:4])
        raise ConfigError(
            f"{run_dir} holds a run with another config ({details}); a rerun with the same run.name "
            "resumes it: pick a new run.name, or move that folder away"
        )


def write_run_config(cfg: Config, run_dir: str) -> str:
    file = join(run_dir, CONFIG_FILE)
    write_text(file, cfg.to_yaml())
    return file


def read_run_config(run_dir: str) -> Config | None:
    """The config a run or sweep folder was started with, or None when it has none."""
    file = join(run_dir, CONFIG_FILE)
    text = read_text(file)
    return None if text is None else Config.from_dict(parse_yaml(text, file))


def resolve_paths(cfg: Config) -> Config:
    """Make local paths absolute: Ray runs trials and workers in other working directories."""
    values = {}
    for key in ("data.root", "data.cache_dir", "model.weights", "run.storage_path"):
        value = get_dotted(cfg.to_dict(), key)
        if value is not None and not is_uri(value):
            values[key] = str(Path(value).expanduser().resolve())
    return cfg.with_values(values)


def best_checkpoint(run_dir: Path, metric: str, mode: str) -> tuple[Path, dict[str, Any]] | None:
    """The best epoch's checkpoint file of a run folder and its metrics (every checkpoint folder holds its
    epoch's ``metrics.json``), or None when no complete checkpoint is there."""
    scored = []
    for metrics_file in sorted(run_dir.glob(f"checkpoint_*/{CHECKPOINT_METRICS_FILE}")):
        if (metrics_file.parent / CHECKPOINT_FILE).is_file():
            scored.append((metrics_file.parent / CHECKPOINT_FILE, json.loads(metrics_file.read_text())))
    return best(scored, lambda item: item[1].get(metric), mode)
