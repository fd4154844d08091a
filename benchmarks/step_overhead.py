"""Host time rayjob adds to each training step over a plain PyTorch loop doing the same work.

    python benchmarks/step_overhead.py [--steps 1500] [--repeats 3]

Both train the same tiny model (a linear layer on 8x8 images: a step of well under 1 ms, so what is measured is
the loop around it) on data already in memory, with the same AdamW, gradient clipping and EMA update
(rayjob's ``WarmupEmaUpdate``):
- plain: forward, loss, backward, clip, step, zero_grad, EMA update; nothing else;
- rayjob: the ``Classifier`` with a Lightning ``Trainer`` built by ``rayjob.training.loop`` with its callbacks
  (epoch log, divergence guard, RNG state, per-epoch checkpoint and report, ``WeightAveraging`` EMA) and a
  ``LocalSession``, as ``python -m rayjob.train`` runs it.
Per-step time = (time of a run of 1 + N steps - time of a run of 1 + N/5 steps) / (4N/5): start-up, the
epoch's validation and checkpoint cancel out. One thread; the two loops alternate, and each figure is the
median of ``--repeats`` such measurements.
The last line: ``step overhead: rayjob X ms vs plain Y ms per step (+Z ms)``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rayjob.config import Config
from rayjob.model.ema import WarmupEmaUpdate

BATCH, SIZE, CLASSES = 32, 8, 10


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, CLASSES))


def loader(steps: int) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(steps * BATCH, 3, SIZE, SIZE, generator=generator)
    labels = torch.randint(0, CLASSES, (steps * BATCH,), generator=generator)
    return DataLoader(TensorDataset(images, labels), batch_size=BATCH, shuffle=False)


def config() -> Config:
    return Config.from_dict({
        "data": {"image_size": SIZE, "batch_size": BATCH, "augment": "none"},
        "optim": {"lr": 1e-3, "weight_decay": 0.05, "warmup_epochs": 0},
        "ema": {"decay": 0.99},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "precision": "32-true", "gradient_clip_val": 1.0,
                    "progress_bar": False},
    })  # fmt: skip


def plain_run(steps: int) -> float:
    """Seconds for ``steps`` plain steps (the loader built before the clock starts)."""
    cfg = config()
    model = tiny_model()
    ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=WarmupEmaUpdate(cfg.ema.decay), use_buffers=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    batches = loader(steps)
    started = time.perf_counter()
    for images, labels in batches:
        loss = loss_fn(model(images), labels)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
        optimizer.step()
        optimizer.zero_grad()
        ema.update_parameters(model)
    return time.perf_counter() - started


def rayjob_run(steps: int) -> float:
    """Seconds for one epoch of ``steps`` steps of rayjob's training loop, validation and checkpoint included."""
    import lightning as L

    from rayjob.model.classifier import Classifier
    from rayjob.training.loop import _callbacks, _trainer
    from rayjob.training.sessions import LocalSession

    cfg = config()
    classes = [str(i) for i in range(CLASSES)]
    with tempfile.TemporaryDirectory() as tmp:
        session = LocalSession(Path(tmp), cfg.search.metric, cfg.search.mode, keep=1)
        L.seed_everything(0, verbose=False)
        model = Classifier(cfg.to_dict(), classes, None)
        model.backbone = tiny_model()
        trainer = _trainer(cfg, _callbacks(cfg, session), distributed=False, interactive=False)
        train, val = loader(steps), loader(2)
        started = time.perf_counter()
        trainer.fit(model, train_dataloaders=train, val_dataloaders=val)
        return time.perf_counter() - started


def step_seconds(run: object, steps: int) -> float:
    """Per-step seconds between a run of ``1 + steps`` steps and one of ``1 + steps // 5``."""
    short = steps // 5
    long_s, short_s = run(1 + steps), run(1 + short)  # type: ignore[operator]
    return (long_s - short_s) / (steps - short)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="steps of the long run (default 1500)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each length and loop (default 5)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from rayjob.console import show_run_progress
    from rayjob.library_logs import quiet_libraries

    quiet_libraries(ray_info=False)
    show_run_progress(False)  # as in a sweep trial: no epoch lines
    plain_run(50), rayjob_run(50)  # imports and first-call costs out of the way
    pairs = [(step_seconds(rayjob_run, args.steps), step_seconds(plain_run, args.steps)) for _ in range(args.repeats)]
    rayjob_s = statistics.median(r for r, _ in pairs)  # the two loops alternate: a busy spell hits both
    plain_s = statistics.median(p for _, p in pairs)
    print(f"step overhead: rayjob {rayjob_s * 1000:.3f} ms vs plain {plain_s * 1000:.3f} ms per step "
          f"(+{(rayjob_s - plain_s) * 1000:.3f} ms)", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
