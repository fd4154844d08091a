"""``python -m rayjob.predict model.onnx IMAGE_OR_DIR...``: classify images with an exported model.

Reads the sidecar (``model.json`` next to the model) and preprocesses each image exactly as
evaluation did (``rayjob.data.eval_transform`` with the sidecar's size, mean and std).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rayjob.cli import run_main
from rayjob.console import say
from rayjob.data.files import IMAGE_EXTENSIONS
from rayjob.errors import DataError, RayjobError


def load_sidecar(model: Path) -> dict[str, Any]:
    sidecar = model.with_suffix(".json")
    if not model.is_file():
        raise RayjobError(f"{model} does not exist; export one with python -m rayjob.export RESULTS")
    if not sidecar.is_file():
        raise RayjobError(f"{sidecar} is missing: it holds the classes and preprocessing; re-export the model")
    return json.loads(sidecar.read_text())


def image_files(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS))
        else:
            files.append(item)
    return files


def predict(model: Path, inputs: list[Path], top_k: int = 3) -> tuple[list[dict[str, Any]], list[str]]:
    """Top-k classes per image; unreadable images are returned as error lines, not raised."""
    import numpy as np

    from rayjob.config import DataSection
    from rayjob.data.decoded import decode
    from rayjob.data.transforms import eval_transform
    from rayjob.outputs.onnx import inference_session

    sidecar = load_sidecar(model)
    prep = sidecar["preprocessing"]
    transform = eval_transform(DataSection(image_size=prep["image_size"], mean=prep["mean"], std=prep["std"]))
    classes = [sidecar["classes"][str(i)] for i in range(len(sidecar["classes"]))]
    limit = prep.get("stored_size", 2**31)  # sidecars before rayjob-onnx-v1.1 did not scale down first
    session = inference_session(model)
    results, errors = [], []
    for file in image_files(inputs):
        try:
            tensor = transform(decode(str(file), limit)).unsqueeze(0).numpy()
        except DataError as err:
            errors.append(str(err))
            continue
        logits = session.run(["logits"], {"input": tensor})[0][0]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        best = np.argsort(-probs)[: min(top_k, len(classes))]
        results.append(
            {"image": str(file), "top": [{"class": classes[i], "probability": float(probs[i])} for i in best]}
        )
    return results, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rayjob.predict",
        description="Classify images with an exported rayjob ONNX model (reads model.json next to it).",
        epilog="examples (after python -m rayjob.tune, which writes results/quickstart/export/):\n"
        "  python -m rayjob.predict results/quickstart/export/model.onnx img1.png some/folder --top-k 3\n"
        "  python -m rayjob.predict results/quickstart/export/model.onnx some/folder --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", type=Path, help="model.onnx written by rayjob.export / rayjob.tune")
    parser.add_argument("images", type=Path, nargs="+", help="image files or folders (searched recursively)")
    parser.add_argument("--top-k", type=int, default=3, help="classes to show per image (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args(argv)
    if args.top_k < 1:
        raise RayjobError(f"--top-k {args.top_k}: show at least 1 class per image")
    results, errors = predict(args.model, args.images, args.top_k)
    if not results and not errors:
        raise RayjobError(f"no images found in {', '.join(map(str, args.images))} ({', '.join(IMAGE_EXTENSIONS)})")
    if args.json:
        say(json.dumps({"predictions": results, "errors": errors}, indent=2))
    else:
        width = max((len(r["image"]) for r in results), default=5)
        for r in results:
            top = "  ".join(f"{t['class']} {t['probability']:.3f}" for t in r["top"])
            say(f"{r['image']:<{width}}  {top}")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    run_main(main)
