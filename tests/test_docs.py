"""docs/schema.md documents every key the JSON output carries (two levels deep)."""

import json
from pathlib import Path

import pytest

import traintime

DOC = Path(__file__).parents[1] / "docs" / "schema.md"


def _keys(obj, depth):
    if depth == 0 or not isinstance(obj, dict):
        return set()
    keys = set(obj)
    for value in obj.values():
        keys |= _keys(value, depth - 1)
    return keys


@pytest.mark.skipif(not DOC.exists(), reason="docs not shipped in this checkout")
def test_schema_doc_covers_output():
    data = json.loads(traintime.estimate("nanochat-2026-d12", "4070").to_json())
    text = DOC.read_text()
    missing = sorted(k for k in _keys(data, 3) if f"`{k}`" not in text)
    assert not missing, f"undocumented keys: {missing}"


README = Path(__file__).parents[1] / "README.md"


@pytest.mark.skipif(not README.exists(), reason="README not shipped in this checkout")
def test_readme_founding_answer_is_current():
    # the README quotes `traintime` with no arguments; a model change must update it
    import re

    est = traintime.estimate_scenario()  # what `traintime` runs with no arguments
    match = re.search(
        r"Time +([\d.]+) days \(likely ([\d.]+) days to ([\d.]+) days", README.read_text()
    )
    assert match, "README has no founding Time line"
    quoted = tuple(float(x) for x in match.groups())
    t = est.time
    assert quoted == (
        round(t.total_days, 1),
        round(t.low_hours / 24, 1),
        round(t.high_hours / 24, 1),
    )


@pytest.mark.skipif(not README.exists(), reason="README not shipped in this checkout")
def test_readme_finetune_answer_is_current():
    # issue 17, point 6: the README's second founding question, one command; its table must
    # still be what the command prints
    import re
    import shlex

    from typer.testing import CliRunner

    from traintime.cli import app

    text = README.read_text()
    command = re.search(r"^traintime compare --model llama-3.1-8b --finetune .*$", text, re.M)
    assert command, "README has no fine-tuning command"
    result = CliRunner().invoke(app, shlex.split(command.group(0))[1:], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    for method, gpu in (("qlora", "GeForce RTX 4070"), ("lora", "A100 SXM4 80GB")):
        printed = re.search(rf"│ {method} +│ 1 x {gpu} .*│", result.output)
        quoted = re.search(rf"│ {method} +│ 1 x {gpu} .*│", text)
        assert printed and quoted
        assert printed.group(0) == quoted.group(0)
