"""Energy and money of an estimate: power through the step phases, host and facility, then
renting vs owning. Defaults come from ``data/energy.toml``; the formulas from engine/energy.py."""

from __future__ import annotations

from traintime import catalog
from traintime.engine.energy import cost, energy
from traintime.engine.step import StepTime
from traintime.results import CostReport, EnergyReport
from traintime.specs import Economics, GpuSpec, HardwareSpec


def _datacenter(gpu: GpuSpec) -> bool:
    return gpu.device_class in ("datacenter", "inference", "amd_datacenter") or (
        gpu.rent_usd_per_hour is not None and gpu.launch_price_usd is None
    )


def energy_report(step: StepTime, steps: int, hw: HardwareSpec, econ: Economics) -> EnergyReport:
    d = catalog.energy_defaults()
    dc = _datacenter(hw.gpu)
    host = econ.host_w_per_gpu
    if host is None:
        host = d["host"]["datacenter_w_per_gpu"] if dc else d["host"]["workstation_w"] / hw.count
    assumptions = {
        "tdp_w": hw.gpu.tdp_w or 0.0,
        "host_w_per_gpu": host,
        "pue": econ.pue or d["facility"]["datacenter_pue" if dc else "home_pue"],
        "electricity_usd_per_kwh": (
            econ.electricity_usd_per_kwh
            if econ.electricity_usd_per_kwh is not None
            else d["prices"]["electricity_usd_per_kwh"]
        ),
        "co2_kg_per_kwh": (
            econ.co2_kg_per_kwh
            if econ.co2_kg_per_kwh is not None
            else d["prices"]["co2_kg_per_kwh"]
        ),
    }
    result = energy(
        breakdown_s=step.breakdown_s,
        step_time_s=step.step_time_s,
        steps=steps,
        n_gpus=hw.count,
        tdp_w=assumptions["tdp_w"],
        power_fraction=d["gpu_power"],
        host_w_per_gpu=host,
        pue=assumptions["pue"],
        electricity_usd_per_kwh=assumptions["electricity_usd_per_kwh"],
        co2_kg_per_kwh=assumptions["co2_kg_per_kwh"],
    )
    return EnergyReport(
        kwh=result.kwh,
        gpu_kwh=result.gpu_kwh,
        host_kwh=result.host_kwh,
        average_gpu_w=result.average_gpu_w,
        electricity_cost=result.electricity_cost,
        co2_kg=result.co2_kg,
        assumptions=assumptions,
        notes=[]
        if hw.gpu.tdp_w
        else [f"no TDP known for {hw.gpu.name}: GPU energy is not counted (host only)"],
    )


def cost_report(hours: float, hw: HardwareSpec, econ: Economics, en: EnergyReport) -> CostReport:
    d = catalog.energy_defaults()["prices"]
    rate = (
        econ.rent_usd_per_gpu_hour
        if econ.rent_usd_per_gpu_hour is not None
        else hw.gpu.rent_usd_per_hour
    )
    price = econ.price_usd if econ.price_usd is not None else hw.gpu.launch_price_usd
    missing, notes = [], []
    if rate is None:
        missing.append(f"no rental price for {hw.gpu.name} in the catalog: pass --rent-price")
    if price is None:
        missing.append(f"no purchase price for {hw.gpu.name} in the catalog: pass --gpu-price")
    if hw.gpu.price_note:
        notes.append(f"catalog price: {hw.gpu.price_note}")
    result = cost(
        hours=hours,
        n_gpus=hw.count,
        rent_usd_per_gpu_hour=rate,
        spot_fraction=econ.spot_fraction or d["spot_fraction"],
        price_usd=price,
        lifetime_years=econ.lifetime_years or d["lifetime_years"],
        electricity_cost=en.electricity_cost,
    )
    return CostReport(
        rent_on_demand=result.rent_on_demand,
        rent_spot=result.rent_spot,
        rent_usd_per_gpu_hour=rate,
        purchase=result.purchase,
        own_amortized=result.own_amortized,
        own_total=result.own_total,
        break_even_hours=result.break_even_hours,
        missing=missing,
        notes=notes,
    )
