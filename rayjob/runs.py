"""Run folders: the resolved config written next to the outputs, and the guard against resuming a
folder with a different config (its checkpoints would be meaningless or unloadable)."""

from __future__ import annotations

from pathlib import Path

from rayjob.config import Config, get_dotted, known_keys, read_yaml
from rayjob.datasource import is_uri
from rayjob.errors import ConfigError

CONFIG_FILE = "config.yaml"

# Settings that may change between a run and its resumption.
RESUMABLE_CHANGES = {
    "trainer.max_epochs",
    "trainer.progress_bar",
    "data.num_workers",
    "data.pin_memory",
    "data.persistent_workers",
    "run.max_failures",
    "run.checkpoints_to_keep",
    "run.storage_path",
    "run.wandb",
    "run.wandb_project",
    "trainer.plots",
    "trainer.fault_kill_at_epoch",
}


def check_same_config(cfg: Config, run_dir: Path) -> None:
    """Refuse to resume ``run_dir`` when its config.yaml differs in anything but RESUMABLE_CHANGES."""
    file = run_dir / CONFIG_FILE
    if not file.is_file():
        return
    old = Config.from_dict(read_yaml(file)).to_dict()
    new = cfg.to_dict()
    changed = [k for k in known_keys() if get_dotted(old, k) != get_dotted(new, k) and k not in RESUMABLE_CHANGES]
    if changed:
        details = ", ".join(f"{k}: {get_dotted(old, k)!r} -> {get_dotted(new, k)!r}" for k in changed[:4])
        raise ConfigError(
            f"{run_dir} holds a run with another config ({details}); a rerun with the same run.name "
            "resumes it: pick a new run.name, or move that folder away"
        )


def write_run_config(cfg: Config, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(cfg.to_yaml())


def resolve_paths(cfg: Config) -> Config:
    """Make local paths absolute: Ray runs trials and workers in other working directories."""
    raw = cfg.to_dict()
    for section, key in (("data", "root"), ("data", "cache_dir"), ("model", "weights"), ("run", "storage_path")):
        value = raw[section][key]
        if value is not None and not is_uri(value):
            raw[section][key] = str(Path(value).expanduser().resolve())
    return Config.from_dict(raw)
