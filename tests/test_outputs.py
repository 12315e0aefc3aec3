"""Energy/cost in estimates, comparisons, plots and the offline HTML report (issue 6)."""

import json
import struct

import pytest

import traintime
from traintime.cli import main
from traintime.compare import compare


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_founding_has_energy_and_cost():
    est = traintime.estimate_scenario()
    assert est.energy.kwh > 0 and est.energy.co2_kg == pytest.approx(est.energy.kwh * 0.48)
    assert est.cost.own_total is not None  # the 4070 has a launch price
    assert est.cost.rent_on_demand is None and any("rent" in n for n in est.cost.missing)


def test_economics_overrides():
    est = traintime.estimate(
        "gpt2",
        "h100",
        tokens="1B",
        economics={"electricity_usd_per_kwh": 0.0, "pue": 1.0, "rent_usd_per_gpu_hour": 1.0},
    )
    assert est.energy.electricity_cost == 0.0
    # renting pays for the wall-clock: steady-state training over the goodput
    assert est.cost.rent_on_demand == pytest.approx(est.time.expected_hours * 1.0)
    assert est.time.expected_hours == pytest.approx(est.time.total_hours / est.time.goodput)


def test_goodput_scales_with_the_cluster():
    """Llama 3: >90% effective training time on 16,384 GPUs; the lost share grows with the GPU
    count, and a given goodput replaces it."""
    small = traintime.estimate("gpt2", "h100", gpus=8, tokens="1B").time
    big = traintime.estimate("llama-3.1-8b", "h100", gpus=16384, tokens="15T").time
    assert small.goodput > 0.999 and big.goodput == pytest.approx(0.90)
    given = traintime.estimate("gpt2", "h100", tokens="1B", economics={"goodput": 0.8}).time
    assert given.goodput == 0.8 and given.expected_hours == pytest.approx(given.total_hours / 0.8)


def test_compare_sorted_by_time_and_cost():
    rows = compare("nanochat-d20", ["4070", "4090", "h100"], counts=[1])
    days = [r.days for r in rows if r.days is not None]
    assert days == sorted(days)
    by_cost = compare("nanochat-d20", ["4090", "h100"], sort="cost")
    costs = [r.cost_usd for r in by_cost if r.cost_usd is not None]
    assert costs == sorted(costs)


def test_compare_cli_json(capsys):
    code, out, err = run(capsys, "compare", "--gpu", "4090,h100", "--count", "1,8", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 4 and err == ""
    assert {r["count"] for r in rows} == {1, 8}


def test_compare_odd_counts_round_the_batch_only_when_allowed(capsys):
    # 256 sequences of nanochat's 524,288-token batch do not split over 3 data-parallel GPUs
    code, _, err = run(capsys, "compare", "--gpu", "4090", "--count", "3", "--tp", "1", "--pp", "1")
    assert code == 2 and "--allow-math-changes" in err
    rows = compare("nanochat-d20", ["4090"], counts=[1, 3], allow_math_changes=True, tp=1, pp=1)
    changed = {r.count: r.math_changes for r in rows}
    assert changed[1] == [] and "524,288 -> " in changed[3][0]


def test_compare_takes_a_scenario_and_recipe_flags(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('[model]\nname = "gpt2"\n[training]\ntokens = "2B"\n[hardware]\ngpu = "4090"\n')
    code, out, _ = run(
        capsys, "compare", "--scenario", str(path), "--gpu", "4090,h100", "--ckpt", "full", "--json"
    )
    rows = json.loads(out)
    assert code == 0 and {r["model"] for r in rows} == {"gpt2-124m"}
    est = traintime.estimate("gpt2", "h100", tokens="2B", act_ckpt="full")
    h100 = next(r for r in rows if r["gpu"] == est.hardware.gpu.name)
    assert h100["days"] == est.time.total_days


def test_compare_all_filters():
    rows = compare("gpt2", all_gpus=True, min_memory_gib=80, vendor="nvidia")
    assert rows and all(r.capacity_gib >= 80 for r in rows)


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_plots_are_written(tmp_path, capsys):
    png, svg, html = tmp_path / "e.png", tmp_path / "e.svg", tmp_path / "e.html"
    for path in (png, svg, html):
        code, _, _ = run(
            capsys, "estimate", "--model", "gpt2", "--gpu", "4090", "--plot", str(path)
        )
        assert code == 0 and path.stat().st_size > 1000
    assert _png_size(png) == (1100, 400)  # figsize 11 x 4 inches at 100 dpi
    assert "<svg" in svg.read_text()
    cmp_png = tmp_path / "c.png"
    code, _, _ = run(capsys, "compare", "--gpu", "4090,h100", "--plot", str(cmp_png))
    assert code == 0 and _png_size(cmp_png) == (800, 500)


def test_bad_plot_extension(tmp_path, capsys):
    code, _, err = run(capsys, "estimate", "--model", "gpt2", "--plot", str(tmp_path / "x.jpg"))
    assert code == 2 and "must end in" in err


def test_html_report_is_self_contained(tmp_path, capsys):
    path = tmp_path / "r.html"
    code, _, _ = run(capsys, "report", "--html", str(path))
    text = path.read_text()
    assert code == 0 and "<svg" in text and "Plan and alternatives" in text
    for needle in ("<script", 'src="http', 'href="http', "src='http", "@import", "url(http"):
        assert needle not in text
