"""traintime: how long will training this language model take on that hardware, will it fit,
and what will it cost?

The public API (everything else is internal)::

    import traintime
    est = traintime.estimate("nanochat-d32", "RTX 4070", micro_batch=2)
    est.model.params.total, est.training.steps, est.to_json()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AmbiguousNameError",
    "DataError",
    "Estimate",
    "GpuSpec",
    "ModelSpec",
    "SpecError",
    "TrainingSpec",
    "TraintimeError",
    "UnknownNameError",
    "__version__",
    "count_params",
    "estimate",
    "estimate_scenario",
    "find_gpu",
    "find_model",
    "flops_per_token",
    "list_gpus",
    "list_models",
    "load_hf_config",
    "trainable_params",
]

# Lazy attributes keep `import traintime` (and so the CLI's start) cheap.
_LAZY = {
    "AmbiguousNameError": "traintime.errors",
    "DataError": "traintime.errors",
    "SpecError": "traintime.errors",
    "TraintimeError": "traintime.errors",
    "UnknownNameError": "traintime.errors",
    "Estimate": "traintime.results",
    "GpuSpec": "traintime.specs",
    "ModelSpec": "traintime.specs",
    "TrainingSpec": "traintime.specs",
    "count_params": "traintime.engine.params",
    "flops_per_token": "traintime.engine.flops",
    "trainable_params": "traintime.engine.lora",
    "estimate": "traintime.estimation",
    "estimate_scenario": "traintime.estimation",
    "find_gpu": "traintime.catalog",
    "find_model": "traintime.catalog",
    "list_gpus": "traintime.catalog",
    "list_models": "traintime.catalog",
    "load_hf_config": "traintime.catalog",
}

if TYPE_CHECKING:
    from traintime.catalog import find_gpu, find_model, list_gpus, list_models, load_hf_config
    from traintime.engine.flops import flops_per_token
    from traintime.engine.lora import trainable_params
    from traintime.engine.params import count_params
    from traintime.errors import (
        AmbiguousNameError,
        DataError,
        SpecError,
        TraintimeError,
        UnknownNameError,
    )
    from traintime.estimation import estimate, estimate_scenario
    from traintime.results import Estimate
    from traintime.specs import GpuSpec, ModelSpec, TrainingSpec


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'traintime' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
