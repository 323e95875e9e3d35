"""Demo identity data for `make run`: a facility on the loopback network, an invited reviewer and auditor."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Reviewer, ReviewerStatus
from apps.accounts.services import invite_issue, reviewer_invite, staff_invite
from apps.common.context import RequestContext
from apps.facilities.models import Facility
from apps.facilities.services import facility_create

DEMO_FACILITY = "Demo facility (loopback)"
DEMO_REVIEWER = "reviewer@demo.example"
DEMO_LANGUAGES = ["en-US", "de-DE", "fr-FR"]


def seed_demo_facility(stdout) -> Facility:
    """Idempotent: the demo facility on the loopback network."""
    facility = Facility.objects.filter(name=DEMO_FACILITY).first()
    if facility is None:
        facility = facility_create(
            name=DEMO_FACILITY,
            country="DE",
            networks=["127.0.0.0/8", "::1/128"],
            regions=["EU", "US"],
            context=RequestContext.system("manage.py seed_demo"),
        )
        stdout.write(f"Demo facility {DEMO_FACILITY!r} on 127.0.0.0/8 and ::1/128, regions EU and US.")
    return facility


def seed_demo_reviewer(stdout) -> None:
    """Idempotent. While the demo reviewer has not enrolled, prints a fresh invite link."""
    context = RequestContext.system("manage.py seed_demo")
    seed_demo_facility(stdout)
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


DEMO_AUDITOR = "auditor@demo.example"


def seed_demo_auditor(stdout) -> None:
    """Idempotent. While the demo auditor has not enrolled, prints a fresh invite link."""
    context = RequestContext.system("manage.py seed_demo")
    user = User.objects.filter(username=DEMO_AUDITOR).first()
    if user is None:
        _, url = staff_invite(email=DEMO_AUDITOR, auditor=True, superuser=False, context=context)
    elif not user.is_active:
        with transaction.atomic():
            url = invite_issue(user=user, context=context)
    else:
        stdout.write(f"Demo auditor {DEMO_AUDITOR} has enrolled; the audit console is at /audit/.")
        return
    stdout.write(f"Demo auditor {DEMO_AUDITOR}: enrol at {url} then open /audit/")
