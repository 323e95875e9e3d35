"""Inclusion proof text: strict parsing, and a proof checked against the checkpoint it names.

The tree is the CT reference test tree of tests/reviewsvc/audit/test_merkle_vectors.py (leaf 5 of 8,
its published audit path and root), so a proof that passes here passes any RFC 9162 verifier.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from reviewsvc.audit.checkpoint import GENESIS, Checkpoint
from reviewsvc.audit.proof import InclusionProof, ProofFormatError, parse_proof, proof_problem
from tests.reviewsvc.audit.test_merkle_vectors import INCLUSION, NODES, ROOTS

INDEX, SIZE, PATH = INCLUSION[-1]  # leaf 5 of the 8-leaf tree
PROOF = InclusionProof(seq=INDEX + 1, hash=NODES[0][INDEX], size=SIZE, root=ROOTS[SIZE], path=tuple(PATH))
CHECKPOINT = Checkpoint(
    size=SIZE, root=ROOTS[SIZE], prev=GENESIS, time="2026-11-21T23:40:36.123456Z", key="00" * 32, signature="00" * 64
)


def test_the_text_round_trips_and_the_published_path_proves_the_event():
    text = PROOF.text()
    assert text.splitlines()[:5] == [
        "reviewsvc-audit-proof v1",
        "seq 6",
        f"hash {NODES[0][5]}",
        "size 8",
        f"root {ROOTS[8]}",
    ]
    assert parse_proof(text) == PROOF
    assert parse_proof(text.rstrip("\n")) == PROOF
    assert proof_problem(parse_proof(text), CHECKPOINT) is None


MALFORMED = [
    (lambda t: t.replace("reviewsvc-audit-proof v1", "reviewsvc-audit-proof v2"), "not a 'reviewsvc-audit-proof v1'"),
    (lambda t: "\n".join(t.splitlines()[:4]), "not a 'reviewsvc-audit-proof v1' proof"),
    (lambda t: t.replace("\nsize ", "\nsizes "), "expected a 'size' line"),
    (lambda t: t + "path zz\n", "expected 'path <64 hex>' lines"),
    (lambda t: t + "note hello\n", "expected 'path <64 hex>' lines"),
    (lambda t: t.replace("seq 6", "seq 06"), "seq and size must be positive numbers"),
    (lambda t: t.replace("size 8", "size 0"), "seq and size must be positive numbers"),
    (lambda t: t.replace(f"hash {NODES[0][5]}", f"hash {NODES[0][5].upper()}"), "hash and root must be 64 lower-case"),
    (lambda t: t.replace(f"root {ROOTS[8]}", f"root {ROOTS[8][:-2]}"), "hash and root must be 64 lower-case"),
]


@pytest.mark.parametrize(("mangle", "message"), MALFORMED)
def test_it_refuses_malformed_text_and_names_what_is_wrong(mangle, message):
    with pytest.raises(ProofFormatError, match=re.escape(message)):
        parse_proof(mangle(PROOF.text()))


def test_it_refuses_a_proof_for_another_tree_than_the_checkpoint():
    other = dataclasses.replace(PROOF, size=7, root=ROOTS[7])
    assert proof_problem(other, CHECKPOINT) == "the proof is for a tree of 7 events, not checkpoint 8"
    assert proof_problem(dataclasses.replace(PROOF, root=ROOTS[7]), CHECKPOINT) == (
        "the proof is for a tree of 8 events, not checkpoint 8"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 5},  # the neighbouring event's number
        {"hash": NODES[0][4]},  # the neighbouring event's hash
        {"path": (PATH[0], PATH[2], PATH[1])},  # siblings reordered
        {"path": tuple(PATH[:-1])},  # one sibling short
    ],
    ids=["other-seq", "other-hash", "reordered-path", "short-path"],
)
def test_it_refuses_a_proof_that_does_not_lead_to_the_signed_root(change):
    proof = dataclasses.replace(PROOF, **change)
    assert proof_problem(proof, CHECKPOINT) == f"event {proof.seq} is not in the log checkpoint 8 signed"
