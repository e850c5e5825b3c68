"""parse_guid: the spellings of a client id that people and tools produce."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulk_uploader.sources import parse_guid

GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    "text",
    [
        GUID,
        GUID.upper(),
        "{" + GUID + "}",
        "{" + GUID.upper() + "}",
        "  " + GUID + "\t",
        " {" + GUID + "}\n",
    ],
)
def test_accepted_spellings_normalise_to_lower_case_without_braces(text: str) -> None:
    """Case, braces and surrounding white space do not change the client."""
    assert parse_guid(text) == GUID


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pos-1",
        GUID.replace("-", ""),  # 32 digits: looks like a hash, refused
        GUID[:-1],
        GUID + "0",
        GUID.replace("0f", "0g", 1),
        "{" + GUID,
        GUID + "}",
        "(" + GUID + ")",
        GUID.replace("-", "_"),
        GUID[:8] + "-" + GUID[9:] + "-",
        "urn:uuid:" + GUID,
        "-" * 36,
        "0f8fad5b-d9cb-469f-a165-7086772895٠e",  # a non-ASCII digit
        "00000000-0000-0000-0000-000000000000",  # the nil GUID names no client
        " {00000000-0000-0000-0000-000000000000}",
    ],
)
def test_non_guids_are_refused(text: str) -> None:
    """Near misses, other GUID formats and non-ASCII digits give None."""
    assert parse_guid(text) is None


@given(
    st.uuids().filter(lambda value: value.int != 0),
    st.booleans(),
    st.booleans(),
    st.text(" \t\r\n", max_size=3),
)
def test_every_uuid_round_trips(
    value: uuid.UUID, upper: bool, braces: bool, space: str
) -> None:
    """Any UUID but the nil one, in any accepted spelling, parses to its
    canonical text."""
    text = str(value).upper() if upper else str(value)
    if braces:
        text = "{" + text + "}"
    assert parse_guid(space + text + space) == str(value)


@given(st.text())
def test_result_is_always_canonical_or_none(text: str) -> None:
    """Whatever the input, the answer is None or a canonical lower-case GUID."""
    result = parse_guid(text)
    if result is not None:
        assert result == str(uuid.UUID(result))
        assert result.lower() == text.strip().strip("{}").lower()
