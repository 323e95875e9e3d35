"""RFC 6962 tree hashes and audit paths, against a direct transcription of the RFC's definitions."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviewsvc.audit.merkle import (
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)


def rfc_mth(data: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, word for word."""
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + rfc_mth(data[:k]) + rfc_mth(data[k:])).digest()


def rfc_path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return rfc_path(m, data[:k]) + [rfc_mth(data[k:])]
    return rfc_path(m - k, data[k:]) + [rfc_mth(data[:k])]


def entries(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def hashes(n: int) -> list[bytes]:
    """Leaf hashes, as the log stores them (an event's hash is its record's leaf hash)."""
    return [leaf_hash(entry) for entry in entries(n)]


def test_the_empty_tree_hashes_to_sha256_of_nothing():
    assert tree_root([]) == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_leaf_and_node_hashes_are_domain_separated():
    # Known answers: a leaf can never be mistaken for a node of the same bytes.
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert leaf_hash(b"ab") != node_hash(b"a", b"b")


@pytest.mark.parametrize("n", [*range(1, 34), 64, 65, 100, 127, 128, 129])
def test_the_streaming_root_is_the_rfc_root(n):
    assert tree_root(hashes(n)) == rfc_mth(entries(n))


@given(st.integers(min_value=1, max_value=300), st.integers(min_value=0, max_value=300))
def test_a_tree_resumed_from_its_frontier_grows_like_one_built_in_one_go(first, more):
    leaves = hashes(first + more)
    head = TreeBuilder()
    for leaf in leaves[:first]:
        head.push(leaf)
    resumed = TreeBuilder(head.size, head.frontier)
    for leaf in leaves[first:]:
        resumed.push(leaf)
    assert resumed.root() == rfc_mth(entries(first + more))


def test_it_refuses_a_frontier_that_does_not_fit_the_size():
    with pytest.raises(ValueError, match="frontier"):
        TreeBuilder(3, [bytes(32)])


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 31, 33])
def test_every_audit_path_is_the_rfc_path_and_verifies(n):
    leaves = hashes(n)
    root = tree_root(leaves)
    for m in range(n):
        path = inclusion_proof(m, leaves)
        assert path == rfc_path(m, entries(n))
        assert verify_inclusion(m, n, leaves[m], path, root)


def test_it_refuses_a_proof_for_another_leaf_a_wrong_index_or_a_changed_sibling():
    leaves = hashes(11)
    root = tree_root(leaves)
    path = inclusion_proof(6, leaves)
    assert not verify_inclusion(6, 11, leaves[5], path, root)
    assert not verify_inclusion(5, 11, leaves[6], path, root)
    assert not verify_inclusion(6, 11, leaves[6], [path[0][::-1], *path[1:]], root)
    assert not verify_inclusion(6, 11, leaves[6], path[:-1], root)
    assert not verify_inclusion(6, 11, leaves[6], [*path, bytes(32)], root)
    assert not verify_inclusion(11, 11, leaves[6], path, root)


def test_it_refuses_to_prove_a_leaf_outside_the_tree():
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(3, hashes(3))


# Test vectors of github.com/transparency-dev/merkle (testdata/, Apache License 2.0): RFC 6962
# inclusion and consistency proofs over the eight leaves below, and malformed variants of each.
VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962_proofs.json").read_text())
VECTOR_LEAVES = [
    leaf_hash(bytes.fromhex(entry))
    for entry in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]


def b64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def proof_of(vector: dict) -> list[bytes]:
    return [b64(node) for node in vector["proof"] or []]


@pytest.mark.parametrize("vector", VECTORS["consistency"], ids=lambda v: v["file"])
def test_consistency_proofs_verify_exactly_as_the_reference_vectors_say(vector):
    ok = verify_consistency(
        vector["size1"], vector["size2"], proof_of(vector), b64(vector["root1"]), b64(vector["root2"])
    )
    assert ok is not vector["wantErr"]


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: v["file"])
def test_inclusion_proofs_verify_exactly_as_the_reference_vectors_say(vector):
    ok = verify_inclusion(
        vector["leafIdx"], vector["treeSize"], b64(vector["leafHash"]), proof_of(vector), b64(vector["root"])
    )
    assert ok is not vector["wantErr"]


HAPPY = [v for v in VECTORS["consistency"] + VECTORS["inclusion"] if v["desc"] == "happy path"]


@pytest.mark.parametrize("vector", HAPPY, ids=lambda v: v["file"])
def test_the_proofs_it_makes_are_the_reference_proofs(vector):
    if "size1" in vector:
        made = consistency_proof(vector["size1"], VECTOR_LEAVES[: vector["size2"]])
        assert tree_root(VECTOR_LEAVES[: vector["size2"]]) == b64(vector["root2"])
    else:
        made = inclusion_proof(vector["leafIdx"], VECTOR_LEAVES[: vector["treeSize"]])
    assert made == proof_of(vector)


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=0, max_value=200))
def test_every_consistency_proof_between_two_sizes_verifies_and_a_changed_leaf_does_not(old, more):
    leaves = hashes(old + more)
    path = consistency_proof(old, leaves)
    assert verify_consistency(old, old + more, path, tree_root(leaves[:old]), tree_root(leaves))
    forked = [*leaves[: old - 1], leaf_hash(b"forged"), *leaves[old:]]
    assert not verify_consistency(old, old + more, path, tree_root(leaves[:old]), tree_root(forked))
