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
    data = json.loads(traintime.estimate("nanochat-2026-d12", "4070", plan=True).to_json())
    text = DOC.read_text()
    missing = sorted(k for k in _keys(data, 3) if f"`{k}`" not in text)
    assert not missing, f"undocumented keys: {missing}"
