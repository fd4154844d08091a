"""What the driver shows of its Ray workers' output: all of it, less the tracebacks of a SIGTERM from Ray
(and, in a sweep's plain console, Ray's own notices about its internals).

Ray ends a process it no longer needs (a trial the scheduler stopped, the workers at the end of a sweep)
with SIGTERM, and its handler raises ``SystemExit`` in whatever the process was doing. When that was
interpreter shutdown (joining threads, finalizers), Python prints the exit as an "Exception ignored"
traceback, which Ray forwards to the driver: a dozen lines and a 135-column path for a trial that is fine.
Those tracebacks are dropped here; every other line, errors and warnings included, is shown as before.

Without ``--verbose`` a sweep's console also drops Ray's notices about its own machinery, each logged in
a Ray process before rayjob's code runs there (so rayjob cannot quiet its logger), each 130-250 columns:
- Tune's ``Restored on <ip> from checkpoint: ...`` when a promoted trial resumes in a new process (the
  console says ``<trial> resumed after epoch N``);
- per TorchTrainer trial, Ray Train's ``PreemptionWatcher`` actor advice from ``core_worker.cc`` and the
  ``PlacementGroupCleaner``'s ``Ray Train controller actor ... is dead`` when a trial ends.
The raylet's own warnings (``(raylet) WARNING: N PYTHON worker processes have been started``) reach the
console by another path (Ray's error listener prints them directly) and are still shown.
"""

from __future__ import annotations

import re
from typing import Any

_MARK = "in sigterm_handler"  # the frame of Ray's handler, in every such traceback
_STARTS = ("Traceback (most recent call last)", "Exception ignored in")
_RAY_NOTICES = re.compile(
    r"Restored on \S+ from checkpoint: "  # ray.tune.trainable.Trainable.restore
    r"|Actor with class name: 'PreemptionWatcher'"  # Ray Train's controller, at each trial's start
    r"|Detected that the Ray Train controller actor \(\w+\) is dead"  # at each TorchTrainer trial's end
)


def without_ray_notices(lines: list[str]) -> list[str]:
    return [line for line in lines if not _RAY_NOTICES.search(line)]


class SigtermTracebackFilter:
    """Removes SIGTERM tracebacks from batches of worker lines, also when one spans two batches of a process."""

    def __init__(self) -> None:
        self._inside: set[Any] = set()  # processes whose last batch ended inside such a traceback

    def __call__(self, pid: Any, lines: list[str]) -> list[str]:
        drop = [False] * len(lines)
        start = 0
        if pid in self._inside:  # the rest of a traceback begun in the last batch
            self._inside.discard(pid)
            start = self._mark_until_exit(pid, lines, drop, 0)
        for i in range(start, len(lines)):
            if _MARK in lines[i] and not drop[i]:
                first = i
                while first > 0 and not lines[first].startswith(_STARTS):
                    first -= 1
                if first > 0 and lines[first - 1].startswith("Exception ignored in"):
                    first -= 1
                for j in range(first, i):
                    drop[j] = True
                self._mark_until_exit(pid, lines, drop, i)
        return [line for line, dropped in zip(lines, drop, strict=True) if not dropped]

    def _mark_until_exit(self, pid: Any, lines: list[str], drop: list[bool], i: int) -> int:
        """Mark lines from ``i`` through the traceback's last line (``SystemExit...``); returns the next index."""
        for j in range(i, len(lines)):
            drop[j] = True
            if lines[j].startswith("SystemExit"):
                return j + 1
        self._inside.add(pid)
        return len(lines)


def filter_forwarded_logs(hide_ray_notices: bool = False) -> bool:
    """Route the worker lines Ray forwards to this driver through a ``SigtermTracebackFilter`` (and
    ``without_ray_notices`` with ``hide_ray_notices``).

    Wraps the handler ``ray.init(log_to_driver=True)`` registered; returns False (and changes nothing)
    when this Ray has no such handler, e.g. a Ray whose internals moved.
    """
    try:
        from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher
    except ImportError:
        return False
    keep = SigtermTracebackFilter()
    found = [handle for name, handle in getattr(dispatcher, "handlers", []) if name == "ray_print_logs"]
    if len(found) != 1:
        return False
    show = found[0]

    def filtered(data: dict[str, Any]) -> None:
        lines = keep(data.get("pid"), list(data.get("lines") or []))
        if hide_ray_notices:
            lines = without_ray_notices(lines)
        if lines:
            show({**data, "lines": lines})

    dispatcher.remove_handler("ray_print_logs")
    dispatcher.add_handler("ray_print_logs", filtered)
    return True
