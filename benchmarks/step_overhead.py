"""Host time rayjob adds to each training step over a plain PyTorch loop doing the same work.

    python benchmarks/step_overhead.py [--steps 1500] [--repeats 5]

Three loops train the same tiny model (a linear layer on 8x8 images: a step of well under 1 ms, so what is
measured is the loop around it) on data already in memory, with the same optimizer as rayjob's (AdamW, weights
and biases in two groups, the per-step warmup-cosine schedule), gradient clipping and EMA update
(rayjob's ``WarmupEmaUpdate``):
- plain: forward, loss, backward, clip, step, zero_grad, schedule step, EMA update; nothing else;
- lightning: a bare ``LightningModule`` doing the same under Lightning's ``Trainer`` with its defaults and only
  the ``WeightAveraging`` EMA callback: what Lightning's own loop costs;
- rayjob: the ``Classifier`` with a Lightning ``Trainer`` built by ``rayjob.training.loop`` with its callbacks
  (epoch log, divergence guard, RNG state, per-epoch checkpoint and report, ``WeightAveraging`` EMA) and a
  ``LocalSession``, as ``python -m rayjob.train`` runs it.
A step's time is the interval between two consecutive batches leaving the loader (its collate function stamps
the clock), so it covers the whole loop around the step; a run's figure is the median interval after the
first 50 steps: a steady state, and a stall of the shared machine moves a median little. One thread; the
loops alternate ``--repeats`` times; each line gives the medians over the runs and the SE of the mean of the
paired differences.
The last line: ``step overhead: rayjob X ms vs plain Y ms per step (+Z ms)``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from timing import paired_se  # benchmarks/ is on sys.path when a script here runs
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, default_collate

from rayjob.config import Config
from rayjob.model.classifier import optimizer_and_schedule
from rayjob.model.ema import WarmupEmaUpdate

BATCH, SIZE, CLASSES = 32, 8, 10


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, CLASSES))


SETTLE = 50  # steps left out at the start of a run: first calls, allocator warm-up


def loader(steps: int, stamps: list[float] | None = None) -> DataLoader:
    """``steps`` batches of random images in memory; with ``stamps``, the clock is read as each batch is made."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(steps * BATCH, 3, SIZE, SIZE, generator=generator)
    labels = torch.randint(0, CLASSES, (steps * BATCH,), generator=generator)

    def stamped(samples: list) -> object:
        if stamps is not None:
            stamps.append(time.perf_counter())
        return default_collate(samples)

    return DataLoader(TensorDataset(images, labels), batch_size=BATCH, shuffle=False, collate_fn=stamped)


def median_step(stamps: list[float]) -> float:
    """The median interval between consecutive batches, after the first SETTLE."""
    steady = stamps[SETTLE:]
    return statistics.median(b - a for a, b in zip(steady, steady[1:], strict=False))


def config() -> Config:
    return Config.from_dict({
        "data": {"image_size": SIZE, "batch_size": BATCH, "augment": "none"},
        "optim": {"lr": 1e-3, "weight_decay": 0.05, "warmup_epochs": 0},
        "ema": {"decay": 0.99},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "precision": "32-true", "gradient_clip_val": 1.0,
                    "progress_bar": False},
    })  # fmt: skip


def plain_run(steps: int) -> float:
    """Median seconds per step of ``steps`` plain steps."""
    cfg = config()
    model = tiny_model()
    ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=WarmupEmaUpdate(cfg.ema.decay), use_buffers=True)
    optimizer, scheduler = optimizer_and_schedule(model, cfg.optim, steps, steps)  # one epoch
    loss_fn = nn.CrossEntropyLoss()
    stamps: list[float] = []
    for images, labels in loader(steps, stamps):
        loss = loss_fn(model(images), labels)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
        ema.update_parameters(model)
    return median_step(stamps)


def lightning_run(steps: int) -> float:
    """Median seconds per step of ``steps`` steps of a bare LightningModule under Lightning's defaults."""
    import lightning as L

    from rayjob.model.ema import ema_callback

    class Bare(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = tiny_model()
            self.loss_fn = nn.CrossEntropyLoss()

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            images, labels = batch
            return self.loss_fn(self.backbone(images), labels)

        def configure_optimizers(self) -> dict[str, object]:
            optimizer, scheduler = optimizer_and_schedule(self, config().optim, steps, steps)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    cfg = config()
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", precision="32-true", gradient_clip_val=cfg.trainer.gradient_clip_val,
        callbacks=[ema_callback(cfg.ema)], logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    stamps: list[float] = []
    trainer.fit(Bare(), train_dataloaders=loader(steps, stamps))
    return median_step(stamps)


def rayjob_run(steps: int) -> float:
    """Median seconds per step of one epoch of ``steps`` steps of rayjob's training loop."""
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
        stamps: list[float] = []
        trainer.fit(model, train_dataloaders=loader(steps, stamps), val_dataloaders=loader(2))
        return median_step(stamps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="steps a run (default 1500)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each loop (default 5)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from rayjob.console import show_run_progress
    from rayjob.library_logs import quiet_libraries

    quiet_libraries(ray_info=False)
    show_run_progress(False)  # as in a sweep trial: no epoch lines
    loops = {"plain": plain_run, "lightning": lightning_run, "rayjob": rayjob_run}
    for run in loops.values():
        run(SETTLE + 2)  # imports and first-call costs out of the way
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(args.repeats):  # the loops alternate: a busy spell hits all of them
        for name, run in loops.items():
            times[name].append(run(args.steps) * 1000)
    ms = {name: statistics.median(values) for name, values in times.items()}
    for slower, faster in (("lightning", "plain"), ("rayjob", "lightning")):
        print(f"{slower} over {faster}: {ms[slower] - ms[faster]:+.3f} ms per step "
              f"(SE {paired_se(times[slower], times[faster]):.3f})")  # fmt: skip
    se = paired_se(times["rayjob"], times["plain"])
    print(f"step overhead: rayjob {ms['rayjob']:.3f} ms vs plain {ms['plain']:.3f} ms per step "
          f"(+{ms['rayjob'] - ms['plain']:.3f} ms; SE {se:.3f})", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
