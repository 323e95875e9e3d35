"""Account services refuse bad input with a clear error and leave nothing half made."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.accounts.models import ApiKey, Reviewer
from apps.accounts.services import api_key_create, api_key_revoke, reviewer_invite, staff_invite
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError
from tests.support import last_event

pytestmark = pytest.mark.django_db

SYSTEM = RequestContext.system("tests")


def invite(facility, *, email="kim@facility-a.example", languages=("en-US",)):
    return reviewer_invite(
        email=email,
        facility_name=facility.name,
        languages=list(languages),
        vetted_until=timezone.localdate() + timedelta(days=30),
        context=SYSTEM,
    )


def test_an_e_mail_address_longer_than_a_username_is_refused(facility_a):
    with pytest.raises(ServiceError, match="too long") as refused:
        invite(facility_a, email="k" * 150 + "@facility-a.example")
    assert refused.value.code == "validation_error"
    assert not User.objects.exists()


def test_a_reviewer_needs_a_language_and_repeats_count_once(facility_a):
    with pytest.raises(ServiceError, match="at least one language"):
        invite(facility_a, languages=())
    reviewer, _ = invite(facility_a, languages=("en-US", "en-us", "de-DE"))
    assert reviewer.languages == ["en-US", "de-DE"]
    assert Reviewer.objects.count() == 1


def test_a_staff_invite_for_an_existing_account_is_refused():
    staff_invite(email="ann@reviewsvc.example", auditor=True, superuser=False, context=SYSTEM)
    with pytest.raises(ServiceError) as refused:
        staff_invite(email="ANN@reviewsvc.example", auditor=False, superuser=True, context=SYSTEM)
    assert refused.value.code == "conflict"
    assert not User.objects.get(username="ann@reviewsvc.example").is_superuser


@pytest.mark.parametrize("scopes", [[], ["clips:ingest", "admin:everything"]])
def test_an_api_key_takes_only_known_scopes(scopes):
    with pytest.raises(ServiceError, match="Scopes must be among") as refused:
        api_key_create(name="backend", scopes=scopes, context=SYSTEM)
    assert refused.value.code == "validation_error"
    assert not ApiKey.objects.exists()


def test_api_key_names_are_unique():
    api_key_create(name="backend", scopes=["clips:ingest"], context=SYSTEM)
    with pytest.raises(ServiceError) as refused:
        api_key_create(name="backend", scopes=["subjects:manage"], context=SYSTEM)
    assert refused.value.code == "conflict"
    assert list(ApiKey.objects.values_list("scopes", flat=True)) == [["clips:ingest"]]


def test_revoking_a_key_that_is_not_active_is_refused_and_logs_nothing():
    api_key_create(name="backend", scopes=["clips:ingest"], context=SYSTEM)
    api_key_revoke(name="backend", context=SYSTEM)
    revoked = last_event("api_key.revoke")
    with pytest.raises(ServiceError) as refused:
        api_key_revoke(name="backend", context=SYSTEM)
    assert refused.value.code == "not_found"
    assert last_event("api_key.revoke").seq == revoked.seq
