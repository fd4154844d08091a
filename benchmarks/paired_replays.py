"""Two settings' replays compared seed by seed: the paired difference in P and in regret, with their SEs.

    python benchmarks/search_quality.py --replay --quick --seeds 40 --concurrency 1 > a.txt
    python benchmarks/search_quality.py --replay --quick --seeds 40 --concurrency 1 search.x=y > b.txt
    python benchmarks/paired_replays.py a.txt b.txt [more outputs of either setting: --a a2.txt --b b2.txt]

The same replay seed draws the same base run and training-seed world under both settings, so a seed's
two sweeps differ by the setting (and, with 2 trials side by side, by the order trials finish in). Reads the
seed lines ``search_quality.py`` prints (rayjob's drawn test top-1, the base's, rayjob's regret) under each
task's ``== task`` header; a seed that appears in both outputs of a task is a pair.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

from search_quality import beats, recorded_tasks  # benchmarks/ is on sys.path when a script here runs
from timing import paired_se

SEED_LINE = re.compile(
    r"seed\s+(\d+) \(.*?\): rayjob ([\d.]+), .*base config alone ([\d.]+); rayjob's regret ([\d.-]+) pp"
)


def seed_lines(paths: list[Path]) -> dict[str, dict[int, tuple[bool, float]]]:
    """task -> seed -> (rayjob's pick beat the base by 2 SE, rayjob's regret in pp)."""
    images = {task: int(r["test_images"]) for task, r in recorded_tasks().items()}
    found: dict[str, dict[int, tuple[bool, float]]] = {}
    for path in paths:
        task = None
        for line in path.read_text().splitlines():
            if line.startswith("== "):
                task = line[3:].strip()
            elif (m := SEED_LINE.match(line)) and task is not None:
                test, base = float(m[2]), float(m[3])
                found.setdefault(task, {})[int(m[1])] = (beats(test, base, images[task]), float(m[4]))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="a replay's output under setting A")
    parser.add_argument("b", type=Path, help="a replay's output under setting B")
    parser.add_argument("--a", dest="more_a", type=Path, nargs="*", default=[], help="more outputs of setting A")
    parser.add_argument("--b", dest="more_b", type=Path, nargs="*", default=[], help="more outputs of setting B")
    args = parser.parse_args(argv)
    a, b = seed_lines([args.a, *args.more_a]), seed_lines([args.b, *args.more_b])
    for task in sorted(a.keys() & b.keys()):
        seeds = sorted(a[task].keys() & b[task].keys())
        if not seeds:
            continue
        pa = [float(a[task][s][0]) for s in seeds]
        pb = [float(b[task][s][0]) for s in seeds]
        ra = [a[task][s][1] for s in seeds]
        rb = [b[task][s][1] for s in seeds]
        dp, dp_se = statistics.fmean(pb) - statistics.fmean(pa), paired_se(pb, pa)
        dr, dr_se = statistics.fmean(rb) - statistics.fmean(ra), paired_se(rb, ra)
        print(f"{task}: {len(seeds)} paired seeds; P {statistics.fmean(pa):.3f} -> {statistics.fmean(pb):.3f} "
              f"({dp:+.3f}, SE {dp_se:.3f}); mean regret {statistics.fmean(ra):.2f} -> {statistics.fmean(rb):.2f} pp "
              f"({dr:+.2f}, SE {dr_se:.2f}); median regret {statistics.median(ra):.2f} -> "
              f"{statistics.median(rb):.2f} pp")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
