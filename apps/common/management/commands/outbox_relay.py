import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from apps.common.outbox import outbox_relay


class Command(BaseCommand):
    help = "Publish follow-up tasks waiting in the outbox; with --loop, keep doing it every --interval seconds."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="Run until stopped.")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between rounds (default 2).")

    def handle(self, *args, loop: bool, interval: float, **options) -> None:
        while True:
            try:
                sent = outbox_relay()
            except Exception as exc:
                # The database may be restarting: the next round tries again.
                self.stderr.write(f"outbox relay round failed: {type(exc).__name__}")
                close_old_connections()
                sent = 0
            if not loop:
                self.stdout.write(f"published {sent}")
                return
            time.sleep(interval)
