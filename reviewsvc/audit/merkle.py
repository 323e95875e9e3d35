"""RFC 6962 / RFC 9162 Merkle tree hashes over the log's events.

leaf = SHA-256(0x00 ‖ entry), node = SHA-256(0x01 ‖ left ‖ right); a tree of n leaves splits at
k, the largest power of two below n. The empty tree's hash is SHA-256 of nothing.

An entry is an event's encoded record (reviewsvc/audit/chain.py), and an event's chain hash is
defined as exactly this leaf hash — so the stored event hashes are the tree's leaves, and
verification hashes each record once instead of twice. The functions here take leaf hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

_sha256 = hashlib.sha256
HASH_SIZE = 32


def leaf_hash(entry: bytes) -> bytes:
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


class TreeBuilder:
    """The root of a growing tree in O(log n) memory: perfect subtrees are merged as they fill.

    Pushing leaves one by one and folding the remaining subtrees right to left gives exactly
    RFC 6962's root, because its split rule puts the largest perfect subtree on the left.
    """

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        """Start empty, or resume from another builder's ``size`` and ``frontier``."""
        if bin(size).count("1") != len(frontier) or any(len(node) != 32 for node in frontier):
            raise ValueError("a frontier holds one 32-byte node per set bit of the size")
        self.size = size
        self._stack: list[bytes] = list(frontier)  # roots of perfect subtrees, largest first

    @property
    def frontier(self) -> list[bytes]:
        return list(self._stack)

    def push(self, leaf: bytes) -> None:
        node = leaf
        self.size += 1
        stack = self._stack
        size = self.size
        # Each trailing zero bit of the new size is one pair of equal subtrees to merge.
        while not size & 1:
            node = _sha256(b"\x01" + stack.pop() + node).digest()
            size >>= 1
        stack.append(node)

    def root(self) -> bytes:
        if not self._stack:
            return _sha256(b"").digest()
        node = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def tree_root(leaves: Iterable[bytes]) -> bytes:
    builder = TreeBuilder()
    for leaf in leaves:
        builder.push(leaf)
    return builder.root()


def _all_hashes(*values: bytes) -> bool:
    return all(len(value) == HASH_SIZE for value in values)


def _split(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


# The hash of leaves [lo, hi) of a tree, however it is obtained: from leaves in memory, or from
# the nodes the log stores (apps/audit/selectors.py) so that a proof reads O(log n) rows.
Subtree = Callable[[int, int], bytes]


def subtree_of(leaves: Sequence[bytes]) -> Subtree:
    return lambda lo, hi: tree_root(leaves[lo:hi])


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """RFC 6962 section 2.1.1 PATH(index, D[0:size]), leaf level first."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    path: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root; siblings are collected top-down, the proof lists them bottom-up.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 audit path of leaf ``index`` (0-based) in the tree over ``leaves``."""
    return inclusion_path(index, len(leaves), subtree_of(leaves))


def consistency_path(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """RFC 6962 section 2.1.2 PROOF(old_size, D[0:new_size]); empty when the sizes are equal."""
    if not 0 < old_size <= new_size:
        raise ValueError("a consistency proof needs 0 < old size <= new size")
    path: list[bytes] = []
    m, lo, hi, complete = old_size, 0, new_size, True
    # SUBPROOF(m, D[lo:hi], complete), unrolled: the right-hand siblings are appended on the way
    # down in reverse of the RFC's order, so they are collected separately and reversed.
    siblings: list[bytes] = []
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            siblings.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            siblings.append(subtree(lo, lo + k))
            m, lo, complete = m - k, lo + k, False
    if not complete:
        path.append(subtree(lo, hi))
    return path + siblings[::-1]


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    return consistency_path(old_size, len(leaves), subtree_of(leaves))


def verify_consistency(old_size: int, new_size: int, path: Sequence[bytes], old_root: bytes, new_root: bytes) -> bool:
    """RFC 9162 section 2.1.4.2: does ``path`` prove the ``old_size`` tree is a prefix of the ``new_size`` one?"""
    if old_size < 1 or old_size > new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if not _all_hashes(old_root, new_root, *path):
        return False
    if old_size & (old_size - 1) == 0:
        path = [old_root, *path]
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does ``path`` prove leaf ``index`` of a ``size``-leaf tree?"""
    if not 0 <= index < size or not _all_hashes(leaf, root, *path):
        return False
    fn, sn = index, size - 1
    node = leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == root
