"""create_facility and the facility model's validation."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from apps.common.context import RequestContext
from apps.facilities.models import Facility
from apps.facilities.services import facility_create
from reviewsvc.errors import ServiceError
from tests.support import last_event

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("create_facility", *args, stdout=out)
    return out.getvalue()


def test_create_facility_stores_canonical_networks_and_logs_it():
    output = run(
        "Berlin 1",
        "--country",
        "de",
        "--network",
        "10.9.0.0/16",
        "--network",
        "::ffff:10.8.0.0/112",
        "--network",
        "2001:db8::/32",
        "--region",
        "EU",
        "--timezone",
        "Europe/Berlin",
        "--hours",
        "Mon-Fri 08:00-18:00",
    )
    facility = Facility.objects.get()
    assert output.split()[-1] == str(facility.pk)
    assert (facility.name, facility.country, facility.regions, facility.active) == ("Berlin 1", "DE", ["EU"], True)
    assert facility.networks == ["10.9.0.0/16", "10.8.0.0/16", "2001:db8::/32"]
    assert last_event("facility.create").facility_name == "Berlin 1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--country", "XX", "--network", "10.0.0.0/8", "--region", "EU"], "ISO 3166"),
        (["--country", "DEU", "--network", "10.0.0.0/8", "--region", "EU"], "at most 2"),
        (["--country", "DE", "--network", "10.0.0.1/8", "--region", "EU"], "Invalid network"),
        (["--country", "DE", "--network", "not-a-net", "--region", "EU"], "Invalid network"),
        (["--country", "DE", "--network", "10.0.0.0/8", "--region", "MARS"], "Unknown regions"),
        (["--country", "DE", "--network", "10.0.0.0/8", "--region", "EU", "--timezone", "Mars/Base"], "time zone"),
        (["--country", "DE", "--network", "10.0.0.0/8", "--region", "EU", "--hours", "Mon-Fri 08:00-18:00"], "zone"),
        (
            ["--country", "DE", "--network", "10.0.0.0/8", "--region", "EU", "--timezone", "UTC", "--hours", "9-5"],
            "cannot read",
        ),
    ],
    ids=[
        "unknown-country",
        "alpha-3",
        "host-bits",
        "garbage-cidr",
        "unknown-region",
        "bad-zone",
        "hours-no-zone",
        "bad-hours",
    ],
)
def test_create_facility_refuses_invalid_input(args, message):
    with pytest.raises(CommandError, match=message):
        run("Somewhere", *args)
    assert not Facility.objects.exists()


def test_facility_names_are_unique(facility_a):
    with pytest.raises(CommandError, match="already exists"):
        run("Facility A", "--country", "DE", "--network", "10.7.0.0/16", "--region", "EU")


def test_a_facility_change_stores_canonical_values_and_names_only_what_changed(facility_a, system_context):
    from apps.facilities.services import facility_change

    changed = facility_change(
        facility=facility_a,
        networks=["::ffff:10.7.0.0/112"],
        regions=[" EU "],
        name=facility_a.name,
        context=system_context,
    )

    assert changed.networks == ["10.7.0.0/16"]
    event = last_event("facility.change")
    assert (event.facility_id, event.extra["fields"]) == (facility_a.pk, ["networks"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"networks": ["10.0.0.0/33"]}, "Invalid network"), ({"regions": ["MARS"]}, "Unknown regions ['MARS']")],
)
def test_a_facility_change_refuses_bad_networks_and_unknown_regions(facility_a, system_context, changes, message):
    from apps.facilities.services import facility_change
    from reviewsvc.errors import ServiceError

    with pytest.raises(ServiceError, match=re.escape(message)):
        facility_change(facility=facility_a, context=system_context, **changes)

    facility_a.refresh_from_db()
    assert facility_a.networks == ["10.1.0.0/16"]
    assert facility_a.regions == ["EU"]


@pytest.mark.parametrize("field", ["networks", "regions"])
def test_the_service_refuses_a_facility_without_networks_or_regions(db, field):
    fields = {"name": "Nowhere", "country": "DE", "networks": ["10.7.0.0/16"], "regions": ["EU"], field: []}
    with pytest.raises(ServiceError) as refused:
        facility_create(**fields, context=RequestContext.system("tests"))
    assert (refused.value.code, refused.value.details) == ("validation_error", {field: ["This field cannot be blank."]})
    assert not Facility.objects.exists()
