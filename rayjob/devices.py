"""The accelerator rule: CPU or GPU and the precision that goes with it, fed the GPUs of where the workers
will run (the Ray cluster's resources for Ray runs, so a CPU-only head node does not make a GPU cluster train
on CPUs; this machine's CUDA devices for in-process runs), and what one worker reserves."""

from __future__ import annotations

from rayjob.config import Config


def local_gpus() -> float:
    import torch

    return float(torch.cuda.device_count())


def resolve_devices(cfg: Config, gpus: float) -> Config:
    """``accelerator: auto`` -> gpu when ``gpus`` > 0; ``precision: auto`` -> 16-mixed on GPU, 32-true on CPU."""
    accelerator = cfg.trainer.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if gpus > 0 else "cpu"
    precision = cfg.trainer.precision
    if precision == "auto":
        precision = "16-mixed" if accelerator == "gpu" else "32-true"  # T4 tensor cores
    return cfg.with_values({"trainer.accelerator": accelerator, "trainer.precision": precision})


def worker_resources(cfg: Config) -> dict[str, float]:
    """What one training worker reserves; ``cfg`` must have its devices resolved."""
    resources = {"CPU": cfg.scaling.cpus_per_worker}
    if cfg.trainer.accelerator == "gpu":
        resources["GPU"] = cfg.scaling.gpus_per_worker
    return resources
