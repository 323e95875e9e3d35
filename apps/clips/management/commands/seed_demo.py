from django.core.management.base import BaseCommand

from apps.accounts.demo import seed_demo_auditor, seed_demo_facility, seed_demo_reviewer
from apps.audit.demo import seed_demo_activity
from apps.clips.demo import seed_demo_clips


class Command(BaseCommand):
    help = (
        "Idempotent demo data: ingest key (printed on first run), demo clips, demo facility, activity for the "
        "audit console, auditor and reviewer invites."
    )

    def handle(self, *args, **options) -> None:
        seed_demo_clips(self.stdout)
        facility = seed_demo_facility(self.stdout)
        seed_demo_activity(self.stdout, facility_id=facility.pk)
        seed_demo_auditor(self.stdout)
        # Last: while the demo reviewer has not enrolled, the last line is their invite link.
        seed_demo_reviewer(self.stdout)
