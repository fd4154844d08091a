"""Which rung signal predicts the final held-out result: Spearman correlations on the recorded curves.

    python benchmarks/rung_fidelity.py          # every recorded task, benchmarks/curves_*.json (seconds, no training)

ASHA ranks trials at a rung by what they report there; it works when that ranks trials the way their final
test accuracy does. For every recorded run (each point of the quickstart space x 2 training seeds) and each
candidate rung epoch k, the rank correlation of the signal at epoch k (val top-1, val loss, and val top-1
with val loss breaking ties, as rayjob's rungs rank) with the run's final test top-1; and, in the last column,
of one run's rung signal (seed 0) with another run's final test top-1 (seed 1) of the same point: what a
rung can know of the point, with the run's own luck taken out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

BENCHMARKS = Path(__file__).resolve().parent


def signals(runs: list[dict], epoch: int) -> dict[str, np.ndarray]:
    """Each candidate signal at ``epoch`` (1-based), oriented so that larger is better."""
    acc = np.array([r["val_acc"][epoch - 1] for r in runs])
    loss = np.array([r["val_loss"][epoch - 1] for r in runs])
    return {"val top-1": acc, "-val loss": -loss, "val top-1, loss ties": acc - 1e-6 * loss}


def main() -> int:
    for path in sorted(BENCHMARKS.glob("curves_*.json")):
        report(json.loads(path.read_text()))
    return 0


def report(recorded: dict) -> None:
    shared = set.intersection(*({s["seed"] for s in c["seeds"]} for c in recorded["configs"]))
    runs = [s for c in recorded["configs"] for s in c["seeds"] if s["seed"] in shared]  # more seeds weigh no more
    final_test = np.array([r["test_acc"][-1] for r in runs])
    max_epochs = recorded["max_epochs"]
    task, points = recorded["task"].split(" ")[0], len(recorded["configs"])
    print(f"{task}: {len(runs)} runs ({points} points x {len(shared)} seeds); Spearman with the final test top-1")
    names = list(signals(runs, 1))
    firsts = [c["seeds"][0] for c in recorded["configs"]]
    others = np.array([c["seeds"][1]["test_acc"][-1] for c in recorded["configs"]])
    print(f"{'rung epoch':>10s} " + " ".join(f"{n:>22s}" for n in names) + f" {'ties at the top-1':>18s}"
          f" {'another run':>12s}")  # fmt: skip
    for epoch in range(1, max_epochs + 1):
        values = signals(runs, epoch)
        rhos = [spearmanr(values[n], final_test).statistic for n in names]
        ties = len(values["val top-1"]) - len(np.unique(values["val top-1"]))
        other = spearmanr(signals(firsts, epoch)["val top-1, loss ties"], others).statistic
        print(f"{epoch:10d} " + " ".join(f"{rho:22.3f}" for rho in rhos) + f" {ties:18d} {other:12.3f}")
    seed_pairs = [c["seeds"] for c in recorded["configs"] if len(c["seeds"]) >= 2]
    a = [p[0]["test_acc"][-1] for p in seed_pairs]
    b = [p[1]["test_acc"][-1] for p in seed_pairs]
    print(f"seed-to-seed: Spearman of the final test top-1 between the first 2 seeds of each point: "
          f"{spearmanr(a, b).statistic:.3f}\n")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
