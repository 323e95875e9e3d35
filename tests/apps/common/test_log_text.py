"""Log text is unambiguous: what a hostile value typed never reads like what the escaping made."""

from __future__ import annotations

import pytest

from apps.common.context import clean_text


def test_a_typed_escape_sequence_and_an_escaped_newline_differ():
    typed = clean_text("name\\x0aLOGIN_OK admin", 100)
    newline = clean_text("name\nLOGIN_OK admin", 100)
    assert typed != newline
    assert newline == "name\\x0aLOGIN_OK admin"
    assert typed == "name\\\\x0aLOGIN_OK admin"


def test_a_backslash_is_doubled():
    assert clean_text("a\\b", 10) == "a\\\\b"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("\x1b[31m", "\\x1b[31m"), ("\u2028", "\\u2028"), ("\U000e0001", "\\U000e0001")],
)
def test_control_and_separator_characters_are_escaped_by_code_point(value, expected):
    assert clean_text(value, 50) == expected


def test_truncation_never_cuts_an_escape_in_half():
    assert clean_text("abc\n", 5) == "abc"
    assert clean_text("ab\\", 3) == "ab"
    assert len(clean_text("\n" * 1000, 150)) <= 150


def test_printable_text_within_the_limit_is_kept_as_it_is_and_longer_text_is_cut():
    assert clean_text("reviewer Ünal 7", 15) == "reviewer Ünal 7"
    assert clean_text("reviewer Ünal 7", 14) == "reviewer Ünal "
