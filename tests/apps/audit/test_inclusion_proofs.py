"""audit_proof prints an RFC 6962 inclusion proof that verifies against a signed checkpoint."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AccessEvent
from apps.audit.services import checkpoint_create
from reviewsvc.audit.proof import parse_proof, proof_problem
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
    forged.write_text(path.read_text().replace("size 13", "size 12"))
    with pytest.raises(CommandError, match="invalid signature"):
        proof_command("5", "--checkpoint", str(forged))
