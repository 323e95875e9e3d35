from django.core.management.base import BaseCommand

from apps.clips.demo import seed_demo_clips


class Command(BaseCommand):
    help = "Idempotent demo data: ingest key (printed on first run), demo clips, demo facility and reviewer invite."

    def handle(self, *args, **options) -> None:
        seed_demo_clips(self.stdout)
