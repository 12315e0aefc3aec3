"""Every input surface fuzzed (issue 14): one outcome per input, a result or one clean line,
never a traceback, a hang or a partial output file. Short here; ``bench/fuzz.py`` runs
thousands per surface and writes docs/reliability.md."""

from __future__ import annotations

import csv

from hypothesis import HealthCheck, given, settings

from tests import fuzzing

SHORT = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
OUT = fuzzing.workdir()
with (OUT / "runs.csv").open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fuzzing.CSV_HEADER)
    writer.writeheader()
    writer.writerow(fuzzing.CSV_ROW)


@SHORT
@given(fuzzing.cli_args(OUT))
def test_cli(argv):
    assert fuzzing.run_cli(argv, OUT) in ("result", "error")


@SHORT
@given(fuzzing.api_calls())
def test_python_api(call):
    assert fuzzing.run_api(call) in ("result", "error")


@SHORT
@given(fuzzing.scenario_files())
def test_scenario_files(content):
    assert fuzzing.run_file("scenario", content, OUT) in ("result", "error")


@SHORT
@given(fuzzing.config_files())
def test_config_files(content):
    assert fuzzing.run_file("config", content, OUT) in ("result", "error")


@SHORT
@given(fuzzing.csv_files())
def test_validation_rows(content):
    assert fuzzing.run_file("csv", content, OUT) in ("result", "error")
