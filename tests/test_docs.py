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
