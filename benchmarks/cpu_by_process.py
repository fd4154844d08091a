"""CPU seconds by kind of process while a command runs: trials, the driver, and each of Ray's own processes.

    python benchmarks/cpu_by_process.py -- python -m rayjob.tune --config configs/quickstart.yaml

On a machine with as many cores as trial slots, every CPU second Ray's own processes take is one the trials
wait for; this shows how many there are and whose. It reads /proc once a second (Linux), so a process that
lives under a second is missed, and its own reads are shown too.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time

KINDS = ("gcs_server", "raylet", "dashboard/agent", "dashboard.py", "log_monitor", "monitor.py", "runtime_env")
TICK = os.sysconf("SC_CLK_TCK")


def kind(command: str, root: int, pid: int) -> str:
    """A short name for what a process is: Ray's worker title (``ray::ImplicitFunc``), a Ray daemon, the
    command itself, or its first words."""
    if pid == root:
        return "the command (driver)"
    if command.startswith("ray::") or command.startswith("ray-dashboard-"):
        return command.split()[0]
    for name in KINDS:
        if name in command:
            return name
    return "other: " + command[:50]


def cpu_seconds(pid: str) -> tuple[float, str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline") as f:
            command = f.read().replace("\0", " ").strip()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK, command  # utime + stime


def main() -> int:
    command = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    if not command:
        print(__doc__)
        return 2
    before = {pid: read[0] for pid in os.listdir("/proc") if pid.isdigit() and (read := cpu_seconds(pid))}
    started = time.perf_counter()
    process = subprocess.Popen(command)
    last: dict[int, float] = {}
    names: dict[int, str] = {}
    while process.poll() is None:
        for pid in os.listdir("/proc"):
            read = cpu_seconds(pid) if pid.isdigit() else None
            if read is None:
                continue
            last[int(pid)] = read[0] - before.get(pid, 0.0)
            name = kind(read[1], process.pid, int(pid))
            if int(pid) not in names or name.startswith("ray"):  # a worker's title tells what it became
                names[int(pid)] = name
        time.sleep(1.0)
    wall = time.perf_counter() - started
    mine = cpu_seconds(str(os.getpid()))
    totals: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    for pid, seconds in last.items():
        if seconds > 0.05 and pid != os.getpid():
            totals[names[pid]] += seconds
            counts[names[pid]] += 1
    print(f"\nwall {wall:.1f} s on {os.cpu_count()} cores; CPU {sum(totals.values()):.1f} s by kind of process:")
    for name, seconds in totals.most_common():
        print(f"{seconds:8.1f} s  {100 * seconds / sum(totals.values()):5.1f}%  {counts[name]:3d} process(es)  {name}")
    print(f"{mine[0] if mine else 0.0:8.1f} s  this sampler")
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
