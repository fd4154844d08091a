"""Backbone registry: a torchvision constructor by name, with its classifier head replaced.

Weights are never downloaded: a backbone starts random, or from a local state_dict file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rayjob.errors import ConfigError

if TYPE_CHECKING:  # torch is imported where models are built, not by drivers checking names
    from torch import nn

# name -> dotted path of the final nn.Linear that becomes the num_classes head.
# The name is also the torchvision.models constructor (cnn_small: rayjob.model.small_cnn).
BACKBONES: dict[str, str] = {
    "resnet18": "fc",
    "resnet34": "fc",
    "resnet50": "fc",
    "mobilenet_v3_small": "classifier.3",
    "mobilenet_v3_large": "classifier.3",
    "efficientnet_b0": "classifier.1",
    "efficientnet_b1": "classifier.1",
    "convnext_tiny": "classifier.2",
    "regnet_y_400mf": "fc",
    "regnet_y_800mf": "fc",
    "cnn_small": "fc",  # rayjob.model.small_cnn: not torchvision's; a CPU-sized net for small crops
}


def check_backbone(name: str) -> None:
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r} (model.backbone); known: {', '.join(sorted(BACKBONES))}")


def build_backbone(name: str, num_classes: int, weights: str | None = None) -> nn.Module:
    """A torchvision classifier with a ``num_classes`` head, random or from a local weights file."""
    import torchvision
    from torch import nn

    check_backbone(name)
    from rayjob.model.small_cnn import cnn_small

    constructor = cnn_small if name == "cnn_small" else getattr(torchvision.models, name)
    model: nn.Module = constructor(weights=None)
    if weights is not None:
        _load_local_weights(model, name, Path(weights).expanduser())
    head_path = BACKBONES[name]
    old_head = model.get_submodule(head_path)
    assert isinstance(old_head, nn.Linear), f"{name}.{head_path} is not a Linear layer"
    parent_path, _, attr = head_path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, nn.Linear(old_head.in_features, num_classes))
    return model


def _load_local_weights(model: nn.Module, name: str, path: Path) -> None:
    """Load a torchvision-style state_dict; the head may differ (it is replaced anyway)."""
    import torch

    if not path.is_file():
        raise ConfigError(f"model.weights file {path} does not exist; give a local state_dict file or null")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ConfigError(f"model.weights file {path} could not be read as a state_dict: {err}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    head = BACKBONES[name] + "."
    own = model.state_dict()
    body = {k: v for k, v in state.items() if not k.startswith(head)}
    missing = [k for k in own if not k.startswith(head) and k not in body]
    mismatched = [k for k, v in body.items() if k in own and own[k].shape != v.shape]
    unexpected = [k for k in body if k not in own]
    if missing or mismatched or unexpected:
        first = (missing or mismatched or unexpected)[:3]
        raise ConfigError(
            f"model.weights file {path} does not fit {name}: {len(missing)} missing, "
            f"{len(mismatched)} wrong-shape, {len(unexpected)} unexpected tensors (e.g. {', '.join(first)})"
        )
    model.load_state_dict(body, strict=False)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
