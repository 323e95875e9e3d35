"""audit_proof and audit_consistency: RFC 6962 proofs from stored tree nodes, verified against signed checkpoints."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AccessEvent, TreeNode
from apps.audit.selectors import NotProvable, checkpoint_at, event_inclusion_proof, log_consistency_proof
from apps.audit.services import checkpoint_create
from apps.common.keys import key_provider
from reviewsvc.audit.merkle import consistency_proof, inclusion_proof, tree_root
from reviewsvc.audit.note import note_open, parse_vkey
from reviewsvc.audit.proof import consistency_problem, parse_consistency, parse_proof, proof_problem
from reviewsvc.crypto.keys import verify_signature
from tests.apps.audit.factories import as_superuser_without_triggers, record_events

pytestmark = pytest.mark.django_db


def proof_command(*args: str) -> str:
    out = io.StringIO()
    call_command("audit_proof", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def checkpointed(django_capture_on_commit_callbacks, checkpoint_dir):
    record_events(13)
    with django_capture_on_commit_callbacks(execute=True):
        row = checkpoint_create()
    return row.as_signed(), checkpoint_dir / "checkpoint-000000000013.txt"


@pytest.mark.parametrize("seq", [1, 7, 8, 13])
def test_the_proof_verifies_against_the_latest_checkpoint(checkpointed, seq):
    checkpoint, _ = checkpointed
    proof = parse_proof(proof_command(str(seq)))
    assert (proof.seq, proof.size, proof.root) == (seq, 13, checkpoint.root)
    assert proof.hash == AccessEvent.objects.get(seq=seq).hash
    assert proof_problem(proof, checkpoint) is None


def test_the_proof_verifies_against_a_checkpoint_file(checkpointed):
    checkpoint, path = checkpointed
    record_events(3)
    checkpoint_create()
    proof = parse_proof(proof_command("5", "--checkpoint", str(path)))
    assert proof.size == 13
    assert proof_problem(proof, checkpoint) is None


def test_a_proof_does_not_verify_for_another_event_or_a_changed_path(checkpointed):
    checkpoint, _ = checkpointed
    proof = parse_proof(proof_command("6"))
    other = parse_proof(proof_command("7"))
    assert proof_problem(proof.__class__(6, other.hash, 13, proof.root, proof.path), checkpoint)
    changed = proof.__class__(6, proof.hash, 13, proof.root, ("00" * 32, *proof.path[1:]))
    assert proof_problem(changed, checkpoint)


def test_it_refuses_an_event_the_checkpoint_does_not_cover(checkpointed):
    record_events(1)
    with pytest.raises(CommandError, match="not covered"):
        proof_command("14")


def test_it_refuses_to_prove_from_a_log_that_no_longer_matches_its_checkpoint(checkpointed):
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq=2).update(hash="not hex")
    with pytest.raises(CommandError, match="no longer match"):
        proof_command("5")


def test_it_refuses_a_checkpoint_file_that_was_altered(checkpointed, tmp_path):
    _, path = checkpointed
    forged = tmp_path / "forged.txt"
    forged.write_text(path.read_text().replace("\n13\n", "\n12\n"))
    with pytest.raises(CommandError, match="not signed by the trusted key"):
        proof_command("5", "--checkpoint", str(forged))


@pytest.fixture
def long_log(django_capture_on_commit_callbacks):
    """600 events under two checkpoints (300, 600): stored nodes of 256 and 512 leaves, some completed later."""
    record_events(300)
    checkpoint_create()
    record_events(300)
    checkpoint_create()
    return [bytes.fromhex(h) for h in AccessEvent.objects.order_by("seq").values_list("hash", flat=True)]


def test_the_stored_nodes_are_the_perfect_subtrees_of_256_leaves_and_more(long_log):
    stored = {(n.level, n.index): n.hash for n in TreeNode.objects.all()}
    assert stored == {
        (8, 0): tree_root(long_log[0:256]).hex(),
        (8, 1): tree_root(long_log[256:512]).hex(),
        (9, 0): tree_root(long_log[0:512]).hex(),
    }


@pytest.mark.parametrize("seq", [1, 255, 256, 257, 300, 512, 513, 600])
def test_a_proof_from_stored_nodes_is_the_proof_from_every_leaf_in_two_reads(
    long_log, seq, django_assert_max_num_queries
):
    checkpoint = checkpoint_at(600)
    with django_assert_max_num_queries(2):  # every node and block a proof needs, in two reads
        proof = event_inclusion_proof(seq=seq, checkpoint=checkpoint)
    assert [bytes.fromhex(node) for node in proof.path] == inclusion_proof(seq - 1, long_log)
    assert proof_problem(proof, checkpoint) is None


def test_a_tampered_stored_node_gives_no_proof(long_log):
    with as_superuser_without_triggers():
        TreeNode.objects.filter(level=8, index=0).update(hash="00" * 32)
    with pytest.raises(NotProvable, match="no longer matches checkpoint 600"):
        event_inclusion_proof(seq=300, checkpoint=checkpoint_at(600))


def consistency_command(*args: str) -> str:
    out = io.StringIO()
    call_command("audit_consistency", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(("old", "new"), [(300, 600), (300, 300), (600, 600)])
def test_the_consistency_proof_between_two_checkpoints_verifies(long_log, old, new):
    proof = parse_consistency(consistency_command(str(old), str(new)))
    assert [bytes.fromhex(node) for node in proof.path] == (
        consistency_proof(old, long_log[:new]) if old != new else []
    )
    assert consistency_problem(proof, checkpoint_at(old), checkpoint_at(new)) is None
    if old != new:
        assert consistency_problem(proof, checkpoint_at(old), checkpoint_at(old))


def test_a_consistency_proof_needs_two_checkpoints_in_order(long_log):
    with pytest.raises(CommandError, match="no checkpoint of 299 events") as missing:
        consistency_command("299", "600")
    assert missing.value.returncode == 2
    with pytest.raises(CommandError, match="0 < old size <= new size"):
        consistency_command("600", "300")


def test_a_rewritten_prefix_gives_no_consistency_proof(long_log):
    with as_superuser_without_triggers():
        TreeNode.objects.filter(level=8, index=0).update(hash="11" * 32)
    with pytest.raises(CommandError, match="not a prefix"):
        consistency_command("300", "600")


def test_the_public_key_command_prints_the_verifier_key_an_outsider_checks_a_checkpoint_with(
    django_capture_on_commit_callbacks, checkpoint_dir, settings
):
    record_events(3)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_create()
    out = io.StringIO()
    call_command("audit_public_key", stdout=out)
    verifier = parse_vkey(out.getvalue())
    assert (verifier.name, verifier.public_key) == (
        settings.REVIEWSVC_AUDIT_LOG_ORIGIN,
        key_provider().signing_public_key(),
    )
    note = (checkpoint_dir / "checkpoint-000000000003.txt").read_text(encoding="utf-8")
    assert note_open(note, verifier=verifier, verify=verify_signature).text.split("\n")[:2] == [verifier.name, "3"]


def test_a_missing_stored_node_gives_no_proof(long_log):
    with as_superuser_without_triggers():
        TreeNode.objects.filter(level=9, index=0).delete()
    with pytest.raises(NotProvable, match="tree node 9/0 is missing"):
        event_inclusion_proof(seq=600, checkpoint=checkpoint_at(600))


def test_a_missing_event_gives_no_proof(long_log):
    with as_superuser_without_triggers():
        AccessEvent.objects.filter(seq=590).delete()
    with pytest.raises(NotProvable, match="not all stored"):
        event_inclusion_proof(seq=599, checkpoint=checkpoint_at(600))


def test_the_only_event_of_a_log_is_proved_by_an_empty_path(django_capture_on_commit_callbacks):
    record_events(1)
    checkpoint = checkpoint_create().as_signed()
    proof = event_inclusion_proof(seq=1, checkpoint=checkpoint)
    assert (proof.path, proof_problem(proof, checkpoint)) == ((), None)


def test_with_small_stored_subtrees_every_proof_still_matches_the_one_from_every_leaf(monkeypatch):
    # Blocks of 4 leaves: ranges that span several blocks without being one stored node are split.
    monkeypatch.setattr("reviewsvc.audit.verify.STORED_NODE_LEVEL", 2)
    monkeypatch.setattr("apps.audit.selectors.STORED_NODE_LEVEL", 2)
    record_events(13)
    checkpoint_create()
    record_events(24)
    checkpoint_create()
    leaves = [bytes.fromhex(h) for h in AccessEvent.objects.order_by("seq").values_list("hash", flat=True)]
    old, new = checkpoint_at(13), checkpoint_at(37)
    for seq in range(1, 38):
        proof = event_inclusion_proof(seq=seq, checkpoint=new)
        assert [bytes.fromhex(node) for node in proof.path] == inclusion_proof(seq - 1, leaves)
    consistency = log_consistency_proof(old=old, new=new)
    assert [bytes.fromhex(node) for node in consistency.path] == consistency_proof(13, leaves)
    assert consistency_problem(consistency, old, new) is None
