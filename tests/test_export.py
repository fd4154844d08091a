"""ONNX export of EMA weights, its checks, the sidecar, and the predict CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_image_folder

import rayjob.outputs.onnx as export
from rayjob.config import Config
from rayjob.errors import RayjobError
from rayjob.export import main as export_main
from rayjob.model.backbones import build_backbone
from rayjob.predict import main as predict_main
from rayjob.runs import best_checkpoint
from rayjob.train import main as train_main

COLORS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch run with a fast EMA on a tiny dataset that has a test split; returns its run folder."""
    base = tmp_path_factory.mktemp("export")
    root = make_image_folder(base / "data", COLORS, {"train": 8, "val": 4, "test": 3})
    cfg = Config.from_dict(
        {
            "data": {"root": str(root), "image_size": 16, "batch_size": 8, "augment": "none"},
            "ema": {"decay": 0.9},
            "trainer": {"max_epochs": 2, "accelerator": "cpu", "progress_bar": False},
            "run": {"name": "run", "storage_path": str(base / "results")},
        }
    )
    file = base / "config.yaml"
    file.write_text(cfg.to_yaml())
    assert train_main(["--config", str(file)]) == 0
    return base / "results" / "run"


def best_of(run: Path) -> tuple[Path, dict]:
    found = best_checkpoint(run, "val/acc_top1", "max")
    assert found is not None
    return found


def live_model(checkpoint: Path) -> torch.nn.Module:
    ckpt = torch.load(checkpoint, weights_only=True)
    model = build_backbone("resnet18", 3)
    model.load_state_dict({k[9:]: v for k, v in ckpt["current_model_state"].items() if k.startswith("backbone.")})
    return model.eval()


def test_onnx_matches_the_ema_weights_not_the_live_ones(trained: Path, tmp_path: Path) -> None:
    checkpoint, metrics = best_of(trained)
    done = export.export_checkpoint(checkpoint, tmp_path, export.Source(str(checkpoint), None, metrics))
    assert done.max_abs_diff <= 1e-4 and done.top1_agreement == 1.0
    ema, cfg, classes, kind = export.load_ema_model(checkpoint)
    assert kind == "ema" and classes == ["blue", "green", "red"]
    live = live_model(checkpoint)
    assert not torch.equal(ema.conv1.weight, live.conv1.weight)

    images = torch.randn(5, 3, 16, 16)
    got = export.inference_session(done.onnx_path).run(["logits"], {"input": images.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, ema(images).numpy(), atol=1e-4)
        assert np.abs(got - live(images).numpy()).max() > 1e-3


def test_sidecar_describes_the_model(trained: Path, tmp_path: Path) -> None:
    checkpoint, metrics = best_of(trained)
    done = export.export_checkpoint(checkpoint, tmp_path, export.Source(str(checkpoint), None, metrics))
    sidecar = json.loads(done.sidecar_path.read_text())
    assert sidecar["classes"] == {"0": "blue", "1": "green", "2": "red"}
    assert sidecar["input"] == {"name": "input", "shape": ["batch", 3, 16, 16]}
    assert sidecar["preprocessing"]["mean"] == [0.485, 0.456, 0.406] and not sidecar["preprocessing"]["in_graph"]
    assert sidecar["backbone"] == "resnet18" and sidecar["weights"] == "ema" and sidecar["opset"] >= 17
    assert sidecar["config"]["data"]["image_size"] == 16
    assert sidecar["metrics"]["val/acc_top1"] == pytest.approx(metrics["val/acc_top1"])
    assert sidecar["source_checkpoint"] == str(checkpoint)
    latency = sidecar["latency"]  # measured on the exporting machine, for the people who deploy it
    assert latency["batch_1_ms"] > 0 and latency["batch_32_ms"] > latency["batch_1_ms"] and latency["threads"] >= 1
    assert latency["provider"] == "CPUExecutionProvider" and latency["device"].startswith("CPU ")
    assert sidecar["evaluation"]["split"] == "test" and 0.0 <= sidecar["evaluation"]["onnx_top1"] <= 1.0


def test_parity_failure_is_an_error_and_leaves_no_model(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = export.write_onnx

    def write_corrupted(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
        corrupted = build_backbone("resnet18", 3).eval()
        corrupted.load_state_dict(model.state_dict())
        with torch.no_grad():
            corrupted.fc.weight.add_(0.5)  # one corrupted layer
        real_write(corrupted, example, path)

    monkeypatch.setattr(export, "write_onnx", write_corrupted)
    checkpoint, _ = best_of(trained)
    with pytest.raises(export.ExportError, match=r"onnxruntime disagrees with PyTorch .* no model was written"):
        export.export_checkpoint(checkpoint, tmp_path, export.Source(str(checkpoint)))
    assert list(tmp_path.iterdir()) == []


def test_nothing_to_export_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(export.ExportError, match="holds no finished trial or checkpoint"):
        export_main([str(tmp_path)])
    with pytest.raises(export.ExportError, match="does not exist"):
        export_main([str(tmp_path / "missing")])


def test_export_cli_and_predict_cli(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert export_main([str(trained), "--out", str(tmp_path)]) == 0
    assert "top-1 agreement 100%" in capsys.readouterr().out
    model = tmp_path / "model.onnx"
    images = trained.parent.parent / "data" / "test"

    assert predict_main([str(model), str(images / "red"), str(images / "blue" / "blue_0.png"), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(len(line.split()) == 5 for line in lines)  # path + 2 x (class, probability)

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    assert predict_main([str(model), str(images / "green" / "green_1.png"), str(broken), "--json"]) == 1
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["predictions"][0]["top"][0]["class"] in COLORS
    assert sum(t["probability"] for t in result["predictions"][0]["top"]) == pytest.approx(1.0, abs=1e-5)
    assert "cannot read image" in captured.err and "broken.png" in captured.err

    with pytest.raises(RayjobError, match="does not exist"):
        predict_main([str(tmp_path / "nope.onnx"), str(broken)])


def test_predict_into_a_closed_pipe_stops_quietly(trained: Path, tmp_path: Path) -> None:
    """`python -m rayjob.predict ... | head` must not end in a BrokenPipeError traceback."""
    assert export_main([str(trained), "--out", str(tmp_path)]) == 0
    images = trained.parent.parent / "data" / "test"
    command = [sys.executable, "-m", "rayjob.predict", str(tmp_path / "model.onnx"), str(images), "--json"]
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader.stdout.close()  # the reader went away before the first line
    err = reader.stderr.read()
    reader.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert reader.returncode == 141


def test_held_out_evaluation_and_export_need_no_lightning(trained: Path, tmp_path: Path) -> None:
    """The sweep's post-hook runs in the driver: a forward pass and an ONNX export must not import Lightning
    (and the torchmetrics chain it brings: seconds of every sweep's post-hook)."""
    checkpoint, metrics = best_of(trained)
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from rayjob.outputs.heldout import checkpoint_accuracy\n"
        "from rayjob.outputs.onnx import Source, export_checkpoint\n"
        f"split, accuracy = checkpoint_accuracy({str(checkpoint)!r}, 't', Path({str(tmp_path / 'eval')!r}))\n"
        f"export_checkpoint(Path({str(checkpoint)!r}), Path({str(tmp_path / 'out')!r}), Source('c'))\n"
        "print(split, accuracy.images, 'lightning' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["test", "9", "False"]
    assert (tmp_path / "out" / "model.onnx").is_file()
