from pathlib import Path

import pytest

from rayjob.config import Config, known_keys, load_config
from rayjob.errors import ConfigError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def test_defaults_are_valid_and_round_trip() -> None:
    cfg = Config.from_dict({})
    assert cfg.model.backbone == "resnet18"
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_yaml_and_dotted_overrides(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("model:\n  backbone: resnet34\noptim:\n  lr: 3e-4\n")
    cfg = load_config(file, ["trainer.max_epochs=3", "optim.weight_decay=0", "data.root=null", "ema.enabled=false"])
    assert cfg.model.backbone == "resnet34"
    assert cfg.optim.lr == pytest.approx(3e-4)  # YAML 1.1 reads 3e-4 as a string; accepted as a number
    assert cfg.trainer.max_epochs == 3
    assert cfg.optim.weight_decay == 0.0 and isinstance(cfg.optim.weight_decay, float)
    assert cfg.data.root is None and cfg.ema.enabled is False


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    load_config(path)


def test_unknown_key_names_key_and_suggests() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key optim\.lrr \(did you mean optim\.lr\?\)"):
        load_config(None, ["optim.lrr=0.1"])
    with pytest.raises(ConfigError, match="unknown config key modle"):
        Config.from_dict({"modle": {}})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=three", r"trainer\.max_epochs='three' has the wrong type: expected an integer"),
        ("trainer.max_epochs=2.5", r"trainer\.max_epochs=2\.5 has the wrong type"),
        ("ema.enabled=3", r"ema\.enabled=3 has the wrong type: expected true/false"),
        ("data.augment=heavy", r"data\.augment='heavy': augment preset 'heavy' is unknown; choose one of: none, basic"),
        ("data.augment.crop_scale=0", r"data\.augment\.crop_scale=0 must be"),
        ("trainer.precision=16", r"trainer\.precision=16 is not allowed"),
        ("data.mean=[1, 2]", r"data\.mean=\[1, 2\] needs exactly 3 values"),
        ("data.std=[1, 0, 1]", r"data\.std\[1\]=0 must be positive"),
        ("ema.decay=1.5", r"ema\.decay=1\.5 must be in \(0, 1\)"),
        ("optim.lr=-1", "optim.lr=-1 must be positive"),
        ("run.name=a/b", "run.name='a/b' must be a non-empty folder name"),
        ("search.grace_period=x", "search.grace_period='x' has the wrong type: expected an integer or 'auto'"),
        ("search.driver_resources={rayjob_driver: x}", r"driver_resources\.rayjob_driver='x' has the wrong type"),
    ],
)
def test_bad_values_are_rejected_with_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_bad_override_syntax_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not of the form section.key=value"):
        load_config(None, ["trainer.max_epochs"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_section_given_a_value_is_rejected() -> None:
    with pytest.raises(ConfigError, match="model must be a mapping"):
        Config.from_dict({"model": "resnet18"})


def test_known_keys_lists_every_leaf() -> None:
    keys = known_keys()
    assert "optim.lr" in keys and "data.augment.degrade" in keys and "model" not in keys and "data.augment" not in keys


def test_on_and_off_are_words_for_word_settings_and_still_booleans_for_boolean_ones(tmp_path: Path) -> None:
    """PyYAML's YAML 1.1 reads a bare on/off as a boolean; settings whose values are words mean the words."""
    assert load_config(None, ["run.ray_dashboard=on"]).run.ray_dashboard == "on"
    assert load_config(None, ["run.ray_dashboard=off"]).run.ray_dashboard == "off"
    assert load_config(None, []).run.ray_dashboard == "auto"
    file = tmp_path / "c.yaml"
    file.write_text("run:\n  wandb: off\nema:\n  enabled: no\ndata:\n  augment:\n    hflip: on\n")
    cfg = load_config(file, ["trainer.deterministic=yes"])
    assert cfg.run.wandb == "off" and cfg.ema.enabled is False and cfg.data.augment.hflip is True
    assert cfg.trainer.deterministic is True


def test_a_run_too_short_to_learn_is_warned_about_with_the_fix() -> None:
    from rayjob.data.files import DatasetIndex, Split
    from rayjob.preflight import optimizer_steps, short_run_warning

    cfg = Config.from_dict({"data": {"batch_size": 32}, "trainer": {"max_epochs": 6}})
    assert optimizer_steps(cfg, 110) == 18  # 3 full batches (drop_last) x 6 epochs: the face folder
    assert optimizer_steps(cfg, 2000) == 372  # the quickstart: 62 x 6
    assert optimizer_steps(cfg.with_values({"trainer.limit_train_batches": 0.25}), 2000) == 90
    assert optimizer_steps(cfg.with_values({"trainer.accumulate_grad_batches": 2}), 2000) == 186
    assert optimizer_steps(cfg.with_values({"scaling.num_workers": 2}), 2000) == 186  # each worker, half the data
    index = DatasetIndex(root=None, classes=["a", "b"], splits={"train": Split("train", [("x", 0)] * 110)})
    warning = short_run_warning(cfg, index)
    assert warning is not None and "only 18 optimizer steps" in warning and "raise trainer.max_epochs" in warning
    assert warning.startswith("6 epochs of 110 training images in batches of 32")
    assert short_run_warning(cfg.with_values({"trainer.max_epochs": 40}), index) is None  # 120 steps
