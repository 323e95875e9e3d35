"""Published RFC 6962 known answers for the Merkle tree: leaf and node hashes, roots, frontiers, audit paths.

Source: the Certificate Transparency reference test tree as kept by transparency-dev/merkle (formerly
google/trillian's merkle package, itself from the CT C++ reference ``merkle_tree_test``):
``testonly/constants.go`` (LeafInputs, NodeHashes, RootHashes, CompactTrees) and the inclusion and
consistency cases of ``testonly/reference_test.go`` (TestRefInclusionProof, TestRefConsistencyProof),
https://github.com/transparency-dev/merkle/tree/main/testonly. The hex below is transcribed from there.

The tree is the 8-leaf CT test tree; ``NODES[level][index]`` is the hash of the complete subtree of
2**level leaves starting at leaf ``index * 2**level``.
"""

from __future__ import annotations

import pytest

from reviewsvc.audit.merkle import TreeBuilder, inclusion_proof, leaf_hash, node_hash, tree_root, verify_inclusion

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]

NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

# ROOTS[n]: the tree head over the first n leaves.
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# COMPACT[n]: the roots of the perfect subtrees covering n leaves, largest first (CompactTrees).
COMPACT = [
    [],
    [NODES[0][0]],
    [NODES[1][0]],
    [NODES[1][0], NODES[0][2]],
    [NODES[2][0]],
    [NODES[2][0], NODES[0][4]],
    [NODES[2][0], NODES[1][2]],
    [NODES[2][0], NODES[1][2], NODES[0][6]],
    [NODES[3][0]],
]

# (leaf index, tree size, audit path leaf level first)
INCLUSION = [
    (0, 1, []),
    (0, 2, [NODES[0][1]]),
    (1, 2, [NODES[0][0]]),
    (2, 3, [NODES[1][0]]),
    (1, 5, [NODES[0][0], NODES[1][1], NODES[0][4]]),
    (0, 8, [NODES[0][1], NODES[1][1], NODES[2][1]]),
    (5, 8, [NODES[0][4], NODES[1][3], NODES[2][0]]),
]

# (old size, new size, consistency proof). The log has no consistency proof of its own: a checkpoint
# resumes the previous one's frontier (COMPACT) and the verifier recomputes every root. What a
# consistency proof asserts, that the new tree is built over the old tree's leaves, is pinned by
# the nodes of each published proof being subtree hashes over exactly those leaves.
CONSISTENCY = [
    (1, 8, [NODES[0][1], NODES[1][1], NODES[2][1]], [(1, 2), (2, 4), (4, 8)]),
    (2, 5, [NODES[1][1], NODES[0][4]], [(2, 4), (4, 5)]),
    (6, 8, [NODES[1][2], NODES[1][3], NODES[2][0]], [(4, 6), (6, 8), (0, 4)]),
]


def leaves(n: int = 8) -> list[bytes]:
    return [leaf_hash(entry) for entry in LEAF_INPUTS[:n]]


@pytest.mark.parametrize("index", range(8))
def test_each_leaf_hash_is_the_published_one(index):
    assert leaf_hash(LEAF_INPUTS[index]).hex() == NODES[0][index]


@pytest.mark.parametrize(("level", "index"), [(lv, i) for lv in range(1, 4) for i in range(len(NODES[lv]))])
def test_each_interior_node_hash_is_the_published_one(level, index):
    left, right = bytes.fromhex(NODES[level - 1][2 * index]), bytes.fromhex(NODES[level - 1][2 * index + 1])
    assert node_hash(left, right).hex() == NODES[level][index]
    width = 2**level
    assert tree_root(leaves()[index * width : (index + 1) * width]).hex() == NODES[level][index]


@pytest.mark.parametrize("size", range(9))
def test_the_root_of_each_prefix_of_the_test_tree_is_the_published_tree_head(size):
    assert tree_root(leaves(size)).hex() == ROOTS[size]


@pytest.mark.parametrize("size", range(9))
def test_the_frontier_a_checkpoint_stores_is_the_published_compact_range(size):
    builder = TreeBuilder()
    for leaf in leaves(size):
        builder.push(leaf)
    assert [node.hex() for node in builder.frontier] == COMPACT[size]
    assert builder.root().hex() == ROOTS[size]


@pytest.mark.parametrize("size", range(9))
def test_a_tree_resumed_from_a_published_compact_range_reaches_the_published_root_of_eight(size):
    builder = TreeBuilder(size, [bytes.fromhex(node) for node in COMPACT[size]])
    for leaf in leaves()[size:]:
        builder.push(leaf)
    assert builder.root().hex() == ROOTS[8]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION, ids=[f"{i}:{n}" for i, n, _ in INCLUSION])
def test_each_audit_path_is_the_published_one_and_verifies_against_the_published_root(index, size, path):
    assert [node.hex() for node in inclusion_proof(index, leaves(size))] == path
    assert verify_inclusion(index, size, leaves()[index], [bytes.fromhex(n) for n in path], bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION[1:], ids=[f"{i}:{n}" for i, n, _ in INCLUSION[1:]])
def test_a_published_audit_path_verifies_neither_a_neighbouring_leaf_nor_a_smaller_trees_root(index, size, path):
    nodes = [bytes.fromhex(n) for n in path]
    root = bytes.fromhex(ROOTS[size])
    neighbour = index ^ 1 if index ^ 1 < size else index - 1
    assert not verify_inclusion(index, size, leaves()[neighbour], nodes, root)
    assert not verify_inclusion(index, size, leaves()[index], nodes, bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(
    ("old", "new", "proof", "spans"), CONSISTENCY, ids=[f"{old}:{new}" for old, new, _, _ in CONSISTENCY]
)
def test_each_node_of_a_published_consistency_proof_is_the_trees_hash_of_its_leaves(old, new, proof, spans):
    assert [tree_root(leaves(new)[start:end]).hex() for start, end in spans] == proof
    # The old tree's head rebuilt from the leaves it had, and the new head from the same leaves and more.
    assert tree_root(leaves(old)).hex() == ROOTS[old]
    assert tree_root(leaves(new)).hex() == ROOTS[new]
