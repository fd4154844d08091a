from pathlib import Path

import pytest
import torch

from rayjob.errors import ConfigError
from rayjob.model.backbones import BACKBONES, build_backbone


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_with_a_new_head(name: str) -> None:
    model = build_backbone(name, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_unknown_backbone_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown backbone 'resnet19'.*known: .*resnet18, resnet34"):
        build_backbone("resnet19", 3)


def test_local_weights_load_except_the_head(tmp_path: Path) -> None:
    source = build_backbone("resnet18", 1000)
    file = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), file)
    model = build_backbone("resnet18", 5, str(file))
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert model.fc.out_features == 5


def test_wrong_or_missing_weights_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_backbone("resnet18", 5, str(tmp_path / "missing.pth"))
    other = tmp_path / "mobilenet.pth"
    torch.save(build_backbone("mobilenet_v3_small", 5).state_dict(), other)
    with pytest.raises(ConfigError, match="does not fit resnet18"):
        build_backbone("resnet18", 5, str(other))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(ConfigError, match="could not be read"):
        build_backbone("resnet18", 5, str(junk))
