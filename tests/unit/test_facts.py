"""The one duration parser, read by the stack config (alerts), `monitor --window` and `pr gc --max-age`."""
from __future__ import annotations

import pytest

from infra.railway.facts import parse_duration_ms


@pytest.mark.parametrize(("text", "ms"), [("500ms", 500), ("2s", 2000), (" 1.5 s ", 1500), ("30m", 1_800_000),
                                          ("36h", 129_600_000), ("7d", 604_800_000)])
def test_every_unit_parses_to_milliseconds(text: str, ms: float) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("value", ["2", "0s", "-1h", "1w", "h", "", 30, None, True])
def test_a_missing_unit_zero_or_a_non_string_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration_ms(value)
