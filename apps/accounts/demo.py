"""Demo identity data for `make run`: a facility on the loopback network and an invited reviewer."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Reviewer, ReviewerStatus
from apps.accounts.services import invite_issue, reviewer_invite
from apps.common.context import RequestContext
from apps.facilities.models import Facility
from apps.facilities.services import facility_create

DEMO_FACILITY = "Demo facility (loopback)"
DEMO_REVIEWER = "reviewer@demo.example"
DEMO_LANGUAGES = ["en-US", "de-DE", "fr-FR"]


def seed_demo_reviewer(stdout) -> None:
    """Idempotent. While the demo reviewer has not enrolled, prints a fresh invite link last."""
    context = RequestContext.system("manage.py seed_demo")
    if not Facility.objects.filter(name=DEMO_FACILITY).exists():
        facility_create(
            name=DEMO_FACILITY,
            country="DE",
            networks=["127.0.0.0/8", "::1/128"],
            regions=["EU", "US"],
            context=context,
        )
        stdout.write(f"Demo facility {DEMO_FACILITY!r} on 127.0.0.0/8 and ::1/128, regions EU and US.")
    reviewer = Reviewer.objects.select_related("user").filter(user__username=DEMO_REVIEWER).first()
    if reviewer is None:
        _, url = reviewer_invite(
            email=DEMO_REVIEWER,
            facility_name=DEMO_FACILITY,
            languages=DEMO_LANGUAGES,
            vetted_until=timezone.localdate() + timedelta(days=365),
            context=context,
        )
    elif reviewer.status == ReviewerStatus.INVITED:
        with transaction.atomic():
            url = invite_issue(user=reviewer.user, context=context)
    else:
        stdout.write(f"Demo reviewer {DEMO_REVIEWER} has enrolled; sign in at /login/.")
        return
    stdout.write(f"Demo reviewer {DEMO_REVIEWER}: enrol (set password, add authenticator) at {url}")
