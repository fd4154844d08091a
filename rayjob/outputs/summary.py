"""The sweep's closing summary; its last line is ``<metric> <best value>`` for scripts."""

from __future__ import annotations

from rayjob.console import say, short_values, wrapped
from rayjob.layout import TRIALS_CSV
from rayjob.outputs.heldout import Heldout
from rayjob.outputs.report import base_comparison
from rayjob.results import SweepOutcome
from rayjob.storage import join


def print_summary(
    outcome: SweepOutcome, num_samples: int, elapsed: float, tables: list[str], heldout: Heldout | None = None
) -> None:
    """What the sweep did, where its files are, its best trial and how it does on held-out data against the
    base. ``tables`` are the files written."""
    counts = outcome.counts()
    say("")
    if not outcome.finished:
        say(f"sweep interrupted: {len(outcome.records)} of {num_samples} trials started.")
        say("Resume it with the same command and --resume (or rerun with the same run.name).")
    if outcome.ended:
        say(f"sweep ended    {outcome.ended}")
    if outcome.warm_start:
        say(wrapped("warm start     ", outcome.warm_start))
    say(f"sweep folder   {outcome.experiment}")
    say(f"trials         {len(outcome.records)}: {counts['COMPLETED']} completed, {counts['STOPPED']} stopped early, "
        f"{counts['DIVERGED']} diverged, {counts['ERROR']} errored"
        + (f", {counts['UNFINISHED']} unfinished" if counts["UNFINISHED"] else ""))
    possible = len(outcome.records) * outcome.max_epochs
    say(f"epochs         {outcome.epochs} of {possible} if every trial ran to the end; {elapsed:.0f} s")
    say(f"compute        {outcome.compute()} (resources reserved x wall time)")
    if join(outcome.experiment, TRIALS_CSV) in tables:
        say(f"trials table   {join(outcome.experiment, TRIALS_CSV)}")
    best = outcome.best
    if best is None:
        say(f"no trial reported {outcome.metric} with a checkpoint")
        return
    say(wrapped("best trial     ", f"{best.trial_id} (epoch {best.epochs}): {short_values(best.params)}"))
    comparison = base_comparison(outcome)
    if comparison:
        say(f"vs base (val)  {comparison}")
    for label, text in heldout.lines() if heldout else []:
        say(f"{label:15s}{text}")
    say(f"checkpoint     {best.checkpoint}")
