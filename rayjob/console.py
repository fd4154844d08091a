"""Printing progress lines from training code (no heavy imports: drivers use it too)."""

from __future__ import annotations

import sys
import textwrap
from typing import Any

WIDTH = 100  # the columns of every console line rayjob prints itself (logs, `ray job logs`, terminals)


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
