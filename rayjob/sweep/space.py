"""The search space from YAML -> Optuna distributions, checked before Ray starts.

```yaml
search:
  space:
    model.backbone: {choice: [resnet18, resnet34]}
    optim.lr:       {loguniform: [1.0e-4, 3.0e-3]}
    loss.label_smoothing: {uniform: [0.0, 0.2]}
    data.augment.randaugment: {randint: [0, 15]}   # upper bound inclusive
```

Each key is a dotted config key; each value names exactly one distribution. Every choice and both ends
of every range are validated as config values, so an unknown backbone or a negative lr in the space
fails here, naming the key, not hours later inside a trial.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

from rayjob.config import Config, get_dotted, known_keys, set_dotted
from rayjob.errors import ConfigError, RayjobError
from rayjob.model.backbones import check_backbone

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
        kind, args = parse_spec(where, spec)
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
    if cfg.search.include_base and space:
        base_point(cfg)


def trial_values(sample: dict[str, Any], cfg: Config) -> dict[str, Any]:
    """The searched values of one trial, by dotted key (the searcher proposes them keyed so)."""
    return {key: sample[key] for key in cfg.search.space if key in sample}


def base_point(cfg: Config) -> dict[str, Any]:
    """The config's own values of the searched keys: the base trial, the sweep's reference.

    Raises ConfigError when one of them lies outside the space, because the base trial must be a point
    the searcher can represent (``search.include_base: false`` skips the base trial instead).
    """
    raw = cfg.to_dict()
    point = {key: get_dotted(raw, key) for key in cfg.search.space}
    for key, value in point.items():
        kind, args = parse_spec(f"search.space.{key}", cfg.search.space[key])
        inside = value in args if kind == "choice" else args[0] <= value <= args[1]
        if not inside:
            raise ConfigError(
                f"search.include_base: the config's {key}={value!r} is outside search.space.{key} ({kind}: {args}); "
                "widen the space to include it, or set search.include_base: false"
            )
    return point


def base_trial(cfg: Config) -> dict[str, Any] | None:
    """The base trial's values, or None when the sweep has none (``search.include_base: false``)."""
    return base_point(cfg) if cfg.search.include_base else None


def first_points(cfg: Config) -> list[dict[str, Any]]:
    """The trials evaluated before the searcher proposes any: the base config, then ``points_to_evaluate``."""
    base = base_trial(cfg)
    points = [base] if base is not None else []
    return points + [dict(p) for p in cfg.search.points_to_evaluate if dict(p) not in points]


def parse_spec(where: str, spec: Any) -> tuple[str, list[Any]]:
    """(distribution, arguments) of one space entry; raises ConfigError naming ``where``."""
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
    """The space as Optuna distributions, keyed by dotted config key: what the searcher samples from, and
    what the report's importance analysis rebuilds a study with."""
    import optuna.distributions as od

    distributions: dict[str, Any] = {}
    for key, spec in cfg.search.space.items():
        kind, args = parse_spec(f"search.space.{key}", spec)
        if kind == "choice":
            distributions[key] = od.CategoricalDistribution(args)
        elif kind == "randint":
            distributions[key] = od.IntDistribution(args[0], args[1])
        else:
            distributions[key] = od.FloatDistribution(args[0], args[1], log=kind == "loguniform")
    return distributions


def spread_points(
    distributions: dict[str, Any], count: int, seed: int, taken: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """``count`` points for TPE's startup that spread over every parameter (a Latin hypercube): each choice
    appears about equally often across ``taken`` (the base trial) and these points, and each range is cut into
    ``count`` strata with one point in each. A random startup can leave a value untried: with 4 random points
    a two-valued parameter keeps its base value in all of them one time in 16, and then TPE never learns what
    the other value does."""
    import optuna.distributions as od

    rng = random.Random(seed)
    taken = [dict(p) for p in taken or []]
    columns: dict[str, list[Any]] = {}
    for key, dist in distributions.items():
        if isinstance(dist, od.CategoricalDistribution):
            columns[key] = _balanced(list(dist.choices), count, [p[key] for p in taken if key in p], rng)
        else:
            columns[key] = [_stratum(dist, (i + rng.random()) / count) for i in rng.sample(range(count), count)]
    points = [{key: column[i] for key, column in columns.items()} for i in range(count)]
    return [p for i, p in enumerate(points) if p not in taken and p not in points[:i]]


def _balanced(choices: list[Any], count: int, taken: list[Any], rng: random.Random) -> list[Any]:
    """``count`` choices in random order such that, with ``taken``, every choice appears about equally often."""
    start = rng.randrange(len(choices))
    tiled = [choices[(start + i) % len(choices)] for i in range(count + len(taken))]
    for value in taken:  # the taken points already hold these
        if value in tiled:
            tiled.remove(value)
    rng.shuffle(tiled)
    return tiled[:count]


def _stratum(dist: Any, u: float) -> Any:
    """The value at quantile ``u`` of a range distribution (log-spaced for a log one; an integer for randint)."""
    import optuna.distributions as od

    low, high = dist.low, dist.high
    if dist.log:
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        return min(high, max(low, round(value))) if isinstance(dist, od.IntDistribution) else value
    if isinstance(dist, od.IntDistribution):  # each integer an equal share of [0, 1)
        return min(high, math.floor(low + u * (high - low + 1)))
    return low + u * (high - low)
