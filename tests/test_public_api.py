"""The public API (httpx-style check): __all__ is sorted, complete, and every name resolves."""

import subprocess
import sys

import traintime


def test_all_resolves():
    for name in traintime.__all__:
        assert getattr(traintime, name) is not None, name


def test_all_sorted():
    assert traintime.__all__ == sorted(traintime.__all__, key=str)


def test_import_is_cheap():
    # Importing the package reads no data and pulls in neither pydantic nor rich.
    code = (
        "import sys, traintime; "
        "print(any(m.startswith(('pydantic', 'rich', 'numpy')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
