"""The same inputs give byte-identical --json across runs and processes (issue 14): two
processes with different hash seeds answer the same question."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

QUESTIONS = [
    [],
    ["estimate", "--model", "olmoe-1b-7b", "--gpu", "h100", "--gpus", "8", "--tokens", "1B"],
    ["compare", "--model", "gpt2,qwen3-0.6b", "--gpu", "4090,h100", "--count", "1,2"],
]


def _run(args: list[str], seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed, "COLUMNS": "120"}
    cmd = [sys.executable, "-m", "traintime", *args, "--json"]
    return subprocess.run(cmd, capture_output=True, env=env, check=True, timeout=300).stdout


@pytest.mark.parametrize("args", QUESTIONS, ids=["founding", "moe", "compare"])
def test_json_is_byte_identical_across_processes(args):
    first, second = _run(args, "1"), _run(args, "2")
    assert first and first == second
