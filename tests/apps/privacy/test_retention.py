"""Retention: what outlived its period is crypto-shredded in batches, idempotently, an event per batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings

from apps.audit.models import AccessEvent
from apps.clips.models import Clip, ClipStatus
from apps.privacy.services import ids_digest, retention_sweep
from apps.privacy.tasks import retention_sweep_task
from apps.reviews.models import Transcript
from tests.apps.privacy.conftest import OTHER, SUBJECT, add_clip
from tests.support import lease_next, transcript_submit

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, inside facility A's hours


def test_clips_older_than_the_retention_period_are_shredded_in_batches(settings, django_capture_on_commit_callbacks):
    settings.REVIEWSVC_RETENTION_DAYS = 90
    with time_machine.travel(START, tick=False):
        old = [add_clip(), add_clip(OTHER), add_clip(), add_clip(OTHER), add_clip()]
    with time_machine.travel(START + timedelta(days=80), tick=False):
        young = add_clip()

    with time_machine.travel(START + timedelta(days=90, minutes=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            done = retention_sweep(batch_size=2)

    assert done["clips"] == 5
    for clip in old:
        clip.refresh_from_db()
        assert clip.status == ClipStatus.EXPIRED
        assert clip.wrapped_key is None
        assert clip.blob_name == ""
    young.refresh_from_db()
    assert young.status == ClipStatus.QUEUED
    assert young.wrapped_key is not None
    batches = list(AccessEvent.objects.filter(action="clips.expire").order_by("seq"))
    assert [event.extra["count"] for event in batches] == [2, 2, 1]
    assert {event.actor_kind for event in batches} == {"system"}
    assert ids_digest(c.pk for c in old[:2]) == batches[0].extra["clips_digest"]


def test_a_second_sweep_finds_nothing_and_writes_nothing(settings):
    with time_machine.travel(START, tick=False):
        add_clip()
    later = START + timedelta(days=settings.REVIEWSVC_RETENTION_DAYS + 1)
    with time_machine.travel(later, tick=False):
        assert retention_sweep()["clips"] == 1
        events = AccessEvent.objects.count()
        assert retention_sweep() == {"clips": 0, "transcripts": 0, "exports": 0}
    assert AccessEvent.objects.count() == events


def test_a_clip_already_withdrawn_without_audio_is_left_as_it_is(service_client):
    with time_machine.travel(START, tick=False):
        clip = add_clip()
    service_client.put(f"/api/v1/subjects/{SUBJECT}/opt-out")
    with time_machine.travel(START + timedelta(days=365), tick=False):
        assert retention_sweep()["clips"] == 0
    clip.refresh_from_db()
    assert clip.status == ClipStatus.WITHDRAWN


def test_transcripts_follow_their_own_retention_period(settings, alice_client):
    settings.REVIEWSVC_RETENTION_DAYS = 30
    settings.REVIEWSVC_TRANSCRIPT_RETENTION_DAYS = 60
    with time_machine.travel(START, tick=True):
        add_clip()
        transcript_submit(alice_client, lease_next(alice_client)["assignment"], text="bitte löschen")
    transcript = Transcript.objects.get()

    with time_machine.travel(START + timedelta(days=45), tick=False):
        done = retention_sweep()
    transcript.refresh_from_db()
    assert done["clips"] == 1
    assert done["transcripts"] == 0
    assert transcript.ciphertext is not None

    with time_machine.travel(START + timedelta(days=61), tick=False):
        done = retention_sweep()
    transcript.refresh_from_db()
    assert done["transcripts"] == 1
    assert transcript.ciphertext is None
    assert transcript.wrapped_key is None
    assert transcript.flags == []
    [event] = AccessEvent.objects.filter(action="transcripts.expire")
    assert event.extra["count"] == 1


def test_the_sweep_runs_hourly_from_beat():
    entry = django_settings.CELERY_BEAT_SCHEDULE["privacy.retention_sweep"]
    assert entry["task"] == retention_sweep_task.name == "privacy.retention_sweep"
    assert entry["schedule"] == 3600


def test_the_task_sweeps(settings):
    with time_machine.travel(START, tick=False):
        add_clip()
    with time_machine.travel(START + timedelta(days=settings.REVIEWSVC_RETENTION_DAYS + 1), tick=False):
        result = retention_sweep_task.delay().get()
    assert result["clips"] == 1
    assert Clip.objects.get().status == ClipStatus.EXPIRED
