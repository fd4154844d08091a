"""Every line rayjob prints itself, from drivers and training code (no heavy imports: drivers use it too).

A run's own progress (its dataset table, model line, one line per epoch, where it resumed) goes through the
``rayjob.run`` logger (``run_log``): ``python -m rayjob.train`` shows it; a sweep's trials do not
(``show_run_progress(False)`` where a trial or worker process starts), because the sweep console reports
their events. Its warnings (a diverged run, an inexact resume) show either way.
"""

from __future__ import annotations

import logging
import sys
import textwrap
from typing import Any

WIDTH = 100  # the columns of every console line rayjob prints itself (logs, `ray job logs`, terminals)


run_log = logging.getLogger("rayjob.run")


class _Say(logging.Handler):
    """Writes each record's message as one line through ``say`` (to the ``sys.stdout`` of the moment)."""

    def emit(self, record: logging.LogRecord) -> None:
        say(self.format(record))


def show_run_progress(on: bool) -> None:
    """Whether this process shows its run's progress lines (its warnings always show)."""
    run_log.setLevel(logging.INFO if on else logging.WARNING)


def run_progress_shown() -> bool:
    return run_log.isEnabledFor(logging.INFO)


def say(line: str) -> None:
    """Print a line once: Ray Train's patched ``print`` would echo it through its logger as well."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wrapped(label: str, text: str) -> str:
    """``label`` + ``text`` in lines of at most WIDTH columns, continuation lines indented under the text
    (a single word longer than that, such as a path, stays whole)."""
    return textwrap.fill(text, WIDTH, initial_indent=label, subsequent_indent=" " * len(label),
                         break_long_words=False, break_on_hyphens=False)  # fmt: skip


def warn(text: str) -> None:
    """``warning: text``, wrapped to WIDTH columns."""
    say(wrapped("warning: ", text))


def short_values(values: dict[str, Any]) -> str:
    """``backbone=resnet18 lr=1.2e-03 ...``: the last part of each dotted key, numbers in 3 digits."""
    parts = []
    for key, value in values.items():
        text = f"{value:.3g}" if isinstance(value, float) else str(value)
        parts.append(f"{key.rsplit('.', 1)[-1]}={text}")
    return " ".join(parts)


run_log.addHandler(_Say())
run_log.propagate = False  # the lines are the user's console, not a record for the root logger's handlers
show_run_progress(True)
