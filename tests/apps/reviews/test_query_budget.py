"""Round trips of the reviewer's hot path: a regression in them shows here, not only in the bench.

Each request proves again who is asking in one read: the session row with its user, reviewer,
facility and OTP device joined (apps.accounts.session_store, apps.accounts.identity). It then locks the lease
with its clip and subject in one statement, changes it in one UPDATE and appends its event; the
facility name in the event comes from the reviewer already read, not a lookup. The budgets hold
on both databases: PostgreSQL adds the flush barrier after the commit, SQLite reads the log's
head before the insert.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.apps.reviews.support import assignment_url
from tests.support import NEXT, body, events, lease_next

pytestmark = pytest.mark.django_db

# The session with its user, reviewer, facility and device; the transaction; the lease; the event.
AUDIO_QUERIES = 7
NEXT_QUERIES = 11
SUBMIT_QUERIES = 10
# Without Redis the shared counters live in the database, one upsert per count
# (apps.common.counters): audio counts the reviewer's rate and the bytes served, next the rate.
AUDIO_COUNTS = 2
NEXT_COUNTS = 1


def budget(queries: int, counts: int) -> int:
    return queries if settings.REDIS_URL else queries + counts


@pytest.fixture
def lease(alice_client, make_clip):
    make_clip(seconds=1.0)
    return lease_next(alice_client)


def test_an_audio_request_stays_within_its_query_budget(alice_client, lease, django_assert_max_num_queries):
    with django_assert_max_num_queries(budget(AUDIO_QUERIES, AUDIO_COUNTS)):
        response = alice_client.get(lease["audio_url"])
        assert response.status_code == 200
        assert body(response)
    assert events("clip.audio")[-1].facility_name == "Facility A"


def test_next_stays_within_its_query_budget(alice_client, make_clip, django_assert_max_num_queries):
    make_clip(seconds=1.0)
    with django_assert_max_num_queries(budget(NEXT_QUERIES, NEXT_COUNTS)):
        assert alice_client.post(NEXT).status_code == 200
    assert events("review.lease")[-1].facility_name == "Facility A"


def test_a_transcript_submit_stays_within_its_query_budget(alice_client, lease, django_assert_max_num_queries):
    with django_assert_max_num_queries(SUBMIT_QUERIES):
        response = alice_client.post(
            assignment_url(lease["assignment"], "transcript"), {"text": "hello", "flags": []}, format="json"
        )
        assert response.status_code == 201
    assert events("transcript.submit")[-1].facility_name == "Facility A"
