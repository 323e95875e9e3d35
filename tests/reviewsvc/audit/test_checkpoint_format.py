"""Signed checkpoint text: strict parsing, signatures bound to every line, and the chain between them."""

from __future__ import annotations

import dataclasses
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reviewsvc.audit.checkpoint import (
    GENESIS,
    CheckpointFormatError,
    chain_problem,
    checkpoint_problem,
    checkpoint_sign,
    parse_checkpoint,
)
from reviewsvc.crypto.keys import verify_signature

SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = SIGNER.public_key().public_bytes_raw()
TIME = "2026-11-21T23:40:36.123456Z"


def make(size: int, prev: str = GENESIS, root: str = "ab" * 32, signer=SIGNER):
    return checkpoint_sign(
        size=size,
        root=root,
        prev=prev,
        time=TIME,
        public_key=signer.public_key().public_bytes_raw(),
        sign=signer.sign,
    )


def test_it_writes_the_documented_seven_lines():
    text = make(12).text()
    lines = text.splitlines()
    assert lines[0] == "reviewsvc-audit-checkpoint v1"
    assert [line.split(" ")[0] for line in lines[1:]] == ["size", "root", "prev", "time", "key", "sig"]
    assert lines[1] == "size 12"
    assert lines[5] == f"key {PUBLIC.hex()}"
    assert text.endswith("\n")


def test_a_parsed_checkpoint_is_the_signed_one_and_verifies():
    checkpoint = make(12)
    parsed = parse_checkpoint(checkpoint.text())
    assert parsed == checkpoint
    assert checkpoint_problem(parsed, trusted_key=PUBLIC, verify=verify_signature) is None


@pytest.mark.parametrize(
    ("line", "replacement"),
    [("size 12", "size 13"), ("root " + "ab" * 32, "root " + "ac" * 32), ("time " + TIME, "time " + TIME[:-2] + "7Z")],
)
def test_it_refuses_a_checkpoint_with_any_signed_line_changed(line, replacement):
    text = make(12).text().replace(line, replacement)
    assert checkpoint_problem(parse_checkpoint(text), trusted_key=PUBLIC, verify=verify_signature) == (
        f"checkpoint {parse_checkpoint(text).size} has an invalid signature"
    )


def test_it_refuses_a_checkpoint_signed_by_another_key_even_if_the_file_names_it():
    forger = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    forged = make(12, signer=forger)
    assert "not the trusted key" in checkpoint_problem(forged, trusted_key=PUBLIC, verify=verify_signature)


MALFORMED = [
    (lambda t: t.replace("size 12", "size 012"), "size must be a decimal number"),
    (lambda t: t.replace("size 12", "size -1"), "size must be a decimal number"),
    (lambda t: t + "extra line\n", "not a 'reviewsvc-audit-checkpoint v1' checkpoint"),
    (lambda t: t.replace("reviewsvc-audit-checkpoint v1", "reviewsvc-audit-checkpoint v2"), "not a 'reviewsvc"),
    (lambda t: "\n".join(t.splitlines()[:-1]), "not a 'reviewsvc-audit-checkpoint v1' checkpoint"),
    (lambda t: t.replace("\nprev ", "\nprevious "), "expected a 'prev' line"),
    (lambda t: t.replace("root ab", "root AB"), "root and prev must be 64 lower-case hex digits"),
    (lambda t: t.replace("prev " + GENESIS, "prev " + GENESIS[:-1]), "root and prev must be 64 lower-case hex digits"),
    (lambda t: t.replace("key " + PUBLIC.hex(), "key " + PUBLIC.hex().upper()), "key must be 64 lower-case hex"),
    (lambda t: t.replace("time " + TIME, "time " + TIME[:19] + "Z"), "time must be ISO 8601 UTC with microseconds"),
    (lambda t: t.replace("sig ", "sig  "), "sig must be 128 lower-case hex digits"),
]


@pytest.mark.parametrize(("mangle", "message"), MALFORMED)
def test_it_refuses_malformed_text_and_names_what_is_wrong(mangle, message):
    with pytest.raises(CheckpointFormatError, match=re.escape(message)):
        parse_checkpoint(mangle(make(12).text()))


def test_it_refuses_to_sign_a_negative_size():
    with pytest.raises(CheckpointFormatError, match="size must not be negative"):
        make(-1)


def test_a_series_chains_and_a_missing_or_reordered_link_shows():
    first = make(5)
    second = make(9, prev=first.digest())
    third = make(14, prev=second.digest())
    assert chain_problem([first, second, third]) is None
    assert chain_problem([first, third]) == (1, "checkpoint 14 does not chain to the checkpoint before it")
    assert chain_problem([first, third, second])[0] == 1
    assert chain_problem([second, third])[0] == 0


def test_a_series_that_does_not_grow_is_refused():
    first = make(5)
    assert chain_problem([first, make(5, prev=first.digest())]) == (1, "checkpoint 5 does not grow the log past 5")


def test_the_chain_digest_covers_the_signed_text():
    checkpoint = make(5)
    assert checkpoint.digest() != dataclasses.replace(checkpoint, root="cd" * 32).digest()
