from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_image_folder, write_image
from PIL import Image

from rayjob.config import DataSection
from rayjob.data.datamodule import ImageDataModule
from rayjob.data.digits import SPLIT_FRACTIONS
from rayjob.data.files import inverse_frequency, load_rgb
from rayjob.data.transforms import eval_transform, train_transform
from rayjob.errors import DataError

COLORS = {"a": (200, 30, 30), "b": (30, 200, 30)}


def test_every_image_mode_decodes_to_8bit_rgb(tmp_path: Path) -> None:
    base = np.linspace(0, 1, 64).reshape(8, 8)
    Image.fromarray((base * 255).astype(np.uint8), "L").save(tmp_path / "gray.png")
    Image.fromarray((base * 65535).astype(np.uint16)).save(tmp_path / "gray16.png")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent on the left half -> white there
    rgba[:, 4:, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray((base * 255).astype(np.uint8), "L").convert("P").save(tmp_path / "palette.png")
    Image.fromarray(base > 0.5).save(tmp_path / "bits.png")

    for name in ("gray", "gray16", "rgba", "palette", "bits"):
        img = load_rgb(str(tmp_path / f"{name}.png"))
        assert img.mode == "RGB" and img.size == (8, 8), name
    gray16 = np.asarray(load_rgb(str(tmp_path / "gray16.png")))
    assert gray16.max() == 255 and gray16.min() == 0  # rescaled, not clipped at 255 of 65535
    assert 100 < gray16[4, 0, 0] < 160  # mid-gray stays mid-gray
    rgba_rgb = np.asarray(load_rgb(str(tmp_path / "rgba.png")))
    assert tuple(rgba_rgb[0, 0]) == (255, 255, 255) and tuple(rgba_rgb[0, 7]) == (255, 0, 0)


def test_corrupt_image_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        load_rgb(str(bad))


def test_classes_come_from_train_and_val_may_be_a_subset(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path, {**COLORS, "c": (0, 0, 200)}, {"train": 3})
    make_image_folder(tmp_path, COLORS, {"val": 2})
    data = ImageDataModule(DataSection(), root)
    assert data.classes == ["a", "b", "c"]
    assert data.class_counts("train") == [3, 3, 3]
    assert data.class_counts("val") == [2, 2, 0]
    assert "test" not in data.splits


def test_val_class_not_in_train_is_a_clear_error(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path, COLORS, {"train": 2})
    make_image_folder(tmp_path, {"zebra": (9, 9, 9)}, {"val": 1})
    with pytest.raises(DataError, match=r"val has class folder\(s\) not in train/: zebra"):
        ImageDataModule(DataSection(), root)


def test_empty_class_folder_is_a_clear_error(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path, COLORS, {"train": 2, "val": 1})
    (root / "val" / "b" / "b_0.png").unlink()
    (root / "val" / "b" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"class folder .*val/b holds no images"):
        ImageDataModule(DataSection(), root)


def test_missing_root_split_and_single_class(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset root .* does not exist"):
        ImageDataModule(DataSection(), tmp_path / "nowhere")
    root = make_image_folder(tmp_path / "noval", COLORS, {"train": 2})
    with pytest.raises(DataError, match="val does not exist"):
        ImageDataModule(DataSection(), root)
    one = make_image_folder(tmp_path / "one", {"only": (1, 2, 3)}, {"train": 2, "val": 1})
    with pytest.raises(DataError, match="needs at least 2"):
        ImageDataModule(DataSection(), one)


def test_embedded_digits_is_a_real_image_folder(digits_root: Path) -> None:
    data = ImageDataModule(DataSection(), digits_root)
    assert data.classes == [str(d) for d in range(10)]
    sizes = {name: len(split.samples) for name, split in data.splits.items()}
    assert sum(sizes.values()) == 1797
    assert sizes["train"] == pytest.approx(1797 * SPLIT_FRACTIONS["train"], abs=10)
    images, labels = next(iter(data.val_dataloader()))
    assert images.shape == (64, 3, 32, 32) and images.dtype == torch.float32
    assert labels.max() < 10


def draws(augment: str | dict, image: Image.Image, n: int = 16) -> list[torch.Tensor]:
    torch.manual_seed(0)
    transform = train_transform(DataSection(image_size=24, augment=augment))
    return [transform(image) for _ in range(n)]


def structured_image() -> Image.Image:
    """A horizontal ramp with a bright square: crops, flips and color changes all show."""
    arr = np.tile(np.linspace(0, 255, 40, dtype=np.uint8)[None, :, None], (30, 1, 3))
    arr[5:15, 5:15] = (250, 40, 40)
    return Image.fromarray(arr)


def test_camera_digits_are_split_by_original_with_a_large_test_split(tmp_path: Path) -> None:
    """No original digit (nor a variant of it) lands in two splits; test has >= 1,000 independent images."""
    from rayjob.data.digits import ensure_embedded

    root = ensure_embedded("camera-digits", tmp_path)
    originals = {s: {p.name.split("-")[0] for p in (root / s).rglob("*.png")} for s in ("train", "val", "test")}
    assert not originals["train"] & originals["val"] and not originals["train"] & originals["test"]
    assert not originals["val"] & originals["test"]
    assert len(list((root / "test").rglob("*.png"))) == len(originals["test"]) >= 1000
    assert len(list((root / "train").rglob("*.png"))) == 8 * len(originals["train"]) == 2000  # 8 renderings each
    data = ImageDataModule(DataSection(), root)
    assert data.classes == [str(d) for d in range(10)] and data.class_counts("val") == [40] * 10


def test_camera_shapes_are_ten_symbol_classes_written_once_with_every_image_its_own_draw(tmp_path: Path) -> None:
    """The second embedded task: ten classes, 100/40/100 images each, no two images alike, and the same
    pixels on every machine (a fixed seed: recorded curves stay valid)."""
    from rayjob.data.digits import ensure_embedded

    root = ensure_embedded("camera-shapes", tmp_path)
    data = ImageDataModule(DataSection(embedded="camera-shapes"), root)
    assert len(data.classes) == 10 and "cross" in data.classes and "plus" in data.classes
    assert data.class_counts("train") == [100] * 10 and data.class_counts("val") == [40] * 10
    files = sorted(root.rglob("*.png"))
    assert len(files) == 2400 and len({f.read_bytes() for f in files}) == 2400
    again = ensure_embedded("camera-shapes", tmp_path / "again")
    assert (again / "test" / "star" / "0007.png").read_bytes() == (root / "test" / "star" / "0007.png").read_bytes()


def test_none_preset_is_exactly_the_evaluation_transform() -> None:
    image = structured_image()
    reference = eval_transform(DataSection(image_size=24))(image)
    assert reference.shape == (3, 24, 24) and reference.dtype == torch.float32
    assert all(torch.equal(out, reference) for out in draws("none", image))


@pytest.mark.parametrize("preset", ["basic", "trivialaugment", "randaugment"])
def test_augment_presets_change_the_image_differently_each_draw(preset: str) -> None:
    image = structured_image()
    reference = eval_transform(DataSection(image_size=24))(image)
    outs = draws(preset, image)
    assert all(out.shape == (3, 24, 24) for out in outs)
    assert sum(not torch.allclose(out, reference) for out in outs) >= 14
    assert len({round(out.sum().item(), 3) for out in outs}) >= 12  # random per draw, not one fixed change


@pytest.mark.parametrize(("preset", "changed"), [("basic", 0), ("trivialaugment", 8), ("randaugment", 12)])
def test_only_photometric_presets_change_colors(preset: str, changed: int) -> None:
    """A flat image survives crops and flips unchanged; TrivialAugment and RandAugment alter its colors."""
    flat = Image.new("RGB", (40, 30), (128, 64, 32))
    reference = eval_transform(DataSection(image_size=24))(flat)
    outs = draws(preset, flat)
    altered = sum(not torch.allclose(out, reference, atol=1e-4) for out in outs)
    assert altered >= changed if changed else altered == 0


def test_random_erasing_blanks_a_patch() -> None:
    flat = Image.new("RGB", (40, 30), (128, 64, 32))
    reference = eval_transform(DataSection(image_size=24))(flat)
    for out in draws({"crop_scale": 1.0, "random_erasing": 1.0}, flat, n=4):
        differs = ~torch.isclose(out, reference).all(dim=0)
        assert 0 < differs.float().mean() < 0.5


def test_augment_defaults_suit_digits_no_flip_and_a_mild_crop() -> None:
    """rayjob's defaults keep a digit a digit: never mirrored (a mirrored 2 is no 2), at least 60% of it kept."""
    image = structured_image()
    flipped = eval_transform(DataSection(image_size=24))(image.transpose(Image.FLIP_LEFT_RIGHT))
    outs = draws({}, image, n=32)
    assert not any(torch.allclose(out, flipped, atol=0.05) for out in outs)
    assert DataSection().augment.crop_scale == 0.6 and not DataSection().augment.hflip


@pytest.mark.parametrize("knob", [{"degrade": 1.0}, {"color_jitter": 0.5}])
def test_photometric_knobs_change_the_pixels_without_moving_them(knob: dict) -> None:
    """Camera degradations (blur, downscale, noise, JPEG) and colour jitter alter every draw, with no crop."""
    image = structured_image()
    reference = eval_transform(DataSection(image_size=24))(image)
    outs = draws({"crop_scale": 1.0, **knob}, image)
    assert all(not torch.allclose(out, reference, atol=1e-3) for out in outs)


def test_mixup_and_cutmix_give_soft_labels_that_sum_to_one() -> None:
    from rayjob.config import AugmentSection
    from rayjob.data.transforms import batch_mixer

    assert batch_mixer(AugmentSection(), 10) is None
    mix = batch_mixer(AugmentSection(mixup=0.4, cutmix=1.0), 10)
    images, labels = torch.rand(8, 3, 24, 24), torch.arange(8)
    mixed, soft = mix(images, labels)
    assert mixed.shape == images.shape and soft.shape == (8, 10)
    assert torch.allclose(soft.sum(1), torch.ones(8)) and (soft.max(1).values < 1).any()


def test_a_knob_can_be_set_over_a_preset() -> None:
    from rayjob.config import load_config

    cfg = load_config(None, ["data.augment=basic", "data.augment.degrade=0.3"])
    assert cfg.data.augment.hflip and cfg.data.augment.crop_scale == 0.35 and cfg.data.augment.degrade == 0.3


def test_class_weights_and_weighted_sampler_balance_classes(tmp_path: Path) -> None:
    assert inverse_frequency([30, 10]) == pytest.approx([40 / 60, 40 / 20])
    root = tmp_path / "imbalanced"
    for i in range(30):
        write_image(root / "train" / "many" / f"{i}.png", (200, 0, 0))
    for i in range(6):
        write_image(root / "train" / "few" / f"{i}.png", (0, 0, 200))
    make_image_folder(root, {"many": (1, 1, 1), "few": (2, 2, 2)}, {"val": 1})
    torch.manual_seed(0)
    plain = ImageDataModule(DataSection(image_size=8, batch_size=36, augment="none"), root)
    assert Counter(plain.train_dataloader().dataset.split.class_counts(2)) == Counter([30, 6])
    balanced = ImageDataModule(DataSection(image_size=8, batch_size=36, augment="none", weighted_sampler=True), root)
    drawn = Counter()
    for _ in range(20):
        for _, labels in balanced.train_dataloader():
            drawn.update(labels.tolist())
    share_few = drawn[balanced.classes.index("few")] / sum(drawn.values())
    assert 0.4 < share_few < 0.6  # 6 of 36 images, drawn about half the time


def photo_folder(root: Path) -> Path:
    """Images of several sizes, some larger than the stored size (so the cache really scales them down)."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("val", 2)):
        for name in ("a", "b"):
            for i in range(count):
                h, w = rng.integers(20, 90, size=2)
                pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
                (root / split / name).mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(root / split / name / f"{i}.jpg", quality=90)
    return root


def batches(cfg: DataSection, root: Path, seed: int = 0) -> list[torch.Tensor]:
    data = ImageDataModule(cfg, root)
    data.setup("fit")
    torch.manual_seed(seed)
    return [images for images, _ in data.train_dataloader()] + [images for images, _ in data.val_dataloader()]


def test_decoded_cache_gives_exactly_the_uncached_tensors(tmp_path: Path) -> None:
    root = photo_folder(tmp_path / "photos")
    settings = {"image_size": 24, "augment": "trivialaugment", "batch_size": 4, "cache_dir": str(tmp_path / "c")}
    plain = batches(DataSection(**settings), root)
    cached = batches(DataSection(**settings, cache="decoded"), root)
    assert len(plain) == len(cached) and all(torch.equal(a, b) for a, b in zip(plain, cached, strict=True))
    assert all(b.shape[1:] == (3, 24, 24) for b in cached)


def test_decoded_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path: Path) -> None:
    root = photo_folder(tmp_path / "photos")
    cfg = DataSection(image_size=24, cache="decoded", cache_dir=str(tmp_path / "c"))
    first = ImageDataModule(cfg, root)
    first.setup("fit")
    assert first.cache_info["train"].built and first.cache_info["train"].images == 12
    again = ImageDataModule(cfg, root)
    again.setup("fit")
    assert not again.cache_info["train"].built and again.cache_info["train"].folder == first.cache_info["train"].folder
    changed = root / "train" / "a" / "0.jpg"
    Image.new("RGB", (30, 30), (1, 2, 3)).save(changed)  # same name, new content: never read stale
    rebuilt = ImageDataModule(cfg, root)
    rebuilt.setup("fit")
    assert rebuilt.cache_info["train"].built and rebuilt.cache_info["train"].folder != first.cache_info["train"].folder
    assert not rebuilt.cache_info["val"].built  # val did not change


def test_dataloader_workers_read_the_cache(tmp_path: Path) -> None:
    root = photo_folder(tmp_path / "photos")
    settings = {"image_size": 24, "augment": "none", "batch_size": 4, "cache_dir": str(tmp_path / "c")}
    plain = batches(DataSection(**settings), root)
    workers = batches(DataSection(**settings, cache="decoded", num_workers=2), root)
    assert all(torch.equal(a, b) for a, b in zip(plain, workers, strict=True))


def _open_cache_in_a_process(args: tuple[str, str]) -> tuple[bool, str]:
    from rayjob.data.decoded import open_cache, stored_size
    from rayjob.data.files import scan_dataset

    root, cache_dir = args
    _, info = open_cache(scan_dataset(Path(root)).splits["train"], stored_size(24), Path(cache_dir))
    return info.built, str(info.folder)


def test_concurrent_trials_build_the_cache_once(tmp_path: Path) -> None:
    import multiprocessing

    root = photo_folder(tmp_path / "photos")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_open_cache_in_a_process, [(str(root), str(tmp_path / "c"))] * 2)
    assert sorted(built for built, _ in results) == [False, True] and results[0][1] == results[1][1]
