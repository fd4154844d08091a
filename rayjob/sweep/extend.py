"""``python -m rayjob.tune --extend N``: N more trials for a finished (or budget-ended) sweep.

Tune cannot add trials to a finished experiment (ray-project/ray#30223), so the new trials run as a Tune
experiment of their own inside the sweep folder, ``<sweep>/extend-<k>/``; the earlier trials, their folders,
checkpoints and ids stay where they are. The sweep stays one sweep:
- one Optuna study: on local storage the sweep's own journal (``optuna_journal.log``), so TPE sees every
  earlier trial; on a URI (where the study lives in Tune's searcher state) a new study seeded with the earlier
  trials, as ``search.warm_start`` seeds one;
- one set of rungs: rayjob's ASHA starts with the earlier trials' results on its rungs, so a new trial is
  ranked against them at once;
- one table: ``trials.jsonl`` / ``trials.csv``, the best trial, the report and the ONNX export are redone over
  every trial. The earlier records are kept as they were.
An extension interrupted before its end is continued by the same ``--extend N`` command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rayjob.config import Config
from rayjob.errors import ConfigError
from rayjob.layout import CONFIG_FILE, EXTENDED_MARK, STUDY_FILE, run_dir
from rayjob.results import TrialRecord, read_records
from rayjob.runs import check_same_config
from rayjob.storage import exists, is_uri, join, write_text


@dataclass
class Extension:
    parent: str  # the sweep folder (or URI)
    folder: str  # this extension's Tune experiment, inside it
    earlier: list[TrialRecord]
    study_file: Path | None  # the sweep's Optuna journal (local storage), else None: seed a new study
    study_name: str


def plan_extension(cfg: Config, trials: int) -> tuple[Config, Extension]:
    """The config the extension runs (its own experiment, N trials, no base trial) and what it extends."""
    if trials < 1:
        raise ConfigError(f"--extend {trials}: give the number of trials to add, at least 1")
    parent = run_dir(cfg.run.storage_path, cfg.run.name)
    earlier = read_records(parent)
    if earlier is None:
        raise ConfigError(f"--extend: {parent} holds no finished sweep to extend; run the sweep first (same run.name)")
    if any(r.status == "UNFINISHED" for r in earlier):
        raise ConfigError(f"--extend: the sweep in {parent} was interrupted; finish it with --resume first")
    check_same_config(cfg, parent)
    k = _next_extension(parent)
    folder = join(parent, f"extend-{k}")
    extension_cfg = cfg.with_values({
        "search.num_samples": trials,
        "search.include_base": False,  # the base trial ran in the sweep itself
        "search.warm_start": None,
        "search.points_to_evaluate": [],
        "run.storage_path": parent,
        "run.name": f"extend-{k}",
    })  # fmt: skip
    study_file = None if is_uri(parent) else Path(parent) / STUDY_FILE
    return extension_cfg, Extension(parent, folder, earlier, study_file, cfg.run.name)


def mark_extended(extension: Extension, trials: int) -> None:
    write_text(join(extension.folder, EXTENDED_MARK), json.dumps({"trials": trials}))


def _next_extension(parent: str) -> int:
    """The first extension folder not yet finished (an interrupted one is continued), else a new one."""
    k = 1
    while exists(join(parent, f"extend-{k}", CONFIG_FILE)):
        if not exists(join(parent, f"extend-{k}", EXTENDED_MARK)):
            return k
        k += 1
    return k
