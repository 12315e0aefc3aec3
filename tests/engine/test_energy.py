"""Energy and cost arithmetic against hand-computed cases."""

import pytest

from traintime.engine.energy import cost, energy


def test_energy_by_hand():
    # one step of 10 s: 8 s matmul at 0.9 x 300 W, 2 s memory-bound at 0.5 x 300 W
    # = 2160 + 300 = 2460 J per step per GPU; 1000 steps x 2 GPUs = 4.92 MJ = 1.3667 kWh.
    # host: 100 W x 2 GPUs x (10,000 s = 2.7778 h) = 0.5556 kWh; PUE 1.5.
    r = energy(
        breakdown_s={"matmul": 8.0, "memory": 2.0},
        step_time_s=10.0,
        steps=1000,
        n_gpus=2,
        tdp_w=300,
        power_fraction={"matmul": 0.9, "memory": 0.5},
        host_w_per_gpu=100,
        pue=1.5,
        electricity_usd_per_kwh=0.2,
        co2_kg_per_kwh=0.5,
    )
    assert r.gpu_kwh == pytest.approx(4.92e6 / 3.6e6)
    assert r.host_kwh == pytest.approx(100 * 2 * 10000 / 3600 / 1000)
    assert r.kwh == pytest.approx((r.gpu_kwh + r.host_kwh) * 1.5)
    assert r.electricity_cost == pytest.approx(r.kwh * 0.2)
    assert r.co2_kg == pytest.approx(r.kwh * 0.5)
    assert r.average_gpu_w == pytest.approx(246.0)


def test_cost_by_hand():
    # 100 h on 4 GPUs at $2/GPU-h = $800 on demand, $320 at 0.4 spot.
    # owning: $10,000 per GPU over 2 years (17,520 h): 4 x 10,000 x 100/17,520 = $2,283.1
    # + $50 electricity; break-even: 10,000 / (2 - 50/100/4) = 10,000 / 1.875 = 5,333 h.
    r = cost(
        hours=100,
        n_gpus=4,
        rent_usd_per_gpu_hour=2.0,
        spot_fraction=0.4,
        price_usd=10_000,
        lifetime_years=2,
        electricity_cost=50.0,
    )
    assert r.rent_on_demand == pytest.approx(800)
    assert r.rent_spot == pytest.approx(320)
    assert r.purchase == pytest.approx(40_000)
    assert r.own_amortized == pytest.approx(40_000 * 100 / 17_520)
    assert r.own_total == pytest.approx(r.own_amortized + 50)
    assert r.break_even_hours == pytest.approx(10_000 / 1.875)


def test_unknown_prices_stay_unknown():
    r = cost(
        hours=10,
        n_gpus=1,
        rent_usd_per_gpu_hour=None,
        spot_fraction=0.4,
        price_usd=None,
        lifetime_years=3,
        electricity_cost=1.0,
    )
    assert r.rent_on_demand is None and r.own_total is None and r.break_even_hours is None


def test_amortization_caps_at_the_purchase_price():
    r = cost(
        hours=10 * 8760,
        n_gpus=1,
        rent_usd_per_gpu_hour=None,
        spot_fraction=0.4,
        price_usd=1000,
        lifetime_years=3,
        electricity_cost=0.0,
    )
    assert r.own_amortized == pytest.approx(1000)
