import pytest

from traintime.errors import SpecError
from traintime.units import human_count, parse_count


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("37.6B", 37.6e9),
        ("500M", 5e8),
        ("2e9", 2e9),
        ("524288", 524288),
        ("15T", 15e12),
        ("1_000", 1000),
        (12, 12.0),
    ],
)
def test_parse_count(text, value):
    assert parse_count(text, field="tokens") == value


@pytest.mark.parametrize("text", ["lots", "1.2.3", "5X", ""])
def test_parse_count_rejects(text):
    with pytest.raises(SpecError, match="tokens="):
        parse_count(text, field="tokens")


def test_human_count():
    assert human_count(37_580_963_840) == "37.6B"
    assert human_count(124_439_808) == "124M"
