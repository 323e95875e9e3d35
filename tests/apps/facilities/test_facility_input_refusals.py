"""Facility rules refuse what they do not allow, whichever path (service, admin form) brings it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.common.context import RequestContext
from apps.facilities.models import (
    Workstation,
    validate_aaguids,
    validate_country,
    validate_networks,
    validate_regions,
)
from apps.facilities.services import facility_change, facility_sign_in_change, workstation_enrol
from reviewsvc.errors import ServiceError
from tests.certs import CertificateAuthority
from tests.support import last_event

pytestmark = pytest.mark.django_db

SYSTEM = RequestContext.system("tests")
CA = CertificateAuthority()
WS_01 = CA.issue("ws-01")


@pytest.mark.parametrize(
    ("validator", "value", "message"),
    [
        (validate_country, "XX", "ISO 3166-1"),
        (validate_networks, "10.0.0.0/8", "non-empty list of CIDRs"),
        (validate_networks, [], "non-empty list of CIDRs"),
        (validate_networks, [10], "non-empty list of CIDRs"),
        (validate_networks, ["10.0.0.1/8"], "Invalid network"),
        (validate_regions, "EU", "non-empty list"),
        (validate_regions, ["EU", 1], "non-empty list"),
        (validate_regions, ["MARS"], "Unknown regions"),
        (validate_aaguids, ["YUBIKEY"], "lower-case UUIDs"),
        (validate_aaguids, "11111111-2222-3333-4444-555555555555", "lower-case UUIDs"),
    ],
)
def test_the_model_validators_refuse_what_the_services_refuse(validator, value, message):
    with pytest.raises(ValidationError, match=message):
        validator(value)


def test_a_change_that_changes_nothing_is_logged_with_no_fields(facility_a):
    changed = facility_change(facility=facility_a, context=SYSTEM, name=facility_a.name, country=facility_a.country)
    assert last_event("facility.change").extra["fields"] == []
    assert (changed.name, changed.country) == (facility_a.name, facility_a.country)


def test_an_unknown_second_factor_is_refused(facility_a):
    with pytest.raises(ServiceError) as refused:
        facility_sign_in_change(facility=facility_a, second_factor="sms", context=SYSTEM)
    assert refused.value.code == "validation_error"
    facility_a.refresh_from_db()
    assert facility_a.second_factor != "sms"


@pytest.mark.parametrize("name", ["", "   ", "w" * 101])
def test_a_workstation_name_of_the_wrong_length_is_refused(facility_a, name):
    with pytest.raises(ServiceError, match="1 to 100 characters"):
        workstation_enrol(facility=facility_a, name=name, certificate_pem=WS_01.pem, context=SYSTEM)
    assert not Workstation.objects.exists()


def test_one_certificate_enrols_once_per_facility(facility_a):
    first = workstation_enrol(facility=facility_a, name="ws-01", certificate_pem=WS_01.pem, context=SYSTEM)
    with pytest.raises(ServiceError) as refused:
        workstation_enrol(facility=facility_a, name="ws-02", certificate_pem=WS_01.pem, context=SYSTEM)
    assert refused.value.code == "conflict"
    assert list(Workstation.objects.values_list("name", flat=True)) == ["ws-01"]
    assert str(first) == f"ws-01 ({facility_a.pk})"
