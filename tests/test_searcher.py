"""The searcher Tune is given (``StudySearcher``): epochs as Optuna's steps, stopped trials pruned, no point twice."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from optuna.trial import TrialState

from rayjob.config import load_config
from rayjob.sweep.tuner import build_searcher

ROOT = Path(__file__).resolve().parent.parent
METRIC = "val/acc_top1"


def searcher(**values: object):  # noqa: ANN201 - StudySearcher
    return build_searcher(load_config(ROOT / "configs" / "quickstart.yaml").with_values(values), study_file=None)


def test_a_resumed_trial_whose_iterations_restart_keeps_every_epoch_in_the_study() -> None:
    """A TorchTrainer trial resumed after a pause reports training_iteration 1 again, at epoch 2."""
    search = searcher()
    assert search.suggest("t1") is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna warns when it drops a value reported at a step it has
        for iteration, epoch, acc in [(1, 1, 0.93), (1, 2, 0.98), (2, 3, 0.99)]:
            search.on_trial_result("t1", {"training_iteration": iteration, "epoch": epoch, METRIC: acc})
    assert search.study.trials[0].intermediate_values == {1: 0.93, 2: 0.98, 3: 0.99}


def test_the_base_config_comes_first_and_trials_stopped_early_are_pruned_not_completed() -> None:
    search = searcher()
    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    first = search.suggest("base")
    assert first == {key: value for key, value in first.items() if key in cfg.search.space}
    assert first["optim.lr"] == cfg.optim.lr and first["data.augment.randaugment"] == cfg.data.augment.randaugment
    search.suggest("early")
    search.on_trial_complete("early", {"epoch": 1, METRIC: 0.31})
    search.on_trial_complete("base", {"epoch": cfg.trainer.max_epochs, METRIC: 0.80})
    states = {t.number: t.state for t in search.study.trials}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.PRUNED}


def test_a_finite_space_never_gets_the_same_point_twice_until_every_point_has_run() -> None:
    """TPE re-proposes its best point on a grid; each proposal of a known point is drawn again, and the study
    (what optuna-dashboard shows) holds the trials that ran and nothing else."""
    search = searcher(**{"search.num_samples": 70, "search.startup_fraction": 0.05})
    seen = []
    for i in range(64):  # the quickstart's grid has 64 points
        values = search.suggest(f"t{i}")
        seen.append(tuple(sorted((k, repr(v)) for k, v in values.items())))
        search.on_trial_complete(f"t{i}", {"epoch": 6, METRIC: 0.9 if values["optim.lr"] == 1e-3 else 0.5})
    assert len(set(seen)) == 64
    assert search.duplicates_drawn > 0  # TPE did re-propose
    assert [t.state for t in search.study.trials] == [TrialState.COMPLETE] * 64


def test_a_trial_stopped_while_paused_on_its_rung_is_pruned_not_failed() -> None:
    """Tune ends a paused trial without a result: it reported epochs, so TPE should learn from them."""
    search = searcher()
    search.suggest("paused")
    search.on_trial_result("paused", {"epoch": 1, METRIC: 0.4})
    search.suggest("crashed")
    search.on_trial_complete("paused", None)
    search.on_trial_complete("crashed", None, error=True)
    states = [t.state for t in search.study.trials]
    assert states == [TrialState.PRUNED, TrialState.FAIL]


def test_told_as_an_estimate_a_stopped_trial_ranks_where_finished_trials_went_from_its_epoch() -> None:
    """search.tell_stopped estimate: a trial stopped at epoch 3 with 0.70 is told 0.70 plus the median gain of the
    finished trials from epoch 3 to the end (+0.10, +0.20, +0.30: 0.20), so TPE sees 0.90, not the worst."""
    search = searcher(**{"search.tell_stopped": "estimate"})
    for name, at_3, final in [("a", 0.60, 0.70), ("b", 0.50, 0.70), ("c", 0.40, 0.70)]:
        search.suggest(name)
        search.on_trial_result(name, {"epoch": 3, METRIC: at_3})
        search.on_trial_complete(name, {"epoch": 6, METRIC: final})
    search.suggest("stopped")
    search.on_trial_result("stopped", {"epoch": 3, METRIC: 0.70})
    search.on_trial_complete("stopped", None)  # ranked out while paused on its rung
    told = search.study.trials[-1]
    assert told.state == TrialState.COMPLETE and abs(told.value - 0.90) < 1e-9
    assert told.user_attrs == {"stopped_at_epoch": 3, "estimated": True}


def test_told_as_an_estimate_with_no_finished_trial_a_stopped_trial_is_pruned() -> None:
    search = searcher(**{"search.tell_stopped": "estimate"})
    search.suggest("stopped")
    search.on_trial_complete("stopped", {"epoch": 3, METRIC: 0.7})
    assert search.study.trials[0].state == TrialState.PRUNED


def test_the_startup_spreads_over_every_value_of_every_parameter() -> None:
    """search.startup spread: with the base trial, the startup's points hold every choice about equally often (a
    random startup of 4 points keeps a two-valued parameter at its base value one time in 16)."""
    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    for seed in range(20):
        search = searcher(**{"search.seed": seed})
        startup = [search.suggest(f"t{i}") for i in range(5)]  # ceil(0.3 x 15): the base and 4 spread points
        assert startup[0]["optim.lr"] == cfg.optim.lr
        assert len({tuple(sorted(p.items())) for p in startup}) == 5
        for key, spec in cfg.search.space.items():
            counts = [sum(p[key] == choice for p in startup) for choice in spec["choice"]]
            assert max(counts) - min(counts) <= 1, (seed, key, counts)


def test_a_range_gets_one_startup_point_in_each_stratum() -> None:
    import optuna.distributions as od

    from rayjob.sweep.space import spread_points

    space = {"lr": od.FloatDistribution(1e-4, 1e-2, log=True), "n": od.IntDistribution(0, 7)}
    points = spread_points(space, 4, seed=3)
    strata = sorted(int(4 * (math.log(p["lr"]) - math.log(1e-4)) / (math.log(1e-2) - math.log(1e-4))) for p in points)
    assert strata == [0, 1, 2, 3]
    assert sorted(p["n"] // 2 for p in points) == [0, 1, 2, 3]


def told_then_next(seed: int, told: list[tuple[dict, float]], **values: object):  # noqa: ANN201
    """(searcher, its next proposal): TPE from the first proposal on (no base trial, no startup to speak of),
    told ``told``'s trials first; each trial's parameters not given are drawn at random under ``seed``."""
    import random

    from optuna.trial import create_trial

    search = searcher(**{"search.seed": seed, "search.include_base": False, "search.startup": "random",
                         "search.startup_fraction": 0.05, **values})  # fmt: skip
    rng = random.Random(seed)
    search.study.add_trials([
        create_trial(params={key: rng.choice(dist.choices) for key, dist in search.space.items()} | given,
                     distributions=search.space, value=value)
        for given, value in told
    ])  # fmt: skip
    return search, search.suggest("next")


def test_an_ordered_choice_lends_what_tpe_learnt_of_a_value_to_its_neighbours() -> None:
    """search.ordered_choices: the learning rate's four choices are ordered. Told that 5e-4 scored well and 4e-3
    badly (nothing else tried), TPE proposes 5e-4's untried neighbour 1e-3 most often, well before 2e-3; as
    unordered categories it knows nothing of either, and 1e-3 gets no such lead. The study keeps the values."""
    from collections import Counter

    from optuna.distributions import CategoricalDistribution

    told = [({"optim.lr": lr}, value)
            for lr, value in [(5e-4, 0.80), (4e-3, 0.10), (5e-4, 0.78), (4e-3, 0.12), (5e-4, 0.79), (4e-3, 0.11)]]
    proposed: dict[bool, Counter] = {}
    for ordered in (True, False):
        proposed[ordered] = Counter()
        for seed in range(60):
            search, proposal = told_then_next(seed, told, **{"search.ordered_choices": ordered})
            proposed[ordered][proposal["optim.lr"]] += 1
        trial = search.study.trials[-1]
        assert trial.params["optim.lr"] in (5e-4, 1e-3, 2e-3, 4e-3)
        assert isinstance(trial.distributions["optim.lr"], CategoricalDistribution)
    lead = {ordered: counts[1e-3] - counts[2e-3] for ordered, counts in proposed.items()}
    assert proposed[True].most_common(1)[0][0] == 1e-3, proposed
    assert lead[True] >= lead[False] + 8, proposed


def test_few_candidates_keep_tpe_trying_the_neighbours_of_the_best_trial() -> None:
    """search.tpe_candidates: TPE draws candidates from its model of the good trials and proposes the one least
    like the bad ones. Told one good trial and 11 bad ones, with 6 candidates it proposes a neighbour of the good
    trial (one parameter changed) clearly more often than with Optuna's 24, which favour whatever point is far
    from every bad trial."""
    told = [({}, 0.85)] + [({}, 0.2 + 0.05 * i) for i in range(11)]
    near, changed = {}, {}
    for candidates in (24, 6):
        distances = []
        for seed in range(100):
            search, proposal = told_then_next(seed, told, **{"search.tpe_candidates": candidates})
            good = search.study.trials[0].params
            distances.append(sum(proposal[key] != good[key] for key in proposal))
        near[candidates] = distances.count(1)
        changed[candidates] = sum(distances) / len(distances)
    assert near[6] >= near[24] + 8, near
    assert changed[6] < changed[24], changed
