from django.core.management.base import BaseCommand, CommandError

from apps.audit.selectors import NotProvable, checkpoint_at, log_consistency_proof
from reviewsvc.audit.checkpoint import AnyCheckpoint

EXIT_USAGE = 2


class Command(BaseCommand):
    help = (
        "Print an RFC 6962 consistency proof between the checkpoints of OLD_SIZE and NEW_SIZE events: "
        "the older log is a prefix of the newer one."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("old_size", type=int)
        parser.add_argument("new_size", type=int)

    def handle(self, *args, old_size: int, new_size: int, **options) -> None:
        old = self._checkpoint(old_size)
        new = self._checkpoint(new_size)
        try:
            proof = log_consistency_proof(old=old, new=new)
        except NotProvable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(proof.text(), ending="")

    def _checkpoint(self, size: int) -> AnyCheckpoint:
        checkpoint = checkpoint_at(size)
        if checkpoint is None:
            raise CommandError(f"there is no checkpoint of {size} events", returncode=EXIT_USAGE)
        return checkpoint
