import signal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.audit.sealing import seal_if_leader_free, sealer_run


class Command(BaseCommand):
    help = (
        "Sequence and chain committed pending events (PostgreSQL): lead while no other sealer does, "
        "every REVIEWSVC_AUDIT_SEAL_INTERVAL_MS; with --once, one pass if no other sealer leads."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="Seal what is pending now, then exit.")

    def handle(self, *args, once: bool, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("audit_sealer is for PostgreSQL; SQLite appends every event sealed.")
        if once:
            self.stdout.write(f"sealed {seal_if_leader_free()}")
            return
        stopping = []
        # SIGTERM (docker stop) ends the loop between batches: a batch is one transaction anyway.
        previous = signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        try:
            sealer_run(keep_going=lambda: not stopping, on_lead=self._leading)
        finally:
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write("stopped")

    def _leading(self) -> None:
        self.stdout.write("leading")
        self.stdout.flush()
