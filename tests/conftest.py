"""Every test sees an empty calibration store of its own: a developer's calibrations (in the
user data directory) never change what the tests compute."""

import pytest


@pytest.fixture(autouse=True)
def _private_calibration_store(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TRAINTIME_DATA_DIR", str(tmp_path_factory.mktemp("traintime-data")))
