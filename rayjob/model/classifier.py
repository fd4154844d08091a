"""The LightningModule: backbone, loss, metrics, optimizer and LR schedule.

The full resolved config and the class names are saved as hyperparameters, so a checkpoint alone
is enough to rebuild the model, its preprocessing and its label mapping (export uses this).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from rayjob.config import Config, OptimSection
from rayjob.data.device_augment import DeviceAugment
from rayjob.data.transforms import batch_mixer
from rayjob.model.backbones import build_backbone
from rayjob.model.lr_schedule import WarmupCosine

SAMPLES = 16  # validation images kept for the samples plot: the most confident mistakes, then the first ones


class Classifier(L.LightningModule):
    def __init__(self, config: dict[str, Any], classes: list[str], class_weights: list[float] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = Config.from_dict(config)
        self.classes = list(classes)
        num_classes = len(classes)
        self.backbone = build_backbone(self.cfg.model.backbone, num_classes, self.cfg.model.weights)
        if self.cfg.model.channels_last:  # NHWC: faster convolutions with tensor cores under 16-mixed
            self.backbone = self.backbone.to(memory_format=torch.channels_last)
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=self.cfg.loss.label_smoothing)
        self._metrics(
            val_top1=MulticlassAccuracy(num_classes, top_k=1, average="micro"),
            val_top5=MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro"),
            val_f1=MulticlassF1Score(num_classes, average="macro"),
            test_top1=MulticlassAccuracy(num_classes, top_k=1, average="micro"),  # with trainer.test_curve
            val_confusion=MulticlassConfusionMatrix(num_classes),  # plotted each epoch (training.epoch_data)
        )
        self.mix = batch_mixer(self.cfg.data.augment, num_classes)  # mixup / cutmix, or None
        # data.augment_on: device: training batches arrive as uint8 pixels and are augmented here, on the device
        self.device_augment = DeviceAugment(self.cfg.data) if self.cfg.data.augment_on == "device" else None
        # the first validation images, and the most confident mistakes: images, true, predicted, confidence, index
        self.val_samples: tuple[torch.Tensor, ...] | None = None
        self.val_mistakes: tuple[torch.Tensor, ...] | None = None  # and their score (confidence; -1 when right)
        self.train_label_counts = torch.zeros(num_classes, dtype=torch.long)  # what the sampler drew this epoch
        self.train_loss_sum, self.train_images = torch.zeros(()), 0  # this epoch's, on the training device

    def _metrics(self, **metrics: Metric) -> None:
        """The torchmetrics objects as plain attributes, outside the module tree: every walk over the module's
        parameters (the EMA update makes several a step) hashes each submodule, and a Metric's hash is costly.
        They hold no weights (their states are not in ``state_dict``); ``on_validation_epoch_start`` moves them
        to the module's device, and ``self.log`` is told their attribute names."""
        self.metric_names = tuple(metrics)
        for name, metric in metrics.items():
            object.__setattr__(self, name, metric)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.device_augment is not None and self.trainer.training:
            images, labels = batch
            return self.device_augment(images), labels
        return batch

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.cfg.model.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.backbone(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        if self.cfg.data.weighted_sampler:  # only then are the draws printed; a .cpu() per step stalls a GPU
            self.train_label_counts += torch.bincount(labels.detach().cpu(), minlength=len(self.classes))
        targets = labels
        if self.mix is not None:
            images, targets = self.mix(images, labels)  # soft labels: cross-entropy takes probabilities
        loss = self.criterion(self(images), targets)
        # Summed on the device and logged once an epoch: Lightning's self.log per step was most of rayjob's host
        # time per step over a plain loop (benchmarks/step_overhead.py).
        self.train_loss_sum += loss.detach() * len(labels)
        self.train_images += len(labels)
        return loss

    def on_train_epoch_start(self) -> None:
        self.train_label_counts.zero_()
        self.train_loss_sum = torch.zeros((), device=self.device)
        self.train_images = 0

    def on_validation_epoch_start(self) -> None:
        for name in self.metric_names:
            getattr(self, name).to(self.device)
        self.val_confusion.reset()
        self.val_mistakes = None

    def _keep_mistakes(self, images: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor, batch_idx: int) -> None:
        """Keep the epoch's SAMPLES most confident wrong predictions, on the device (no sync per batch)."""
        confidence, predicted = logits.detach().float().softmax(1).max(1)
        score = torch.where(predicted != labels, confidence, torch.full_like(confidence, -1.0))
        index = batch_idx * self.cfg.data.batch_size + torch.arange(len(labels), device=labels.device)  # its place
        kept = [images, labels, predicted, confidence, index, score]
        if self.val_mistakes is not None:
            kept = [torch.cat([old, new]) for old, new in zip(self.val_mistakes, kept, strict=True)]
        top = kept[-1].topk(min(SAMPLES, len(kept[-1]))).indices
        self.val_mistakes = tuple(t[top] for t in kept)

    def on_train_epoch_end(self) -> None:
        """The epoch's mean training loss (over images, averaged over workers) and its last learning rate."""
        self.log("train/loss", self.train_loss_sum / max(1, self.train_images), sync_dist=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], sync_dist=True)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:  # noqa: E501
        images, labels = batch
        logits = self(images)
        if dataloader_idx == 1:  # the test split, with trainer.test_curve: recorded, never selected on
            self.log("test/loss", self.criterion(logits, labels), sync_dist=True, batch_size=len(labels),
                     add_dataloader_idx=False)  # fmt: skip
            self.test_top1(logits, labels)
            self.log("test/acc_top1", self.test_top1, on_epoch=True, add_dataloader_idx=False,
                     metric_attribute="test_top1")  # fmt: skip
            return
        self.log("val/loss", self.criterion(logits, labels), sync_dist=True, batch_size=len(labels),
                 add_dataloader_idx=False)  # fmt: skip
        # Logging the metric objects lets Lightning compute, sync across DDP workers and reset them.
        self.val_top1(logits, labels)
        self.val_top5(logits, labels)
        self.val_f1(logits, labels)
        self.val_confusion.update(logits, labels)
        self._keep_mistakes(images, labels, logits, batch_idx)
        if batch_idx == 0:
            keep = slice(0, SAMPLES)
            confidence, predicted = logits[keep].float().softmax(1).max(1)
            first = torch.arange(min(SAMPLES, len(labels)), device=labels.device)
            self.val_samples = (images[keep], labels[keep], predicted, confidence, first)
        for key, name in (("val/acc_top1", "val_top1"), ("val/acc_top5", "val_top5"), ("val/f1_macro", "val_f1")):
            self.log(key, getattr(self, name), on_epoch=True, add_dataloader_idx=False, metric_attribute=name)

    def configure_optimizers(self) -> dict[str, Any]:
        total = max(1, int(self.trainer.estimated_stepping_batches))
        steps_per_epoch = max(1, total // max(1, self.trainer.max_epochs))
        optimizer, scheduler = optimizer_and_schedule(self, self.cfg.optim, total, steps_per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def optimizer_and_schedule(
    module: nn.Module, optim: OptimSection, total_steps: int, steps_per_epoch: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with no weight decay on norm weights and biases, and the per-step warmup-cosine schedule (also what
    benchmarks/step_overhead.py gives its plain loop, so both loops do the same work)."""
    decay, no_decay = [], []
    for param in module.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)  # norm weights and biases
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=optim.lr,
    )
    schedule = WarmupCosine(round(optim.warmup_epochs * steps_per_epoch), total_steps, optim.min_lr_ratio)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
