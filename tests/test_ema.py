"""EMA on Lightning's WeightAveraging: the numbers, and that resume keeps them."""

from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Checkpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rayjob.config import EmaSection
from rayjob.layout import CHECKPOINT_FILE
from rayjob.model.ema import WarmupEmaUpdate, ema_callback
from rayjob.training.callbacks.divergence_guard import DivergenceGuard
from rayjob.training.callbacks.report_checkpoint import ReportCheckpoint
from rayjob.training.sessions import LocalSession


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    def training_step(self, batch, batch_idx):  # noqa: ANN001
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self):  # noqa: ANN201
        return torch.optim.SGD(self.parameters(), lr=0.5)


def loader() -> DataLoader:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, generator=g)
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=8, shuffle=False)


class RecordLive(L.Callback):
    def __init__(self) -> None:
        self.steps: list[list[torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # noqa: ANN001
        self.steps.append([p.detach().clone() for p in pl_module.parameters()])


def fit(epochs: int, callbacks: list, ckpt_path: str | None = None) -> Tiny:
    model = Tiny()
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=any(isinstance(c, Checkpoint) for c in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, loader(), ckpt_path=ckpt_path)
    return model


def test_decay_warmup_schedule() -> None:
    fn = WarmupEmaUpdate(decay=0.99, warmup=True)
    assert float(fn.decay_at(torch.tensor(1))) == pytest.approx(2 / 11)
    assert float(fn.decay_at(torch.tensor(10_000))) == pytest.approx(0.99)
    assert float(WarmupEmaUpdate(decay=0.99, warmup=False).decay_at(torch.tensor(1))) == pytest.approx(0.99)


def test_averaged_weights_match_a_hand_computed_ema() -> None:
    ema = ema_callback(EmaSection(decay=0.9, warmup=True))
    record = RecordLive()
    fit(2, [record, ema])
    expected = [t.clone() for t in record.steps[0]]  # first update copies the live weights
    for n, live in enumerate(record.steps[1:], start=1):
        d = min(0.9, (1 + n) / (10 + n))
        expected = [d * e + (1 - d) * w for e, w in zip(expected, live, strict=True)]
    averaged = list(ema._average_model.module.parameters())
    assert len(record.steps) == 8
    for got, want, live in zip(averaged, expected, record.steps[-1], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(got, live)  # EMA really differs from the live weights


def run(folder: Path, epochs: int, resume: bool = False) -> dict:
    """Train with rayjob's per-epoch checkpointing; return the newest checkpoint's contents."""
    session = LocalSession(folder, "epoch", "max", keep=5)
    with session.resume_from() as ckpt:
        assert (ckpt is not None) == resume
        callbacks = [ema_callback(EmaSection(decay=0.9)), ReportCheckpoint(session, DivergenceGuard())]
        fit(epochs, callbacks, ckpt_path=ckpt and str(ckpt))
    return torch.load(session.latest_checkpoint() / CHECKPOINT_FILE, weights_only=True)


def test_resume_restores_both_ema_and_live_weights(tmp_path: Path) -> None:
    want = run(tmp_path / "straight", 3)
    run(tmp_path / "interrupted", 2)
    got = run(tmp_path / "interrupted", 3, resume=True)
    assert got["epoch"] == want["epoch"] and got["global_step"] == want["global_step"] == 12
    for key in ("state_dict", "current_model_state"):  # EMA weights, live weights
        for name, value in want[key].items():
            torch.testing.assert_close(got[key][name], value, msg=f"{key}.{name}")
    assert not torch.equal(want["state_dict"]["net.0.weight"], want["current_model_state"]["net.0.weight"])
    torch.testing.assert_close(got["averaging_state"]["n_averaged"], want["averaging_state"]["n_averaged"])
