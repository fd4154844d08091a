"""Printing progress lines from training code (no heavy imports: drivers use it too)."""

from __future__ import annotations

import sys


def say(line: str) -> None:
    """Print a line once: Ray Train's patched ``print`` would echo it through its logger as well."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
