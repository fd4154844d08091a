"""Printing progress lines from training code (no heavy imports: drivers use it too)."""

from __future__ import annotations

import sys
import textwrap

WIDTH = 100  # the columns of every console line rayjob prints itself (logs, `ray job logs`, terminals)


def say(line: str) -> None:
    """Print a line once: Ray Train's patched ``print`` would echo it through its logger as well."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def warn(text: str) -> None:
    """``warning: text``, wrapped to WIDTH columns, continuation lines indented."""
    say(textwrap.fill(text, WIDTH, initial_indent="warning: ", subsequent_indent="         ",
                      break_long_words=False, break_on_hyphens=False))  # fmt: skip
