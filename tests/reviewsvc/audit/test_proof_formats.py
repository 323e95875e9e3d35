"""Proof texts and trusted keys are parsed strictly: anything malformed is refused, never half-read."""

from __future__ import annotations

import pytest

from reviewsvc.audit import cli
from reviewsvc.audit.checkpoint import CheckpointFormatError, tlog_checkpoint_sign
from reviewsvc.audit.merkle import consistency_path
from reviewsvc.audit.note import NoteFormatError, NoteVerifier, note_parse, note_sign
from reviewsvc.audit.proof import ConsistencyProof, ProofFormatError, parse_consistency

GOOD = ConsistencyProof(3, "aa" * 32, 7, "bb" * 32, ("cc" * 32,)).text()


def test_a_consistency_proof_round_trips_through_its_text():
    assert parse_consistency(GOOD) == ConsistencyProof(3, "aa" * 32, 7, "bb" * 32, ("cc" * 32,))


@pytest.mark.parametrize(
    "text",
    [
        "",
        GOOD.replace("reviewsvc-audit-consistency v1", "reviewsvc-audit-proof v1"),
        GOOD.replace("old 3", "older 3"),
        GOOD.replace("old 3", "old 03"),
        GOOD.replace("new 7", "new -7"),
        GOOD.replace("aa" * 32, "AA" * 32),
        GOOD.replace("path " + "cc" * 32, "path cc"),
        GOOD + "trailing\n",
    ],
)
def test_a_malformed_consistency_proof_is_refused(text):
    with pytest.raises(ProofFormatError):
        parse_consistency(text)


def test_a_consistency_path_needs_a_non_empty_older_tree():
    with pytest.raises(ValueError, match="0 < old size"):
        consistency_path(0, 4, lambda lo, hi: b"")


def test_the_trusted_key_is_a_verifier_key_or_64_hex():
    key = bytes(range(32))
    assert cli.parse_public_key(NoteVerifier("log.example/a", key).vkey()) == key
    assert cli.parse_public_key(key.hex()) == key
    for bad in ("log.example/a+00000000+AQ==", "zz" * 32, "00" * 31):
        with pytest.raises(cli.UsageError):
            cli.parse_public_key(bad)


def test_a_verifier_needs_a_32_byte_key_and_a_name_without_spaces():
    with pytest.raises(NoteFormatError):
        NoteVerifier("log.example/a", bytes(31))
    with pytest.raises(NoteFormatError):
        NoteVerifier("", bytes(32))


@pytest.mark.parametrize("text", ["no newline", "two blank lines\n\n", "a \x07 bell\n"])
def test_only_a_clean_text_ending_in_one_newline_is_signed(text):
    with pytest.raises(NoteFormatError):
        note_sign(text, verifier=NoteVerifier("log.example/a", bytes(32)), sign=lambda m: bytes(64))


@pytest.mark.parametrize("line", ["— log.example/a", "— log.example/a AAAA", "— log.example/a !!!!"])
def test_a_signature_line_without_a_usable_signature_is_malformed(line):
    with pytest.raises(NoteFormatError):
        note_parse("text\n\n" + line + "\n")


def test_a_checkpoint_needs_a_size_and_a_hex_root():
    for size, root in ((-1, "00" * 32), (1, "not hex")):
        with pytest.raises(CheckpointFormatError):
            tlog_checkpoint_sign(origin="log.example/a", size=size, root=root, public_key=bytes(32), sign=bytes)
