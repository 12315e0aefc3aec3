"""The catalog: the only code that reads data files (shipped presets, GPU tables, user files).

Everything loads lazily on first use and is cached; importing this package reads nothing.
"""

from traintime.catalog.calibrations import calibration_for
from traintime.catalog.efficiency import (
    band,
    base_storage,
    default_host_link,
    efficiency,
    energy_defaults,
    find_optimizer,
    goodput_defaults,
    links_for,
    memory_policy,
    node_for,
)
from traintime.catalog.gpus import (
    find_gpu,
    has_sourced_tensor_rate,
    list_gpus,
    search_gpus,
    tensor_rate_note,
)
from traintime.catalog.hf import load_hf_config
from traintime.catalog.models import describe_model, find_model, list_models, model_recipe
from traintime.catalog.scenarios import (
    ReferenceRun,
    find_reference,
    list_references,
    load_scenario,
)
from traintime.catalog.systems import find_fabric, find_system, list_fabrics, list_systems

__all__ = [
    "band",
    "base_storage",
    "calibration_for",
    "default_host_link",
    "efficiency",
    "energy_defaults",
    "find_optimizer",
    "goodput_defaults",
    "links_for",
    "memory_policy",
    "node_for",
    "ReferenceRun",
    "describe_model",
    "find_fabric",
    "find_gpu",
    "find_model",
    "has_sourced_tensor_rate",
    "tensor_rate_note",
    "find_reference",
    "find_system",
    "list_fabrics",
    "list_gpus",
    "list_models",
    "list_references",
    "list_systems",
    "load_hf_config",
    "load_scenario",
    "model_recipe",
    "search_gpus",
]
