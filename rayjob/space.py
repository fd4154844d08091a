"""The search space from YAML -> Tune distributions, checked before Ray starts.

```yaml
search:
  space:
    model.backbone: {choice: [resnet18, resnet34]}
    optim.lr:       {loguniform: [1.0e-4, 3.0e-3]}
    loss.label_smoothing: {uniform: [0.0, 0.2]}
    data.randaugment_magnitude: {randint: [5, 15]}   # upper bound inclusive
```

Each key is a dotted config key; each value names exactly one distribution. Every choice and both ends
of every range are validated as config values, so an unknown backbone or a negative lr in the space
fails here, naming the key, not hours later inside a trial.
"""

from __future__ import annotations

import copy
from typing import Any

from rayjob.config import Config, known_keys, set_dotted
from rayjob.errors import ConfigError, RayjobError
from rayjob.models import check_backbone

DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
NOT_SEARCHABLE = ("run.", "search.", "scaling.", "trainer.max_epochs", "trainer.accelerator")


def check_space(cfg: Config) -> None:
    """Raise ConfigError for any unusable space entry or point to evaluate."""
    space = cfg.search.space
    keys = set(known_keys())
    base = cfg.to_dict()
    for key, spec in space.items():
        where = f"search.space.{key}"
        if key not in keys:
            raise ConfigError(f"{where}: {key} is not a config key; searchable keys look like optim.lr, model.backbone")
        if key.startswith(NOT_SEARCHABLE):
            raise ConfigError(f"{where}: {key} cannot be searched (it shapes the sweep itself); set it in its section")
        kind, args = _parse(where, spec)
        for value in args:  # every choice, or both ends of a range
            _check_value(base, key, value, where)
    for i, point in enumerate(cfg.search.points_to_evaluate):
        missing = [key for key in space if key not in point]
        if missing:
            raise ConfigError(
                f"search.points_to_evaluate[{i}] must set every searched key; missing {', '.join(missing)}"
            )
        for key, value in point.items():
            if key not in space:
                raise ConfigError(f"search.points_to_evaluate[{i}].{key} is not in search.space; add it or drop it")
            _check_value(base, key, value, f"search.points_to_evaluate[{i}].{key}")


def tune_param_space(cfg: Config) -> dict[str, Any]:
    """The searched keys as a nested dict of Tune distributions (``{"model": {"backbone": choice}}``).

    Trials merge a sample into the full base config (``merge_sample``); Tune's tables and results
    therefore show only what was searched.
    """
    from ray import tune

    factories = {
        "choice": lambda a: tune.choice(a),
        "uniform": lambda a: tune.uniform(*a),
        "loguniform": lambda a: tune.loguniform(*a),
        "randint": lambda a: tune.randint(a[0], a[1] + 1),  # Tune's upper bound is exclusive
    }
    param_space: dict[str, Any] = {}
    for key, spec in cfg.search.space.items():
        kind, args = _parse(f"search.space.{key}", spec)
        set_dotted(param_space, key, factories[kind](args))
    return param_space


def merge_sample(base: dict[str, Any], sample: dict[str, Any]) -> dict[str, Any]:
    """The base config with a trial's sampled values (nested like the param space) put in."""
    merged = copy.deepcopy(base)
    for section, values in sample.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section] = merge_sample(merged[section], values)
        else:
            merged[section] = values
    return merged


def tune_points(cfg: Config) -> list[dict[str, Any]]:
    """``points_to_evaluate`` keyed as the searcher sees nested params: ``model/backbone``."""
    return [{key.replace(".", "/"): value for key, value in point.items()} for point in cfg.search.points_to_evaluate]


def _parse(where: str, spec: Any) -> tuple[str, list[Any]]:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(
            f"{where} must name one distribution, e.g. {{choice: [a, b]}}; one of {', '.join(DISTRIBUTIONS)}"
        )
    kind, args = next(iter(spec.items()))
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: unknown distribution {kind!r}; use one of {', '.join(DISTRIBUTIONS)}")
    if not isinstance(args, list) or not args:
        raise ConfigError(f"{where}: {kind} needs a non-empty list, e.g. {kind}: [a, b]")
    if kind != "choice":
        if len(args) != 2:
            raise ConfigError(f"{where}: {kind} needs [low, high]")
        try:
            low, high = (float(a) for a in args)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {kind} bounds must be numbers, got {args}") from None
        if not low < high and not (kind == "randint" and low == high):
            raise ConfigError(f"{where}: {kind} needs low < high, got {args}")
        if kind == "loguniform" and low <= 0:
            raise ConfigError(f"{where}: loguniform bounds must be positive, got {args}")
        if kind == "randint" and not all(isinstance(a, int) for a in args):
            raise ConfigError(f"{where}: randint bounds must be integers, got {args}")
        args = [low, high] if kind != "randint" else args
    elif len({repr(a) for a in args}) != len(args):
        raise ConfigError(f"{where}: choice lists a value twice: {args}")
    return kind, args


def _check_value(base: dict[str, Any], key: str, value: Any, where: str) -> None:
    trial = copy.deepcopy(base)
    set_dotted(trial, key, value)
    try:
        cfg = Config.from_dict(trial)
        check_backbone(cfg.model.backbone)
    except RayjobError as err:
        raise ConfigError(f"{where}: value {value!r} is not valid: {err}") from None


def optuna_distributions(cfg: Config) -> dict[str, Any]:
    """The space as Optuna distributions (the report's importance analysis rebuilds a study from them)."""
    import optuna.distributions as od

    distributions: dict[str, Any] = {}
    for key, spec in cfg.search.space.items():
        kind, args = _parse(f"search.space.{key}", spec)
        if kind == "choice":
            distributions[key] = od.CategoricalDistribution(args)
        elif kind == "randint":
            distributions[key] = od.IntDistribution(args[0], args[1])
        else:
            distributions[key] = od.FloatDistribution(args[0], args[1], log=kind == "loguniform")
    return distributions
