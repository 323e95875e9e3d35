from django.core.management.base import BaseCommand, CommandError

from apps.audit.services import AuditLogBroken, checkpoint_create


class Command(BaseCommand):
    help = "Sign a checkpoint over every event so far and write it to the sink outside the database."

    def handle(self, *args, **options) -> None:
        try:
            checkpoint = checkpoint_create()
        except AuditLogBroken as exc:
            raise CommandError(str(exc)) from None
        if checkpoint is None:
            self.stdout.write("no new events since the last checkpoint")
            return
        self.stdout.write(checkpoint.as_signed().text(), ending="")
