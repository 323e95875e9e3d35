"""Nothing a web node keeps is its own: the next request may land on another node and must see it.

Two Django test clients on the same database and cache stand in for two nodes; where the proof
needs a second process's view, a second connection to the same Redis or a second key provider
on the same file stands in for the other node's. Each test names the state it covers.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone
from rest_framework.test import APIClient

from apps.common.context import RequestContext
from apps.common.keys import key_provider
from apps.facilities.services import facility_change
from apps.reviews.alerts import alert_raise
from apps.reviews.limits import HOUR
from apps.reviews.models import Assignment
from apps.reviews.tasks import expire_leases
from reviewsvc.crypto import envelope
from reviewsvc.crypto.errors import KeyUnwrapError
from reviewsvc.crypto.keys import LocalKeyProvider
from tests.conftest import requires_redis
from tests.personas import ADDRESS_A
from tests.softhsm import another_nodes_provider
from tests.support import ingest_clip

pytestmark = pytest.mark.django_db

NEXT = "/api/v1/review/next"


def other_node(client: APIClient) -> APIClient:
    """A client of the same browser as ``client``, talking to another node: same cookies, new process state."""
    node = APIClient(REMOTE_ADDR=client._credentials.get("REMOTE_ADDR", ADDRESS_A))
    node.cookies = client.cookies
    return node


def other_nodes_cache() -> RedisCache:
    """Another node's cache: its own connection pool to the same Redis."""
    default = settings.CACHES["default"]
    return RedisCache(default["LOCATION"], {"KEY_PREFIX": default.get("KEY_PREFIX", "")})


def test_a_session_made_on_one_node_is_honoured_and_ended_on_the_other(alice_client):
    ingest_clip()
    node_b = other_node(alice_client)

    leased_on_b = node_b.post(NEXT)
    assert alice_client.post("/api/v1/auth/logout").status_code == 204
    after_logout_on_a = node_b.post(NEXT)

    assert settings.SESSION_ENGINE == "apps.accounts.session_store"
    assert leased_on_b.status_code == 200
    assert after_logout_on_a.status_code == 401


@requires_redis
def test_rate_limit_counters_taken_on_one_node_count_on_the_other(alice, alice_client, settings):
    settings.REVIEWSVC_AUDIO_REQUESTS_PER_HOUR = 1
    ingest_clip()
    lease = alice_client.post(NEXT).json()
    node_b = other_node(alice_client)

    first = alice_client.get(lease["audio_url"])
    second_on_b = node_b.get(lease["audio_url"])

    counter = f"reviews:limit:audio:{alice.user.pk}:{int(time.time()) // HOUR}"
    assert first.status_code == 200
    assert second_on_b.status_code == 429
    assert other_nodes_cache().get(counter) == 2


@requires_redis
def test_an_alert_sent_once_by_one_node_is_not_sent_again_by_the_other(alice):
    context = RequestContext.system("tests")
    raise_once = {
        "rule": "audio_burst",
        "reviewer_id": alice.reviewer.pk,
        "username": alice.user.username,
        "facility_id": alice.reviewer.facility_id,
        "context": context,
        "once_key": f"{alice.user.pk}:node-test",
        "may_suspend": False,
    }

    sent_on_a = alert_raise(**raise_once)

    assert sent_on_a
    assert other_nodes_cache().get(f"reviews:alert:audio_burst:{alice.user.pk}:node-test") == 1
    assert not alert_raise(**raise_once)


def test_a_lease_taken_on_one_node_lapses_by_the_beat_and_is_leased_again_on_the_other(alice_client):
    clip = ingest_clip()
    lease = alice_client.post(NEXT).json()
    node_b = other_node(alice_client)

    Assignment.objects.filter(pk=lease["assignment"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    lapsed = expire_leases()
    on_the_other_node = node_b.post(NEXT)

    assert settings.CELERY_BEAT_SCHEDULE["reviews.expire_leases"]["task"] == "reviews.expire_leases"
    assert lapsed == 1
    assert on_the_other_node.status_code == 200
    assert on_the_other_node.json()["clip"] == str(clip.id)
    assert on_the_other_node.json()["assignment"] != lease["assignment"]


def test_checkpoints_and_every_periodic_job_are_scheduled_by_the_one_beat_not_by_a_node():
    from config.celery import app

    scheduled = {name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}

    assert {"audit.checkpoint", "reviews.expire_leases", "privacy.retention_sweep"} <= set(scheduled.values())
    assert set(scheduled.values()) <= set(app.tasks)


def test_a_node_sees_a_facility_network_changed_through_another(alice, alice_client):
    ingest_clip()
    assert alice_client.post(NEXT).status_code == 200

    facility_change(facility=alice.reviewer.facility, networks=["10.9.0.0/16"], context=RequestContext.system("t"))

    assert other_node(alice_client).post(NEXT).status_code == 403


def test_a_rotation_on_one_node_is_seen_by_the_others_cached_provider_on_the_same_keys(settings):
    """The cached provider sees another node's rotation: it re-reads a shared key file when it
    changes, and looks a token's versions up on every wrap."""
    wrapped = key_provider().wrap(b"k" * 32, context=b"ctx")
    other = another_nodes_provider(settings)

    rotated_to = other.rotate()

    assert key_provider().current_version() == rotated_to
    assert key_provider().unwrap(other.wrap(b"n" * 32, context=b"ctx"), context=b"ctx") == b"n" * 32
    assert other.unwrap(wrapped, context=b"ctx") == b"k" * 32


def test_nodes_with_their_own_local_key_files_cannot_open_each_others_clips(tmp_path):
    """What the local file provider does not share: its master keys. One HSM token fixes that."""
    node_a = LocalKeyProvider(tmp_path / "a.json")
    node_b = LocalKeyProvider(tmp_path / "b.json")
    sealed = envelope.seal(b"audio", provider=node_a, kind="clip", object_id="1", subject_id="s")

    with pytest.raises(KeyUnwrapError):
        envelope.open(
            sealed.blob, provider=node_b, wrapped_key=sealed.wrapped_key, kind="clip", object_id="1", subject_id="s"
        )
