"""The simplest loop that trains a config's model on its data: no Lightning, no EMA, no metrics, no Ray.

Two measures stand on it: ``--plan`` times a few of its steps to estimate an epoch, and
``benchmarks/plain_epoch.py`` times whole epochs as the denominator of the sweep-overhead figure.
"""

from __future__ import annotations

import torch
from torch import nn

from rayjob.config import Config
from rayjob.data.datamodule import ImageDataModule
from rayjob.data.sources import resolve_root
from rayjob.model.backbones import build_backbone


class PlainLoop:
    """The config's data, backbone, AdamW and cross-entropy; one call per training or validation batch."""

    def __init__(self, cfg: Config, device: str = "cpu") -> None:
        self.device = device
        self.data = ImageDataModule(cfg.data, resolve_root(cfg.data))
        self.model = build_backbone(cfg.model.backbone, self.data.num_classes, cfg.model.weights).to(device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
        )
        self.loss_fn = nn.CrossEntropyLoss()
        self.train_loader = self.data.train_dataloader()
        val = self.data.val_dataloader()
        self.val_loader = val[0] if isinstance(val, list) else val  # the val split (not trainer.test_curve's)

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        self.loss_fn(self.model(images.to(self.device)), labels.to(self.device)).backward()
        self.optimizer.step()

    @torch.no_grad()
    def val_step(self, images: torch.Tensor, labels: torch.Tensor) -> int:
        """How many of the batch's images the model gets right."""
        predicted = self.model(images.to(self.device)).argmax(1)
        return int((predicted == labels.to(self.device)).sum().item())

    def epoch(self) -> float:
        """Train one epoch, then validate; returns val top-1."""
        self.model.train()
        for images, labels in self.train_loader:
            self.train_step(images, labels)
        self.model.eval()
        correct = sum(self.val_step(images, labels) for images, labels in self.val_loader)
        return correct / len(self.val_loader.dataset)

    def synchronize(self) -> None:
        """Wait for queued GPU work, so a clock read after it is true."""
        if self.device == "cuda":
            torch.cuda.synchronize()


def loop_device(cfg: Config) -> str:
    """Where the plain loop runs: the GPU when the config may use one and there is one."""
    return "cuda" if cfg.trainer.accelerator in ("gpu", "auto") and torch.cuda.is_available() else "cpu"
