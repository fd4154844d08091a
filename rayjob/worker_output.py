"""What a sweep's console shows of its Ray workers' output: all of it, less Ray's notices about its own
machinery (without ``--verbose``).

Ray forwards every line its workers print to the driver's ``sys.stdout`` / ``sys.stderr``. A few are Ray's
own notices, each logged in a Ray process before any rayjob code runs there (so rayjob cannot quiet its
logger), each 130-250 columns:
- Tune's ``Restored on <ip> from checkpoint: ...`` when a promoted trial resumes in a new process (the
  console says ``<trial> resumed after epoch N``);
- per TorchTrainer trial, Ray Train's ``PreemptionWatcher`` actor advice from ``core_worker.cc`` and the
  ``PlacementGroupCleaner``'s ``Ray Train controller actor ... is dead`` when a trial ends.
``filter_ray_notices`` puts a line filter in front of the driver's two streams, which drops exactly these.
The raylet's own warnings (``(raylet) WARNING: N PYTHON worker processes have been started``) are shown.

The tracebacks of Ray's SIGTERM to a process it ends are stopped where they start, in the trial and worker
processes (``rayjob.library_logs.quiet_sigterm_exits``).
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

_RAY_NOTICES = re.compile(
    r"Restored on \S+ from checkpoint: "  # ray.tune.trainable.Trainable.restore
    r"|Actor with class name: 'PreemptionWatcher'"  # Ray Train's controller, at each trial's start
    r"|Detected that the Ray Train controller actor \(\w+\) is dead"  # at each TorchTrainer trial's end
)


def is_ray_notice(line: str) -> bool:
    return bool(_RAY_NOTICES.search(line))


class WithoutRayNotices:
    """A text stream writing to ``stream`` every line but Ray's notices.

    Whole lines are judged: text without a line end waits for the rest of its line, or for ``flush``; a
    progress bar redrawn in place (``\\r``) is written at once. Everything else is ``stream``'s own.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        shown = "".join(line + "\n" for line in lines if not is_ray_notice(line))
        if "\r" in self._pending:
            shown, self._pending = shown + self._pending, ""
        if shown:
            self.stream.write(shown)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.stream.write(self._pending)
            self._pending = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def filter_ray_notices() -> None:
    """Filter the driver's ``sys.stdout`` and ``sys.stderr`` through ``WithoutRayNotices`` (once)."""
    if not isinstance(sys.stdout, WithoutRayNotices):
        sys.stdout = WithoutRayNotices(sys.stdout)
    if not isinstance(sys.stderr, WithoutRayNotices):
        sys.stderr = WithoutRayNotices(sys.stderr)


def unfilter_ray_notices() -> None:
    """Undo ``filter_ray_notices``, flushing what it holds."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, WithoutRayNotices):
            stream.flush()
            setattr(sys, name, stream.stream)
