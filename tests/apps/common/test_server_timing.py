import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TIMING = re.compile(r'^app;dur=[\d.]+, db;dur=[\d.]+;desc="(\d+) queries", total;dur=[\d.]+$')


def test_in_debug_every_response_says_where_its_time_went(settings):
    settings.DEBUG = True
    response = Client().get("/readyz")  # a new client loads the middleware under these settings
    match = TIMING.match(response["Server-Timing"])
    assert match, response["Server-Timing"]
    assert int(match.group(1)) >= 1  # readiness reads the database


def test_outside_debug_no_response_tells_how_long_the_database_took(settings):
    settings.DEBUG = False
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert "Server-Timing" not in response
