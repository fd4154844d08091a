"""Typed configuration: a pydantic schema with defaults, YAML loading and dotted overrides.

Every setting rayjob knows lives in the models below: unknown keys are refused, types and ranges are
declared on the fields, and a violation becomes one ``ConfigError`` line that names the key and what
it accepts (``rayjob.config_errors`` words it). Configs travel to Ray workers as plain dicts
(``Config.to_dict``) and are rebuilt there (``Config.from_dict``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rayjob.config_errors import describe_validation_error
from rayjob.errors import ConfigError

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

Precision = Literal["auto", "32-true", "16-mixed", "bf16-mixed", "64-true"]
MetricName = Literal["val/acc_top1", "val/acc_top5", "val/f1_macro", "val/loss", "train/loss"]
Rgb = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=3, max_length=3)]
PositiveFloat = Annotated[float, Field(gt=0)]
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


class _ConfigLoader(yaml.SafeLoader):
    """YAML as configs mean it: only true / false are booleans (YAML 1.2). PyYAML's 1.1 rules also read a bare
    on / off / yes / no as one, so ``run.wandb: off`` or ``run.ray_dashboard=on`` reached a word-valued setting
    as False / True and was refused; boolean settings still take those words (pydantic reads them)."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class Section(BaseModel):
    """A config section: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AugmentSection(Section):
    """Training-time augmentation as knobs, each searchable (``data.augment.degrade: {uniform: [0, 0.8]}``).

    The defaults suit digits, text and jersey numbers: no flip (a mirrored 2 is no 2), a mild crop. A preset
    name (``data.augment: basic``) is a shorthand for a bundle of these values (``PRESETS``)."""

    hflip: bool = False  # a flip changes the class of digits and text; turn it on for natural photos
    crop_scale: float = Field(0.6, gt=0, le=1)  # smallest area of RandomResizedCrop (up to 1); 1 = no crop
    color_jitter: float = Field(0.0, ge=0, le=1)  # brightness / contrast / saturation strength; hue a quarter
    degrade: float = Field(0.0, ge=0, le=1)  # probability of a camera degradation: blur, noise, JPEG or downscale
    randaugment: int = Field(0, ge=0, le=30)  # RandAugment magnitude; 0 = off
    trivialaugment: bool = False  # TrivialAugmentWide (no strength to tune)
    random_erasing: float = Field(0.0, ge=0, le=1)  # probability
    mixup: float = Field(0.0, ge=0)  # Beta(alpha, alpha) mixing of batch pairs; 0 = off
    cutmix: float = Field(0.0, ge=0)  # alpha; 0 = off (with mixup too: one of the two per batch)


PRESETS: dict[str, dict[str, Any]] = {
    "none": {"crop_scale": 1.0},
    "basic": {"crop_scale": 0.35, "hflip": True},  # ImageNet-style: natural photos only
    "trivialaugment": {"crop_scale": 0.35, "hflip": True, "trivialaugment": True},
    "randaugment": {"crop_scale": 0.35, "hflip": True, "randaugment": 9},
}


class DataSection(Section):
    """Where the images are and how they are turned into tensors."""

    root: str | None = None  # ImageFolder root; null = the embedded dataset below
    embedded: Literal["camera-digits", "camera-shapes", "digits"] = "camera-digits"  # root null: rayjob.data.digits
    cache_dir: str = "~/.cache/rayjob"  # node-local: the embedded dataset, URI copies, the decoded cache
    cache: Literal["none", "decoded"] = "none"  # decoded: each image decoded once per node into a shared store
    image_size: int = Field(32, ge=8)
    augment: AugmentSection = Field(default_factory=AugmentSection)  # knobs, or a preset name (PRESETS)
    # where the training augmentation runs: in the loader's CPU workers, or on the batch on the training
    # device (the workers only decode; rayjob.data.device_augment)
    augment_on: Literal["cpu", "device"] = "cpu"
    mean: Rgb = Field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[PositiveFloat] = Field(default_factory=lambda: list(IMAGENET_STD), min_length=3, max_length=3)
    batch_size: int = Field(64, ge=1)
    num_workers: int = Field(0, ge=0)  # DataLoader worker processes per training worker
    pin_memory: bool = False
    persistent_workers: bool = False
    weighted_sampler: bool = False  # draw classes evenly (inverse-frequency weights)

    @field_validator("augment", mode="before")
    @classmethod
    def _expand_preset(cls, value: Any) -> Any:
        """``augment: basic`` -> the knobs of that preset."""
        if isinstance(value, str):
            if value not in PRESETS:
                raise ValueError(f"augment preset {value!r} is unknown; choose one of: {', '.join(PRESETS)}")
            return dict(PRESETS[value])
        return value


class ModelSection(Section):
    backbone: str = "resnet18"  # checked against the registry in rayjob.model.backbones
    weights: str | None = None  # local state_dict file; nothing is ever downloaded
    channels_last: bool = False  # NHWC memory format (GPU with 16-mixed: usually faster)


class OptimSection(Section):
    lr: float = Field(1.0e-3, gt=0)
    weight_decay: float = Field(0.05, ge=0)  # not applied to norm layers and biases
    warmup_epochs: float = Field(1.0, ge=0)  # linear LR warmup, then cosine decay per step
    min_lr_ratio: float = Field(0.01, ge=0, le=1)  # final LR as a fraction of lr


class LossSection(Section):
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    class_weights: bool = False  # inverse-frequency class weights in the cross-entropy


class EmaSection(Section):
    enabled: bool = True
    decay: float = Field(0.999, gt=0, lt=1)
    warmup: bool = True  # effective decay min(decay, (1+n)/(10+n)) after n updates


class TrainerSection(Section):
    max_epochs: int = Field(8, ge=1)
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"  # auto: GPU when the machine/cluster has one
    precision: Precision = "auto"  # auto: 16-mixed on GPU, 32-true on CPU
    gradient_clip_val: float | None = Field(1.0, gt=0)
    accumulate_grad_batches: int = Field(1, ge=1)
    seed: int = 0
    deterministic: bool = False
    limit_train_batches: float = Field(1.0, gt=0)  # fraction (<= 1.0) or a batch count (> 1)
    limit_val_batches: float = Field(1.0, gt=0)
    progress_bar: bool = True  # shown only in-process and only on a terminal
    test_curve: bool = False  # also evaluate the test split every epoch (test/*): for recording learning
    # curves (benchmarks/record_curves.py); nothing selects on it
    plots: bool = True  # confusion-matrix / history / sample data in every checkpoint, rendered at the end
    early_stopping_patience: int | None = Field(None, ge=1)  # rayjob.train only: stop after N epochs w/o gain


class ScalingSection(Section):
    num_workers: int = Field(0, ge=0)  # 0: run in this process (debuggable); N: N Ray Train workers (DDP)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(1.0, gt=0)  # used when the accelerator is a GPU; fractions allowed
    worker_start_retries: int = Field(2, ge=0)  # worker groups that cannot start: retries, then the run fails


class RunSection(Section):
    name: str = Field("quickstart", min_length=1, pattern=r"^[^/\\]+$")
    storage_path: str = "results"  # local folder, or s3:// / gs:// / any URI pyarrow reads
    checkpoints_to_keep: int = Field(2, ge=1)
    max_failures: int = Field(0, ge=-1)  # worker-group restarts per run before it fails (-1: unlimited)
    wandb: Literal["off", "offline", "online"] = "off"  # sweeps log each trial through Tune's Wandb callback
    wandb_project: str = "rayjob"  # online needs WANDB_API_KEY in the environment, never in a config
    # The dashboard of a local Ray that rayjob starts (not of a cluster it joins). auto: on when runs use Ray
    # Train workers (Ray Train's placement-group cleanup queries the dashboard's State API), off for
    # in-process trials, where it only costs CPU (docs/performance.md)
    ray_dashboard: Literal["auto", "on", "off"] = "auto"


class SearchSection(Section):
    """The sweep (``python -m rayjob.tune``): Optuna TPE proposes, ASHA stops the weak early."""

    num_samples: int = Field(10, ge=1)
    metric: MetricName = "val/acc_top1"
    mode: Literal["max", "min"] = "max"
    seed: int = 0
    algorithm: Literal["tpe", "random"] = "tpe"  # random: the honest baseline
    startup_fraction: float = Field(0.3, gt=0, le=1)  # TPE's startup: this share of num_samples, base included
    # how the startup points are drawn: spread (a Latin hypercube: every choice about equally often, one point in
    # each stratum of a range) or random (Optuna's independent draws)
    startup: Literal["spread", "random"] = "spread"
    # true: numeric choices of 3 or more values (e.g. optim.lr: {choice: [5e-4, 1e-3, 2e-3]}) are ordered for TPE,
    # so what it learns of one value informs its neighbours (the study still holds the values themselves); off by
    # default: a gain on camera-digits one trial at a time, none with 2 side by side (docs/search-quality.md)
    ordered_choices: bool = False
    # TPE draws this many candidates from its model of the good trials and proposes the one likeliest good there
    # and unlikeliest bad (Optuna's n_ei_candidates, default 24). Few candidates keep it trying new points near
    # the good ones; many pick the point least like any bad trial so far (6: docs/search-quality.md)
    tpe_candidates: int = Field(6, ge=1)
    include_base: bool = True  # the config's own values are the first trial, never stopped early
    scheduler: Literal["asha", "fifo"] = "asha"
    # ASHA's first rung in epochs; auto: the first whole epoch after the LR warmup (never inside it)
    grace_period: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    reduction_factor: float = Field(3.0, gt=1)  # ASHA: keep the top 1/reduction_factor at each rung
    brackets: int = Field(1, ge=1)  # ASHA brackets > 1 hedge against stopping slow starters
    # ASHA stops a trial only when it trails its rung's cut by more than this (in search.metric's units, e.g.
    # 0.03 = 3 pp of val top-1): a difference within the run-to-run noise of the rung signal decides nothing
    stop_margin: float = Field(0.0, ge=0)
    # what Optuna is told of a trial ASHA stopped: pruned (worse than every finished trial), or its rung value
    # plus the median gain finished trials made from that epoch to the end (an estimate of its final value)
    tell_stopped: Literal["pruned", "estimate"] = "estimate"
    max_concurrent_trials: int | None = Field(None, ge=1)  # null: as many as the cluster's resources fit
    trial_max_failures: int = Field(1, ge=-1)  # retries of a failed trial (from its last checkpoint)
    driver_resources: dict[str, float] = Field(default_factory=dict)  # added to each trial driver's request,
    # e.g. {rayjob_driver: 0.01} to keep drivers on the head node of cluster.yaml
    space: dict[str, Any] = Field(default_factory=dict)  # dotted key -> {choice|uniform|loguniform|randint: ...}
    points_to_evaluate: list[dict[str, Any]] = Field(default_factory=list)  # extra first trials, dotted keys
    # Wall time of the sweep (seconds, or "90s", "45m", "2h"): after it no new trial starts and running
    # trials stop at their epoch's end; the post-hook runs as usual. null: no budget.
    time_budget: float | None = None
    price_per_hour: PositiveFloat | None = None  # per GPU (per CPU on CPU-only sweeps): the cost in the summary
    warm_start: str | None = None  # an earlier sweep's folder or URI: its trials that fit seed the new study

    @field_validator("time_budget", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)


class Config(Section):
    data: DataSection = Field(default_factory=DataSection)
    model: ModelSection = Field(default_factory=ModelSection)
    optim: OptimSection = Field(default_factory=OptimSection)
    loss: LossSection = Field(default_factory=LossSection)
    ema: EmaSection = Field(default_factory=EmaSection)
    trainer: TrainerSection = Field(default_factory=TrainerSection)
    scaling: ScalingSection = Field(default_factory=ScalingSection)
    run: RunSection = Field(default_factory=RunSection)
    search: SearchSection = Field(default_factory=SearchSection)

    @classmethod
    def from_dict(cls, raw: Any) -> Config:
        """Build and validate a config; raises ConfigError naming the offending key."""
        try:
            return cls.model_validate(_none_sections_as_empty(raw))
        except ValidationError as err:
            raise ConfigError(describe_validation_error(err, cls)) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="python")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_values(self, values: dict[str, Any]) -> Config:
        """A copy with dotted keys set (``{"optim.lr": 3e-4}``), validated again."""
        raw = self.to_dict()
        for key, value in values.items():
            set_dotted(raw, key, value)
        return Config.from_dict(raw)


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``90``, ``"90s"``, ``"45m"``, ``"2h"``, ``"1.5h"``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is no duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(value))
        if match is None:
            raise ValueError(f"{value!r} is no duration: use seconds (90) or a number with s, m or h (90s, 45m, 2h)")
        seconds = float(match[1]) * _DURATION_UNITS[match[2] or "s"]
    if seconds <= 0:
        raise ValueError(f"{value!r}: a time budget must be more than 0 seconds")
    return seconds


def _none_sections_as_empty(raw: Any) -> Any:
    """``model:`` with nothing under it reads as null in YAML; treat it as an empty section."""
    if not isinstance(raw, dict):
        return raw
    return {key: ({} if value is None and key in Config.model_fields else value) for key, value in raw.items()}


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
    return parse_yaml(file.read_text(), str(file))


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """A config mapping from YAML text; ``source`` names it in errors (a file or a URI)."""
    try:
        raw = yaml.load(text, Loader=_ConfigLoader) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {source} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {source} must hold a mapping of sections, not {type(raw).__name__}")
    return raw


def parse_override(item: str) -> tuple[str, Any]:
    """``optim.lr=3e-4`` -> ("optim.lr", 3e-4); the value is read as YAML."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not of the form section.key=value (e.g. optim.lr=3e-4)")
    try:
        value = yaml.load(text, Loader=_ConfigLoader) if text.strip() else None
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if child is None:
            child = node[part] = {}
        if part == "augment" and isinstance(child, str) and child in PRESETS:  # a preset, then a knob over it
            child = node[part] = dict(PRESETS[child])
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key}: {part} is a value, not a section")
        node = child
    node[parts[-1]] = value


def get_dotted(raw: dict[str, Any], key: str) -> Any:
    node: Any = raw
    for part in key.split("."):
        node = node[part]
    return node


def known_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """All dotted leaf keys of the schema, e.g. ``optim.lr``."""
    keys: list[str] = []
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys.extend(known_keys(kind, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys
