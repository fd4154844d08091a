"""Where a run's processes really are: the Ray node of every training worker."""

from __future__ import annotations


def this_node() -> str:
    """This process's Ray node id, or "" outside Ray (an in-process ``rayjob.train`` run)."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""


def worker_nodes(world_size: int) -> str:
    """The node of each rank, comma-separated in rank order. A collective: every rank must call it."""
    import torch.distributed as dist

    node = this_node()
    if world_size <= 1 or not (dist.is_available() and dist.is_initialized()):
        return node
    nodes: list[str] = [""] * world_size
    dist.all_gather_object(nodes, node)
    return ",".join(nodes)
