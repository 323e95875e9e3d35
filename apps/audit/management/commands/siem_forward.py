from django.core.management.base import BaseCommand

from apps.audit.forwarding import siem_forward_all


class Command(BaseCommand):
    help = "Send the sealed events each configured SIEM destination has not accepted yet."

    def handle(self, *args, **options) -> None:
        results = siem_forward_all()
        if not results:
            self.stdout.write("no SIEM destination configured")
        for result in results:
            status = f"error: {result.error}" if result.error else "ok"
            self.stdout.write(f"{result.destination}: sent {result.sent}, at #{result.last_seq} ({status})")
