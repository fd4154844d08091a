"""Time the README's quickstart run and print its accuracy.

    python benchmarks/quickstart.py

Runs ``python -m rayjob.train --config configs/quickstart.yaml`` in a fresh process (imports and
the embedded dataset included) into a temporary results folder and prints the wall time and the
best ``val/acc_top1``. Issue 17 asks for at most 60 s on 2 CPU cores (camera-digits: no accuracy bar; the
base config lands near 0.80 on val, see the README's "Search quality").
"""

from __future__ import annotations

import sys
import tempfile

from timing import ROOT, timed_run  # benchmarks/ is on sys.path when a script here runs


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "rayjob.train", "--config", str(ROOT / "configs" / "quickstart.yaml"),
            f"run.storage_path={tmp}", "trainer.progress_bar=false",
        ]  # fmt: skip
        finished = timed_run(command)
    if finished is None:
        return 1
    done, wall = finished
    accuracy = float(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("val/acc_top1 ")))
    epochs = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    print("\n".join(epochs))
    print(f"quickstart wall time {wall:.1f} s (limit 60 s), {len(epochs)} epochs")
    print(f"val/acc_top1 {accuracy:.4f}")
    return 0 if wall <= 60 else 1


if __name__ == "__main__":
    sys.exit(main())
