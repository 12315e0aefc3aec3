"""Energy, electricity, carbon and money for a run, from the step-time breakdown.

GPU power follows what each part of the step does (``power_fraction`` x TDP per category of the
breakdown: tensor-core work near the power limit, memory-bound work and waiting lower), plus the
host's share, times the facility's PUE (Barroso et al., "The Datacenter as a Computer", ch. 5).
Cloud cost is GPU-hours x the $/GPU-hour rate (spot: a fraction of it); owned hardware is the
purchase price written off linearly over its lifetime, plus electricity; buying beats renting
after ``price / (rent rate - electricity per hour)`` hours of use.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EnergyResult:
    kwh: float
    gpu_kwh: float
    host_kwh: float
    average_gpu_w: float
    electricity_cost: float
    co2_kg: float


def energy(
    *,
    breakdown_s: dict[str, float],
    step_time_s: float,
    steps: int,
    n_gpus: int,
    tdp_w: float,
    power_fraction: dict[str, float],
    host_w_per_gpu: float,
    pue: float,
    electricity_usd_per_kwh: float,
    co2_kg_per_kwh: float,
) -> EnergyResult:
    """Energy of the whole run on all GPUs (kWh), its electricity cost and CO2."""
    joules_per_step = sum(
        seconds * tdp_w * power_fraction[category] for category, seconds in breakdown_s.items()
    )
    hours = steps * step_time_s / 3600.0
    gpu_kwh = joules_per_step * steps * n_gpus / 3.6e6
    host_kwh = host_w_per_gpu * n_gpus * hours / 1000.0
    kwh = (gpu_kwh + host_kwh) * pue
    return EnergyResult(
        kwh=kwh,
        gpu_kwh=gpu_kwh,
        host_kwh=host_kwh,
        average_gpu_w=joules_per_step / step_time_s if step_time_s else 0.0,
        electricity_cost=kwh * electricity_usd_per_kwh,
        co2_kg=kwh * co2_kg_per_kwh,
    )


@dataclass(frozen=True, slots=True)
class CostResult:
    rent_on_demand: float | None
    rent_spot: float | None
    purchase: float | None
    own_amortized: float | None
    own_total: float | None
    break_even_hours: float | None


def cost(
    *,
    hours: float,
    n_gpus: int,
    rent_usd_per_gpu_hour: float | None,
    spot_fraction: float,
    price_usd: float | None,
    lifetime_years: float,
    electricity_cost: float,
) -> CostResult:
    """Renting vs owning the GPUs for ``hours`` of training."""
    rent = rent_usd_per_gpu_hour * hours * n_gpus if rent_usd_per_gpu_hour is not None else None
    spot = rent * spot_fraction if rent is not None else None
    purchase = price_usd * n_gpus if price_usd is not None else None
    amortized = own = break_even = None
    if purchase is not None:
        amortized = purchase * min(1.0, hours / (lifetime_years * 8760.0))
        own = amortized + electricity_cost
        if rent_usd_per_gpu_hour is not None and hours > 0:
            per_hour_power = electricity_cost / hours / n_gpus
            margin = rent_usd_per_gpu_hour - per_hour_power
            break_even = price_usd / margin if margin > 0 else None  # type: ignore[operator]
    return CostResult(
        rent_on_demand=rent,
        rent_spot=spot,
        purchase=purchase,
        own_amortized=amortized,
        own_total=own,
        break_even_hours=break_even,
    )
