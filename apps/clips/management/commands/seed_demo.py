from django.core.management.base import BaseCommand

from apps.accounts.demo import seed_demo_reviewer
from apps.clips.demo import seed_demo_clips


class Command(BaseCommand):
    help = "Idempotent demo data: ingest key (printed on first run), demo clips, demo facility and reviewer invite."

    def handle(self, *args, **options) -> None:
        seed_demo_clips(self.stdout)
        # Last: while the demo reviewer has not enrolled, the last line is their invite link.
        seed_demo_reviewer(self.stdout)
