"""``cnn_small``: a plain 4-block conv net for small crops (32 px) on CPUs, where resnet18 is much slower
(a one-off check on this 2-core machine, 1 thread, batch 64 at 32 px, training steps: 849 against 288 img/s).

Conv-BN-ReLU blocks of 32, 64, 128 and 256 channels, each halving the image, global average pooling, one
``fc`` head (replaced like any torchvision head). It is what a CPU quickstart can afford to search over.
"""

from __future__ import annotations

from torch import nn


def cnn_small(weights: None = None, num_classes: int = 1000) -> nn.Module:
    """The signature of a torchvision constructor (``weights`` must be None: nothing is pretrained)."""
    return SmallCNN(num_classes)


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int, widths: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in widths:
            conv = nn.Conv2d(channels, width, 3, padding=1, bias=False)
            layers += [conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, images):  # noqa: ANN001, ANN201 - nn.Module's signature
        return self.fc(self.pool(self.features(images)).flatten(1))
