from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.audit.selectors import NotProvable, checkpoint_latest, event_inclusion_proof
from apps.common.keys import key_provider
from reviewsvc.audit.checkpoint import CheckpointFormatError, checkpoint_problem, parse_any_checkpoint
from reviewsvc.crypto.keys import verify_signature

EXIT_USAGE = 2


class Command(BaseCommand):
    help = "Print an RFC 6962 inclusion proof of event SEQ against a checkpoint (default: the latest)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("seq", type=int)
        parser.add_argument("--checkpoint", help="a checkpoint file to prove against")

    def handle(self, *args, seq: int, checkpoint: str | None, **options) -> None:
        if checkpoint:
            try:
                signed = parse_any_checkpoint(Path(checkpoint).read_text(encoding="utf-8"))
            except (OSError, CheckpointFormatError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot use checkpoint {checkpoint}: {exc}", returncode=EXIT_USAGE) from None
            problem = checkpoint_problem(
                signed, trusted_key=key_provider().signing_public_key(), verify=verify_signature
            )
            if problem:
                raise CommandError(problem)
        else:
            signed = checkpoint_latest()
            if signed is None:
                raise CommandError("no checkpoint yet: run audit_checkpoint first")
        try:
            proof = event_inclusion_proof(seq=seq, checkpoint=signed)
        except NotProvable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(proof.text(), ending="")
