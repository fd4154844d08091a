"""Typed configuration: a schema with defaults, YAML loading and dotted overrides.

Every setting rayjob knows lives in the dataclasses below, so a typo or a wrong type is caught
before anything starts, and the message names the key and what it accepts. Configs travel to
Ray workers as plain dicts (``Config.to_dict``) and are rebuilt there (``Config.from_dict``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from rayjob.errors import ConfigError

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

AugmentName = Literal["none", "basic", "trivialaugment", "randaugment"]
Precision = Literal["auto", "32-true", "16-mixed", "bf16-mixed", "64-true"]


@dataclass
class DataConfig:
    """Where the images are and how they are turned into tensors."""

    root: str | None = None  # ImageFolder root; null = the embedded digits dataset
    cache_dir: str = "~/.cache/rayjob"  # where the embedded dataset is written once
    image_size: int = 32
    augment: AugmentName = "basic"
    randaugment_magnitude: int = 9
    random_erasing: float = 0.0  # probability; 0 disables it
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    batch_size: int = 64
    num_workers: int = 0  # DataLoader worker processes per training worker
    pin_memory: bool = False
    persistent_workers: bool = False
    weighted_sampler: bool = False  # draw classes evenly (inverse-frequency weights)


@dataclass
class ModelConfig:
    backbone: str = "resnet18"
    weights: str | None = None  # local state_dict file; nothing is ever downloaded


@dataclass
class OptimConfig:
    lr: float = 1.0e-3
    weight_decay: float = 0.05  # not applied to norm layers and biases
    warmup_epochs: float = 1.0  # linear LR warmup, then cosine decay per step
    min_lr_ratio: float = 0.01  # final LR as a fraction of lr


@dataclass
class LossConfig:
    label_smoothing: float = 0.0
    class_weights: bool = False  # inverse-frequency class weights in the cross-entropy


@dataclass
class EmaConfig:
    enabled: bool = True
    decay: float = 0.999
    warmup: bool = True  # effective decay min(decay, (1+n)/(10+n)) after n updates


@dataclass
class TrainerConfig:
    max_epochs: int = 8
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    precision: Precision = "auto"  # auto: 16-mixed on GPU, 32-true on CPU
    gradient_clip_val: float | None = 1.0
    accumulate_grad_batches: int = 1
    seed: int = 0
    deterministic: bool = False
    limit_train_batches: float = 1.0  # fraction (<= 1.0) or a batch count (> 1)
    limit_val_batches: float = 1.0
    progress_bar: bool = True  # only shown in-process (scaling.num_workers: 0)
    plots: bool = True  # confusion-matrix / history / sample data in every checkpoint, rendered at the end
    early_stopping_patience: int | None = None  # rayjob.train only: stop after N epochs without improvement
    fault_kill_at_epoch: int | None = None  # testing: SIGKILL the training process once, during this epoch


@dataclass
class ScalingConfig:
    num_workers: int = 0  # 0: run in this process (debuggable); N: N Ray Train workers (DDP)
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 1.0  # used when the accelerator is a GPU; fractions allowed


@dataclass
class RunConfig:
    name: str = "quickstart"
    storage_path: str = "results"  # local folder, or s3:// / gs:// / shared filesystem
    checkpoints_to_keep: int = 2
    max_failures: int = 0  # worker-group restarts per run before it fails
    wandb: Literal["off", "offline", "online"] = "off"  # sweeps log each trial through Tune's Wandb callback
    wandb_project: str = "rayjob"  # online needs WANDB_API_KEY in the environment, never in a config


MetricName = Literal["val/acc_top1", "val/acc_top5", "val/f1_macro", "val/loss", "train/loss"]


@dataclass
class SearchConfig:
    """The sweep (``python -m rayjob.tune``): Optuna TPE proposes, ASHA stops the weak early."""

    num_samples: int = 10
    metric: MetricName = "val/acc_top1"
    mode: Literal["max", "min"] = "max"
    seed: int = 0
    scheduler: Literal["asha", "fifo"] = "asha"
    grace_period: int = 1  # ASHA: epochs every trial gets before it can be stopped
    reduction_factor: float = 3.0  # ASHA: keep the top 1/reduction_factor at each rung
    max_concurrent_trials: int | None = None  # null: as many as the cluster's resources fit
    trial_max_failures: int = 1  # retries of a failed trial (from its last checkpoint)
    worker_start_retries: int = 2  # Train worker groups that cannot start: retries, then the trial fails
    driver_resources: dict[str, float] = field(default_factory=dict)  # added to each trial driver's request,
    # e.g. {rayjob_driver: 0.01} to keep drivers on the head node of cluster.yaml
    space: dict[str, Any] = field(default_factory=dict)  # dotted key -> {choice|uniform|loguniform|randint: ...}
    points_to_evaluate: list[dict[str, Any]] = field(default_factory=list)  # first trials, dotted keys


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    scaling: ScalingConfig = field(default_factory=ScalingConfig)
    run: RunConfig = field(default_factory=RunConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        """Build and validate a config; raises ConfigError naming the offending key."""
        config = _build(cls, raw, prefix="")
        _check_values(config)
        return config

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML file (or start from defaults), apply ``key.sub=value`` overrides, validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_yaml(path)
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(raw, key, value)
    return Config.from_dict(raw)


def read_yaml(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} does not exist; pass an existing YAML file to --config")
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {file} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {file} must hold a mapping of sections, not {type(raw).__name__}")
    return raw


def parse_override(item: str) -> tuple[str, Any]:
    """``optim.lr=3e-4`` -> ("optim.lr", 3e-4); the value is read as YAML."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not of the form section.key=value (e.g. optim.lr=3e-4)")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key}: {part} is a value, not a section")
        node = child
    node[parts[-1]] = value


def get_dotted(raw: dict[str, Any], key: str) -> Any:
    node: Any = raw
    for part in key.split("."):
        node = node[part]
    return node


def known_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """All dotted leaf keys of the schema, e.g. ``optim.lr``."""
    keys: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            keys.extend(known_keys(hints[f.name], f"{name}."))
        else:
            keys.append(name)
    return keys


def _build(cls: type, raw: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "the config"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            hint = difflib.get_close_matches(str(key), names, n=1)
            did_you_mean = f" (did you mean {prefix}{hint[0]}?)" if hint else ""
            raise ConfigError(f"unknown config key {prefix}{key}{did_you_mean}; keys of {where}: {', '.join(names)}")
    values = {}
    for name in names:
        if name not in raw:
            continue
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, raw[name] if raw[name] is not None else {}, f"{prefix}{name}.")
        else:
            values[name] = _coerce(raw[name], kind, f"{prefix}{name}")
    return cls(**values)


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """Return ``value`` as ``kind`` or raise a ConfigError that says what ``key`` accepts."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(str(a) for a in args)
            raise ConfigError(f"{key}={value!r} is not allowed; choose one of: {allowed}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}={value!r} has the wrong type: {_describe(kind)}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}={value!r} has the wrong type: expected a list of {_describe(args[0])}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r} has the wrong type: expected a mapping")
        return dict(value)
    if kind is Any:
        return value
    if kind is float and isinstance(value, str):  # YAML 1.1 reads "3e-4" as a string
        with contextlib.suppress(ValueError):
            return float(value)
    if _is_scalar(value, kind):
        return float(value) if kind is float else value
    raise ConfigError(f"{key}={value!r} has the wrong type: expected {_describe(kind)}")


def _is_scalar(value: Any, kind: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind in (int, float) and isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float))
    return kind in (int, str) and isinstance(value, kind)


def _describe(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(kind))
    if origin is list:
        return f"a list of {_describe(typing.get_args(kind)[0])}"
    return {type(None): "null", bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(
        kind, getattr(kind, "__name__", str(kind))
    )


def _check_values(config: Config) -> None:
    """Range checks that types alone cannot express."""
    checks: list[tuple[bool, str]] = [
        (config.data.image_size >= 8, "data.image_size must be at least 8"),
        (config.data.batch_size >= 1, "data.batch_size must be at least 1"),
        (config.data.num_workers >= 0, "data.num_workers must be 0 or more"),
        (0.0 <= config.data.random_erasing <= 1.0, "data.random_erasing is a probability in [0, 1]"),
        (0 <= config.data.randaugment_magnitude <= 30, "data.randaugment_magnitude must be in [0, 30]"),
        (len(config.data.mean) == 3 and len(config.data.std) == 3, "data.mean and data.std need 3 values (RGB)"),
        (all(s > 0 for s in config.data.std), "data.std values must be positive"),
        (config.optim.lr > 0, "optim.lr must be positive"),
        (config.optim.weight_decay >= 0, "optim.weight_decay must be 0 or more"),
        (config.optim.warmup_epochs >= 0, "optim.warmup_epochs must be 0 or more"),
        (0.0 <= config.optim.min_lr_ratio <= 1.0, "optim.min_lr_ratio must be in [0, 1]"),
        (0.0 <= config.loss.label_smoothing < 1.0, "loss.label_smoothing must be in [0, 1)"),
        (0.0 < config.ema.decay < 1.0, "ema.decay must be in (0, 1), e.g. 0.999"),
        (config.trainer.max_epochs >= 1, "trainer.max_epochs must be at least 1"),
        (config.trainer.accumulate_grad_batches >= 1, "trainer.accumulate_grad_batches must be at least 1"),
        (config.trainer.limit_train_batches > 0, "trainer.limit_train_batches must be positive"),
        (config.trainer.limit_val_batches > 0, "trainer.limit_val_batches must be positive"),
        (
            config.trainer.early_stopping_patience is None or config.trainer.early_stopping_patience >= 1,
            "trainer.early_stopping_patience must be null (off) or at least 1 epoch",
        ),
        (config.scaling.num_workers >= 0, "scaling.num_workers must be 0 (in-process) or more"),
        (config.scaling.cpus_per_worker > 0, "scaling.cpus_per_worker must be positive"),
        (config.scaling.gpus_per_worker > 0, "scaling.gpus_per_worker must be positive"),
        (config.run.checkpoints_to_keep >= 1, "run.checkpoints_to_keep must be at least 1"),
        (config.run.max_failures >= -1, "run.max_failures must be -1 (unlimited), 0 or more"),
        (bool(config.run.name.strip()) and "/" not in config.run.name, "run.name must be a non-empty folder name"),
        (config.search.num_samples >= 1, "search.num_samples must be at least 1"),
        (config.search.grace_period >= 1, "search.grace_period must be at least 1 epoch"),
        (config.search.reduction_factor > 1, "search.reduction_factor must be greater than 1"),
        (config.search.trial_max_failures >= -1, "search.trial_max_failures must be -1 (unlimited), 0 or more"),
        (config.search.worker_start_retries >= 0, "search.worker_start_retries must be 0 or more"),
        (
            config.search.max_concurrent_trials is None or config.search.max_concurrent_trials >= 1,
            "search.max_concurrent_trials must be null (derived from resources) or at least 1",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
